"""Keras 3's NumPy-shaped ops, written as tables (issue 23, "compact by construction").

Each row names an op, its forward (a function of the array module ``xp`` and raw arrays), its
gradient rule and its output dtype rule; one generic :class:`TableOp` runs any row, so an op is a
line, not a class. The rules:

* ``UNARY``: elementwise, gradient ``g * d(x, y)`` with ``y`` the output;
* ``BINARY``: elementwise on two broadcast operands, gradients ``(g * da, g * db)`` (the engine
  sums broadcast axes back);
* ``GATHER``: ops that only move, copy or zero elements of ``x`` (tile, flip, roll, take, tril, ...).
  Their one gradient rule runs the same forward on the element numbers of ``x`` and scatter-adds
  ``g`` back to where each output element came from, so no row needs its own backward;
* ``REDUCE``: reductions and scans with their own gradient (prod, logsumexp, cumsum, cumprod);
* the rest are compositions of differentiable ops (sort, top_k, split, trace, outer, einsum's
  gradient is einsum again), or take no gradient (argsort, isnan, any, creation ops).

Dtype rules follow Keras's (``keras/src/backend/*/numpy.py``): float functions of integers give the
default float, moves keep the dtype, predicates give bool, indices int32.
"""
from __future__ import annotations

import math
import string
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend
from .dtypes import float_dtype, result_type
from .elementwise import _promote, cast, mul
from .reduction import sum as _sum
from .shape import getitem, reshape

FLOAT, SAME, BOOL = "float", "same", "bool"


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _xp(*arrays):
    for a in arrays:
        if hasattr(a, "shape") and not isinstance(a, np.generic):
            return array_module(a)
    return get_backend().xp


def _tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def _as_float(x: Tensor) -> Tensor:
    """Keras: a float function of an integer or bool tensor gives the default float."""
    return x if x.dtype.kind in "fc" else cast(x, float_dtype())


class TableOp(Function):
    """Runs one table row: ``forward(xp, *arrays, **kw)`` and ``grad(xp, g, y, *arrays, **kw)``,
    which returns one gradient (or ``None``) per array."""

    @staticmethod
    def forward(ctx, *arrays, forward, grad, kw):
        xp = _xp(*arrays)
        out = forward(xp, *arrays, **kw)
        ctx.arrays, ctx.out, ctx.grad, ctx.kw, ctx.xp = arrays, out, grad, kw, xp
        return out

    @staticmethod
    def backward(ctx, g):
        if ctx.grad is None:
            return (None,) * len(ctx.arrays)
        grads = ctx.grad(ctx.xp, g, ctx.out, *ctx.arrays, **ctx.kw)
        return tuple(None if (gr is None or not need) else gr
                     for gr, need in zip(grads, ctx.needs_input_grad))


def _run(forward, grad, *inputs, **kw) -> Tensor:
    return TableOp.apply(*inputs, forward=forward, grad=grad, kw=kw)


# -- UNARY: name -> (forward, dy/dx as a function of (xp, x, y), dtype rule) ----------------------
def _zero(xp, x, y):
    return xp.zeros_like(y)


