"""The ``numpy`` implementations of fused attention and layer norm (contracts: kernels/reference_fused.py).

Attention here materialises the ``(B, N, T, S)`` scores, in the inputs' dtype (float32 stays
float32), with BLAS matmuls; the ``numba`` kernel is the one that never does. Written with the
array module of the inputs, so the same code serves CuPy arrays.
"""
from __future__ import annotations

import math

import numpy as np

from .reference_fused import dropout_keep, large_negative

__all__ = ["attention_forward", "attention_backward", "layer_norm_forward", "layer_norm_backward", "dropout_apply"]


def _xp(a):
    mod = type(a).__module__.split(".")[0]
    if mod == "cupy":
        import cupy  # noqa: PLC0415 - optional dependency (cupy)

        return cupy
    return np


def _heads_first(a, n_heads, xp):
    """(B, S, K, D) -> (B, N, S, D), key/value heads repeated for their query-head groups."""
    a = a.transpose(0, 2, 1, 3)
    if a.shape[1] != n_heads:
        a = xp.repeat(a, n_heads // a.shape[1], axis=1)
    return a


def _dropout_factor(xp, shape, dtype, rate, seed, keep):
    if not rate:
        return None
    if keep is None:
        keep = xp.asarray(dropout_keep(seed, shape, rate))
    return xp.where(xp.broadcast_to(keep, shape), dtype.type(1.0 / (1.0 - rate)), dtype.type(0.0))


def _probs(q, k, bias, mask, scale, is_causal):
    xp = _xp(q)
    dtype = q.dtype
    B, T, N, _ = q.shape
    S = k.shape[1]
    logits = xp.matmul(q.transpose(0, 2, 1, 3), _heads_first(k, N, xp).transpose(0, 1, 3, 2))
    logits *= dtype.type(scale)
    if bias is not None:
        logits += bias.astype(dtype, copy=False)
    allowed = None
    if mask is not None:
        allowed = xp.broadcast_to(xp.asarray(mask).astype(bool, copy=False), logits.shape)
    if is_causal:
        tri = xp.tril(xp.ones((T, S), dtype=bool))
        allowed = tri if allowed is None else allowed & tri
    if allowed is not None:
        logits = xp.where(allowed, logits, dtype.type(large_negative(dtype)))
    m = logits.max(axis=-1, keepdims=True)
    p = xp.exp(logits - m)
    total = p.sum(axis=-1, keepdims=True)
    p /= total
    lse = (m + xp.log(total))[..., 0]
    return p, lse, allowed


def attention_forward(q, k, v, bias=None, mask=None, scale=None, is_causal=False, dropout_rate=0.0,
                      dropout_seed=0, dropout_mask=None, out=None):
    xp = _xp(q)
    N = q.shape[2]
    scale = 1.0 / float(np.sqrt(q.shape[-1])) if scale is None else float(scale)
    p, lse, _ = _probs(q, k, bias, mask, scale, is_causal)
    factor = _dropout_factor(xp, p.shape, q.dtype, dropout_rate, dropout_seed, dropout_mask)
    if factor is not None:
        p *= factor
    o = xp.matmul(p, _heads_first(v, N, xp)).transpose(0, 2, 1, 3)
    if out is None:
        return xp.ascontiguousarray(o), lse
    out[...] = o
    return out, lse


def attention_backward(do, q, k, v, o, lse, bias=None, mask=None, scale=None, is_causal=False, dropout_rate=0.0,
                       dropout_seed=0, dropout_mask=None, need_dbias=False, out=None):
    del o, lse
    xp = _xp(q)
    B, T, N, H = q.shape
    S, Kh = k.shape[1], k.shape[2]
    scale = 1.0 / float(np.sqrt(H)) if scale is None else float(scale)
    p, _, allowed = _probs(q, k, bias, mask, scale, is_causal)
    factor = _dropout_factor(xp, p.shape, q.dtype, dropout_rate, dropout_seed, dropout_mask)
    dot = do.transpose(0, 2, 1, 3)  # (B, N, T, Hv)
    pd = p if factor is None else p * factor
    dv = xp.matmul(pd.transpose(0, 1, 3, 2), dot)  # (B, N, S, Hv)
    dp = xp.matmul(dot, _heads_first(v, N, xp).transpose(0, 1, 3, 2))
    if factor is not None:
        dp *= factor
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    if allowed is not None:
        ds = xp.where(allowed, ds, q.dtype.type(0.0))
    dq = xp.matmul(ds, _heads_first(k, N, xp)) * q.dtype.type(scale)
    dk = xp.matmul(ds.transpose(0, 1, 3, 2), q.transpose(0, 2, 1, 3)) * q.dtype.type(scale)
    g = N // Kh
    dk = dk.reshape(B, Kh, g, S, H).sum(axis=2).transpose(0, 2, 1, 3)
    dv = dv.reshape(B, Kh, g, S, v.shape[3]).sum(axis=2).transpose(0, 2, 1, 3)
    res = [dq.transpose(0, 2, 1, 3), dk, dv]
    if out is not None:
        for dst, src in zip(out, res):
            dst[...] = src
        res = list(out)
    else:
        res = [xp.ascontiguousarray(r) for r in res]
    return res[0], res[1], res[2], (ds if need_dbias else None)


def layer_norm_forward(x, gamma, beta, eps, rms=False, out=None):
    xp = _xp(x)
    dt = x.dtype.type
    mean = xp.zeros(x.shape[0], x.dtype) if rms else x.mean(axis=1)
    c = x if rms else x - mean[:, None]
    inv = 1 / xp.sqrt((c * c).mean(axis=1) + dt(eps))
    y = c * inv[:, None]
    if gamma is not None:
        y *= gamma
    if beta is not None:
        y += beta
    if out is not None:
        out[...] = y
        y = out
    return y, mean, inv.astype(x.dtype, copy=False)


def layer_norm_backward(dy, x, gamma, mean, inv, rms=False, out=None):
    invc = inv[:, None]
    xhat = (x - mean[:, None]) * invc
    dgamma = (dy * xhat).sum(axis=0)
    dbeta = dy.sum(axis=0)
    g = dy * gamma if gamma is not None else dy
    proj = (g * xhat).mean(axis=1, keepdims=True)
    dx = invc * (g - xhat * proj) if rms else invc * (g - g.mean(axis=1, keepdims=True) - xhat * proj)
    if out is not None:
        out[...] = dx
        dx = out
    return dx, dgamma, dbeta


_M1, _M2, _M3 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def dropout_apply(x, rate, seed, out=None):
    """Inverted dropout on the reference's counter-based keep mask, vectorised in ``x``'s array module
    and dtype (uint64 arithmetic wraps modulo 2**64 as splitmix64 needs)."""
    xp = _xp(x)
    u64 = xp.uint64
    idx = xp.arange(1, x.size + 1, dtype=u64)
    with np.errstate(over="ignore"):
        z = u64(int(seed) % (1 << 64)) + idx * u64(_M1)
        z = (z ^ (z >> u64(30))) * u64(_M2)
        z = (z ^ (z >> u64(27))) * u64(_M3)
        z = z ^ (z >> u64(31))
    threshold = math.ceil(float(rate) * 9007199254740992.0)
    factor = xp.where((z >> u64(11)) >= u64(threshold), x.dtype.type(1.0 / (1.0 - float(rate))), x.dtype.type(0))
    y = x * factor.reshape(x.shape)
    if out is None:
        return y
    out[...] = y
    return out
