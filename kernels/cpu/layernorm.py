"""Fused layer norm (and RMS norm) over the last axis in Numba: one pass-pair per row, rows in parallel.

Contract (and the oracle): ``kernels/reference_fused.py``. Forward writes ``y``, the row means
(zeros for RMS) and ``inv = 1 / sqrt(var + eps)``; backward computes ``dx`` per row and the
``gamma``/``beta`` gradients as per-chunk partial sums (rows split into a fixed number of chunks,
one per parallel task, summed afterwards), so the result does not depend on the thread count.
Sums accumulate in the inputs' dtype, as PyTorch does on the CPU.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._geometry import check_float, check_out
from ._jit import njit
from .matmul import one_thread

__all__ = ["layer_norm_forward", "layer_norm_backward", "CHUNKS"]

#: row chunks of the backward pass (fixed: the gamma/beta sums are the same on any thread count)
CHUNKS = 32
#: below this many elements a call runs on the calling thread only (waking the workers costs more)
SERIAL_SIZE = 1 << 16
_FM = {"contract", "arcp", "nsz", "reassoc"}


@njit(parallel=True, cache=True, fastmath=_FM)
def _forward(x, gamma, beta, y, mean, inv, eps, zero, one, rc, has_gamma, has_beta, rms):
    M, C = x.shape
    for r in prange(M):
        mu = zero
        if not rms:
            for c in range(C):
                mu += x[r, c]
            mu *= rc
        var = zero
        for c in range(C):
            t = x[r, c] - mu
            var += t * t
        iv = one / np.sqrt(var * rc + eps)
        mean[r] = mu
        inv[r] = iv
        for c in range(C):
            t = (x[r, c] - mu) * iv
            if has_gamma:
                t *= gamma[c]
            if has_beta:
                t += beta[c]
            y[r, c] = t


@njit(parallel=True, cache=True, fastmath=_FM)
def _backward(dy, x, gamma, mean, inv, dx, pg, pb, zero, rc, has_gamma, rms, chunks):
    M, C = x.shape
    for ch in prange(chunks):
        for c in range(C):
            pg[ch, c] = zero
            pb[ch, c] = zero
        for r in range(ch * M // chunks, (ch + 1) * M // chunks):
            mu = mean[r]
            iv = inv[r]
            sg = zero
            sgx = zero
            for c in range(C):
                xh = (x[r, c] - mu) * iv
                d = dy[r, c]
                pg[ch, c] += d * xh
                pb[ch, c] += d
                g = d * gamma[c] if has_gamma else d
                sg += g
                sgx += g * xh
            sg *= rc
            sgx *= rc
            for c in range(C):
                xh = (x[r, c] - mu) * iv
                g = dy[r, c] * gamma[c] if has_gamma else dy[r, c]
                if rms:
                    dx[r, c] = iv * (g - xh * sgx)
                else:
                    dx[r, c] = iv * (g - sg - xh * sgx)


def _vec(a, dtype, C):
    if a is None:
        return np.zeros(1, dtype), False
    return np.ascontiguousarray(a, dtype=dtype).reshape(C), True


def layer_norm_forward(x, gamma, beta, eps, rms=False, out=None):
    op = "layer_norm_forward"
    check_float(op, x, gamma, beta)
    if x.ndim != 2:
        raise ValueError(f"{op}: expected x (M, C), got shape {x.shape}")
    dtype = x.dtype
    M, C = x.shape
    x = np.ascontiguousarray(x)
    g, has_g = _vec(gamma, dtype, C)
    b, has_b = _vec(beta, dtype, C)
    y = np.empty((M, C), dtype) if out is None else check_out(op, out, (M, C), dtype)
    mean, inv = np.empty(M, dtype), np.empty(M, dtype)
    t = dtype.type
    with one_thread(M * C < SERIAL_SIZE):
        _forward(x, g, b, y, mean, inv, t(eps), t(0), t(1), t(1.0 / max(C, 1)), has_g, has_b, bool(rms))
    return y, mean, inv


def layer_norm_backward(dy, x, gamma, mean, inv, rms=False, out=None):
    op = "layer_norm_backward"
    check_float(op, dy, x, gamma)
    dtype = x.dtype
    M, C = x.shape
    dy, x = np.ascontiguousarray(dy, dtype=dtype), np.ascontiguousarray(x)
    mean, inv = np.ascontiguousarray(mean, dtype=dtype), np.ascontiguousarray(inv, dtype=dtype)
    g, has_g = _vec(gamma, dtype, C)
    dx = np.empty((M, C), dtype) if out is None else check_out(op, out, (M, C), dtype)
    chunks = max(1, min(CHUNKS, M))
    pg, pb = np.empty((chunks, C), dtype), np.empty((chunks, C), dtype)
    with one_thread(M * C < SERIAL_SIZE):
        _backward(dy, x, g, mean, inv, dx, pg, pb, dtype.type(0), dtype.type(1.0 / max(C, 1)), has_g, bool(rms),
                  chunks)
    return dx, pg.sum(axis=0), pb.sum(axis=0)
