"""The rest of ``keras.ops.numpy`` (issue 23): more table rows and the ops composed of differentiable ones.

* ``UNARY_MORE`` / ``BINARY_MORE`` are rows in the format of ``numpy_table.UNARY`` / ``BINARY``
  (forward, derivative, dtype rule), run by the same generic :class:`~.numpy_table.TableOp`;
* ``INTEGER``: bitwise and integer ops on raw arrays (no gradient, Keras's integer dtypes);
* the rest compose differentiable ops (``diff``, ``cross``, ``kron``, ``quantile``, the ``nan*``
  reductions, stacking and splitting...), so their gradients come from the ops they are made of.

Dtypes follow ``keras/src/backend/torch/numpy.py`` (with 64-bit kept 64-bit, see ``dtypes``).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import get_backend
from . import numpy_table as nt
from .dtypes import float_dtype, result_type
from .elementwise import _promote, add, cast, clip, div, equal, mul, sqrt, sub, where
from .linalg import matmul
from .numpy_table import FLOAT, SAME, _as_float, _constant, _data, _run, _tensor, _xp
from .reduction import max as _max
from .reduction import mean as _mean
from .reduction import min as _min
from .reduction import sum as _sum
from .shape import concatenate, expand_dims, getitem, reshape, stack, transpose


def _i0_grad(xp, x, y):
    """``i0' = i1``: SciPy's (CuPyX's) when present, else its power series."""
    try:
        if type(x).__module__.startswith("cupy"):
            from cupyx.scipy.special import i1  # noqa: PLC0415 - optional, as erf's
        else:
            from scipy.special import i1  # noqa: PLC0415 - optional, as erf's
        return i1(x).astype(y.dtype)
    except ImportError:  # pragma: no cover - SciPy is optional
        half, term, total = x / 2, x / 2, x / 2
        for k in range(1, 80):
            term = term * half * half / (k * (k + 1))
            total = total + term
        return total.astype(y.dtype)


def _sinc_grad(xp, x, y):
    px = math.pi * x
    safe = xp.where(x == 0, 1, px)
    return xp.where(x == 0, 0, (xp.cos(safe) * math.pi - y * math.pi) / safe)


# -- more elementwise rows: name -> (forward, dy/dx of (xp, x, y) or None, dtype rule) -----------
UNARY_MORE: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None, str]] = {
    "sinc": (lambda xp, x: xp.sinc(x), _sinc_grad, FLOAT),
    "i0": (lambda xp, x: xp.i0(x).astype(x.dtype), _i0_grad, FLOAT),
    "angle": (lambda xp, x: xp.where(x < 0, xp.asarray(math.pi, x.dtype), xp.asarray(0, x.dtype))
              * (x == x) + (x - x), lambda xp, x, y: xp.zeros_like(y), FLOAT),
    "real": (lambda xp, x: x.copy(), lambda xp, x, y: xp.ones_like(y), SAME),
    "conj": (lambda xp, x: x.copy(), lambda xp, x, y: xp.ones_like(y), SAME),
    "imag": (lambda xp, x: xp.zeros_like(x), lambda xp, x, y: xp.zeros_like(y), SAME),
    "copy": (lambda xp, x: x.copy(), lambda xp, x, y: xp.ones_like(y), SAME),
}


def _ldexp(xp, a, b):
    return a * xp.exp2(b.astype(a.dtype))


BINARY_MORE: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "fmax": (lambda xp, a, b: xp.fmax(a, b),
             lambda xp, a, b, y: ((a >= b) | xp.isnan(b), (b > a) | xp.isnan(a))),
    "fmin": (lambda xp, a, b: xp.fmin(a, b),
             lambda xp, a, b, y: ((a <= b) | xp.isnan(b), (b < a) | xp.isnan(a))),
    "logaddexp2": (lambda xp, a, b: xp.logaddexp2(a, b),
                   lambda xp, a, b, y: (xp.exp2(a - y), xp.exp2(b - y))),
    "heaviside": (lambda xp, a, b: xp.heaviside(a, b), lambda xp, a, b, y: (xp.zeros_like(y), a == 0)),
    "nextafter": (lambda xp, a, b: xp.nextafter(a, b), lambda xp, a, b, y: (xp.zeros_like(y), xp.zeros_like(y))),
}


def _unary_more(name):
    forward, deriv, rule = UNARY_MORE[name]
    grad = None if deriv is None else (lambda xp, g, y, x: (g * deriv(xp, x, y).astype(g.dtype),))

    def op(x):
        x = _tensor(x)
        if rule == FLOAT:
            x = _as_float(x)
        return _run(forward, grad, x)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}`` (elementwise; a row of ``UNARY_MORE``)."
    return op


def _binary_float(a, b):
    """Keras's float binaries (heaviside, logaddexp2, ...): integers take the default float."""
    a, b = (_tensor(v) for v in _promote(a, b))
    if a.dtype.kind not in "fc":
        a, b = _as_float(a), _as_float(b)
    return a, b


