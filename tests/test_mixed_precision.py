"""Mixed precision: policies on layers, half-precision compute with float32 variables, loss scaling."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import mixed_precision


@pytest.fixture(autouse=True)
def _restore_policy():
    yield
    gf.dtype_policies._GLOBAL[0] = None  # back to following floatx, as before any set_global_policy
    gf.config.set_floatx("float32")


def test_layer_takes_a_policy_and_saves_it():
    layer = gf.layers.Dense(3, dtype=mixed_precision.DTypePolicy("mixed_float16"))
    assert (layer.compute_dtype, layer.variable_dtype, layer.dtype_policy.name) == ("float16", "float32",
                                                                                     "mixed_float16")
    y = layer(np.ones((2, 4), dtype="float32"))
    assert y.dtype == np.float16 and layer.kernel.dtype == np.float32
    back = gf.layers.Dense.from_config(layer.get_config())
    assert back.dtype_policy == layer.dtype_policy


def test_gradients_reach_float32_variables_through_half_compute():
    layer = gf.layers.Dense(2, dtype="mixed_float16")
    x = gf.Tensor(np.random.default_rng(0).normal(size=(5, 3)).astype("float32"))
    out = layer(x)
    gf.ops.sum(gf.ops.cast(out, "float32")).backward()
    assert layer.kernel.grad is not None and layer.kernel.grad.dtype == np.float32
    np.testing.assert_allclose(layer.kernel.grad.numpy(), x.numpy().sum(0)[:, None].repeat(2, 1), rtol=1e-2)


def test_loss_scale_optimizer_skips_nonfinite_steps_and_grows():
    p = gf.Parameter(np.ones(3, dtype="float32"))
    opt = mixed_precision.LossScaleOptimizer(gf.optimizers.SGD(1.0), initial_scale=4.0, dynamic_growth_steps=2)
    p.grad = gf.Tensor(np.array([np.inf, 0.0, 0.0], dtype="float32"))
    opt.step([p])
    assert opt.dynamic_scale == 2.0 and opt.iterations == 0 and np.all(p.numpy() == 1.0)
    for _ in range(2):
        p.grad = gf.Tensor(np.full(3, 2.0, dtype="float32"))  # a scaled gradient: 2 / scale is the real one
        opt.step([p])
    np.testing.assert_allclose(p.numpy(), 1.0 - 2 * 1.0)
    assert opt.dynamic_scale == 4.0 and opt.iterations == 2


def test_set_floatx_float16_makes_half_layers():
    gf.config.set_floatx("float16")
    layer = gf.layers.Dense(2)
    y = layer(np.ones((1, 3)))
    assert layer.kernel.dtype == np.float16 and y.dtype == np.float16 and gf.config.floatx() == "float16"
    with pytest.raises(ValueError):
        gf.config.set_floatx("float8")
