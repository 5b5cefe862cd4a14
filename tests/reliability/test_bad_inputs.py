"""Bad arguments get errors that name the argument and the values; importing gradflow leaves the
interpreter's global state (sys.excepthook) alone."""
import subprocess
import sys

import numpy as np
import pytest

import gradflow as keras
from gradflow.layers import Dense


@pytest.mark.parametrize("kwargs, arg, shown", [
    ({"input_shape": (-3,)}, "input_shape", "(-3,)"),
    ({"input_shape": (4, -1)}, "input_shape", "(4, -1)"),
    ({"input_dim": -2}, "input_dim", "-2"),
    ({"batch_input_shape": (None, -5)}, "batch_input_shape", "(None, -5)"),
    ({"input_shape": (4,), "batch_size": -8}, "batch_size", "-8"),
])
def test_negative_input_shapes_name_the_layer_and_the_value(kwargs, arg, shown):
    with pytest.raises(ValueError) as info:
        Dense(4, name="head", **kwargs)
    message = str(info.value)
    assert message.startswith("Dense layer 'head': ") and f"{arg}={shown}" in message
    assert "negative" in message


def test_non_integer_input_shapes_are_refused():
    with pytest.raises(ValueError, match=r"Dense layer 'd': input_shape must be a tuple of ints .* input_shape=\(2.5,\)"):
        Dense(4, name="d", input_shape=(2.5,))
    assert Dense(4, input_shape=(None, 3))._batch_input_shape == (None, None, 3)
    assert Dense(4, input_dim=7)._batch_input_shape == (None, 7)


def classifier():
    model = keras.Sequential([keras.Input(shape=(4,)), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    return model


def data(n=10):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 4)).astype("float32"), rng.integers(0, 3, n)


def test_sample_weight_of_the_wrong_shape_names_it_and_both_shapes():
    x, y = data()
    model = classifier()
    before = model.get_weights()
    for call in (lambda sw: model.fit(x, y, sample_weight=sw, verbose=0),
                 lambda sw: model.evaluate(x, y, sample_weight=sw, verbose=0),
                 lambda sw: model.train_on_batch(x, y, sample_weight=sw)):
        with pytest.raises(ValueError) as info:
            call(np.ones((10, 3)))
        message = str(info.value)
        assert "sample_weight has shape (10, 3)" in message
        assert "(None, 3)" in message and "(10,)" in message
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_sample_weight_of_one_column_means_one_per_sample():
    x, y = data()
    model = classifier()
    sw = np.linspace(0.5, 2.0, 10).astype("float32")
    expected = model.evaluate(x, y, sample_weight=sw, verbose=0)
    assert model.evaluate(x, y, sample_weight=sw[:, None], verbose=0) == pytest.approx(expected)


def test_sample_weight_per_step_of_a_sequence_output():
    model = keras.Sequential([keras.Input(shape=(5, 4)), Dense(3, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(1).standard_normal((6, 5, 4)).astype("float32")
    y = np.zeros((6, 5), dtype="int64")
    model.evaluate(x, y, sample_weight=np.ones((6, 5)), verbose=0)
    model.evaluate(x, y, sample_weight=np.ones(6), verbose=0)
    with pytest.raises(ValueError, match=r"sample_weight has shape \(6, 4\).*\(6,\) or \(6, 5\)"):
        model.evaluate(x, y, sample_weight=np.ones((6, 4)), verbose=0)


def test_class_weight_naming_a_class_the_model_cannot_output():
    x, y = data()
    model = classifier()
    with pytest.raises(ValueError, match=r"class_weight names class 7, but the model's output of shape \(None, 3\) "
                                         r"has 3 units, so it can only predict classes 0 to 2"):
        model.fit(x, y, class_weight={0: 1.0, 7: 2.0}, verbose=0)
    assert model.optimizer.iterations == 0
    model.fit(x, y, class_weight={0: 1.0, 2: 3.0}, verbose=0)  # every class it can output is fine
    binary = keras.Sequential([keras.Input(shape=(4,)), Dense(1, activation="sigmoid")])
    binary.compile(optimizer="sgd", loss="binary_crossentropy")
    binary.fit(x, (y > 0).astype("float32"), class_weight={0: 1.0, 1: 2.0}, verbose=0)
    with pytest.raises(ValueError, match=r"class_weight names class 2, .* 1 unit, so it can only predict classes "
                                         r"0 to 1"):
        binary.fit(x, (y > 0).astype("float32"), class_weight={1: 2.0, 2: 1.0}, verbose=0)


def test_import_leaves_sys_excepthook_alone():
    code = "import sys; before = sys.excepthook; import gradflow; print(sys.excepthook is before)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "True"
