"""Depthwise 2-D convolution in Numba: forward, backward-input, backward-filter (contract:
``kernels/depthwise.py``; x[N,H,W,C], w[KH,KW,C,M], y[N,OH,OW,C*M]).

Every kernel works on the unpadded input (out-of-range taps are skipped) and runs its innermost
loop over the contiguous channel axis (``C * M`` for M > 1, where output channel ``c*M + k`` reads
input channel c), so it vectorises:

* forward: one task per output row (n, oh), in parallel; each output pixel accumulates its taps.
* backward_input: a gather, one task per input row (n, h): each input pixel sums the output pixels
  whose window covers it (no scatter, so no races and no dependence on the thread count).
* backward_filter: the (n, oh) rows split into ``FILTER_CHUNKS`` fixed chunks, each summing into
  its own partial dw; the partials are added in order, so results do not depend on the thread count.
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from .._geometry import check_float, check_out, check_shape, conv_geometry
from ..depthwise import OPS
from ._jit import njit

__all__ = ["depthwise_conv2d_forward", "depthwise_conv2d_backward_input", "depthwise_conv2d_backward_filter"]

#: fixed number of partial sums in backward_filter (independent of threads: deterministic)
FILTER_CHUNKS = 8

_OPTS = dict(cache=True, error_model="numpy", fastmath=False)


@njit(inline="always", **_OPTS)
def _tap(acc, xr, v, C, M):
    """acc[c*M + m] += xr[c] * v[c*M + m]: one kernel tap of one pixel, input channel c feeding its M
    output channels (forward: v the tap's weights; backward_filter: v the output gradient)."""
    if M == 1:
        for k in range(C):
            acc[k] += xr[k] * v[k]
    else:
        for c in range(C):
            xv = xr[c]
            for m in range(M):
                acc[c * M + m] += xv * v[c * M + m]


@njit(parallel=True, **_OPTS)
def _forward(x, w2, y, M, sh, sw, top, left, dh, dw):
    """y[n, oh, ow, c*M + k] = sum_ij x[n, oh*sh - top + i*dh, ow*sw - left + j*dw, c] * w2[i, j, c*M + k]."""
    N, H, W, C = x.shape
    KH, KW, CM = w2.shape
    OH, OW = y.shape[1], y.shape[2]
    for task in prange(N * OH):
        n = task // OH
        oh = task - n * OH
        for ow in range(OW):
            acc = y[n, oh, ow]
            for k in range(CM):
                acc[k] = 0
            for i in range(KH):
                h = oh * sh - top + i * dh
                if h < 0 or h >= H:
                    continue
                for j in range(KW):
                    c0 = ow * sw - left + j * dw
                    if c0 < 0 or c0 >= W:
                        continue
                    _tap(acc, x[n, h, c0], w2[i, j], C, M)


@njit(parallel=True, **_OPTS)
def _backward_input(dy, w2, dx, M, sh, sw, top, left, dh, dw):
    """dx[n, h, w, c] = sum over taps (i, j) and k of dy[n, oh, ow, c*M + k] * w2[i, j, c*M + k],
    (oh, ow) the output pixel whose tap (i, j) lands on (h, w)."""
    N, H, W, C = dx.shape
    KH, KW, CM = w2.shape
    OH, OW = dy.shape[1], dy.shape[2]
    for task in prange(N * H):
        n = task // H
        h = task - n * H
        for c1 in range(W):
            acc = dx[n, h, c1]
            for c in range(C):
                acc[c] = 0
            for i in range(KH):
                t = h + top - i * dh
                if t < 0 or t % sh != 0:
                    continue
                oh = t // sh
                if oh >= OH:
                    continue
                for j in range(KW):
                    u = c1 + left - j * dw
                    if u < 0 or u % sw != 0:
                        continue
                    ow = u // sw
                    if ow >= OW:
                        continue
                    gr = dy[n, oh, ow]
                    wr = w2[i, j]
                    if M == 1:
                        for c in range(C):
                            acc[c] += gr[c] * wr[c]
                    else:
                        for c in range(C):
                            s = acc[c]
                            for m in range(M):
                                s += gr[c * M + m] * wr[c * M + m]
                            acc[c] = s


@njit(parallel=True, **_OPTS)
def _backward_filter(dy, x, part, M, sh, sw, top, left, dh, dw):
    """part[chunk, i, j, c*M + k] = sum over the chunk's (n, oh) rows and ow of x[...] * dy[...]."""
    N, H, W, C = x.shape
    nchunks, KH, KW, CM = part.shape
    OH, OW = dy.shape[1], dy.shape[2]
    rows = N * OH
    for chunk in prange(nchunks):
        p = part[chunk]
        for i in range(KH):
            for j in range(KW):
                for k in range(CM):
                    p[i, j, k] = 0
        r0 = chunk * rows // nchunks
        r1 = (chunk + 1) * rows // nchunks
        for r in range(r0, r1):
            n = r // OH
            oh = r - n * OH
            for i in range(KH):
                h = oh * sh - top + i * dh
                if h < 0 or h >= H:
                    continue
                for ow in range(OW):
                    gr = dy[n, oh, ow]
                    for j in range(KW):
                        c0 = ow * sw - left + j * dw
                        if c0 < 0 or c0 >= W:
                            continue
                        _tap(p[i, j], x[n, h, c0], gr, C, M)


@njit(**_OPTS)
def _sum_chunks(part, out):
    """out = part[0] + part[1] + ... in order (deterministic)."""
    flat = out.reshape(-1)
    p2 = part.reshape(part.shape[0], -1)
    for k in range(flat.size):
        flat[k] = p2[0, k]
    for chunk in range(1, p2.shape[0]):
        for k in range(flat.size):
            flat[k] += p2[chunk, k]


def _result(op, out, shape, dtype):
    return np.empty(shape, dtype) if out is None else check_out(op, out, shape, dtype)


def _w2(w, g, dtype):
    return np.ascontiguousarray(w, dtype=dtype).reshape(g.KH, g.KW, g.C * g.F)


def depthwise_conv2d_forward(x, w, stride, padding, dilation, out=None):
    op = OPS[0]
    g = conv_geometry(op, x.shape, w.shape, stride, padding, dilation)
    check_float(op, x, w)
    dtype = x.dtype
    y = _result(op, out, (g.N, g.OH, g.OW, g.C * g.F), dtype)
    with numba.parallel_chunksize(1):  # dynamic scheduling: a busy core does not hold the others back
        _forward(np.ascontiguousarray(x), _w2(w, g, dtype), y, g.F, g.sh, g.sw, g.top, g.left, g.dh, g.dw)
    return y


def depthwise_conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    op = OPS[1]
    g = conv_geometry(op, x_shape, w.shape, stride, padding, dilation)
    check_float(op, dy, w)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C * g.F))
    dtype = dy.dtype
    dx = _result(op, out, (g.N, g.H, g.W, g.C), dtype)
    with numba.parallel_chunksize(1):
        _backward_input(np.ascontiguousarray(dy), _w2(w, g, dtype), dx, g.F, g.sh, g.sw, g.top, g.left, g.dh,
                        g.dw)
    return dx


def depthwise_conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None):
    op = OPS[2]
    g = conv_geometry(op, x.shape, w_shape, stride, padding, dilation)
    check_float(op, dy, x)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C * g.F))
    dtype = dy.dtype
    dw = _result(op, out, (g.KH, g.KW, g.C, g.F), dtype)
    nchunks = max(1, min(FILTER_CHUNKS, g.N * g.OH))
    part = np.empty((nchunks, g.KH, g.KW, g.C * g.F), dtype)
    with numba.parallel_chunksize(1):
        _backward_filter(np.ascontiguousarray(dy), np.ascontiguousarray(x, dtype=dtype), part, g.F, g.sh, g.sw,
                         g.top, g.left, g.dh, g.dw)
    _sum_chunks(part, dw)
    return dw
