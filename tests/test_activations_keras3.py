"""Keras 3.15's newer activations (glu, hard_tanh, log_sigmoid, sparsemax, ...): gradcheck in float64 away
from their kinks, the float32 dtype kept, and the lookup by name (values against Keras: tests/keras_cases)."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import activations

NEW = {
    "celu": {"alpha": 0.7}, "glu": {}, "hard_shrink": {}, "hard_tanh": {}, "log_sigmoid": {}, "soft_shrink": {},
    "sparse_plus": {}, "sparse_sigmoid": {}, "sparsemax": {}, "squareplus": {"b": 2.0}, "tanh_shrink": {},
    "threshold": {"threshold": 0.2, "default_value": -1.0},
}
_KINKS = (-1.0, -0.5, 0.0, 0.2, 0.5, 1.0)


def _away_from_kinks(x):
    for kink in _KINKS:
        close = np.abs(x - kink) < 0.05
        x[close] = kink + 0.1
    return x


@pytest.mark.parametrize("name", sorted(NEW))
def test_gradcheck(name):
    x = _away_from_kinks(np.random.default_rng(2).normal(size=(3, 6)) * 2)
    fn = getattr(activations, name)
    gf.gradcheck(lambda t: fn(t, **NEW[name]), [x])


@pytest.mark.parametrize("name", sorted(NEW))
def test_float32_in_float32_out_and_lookup(name):
    x = gf.Tensor(np.linspace(-3, 3, 12, dtype=np.float32).reshape(2, 6))
    assert getattr(activations, name)(x, **NEW[name]).dtype == np.float32
    fn = activations.get(name)
    assert fn is getattr(activations, name) and activations.serialize(fn) == name


def test_known_values():
    x = gf.Tensor(np.array([-2.0, -0.7, 0.3, 2.0], np.float32))
    np.testing.assert_allclose(activations.hard_tanh(x).numpy(), [-1, -0.7, 0.3, 1], rtol=1e-6)
    np.testing.assert_allclose(activations.soft_shrink(x).numpy(), [-1.5, -0.2, 0, 1.5], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activations.hard_shrink(x).numpy(), [-2, -0.7, 0, 2], rtol=1e-6)
    np.testing.assert_allclose(activations.sparse_sigmoid(x).numpy(), [0, 0.15, 0.65, 1], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(activations.glu(gf.Tensor(np.array([[1.0, 0.0]], np.float32))).numpy(), [[0.5]])
    with pytest.raises(ValueError, match="divisible by 2"):
        activations.glu(gf.Tensor(np.ones((2, 3), np.float32)))
