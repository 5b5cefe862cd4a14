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


LAYERS = [
    ("Dense", dict(units=3, kernel_constraint="max_norm", bias_constraint="non_neg"), (4, 5)),
    ("Conv2D", dict(filters=2, kernel_size=2, kernel_constraint="unit_norm", bias_constraint="non_neg"), (2, 4, 4, 3)),
    ("DepthwiseConv2D", dict(kernel_size=2, depthwise_constraint="non_neg"), (2, 4, 4, 3)),
    ("SeparableConv2D", dict(filters=2, kernel_size=2, pointwise_constraint="non_neg"), (2, 4, 4, 3)),
    ("Embedding", dict(input_dim=6, output_dim=3, embeddings_constraint="unit_norm"), None),
    ("BatchNormalization", dict(gamma_constraint="non_neg", beta_constraint="max_norm"), (4, 3)),
    ("LayerNormalization", dict(gamma_constraint="non_neg"), (4, 3)),
    ("PReLU", dict(alpha_constraint="non_neg", alpha_initializer="ones"), (4, 3)),
]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("name,kwargs,shape", LAYERS, ids=[row[0] for row in LAYERS])
def test_layer_constraints_train_like_keras(real_keras, name, kwargs, shape):
    """Same weights, same batch, two SGD steps: the constrained weights agree with Keras's, and the
    constraint entries of get_config too."""
    k = real_keras
    rng = np.random.default_rng(0)
    x = rng.integers(0, 6, size=(4, 2)) if shape is None else rng.normal(size=shape).astype("float32")
    ours, theirs = getattr(keras.layers, name)(**kwargs), getattr(k.layers, name)(**kwargs)
    models = []
    for mod, layer in ((keras, ours), (k, theirs)):
        inp = mod.Input(x.shape[1:], dtype="int32" if shape is None else "float32")
        model = mod.Model(inp, layer(inp))
        model.compile(optimizer=mod.optimizers.SGD(0.5), loss="mse")
        models.append(model)
    models[0].set_weights([np.asarray(w) for w in models[1].get_weights()])
    y = rng.normal(size=models[1].output_shape[1:]).astype("float32")[None].repeat(x.shape[0], 0)
    for model in models:
        model.fit(x, y, epochs=2, batch_size=4, verbose=0, shuffle=False)
    for a, b in zip(models[0].get_weights(), models[1].get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    k_cfg, g_cfg = theirs.get_config(), ours.get_config()
    for key in [key for key in k_cfg if key.endswith("_constraint")]:
        if k_cfg[key] is None:
            assert g_cfg[key] is None, key
            continue
        assert g_cfg[key] is not None and g_cfg[key]["class_name"] == k_cfg[key]["class_name"], key
        assert g_cfg[key]["config"] == k_cfg[key]["config"], key
    clone = type(ours).from_config(g_cfg)
    assert clone.get_config() == g_cfg
