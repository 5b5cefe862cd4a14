"""Keras 3's ``keras.ops`` core and math ops that are not NumPy-shaped: slicing and scattering with
their gradients, ``unstack``, ``saturate_cast``, ``in_top_k``, ``erfc``/``erfinv``, ``logdet``,
``extract_sequences``, ``cdist``, einops-style ``rearrange``, and the Python-side ``is_tensor``/``dtype``.

Scatter-like ops are rows run by ``numpy_table.TableOp``: a forward on raw arrays and a gradient rule.
"""
from __future__ import annotations

import math
import re

import numpy as np

from ..autograd.tensor import Tensor
from . import numpy_table as nt
from .elementwise import _erf_array, _promote, cast, clip, erf, mul, sqrt, sub
from .numpy_table import _as_float, _constant, _data, _run, _tensor, _xp
from .reduction import sum as _sum
from .shape import getitem, reshape, transpose

__all__ = ["is_tensor", "dtype", "saturate_cast", "slice", "slice_update", "scatter", "scatter_update", "unstack",
           "in_top_k", "erfc", "erfinv", "logdet", "extract_sequences", "cdist", "rearrange"]

#: answered on the Python side, never recorded as graph nodes
PYTHON_SIDE = ("is_tensor", "dtype")


def is_tensor(x) -> bool:
    """``keras.ops.is_tensor``: whether ``x`` is a gradflow Tensor."""
    return isinstance(x, Tensor)


def dtype(x) -> str:
    """``keras.ops.dtype``: the dtype's standard name (``"float32"``...)."""
    return np.dtype(x.dtype).name


def saturate_cast(x, dtype):  # noqa: A002 - Keras's argument name
    """``keras.ops.saturate_cast``: clipped to ``dtype``'s range, then cast (gradient where not clipped)."""
    x = _tensor(x)
    target = np.dtype(dtype)
    if target.kind in "iu":
        info = np.iinfo(target)
        lo, hi = info.min, info.max
        if x.dtype.kind == "f":  # the float nearest the bound that does not overflow it
            lo_f, hi_f = np.array(lo, x.dtype), np.array(hi, x.dtype)
            lo = float(lo_f if lo_f >= lo else np.nextafter(lo_f, np.array(0, x.dtype)))
            hi = float(hi_f if hi_f <= hi else np.nextafter(hi_f, np.array(0, x.dtype)))
        elif x.dtype.kind in "iu":
            src = np.iinfo(x.dtype)
            lo, hi = max(lo, src.min), min(hi, src.max)
    elif target.kind == "f" and x.dtype.kind == "f" and np.finfo(target).max < np.finfo(x.dtype).max:
        lo, hi = float(np.finfo(target).min), float(np.finfo(target).max)
    else:
        return cast(x, target)
    return cast(clip(x, lo, hi), target)


# -- slicing and scattering ---------------------------------------------------------------------
_py_slice = slice  # ``slice`` is Keras's op name below


def _start(start_indices):
    d = _data(start_indices)
    return [int(v) for v in np.asarray(d.get() if hasattr(d, "get") else d).reshape(-1)]


def slice(inputs, start_indices, shape):  # noqa: A001 - Keras's name
    """``keras.ops.slice``: the block of ``shape`` at ``start_indices`` (differentiable)."""
    start = _start(start_indices)
    return getitem(_tensor(inputs), tuple(_py_slice(s, s + int(n)) for s, n in zip(start, shape)))


def _slice_update_forward(xp, a, u, region):
    out = a.copy()
    out[region] = u
    return out


def _slice_update_grad(xp, g, y, a, u, region):
    ga = g.copy()
    ga[region] = 0
    return ga, g[region].copy()


def slice_update(inputs, start_indices, updates):
    """``keras.ops.slice_update``: ``inputs`` with the block at ``start_indices`` set to ``updates``."""
    a = _tensor(inputs)
    u = _tensor(updates)
    u = u if u.dtype == a.dtype else cast(u, a.dtype)
    start = _start(start_indices)
    region = tuple(_py_slice(s, s + n) for s, n in zip(start, u.shape))
    return _run(_slice_update_forward, _slice_update_grad, a, u, region=region)


