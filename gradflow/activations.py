"""Activation functions with Keras 3 names and defaults; each is differentiable.

The common ones reuse gradflow.ops (relu, sigmoid, tanh, softmax, log_softmax, exp); the rest
are the small fused Functions of :mod:`gradflow.ops.activation`.
``get(name_or_callable)`` resolves a name (None -> ``linear``); ``serialize(fn)`` gives it back.
"""
from __future__ import annotations

import difflib

from . import ops
from ._registry import get_registered_object, register_all, registered_name
from .autograd.tensor import Tensor
from .backend import array_module
from .ops import activation as _op

__all__ = [
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "hard_sigmoid", "tanh",
    "softmax", "log_softmax", "softplus", "softsign", "silu", "swish", "gelu", "hard_silu",
    "hard_swish", "mish", "exponential", "celu", "glu", "hard_shrink", "hard_tanh", "log_sigmoid", "soft_shrink",
    "sparse_plus", "sparse_sigmoid", "sparsemax", "squareplus", "tanh_shrink", "threshold", "get", "serialize",
    "deserialize", "ACTIVATIONS",
]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


# -- the activations ------------------------------------------------------------------------
def linear(x):
    """Identity (Keras's ``activation=None``)."""
    return x


def relu(x, negative_slope=0.0, max_value=None, threshold=0.0):
    """``max(x, 0)``; Keras's optional ``negative_slope``, ``max_value`` and ``threshold``:
    ``max_value`` above it, ``x`` above ``threshold``, ``negative_slope * (x - threshold)`` below."""
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return leaky_relu(x, negative_slope)
    data = x.data if isinstance(x, Tensor) else x
    xp = array_module(data)
    if threshold != 0.0:
        pos = x * xp.asarray(data > threshold, dtype=data.dtype)
    else:
        pos = ops.relu(x)
    if max_value is not None:
        pos = ops.clip(pos, 0.0, float(max_value))
    if negative_slope != 0.0:
        pos = pos - float(negative_slope) * ops.relu(float(threshold) - x)
    return pos


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return ops.clip(x, 0.0, 6.0)


def leaky_relu(x, negative_slope=0.2):
    """``x`` if positive else ``negative_slope * x``; Keras 3 default slope 0.2."""
    return _op.leaky_relu(x, negative_slope)


def elu(x, alpha=1.0):
    """``x`` if positive else ``alpha * (exp(x) - 1)``."""
    return _op.elu(x, alpha)


def selu(x):
    """``scale * elu(x, alpha)`` with Keras's self-normalising constants."""
    return _op.elu(x, _SELU_ALPHA, _SELU_SCALE)


def sigmoid(x):
    """``1 / (1 + exp(-x))``."""
    return ops.sigmoid(x)


def hard_sigmoid(x):
    """Keras 3: ``relu6(x + 3) / 6`` (Keras 2 used ``0.2 x + 0.5``)."""
    return ops.clip(x * (1.0 / 6.0) + 0.5, 0.0, 1.0)


def hard_silu(x):
    """``x * hard_sigmoid(x)`` (also called hard_swish)."""
    return x * hard_sigmoid(x)


def tanh(x):
    return ops.tanh(x)


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x))`` along ``axis`` (numerically stable)."""
    return ops.softmax(x, axis)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x)`` along ``axis``."""
    return ops.log_softmax(x, axis)


def softplus(x):
    """``log(exp(x) + 1)``, overflow-free."""
    return _op.softplus(x)


def softsign(x):
    """``x / (|x| + 1)``."""
    return _op.softsign(x)


def silu(x):
    """``x * sigmoid(x)`` (also called swish)."""
    return _op.silu(x)


def gelu(x, approximate=False):
    """Gaussian error linear unit; Keras 3 default is the exact erf form (``approximate=False``)."""
    return _op.gelu(x, approximate)


def mish(x):
    """``x * tanh(softplus(x))``."""
    return x * ops.tanh(softplus(x))


def exponential(x):
    return ops.exp(x)


# -- the activations composed from differentiable ops (Keras 3.15's newer names) -------------------
def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _mask(x, cond):
    """``cond(x)`` as a constant array of ``x``'s dtype (1 where true): no gradient flows through it."""
    data = _data(x)
    return array_module(data).asarray(cond(data), dtype=data.dtype)


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * (exp(min(x, 0) / alpha) - 1)``."""
    alpha = float(alpha)
    return ops.relu(x) + alpha * (ops.exp(ops.minimum(x, 0.0) * (1.0 / alpha)) - 1.0)


def glu(x, axis=-1):
    """Gated linear unit: ``a * sigmoid(b)`` with ``a, b`` the two halves of ``x`` along ``axis``."""
    shape = tuple(x.shape)
    if shape[axis] % 2 != 0:
        raise ValueError(f"axis size must be divisible by 2. Received: x.shape={shape} with axis={axis}")
    half = shape[axis] // 2
    ax = axis % len(shape)
    first = tuple(slice(None) for _ in range(ax)) + (slice(0, half),)
    second = tuple(slice(None) for _ in range(ax)) + (slice(half, None),)
    return x[first] * ops.sigmoid(x[second])


def hard_shrink(x, threshold=0.5):
    """``x`` where ``|x| > threshold``, else 0."""
    t = float(threshold)
    return x * _mask(x, lambda d: array_module(d).abs(d) > t)


def hard_tanh(x):
    """``clip(x, -1, 1)``."""
    return ops.clip(x, -1.0, 1.0)


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, overflow-free."""
    return -softplus(-x)


