"""The ``numpy`` implementations: vectorised NumPy, with every conv pass as one BLAS GEMM.

conv2d: im2col through an ``as_strided`` window view copied into a reused buffer, then one GEMM;
backward_input is the GEMM followed by col2im (one strided add per kernel offset); backward_filter
is one GEMM. Pooling loops over the few window offsets with whole-array strided slices. Batch norm
accumulates its statistics in float64. Contracts: kernels/README.md.
"""
from __future__ import annotations

import sys

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import _composed
from ._geometry import (
    bias_grad_into,
    check_activation,
    check_bias_act,
    check_bn,
    check_float,
    check_out,
    check_shape,
    conv_geometry,
    matmul_shape,
    pool_geometry,
)
from ._workspace import scratch

__all__ = [
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul", "bias_act_backward", "bn_relu_max_pool_forward", "bn_relu_max_pool_backward",
    "conv2d_pool_forward",
]


def _result(op, out, shape, dtype):
    return np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)


# -- conv2d -----------------------------------------------------------------------------------
def _padded(x, g, tag, fill=0.0):
    """``x`` with the conv/pool padding added (a reused buffer), or ``x`` itself when there is none."""
    if not (g.top or g.bottom or g.left or g.right):
        return x
    N, H, W, C = x.shape
    xp = scratch(tag, (N, H + g.top + g.bottom, W + g.left + g.right, C), x.dtype)
    xp[:, :g.top] = fill
    xp[:, g.top + H:] = fill
    xp[:, g.top:g.top + H, :g.left] = fill
    xp[:, g.top:g.top + H, g.left + W:] = fill
    xp[:, g.top:g.top + H, g.left:g.left + W] = x
    return xp


def _im2col(x, g, tag):
    """[N*OH*OW, KH*KW*C] matrix of receptive fields, columns ordered (i, j, c) like w.reshape(-1, F)."""
    if g.KH == g.KW == g.sh == g.sw == 1 and not (g.top or g.bottom or g.left or g.right):
        return x.reshape(-1, g.C)  # 1x1 conv: the input already is the matrix
    xp = _padded(x, g, tag + ":pad")
    s0, s1, s2, s3 = xp.strides
    view = as_strided(xp, (g.N, g.OH, g.OW, g.KH, g.KW, g.C),
                      (s0, s1 * g.sh, s2 * g.sw, s1 * g.dh, s2 * g.dw, s3), writeable=False)
    cols = scratch(tag, (g.N, g.OH, g.OW, g.KH, g.KW, g.C), x.dtype)
    np.copyto(cols, view)
    return cols.reshape(g.N * g.OH * g.OW, g.KH * g.KW * g.C)


def conv2d_forward(x, w, b, stride, padding, dilation, out=None, activation=None):
    op = "conv2d_forward"
    g = conv_geometry(op, x.shape, w.shape, stride, padding, dilation)
    relu = check_activation(op, activation)
    check_float(op, x, w, b)
    if b is not None:
        check_shape(op, "b", b.shape, (g.F,))
    x = np.ascontiguousarray(x)
    y = _result(op, out, (g.N, g.OH, g.OW, g.F), x.dtype)
    cols = _im2col(x, g, "np.conv_fwd.cols")
    w2 = np.ascontiguousarray(w, dtype=x.dtype).reshape(-1, g.F)
    y2 = y.reshape(-1, g.F)
    np.matmul(cols, w2, out=y2)
    if b is not None:
        y2 += b.astype(x.dtype, copy=False)
    if relu:
        np.maximum(y2, 0, out=y2)
    return y


