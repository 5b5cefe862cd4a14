"""Weight constraints: Keras 3's projections, applied by the optimizer after each update."""
import numpy as np
import pytest

import gradflow as keras
from gradflow import constraints


def test_projections():
    w = keras.Tensor(np.array([[3.0, -4.0], [4.0, 3.0]], np.float32))
    np.testing.assert_allclose(constraints.NonNeg()(w).numpy(), [[3, 0], [4, 3]])
    np.testing.assert_allclose(constraints.UnitNorm(axis=0)(w).numpy(), w.numpy() / 5.0, rtol=1e-6)
    np.testing.assert_allclose(constraints.MaxNorm(1.0)(w).numpy(), w.numpy() / 5.0, rtol=1e-6)
    np.testing.assert_allclose(constraints.MaxNorm(10.0)(w).numpy(), w.numpy(), rtol=1e-6)
    half = constraints.MinMaxNorm(0.0, 1.0, rate=0.5)(w).numpy()
    np.testing.assert_allclose(np.linalg.norm(half, axis=0), [3.0, 3.0], rtol=1e-6)


def test_get_serialize_roundtrip():
    assert isinstance(constraints.get("max_norm"), constraints.MaxNorm)
    assert constraints.get(None) is None
    c = constraints.deserialize(constraints.serialize(constraints.MinMaxNorm(0.5, 2.0, 0.3, axis=[0, 1])))
    assert c.get_config() == {"min_value": 0.5, "max_value": 2.0, "rate": 0.3, "axis": [0, 1]}
    with pytest.raises(ValueError, match="did you mean"):
        constraints.get("max_nrm")


def test_optimizer_applies_weight_constraints_after_each_step():
    layer = keras.layers.Layer()
    w = layer.add_weight(shape=(3, 2), initializer="ones", constraint="non_neg", name="w")
    b = layer.add_weight(shape=(2,), initializer="ones", constraint=constraints.MaxNorm(1.0), name="b")
    assert isinstance(w.constraint, constraints.NonNeg)
    opt = keras.optimizers.SGD(1.0)
    opt.apply_gradients([(np.full((3, 2), 5.0, np.float32), w), (np.full(2, -5.0, np.float32), b)])
    assert (w.numpy() == 0).all()
    np.testing.assert_allclose(np.linalg.norm(b.numpy()), 1.0, rtol=1e-6)


def test_custom_optimizer_with_build_and_update_step():
    """Keras's documented pattern: build() adds slots, update_step() updates one variable."""
    ops = keras.ops

    class MomentumSGD(keras.optimizers.Optimizer):
        def __init__(self, learning_rate=0.1, momentum=0.5, **kwargs):
            super().__init__(learning_rate=learning_rate, **kwargs)
            self.momentum = momentum

        def build(self, var_list):
            if self.built:
                return
            super().build(var_list)
            self.velocities = [self.add_variable_from_reference(v, "velocity") for v in var_list]

        def update_step(self, gradient, variable, learning_rate):
            lr = ops.cast(learning_rate, variable.dtype)
            v = self.velocities[self._get_variable_index(variable)]
            self.assign(v, ops.subtract(ops.multiply(v, self.momentum), ops.multiply(gradient, lr)))
            self.assign_add(variable, v)

    p = keras.Parameter(np.ones(3, np.float32))
    opt = MomentumSGD()
    for _ in range(2):
        opt.apply_gradients([(np.ones(3, np.float32), p)])
    np.testing.assert_allclose(p.numpy(), 1 - 0.1 - (0.05 + 0.1), rtol=1e-6)
    assert opt.iterations == 2 and len(opt.variables) == 1
    state = opt.get_state([p])
    fresh = MomentumSGD()
    fresh.set_state(state, [p])
    np.testing.assert_allclose(fresh.variables[0].numpy(), opt.variables[0].numpy())


def test_custom_optimizer_trains_a_model():
    class PlainSGD(keras.optimizers.Optimizer):
        def update_step(self, gradient, variable, learning_rate):
            self.assign_sub(variable, keras.ops.multiply(gradient, learning_rate))

    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5]], np.float32)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=PlainSGD(learning_rate=0.1), loss="mse")
    hist = model.fit(x, y, epochs=5, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.1 * hist.history["loss"][0]