def soft_shrink(x, threshold=0.5):
    """``x - threshold`` above it, ``x + threshold`` below ``-threshold``, else 0."""
    t = float(threshold)
    return x - ops.clip(x, -t, t)


def sparse_plus(x):
    """0 for ``x <= -1``, ``(x + 1)² / 4`` for ``-1 < x < 1``, ``x`` for ``x >= 1``."""
    c = ops.clip(x, -1.0, 1.0) + 1.0
    return 0.25 * (c * c) + ops.relu(x - 1.0)


def sparse_sigmoid(x):
    """0 for ``x <= -1``, ``(x + 1) / 2`` between, 1 for ``x >= 1``."""
    return 0.5 * (ops.clip(x, -1.0, 1.0) + 1.0)


def sparsemax(x, axis=-1):
    """``max(x - tau, 0)`` along ``axis``, with ``tau`` as Keras 3.15 computes it on every backend:
    ``(sum of the cumulative sums of the sorted values over the support - 1) / k``, ``k`` the support size.
    (The textbook sparsemax uses the k-th cumulative sum alone, and sums to 1; Keras's does not.) The
    gradient is that of the same formula with the support held fixed, as autograd gives Keras."""
    data = _data(x)
    xp = array_module(data)
    ax = axis % data.ndim
    order = xp.argsort(-data, axis=ax, kind="stable")
    srt = xp.take_along_axis(data, order, axis=ax)
    csum = xp.cumsum(srt, axis=ax)
    r_shape = [1] * data.ndim
    r_shape[ax] = -1
    r = xp.arange(1, data.shape[ax] + 1, dtype=data.dtype).reshape(r_shape)
    k = xp.sum(srt - (csum - 1) / r > 0, axis=ax, keepdims=True)
    ranks = xp.argsort(order, axis=ax)  # the inverse permutation: each value's place in the sorted order
    # sorted value i (0-based) is in the cumulative sums i..k-1 of the support: weight k - i
    weight = xp.maximum(k - ranks, 0).astype(data.dtype)
    tau = (ops.sum(x * weight, axis=ax, keepdims=True) - 1.0) * (1.0 / k.astype(data.dtype))
    return ops.relu(x - tau)


def squareplus(x, b=4):
    """``(x + sqrt(x² + b)) / 2``."""
    return 0.5 * (x + ops.sqrt(x * x + float(b)))


def tanh_shrink(x):
    """``x - tanh(x)``."""
    return x - ops.tanh(x)


def threshold(x, threshold, default_value):
    """``x`` where ``x > threshold``, else ``default_value``."""
    t = float(threshold)
    keep = _mask(x, lambda d: d > t)
    return x * keep + float(default_value) * (1.0 - keep)


swish = silu
hard_swish = hard_silu

#: canonical name -> function (the names ``serialize`` returns)
ACTIVATIONS = {
    "linear": linear, "relu": relu, "relu6": relu6, "leaky_relu": leaky_relu, "elu": elu,
    "selu": selu, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid, "hard_silu": hard_silu,
    "tanh": tanh, "softmax": softmax, "log_softmax": log_softmax, "softplus": softplus,
    "softsign": softsign, "silu": silu, "gelu": gelu, "mish": mish, "exponential": exponential,
    "celu": celu, "glu": glu, "hard_shrink": hard_shrink, "hard_tanh": hard_tanh, "log_sigmoid": log_sigmoid,
    "soft_shrink": soft_shrink, "sparse_plus": sparse_plus, "sparse_sigmoid": sparse_sigmoid, "sparsemax": sparsemax,
    "squareplus": squareplus, "tanh_shrink": tanh_shrink, "threshold": threshold,
}
_ALIASES = {"swish": silu, "hard_swish": hard_silu, "None": linear, "none": linear}
_BY_ID = {id(fn): name for name, fn in ACTIVATIONS.items()}
register_all("activations", ACTIVATIONS.values())


def _unknown(name: str) -> ValueError:
    close = difflib.get_close_matches(name, list(ACTIVATIONS) + ["swish", "hard_swish"], n=1)
    hint = f"; did you mean {close[0]!r}?" if close else f"; valid names: {', '.join(ACTIVATIONS)}"
    return ValueError(f"unknown activation {name!r}{hint}")


def get(identifier):
    """The activation function for a name, None (linear) or a callable (returned as is)."""
    if identifier is None:
        return linear
    if isinstance(identifier, str):
        fn = ACTIVATIONS.get(identifier) or _ALIASES.get(identifier)
        if fn is None:  # a user's function: custom_objects, a custom_object_scope or register_keras_serializable
            fn = get_registered_object(identifier)
        if fn is None:
            raise _unknown(identifier)
        return fn
    if isinstance(identifier, dict):  # {"class_name": "relu"} as some Keras configs write it
        return get(identifier.get("class_name") or identifier.get("config", {}).get("name"))
    if callable(identifier):
        return identifier
    raise ValueError(f"could not interpret activation {identifier!r}: expected a name or a callable")


def serialize(fn) -> str:
    """The Keras name of an activation (``"relu"``, ``"softmax"``...); a custom one's ``__name__``."""
    fn = get(fn)
    name = _BY_ID.get(id(fn))
    if name is not None:
        return name
    key = registered_name(fn)
    if key is not None:
        return key
    return getattr(fn, "__name__", None) or getattr(type(fn), "__name__", repr(fn))


def deserialize(name):
    return get(name)