def bias_act_backward(dy, y=None, out=None):
    """(dy_eff, db): dy masked where y <= 0 (relu; dy itself when y is None) and its column sums."""
    op = "bias_act_backward"
    check_float(op, dy, y)
    F = check_bias_act(op, dy, y)
    if y is None:
        eff = dy
        if out is not None:
            eff = check_out(op, out, dy.shape, dy.dtype)
            np.copyto(eff, dy)
    else:
        eff = _result(op, out, dy.shape, dy.dtype)
        np.multiply(dy, y > 0, out=eff)
    return eff, eff.sum(axis=0, dtype=dy.dtype).reshape(F)


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    op = "conv2d_backward_input"
    g = conv_geometry(op, x_shape, w.shape, stride, padding, dilation)
    check_float(op, dy, w)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.F))
    dx = _result(op, out, (g.N, g.H, g.W, g.C), dy.dtype)
    dy2 = np.ascontiguousarray(dy).reshape(-1, g.F)
    w2 = np.ascontiguousarray(w, dtype=dy.dtype).reshape(-1, g.F)
    if g.KH == g.KW == g.sh == g.sw == 1 and not (g.top or g.bottom or g.left or g.right):
        np.matmul(dy2, w2.T, out=dx.reshape(-1, g.C))
        return dx
    dcols = scratch("np.conv_bwd_in.cols", (dy2.shape[0], w2.shape[0]), dy.dtype)
    np.matmul(dy2, w2.T, out=dcols)
    dcols = dcols.reshape(g.N, g.OH, g.OW, g.KH, g.KW, g.C)
    padded = g.top or g.bottom or g.left or g.right
    dxp = scratch("np.conv_bwd_in.pad", (g.N, g.H + g.top + g.bottom, g.W + g.left + g.right, g.C),
                  dy.dtype) if padded else dx
    dxp.fill(0)
    hspan, wspan = g.sh * (g.OH - 1) + 1, g.sw * (g.OW - 1) + 1
    for i in range(g.KH):  # col2im: one strided add per kernel offset
        for j in range(g.KW):
            h0, w0 = i * g.dh, j * g.dw
            dxp[:, h0:h0 + hspan:g.sh, w0:w0 + wspan:g.sw, :] += dcols[:, :, :, i, j, :]
    if padded:
        np.copyto(dx, dxp[:, g.top:g.top + g.H, g.left:g.left + g.W, :])
    return dx


def conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None, bias_out=None):
    op = "conv2d_backward_filter"
    g = conv_geometry(op, x.shape, w_shape, stride, padding, dilation)
    check_float(op, dy, x)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.F))
    dw = _result(op, out, (g.KH, g.KW, g.C, g.F), x.dtype)
    cols = _im2col(np.ascontiguousarray(x), g, "np.conv_bwd_w.cols")
    dy2 = np.ascontiguousarray(dy, dtype=x.dtype).reshape(-1, g.F)
    np.matmul(cols.T, dy2, out=dw.reshape(-1, g.F))
    bias_grad_into(op, dy2, bias_out)
    return dw


# -- pooling ----------------------------------------------------------------------------------
def _offset_view(xp, g, i, j):
    """The cells at window offset (i, j) of every output position: shape [N, OH, OW, C]."""
    return xp[:, i:i + g.sh * (g.OH - 1) + 1:g.sh, j:j + g.sw * (g.OW - 1) + 1:g.sw, :]


def _window_origin(g):
    """(row, col) of each window's top-left cell in input coordinates (may be negative: padding)."""
    return np.arange(g.OH) * g.sh - g.top, np.arange(g.OW) * g.sw - g.left