def _index_tuple(xp, indices):
    idx = xp.asarray(indices).astype(np.int64)
    return tuple(idx[..., i] for i in range(idx.shape[-1]))


def _scatter_forward(xp, values, indices, shape):
    out = xp.zeros(shape, dtype=values.dtype)
    idx = _index_tuple(xp, indices)
    xp.add.at(out, idx, values.reshape(idx[0].shape + tuple(shape[len(idx):])))
    return out


def _scatter_grad(xp, g, y, values, indices, shape):
    return g[_index_tuple(xp, indices)].reshape(values.shape), None


def scatter(indices, values, shape):
    """``keras.ops.scatter``: zeros of ``shape`` with ``values`` added at ``indices`` (last axis: coordinates)."""
    v = _tensor(values)
    idx = _tensor(indices)
    return _run(_scatter_forward, _scatter_grad, v, idx, shape=tuple(int(s) for s in shape))


def _scatter_update_forward(xp, a, u, idx_arr, reduction):
    out = a.copy()
    idx = _index_tuple(xp, idx_arr)
    if reduction is None:
        out[idx] = u
    elif reduction == "add":
        xp.add.at(out, idx, u)
    elif reduction == "max":
        xp.maximum.at(out, idx, u)
    elif reduction == "min":
        xp.minimum.at(out, idx, u)
    elif reduction == "mul":
        xp.multiply.at(out, idx, u)
    else:
        raise ValueError(f"scatter_update: unsupported reduction {reduction!r}")
    return out


def _scatter_update_grad(xp, g, y, a, u, idx_arr, reduction):
    idx = _index_tuple(xp, idx_arr)
    if reduction == "add":
        return g, g[idx].copy(), None
    if reduction is None:
        ga = g.copy()
        ga[idx] = 0
        return ga, g[idx].copy(), None
    if reduction in ("max", "min"):  # the gradient goes to whichever value won
        won_a = (a == y)
        won_u = (u == y[idx])
        return g * won_a, g[idx] * won_u, None
    return None, None, None


def scatter_update(inputs, indices, updates, reduction=None):
    """``keras.ops.scatter_update``: ``inputs`` with ``updates`` written (or reduced) at ``indices``."""
    a = _tensor(inputs)
    u = _tensor(updates)
    u = u if u.dtype == a.dtype else cast(u, a.dtype)
    return _run(_scatter_update_forward, _scatter_update_grad, a, u, _tensor(indices), reduction=reduction)


def unstack(x, num=None, axis=0):
    """``keras.ops.unstack``: the slices of ``x`` along ``axis``, as a list."""
    x = _tensor(x)
    axis = axis % x.ndim
    lead = (_py_slice(None),) * axis
    return [getitem(x, (*lead, i)) for i in range(x.shape[axis])]


def in_top_k(targets, predictions, k):
    """``keras.ops.in_top_k``: whether each target's prediction is among the ``k`` largest (ties count)."""
    p = _tensor(predictions).data
    t = _tensor(targets).data.astype(np.int64)
    xp = _xp(p)
    kth = -xp.sort(-p, axis=-1)[..., int(k) - 1]
    target_val = xp.take_along_axis(p, t[:, None], axis=-1)[:, 0]
    return _constant(target_val >= kth)


# -- math -----------------------------------------------------------------------------------------
def erfc(x):
    """``keras.ops.erfc``: ``1 - erf(x)`` (differentiable)."""
    return sub(1.0, erf(_as_float(_tensor(x))))


