"""Batch norm on x[M, C] in Numba: forward in two passes, inference in one, backward in two (the
two reductions in one pass, with the ReLU mask when fused, then dx).

Statistics use float64 accumulators over fixed row chunks (summed in chunk order, so results do
not depend on the thread count). Forward accumulates sum and sum of squares of ``x - x[0]`` in
the same pass: the shift keeps E[x^2] - E[x]^2 from cancelling when |mean| >> std.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._geometry import check_activation, check_bn, check_float, check_out, check_shape
from .._workspace import scratch
from ._jit import njit

__all__ = ["batch_norm_forward", "batch_norm_inference", "batch_norm_backward"]

#: fixed number of row chunks for the reductions
CHUNKS = 32
#: rows summed in x's dtype before they are folded into a chunk's float64 partial sums
BLOCK = 64


@njit(parallel=True, cache=True)
def _affine(x, mean_x, scale_x, beta_x, y, relu):
    """y = (x - mean_x) * scale_x + beta_x per channel (then ReLU when asked): how both forward paths end."""
    M, C = x.shape
    zero = y.dtype.type(0)
    for r in prange(M):
        xr = x[r]
        yr = y[r]
        if relu:
            for c in range(C):
                yr[c] = max((xr[c] - mean_x[c]) * scale_x[c] + beta_x[c], zero)
        else:
            for c in range(C):
                yr[c] = (xr[c] - mean_x[c]) * scale_x[c] + beta_x[c]


@njit(cache=True)  # the parallel parts are _stats and _affine
def _forward(x, gamma, beta, eps, y, mean_out, inv_out, psum, psq, relu):
    C = x.shape[1]
    mean_x = np.empty(C, x.dtype)
    scale_x = np.empty(C, x.dtype)
    beta_x = np.empty(C, x.dtype)
    _stats(x, gamma, beta, eps, mean_out, inv_out, psum, psq, mean_x, scale_x, beta_x)
    _affine(x, mean_x, scale_x, beta_x, y, relu)


@njit(parallel=True, cache=True)
def _stats(x, gamma, beta, eps, mean_out, inv_out, psum, psq, mean_x, scale_x, beta_x):
    """Batch mean and 1/std (float64 partial sums over fixed chunks), and the affine coefficients
    y = (x - mean_x) * scale_x + beta_x in x's dtype, exactly as the forward applies them."""
    M, C = x.shape
    nch = psum.shape[0]
    shift = x[0].astype(np.float64)
    shift_x = x[0].copy()
    zero = x.dtype.type(0)
    for ch in prange(nch):  # in x's dtype over BLOCK rows at a time, folded into float64 (as backward)
        s = psum[ch]
        q = psq[ch]
        s[:] = 0.0
        q[:] = 0.0
        bs = np.empty(C, x.dtype)
        bq = np.empty(C, x.dtype)
        r1 = (ch + 1) * M // nch
        for b0 in range(ch * M // nch, r1, BLOCK):
            bs[:] = zero
            bq[:] = zero
            for r in range(b0, min(b0 + BLOCK, r1)):
                row = x[r]
                for c in range(C):
                    v = row[c] - shift_x[c]
                    bs[c] += v
                    bq[c] += v * v
            for c in range(C):
                s[c] += bs[c]
                q[c] += bq[c]
    for c in range(C):
        s = 0.0
        q = 0.0
        for ch in range(nch):
            s += psum[ch, c]
            q += psq[ch, c]
        d = s / M
        var = max(q / M - d * d, 0.0)
        inv = 1.0 / np.sqrt(var + eps)
        mean_out[c] = shift[c] + d
        inv_out[c] = inv
        mean_x[c] = shift[c] + d
        scale_x[c] = gamma[c] * inv
        beta_x[c] = beta[c]


@njit(cache=True)  # the parallel part is _affine
def _inference(x, gamma, beta, mean, var, eps, y, relu):
    M, C = x.shape
    mean_x = np.empty(C, x.dtype)
    scale_x = np.empty(C, x.dtype)
    beta_x = np.empty(C, x.dtype)
    for c in range(C):
        mean_x[c] = mean[c]
        scale_x[c] = gamma[c] / np.sqrt(np.float64(var[c]) + eps)
        beta_x[c] = beta[c]
    _affine(x, mean_x, scale_x, beta_x, y, relu)


@njit(parallel=True, cache=True)
def _backward(dy, x, gamma, mean, inv_std, dx, dgamma, dbeta, psum, pdot, yact, relu):
    """Two passes: the two reductions (sum of dy and of dy * (x - mean)) together, then dx. With
    ``relu``, dy is first masked where the ReLU output yact is 0 (read again in each pass).

    Both passes run in x's dtype, so float32 vectorises at full width: the reductions add BLOCK rows
    into float32 sums that are folded into the float64 chunk partials after each block (rounding as a
    float32 sum of BLOCK terms, not of M)."""
    M, C = x.shape
    nch = psum.shape[0]
    zero = dy.dtype.type(0)
    one = dy.dtype.type(1)
    for ch in prange(nch):
        s = psum[ch]
        d = pdot[ch]
        s[:] = 0.0
        d[:] = 0.0
        bs = np.empty(C, dy.dtype)
        bd = np.empty(C, dy.dtype)
        r1 = (ch + 1) * M // nch
        for b0 in range(ch * M // nch, r1, BLOCK):
            bs[:] = zero
            bd[:] = zero
            for r in range(b0, min(b0 + BLOCK, r1)):
                g = dy[r]
                xr = x[r]
                ar = yact[r]
                if relu:  # branch hoisted out of the channel loop so LLVM vectorises both loops
                    for c in range(C):
                        gc = g[c] * (one if ar[c] > zero else zero)
                        bs[c] += gc
                        bd[c] += gc * (xr[c] - mean[c])
                else:
                    for c in range(C):
                        bs[c] += g[c]
                        bd[c] += g[c] * (xr[c] - mean[c])
            for c in range(C):
                s[c] += bs[c]
                d[c] += bd[c]
    k1 = np.empty(C, x.dtype)
    k2 = np.empty(C, x.dtype)
    k3 = np.empty(C, x.dtype)
    _coefficients(psum, pdot, gamma, inv_std, M, dgamma, dbeta, k1, k2, k3)
    for r in prange(M):
        g = dy[r]
        xr = x[r]
        ar = yact[r]
        out = dx[r]
        if relu:
            for c in range(C):
                gc = g[c] * (one if ar[c] > zero else zero)
                out[c] = k1[c] * gc + k3[c] * (xr[c] - mean[c]) + k2[c]
        else:
            for c in range(C):
                out[c] = k1[c] * g[c] + k3[c] * (xr[c] - mean[c]) + k2[c]


@njit(cache=True)
def _coefficients(psum, pdot, gamma, inv_std, M, dgamma, dbeta, k1, k2, k3):
    """dx = k1 * dy + k3 * (x - mean) + k2, from dx = gamma*inv_std*(dy - dbeta/M - xhat*dgamma/M)."""
    nch, C = psum.shape
    for c in range(C):
        sb = 0.0
        sd = 0.0
        for ch in range(nch):
            sb += psum[ch, c]
            sd += pdot[ch, c]
        inv = np.float64(inv_std[c])
        gk = gamma[c] * inv
        dbeta[c] = sb
        dgamma[c] = sd * inv
        k1[c] = gk
        k2[c] = -gk * sb / M
        k3[c] = -gk * sd * inv * inv / M


def _vec(v, dtype):
    return np.ascontiguousarray(v, dtype=dtype)


def batch_norm_forward(x, gamma, beta, eps, out=None, activation=None):
    op = "batch_norm_forward"
    relu = check_activation(op, activation)
    M, C = check_bn(op, x, gamma=gamma, beta=beta)
    check_float(op, x, gamma, beta)
    dt = x.dtype
    y = np.empty(x.shape, dt) if out is None else check_out(op, out, x.shape, dt)
    mean = np.empty(C, dt)
    inv_std = np.empty(C, dt)
    nch = min(CHUNKS, M)
    psum = scratch("nb.bn.psum", (nch, C), np.float64)
    psq = scratch("nb.bn.psq", (nch, C), np.float64)
    _forward(np.ascontiguousarray(x), _vec(gamma, dt), _vec(beta, dt), float(eps), y, mean, inv_std, psum, psq, relu)
    return y, mean, inv_std


def batch_norm_inference(x, gamma, beta, mean, var, eps, out=None, activation=None):
    op = "batch_norm_inference"
    relu = check_activation(op, activation)
    check_bn(op, x, gamma=gamma, beta=beta, mean=mean, var=var)
    check_float(op, x, gamma, beta, mean, var)
    dt = x.dtype
    y = np.empty(x.shape, dt) if out is None else check_out(op, out, x.shape, dt)
    _inference(np.ascontiguousarray(x), _vec(gamma, dt), _vec(beta, dt), _vec(mean, dt), _vec(var, dt),
               float(eps), y, relu)
    return y


def batch_norm_backward(dy, x, gamma, mean, inv_std, out=None, y=None):
    op = "batch_norm_backward"
    M, C = check_bn(op, x, gamma=gamma, mean=mean, inv_std=inv_std)
    check_float(op, dy, x, gamma, mean, inv_std)
    check_shape(op, "dy", dy.shape, x.shape)
    if y is not None:
        check_shape(op, "y", y.shape, x.shape)
    dt = x.dtype
    dx = np.empty(x.shape, dt) if out is None else check_out(op, out, x.shape, dt)
    dgamma = np.empty(C, dt)
    dbeta = np.empty(C, dt)
    nch = min(CHUNKS, M)
    psum = scratch("nb.bn.psum", (nch, C), np.float64)
    pdot = scratch("nb.bn.psq", (nch, C), np.float64)
    _backward(_vec(dy, dt), np.ascontiguousarray(x), _vec(gamma, dt), _vec(mean, dt), _vec(inv_std, dt),
              dx, dgamma, dbeta, psum, pdot, dy if y is None else _vec(y, dt), y is not None)
    return dx, dgamma, dbeta
