"""Keras 3's compile-config hooks: ``get_compile_config`` / ``compile_from_config`` round trip."""
import json

import numpy as np
import pytest

from gradflow import losses, metrics, optimizers


def test_get_compile_config_is_none_before_compile(mk):
    assert mk.mlp().get_compile_config() is None


def test_compile_config_round_trips_through_json(mk):
    x, y = mk.people(16)
    model = mk.mlp()
    model.compile(optimizer=optimizers.Adam(learning_rate=0.005), loss=losses.SparseCategoricalCrossentropy(),
                  metrics=["accuracy", metrics.SparseTopKCategoricalAccuracy(k=1)], loss_weights=0.5)
    config = json.loads(json.dumps(model.get_compile_config()))
    other = mk.mlp()
    other.compile_from_config(config)
    assert other.compiled and isinstance(other.optimizer, optimizers.Adam)
    assert other.optimizer is not model.optimizer
    assert float(other.optimizer.learning_rate) == pytest.approx(0.005)
    assert other.get_compile_config() == config
    other.set_weights(model.get_weights())
    a = model.evaluate(x, y, verbose=0, return_dict=True)
    b = other.evaluate(x, y, verbose=0, return_dict=True)
    assert a.keys() == b.keys()
    np.testing.assert_allclose(list(a.values()), list(b.values()), rtol=1e-6)


def test_compile_from_config_refuses_an_unregistered_loss(mk):
    model = mk.mlp()
    model.compile(optimizer="sgd", loss=lambda y_true, y_pred: (y_pred - y_true) ** 2)
    config = model.get_compile_config()
    with pytest.raises(ValueError, match="not a registered gradflow loss"):
        mk.mlp().compile_from_config(config)