def _erfinv_array(xp, y):
    """erfinv by Giles' approximation, polished with two Newton steps on ``erf``."""
    w = -xp.log((1.0 - y) * (1.0 + y))
    small = w < 5.0
    ws, wl = w - 2.5, xp.sqrt(xp.where(small, 5.0, w)) - 3.0
    ps = 2.81022636e-08
    for c in (3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087, -0.00125372503, -0.00417768164,
              0.246640727, 1.50140941):
        ps = c + ps * ws
    pl = -0.000200214257
    for c in (0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047,
              1.00167406, 2.83297682):
        pl = c + pl * wl
    x = xp.where(small, ps, pl) * y
    x64 = x.astype(np.float64)
    y64 = y.astype(np.float64)
    finite = xp.isfinite(x64)
    for _ in range(2):
        err = _erf_array(xp.where(finite, x64, 0.0)) - y64
        x64 = xp.where(finite, x64 - err / (2.0 / math.sqrt(math.pi) * xp.exp(-x64 * x64)), x64)
    x64 = xp.where(y64 == 1, xp.inf, xp.where(y64 == -1, -xp.inf, x64))
    return x64.astype(y.dtype)


def erfinv(x):
    """``keras.ops.erfinv``: the inverse of ``erf`` (differentiable: ``sqrt(pi)/2 * exp(y**2)``)."""
    x = _as_float(_tensor(x))
    return _run(lambda xp, a: _erfinv_array(xp, a),
                lambda xp, g, y, a: (g * (math.sqrt(math.pi) / 2) * xp.exp(y * y),), x)


def _logdet_grad(xp, g, y, a):
    return (g[..., None, None] * xp.linalg.inv(a).swapaxes(-1, -2),)


def logdet(x):
    """``keras.ops.logdet``: ``log(det(x))`` (NaN where the determinant is negative), differentiable."""
    a = _as_float(_tensor(x))

    def forward(xp, m):
        sign, logabs = xp.linalg.slogdet(m)
        return xp.where(sign > 0, logabs, xp.where(sign == 0, -xp.inf, xp.nan)).astype(m.dtype)

    return _run(forward, _logdet_grad, a)


def extract_sequences(x, sequence_length, sequence_stride):
    """``keras.ops.extract_sequences``: frames of ``sequence_length`` every ``sequence_stride`` along the
    last axis, ``(..., num_frames, sequence_length)`` (a differentiable gather)."""
    x = _tensor(x)
    n = x.shape[-1]
    frames = 1 + (n - int(sequence_length)) // int(sequence_stride)
    idx = np.arange(frames)[:, None] * int(sequence_stride) + np.arange(int(sequence_length))[None, :]
    return nt.take(x, idx, axis=-1)


def cdist(x, y):
    """``keras.ops.cdist``: Euclidean distances between the rows of ``x`` and ``y`` (batched)."""
    a, b = (_tensor(v) for v in _promote(_tensor(x), _tensor(y)))
    a, b = _as_float(a), _as_float(b)
    diff = sub(reshape(a, a.shape[:-1] + (1, a.shape[-1])), reshape(b, b.shape[:-2] + (1,) + b.shape[-2:]))
    return sqrt(_sum(mul(diff, diff), -1))


# -- rearrange ------------------------------------------------------------------------------------
def _groups(axes):
    return [re.findall(r"\w+", a) if a.startswith("(") else [a] for a in axes]


def rearrange(tensor, pattern, **axes_lengths):
    """``keras.ops.rearrange``: einops-style transposes, merges ``(h w)`` and splits (``h1=2``)."""
    x = _tensor(tensor)
    lhs, rhs = re.split(r"\s*->\s*", pattern)
    in_axes, out_axes = re.findall(r"\w+|\(.*?\)", lhs), re.findall(r"\w+|\(.*?\)", rhs)
    lengths = dict(axes_lengths)
    sizes: dict[str, int] = {}
    for group, dim in zip(_groups(in_axes), x.shape):
        known = [a for a in group if a in lengths]
        unknown = [a for a in group if a not in lengths]
        if unknown:
            lengths[unknown[0]] = dim // int(np.prod([lengths[a] for a in known])) if known else dim
        for a in group:
            sizes[a] = lengths[a]
    flat_in = [a for g in _groups(in_axes) for a in g]
    decomposed = tuple(sizes[a] for a in flat_in)
    if decomposed != x.shape:
        x = reshape(x, decomposed)
    flat_out = [a for g in _groups(out_axes) for a in g]
    x = transpose(x, tuple(flat_in.index(a) for a in flat_out))
    return reshape(x, tuple(int(np.prod([sizes[a] for a in g])) for g in _groups(out_axes)))

