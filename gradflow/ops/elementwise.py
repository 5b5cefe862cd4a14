"""Elementwise differentiable ops with NumPy broadcasting; Python scalars stay weakly typed."""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module
from .dtypes import float_dtype, result_type

__all__ = [
    "add", "sub", "mul", "div", "pow", "neg", "exp", "log", "sqrt", "abs", "tanh", "sigmoid",
    "relu", "clip", "maximum", "minimum", "where", "less", "less_equal", "greater",
    "greater_equal", "equal", "not_equal", "cast", "square",
]


def _xp(a):
    return array_module(a)


class Add(Function):
    verb = "add"

    @staticmethod
    def forward(ctx, a, b):
        return a + b

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    verb = "subtract"

    @staticmethod
    def forward(ctx, a, b):
        return a - b

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    verb = "multiply"

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a * b

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        return (g * ctx.b if na else None), (g * ctx.a if nb else None)


class Div(Function):
    verb = "divide"

    @staticmethod
    def forward(ctx, a, b):
        ctx.a, ctx.b = a, b
        return a / b

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        ga = g / ctx.b if na else None
        gb = -g * ctx.a / (ctx.b * ctx.b) if nb else None
        return ga, gb


class Pow(Function):
    verb = "raise to a power"

    @staticmethod
    def forward(ctx, a, b):
        out = a ** b
        ctx.a, ctx.b, ctx.out = a, b, out
        return out

    @staticmethod
    def backward(ctx, g):
        na, nb = ctx.needs_input_grad
        a, b = ctx.a, ctx.b
        ga = g * b * a ** (b - 1) if na else None
        gb = None
        if nb:
            xp = _xp(ctx.out)
            safe = xp.where(a > 0, a, 1)
            gb = g * ctx.out * xp.log(safe)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return -a

    @staticmethod
    def backward(ctx, g):
        return -g


class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.out = _xp(a).exp(a)
        return ctx.out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.out


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return _xp(a).log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.a


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.out = _xp(a).sqrt(a)
        return ctx.out

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.out)


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return _xp(a).abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * _xp(g).sign(ctx.a)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.out = _xp(a).tanh(a)
        return ctx.out

    @staticmethod
    def backward(ctx, g):
        return g * (1 - ctx.out * ctx.out)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        xp = _xp(a)
        # 0.5 * (1 + tanh(x/2)) is exact and never overflows
        out = 0.5 * (1 + xp.tanh(0.5 * a))
        ctx.out = out
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.out * (1 - ctx.out)


class Relu(Function):
    @staticmethod
    def forward(ctx, a):
        mask = a > 0
        ctx.mask = mask
        return a * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask


class Clip(Function):
    @staticmethod
    def forward(ctx, a, lo, hi):
        xp = _xp(a)
        out = xp.clip(a, lo, hi)
        ctx.mask = out == a
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None, None


class _Extremum(Function):
    pick: str | None = None  # the xp function, set by each subclass

    @classmethod
    def forward(cls, ctx, a, b):
        xp = _xp(a) if not isinstance(a, (int, float)) else _xp(b)
        out = getattr(xp, cls.pick)(a, b)
        ctx.a_wins = (a == out) * 1.0
        ctx.b_wins = (b == out) * 1.0
        return out

    @staticmethod
    def backward(ctx, g):
        total = ctx.a_wins + ctx.b_wins  # ties share the gradient equally
        return g * ctx.a_wins / total, g * ctx.b_wins / total


class Maximum(_Extremum):
    verb = "take the maximum of"
    pick = "maximum"


class Minimum(_Extremum):
    verb = "take the minimum of"
    pick = "minimum"


class Where(Function):
    verb = "select (where) between"

    @staticmethod
    def forward(ctx, cond, a, b):
        xp = array_module(cond)
        ctx.cond = cond
        return xp.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        return None, g * ctx.cond, g * ~ctx.cond


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype):
        ctx.dtype = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.dtype), None


def _dtype_of(x):
    t = type(x)
    if t is Tensor or isinstance(x, Tensor):
        return x.data.dtype
    if t is float or t is int or t is bool:
        return None
    return getattr(x, "dtype", None)


def _promote(a, b, floating=False):
    """``(a, b)`` cast to Keras's result dtype (``dtypes.result_type``): ``int32 + float32 -> float32``,
    ``int32 + 2.5 -> float32``, never NumPy's float64; ``floating``: at least the default float (divide)."""
    da, db = _dtype_of(a), _dtype_of(b)
    if da is not None and db is not None:
        if da == db and (not floating or da.kind == "f"):
            return a, b
    elif da is not None:
        if da.kind == "f" or (type(b) is int and da.kind in "iu" and not floating):
            return a, b
    elif db is not None:
        if db.kind == "f" or (type(a) is int and db.kind in "iu" and not floating):
            return a, b
    else:
        return a, b
    dtype = result_type(a, b, *((float,) if floating else ()))
    return tuple(v if _dtype_of(v) is None or _dtype_of(v) == dtype else
                 (cast(v, dtype) if isinstance(v, Tensor) else v.astype(dtype)) for v in (a, b))