def _binary_more(name):
    forward, deriv = BINARY_MORE[name]

    def grad(xp, g, y, a, b):
        da, db = deriv(xp, a, b, y)
        return g * da.astype(g.dtype), g * db.astype(g.dtype)

    def op(x1, x2):
        if name in ("fmax", "fmin"):
            a, b = (_tensor(v) for v in _promote(x1, x2))
        else:
            a, b = _binary_float(x1, x2)
        return _run(forward, grad, a, b)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}`` (elementwise, broadcast; a row of ``BINARY_MORE``)."
    return op


# -- integer and bitwise ops (no gradient) ----------------------------------------------------
INTEGER: dict[str, Callable[..., Any]] = {
    "bitwise_and": lambda xp, a, b: xp.bitwise_and(a, b),
    "bitwise_or": lambda xp, a, b: xp.bitwise_or(a, b),
    "bitwise_xor": lambda xp, a, b: xp.bitwise_xor(a, b),
    "bitwise_left_shift": lambda xp, a, b: xp.left_shift(a, b),
    "left_shift": lambda xp, a, b: xp.left_shift(a, b),
    "bitwise_right_shift": lambda xp, a, b: xp.right_shift(a, b),
    "right_shift": lambda xp, a, b: xp.right_shift(a, b),
    "gcd": lambda xp, a, b: xp.gcd(a, b),
    "lcm": lambda xp, a, b: xp.lcm(a, b),
}


def _integer(name):
    forward = INTEGER[name]

    def op(x, y):
        dtype = result_type(x, y)
        a, b = (_xp(_data(x), _data(y)).asarray(_data(v)).astype(dtype) for v in (x, y))
        return _constant(_xp(a).asarray(forward(_xp(a), a, b)).astype(dtype))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}`` (integers, no gradient; a row of ``INTEGER``)."
    return op


def bitwise_invert(x):
    """``keras.ops.bitwise_invert``: ``~x`` (no gradient)."""
    d = _tensor(x).data
    return _constant(_xp(d).invert(d))


bitwise_not = bitwise_invert


def ldexp(x1, x2):
    """``keras.ops.ldexp``: ``x1 * 2 ** x2`` (``x2`` integer), differentiable in ``x1``."""
    a = _tensor(x1)
    if a.dtype.kind != "f":
        a = cast(a, float_dtype())
    b = _tensor(x2)
    return _run(_ldexp, lambda xp, g, y, a, b: (g * xp.exp2(b.astype(g.dtype)), None), a, b)


def divide_no_nan(x1, x2):
    """``keras.ops.divide_no_nan``: ``x1 / x2``, 0 where ``x2 == 0`` (gradient 0 there too)."""
    dtype = result_type(x1, x2, float)
    a, b = _tensor(x1), _tensor(x2)
    a, b = (v if v.dtype == dtype else cast(v, dtype) for v in (a, b))
    zero = equal(b, 0)
    return where(zero, 0.0, div(a, where(zero, 1.0, b)))