def max_pool2d_forward(x, pool, stride, padding, out=None):
    op = "max_pool2d_forward"
    g = pool_geometry(op, x.shape, pool, stride, padding)
    check_float(op, x)
    shape = (g.N, g.OH, g.OW, g.C)
    y = _result(op, out, shape, x.dtype)
    # Padding is NaN and the max uses fmax (which skips NaN), so padded cells never win.
    xp = _padded(np.ascontiguousarray(x), g, "np.maxpool.pad", fill=np.nan)
    # gather window cell k of every output into its own contiguous plane: the strided reads happen
    # once, and every later pass runs on long contiguous arrays
    P = g.ph * g.pw
    cells = scratch("np.maxpool.cells", (P,) + shape, x.dtype)
    for k in range(P):
        np.copyto(cells[k], _offset_view(xp, g, k // g.pw, k % g.pw))
    np.copyto(y, cells[0])
    for k in range(1, P):
        np.fmax(y, cells[k], out=y)
    # argmax: the first cell in row-major order equal to the max (walk backwards, last write wins)
    itype = np.int8 if P < 127 else np.int16 if P < 2 ** 15 else np.int64
    cell = scratch("np.maxpool.cell", shape, itype)
    cell.fill(P)
    hit = scratch("np.maxpool.hit", shape, np.bool_)
    step = scratch("np.maxpool.step", shape, itype)
    for k in range(P - 1, -1, -1):  # branch-free cell += (k - cell) * hit: masks are random
        np.equal(cells[k], y, out=hit)
        np.subtract(itype(k), cell, out=step)
        np.multiply(step, hit, out=step)
        cell += step
    r0, c0 = _window_origin(g)
    unmatched = cell == P  # the max is NaN (every in-bounds cell NaN): take the first in-bounds cell
    if unmatched.any():
        first = (np.maximum(r0, 0) - r0)[:, None] * g.pw + (np.maximum(c0, 0) - c0)[None, :]
        np.copyto(cell, np.broadcast_to(first[None, :, :, None], shape), where=unmatched)
    # flat input index = window origin (row * W + col) + offset of the cell inside the window
    offsets = (np.arange(g.ph)[:, None] * g.W + np.arange(g.pw)[None, :]).reshape(-1).astype(np.int64)
    argmax = offsets.take(cell)
    argmax += ((r0 * g.W)[:, None] + c0[None, :])[None, :, :, None]
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape, pool, stride, padding, out=None):
    op = "max_pool2d_backward"
    g = pool_geometry(op, x_shape, pool, stride, padding)
    check_float(op, dy)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C))
    check_shape(op, "argmax", argmax.shape, (g.N, g.OH, g.OW, g.C))
    dx = _result(op, out, (g.N, g.H, g.W, g.C), dy.dtype)
    padded = g.top or g.bottom or g.left or g.right
    dxp = scratch("np.maxpool_bwd.pad", (g.N, g.H + g.top + g.bottom, g.W + g.left + g.right, g.C),
                  dy.dtype) if padded else dx
    # each winner's cell inside its window: (row - window row) * pw + (col - window col)
    r0, c0 = _window_origin(g)
    # argmax - window origin = row * W + col inside the window; map it back to the cell number
    local = argmax - ((r0 * g.W)[:, None] + c0[None, :])[None, :, :, None]
    lookup = np.full((g.ph - 1) * g.W + g.pw, -1, np.int16 if g.ph * g.pw < 2 ** 15 else np.int64)
    lookup[(np.arange(g.ph)[:, None] * g.W + np.arange(g.pw)[None, :]).reshape(-1)] = np.arange(g.ph * g.pw)
    cell = lookup.take(local)
    # windows that tile the input exactly: every dx cell is written once, no zero fill or adds
    exact = (not padded and g.sh == g.ph and g.sw == g.pw and g.OH * g.ph == g.H and g.OW * g.pw == g.W)
    if not exact:
        dxp.fill(0)
    hit = scratch("np.maxpool_bwd.hit", dy.shape, np.bool_)
    part = scratch("np.maxpool_bwd.part", dy.shape, dy.dtype)
    for k in range(g.ph * g.pw):
        np.equal(cell, k, out=hit)
        view = _offset_view(dxp, g, k // g.pw, k % g.pw)
        if exact:
            np.multiply(dy, hit, out=view)
        else:
            np.multiply(dy, hit, out=part)
            view += part
    if padded:
        np.copyto(dx, dxp[:, g.top:g.top + g.H, g.left:g.left + g.W, :])
    return dx


def _inv_counts(g, dtype):
    """1 / (number of in-bounds cells) of every window, shape [OH, OW, 1]."""
    r0, c0 = _window_origin(g)
    rows = np.minimum(r0 + g.ph, g.H) - np.maximum(r0, 0)
    cols = np.minimum(c0 + g.pw, g.W) - np.maximum(c0, 0)
    return (1.0 / (rows[:, None] * cols[None, :])).astype(dtype)[:, :, None]


def avg_pool2d_forward(x, pool, stride, padding, out=None):
    op = "avg_pool2d_forward"
    g = pool_geometry(op, x.shape, pool, stride, padding)
    check_float(op, x)
    y = _result(op, out, (g.N, g.OH, g.OW, g.C), x.dtype)
    xp = _padded(np.ascontiguousarray(x), g, "np.avgpool.pad")
    np.copyto(y, _offset_view(xp, g, 0, 0))
    for i in range(g.ph):
        for j in range(g.pw):
            if i or j:
                y += _offset_view(xp, g, i, j)
    y *= _inv_counts(g, x.dtype)
    return y


def avg_pool2d_backward(dy, x_shape, pool, stride, padding, out=None):
    op = "avg_pool2d_backward"
    g = pool_geometry(op, x_shape, pool, stride, padding)
    check_float(op, dy)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C))
    dx = _result(op, out, (g.N, g.H, g.W, g.C), dy.dtype)
    padded = g.top or g.bottom or g.left or g.right
    dxp = scratch("np.avgpool_bwd.pad", (g.N, g.H + g.top + g.bottom, g.W + g.left + g.right, g.C),
                  dy.dtype) if padded else dx
    dxp.fill(0)
    share = dy * _inv_counts(g, dy.dtype)
    for i in range(g.ph):
        for j in range(g.pw):
            _offset_view(dxp, g, i, j)[...] += share
    if padded:
        np.copyto(dx, dxp[:, g.top:g.top + g.H, g.left:g.left + g.W, :])
    return dx


