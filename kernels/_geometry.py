"""Argument checks and output shapes shared by the fast CPU kernels (``vectorized`` and ``cpu``).

One place computes conv/pool output sizes and validates ``out=``, so the NumPy and Numba paths
cannot disagree about geometry. (``reference`` deliberately has its own, plainer copy.)
Errors name the op and the expected and actual shapes.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np

__all__ = [
    "ConvGeom", "PoolGeom", "conv_geometry", "pool_geometry", "check_out", "check_float",
    "check_shape", "check_bn", "matmul_shape", "ACTIVATIONS", "check_activation", "check_bias_act",
    "check_bias_out", "bias_grad_into", "check_bn_pool", "check_conv_pool", "check_float_dtypes",
]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class ConvGeom(NamedTuple):
    N: int
    H: int
    W: int
    C: int
    KH: int
    KW: int
    F: int
    OH: int
    OW: int
    sh: int
    sw: int
    top: int
    bottom: int
    left: int
    right: int
    dh: int
    dw: int


class PoolGeom(NamedTuple):
    N: int
    H: int
    W: int
    C: int
    ph: int
    pw: int
    OH: int
    OW: int
    sh: int
    sw: int
    top: int
    bottom: int
    left: int
    right: int


def _pair(op: str, name: str, value, minimum: int) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{op}: {name} must be a pair of ints, got {value!r}") from None
    if a < minimum or b < minimum:
        raise ValueError(f"{op}: {name} must be >= {minimum}, got {value!r}")
    return a, b


def _padding(op: str, padding) -> tuple[int, int, int, int]:
    try:
        (top, bottom), (left, right) = padding
    except (TypeError, ValueError):
        raise ValueError(f"{op}: padding must be ((top, bottom), (left, right)), got {padding!r}") from None
    vals = tuple(int(v) for v in (top, bottom, left, right))
    if min(vals) < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return vals


def check_float(op: str, *arrays) -> None:
    """Raise TypeError unless every array (None skipped) is float32 or float64."""
    check_float_dtypes(op, *(a.dtype for a in arrays if a is not None))


def check_float_dtypes(op: str, *dtypes) -> None:
    """``check_float`` on the dtypes themselves (checks remembered per shape and dtype)."""
    for dtype in dtypes:
        if dtype not in _FLOATS:
            raise TypeError(f"{op}: expected float32 or float64 arrays, got dtype {dtype}")


#: activations a conv2d_forward fuses after its bias (None: none)
ACTIVATIONS = (None, "relu")


def check_activation(op: str, activation) -> bool:
    """True for 'relu', False for None; ValueError naming the op for anything else."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"{op}: activation must be one of {ACTIVATIONS}, got {activation!r}")
    return activation == "relu"


def check_bias_act(op: str, dy, y) -> int:
    """Validate bias_act_backward's arguments (dy[M, F], y of dy's shape or None); returns F."""
    if dy.ndim != 2:
        raise ValueError(f"{op}: dy must be 2-D [M, F], got shape {tuple(dy.shape)}")
    if y is not None:
        check_shape(op, "y", y.shape, dy.shape)
    return int(dy.shape[1])


def check_bias_out(op: str, bias_out, F: int, dtype) -> None:
    """``bias_out`` of conv2d_backward_filter: None, or a C-contiguous [F] array of dy's dtype."""
    if bias_out is not None:
        check_out(op, bias_out, (F,), dtype)


def bias_grad_into(op: str, dy, bias_out):
    """bias_out[:] = dy summed over every axis but the last (NumPy or CuPy arrays); None passes through."""
    if bias_out is not None:
        F = dy.shape[-1]
        check_bias_out(op, bias_out, F, dy.dtype)
        bias_out[...] = dy.reshape(-1, F).sum(axis=0)
    return bias_out


def check_shape(op: str, name: str, actual, expected) -> None:
    if tuple(actual) != tuple(expected):
        raise ValueError(f"{op}: {name} must have shape {tuple(expected)}, got {tuple(actual)}")


def conv_geometry(op: str, x_shape, w_shape, stride, padding, dilation) -> ConvGeom:
    """Validate conv arguments and return every size the kernels need (remembered per argument
    set: a model calls each layer with the same geometry every batch)."""
    try:
        return _conv_geometry_cached(op, tuple(x_shape), tuple(w_shape), stride, padding, dilation)
    except TypeError:  # unhashable geometry (lists): validate uncached
        return _conv_geometry(op, x_shape, w_shape, stride, padding, dilation)


def _conv_geometry(op: str, x_shape, w_shape, stride, padding, dilation) -> ConvGeom:
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise ValueError(f"{op}: expected x of rank 4 (N,H,W,C) and w of rank 4 (KH,KW,C,F), "
                         f"got shapes {tuple(x_shape)} and {tuple(w_shape)}")
    N, H, W, C = (int(v) for v in x_shape)
    KH, KW, Cw, F = (int(v) for v in w_shape)
    if C != Cw:
        raise ValueError(f"{op}: x has {C} channels but w expects {Cw} (shapes {tuple(x_shape)} and {tuple(w_shape)})")
    sh, sw = _pair(op, "stride", stride, 1)
    dh, dw = _pair(op, "dilation", dilation, 1)
    top, bottom, left, right = _padding(op, padding)
    OH = (H + top + bottom - dh * (KH - 1) - 1) // sh + 1
    OW = (W + left + right - dw * (KW - 1) - 1) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: kernel {(KH, KW)} with dilation {(dh, dw)} does not fit the padded input "
                         f"{(H + top + bottom, W + left + right)} (x shape {tuple(x_shape)})")
    return ConvGeom(N, H, W, C, KH, KW, F, OH, OW, sh, sw, top, bottom, left, right, dh, dw)