# -- predicates and comparisons (no gradient) ---------------------------------------------------
def isclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """``keras.ops.isclose``."""
    dtype = result_type(x1, x2)
    a, b = (_xp(_data(x1), _data(x2)).asarray(_data(v)).astype(dtype) for v in (x1, x2))
    xp = _xp(a)
    if np.dtype(dtype).kind != "f":
        return _constant(xp.equal(a, b))
    return _constant(xp.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def allclose(x1, x2, rtol=1e-5, atol=1e-8, equal_nan=False):
    """``keras.ops.allclose``: one bool."""
    d = isclose(x1, x2, rtol, atol, equal_nan).data
    return _constant(_xp(d).asarray(d.all()))


def isin(x1, x2, assume_unique=False, invert=False):
    """``keras.ops.isin``: whether each element of ``x1`` is in ``x2``."""
    a, b = _data(_tensor(x1)), _data(_tensor(x2))
    return _constant(_xp(a).isin(a, b, assume_unique=assume_unique, invert=invert))


def isreal(x):
    """``keras.ops.isreal``: True everywhere for real tensors."""
    d = _tensor(x).data
    return _constant(_xp(d).isreal(d))


# -- reductions ---------------------------------------------------------------------------------
def amax(x, axis=None, keepdims=False):
    """``keras.ops.amax`` (``max``)."""
    x = _tensor(x)
    return x if axis in ((), []) else _max(x, _axis(axis), keepdims)


def amin(x, axis=None, keepdims=False):
    """``keras.ops.amin`` (``min``)."""
    x = _tensor(x)
    return x if axis in ((), []) else _min(x, _axis(axis), keepdims)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def ptp(x, axis=None, keepdims=False):
    """``keras.ops.ptp``: ``max - min`` along ``axis``."""
    x = _tensor(x)
    return sub(_max(x, _axis(axis), keepdims), _min(x, _axis(axis), keepdims))


def average(x, axis=None, weights=None):
    """``keras.ops.average``: the (weighted) mean, in at least the default float."""
    x = _tensor(x)
    dtype = result_type(x, float, *(() if weights is None else (_tensor(weights),)))
    x = x if x.dtype == dtype else cast(x, dtype)
    if weights is None:
        return _mean(x, _axis(axis))
    w = _tensor(weights)
    w = w if w.dtype == dtype else cast(w, dtype)
    if axis is not None and w.ndim == 1 and x.ndim > 1:  # NumPy: 1-D weights along ``axis``
        shape = [1] * x.ndim
        shape[axis % x.ndim] = w.shape[0]
        w = reshape(w, tuple(shape))
    return div(_sum(mul(x, w), _axis(axis)), _sum(w * _tensor(np.ones(x.shape, dtype)), _axis(axis)))


def _host(q) -> np.ndarray:
    """``q`` (a number, array or Tensor, on the GPU too) as a float64 NumPy array."""
    d = q.numpy() if isinstance(q, Tensor) else _data(q)
    return np.asarray(d.get() if hasattr(d, "get") else d, np.float64)


def _quantile_sorted(s, q, method):
    """Quantiles ``q`` (a 0-D or 1-D NumPy array) of ``s`` sorted along its last axis (differentiable)."""
    n = s.shape[-1]
    pos = np.asarray(q, np.float64) * (n - 1)
    lo, hi = np.floor(pos).astype(np.int64), np.ceil(pos).astype(np.int64)
    frac = pos - lo
    take = nt.take
    if method == "lower":
        return take(s, lo, axis=-1)
    if method == "higher":
        return take(s, hi, axis=-1)
    if method == "nearest":
        return take(s, np.round(pos).astype(np.int64), axis=-1)  # round half to even, as NumPy and torch
    if method == "midpoint":
        return mul(add(take(s, lo, axis=-1), take(s, hi, axis=-1)), 0.5)
    if method != "linear":
        raise ValueError(f"quantile: method must be linear, lower, higher, nearest or midpoint, got {method!r}")
    a, b = take(s, lo, axis=-1), take(s, hi, axis=-1)
    f = _tensor(frac.astype(s.dtype))
    return add(a, mul(sub(b, a), f))


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.quantile``: ``q`` (scalar or 1-D) along ``axis``; the ``q`` axis first (NumPy)."""
    x = _tensor(x)
    result = result_type(x, float)
    x = x if x.dtype == result else cast(x, result)
    ndim = x.ndim
    axes = tuple(range(ndim)) if axis is None else tuple(a % ndim for a in ((axis,) if isinstance(axis, int)
                                                                            else axis))
    others = [i for i in range(ndim) if i not in axes]
    moved = transpose(x, tuple(others + list(axes))) if ndim else x
    flat = reshape(moved, tuple(x.shape[i] for i in others) + (-1,))
    qa = _host(q)
    out = _quantile_sorted(nt.sort(flat, -1), qa, method)  # (..., [nq])
    if qa.ndim:
        out = nt.moveaxis(out, -1, 0)
    if keepdims:
        shape = [1 if i in axes else d for i, d in enumerate(x.shape)]
        out = reshape(out, tuple(qa.shape) + tuple(shape))
    return out


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.percentile``: ``quantile`` at ``q / 100``."""
    qa = _host(q) / 100.0
    return quantile(x, qa, axis, method, keepdims)


def median(x, axis=None, keepdims=False):
    """``keras.ops.median``: the mean of the two middle values for an even count (NumPy)."""
    return quantile(x, 0.5, axis, "linear", keepdims)


# -- the nan* reductions: NaN replaced by the neutral element --------------------------------
def _nan_to(x, value):
    x = _tensor(x)
    if x.dtype.kind != "f":
        return x, None
    mask = nt.isnan(x)
    return where(mask, value, x), mask


def nansum(x, axis=None, keepdims=False):
    """``keras.ops.nansum``: NaNs count as 0; bool and small ints sum in int32."""
    x, _ = _nan_to(x, 0.0)
    out = _sum(x, _axis(axis), keepdims)
    want = nt._int_accumulator(x.dtype)
    return out if out.dtype == want else cast(out, want)


def nanprod(x, axis=None, keepdims=False):
    """``keras.ops.nanprod``: NaNs count as 1."""
    x, _ = _nan_to(x, 1.0)
    return nt.prod(x, _axis(axis), keepdims)


def nancumsum(x, axis=None, dtype=None):
    """``keras.ops.nancumsum``."""
    return nt.cumsum(_nan_to(x, 0.0)[0], axis, dtype)


def nancumprod(x, axis=None, dtype=None):
    """``keras.ops.nancumprod``."""
    return nt.cumprod(_nan_to(x, 1.0)[0], axis, dtype)


def _count(x, axis, keepdims):
    """The number of non-NaN elements of ``x`` along ``axis`` (a constant)."""
    d = _data(x)
    xp = _xp(d)
    return _constant(xp.sum(~xp.isnan(d), axis=_axis(axis), keepdims=keepdims).astype(d.dtype))


def nanmean(x, axis=None, keepdims=False):
    """``keras.ops.nanmean``: the mean of the non-NaN elements."""
    x = _tensor(x)
    x = x if x.dtype.kind == "f" else cast(x, result_type(x, float))
    if axis in ((), []):
        return x
    filled, _ = _nan_to(x, 0.0)
    return div(_sum(filled, _axis(axis), keepdims), _count(x, axis, keepdims))


def nanvar(x, axis=None, keepdims=False):
    """``keras.ops.nanvar``: the (biased) variance of the non-NaN elements."""
    x = _tensor(x)
    x = x if x.dtype.kind == "f" else cast(x, result_type(x, float))
    m = nanmean(x, axis, keepdims=True)
    centred, _ = _nan_to(sub(x, m), 0.0)
    return div(_sum(mul(centred, centred), _axis(axis), keepdims), _count(x, axis, keepdims))


def nanstd(x, axis=None, keepdims=False):
    """``keras.ops.nanstd``."""
    return sqrt(nanvar(x, axis, keepdims))


def _nan_extreme(pick, fill):
    def op(x, axis=None, keepdims=False):
        x = _tensor(x)
        if x.dtype.kind != "f":
            return pick(x, _axis(axis), keepdims)
        allnan = _constant(_xp(x.data).all(_xp(x.data).isnan(x.data), axis=_axis(axis), keepdims=keepdims))
        out = pick(where(nt.isnan(x), fill, x), _axis(axis), keepdims)
        return where(allnan, float("nan"), out)
    return op


nanmax = _nan_extreme(_max, -np.inf)
nanmin = _nan_extreme(_min, np.inf)
nanmax.__name__, nanmin.__name__ = "nanmax", "nanmin"
nanmax.__doc__, nanmin.__doc__ = "``keras.ops.nanmax``.", "``keras.ops.nanmin``."


def _nan_arg(name, fill):
    def op(x, axis=None, keepdims=False):
        d = _tensor(x).data
        xp = _xp(d)
        filled = xp.where(xp.isnan(d), fill, d) if d.dtype.kind == "f" else d
        out = getattr(xp, name)(filled, axis=axis, keepdims=keepdims)
        return _constant(xp.asarray(out).astype(np.int32))
    op.__name__ = op.__qualname__ = "nan" + name
    op.__doc__ = f"``keras.ops.nan{name}``: int32 indices, NaNs skipped."
    return op


nanargmax, nanargmin = _nan_arg("argmax", -np.inf), _nan_arg("argmin", np.inf)


def nanquantile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.nanquantile`` (no gradient): NumPy's nanquantile in Keras's dtype."""
    x = _tensor(x)
    d = x.numpy()
    out = np.nanquantile(d.astype(np.float64), _host(q), axis=_axis(axis),
                         method=method, keepdims=keepdims)
    return Tensor(np.asarray(out).astype(result_type(x, float)))


def nanpercentile(x, q, axis=None, method="linear", keepdims=False):
    """``keras.ops.nanpercentile``."""
    return nanquantile(x, _host(q) / 100.0, axis, method, keepdims)


def nanmedian(x, axis=None, keepdims=False):
    """``keras.ops.nanmedian``."""
    return nanquantile(x, 0.5, axis, "linear", keepdims)


# -- compositions -------------------------------------------------------------------------------
def append(x1, x2, axis=None):
    """``keras.ops.append``: concatenated (flattened first when ``axis`` is None)."""
    a, b = (_tensor(v) for v in _promote(_tensor(x1), _tensor(x2)))
    if axis is None:
        return concatenate([reshape(a, (-1,)), reshape(b, (-1,))], 0)
    return concatenate([a, b], axis)


def array(x, dtype=None):
    """``keras.ops.array``: a tensor of ``x``."""
    return x if isinstance(x, Tensor) and dtype is None else Tensor(_data(x), dtype=dtype)


def _split_points(n, sections):
    if isinstance(sections, int):
        size, extra = divmod(n, sections)
        sizes = [size + 1] * extra + [size] * (sections - extra)
        return list(np.cumsum([0, *sizes]))
    return [0, *(int(i) for i in sections), n]


def array_split(x, indices_or_sections, axis=0):
    """``keras.ops.array_split``: like ``split``, unequal parts allowed."""
    x = _tensor(x)
    axis = axis % x.ndim
    bounds = _split_points(x.shape[axis], indices_or_sections)
    lead = (slice(None),) * axis
    return [getitem(x, (*lead, slice(lo, hi))) for lo, hi in zip(bounds[:-1], bounds[1:])]


def hsplit(x, indices_or_sections):
    """``keras.ops.hsplit``: split along axis 1 (0 for 1-D)."""
    x = _tensor(x)
    return nt.split(x, indices_or_sections, 1 if x.ndim > 1 else 0)


def vsplit(x, indices_or_sections):
    """``keras.ops.vsplit``: split along axis 0."""
    return nt.split(_tensor(x), indices_or_sections, 0)


def dsplit(x, indices_or_sections):
    """``keras.ops.dsplit``: split along axis 2."""
    return nt.split(_tensor(x), indices_or_sections, 2)


def _common(xs):
    ts = [_tensor(v) for v in xs]
    dtype = result_type(*ts)
    return [t if t.dtype == dtype else cast(t, dtype) for t in ts]


def hstack(xs):
    """``keras.ops.hstack``."""
    ts = _common(xs)
    return concatenate(ts, 1 if ts[0].ndim > 1 else 0)


def vstack(xs):
    """``keras.ops.vstack``."""
    ts = [reshape(t, (1, -1)) if t.ndim < 2 else t for t in _common(xs)]
    return concatenate(ts, 0)


def dstack(xs):
    """``keras.ops.dstack``."""
    ts = []
    for t in _common(xs):
        if t.ndim == 1:
            t = reshape(t, (1, -1, 1))
        elif t.ndim == 2:
            t = expand_dims(t, -1)
        ts.append(t)
    return concatenate(ts, 2)


def get_item(x, key):
    """``keras.ops.get_item``: ``x[key]``."""
    return getitem(_tensor(x), key)


def diff(a, n=1, axis=-1):
    """``keras.ops.diff``: the ``n``-th discrete difference along ``axis``."""
    a = _tensor(a)
    axis = axis % a.ndim
    lead = (slice(None),) * axis
    for _ in range(n):
        a = sub(getitem(a, (*lead, slice(1, None))), getitem(a, (*lead, slice(None, -1))))
    return a


def cross(x1, x2, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """``keras.ops.cross``: the cross product of 3-vectors (2-vectors taken with z = 0)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a, b = (_tensor(v) for v in _promote(_tensor(x1), _tensor(x2)))
    a, b = nt.moveaxis(a, axisa, -1), nt.moveaxis(b, axisb, -1)

    def part(t, i):
        return getitem(t, (Ellipsis, i)) if i < t.shape[-1] else None

    a0, a1, a2 = (part(a, i) for i in range(3))
    b0, b1, b2 = (part(b, i) for i in range(3))
    if a2 is None and b2 is None:
        return sub(mul(a0, b1), mul(a1, b0))
    zero = 0.0 if a.dtype.kind == "f" else 0
    a2 = a2 if a2 is not None else mul(a0, zero)
    b2 = b2 if b2 is not None else mul(b0, zero)
    out = stack([sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)), sub(mul(a0, b1), mul(a1, b0))], -1)
    return nt.moveaxis(out, -1, axisc)


