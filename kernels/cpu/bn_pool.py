"""Batch norm -> ReLU -> max-pool (non-overlapping windows, no padding) as one op in Numba.

Forward: the batch statistics in one pass over x, then one pass that normalises each window's
cells, applies ReLU and keeps the maximum and its argmax: the full-size activation is never written.
Backward: the gradient reaches only each window's argmax cell (and only where the pooled output is
positive, ReLU's mask), so the batch-norm sums are gathered from the pooled gradient alone, and one
pass over x writes dx = k3 * (x - mean) + k2 everywhere plus k1 * g at the argmax cells. Against
batch norm, ReLU and max-pool run one after another this skips writing and re-reading the full-size
activation and its gradient (about two thirds of the memory traffic).

Partial sums live in fixed chunks added in order: results do not depend on the thread count. Each
kernel here runs serial until its ``parallel=True`` build is compiled, on disk, or repaid by
``PARALLEL_WORK`` elements in this process (``_jit.SerialOrParallel``; both builds agree).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._geometry import check_bn_pool, check_float, check_out
from .._workspace import scratch
from ._jit import serial_or_parallel
from .batchnorm import CHUNKS, _coefficients, _stats, _vec

__all__ = ["bn_relu_max_pool_forward", "bn_relu_max_pool_backward"]

#: elements of x after which a process compiles a kernel's parallel build (see the module docstring)
PARALLEL_WORK = 1 << 31


@serial_or_parallel(PARALLEL_WORK, cache=True)
def _pool_forward(x4, mean_x, scale_x, beta_x, y4, a4, ph, pw):
    """y4[n, oh, ow] = max over the window of relu((x - mean_x) * scale_x + beta_x); a4: the argmax
    (h * W + w, the first maximum in row-major window order)."""
    N, H, W, C = x4.shape
    OH, OW = y4.shape[1], y4.shape[2]
    zero = y4.dtype.type(0)
    for task in prange(N * OH):
        n = task // OH
        oh = task - n * OH
        h0 = oh * ph
        for ow in range(OW):
            w0 = ow * pw
            yr = y4[n, oh, ow]
            ar = a4[n, oh, ow]
            xr = x4[n, h0, w0]
            first = h0 * W + w0
            for c in range(C):
                yr[c] = max((xr[c] - mean_x[c]) * scale_x[c] + beta_x[c], zero)
                ar[c] = first
            for h in range(h0, h0 + ph):
                for w in range(w0, w0 + pw):
                    if h == h0 and w == w0:
                        continue
                    xr = x4[n, h, w]
                    cell = h * W + w
                    for c in range(C):  # branch-free: strict > keeps the first maximum
                        v = max((xr[c] - mean_x[c]) * scale_x[c] + beta_x[c], zero)
                        take = v > yr[c]
                        yr[c] = v if take else yr[c]
                        ar[c] = cell if take else ar[c]


@serial_or_parallel(PARALLEL_WORK, cache=True)
def _gather_sums(dy4, y4, a4, x2, mean, HW, psum, pdot):
    """Per chunk of pooled rows: sum of g and of g * (x - mean) at the argmax cells, with g the pooled
    gradient where the pooled output is positive (float64 partial sums)."""
    N, OH, OW, C = dy4.shape
    nch = psum.shape[0]
    rows = N * OH
    zero = dy4.dtype.type(0)
    one = dy4.dtype.type(1)
    for ch in prange(nch):
        s = psum[ch]
        d = pdot[ch]
        s[:] = 0.0
        d[:] = 0.0
        for r in range(ch * rows // nch, (ch + 1) * rows // nch):
            n = r // OH
            oh = r - n * OH
            for ow in range(OW):
                g = dy4[n, oh, ow]
                yv = y4[n, oh, ow]
                a = a4[n, oh, ow]
                for c in range(C):
                    gc = g[c] * (one if yv[c] > zero else zero)
                    s[c] += gc
                    d[c] += gc * (np.float64(x2[n * HW + a[c], c]) - mean[c])


@serial_or_parallel(PARALLEL_WORK, cache=True)
def _write_dx(dy4, y4, a4, x2, mean_x, k1, k2, k3, dx2, H, W, ph):
    """dx = k3 * (x - mean) + k2 everywhere, plus k1 * g at each window's argmax cell. One band of
    ``ph`` input rows (one row of windows) per task, so the additions never race; the rows below the
    last band, if any, are a task of their own."""
    N, OH, OW, C = dy4.shape
    zero = dy4.dtype.type(0)
    one = dy4.dtype.type(1)
    bands = OH + (1 if H > OH * ph else 0)
    for task in prange(N * bands):
        n = task // bands
        b = task - n * bands
        h0 = b * ph
        h1 = h0 + ph if b < OH else H
        for r in range((n * H + h0) * W, (n * H + h1) * W):
            xr = x2[r]
            out = dx2[r]
            for c in range(C):
                out[c] = k3[c] * (xr[c] - mean_x[c]) + k2[c]
        if b < OH:
            img = n * H * W
            for ow in range(OW):
                g = dy4[n, b, ow]
                yv = y4[n, b, ow]
                a = a4[n, b, ow]
                for c in range(C):
                    dx2[img + a[c], c] += k1[c] * g[c] * (one if yv[c] > zero else zero)


def bn_relu_max_pool_forward(x, gamma, beta, eps, pool, out=None):
    op = "bn_relu_max_pool_forward"
    N, H, W, C, OH, OW = check_bn_pool(op, x, pool, gamma=gamma, beta=beta)
    check_float(op, x, gamma, beta)
    dt = x.dtype
    shape = (N, OH, OW, C)
    y = np.empty(shape, dt) if out is None else check_out(op, out, shape, dt)
    argmax = np.empty(shape, np.int64)
    x4 = np.ascontiguousarray(x)
    M = N * H * W
    nch = min(CHUNKS, M)
    mean, inv_std = np.empty(C, dt), np.empty(C, dt)
    mean_x, scale_x, beta_x = np.empty(C, dt), np.empty(C, dt), np.empty(C, dt)
    _stats(x4.reshape(M, C), _vec(gamma, dt), _vec(beta, dt), float(eps), mean, inv_std,
           scratch("nb.bn.psum", (nch, C), np.float64), scratch("nb.bn.psq", (nch, C), np.float64),
           mean_x, scale_x, beta_x)
    _pool_forward(x4.size, x4, mean_x, scale_x, beta_x, y, argmax, int(pool[0]), int(pool[1]))
    return y, argmax, mean, inv_std


def bn_relu_max_pool_backward(dy, y, argmax, x, gamma, mean, inv_std, pool, out=None):
    op = "bn_relu_max_pool_backward"
    N, H, W, C, OH, OW = check_bn_pool(op, x, pool, gamma=gamma, mean=mean, inv_std=inv_std, dy=dy, y=y,
                                       argmax=argmax)
    check_float(op, dy, x, gamma, mean, inv_std)
    dt = x.dtype
    dx = np.empty(x.shape, dt) if out is None else check_out(op, out, x.shape, dt)
    x2 = np.ascontiguousarray(x).reshape(-1, C)
    dy4, y4 = _vec(dy, dt), _vec(y, dt)
    a4 = np.ascontiguousarray(argmax, dtype=np.int64)
    M = N * H * W
    nch = min(CHUNKS, N * OH)
    psum = scratch("nb.bn.psum", (nch, C), np.float64)
    pdot = scratch("nb.bn.psq", (nch, C), np.float64)
    mean_v = _vec(mean, dt)
    _gather_sums(x2.size, dy4, y4, a4, x2, mean_v, H * W, psum, pdot)
    dgamma, dbeta = np.empty(C, dt), np.empty(C, dt)
    k1, k2, k3 = np.empty(C, dt), np.empty(C, dt), np.empty(C, dt)
    _coefficients(psum, pdot, _vec(gamma, dt), _vec(inv_std, dt), M, dgamma, dbeta, k1, k2, k3)
    _write_dx(x2.size, dy4, y4, a4, x2, mean_v, k1, k2, k3, dx.reshape(-1, C), H, W, int(pool[0]))
    return dx, dgamma, dbeta
