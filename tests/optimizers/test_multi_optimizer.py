"""MultiOptimizer/OptimizerMap inside gradflow's own training loop: fit routes each weight to its optimizer,
and the state round-trips (the Keras differential case is tests/keras_cases/utilsopt.py)."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import optimizers


def _model():
    model = gf.Sequential([gf.Input((3,)), gf.layers.Dense(4, name="enc"), gf.layers.Dense(1, name="head")],
                          name="routed")  # named: weight paths are "routed/enc/kernel" whatever ran before
    rng = np.random.default_rng(0)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    return model


def test_fit_routes_weights_by_path():
    x = np.random.default_rng(1).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    frozen_head = optimizers.SGD(0.0)
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(frozen_head, {"routed/enc/.*": optimizers.Adam(0.01)}))
    model = _model()
    head_before = [w.copy() for w in model.get_weights()[2:]]
    enc_before = [w.copy() for w in model.get_weights()[:2]]
    model.compile(optimizer=multi, loss="mse")
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for a, b in zip(model.get_weights()[2:], head_before):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(model.get_weights()[0], enc_before[0])
    assert multi.iterations == 4 and [o.iterations for o in multi.optimizers] == [4, 4]
    with pytest.raises(AttributeError):
        multi.learning_rate = 0.1


def test_state_round_trip_and_config():
    params = [gf.Parameter(np.ones((2, 2), "float32"), name="enc_w"), gf.Parameter(np.ones(2, "float32"), name="b")]
    multi = optimizers.MultiOptimizer(optimizers.OptimizerMap(optimizers.SGD(0.1, momentum=0.9),
                                                              {"enc.*": optimizers.Adam(0.1)}))
    for _ in range(2):
        multi.apply_gradients([(np.full(p.shape, 0.5, "float32"), p) for p in params])
    state = multi.get_state(params)
    copy = optimizers.deserialize(optimizers.serialize(multi))
    fresh = [gf.Parameter(p.numpy().copy(), name=p.name) for p in params]
    copy.set_state(state, fresh)
    for opt in (multi, copy):
        opt.apply_gradients([(np.full((2, 2), 0.25, "float32"), (params if opt is multi else fresh)[0]),
                             (np.full(2, 0.25, "float32"), (params if opt is multi else fresh)[1])])
    for a, b in zip(params, fresh):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    assert copy.iterations == multi.iterations == 3
    with pytest.raises(ValueError, match="duplicated"):
        multi._optimizer_map["enc.*"] = optimizers.SGD()
    with pytest.raises(ImportError, match="legacy"):
        optimizers.legacy.Adam()