def inner(x1, x2):
    """``keras.ops.inner``: sums of products over the last axes."""
    a, b = (_tensor(v) for v in _promote(_tensor(x1), _tensor(x2)))
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    return _inner(a, b)


def _inner(a, b):
    la = "abcdefgh"[:a.ndim - 1]
    lb = "klmnopqr"[:b.ndim - 1]
    return nt.einsum(f"{la}z,{lb}z->{la}{lb}", a, b)


def vdot(x1, x2):
    """``keras.ops.vdot``: the dot product of the flattened tensors."""
    a, b = (_tensor(v) for v in _promote(_tensor(x1), _tensor(x2)))
    return _sum(mul(reshape(a, (-1,)), reshape(b, (-1,))))


def kron(x1, x2):
    """``keras.ops.kron``: the Kronecker product (an outer product reshaped)."""
    a, b = (_tensor(v) for v in _promote(_tensor(x1), _tensor(x2)))
    nd = max(a.ndim, b.ndim)
    a = reshape(a, (1,) * (nd - a.ndim) + a.shape)
    b = reshape(b, (1,) * (nd - b.ndim) + b.shape)
    inter = []
    for d in a.shape:
        inter += [d, 1]
    binter = []
    for d in b.shape:
        binter += [1, d]
    out = mul(reshape(a, tuple(inter)), reshape(b, tuple(binter)))
    return reshape(out, tuple(p * q for p, q in zip(a.shape, b.shape)))


