"""A compile() that raises changes nothing: the model keeps its optimizer (and its state), losses and
metrics, and trains on as before. (It used to have replaced the optimizer already.)"""
import numpy as np
import pytest

import gradflow as keras


def test_a_failing_compile_leaves_the_model_as_it_was():
    model = keras.Model(inp := keras.Input((3,)), {"a": keras.layers.Dense(2, name="a")(inp),
                                                   "b": keras.layers.Dense(1, name="b")(inp)})
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss={"a": "mse", "b": "mse"}, metrics={"a": ["mae"]})
    x = np.ones((8, 3), np.float32)
    y = {"a": np.zeros((8, 2), np.float32), "b": np.zeros((8, 1), np.float32)}
    model.fit(x, y, verbose=0)
    optimizer, iterations = model.optimizer, model.optimizer.iterations
    with pytest.raises(ValueError, match="not outputs of the model"):
        model.compile(optimizer="sgd", loss={"a": "mse", "c": "mse"})  # 'c' is no output
    assert model.optimizer is optimizer and model.optimizer.iterations == iterations
    assert model.loss == {"a": "mse", "b": "mse"}
    history = model.fit(x, y, verbose=0)
    assert model.optimizer.iterations == iterations + 1 and "a_mae" in history.history
