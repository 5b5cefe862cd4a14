"""keras.config's switches that change what gradflow does: max_epochs, max_steps_per_epoch, interactive logging;
and keras.backend's dtype helpers (their values against Keras are in tests/keras_cases/)."""
import logging

import numpy as np
import pytest

import gradflow as keras


@pytest.fixture
def model_and_data():
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    return model, x, y


def test_max_epochs_and_steps_cap_fit(model_and_data):
    model, x, y = model_and_data
    keras.config.set_max_epochs(2)
    keras.config.set_max_steps_per_epoch(3)
    try:
        with pytest.warns(UserWarning, match="Limiting epochs to 2"):
            hist = model.fit(x, y, epochs=5, batch_size=4, verbose=0)
    finally:
        keras.config.set_max_epochs(None)
        keras.config.set_max_steps_per_epoch(None)
    assert len(hist.history["loss"]) == 2 and model.optimizer.iterations == 6
    with pytest.raises(ValueError, match="max_epochs"):
        keras.config.set_max_epochs(0)


def test_disable_interactive_logging_sends_progress_to_the_logger(model_and_data, capsys, caplog):
    model, x, y = model_and_data
    keras.config.disable_interactive_logging()
    try:
        with caplog.at_level(logging.INFO, logger="gradflow"):
            model.fit(x, y, epochs=1, batch_size=8, verbose=2)
    finally:
        keras.config.enable_interactive_logging()
    assert "loss" not in capsys.readouterr().out
    assert any("loss" in r.getMessage() for r in caplog.records)


def test_backend_dtype_helpers():
    b = keras.backend
    assert b.result_type("int32", "float32") == "float32" and b.result_type("int8", int) == "int8"
    assert b.result_type("float64", "float64") == "float32"  # Keras narrows to 32 bits on torch/JAX
    assert b.standardize_dtype(np.float16) == "float16" and b.standardize_dtype(None) == "float32"
    assert b.is_float_dtype("bfloat16") and b.is_int_dtype("uint8") and not b.is_int_dtype("bool")
    assert b.is_keras_tensor(keras.Input((2,))) and not b.is_keras_tensor(keras.ones((2,)))
    b.clear_session()
    assert (b.get_uid("dense"), b.get_uid("dense")) == (1, 2)
    b.clear_session()
    assert keras.layers.Dense(1).name == "dense"