# -- batch norm -------------------------------------------------------------------------------
_SUM_BLOCK = 256


def _colsum64(a):
    """Per-column sums of a[M, C] in float64: float32 BLAS sums over blocks of 256 rows, blocks in float64."""
    M, C = a.shape
    mb = (M // _SUM_BLOCK) * _SUM_BLOCK
    total = np.zeros(C, np.float64)
    if mb:
        ones = np.ones((1, _SUM_BLOCK), a.dtype)
        total += np.matmul(ones, a[:mb].reshape(-1, _SUM_BLOCK, C)).sum(axis=0, dtype=np.float64)[0]
    if mb < M:
        total += a[mb:].sum(axis=0, dtype=np.float64)
    return total


class _Wide:
    """Row-wise ops with a per-channel vector on [M, C], run on [M/R, R*C] views (long inner loops).

    NumPy broadcasting a [C] vector over [M, C] loops C elements at a time; tiling the vector R
    times and viewing R rows as one makes each inner loop R*C long.
    """

    def __init__(self, M: int, C: int):
        self.R = max(1, min(M, 2048 // max(C, 1)))
        self.mw = (M // self.R) * self.R

    def split(self, a):
        return a[:self.mw].reshape(-1, self.R * a.shape[1]), a[self.mw:]

    def vec(self, v, dtype):
        v = np.asarray(v).astype(dtype)
        return np.tile(v, self.R), v

    def apply(self, ufunc, a, v, out):
        """out = ufunc(a, v) with v broadcast along the rows of a."""
        (aw, at), (vw, vt), (ow, ot) = self.split(a), v, self.split(out)
        ufunc(aw, vw, out=ow)
        if at.size:
            ufunc(at, vt, out=ot)


def batch_norm_forward(x, gamma, beta, eps, out=None, activation=None):
    op = "batch_norm_forward"
    relu = check_activation(op, activation)
    M, C = check_bn(op, x, gamma=gamma, beta=beta)
    check_float(op, x, gamma, beta)
    x = np.ascontiguousarray(x)
    y = _result(op, out, x.shape, x.dtype)
    wide = _Wide(M, C)
    mean = _colsum64(x) / M
    wide.apply(np.subtract, x, wide.vec(mean, x.dtype), y)  # y holds x - mean until the end
    sq = scratch("np.bn_fwd.sq", x.shape, x.dtype)
    np.multiply(y, y, out=sq)
    var = _colsum64(sq) / M
    inv_std = 1.0 / np.sqrt(var + eps)
    wide.apply(np.multiply, y, wide.vec(np.asarray(gamma, np.float64) * inv_std, x.dtype), y)
    wide.apply(np.add, y, wide.vec(beta, x.dtype), y)
    if relu:
        np.maximum(y, 0, out=y)
    return y, mean.astype(x.dtype), inv_std.astype(x.dtype)


def batch_norm_inference(x, gamma, beta, mean, var, eps, out=None, activation=None):
    op = "batch_norm_inference"
    relu = check_activation(op, activation)
    M, C = check_bn(op, x, gamma=gamma, beta=beta, mean=mean, var=var)
    check_float(op, x, gamma, beta, mean, var)
    x = np.ascontiguousarray(x)
    y = _result(op, out, x.shape, x.dtype)
    wide = _Wide(M, C)
    scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
    wide.apply(np.subtract, x, wide.vec(mean, x.dtype), y)
    wide.apply(np.multiply, y, wide.vec(scale, x.dtype), y)
    wide.apply(np.add, y, wide.vec(beta, x.dtype), y)
    if relu:
        np.maximum(y, 0, out=y)
    return y


def batch_norm_backward(dy, x, gamma, mean, inv_std, out=None, y=None):
    op = "batch_norm_backward"
    M, C = check_bn(op, x, gamma=gamma, mean=mean, inv_std=inv_std)
    check_float(op, dy, x, gamma, mean, inv_std)
    check_shape(op, "dy", dy.shape, x.shape)
    x = np.ascontiguousarray(x)
    dy = np.ascontiguousarray(dy, dtype=x.dtype)
    if y is not None:  # the forward ended with ReLU: its gradient first
        check_shape(op, "y", y.shape, x.shape)
        dy = dy * (y > 0)
    dx = _result(op, out, x.shape, x.dtype)
    wide = _Wide(M, C)
    inv = np.asarray(inv_std, np.float64)
    xhat = scratch("np.bn_bwd.xhat", x.shape, x.dtype)
    wide.apply(np.subtract, x, wide.vec(mean, x.dtype), xhat)
    wide.apply(np.multiply, xhat, wide.vec(inv, x.dtype), xhat)
    dbeta = _colsum64(dy)
    np.multiply(dy, xhat, out=dx)  # dx is scratch for dy * xhat here
    dgamma = _colsum64(dx)
    k = np.asarray(gamma, np.float64) * inv
    # dx = k * (dy - dbeta/M - xhat * dgamma/M)
    wide.apply(np.multiply, dy, wide.vec(k, x.dtype), dx)
    wide.apply(np.subtract, dx, wide.vec(k * dbeta / M, x.dtype), dx)
    wide.apply(np.multiply, xhat, wide.vec(k * dgamma / M, x.dtype), xhat)
    dx -= xhat
    return dx, dgamma.astype(x.dtype), dbeta.astype(x.dtype)


# -- matmul -----------------------------------------------------------------------------------
def matmul(a, b, out=None):
    op = "matmul"
    shape = matmul_shape(op, a.shape, b.shape)
    check_float(op, a, b)
    c = _result(op, out, shape, a.dtype)
    return np.matmul(a, b.astype(a.dtype, copy=False), out=c)


def bn_relu_max_pool_forward(x, gamma, beta, eps, pool, out=None):
    """Batch norm -> ReLU -> max-pool (stride = pool, no padding), composed from this module's kernels."""
    return _composed.bn_relu_max_pool_forward(_THIS, x, gamma, beta, eps, pool, out)


def bn_relu_max_pool_backward(dy, y, argmax, x, gamma, mean, inv_std, pool, out=None):
    return _composed.bn_relu_max_pool_backward(_THIS, dy, y, argmax, x, gamma, mean, inv_std, pool, out)


def conv2d_pool_forward(x, w, b, stride, padding, dilation, pool, out=None, activation=None, scale=None):
    """Inference conv (+ bias, activation) -> max-pool (stride = pool, no padding), composed from this
    module's kernels."""
    return _composed.conv2d_pool_forward(_THIS, x, w, b, stride, padding, dilation, pool, out, activation, scale)


_THIS = sys.modules[__name__]
