"""Reductions: sum, mean, max, min, var, std (with ``axis`` and ``keepdims``), argmax."""
from __future__ import annotations

import builtins

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module
from .elementwise import _floating

__all__ = ["sum", "mean", "max", "min", "var", "std", "argmax", "argmin"]


def _norm_axis(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor of rank {ndim}")
        out.append(a % ndim if ndim else 0)
    return tuple(out)


def _expand(g, shape, axes, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input of ``shape``."""
    if keepdims or not shape:
        return g
    kept = [1 if i in axes else n for i, n in enumerate(shape)]
    return g.reshape(kept)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axis, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, _norm_axis(axis, a.ndim), keepdims
        # Keras: the sum of booleans and integers is int32 (NumPy's would be int64)
        return a.sum(axis=ctx.axes, keepdims=keepdims, dtype="int32" if a.dtype.kind in "biu" else None)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.broadcast_to(_expand(g, ctx.shape, ctx.axes, ctx.keepdims), ctx.shape), None, None


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axis, keepdims):
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, _norm_axis(axis, a.ndim), keepdims
        n = 1
        for ax in ctx.axes:
            n *= a.shape[ax]
        ctx.n = n
        return a.mean(axis=ctx.axes, keepdims=keepdims)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return xp.broadcast_to(_expand(g, ctx.shape, ctx.axes, ctx.keepdims) / ctx.n, ctx.shape), None, None


class _Extreme(Function):
    pick: str | None = None  # the array method, set by each subclass

    @classmethod
    def forward(cls, ctx, a, axis, keepdims):
        axes = _norm_axis(axis, a.ndim)
        if a.size == 0:
            raise ValueError(f"{cls.pick}() of an empty tensor of shape {a.shape}")
        out = getattr(a, cls.pick)(axis=axes, keepdims=True)
        ctx.a, ctx.out_k = a, out
        ctx.shape, ctx.axes, ctx.keepdims = a.shape, axes, keepdims
        return out if keepdims else out.reshape([n for i, n in enumerate(a.shape) if i not in axes])

    @staticmethod
    def backward(ctx, g):
        mask = ctx.a == ctx.out_k
        count = mask.sum(axis=ctx.axes, keepdims=True, dtype=g.dtype)  # ties share the gradient (an int count
        return _expand(g, ctx.shape, ctx.axes, ctx.keepdims) * mask / count, None, None  # would promote to float64)


class Max(_Extreme):
    pick = "max"


class Min(_Extreme):
    pick = "min"


def sum(a, axis=None, keepdims=False):  # noqa: A001
    return Sum.apply(a, axis, keepdims)


def mean(a, axis=None, keepdims=False):
    """Mean over ``axis``; integers average in the default float (Keras: float32)."""
    return Mean.apply(_floating(a), axis, keepdims)


def max(a, axis=None, keepdims=False):  # noqa: A001
    return Max.apply(a, axis, keepdims)


def min(a, axis=None, keepdims=False):  # noqa: A001
    return Min.apply(a, axis, keepdims)


def var(a, axis=None, keepdims=False, ddof=0):
    """Variance (population by default, ``ddof=1`` for the sample variance)."""
    a = _floating(a)
    mu = mean(a, axis, keepdims=True)
    d = a - mu
    sq = sum(d * d, axis, keepdims)
    n = 1
    for ax in _norm_axis(axis, a.ndim):
        n *= a.shape[ax]
    return sq / (n - ddof)


def std(a, axis=None, keepdims=False, ddof=0):
    return var(a, axis, keepdims, ddof) ** 0.5


def _arg(pick, a, axis, keepdims):
    data = a.data if isinstance(a, Tensor) else array_module(a).asarray(a)
    out = getattr(data, pick)(axis=axis, keepdims=keepdims)
    if keepdims and axis is None:  # NumPy keeps every axis; Keras's (TF-style) too
        out = out.reshape((1,) * data.ndim)
    return Tensor._wrap(out.astype("int32"))


def argmax(a, axis=None, keepdims=False):
    """Indices of the maxima as int32 (Keras), no gradient."""
    return _arg("argmax", a, axis, keepdims)


def argmin(a, axis=None, keepdims=False):
    """Indices of the minima as int32 (Keras), no gradient."""
    return _arg("argmin", a, axis, keepdims)