_conv_geometry_cached = functools.lru_cache(maxsize=1024)(_conv_geometry)


def pool_geometry(op: str, x_shape, pool, stride, padding) -> PoolGeom:
    """Validate pooling arguments; every window must overlap the input (padding < pool per side)."""
    if len(x_shape) != 4:
        raise ValueError(f"{op}: expected x of rank 4 (N,H,W,C), got shape {tuple(x_shape)}")
    N, H, W, C = (int(v) for v in x_shape)
    ph, pw = _pair(op, "pool", pool, 1)
    sh, sw = _pair(op, "stride", stride, 1)
    top, bottom, left, right = _padding(op, padding)
    if max(top, bottom) >= ph or max(left, right) >= pw:
        raise ValueError(f"{op}: padding {padding!r} must be smaller than the pool {(ph, pw)} on every side "
                         "(a window made only of padding has no value)")
    OH = (H + top + bottom - ph) // sh + 1
    OW = (W + left + right - pw) // sw + 1
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: pool {(ph, pw)} is larger than the padded input "
                         f"{(H + top + bottom, W + left + right)}")
    return PoolGeom(N, H, W, C, ph, pw, OH, OW, sh, sw, top, bottom, left, right)


def check_bn(op: str, x, **vectors) -> tuple[int, int]:
    """``x`` must be [M, C] with M >= 1 and every named vector of shape [C]."""
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{op}: expected x of shape [M, C] with M >= 1, got {tuple(x.shape)}")
    M, C = x.shape
    for name, v in vectors.items():
        if v.shape != (C,):
            raise ValueError(f"{op}: {name} must have shape {(C,)}, got {tuple(v.shape)}")
    return M, C


def check_bn_pool(op: str, x, pool, **arrays) -> tuple[int, int, int, int, int, int]:
    """Arguments of the fused batch norm -> ReLU -> max-pool: x [N,H,W,C] (N*H*W >= 1), pool (ph, pw)
    positive with stride = pool and no padding; vectors named gamma/beta/mean/inv_std of shape [C],
    pooled arrays (dy, y, argmax) of shape [N, H//ph, W//pw, C]. Returns (N, H, W, C, OH, OW)."""
    if x.ndim != 4 or x.shape[0] * x.shape[1] * x.shape[2] < 1:
        raise ValueError(f"{op}: expected x of shape [N, H, W, C] with N*H*W >= 1, got {tuple(x.shape)}")
    ph, pw = _pair(op, "pool", pool, 1)
    N, H, W, C = (int(v) for v in x.shape)
    OH, OW = H // ph, W // pw
    if OH < 1 or OW < 1:
        raise ValueError(f"{op}: pool {(ph, pw)} is larger than the input {(H, W)}")
    for name, a in arrays.items():
        want = (C,) if name in ("gamma", "beta", "mean", "inv_std") else (N, OH, OW, C)
        if tuple(a.shape) != want:
            raise ValueError(f"{op}: {name} must have shape {want}, got {tuple(a.shape)}")
    return N, H, W, C, OH, OW


def check_conv_pool(op: str, g: ConvGeom, pool) -> tuple[int, int]:
    """The pool (ph, pw) of a fused conv -> max-pool (stride = pool, no padding) on the conv output
    of geometry ``g``; ValueError naming the op when a window does not fit that output."""
    ph, pw = _pair(op, "pool", pool, 1)
    if g.OH < ph or g.OW < pw:
        raise ValueError(f"{op}: pool {(ph, pw)} is larger than the conv output {(g.OH, g.OW)}")
    return ph, pw


def matmul_shape(op: str, a_shape, b_shape) -> tuple[int, ...]:
    """Result shape of ``a @ b`` for a[..., M, K], b[..., K, N] with broadcast batch dims."""
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise ValueError(f"{op}: expected a[..., M, K] and b[..., K, N] of rank >= 2, "
                         f"got shapes {tuple(a_shape)} and {tuple(b_shape)}")
    if a_shape[-1] != b_shape[-2]:
        raise ValueError(f"{op}: inner dimensions differ: a {tuple(a_shape)} has K={a_shape[-1]}, "
                         f"b {tuple(b_shape)} has K={b_shape[-2]}")
    try:
        batch = np.broadcast_shapes(tuple(a_shape[:-2]), tuple(b_shape[:-2]))
    except ValueError:
        raise ValueError(
            f"{op}: batch dimensions of a {tuple(a_shape)} and b {tuple(b_shape)} do not broadcast") from None
    return tuple(batch) + (a_shape[-2], b_shape[-1])


def check_out(op: str, out, shape, dtype, name: str = "out"):
    """Validate a caller-provided output (C-contiguous, right shape and dtype) and return it."""
    shape = tuple(int(s) for s in shape)
    dtype = np.dtype(dtype)
    if not isinstance(out, np.ndarray):
        raise TypeError(f"{op}: {name} must be a NumPy array, got {type(out).__name__}")
    if out.shape != shape or out.dtype != dtype or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"{op}: {name} must be a writeable C-contiguous {dtype} array of shape {shape}, got "
                         f"{out.dtype} {tuple(out.shape)} (C-contiguous={out.flags.c_contiguous})")
    return out