_LN2, _LN10 = math.log(2.0), math.log(10.0)
UNARY: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None, str]] = {
    "sin": (lambda xp, x: xp.sin(x), lambda xp, x, y: xp.cos(x), FLOAT),
    "cos": (lambda xp, x: xp.cos(x), lambda xp, x, y: -xp.sin(x), FLOAT),
    "tan": (lambda xp, x: xp.tan(x), lambda xp, x, y: 1 + y * y, FLOAT),
    "arcsin": (lambda xp, x: xp.arcsin(x), lambda xp, x, y: 1 / xp.sqrt(1 - x * x), FLOAT),
    "arccos": (lambda xp, x: xp.arccos(x), lambda xp, x, y: -1 / xp.sqrt(1 - x * x), FLOAT),
    "arctan": (lambda xp, x: xp.arctan(x), lambda xp, x, y: 1 / (1 + x * x), FLOAT),
    "sinh": (lambda xp, x: xp.sinh(x), lambda xp, x, y: xp.cosh(x), FLOAT),
    "cosh": (lambda xp, x: xp.cosh(x), lambda xp, x, y: xp.sinh(x), FLOAT),
    "arcsinh": (lambda xp, x: xp.arcsinh(x), lambda xp, x, y: 1 / xp.sqrt(x * x + 1), FLOAT),
    "arccosh": (lambda xp, x: xp.arccosh(x), lambda xp, x, y: 1 / xp.sqrt(x * x - 1), FLOAT),
    "arctanh": (lambda xp, x: xp.arctanh(x), lambda xp, x, y: 1 / (1 - x * x), FLOAT),
    "log1p": (lambda xp, x: xp.log1p(x), lambda xp, x, y: 1 / (1 + x), FLOAT),
    "expm1": (lambda xp, x: xp.expm1(x), lambda xp, x, y: y + 1, FLOAT),
    "log2": (lambda xp, x: xp.log2(x), lambda xp, x, y: 1 / (x * _LN2), FLOAT),
    "log10": (lambda xp, x: xp.log10(x), lambda xp, x, y: 1 / (x * _LN10), FLOAT),
    "exp2": (lambda xp, x: xp.exp2(x), lambda xp, x, y: y * _LN2, FLOAT),
    "cbrt": (lambda xp, x: xp.cbrt(x), lambda xp, x, y: 1 / (3 * y * y), FLOAT),
    "reciprocal": (lambda xp, x: 1 / x, lambda xp, x, y: -y * y, FLOAT),
    "rsqrt": (lambda xp, x: 1 / xp.sqrt(x), lambda xp, x, y: -0.5 * y * y * y, FLOAT),
    "deg2rad": (lambda xp, x: x * (math.pi / 180), lambda xp, x, y: xp.full_like(y, math.pi / 180), FLOAT),
    "rad2deg": (lambda xp, x: x * (180 / math.pi), lambda xp, x, y: xp.full_like(y, 180 / math.pi), FLOAT),
    "floor": (lambda xp, x: xp.floor(x), _zero, FLOAT),
    "ceil": (lambda xp, x: xp.ceil(x), _zero, FLOAT),
    "trunc": (lambda xp, x: xp.trunc(x) if x.dtype.kind == "f" else x.copy(), _zero, SAME),
    "sign": (lambda xp, x: xp.sign(x), _zero, SAME),
    "fabs": (lambda xp, x: xp.abs(x), lambda xp, x, y: xp.sign(x), FLOAT),
    "isnan": (lambda xp, x: xp.isnan(x), None, BOOL),
    "isinf": (lambda xp, x: xp.isinf(x), None, BOOL),
    "isfinite": (lambda xp, x: xp.isfinite(x), None, BOOL),
    "isposinf": (lambda xp, x: xp.isposinf(x), None, BOOL),
    "isneginf": (lambda xp, x: xp.isneginf(x), None, BOOL),
    "signbit": (lambda xp, x: xp.signbit(x), None, BOOL),
}


def _unary(name):
    forward, deriv, rule = UNARY[name]
    grad = None if deriv is None else (lambda xp, g, y, x: (g * deriv(xp, x, y),))

    def op(x):
        x = _tensor(x)
        if rule == FLOAT:
            x = _as_float(x)
        elif rule == BOOL and x.dtype.kind not in "fc":
            return Tensor._wrap(forward(_xp(x.data), x.data.astype(float_dtype())))
        return _run(forward, grad, x)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}`` (elementwise; a row of ``UNARY``)."
    return op