def corrcoef(x):
    """``keras.ops.corrcoef``: Pearson correlation of the rows."""
    x = _tensor(x)
    if x.dtype.kind != "f":
        x = cast(x, float_dtype())
    if x.ndim == 1:
        x = reshape(x, (1, -1))
    c = sub(x, _mean(x, 1, keepdims=True))
    cov = matmul(c, transpose(c))
    d = sqrt(nt.diagonal(cov))
    out = div(div(cov, reshape(d, (-1, 1))), reshape(d, (1, -1)))
    return clip(out, -1.0, 1.0)


def correlate(x1, x2, mode="valid"):
    """``keras.ops.correlate``: 1-D cross-correlation (``valid``, ``same`` or ``full``)."""
    dtype = result_type(x1, x2)
    dtype = "float64" if dtype in ("int64", "float64") else (dtype if dtype in ("float16", "bfloat16")
                                                              else "float32")
    a, b = (cast(_tensor(v), dtype) if _tensor(v).dtype != dtype else _tensor(v) for v in (x1, x2))
    n, m = a.shape[-1], b.shape[-1]
    zeros = _tensor(np.zeros(m - 1, dtype))
    padded = concatenate([zeros, a, zeros], 0)
    full_len = n + m - 1
    idx = np.arange(full_len)[:, None] + np.arange(m)[None, :]
    windows = nt.take(padded, idx, axis=0)  # (full_len, m)
    full = matmul(windows, b)
    if mode == "same":
        start = (full_len - n) // 2
        full = getitem(full, slice(start, start + n))
    elif mode == "valid":
        length = max(n, m) - min(n, m) + 1
        start = (full_len - length) // 2
        full = getitem(full, slice(start, start + length))
    elif mode != "full":
        raise ValueError(f"correlate: mode must be valid, same or full, got {mode!r}")
    return reshape(full, ()) if full.shape == (1,) else full  # Keras squeezes a length-1 result


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """``keras.ops.trapezoid``: the trapezoidal rule along ``axis``."""
    y = _tensor(y)
    if y.dtype.kind != "f":
        y = cast(y, float_dtype())
    axis = axis % y.ndim
    lead = (slice(None),) * axis
    hi, lo = getitem(y, (*lead, slice(1, None))), getitem(y, (*lead, slice(None, -1)))
    mid = mul(add(hi, lo), 0.5)
    if x is None:
        return _sum(mul(mid, float(dx)), axis)
    d = diff(_tensor(x), axis=-1 if _tensor(x).ndim == 1 else axis)
    if d.ndim == 1 and y.ndim > 1:
        shape = [1] * y.ndim
        shape[axis] = d.shape[0]
        d = reshape(d, tuple(shape))
    return _sum(mul(mid, d), axis)


