"""Initializers return Tensors and carry Keras 3's configs: differential checks against Keras."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import initializers as I

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

NAMES = ["Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal", "VarianceScaling",
         "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform", "LecunNormal", "Orthogonal",
         "Identity"]
ARGS = {"Constant": {"value": 2.5}, "RandomNormal": {"mean": 1.0, "stddev": 0.5, "seed": 3},
        "RandomUniform": {"minval": -2.0, "maxval": 1.0}, "TruncatedNormal": {"stddev": 0.2, "seed": 1},
        "VarianceScaling": {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform", "seed": 4,
                            "input_axes": [0], "output_axes": [1]},
        "GlorotUniform": {"seed": 5}, "Orthogonal": {"gain": 2.0, "seed": 6}, "Identity": {"gain": 3.0}}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("with_args", [False, True])
def test_configs_equal_keras(real_keras, name, with_args):
    kwargs = ARGS.get(name, {}) if with_args else {}
    theirs, ours = getattr(real_keras.initializers, name)(**kwargs), getattr(I, name)(**kwargs)
    assert ours.get_config() == theirs.get_config()
    assert list(ours.get_config()) == list(theirs.get_config())  # same key order in saved files
    again = getattr(I, name).from_config(ours.get_config())
    assert again.get_config() == ours.get_config()


@pytest.mark.parametrize("name", NAMES)
def test_calls_return_tensors_of_the_requested_dtype(real_keras, name):
    for dtype in (None, "float64"):
        theirs = getattr(real_keras.initializers, name)()((4, 4), dtype=dtype)
        ours = getattr(I, name)()((4, 4), dtype=dtype)
        assert isinstance(ours, gf.Tensor) and ours.shape == tuple(theirs.shape)
        assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    assert isinstance(float(getattr(I, name)()((1, 1))), float)


@pytest.mark.parametrize("make", [
    lambda m: m.initializers.Zeros(), lambda m: m.initializers.Ones(), lambda m: m.initializers.Constant(-1.5),
    lambda m: m.initializers.Identity(), lambda m: m.initializers.Identity(gain=2.5),
])
@pytest.mark.parametrize("shape", [(3, 3), (2, 5)])
def test_deterministic_values_equal_keras(real_keras, make, shape):
    np.testing.assert_array_equal(make(gf)(shape).numpy(), make(real_keras)(shape).numpy())


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (3, 3, 2, 5), (5, 5)])
def test_orthogonal_is_orthogonal(shape):
    w = I.Orthogonal(gain=1.5, seed=2)(shape, dtype="float64").numpy()
    flat = w.reshape(-1, shape[-1])
    small = flat.T @ flat if flat.shape[0] >= flat.shape[1] else flat @ flat.T
    np.testing.assert_allclose(small, 1.5 ** 2 * np.eye(small.shape[0]), atol=1e-10)
    np.testing.assert_array_equal(w, I.Orthogonal(gain=1.5, seed=2)(shape, dtype="float64").numpy())


@pytest.mark.parametrize("call", [
    lambda m: m.initializers.Orthogonal()((5,)),
    lambda m: m.initializers.Identity()((2, 2, 2)),
])
def test_shape_errors_equal_keras(real_keras, call):
    with pytest.raises(ValueError):
        call(real_keras)
    with pytest.raises(ValueError):
        call(gf)


def test_fan_axes_change_the_scale():
    init = I.VarianceScaling(scale=1.0, mode="fan_in", distribution="uniform", input_axes=[0, 1], output_axes=[2])
    w = init((4, 5, 3)).numpy()
    assert np.abs(w).max() <= np.sqrt(3.0 / 20) + 1e-7 and np.abs(w).max() > 0.9 * np.sqrt(3.0 / 20)
    assert I.compute_fans((4, 5, 3), [0, 1], [2]) == (20, 3)


def test_layers_still_initialise_from_tensors():
    dense = gf.layers.Dense(4, kernel_initializer=I.Identity(gain=2.0))
    dense.build((None, 4))
    np.testing.assert_array_equal(dense.kernel.numpy(), 2 * np.eye(4, dtype="float32"))
    lstm = gf.layers.LSTM(3)
    lstm.build((None, 2, 5))
    assert isinstance(lstm.weights[0], gf.Variable)


def test_seed_generator_seeds_equal_keras(real_keras):
    theirs = real_keras.initializers.GlorotUniform(seed=real_keras.random.SeedGenerator(1, name="sg"))
    ours = I.GlorotUniform(seed=gf.random.SeedGenerator(1, name="sg"))
    assert ours.get_config() == theirs.get_config()
    first, second = ours((3, 3)).numpy(), ours((3, 3)).numpy()
    assert not np.array_equal(first, second)  # the generator advances per call, as Keras's
    again = I.GlorotUniform.from_config(ours.get_config())  # a fresh generator from the saved seed
    np.testing.assert_array_equal(again((3, 3)).numpy(), first)
    for bad in ("a", 1.5):
        with pytest.raises(ValueError, match="`seed` argument should be an instance of"):
            real_keras.initializers.RandomNormal(seed=bad)
        with pytest.raises(ValueError, match="`seed` argument should be an instance of"):
            I.RandomNormal(seed=bad)