# -- BINARY: name -> (forward, (da, db) as functions of (xp, a, b, y)) ---------------------------
BINARY: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "arctan2": (lambda xp, a, b: xp.arctan2(a, b),
                lambda xp, a, b, y: (b / (a * a + b * b), -a / (a * a + b * b))),
    "hypot": (lambda xp, a, b: xp.hypot(a, b), lambda xp, a, b, y: (a / y, b / y)),
    "logaddexp": (lambda xp, a, b: xp.logaddexp(a, b), lambda xp, a, b, y: (xp.exp(a - y), xp.exp(b - y))),
    "fmod": (lambda xp, a, b: xp.fmod(a, b), lambda xp, a, b, y: (xp.ones_like(y), -xp.trunc(a / b))),
}
_BINARY_FLOAT = {"arctan2", "hypot", "logaddexp"}


def _binary(name):
    forward, deriv = BINARY[name]

    def grad(xp, g, y, a, b):
        da, db = deriv(xp, a, b, y)
        return g * da, g * db

    def op(x1, x2):
        a, b = (_tensor(v) for v in _promote(x1, x2))
        if name in _BINARY_FLOAT:
            a, b = _as_float(a), _as_float(b)
        return _run(forward, grad, a, b)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}`` (elementwise, broadcast; a row of ``BINARY``)."
    return op


# -- GATHER: ops that move, copy or zero elements; one gradient rule for all ---------------------
def _gather_grad(forward):
    def grad(xp, g, y, x, **kw):
        n = int(np.prod(x.shape))
        # element number + 1 of each output element; 0 where the op wrote a zero (tril, ...)
        where = forward(xp, xp.arange(1, n + 1, dtype=np.int64).reshape(x.shape), **kw).ravel() - 1
        keep = where >= 0
        flat = xp.bincount(where[keep], weights=g.ravel()[keep].astype(np.float64), minlength=n)
        return (flat.reshape(x.shape).astype(g.dtype),)
    return grad


def _axis_tuple(axis):
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _diag(xp, x, k=0):
    if x.ndim == 1:
        n = x.shape[0] + abs(k)
        out = xp.zeros((n, n), dtype=x.dtype)
        i = xp.arange(x.shape[0])
        out[(i, i + k) if k >= 0 else (i - k, i)] = x
        return out
    return xp.diagonal(x, k).copy()


def _tri(lower):
    def forward(xp, x, k=0):
        rows, cols = x.shape[-2:]
        mask = xp.arange(cols)[None, :] - xp.arange(rows)[:, None]
        mask = (mask <= k) if lower else (mask >= k)
        return xp.where(mask, x, xp.zeros((), dtype=x.dtype))
    return forward


GATHER: dict[str, Callable[..., Any]] = {
    "tile": lambda xp, x, repeats: xp.tile(x, repeats),
    "flip": lambda xp, x, axis=None: xp.flip(x, _axis_tuple(axis)).copy(),
    "fliplr": lambda xp, x: xp.flip(x, 1).copy(),
    "flipud": lambda xp, x: xp.flip(x, 0).copy(),
    "rot90": lambda xp, x, k=1, axes=(0, 1): xp.rot90(x, k, tuple(axes)).copy(),
    "roll": lambda xp, x, shift, axis=None: xp.roll(x, shift, _axis_tuple(axis)),
    "repeat": lambda xp, x, repeats, axis=None: xp.repeat(x, repeats, axis),
    "swapaxes": lambda xp, x, axis1, axis2: xp.swapaxes(x, axis1, axis2).copy(),
    "moveaxis": lambda xp, x, source, destination: xp.moveaxis(x, source, destination).copy(),
    "ravel": lambda xp, x: x.reshape(-1).copy(),
    "broadcast_to": lambda xp, x, shape: xp.broadcast_to(x, tuple(shape)).copy(),
    "take": lambda xp, x, indices, axis=None: xp.take(x, indices, axis),
    "take_along_axis": lambda xp, x, indices, axis=None: (
        xp.take_along_axis(x.reshape(-1), indices.reshape(-1), 0) if axis is None
        else xp.take_along_axis(x, xp.broadcast_to(indices, _along_shape(x.shape, indices.shape, axis)), axis)),
    "diagonal": lambda xp, x, offset=0, axis1=0, axis2=1: xp.diagonal(x, offset, axis1, axis2).copy(),
    "diag": _diag,
    "tril": _tri(True),
    "triu": _tri(False),
}


