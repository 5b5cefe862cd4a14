"""Max / average pooling forward and backward in Numba (channels-last: the channel loop vectorises).

Forward runs one output row (n, oh) per task; backward one image per task, so the scatter into dx
never races even when windows overlap. Every window overlaps the input (checked up front), so the
first in-bounds cell seeds the running max and padded cells never win.

Each kernel runs serial until its ``parallel=True`` build is compiled, on disk, or repaid by
``PARALLEL_WORK`` elements pooled in this process (``_jit.SerialOrParallel``): the tasks are
independent, so both builds give the same numbers.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._geometry import check_float, check_out, check_shape, pool_geometry
from ._jit import serial_or_parallel

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]

#: input elements after which a process compiles a pooling kernel's parallel build (memory-bound:
#: two cores gain a little, and the parallel build costs about three times the compile)
PARALLEL_WORK = 1 << 31


@serial_or_parallel(PARALLEL_WORK, cache=True)
def _max_forward(x2, y2, a2, N, H, W, ph, pw, sh, sw, top, left, OH, OW):
    """x2 [N*H*W, C] -> y2, a2 [N*OH*OW, C]; rows index pixels so the channel loop is unit-stride."""
    C = x2.shape[1]
    for task in prange(N * OH):
        n = task // OH
        oh = task - n * OH
        h0 = max(oh * sh - top, 0)
        h1 = min(oh * sh - top + ph, H)
        for ow in range(OW):
            w0 = max(ow * sw - left, 0)
            w1 = min(ow * sw - left + pw, W)
            yr = y2[task * OW + ow]
            ar = a2[task * OW + ow]
            xr = x2[(n * H + h0) * W + w0]
            first = h0 * W + w0
            for c in range(C):
                yr[c] = xr[c]
                ar[c] = first
            for h in range(h0, h1):
                for w in range(w0, w1):
                    if h == h0 and w == w0:
                        continue
                    xr = x2[(n * H + h) * W + w]
                    cell = h * W + w
                    for c in range(C):  # branch-free so it vectorises; strict > keeps the first max
                        v = xr[c]
                        take = v > yr[c]
                        yr[c] = v if take else yr[c]
                        ar[c] = cell if take else ar[c]


@serial_or_parallel(PARALLEL_WORK, cache=True)
def _max_backward(dy2, a2, dx2, N, H, W, OH, OW):
    """dx2 [N*H*W, C] = scatter-add of dy2 [N*OH*OW, C] at a2; one image per task."""
    C = dx2.shape[1]
    for n in prange(N):
        for r in range(n * H * W, (n + 1) * H * W):
            dr = dx2[r]
            for c in range(C):
                dr[c] = 0
        base = n * H * W
        for p in range(n * OH * OW, (n + 1) * OH * OW):
            g = dy2[p]
            a = a2[p]
            for c in range(C):
                dx2[base + a[c], c] += g[c]


@serial_or_parallel(PARALLEL_WORK, cache=True)
def _avg_forward(x2, y2, N, H, W, ph, pw, sh, sw, top, left, OH, OW):
    C = x2.shape[1]
    for task in prange(N * OH):
        n = task // OH
        oh = task - n * OH
        h0 = max(oh * sh - top, 0)
        h1 = min(oh * sh - top + ph, H)
        for ow in range(OW):
            w0 = max(ow * sw - left, 0)
            w1 = min(ow * sw - left + pw, W)
            yr = y2[task * OW + ow]
            for c in range(C):
                yr[c] = 0
            for h in range(h0, h1):
                for w in range(w0, w1):
                    xr = x2[(n * H + h) * W + w]
                    for c in range(C):
                        yr[c] += xr[c]
            inv = yr.dtype.type(1.0 / ((h1 - h0) * (w1 - w0)))
            for c in range(C):
                yr[c] *= inv


@serial_or_parallel(PARALLEL_WORK, cache=True)
def _avg_backward(dy2, dx2, N, H, W, ph, pw, sh, sw, top, left, OH, OW):
    C = dx2.shape[1]
    for n in prange(N):
        for r in range(n * H * W, (n + 1) * H * W):
            dr = dx2[r]
            for c in range(C):
                dr[c] = 0
        for oh in range(OH):
            h0 = max(oh * sh - top, 0)
            h1 = min(oh * sh - top + ph, H)
            for ow in range(OW):
                w0 = max(ow * sw - left, 0)
                w1 = min(ow * sw - left + pw, W)
                g = dy2[(n * OH + oh) * OW + ow]
                inv = g.dtype.type(1.0 / ((h1 - h0) * (w1 - w0)))
                for h in range(h0, h1):
                    for w in range(w0, w1):
                        dr = dx2[(n * H + h) * W + w]
                        for c in range(C):
                            dr[c] += g[c] * inv


def _args(g):
    return (g.N, g.H, g.W, g.ph, g.pw, g.sh, g.sw, g.top, g.left, g.OH, g.OW)


def _rows(a, C):
    """C-contiguous [pixels, C] view (copy only if needed)."""
    return np.ascontiguousarray(a).reshape(-1, C)


def max_pool2d_forward(x, pool, stride, padding, out=None):
    op = "max_pool2d_forward"
    g = pool_geometry(op, x.shape, pool, stride, padding)
    check_float(op, x)
    shape = (g.N, g.OH, g.OW, g.C)
    y = np.empty(shape, x.dtype) if out is None else check_out(op, out, shape, x.dtype)
    argmax = np.empty(shape, np.int64)
    _max_forward(x.size, _rows(x, g.C), y.reshape(-1, g.C), argmax.reshape(-1, g.C), *_args(g))
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape, pool, stride, padding, out=None):
    op = "max_pool2d_backward"
    g = pool_geometry(op, x_shape, pool, stride, padding)
    check_float(op, dy)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C))
    check_shape(op, "argmax", argmax.shape, (g.N, g.OH, g.OW, g.C))
    shape = (g.N, g.H, g.W, g.C)
    dx = np.empty(shape, dy.dtype) if out is None else check_out(op, out, shape, dy.dtype)
    _max_backward(dx.size, _rows(dy, g.C), np.ascontiguousarray(argmax, dtype=np.int64).reshape(-1, g.C),
                  dx.reshape(-1, g.C), g.N, g.H, g.W, g.OH, g.OW)
    return dx


def avg_pool2d_forward(x, pool, stride, padding, out=None):
    op = "avg_pool2d_forward"
    g = pool_geometry(op, x.shape, pool, stride, padding)
    check_float(op, x)
    shape = (g.N, g.OH, g.OW, g.C)
    y = np.empty(shape, x.dtype) if out is None else check_out(op, out, shape, x.dtype)
    _avg_forward(x.size, _rows(x, g.C), y.reshape(-1, g.C), *_args(g))
    return y


def avg_pool2d_backward(dy, x_shape, pool, stride, padding, out=None):
    op = "avg_pool2d_backward"
    g = pool_geometry(op, x_shape, pool, stride, padding)
    check_float(op, dy)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C))
    shape = (g.N, g.H, g.W, g.C)
    dx = np.empty(shape, dy.dtype) if out is None else check_out(op, out, shape, dy.dtype)
    _avg_backward(dx.size, _rows(dy, g.C), dx.reshape(-1, g.C), *_args(g))
    return dx

