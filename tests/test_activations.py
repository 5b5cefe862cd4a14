"""Every activation: values and gradients against a plain NumPy formula, gradcheck, and PyTorch when installed."""
import math

import numpy as np
import pytest

import gradflow as gf
from gradflow import activations as A
from gradflow import ops

_erf = np.vectorize(math.erf)


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x, axis=-1):
    e = np.exp(x - x.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


SELU_A, SELU_S = 1.6732632423543772, 1.0507009873554805

# name -> (gradflow call, numpy value, numpy derivative (elementwise) or None for the softmax family)
CASES = {
    "linear": (A.linear, lambda x: x, lambda x: np.ones_like(x)),
    "relu": (A.relu, lambda x: np.maximum(x, 0), lambda x: (x > 0) * 1.0),
    "relu_slope_max_threshold": (lambda x: A.relu(x, negative_slope=0.1, max_value=1.5, threshold=0.3),
                                 lambda x: np.where(x >= 1.5, 1.5, np.where(x > 0.3, x, 0.1 * (x - 0.3))),
                                 lambda x: np.where(x >= 1.5, 0.0, np.where(x > 0.3, 1.0, 0.1))),
    "relu_max_value": (lambda x: A.relu(x, max_value=1.0), lambda x: np.clip(x, 0, 1.0),
                       lambda x: ((x > 0) & (x < 1.0)) * 1.0),
    "relu6": (A.relu6, lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)) * 1.0),
    "leaky_relu": (A.leaky_relu, lambda x: np.where(x > 0, x, 0.2 * x), lambda x: np.where(x > 0, 1.0, 0.2)),
    "elu": (A.elu, lambda x: np.where(x > 0, x, np.expm1(x)), lambda x: np.where(x > 0, 1.0, np.exp(x))),
    "elu_alpha": (lambda x: A.elu(x, alpha=0.5), lambda x: np.where(x > 0, x, 0.5 * np.expm1(x)),
                  lambda x: np.where(x > 0, 1.0, 0.5 * np.exp(x))),
    "selu": (A.selu, lambda x: SELU_S * np.where(x > 0, x, SELU_A * np.expm1(x)),
             lambda x: SELU_S * np.where(x > 0, 1.0, SELU_A * np.exp(x))),
    "sigmoid": (A.sigmoid, _sig, lambda x: _sig(x) * (1 - _sig(x))),
    "hard_sigmoid": (A.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, lambda x: ((x > -3) & (x < 3)) / 6.0),
    "hard_silu": (A.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6,
                  lambda x: np.clip(x + 3, 0, 6) / 6 + x * ((x > -3) & (x < 3)) / 6.0),
    "tanh": (A.tanh, np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "softplus": (A.softplus, lambda x: np.log1p(np.exp(x)), _sig),
    "softsign": (A.softsign, lambda x: x / (1 + np.abs(x)), lambda x: 1 / (1 + np.abs(x)) ** 2),
    "silu": (A.silu, lambda x: x * _sig(x), lambda x: _sig(x) * (1 + x * (1 - _sig(x)))),
    "gelu": (A.gelu, lambda x: 0.5 * x * (1 + _erf(x / np.sqrt(2))),
             lambda x: 0.5 * (1 + _erf(x / np.sqrt(2))) + x * np.exp(-x * x / 2) / np.sqrt(2 * np.pi)),
    "gelu_tanh": (lambda x: A.gelu(x, approximate=True),
                  lambda x: 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3))), None),
    "mish": (A.mish, lambda x: x * np.tanh(np.log1p(np.exp(x))), None),
    "exponential": (A.exponential, np.exp, np.exp),
    "softmax": (A.softmax, _softmax, None),
    "softmax_axis0": (lambda x: A.softmax(x, axis=0), lambda x: _softmax(x, 0), None),
    "log_softmax": (A.log_softmax, lambda x: np.log(_softmax(x)), None),
}


def _inputs(rng):
    """Random values kept away from every kink (0, ±3, 6, 0.3, 1, 1.5)."""
    x = rng.uniform(-5, 7, size=(4, 9))
    for kink in (0.0, 0.3, 1.0, 1.5, -3.0, 3.0, 6.0):
        close = np.abs(x - kink) < 0.05
        x[close] += 0.1
    return x