def _along_shape(xshape, ishape, axis):
    """``indices``' shape broadcast against ``x``'s on every axis but ``axis`` (Keras's rule)."""
    axis = axis % len(xshape)
    shape = list(np.broadcast_shapes(tuple(d for i, d in enumerate(xshape) if i != axis),
                                     tuple(d for i, d in enumerate(ishape) if i != axis)))
    shape.insert(axis, ishape[axis])
    return tuple(shape)


def _index_array(indices, x):
    data = _data(indices)
    xp = _xp(x.data)
    arr = xp.asarray(data)
    if arr.dtype.kind not in "iu":
        arr = arr.astype(np.int64)
    return arr


def _gather(name):
    forward = GATHER[name]
    grad = _gather_grad(forward)
    takes_indices = name in ("take", "take_along_axis")

    def op(x, *args, **kwargs):
        x = _tensor(x)
        if takes_indices:
            args = (_index_array(args[0] if args else kwargs.pop("indices"), x), *args[1:])
            if name == "take":  # Keras takes negative indices from the end
                axis = args[1] if len(args) > 1 else kwargs.get("axis")
                size = x.size if axis is None else x.shape[axis]
                args = (np.where(args[0] < 0, args[0] + size, args[0]) if isinstance(args[0], np.ndarray)
                        else args[0] % size, *args[1:])
        names = forward.__code__.co_varnames[2:forward.__code__.co_argcount]
        kw = dict(zip(names, args), **kwargs)
        return _run(forward, grad, x, **kw)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}`` (moves elements; a row of ``GATHER``)."
    return op


# -- REDUCE: reductions and scans with their gradient ------------------------------------------
def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axis)


def _keep(arr, axis, ndim, keepdims):
    """A reduced array with the reduced axes back (size 1), for broadcasting against the input."""
    if keepdims:
        return arr
    shape = list(arr.shape)
    for a in sorted(_axes(axis, ndim)):
        shape.insert(a, 1)
    return arr.reshape(shape)