def _floating(a):
    """``a`` itself when it is floating point, else cast to the default float (Keras: ``exp(int32)``
    is float32)."""
    if type(a) is Tensor and a.data.dtype.kind == "f":
        return a
    dt = _dtype_of(a)
    if dt is None or dt.kind == "f":
        return a
    return cast(a, float_dtype()) if isinstance(a, Tensor) else a.astype(float_dtype())


def add(a, b): return Add.apply(*_promote(a, b))
def sub(a, b): return Sub.apply(*_promote(a, b))
def mul(a, b): return Mul.apply(*_promote(a, b))
def div(a, b): return Div.apply(*_promote(a, b, floating=True))
def pow(a, b): return Pow.apply(*_promote(a, b))  # noqa: A001
def neg(a): return Neg.apply(a)
def exp(a): return Exp.apply(_floating(a))
def log(a): return Log.apply(_floating(a))
def sqrt(a): return Sqrt.apply(_floating(a))
def abs(a): return Abs.apply(a)  # noqa: A001
def tanh(a): return Tanh.apply(_floating(a))
def sigmoid(a): return Sigmoid.apply(a)
def relu(a): return Relu.apply(a)
def square(a): return Mul.apply(a, a)
def maximum(a, b): return Maximum.apply(*_promote(a, b))
def minimum(a, b): return Minimum.apply(*_promote(a, b))


def clip(a, lo=None, hi=None):
    """Clamp to [lo, hi]; the gradient passes where the value was not clipped."""
    return Clip.apply(a, lo, hi)


def where(cond, a=None, b=None):
    """``a`` where ``cond`` else ``b`` (Keras's result dtype); ``cond`` gets no gradient. With
    ``cond`` alone: the indices of its nonzero elements, one int32 tensor per axis (``nonzero``)."""
    cond = cond.data if isinstance(cond, Tensor) else cond
    xp = array_module(cond)
    if a is None and b is None:
        return tuple(Tensor._wrap(i.astype(np.int32)) for i in xp.nonzero(xp.asarray(cond)))
    if a is None or b is None:
        raise ValueError("ops.where: give both x1 and x2, or neither (then it returns the nonzero indices)")
    return Where.apply(xp.asarray(cond, dtype=bool), *_promote(a, b))


def cast(a, dtype):
    return Cast.apply(a, dtype)


def _compare(name):
    def op(a, b):
        da = a.data if isinstance(a, Tensor) else a
        db = b.data if isinstance(b, Tensor) else b
        xp = array_module(da if not isinstance(da, (int, float)) else db)
        try:
            return Tensor._wrap(getattr(xp, name)(da, db))
        except ValueError as exc:
            sa, sb = getattr(da, "shape", ()), getattr(db, "shape", ())
            raise ValueError(f"cannot compare tensors of shapes {tuple(sa)} and {tuple(sb)}") from exc
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (no gradient): a boolean tensor."
    return op


less = _compare("less")
less_equal = _compare("less_equal")
greater = _compare("greater")
greater_equal = _compare("greater_equal")
equal = _compare("equal")
not_equal = _compare("not_equal")


# -- erf (added for the exact GELU activation) ------------------------------------------------
def _erf_array(a):
    """erf of a NumPy/CuPy array, keeping its dtype: SciPy/CuPyX when present, else math.erf."""
    if type(a).__module__.startswith("cupy"):
        from cupyx.scipy.special import erf as cupy_erf  # noqa: PLC0415

        return cupy_erf(a)
    try:
        from scipy.special import erf as scipy_erf  # noqa: PLC0415
    except ImportError:  # pragma: no cover - SciPy is optional
        arr = np.asarray(a)
        return np.vectorize(math.erf, otypes=[arr.dtype if arr.dtype.kind == "f" else np.float64])(arr)
    return scipy_erf(a)


class Erf(Function):
    """The error function; d/dx erf(x) = 2/sqrt(pi) * exp(-x^2)."""

    @staticmethod
    def forward(ctx, a):
        ctx.a = a
        return _erf_array(a)

    @staticmethod
    def backward(ctx, g):
        a = ctx.a
        return g * (1.1283791670955126 * _xp(a).exp(-a * a))


def erf(a):
    """Elementwise error function (differentiable)."""
    return Erf.apply(_floating(a))


__all__.append("erf")