def vander(x, N=None, increasing=False):  # noqa: N803 - Keras's argument name
    """``keras.ops.vander``: columns of powers of ``x``."""
    x = _tensor(x)
    n = x.shape[0] if N is None else int(N)
    powers = np.arange(n) if increasing else np.arange(n)[::-1].copy()
    cols = [_pow_int(x, int(p)) for p in powers]
    return stack(cols, 1) if cols else _constant(np.zeros((x.shape[0], 0), x.dtype))


def _pow_int(x, p):
    out = _tensor(np.ones(x.shape, x.dtype))
    for _ in range(p):
        out = mul(out, x)
    return out


def diagflat(x, k=0):
    """``keras.ops.diagflat``: the flattened ``x`` on diagonal ``k``."""
    return nt.diag(reshape(_tensor(x), (-1,)), k)


def select(condlist, choicelist, default=0):
    """``keras.ops.select``: the first choice whose condition holds, else ``default``."""
    out: Any = default
    for c, v in reversed(list(zip(condlist, choicelist))):
        out = where(c, v, out)
    return out if isinstance(out, Tensor) else _tensor(np.asarray(out))


def _slogdet_forward(xp, a):
    sign, logabs = xp.linalg.slogdet(a)
    return xp.stack([sign, logabs]).astype(a.dtype)


def _slogdet_grad(xp, g, y, a):
    return (g[1][..., None, None] * xp.linalg.inv(a).swapaxes(-1, -2),)


def slogdet(x):
    """``keras.ops.slogdet``: ``(sign, log|det|)``, differentiable in ``log|det|``."""
    out = _run(_slogdet_forward, _slogdet_grad, _as_float(_tensor(x)))
    return getitem(out, 0), getitem(out, 1)


# -- indices, counts, sets (no gradient) --------------------------------------------------------
def argpartition(x, kth, axis=-1):
    """``keras.ops.argpartition``: int32 indices with the ``kth`` element in its sorted place."""
    d = _tensor(x).data
    xp = _xp(d)
    if axis is None:
        d, axis = d.reshape(-1), 0
    return _constant(xp.argpartition(d, kth, axis=axis).astype(np.int32))