def _int_accumulator(dtype):
    """Keras's dtype of a sum-like reduction: bool and small ints accumulate in int32."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_ or (dtype.kind in "iu" and dtype.itemsize < 4):
        return np.dtype("int32")
    return dtype


def _prod_forward(xp, x, axis=None, keepdims=False, dtype=None):
    return xp.prod(x, axis=_axis_tuple(axis), keepdims=keepdims, dtype=dtype)


def _prod_grad(xp, g, y, x, axis=None, keepdims=False, dtype=None):
    return (_keep(g, axis, x.ndim, keepdims) * _keep(y, axis, x.ndim, keepdims) / x,)


def _lse_forward(xp, x, axis=None, keepdims=False):
    top = xp.max(x, axis=_axis_tuple(axis), keepdims=True)
    top = xp.where(xp.isfinite(top), top, 0)
    out = xp.log(xp.sum(xp.exp(x - top), axis=_axis_tuple(axis), keepdims=True)) + top
    return out if keepdims else out.reshape([d for i, d in enumerate(x.shape) if i not in _axes(axis, x.ndim)])


def _lse_grad(xp, g, y, x, axis=None, keepdims=False):
    return (_keep(g, axis, x.ndim, keepdims) * xp.exp(x - _keep(y, axis, x.ndim, keepdims)),)


def _scan(fn):
    def forward(xp, x, axis=None, dtype=None):
        if axis is None:
            x, axis = x.reshape(-1), 0
        return getattr(xp, fn)(x, axis=axis, dtype=dtype)
    return forward


def _reverse_cumsum(xp, a, axis):
    return xp.flip(xp.cumsum(xp.flip(a, axis), axis=axis), axis)


def _cumsum_grad(xp, g, y, x, axis=None, dtype=None):
    ax = 0 if axis is None else axis
    return (_reverse_cumsum(xp, g, ax).reshape(x.shape),)


def _cumprod_grad(xp, g, y, x, axis=None, dtype=None):
    ax = 0 if axis is None else axis
    return ((_reverse_cumsum(xp, g * y, ax) / (x.reshape(-1) if axis is None else x)).reshape(x.shape),)


REDUCE: dict[str, tuple[Callable[..., Any], Callable[..., Any]]] = {
    "prod": (_prod_forward, _prod_grad),
    "logsumexp": (_lse_forward, _lse_grad),
    "cumsum": (_scan("cumsum"), _cumsum_grad),
    "cumprod": (_scan("cumprod"), _cumprod_grad),
}


def prod(x, axis=None, keepdims=False, dtype=None):
    """``keras.ops.prod``: bool and small ints multiply in int32, others keep their dtype."""
    x = _tensor(x)
    dtype = np.dtype(dtype) if dtype is not None else _int_accumulator(x.dtype)
    return _run(*REDUCE["prod"], x, axis=axis, keepdims=keepdims, dtype=dtype)


def logsumexp(x, axis=None, keepdims=False):
    """``keras.ops.logsumexp``: ``log(sum(exp(x)))``, computed stably."""
    return _run(*REDUCE["logsumexp"], _as_float(_tensor(x)), axis=axis, keepdims=keepdims)


def cumsum(x, axis=None, dtype=None):
    """``keras.ops.cumsum`` (``axis=None``: over the flattened tensor)."""
    x = _tensor(x)
    dtype = np.dtype(dtype) if dtype is not None else _int_accumulator(x.dtype)
    return _run(*REDUCE["cumsum"], x, axis=axis, dtype=dtype)


def cumprod(x, axis=None, dtype=None):
    """``keras.ops.cumprod`` (``axis=None``: over the flattened tensor)."""
    x = _tensor(x)
    dtype = np.dtype(dtype) if dtype is not None else _int_accumulator(x.dtype)
    return _run(*REDUCE["cumprod"], x, axis=axis, dtype=dtype)


# -- no gradient: predicates, counts, orderings ------------------------------------------------
def _constant(out) -> Tensor:
    return Tensor._wrap(out)


def any(x, axis=None, keepdims=False):  # noqa: A001
    """``keras.ops.any``."""
    d = _tensor(x).data
    return _constant(_xp(d).any(d, axis=_axis_tuple(axis), keepdims=keepdims))


def all(x, axis=None, keepdims=False):  # noqa: A001
    """``keras.ops.all``."""
    d = _tensor(x).data
    return _constant(_xp(d).all(d, axis=_axis_tuple(axis), keepdims=keepdims))


def count_nonzero(x, axis=None):
    """``keras.ops.count_nonzero``: int32 counts."""
    d = _tensor(x).data
    return _constant(_xp(d).asarray(_xp(d).count_nonzero(d, axis=_axis_tuple(axis))).astype(np.int32))


def argsort(x, axis=-1):
    """``keras.ops.argsort``: int32 indices of a stable ascending sort."""
    d = _tensor(x).data
    xp = _xp(d)
    if axis is None:
        d, axis = d.reshape(-1), 0
    return _constant(xp.argsort(d, axis=axis, kind="stable").astype(np.int32))


def sort(x, axis=-1):
    """``keras.ops.sort``: the values in ascending order (gradient through the permutation)."""
    x = _tensor(x)
    if axis is None:
        x, axis = ravel(x), 0
    return take_along_axis(x, argsort(x, axis), axis)


def top_k(x, k, sorted=True):  # noqa: A002 - Keras's argument name
    """``keras.ops.top_k``: ``(values, int32 indices)`` of the ``k`` largest along the last axis
    (Keras's output spec; its torch backend returns torch's int64 on concrete input)."""
    x = _tensor(x)
    d = x.data
    xp = _xp(d)
    order = xp.argsort(-d if d.dtype.kind != "b" else ~d, axis=-1, kind="stable")[..., :k].astype(np.int32)
    return take_along_axis(x, order, -1), _constant(order)


def split(x, indices_or_sections, axis=0):
    """``keras.ops.split``: a list of tensors (each a differentiable slice)."""
    x = _tensor(x)
    n = x.shape[axis]
    if isinstance(indices_or_sections, int):
        if n % indices_or_sections:
            raise ValueError(f"split: {n} elements on axis {axis} do not divide into {indices_or_sections} parts")
        step = n // indices_or_sections
        bounds = list(range(0, n + 1, step))
    else:
        bounds = [0, *(int(i) for i in indices_or_sections), n]
    axis = axis % x.ndim
    lead = (slice(None),) * axis
    return [getitem(x, (*lead, slice(lo, hi))) for lo, hi in zip(bounds[:-1], bounds[1:])]


def stop_gradient(variable):
    """``keras.ops.stop_gradient``: the same values, cut from the gradient graph."""
    return Tensor._wrap(_tensor(variable).data)


def trace(x, offset=0, axis1=0, axis2=1):
    """``keras.ops.trace``: the sum of a diagonal (bool and small ints in int32)."""
    x = _tensor(x)
    out = _sum(diagonal(x, offset, axis1, axis2), axis=-1)
    want = _int_accumulator(x.dtype)
    return out if out.dtype == want else cast(out, want)


def outer(x1, x2):
    """``keras.ops.outer``: ``x1.ravel()[:, None] * x2.ravel()[None, :]``."""
    a, b = _promote(x1, x2)
    return mul(reshape(_tensor(a), (-1, 1)), reshape(_tensor(b), (1, -1)))


def nan_to_num(x, nan=0.0, posinf=None, neginf=None):
    """``keras.ops.nan_to_num``: NaN and infinities replaced; gradient 1 where ``x`` was finite."""
    return _run(lambda xp, a: xp.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf),
                lambda xp, g, y, a: (xp.where(xp.isfinite(a), g, 0),), _tensor(x))


# -- einsum: the gradient of each operand is an einsum of the output gradient and the others -----
def _einsum_parse(subscripts, shapes):
    """Explicit subscripts without ``...`` (expanded into free letters)."""
    subscripts = subscripts.replace(" ", "")
    lhs, arrow, rhs = subscripts.partition("->")
    terms = lhs.split(",")
    free = iter(c for c in string.ascii_letters if c not in subscripts)
    if "..." in subscripts:
        width = max(len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t)
        ell = "".join(next(free) for _ in range(width))
        terms = [t.replace("...", ell[width - (len(s) - (len(t) - 3)):]) if "..." in t else t
                 for t, s in zip(terms, shapes)]
        rhs = rhs.replace("...", ell) if arrow else rhs
        if not arrow:
            rhs = ell + "".join(sorted(c for c in set("".join(terms)) - set(ell) if "".join(terms).count(c) == 1))
    elif not arrow:
        joined = "".join(terms)
        rhs = "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    return terms, rhs


def _einsum_forward(xp, *arrays, terms, rhs):
    return xp.einsum(",".join(terms) + "->" + rhs, *arrays)


def _einsum_grad(xp, g, y, *arrays, terms, rhs):
    grads = []
    for i, (term, a) in enumerate(zip(terms, arrays)):
        others = [b for j, b in enumerate(arrays) if j != i]
        present = set(rhs).union(*(t for j, t in enumerate(terms) if j != i))
        target = "".join(dict.fromkeys(c for c in term if c in present))
        inputs = ",".join([rhs, *(t for j, t in enumerate(terms) if j != i)])
        part = xp.einsum(inputs + "->" + target, g, *others)
        grads.append(_einsum_place(xp, part, target, term, a.shape).astype(a.dtype, copy=False))
    return tuple(grads)


def _einsum_place(xp, part, target, term, shape):
    """``part`` (subscripts ``target``) laid out on the operand's axes ``term`` of ``shape``: letters
    only this operand has (summed away) come back by broadcasting, a repeated letter (a diagonal)
    takes the gradient on its diagonal, and an axis of size 1 that others broadcast sums back."""
    unique = "".join(dict.fromkeys(term))
    sizes = dict(zip(term, shape))
    for c in target:  # an axis of size 1 here that the other operands broadcast
        if sizes[c] == 1 and part.shape[target.index(c)] != 1:
            part = part.sum(axis=target.index(c), keepdims=True)
    order = [target.index(c) for c in unique if c in target]
    moved = xp.transpose(part, order).reshape([sizes[c] if c in target else 1 for c in unique])
    moved = xp.broadcast_to(moved, [sizes[c] for c in unique])
    if unique == term:
        return xp.ascontiguousarray(moved)
    out = xp.zeros(shape, dtype=part.dtype)
    xp.einsum(term + "->" + unique, out)[...] = moved  # einsum's diagonal view is writable
    return out


def einsum(subscripts, *operands):
    """``keras.ops.einsum``; the output dtype is the operands' ``result_type`` (Keras)."""
    tensors = [_tensor(o) for o in operands]
    dtype = result_type(*tensors)
    tensors = [t if t.dtype == np.dtype(dtype) else cast(t, dtype) for t in tensors]
    terms, rhs = _einsum_parse(subscripts, [t.shape for t in tensors])
    return TableOp.apply(*tensors, forward=_einsum_forward, grad=_einsum_grad, kw={"terms": terms, "rhs": rhs})


