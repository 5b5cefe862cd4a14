"""``import gradflow as keras``: Keras 3's top-level names and modules, the backend helpers, Keras
spellings of ops, and an import that stays light (no numba or cupy until a kernel is needed)."""
import subprocess
import sys

import numpy as np
import pytest

import gradflow as keras


def test_top_level_names_and_modules():
    for name in ("Sequential", "Model", "Input", "Layer"):
        assert callable(getattr(keras, name))
    for module in ("layers", "models", "ops", "optimizers", "losses", "metrics", "callbacks", "utils", "saving",
                   "initializers", "regularizers", "activations", "datasets", "backend", "random", "applications"):
        assert getattr(keras, module).__name__ == f"gradflow.{module}"
    assert keras.Sequential is keras.models.Sequential and keras.Layer is keras.layers.Layer
    assert keras.saving.register_keras_serializable is keras.saving.serialization.register_keras_serializable


def test_backend_helpers():
    assert keras.backend.epsilon() == 1e-7 and keras.backend.image_data_format() == "channels_last"
    assert keras.backend.floatx() == "float32"
    keras.layers.Dense(2)
    keras.backend.clear_session()
    assert keras.layers.Dense(2).name == "dense"


def test_keras_spellings_of_ops():
    ops = keras.ops
    x = keras.Tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    y = ops.subtract(ops.multiply(x, 3.0), ops.divide(x, 2.0))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.5, 2.5])
    assert ops.zeros((2, 3), "float32").shape == (2, 3) and ops.ones(4).numpy().sum() == 4
    assert ops.shape(keras.Input(shape=(5,))) == (None, 5)
    np.testing.assert_array_equal(ops.one_hot(np.array([2, 0]), 3).numpy(), [[0, 0, 1], [1, 0, 0]])
    assert ops.convert_to_tensor([1, 2], dtype="float32").dtype == np.float32
    assert isinstance(ops.convert_to_numpy(x), np.ndarray)


def test_import_stays_light():
    code = ("import sys, gradflow as keras; keras.Sequential; keras.layers.Dense; keras.Model; "
            "print(any(m.split('.')[0] in ('numba', 'cupy') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
def test_ops_equal_keras_ops(real_keras):
    k = real_keras
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 5, 3)).astype("float32")
    w = rng.normal(size=(3, 2, 3, 4)).astype("float32")
    seq, w1 = rng.normal(size=(2, 9, 3)).astype("float32"), rng.normal(size=(3, 3, 2)).astype("float32")

    def both(fn, *args, **kwargs):
        ours = fn(keras.ops)(*args, **kwargs)
        theirs = fn(k.ops)(*args, **kwargs)
        for a, b in zip(ours if isinstance(ours, tuple) else [ours], theirs if isinstance(theirs, tuple) else [theirs]):
            np.testing.assert_allclose(keras.ops.convert_to_numpy(a), k.ops.convert_to_numpy(b), rtol=1e-5,
                                       atol=1e-5)

    both(lambda o: o.moments, x, axes=[0, 1, 2])
    both(lambda o: o.moments, x, axes=[-1], keepdims=True)
    both(lambda o: o.tensordot, x, w1, axes=[[3], [0]])
    both(lambda o: o.conv, x, w, strides=2, padding="same")
    both(lambda o: o.conv, seq, w1, padding="valid", dilation_rate=2)
    both(lambda o: o.image.resize, x, (4, 7))
    both(lambda o: o.norm, x, axis=-1)
    both(lambda o: o.one_hot, np.array([2, 0, 1]), 4)
    both(lambda o: o.nn.relu6, x * 10)