def bincount(x, weights=None, minlength=0, sparse=False):
    """``keras.ops.bincount``: int32 counts, or sums of ``weights`` in their dtype (1-D or rows of 2-D)."""
    if sparse:
        raise ValueError("bincount: sparse=True is not supported")
    d = _tensor(x).data
    xp = _xp(d)
    w = None if weights is None else _tensor(weights).data
    dtype = "int32" if w is None else result_type(_tensor(x), _tensor(weights))
    if d.ndim == 2:
        n = max(int(minlength), int(d.max()) + 1 if d.size else 0)
        rows = [xp.bincount(r, None if w is None else w[i], minlength=n) for i, r in enumerate(d)]
        return _constant(xp.stack(rows).astype(dtype))
    return _constant(xp.bincount(d, w, minlength=int(minlength)).astype(dtype))


def digitize(x, bins):
    """``keras.ops.digitize``: int32 bin numbers."""
    d, b = _tensor(x).data, _tensor(bins).data
    return _constant(_xp(d).digitize(d, b).astype(np.int32))


def searchsorted(sorted_sequence, values, side="left"):
    """``keras.ops.searchsorted`` (1-D ``sorted_sequence``): int32 insertion points."""
    s, v = _tensor(sorted_sequence).data, _tensor(values).data
    if s.ndim != 1:
        raise ValueError(f"searchsorted only supports 1-D sorted sequences, got shape {s.shape}")
    return _constant(_xp(s).searchsorted(s, v, side=side).astype(np.int32))


def histogram(x, bins=10, range=None):  # noqa: A002 - Keras's argument name
    """``keras.ops.histogram``: ``(counts, bin_edges)`` in ``x``'s dtype."""
    d = _tensor(x).data
    xp = _xp(d)
    counts, edges = xp.histogram(d, bins=bins, range=range)
    return _constant(counts.astype(d.dtype)), _constant(edges.astype(d.dtype))


def nonzero(x):
    """``keras.ops.nonzero``: one int32 index tensor per axis."""
    d = _tensor(x).data
    return tuple(_constant(i.astype(np.int32)) for i in _xp(d).nonzero(d))


def unique(x, sorted=True, return_index=False, return_inverse=False, return_counts=False,  # noqa: A002
           axis=None, size=None, fill_value=None):
    """``keras.ops.unique``: the sorted unique values (and int32 indices, inverse, counts)."""
    d = _tensor(x).data
    xp = _xp(d)
    out = xp.unique(d, return_index=return_index, return_inverse=return_inverse, return_counts=return_counts,
                    axis=axis)
    parts = list(out) if isinstance(out, tuple) else [out]
    if size is not None:
        dim = 0 if axis is None else axis % d.ndim
        count = parts[0].shape[dim]
        if count > size:
            parts[0] = xp.take(parts[0], xp.arange(size), axis=dim)
            parts[1:] = [p if (i == 1 + int(return_index) and return_inverse) else p[:size]
                         for i, p in enumerate(parts[1:], 1)]
        elif count < size:
            pad = [(0, 0)] * parts[0].ndim
            pad[dim] = (0, size - count)
            parts[0] = xp.pad(parts[0], pad, constant_values=0 if fill_value is None else fill_value)
            if return_index:
                parts[1] = xp.pad(parts[1], (0, size - count), constant_values=1)
            if return_counts:
                parts[-1] = xp.pad(parts[-1], (0, size - count))
    tensors = [_constant(parts[0])] + [_constant(p.astype(np.int32)) for p in parts[1:]]
    return tensors[0] if len(tensors) == 1 else tuple(tensors)


def unravel_index(indices, shape):
    """``keras.ops.unravel_index``: a tuple of coordinate tensors (``indices``' dtype)."""
    d = _tensor(indices).data
    return tuple(_constant(c.astype(d.dtype)) for c in _xp(d).unravel_index(d, tuple(shape)))


def ndim(x):
    """``keras.ops.ndim``: the rank (an int)."""
    return len(x.shape)


def size(x):
    """``keras.ops.size``: the number of elements (an int32 scalar tensor, Keras's spec)."""
    return _constant(get_backend().xp.asarray(int(np.prod(x.shape)), dtype=np.int32))


def view(x, dtype=None):
    """``keras.ops.view``: the same bytes read as ``dtype``."""
    d = _tensor(x).data
    return _constant(d.view(np.dtype(dtype)) if dtype is not None else d.copy())