# -- creation (no tensor arguments, except the *_like ones) --------------------------------------
def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``keras.ops.linspace``."""
    xp = get_backend().xp
    out = xp.linspace(_data(start), _data(stop), int(num), endpoint=endpoint, retstep=retstep, axis=axis)
    arr, step = out if retstep else (out, None)
    arr = arr.astype(dtype or float_dtype())
    return (_constant(arr), step) if retstep else _constant(arr)


def identity(n, dtype=None):
    """``keras.ops.identity``: the ``n x n`` identity."""
    return _constant(get_backend().xp.eye(int(n), dtype=dtype or float_dtype()))


def eye(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's argument names
    """``keras.ops.eye``."""
    return _constant(get_backend().xp.eye(int(N), None if M is None else int(M), int(k), dtype=dtype or float_dtype()))


def tri(N, M=None, k=0, dtype=None):  # noqa: N803 - Keras's argument names
    """``keras.ops.tri``: ones on and below diagonal ``k``."""
    return _constant(get_backend().xp.tri(int(N), None if M is None else int(M), int(k), dtype=dtype or float_dtype()))


def full_like(x, fill_value, dtype=None):
    """``keras.ops.full_like``: ``x``'s shape and dtype (or ``dtype``), filled."""
    d = _tensor(x).data
    return _constant(_xp(d).full(d.shape, _data(fill_value), dtype=dtype or d.dtype))


def meshgrid(*x, indexing="xy"):
    """``keras.ops.meshgrid``: one tensor per input (no gradient)."""
    arrays = [_tensor(v).data for v in x]
    return [_constant(a.copy()) for a in _xp(*arrays).meshgrid(*arrays, indexing=indexing)]


# -- the exported functions, one per row --------------------------------------------------------
for _name in UNARY:
    globals()[_name] = _unary(_name)
for _name in BINARY:
    globals()[_name] = _binary(_name)
for _name in GATHER:
    globals()[_name] = _gather(_name)
ravel = globals()["ravel"]
take_along_axis = globals()["take_along_axis"]
diagonal = globals()["diagonal"]

__all__ = [*UNARY, *BINARY, *GATHER, "prod", "logsumexp", "cumsum", "cumprod", "any", "all", "count_nonzero",
           "argsort", "sort", "top_k", "split", "stop_gradient", "trace", "outer", "nan_to_num", "einsum",
           "linspace", "identity", "eye", "tri", "full_like", "meshgrid"]