@pytest.mark.parametrize("name", list(CASES))
def test_value_and_gradient_vs_numpy(name, rng):
    fn, value, deriv = CASES[name]
    x = _inputs(rng)
    with gf.use_backend("reference"):
        xt = gf.Tensor(x, requires_grad=True)
        y = fn(xt)
        np.testing.assert_allclose(y.numpy(), value(x), rtol=1e-10, atol=1e-12)
        if deriv is not None:
            y.backward(np.ones_like(x))
            np.testing.assert_allclose(xt.grad.numpy(), deriv(x), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_gradcheck(name, rng):
    fn = CASES[name][0]
    with gf.use_backend("reference"):
        gf.gradcheck(fn, [_inputs(rng)[:2, :5]])


@pytest.mark.parametrize("name", list(CASES))
def test_float32_matches_float64(name, rng):
    fn, value, _ = CASES[name]
    x = _inputs(rng)
    y = fn(gf.Tensor(x.astype(np.float32)))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), value(x), rtol=2e-5, atol=2e-6)


TORCH = {
    "relu": lambda F, x: F.relu(x), "relu6": lambda F, x: F.relu6(x),
    "leaky_relu": lambda F, x: F.leaky_relu(x, 0.2), "elu": lambda F, x: F.elu(x), "selu": lambda F, x: F.selu(x),
    "sigmoid": lambda F, x: F.sigmoid(x), "hard_sigmoid": lambda F, x: F.hardsigmoid(x),
    "hard_silu": lambda F, x: F.hardswish(x), "tanh": lambda F, x: F.tanh(x),
    "softplus": lambda F, x: F.softplus(x), "softsign": lambda F, x: F.softsign(x), "silu": lambda F, x: F.silu(x),
    "gelu": lambda F, x: F.gelu(x), "gelu_tanh": lambda F, x: F.gelu(x, approximate="tanh"),
    "mish": lambda F, x: F.mish(x), "softmax": lambda F, x: F.softmax(x, -1),
    "softmax_axis0": lambda F, x: F.softmax(x, 0), "log_softmax": lambda F, x: F.log_softmax(x, -1),
}


@pytest.mark.parametrize("name", list(TORCH))
def test_vs_torch(name, rng):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _inputs(rng)
    g = rng.standard_normal(x.shape)
    xt = torch.tensor(x, requires_grad=True)
    yt = TORCH[name](F, xt)
    (yt * torch.tensor(g)).sum().backward()
    with gf.use_backend("reference"):
        xg = gf.Tensor(x, requires_grad=True)
        y = CASES[name][0](xg)
        y.backward(g)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    # rtol 1e-7: torch keeps some constants (1/6 in hardsigmoid) in float32 even for float64
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_erf_op(rng):
    x = rng.uniform(-3, 3, size=(3, 4))
    np.testing.assert_allclose(ops.erf(gf.Tensor(x)).numpy(), _erf(x), rtol=1e-14)
    assert ops.erf(gf.Tensor(x.astype(np.float32))).dtype == np.float32
    gf.gradcheck(ops.erf, [x])


def test_extreme_inputs_stay_finite():
    x = gf.Tensor(np.array([-1e4, -50.0, 0.0, 50.0, 1e4], np.float32), requires_grad=True)
    for name in ("sigmoid", "softplus", "elu", "selu", "silu", "gelu", "softsign", "mish", "softmax"):
        x.grad = None
        y = A.get(name)(x)
        y.backward(np.ones(5, np.float32))
        assert np.isfinite(y.numpy()).all() and np.isfinite(x.grad.numpy()).all(), name


def test_get_and_serialize():
    assert A.get(None) is A.linear and A.get("relu") is A.relu
    assert A.get("swish") is A.silu and A.serialize("swish") == "silu"
    assert A.get(A.tanh) is A.tanh
    for name in A.ACTIVATIONS:
        assert A.serialize(A.get(name)) == name
    assert A.serialize(gf.softmax) != "" and A.serialize(None) == "linear"

    def custom(x):
        return x * 2

    assert A.get(custom) is custom and A.serialize(custom) == "custom"
    with pytest.raises(ValueError, match="unknown activation 'leakyrelu'; did you mean 'leaky_relu'"):
        A.get("leakyrelu")
    with pytest.raises(ValueError, match="could not interpret activation"):
        A.get(3)


def test_keras3_defaults():
    x = gf.Tensor(np.array([-1.0, 2.0]))
    np.testing.assert_allclose(A.leaky_relu(x).numpy(), [-0.2, 2.0])  # Keras 3: slope 0.2
    np.testing.assert_allclose(A.hard_sigmoid(gf.Tensor(np.array([-3.0, 0.0, 1.5]))).numpy(), [0.0, 0.5, 0.75])
    exact = A.gelu(gf.Tensor(np.array([1.0]))).item()
    assert abs(exact - 0.5 * (1 + math.erf(1 / math.sqrt(2)))) < 1e-12  # approximate=False by default