def vectorize(pyfunc, *, excluded=None, signature=None):
    """``keras.ops.vectorize``: ``pyfunc`` mapped over the leading axis of its tensor arguments
    (elementwise without a signature, NumPy's rule), its results stacked."""
    excluded = set(excluded or ())

    def wrapped(*args, **kwargs):
        tensors = [_tensor(a) if i not in excluded else a for i, a in enumerate(args)]
        core = 0
        if signature is not None:
            ins = signature.split("->")[0]
            core = [len([c for c in p.strip("() ").split(",") if c]) for p in ins.split("),")]
        arrays = [t for i, t in enumerate(tensors) if i not in excluded]
        ranks = [t.ndim - (core[k] if isinstance(core, list) else 0) for k, t in enumerate(arrays)]
        lead = np.broadcast_shapes(*(t.shape[:r] for t, r in zip(arrays, ranks))) if arrays else ()
        if not lead:
            return pyfunc(*tensors, **kwargs)
        bcast, k = [], 0
        for i, t in enumerate(tensors):
            if i in excluded:
                bcast.append(t)
                continue
            bcast.append(nt.broadcast_to(t, tuple(lead) + t.shape[ranks[k]:]))
            k += 1
        flat = [reshape(t, (-1,) + t.shape[len(lead):]) if i not in excluded else t for i, t in enumerate(bcast)]
        n = int(np.prod(lead))
        outs = [pyfunc(*(getitem(t, j) if i not in excluded else t for i, t in enumerate(flat)), **kwargs)
                for j in range(n)]
        res = stack([_tensor(o) for o in outs], 0)
        return reshape(res, tuple(lead) + res.shape[1:])

    return wrapped


# -- creation -----------------------------------------------------------------------------------
def empty(shape, dtype=None):
    """``keras.ops.empty``: zeros (an uninitialised buffer is no help to anyone)."""
    return _constant(get_backend().xp.zeros(tuple(shape) if not isinstance(shape, int) else (shape,),
                                            dtype=dtype or float_dtype()))


def empty_like(x, dtype=None):
    """``keras.ops.empty_like``: zeros of ``x``'s shape."""
    d = _tensor(x).data
    return _constant(_xp(d).zeros(d.shape, dtype=dtype or d.dtype))


def _window(fn):
    def op(x):
        n = int(_data(x)) if not isinstance(x, Tensor) else int(x.numpy())
        return _constant(get_backend().xp.asarray(fn(n)).astype(float_dtype()))
    return op


bartlett, blackman, hamming, hanning = (_window(np.bartlett), _window(np.blackman), _window(np.hamming),
                                        _window(np.hanning))
for _fn, _nm in ((bartlett, "bartlett"), (blackman, "blackman"), (hamming, "hamming"), (hanning, "hanning")):
    _fn.__name__ = _fn.__qualname__ = _nm
    _fn.__doc__ = f"``keras.ops.{_nm}``: the window of ``x`` points (default float)."


def kaiser(x, beta):
    """``keras.ops.kaiser``: the Kaiser window (torch's, which is NumPy's)."""
    n = int(_data(x)) if not isinstance(x, Tensor) else int(x.numpy())
    return _constant(get_backend().xp.asarray(np.kaiser(n, beta)).astype(float_dtype()))


def logspace(start, stop, num=50, endpoint=True, base=10, dtype=None, axis=0):
    """``keras.ops.logspace``: ``base ** linspace(start, stop)``."""
    dtype = dtype or result_type(start, stop, float)
    exps = np.linspace(float(_data(start)), float(_data(stop)), int(num), endpoint=endpoint, axis=axis)
    return _constant(get_backend().xp.asarray(np.power(float(base), exps)).astype(dtype))


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """``keras.ops.geomspace``: a geometric progression from ``start`` to ``stop``."""
    dtype = dtype or result_type(start, stop, float)
    out = np.geomspace(float(_data(start)), float(_data(stop)), int(num), endpoint=endpoint, axis=axis)
    return _constant(get_backend().xp.asarray(out).astype(dtype))


#: answered on the Python side, never recorded as graph nodes
PYTHON_SIDE = ("ndim", "vectorize")

# -- the exported functions, one per row --------------------------------------------------------
for _name in UNARY_MORE:
    globals()[_name] = _unary_more(_name)
for _name in BINARY_MORE:
    globals()[_name] = _binary_more(_name)
for _name in INTEGER:
    globals()[_name] = _integer(_name)
conjugate = globals()["conj"]

__all__ = [*UNARY_MORE, *BINARY_MORE, *INTEGER, "bitwise_invert", "bitwise_not", "ldexp", "divide_no_nan",
           "isclose", "allclose", "isin", "isreal", "conjugate", "amax", "amin", "ptp", "average", "quantile",
           "percentile", "median", "nansum", "nanprod", "nancumsum", "nancumprod", "nanmean", "nanvar", "nanstd",
           "nanmax", "nanmin", "nanargmax", "nanargmin", "nanquantile", "nanpercentile", "nanmedian", "append",
           "array", "array_split", "hsplit", "vsplit", "dsplit", "hstack", "vstack", "dstack", "get_item", "diff",
           "cross", "inner", "vdot", "kron", "corrcoef", "correlate", "trapezoid", "vander", "diagflat", "select",
           "slogdet", "argpartition", "bincount", "digitize", "searchsorted", "histogram", "nonzero", "unique",
           "unravel_index", "ndim", "size", "view", "vectorize", "empty", "empty_like", "bartlett", "blackman",
           "hamming", "hanning", "kaiser", "logspace", "geomspace"]
