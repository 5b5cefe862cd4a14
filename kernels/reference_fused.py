"""The oracle for the fused attention and layer-norm kernels: float64, written from the definitions.

Scaled-dot-product attention, layout as Keras's ``ops.dot_product_attention``: ``q (B, T, N, H)``,
``k (B, S, K, H)``, ``v (B, S, K, Hv)`` with ``N`` a multiple of ``K`` (query head ``n`` reads
key/value head ``n // (N // K)``), ``bias`` and ``mask`` broadcastable to ``(B, N, T, S)``. Masked
logits (``mask`` False, or above the diagonal under ``is_causal``) are *replaced* by
:func:`large_negative` as Keras's NumPy backend does, so a row with nothing left attends uniformly
and no gradient reaches a masked logit. Dropout acts on the probabilities; its keep mask is given
(``dropout_mask``) or drawn from ``dropout_seed`` by :func:`dropout_keep`, a counter-based hash that
the Numba kernel computes identically, so forward and backward never store it.

Layer norm over the last axis of ``x (M, C)``: ``y = (x - mean) * inv * gamma + beta`` with
``inv = 1 / sqrt(var + eps)``; ``rms=True`` is RMS normalisation (``x * inv``, ``inv`` from the
mean square).
"""
from __future__ import annotations

import numpy as np

__all__ = ["attention_forward", "attention_backward", "layer_norm_forward", "layer_norm_backward",
           "dropout_keep", "large_negative", "dropout_apply"]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


def large_negative(dtype) -> float:
    """What a masked logit becomes (Keras: -0.7 x the largest float32, or float16's)."""
    return (65500.0 if np.dtype(dtype) == np.float16 else 3.38953e38) * -0.7


def dropout_keep(seed: int, shape, rate: float) -> np.ndarray:
    """Boolean keep mask of ``shape`` (B, N, T, S): splitmix64 of ``seed + flat index``, kept where the
    top 53 bits as a uniform in [0, 1) are >= ``rate``."""
    idx = np.arange(int(np.prod(shape)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + (idx + np.uint64(1)) * _M1
        z = (z ^ (z >> np.uint64(30))) * _M2
        z = (z ^ (z >> np.uint64(27))) * _M3
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) * (1.0 / 9007199254740992.0)
    return (u >= rate).reshape(shape)


def dropout_apply(x, rate, seed, out=None):
    """Inverted dropout of ``x``: kept elements (``dropout_keep`` over ``x``'s flat C-order index) times
    ``1 / (1 - rate)``, the others times 0 (so a NaN stays NaN, as a product does)."""
    keep = dropout_keep(int(seed) % (1 << 64), x.shape, float(rate))
    return _emit(_f64(x) * np.where(keep, 1.0 / (1.0 - float(rate)), 0.0), x.dtype, out)


def _f64(a):
    return None if a is None else np.asarray(a, dtype=np.float64)


def _emit(y, dtype, out):
    if out is None:
        return y.astype(dtype)
    out[...] = y
    return out


def _keep_and_factor(shape, dropout_rate, dropout_seed, dropout_mask):
    """The dropout multiplier on the probabilities (1 where there is no dropout)."""
    if not dropout_rate:
        return np.ones(shape)
    keep = np.broadcast_to(dropout_mask, shape) if dropout_mask is not None else dropout_keep(
        dropout_seed, shape, dropout_rate)
    return np.where(keep, 1.0 / (1.0 - dropout_rate), 0.0)


def _expand_kv(a, n_heads):
    """(B, S, K, D) -> (B, S, N, D): each key/value head repeated for its group of query heads."""
    return np.repeat(a, n_heads // a.shape[2], axis=2)


def _probabilities(q, k, bias, mask, scale, is_causal, dtype):
    """Scores (B, N, T, S) after scale, bias and masking; the keep mask of the logits; softmax."""
    B, T, N, _ = q.shape
    S = k.shape[1]
    kk = _expand_kv(k, N)
    logits = np.einsum("btnh,bsnh->bnts", q, kk) * scale
    if bias is not None:
        logits = logits + bias
    allowed = np.ones((B, N, T, S), dtype=bool)
    if mask is not None:
        allowed &= np.broadcast_to(np.asarray(mask, dtype=bool), allowed.shape)
    if is_causal:
        allowed &= np.tril(np.ones((T, S), dtype=bool))
    logits = np.where(allowed, logits, large_negative(dtype))
    p = np.exp(logits - logits.max(axis=-1, keepdims=True))
    p /= p.sum(axis=-1, keepdims=True)
    lse = np.log(np.exp(logits - logits.max(axis=-1, keepdims=True)).sum(axis=-1)) + logits.max(axis=-1)
    return p, lse, allowed


def attention_forward(q, k, v, bias=None, mask=None, scale=None, is_causal=False, dropout_rate=0.0,
                      dropout_seed=0, dropout_mask=None, out=None):
    """``softmax(mask(q k^T * scale + bias)) * dropout -> times v``: returns ``(out (B, T, N, Hv),
    lse (B, N, T))`` with ``lse`` the log-sum-exp of each row of masked logits (what backward needs)."""
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else float(scale)
    p, lse, _ = _probabilities(_f64(q), _f64(k), _f64(bias), mask, scale, is_causal, q.dtype)
    p = p * _keep_and_factor(p.shape, dropout_rate, dropout_seed, dropout_mask)
    o = np.einsum("bnts,bsnh->btnh", p, _expand_kv(_f64(v), q.shape[2]))
    return _emit(o, q.dtype, out), lse.astype(q.dtype)


def attention_backward(do, q, k, v, o, lse, bias=None, mask=None, scale=None, is_causal=False, dropout_rate=0.0,
                       dropout_seed=0, dropout_mask=None, need_dbias=False, out=None):
    """Gradients ``(dq, dk, dv, dbias)`` of :func:`attention_forward`; ``dbias`` is the full
    ``(B, N, T, S)`` gradient of the logits when ``need_dbias`` (else None). ``o`` and ``lse`` are
    not needed here (the probabilities are recomputed) but belong to the contract."""
    del o, lse
    B, T, N, H = q.shape
    Kh = k.shape[2]
    scale = 1.0 / np.sqrt(H) if scale is None else float(scale)
    qd, kd, vd, dod = _f64(q), _f64(k), _f64(v), _f64(do)
    p, _, allowed = _probabilities(qd, kd, _f64(bias), mask, scale, is_causal, q.dtype)
    factor = _keep_and_factor(p.shape, dropout_rate, dropout_seed, dropout_mask)
    ve, ke = _expand_kv(vd, N), _expand_kv(kd, N)
    dv_full = np.einsum("bnts,btnh->bsnh", p * factor, dod)
    dpd = np.einsum("btnh,bsnh->bnts", dod, ve) * factor
    ds = p * (dpd - (dpd * p).sum(axis=-1, keepdims=True))
    ds = np.where(allowed, ds, 0.0)
    dq = np.einsum("bnts,bsnh->btnh", ds, ke) * scale
    dk_full = np.einsum("bnts,btnh->bsnh", ds, qd) * scale
    g = N // Kh
    dk = dk_full.reshape(B, k.shape[1], Kh, g, H).sum(axis=3)
    dv = dv_full.reshape(B, v.shape[1], Kh, g, v.shape[3]).sum(axis=3)
    outs = (None, None, None) if out is None else out
    return (_emit(dq, q.dtype, outs[0]), _emit(dk, k.dtype, outs[1]), _emit(dv, v.dtype, outs[2]),
            ds.astype(q.dtype) if need_dbias else None)


def layer_norm_forward(x, gamma, beta, eps, rms=False, out=None):
    """Rows of ``x (M, C)`` normalised: returns ``(y, mean, inv)`` (``mean`` zeros when ``rms``);
    ``gamma``/``beta`` ``(C,)`` or None."""
    xd = _f64(x)
    mean = np.zeros(xd.shape[0]) if rms else xd.mean(axis=1)
    var = ((xd - mean[:, None]) ** 2).mean(axis=1)
    inv = 1.0 / np.sqrt(var + eps)
    y = (xd - mean[:, None]) * inv[:, None]
    if gamma is not None:
        y = y * _f64(gamma)
    if beta is not None:
        y = y + _f64(beta)
    return _emit(y, x.dtype, out), mean.astype(x.dtype), inv.astype(x.dtype)


def layer_norm_backward(dy, x, gamma, mean, inv, rms=False, out=None):
    """Gradients ``(dx, dgamma, dbeta)`` of :func:`layer_norm_forward` (mean and inv functions of x)."""
    dyd, xd, invd, meand = _f64(dy), _f64(x), _f64(inv)[:, None], _f64(mean)[:, None]
    C = xd.shape[1]
    xhat = (xd - meand) * invd
    dgamma = (dyd * xhat).sum(axis=0)
    dbeta = dyd.sum(axis=0)
    g = dyd * _f64(gamma) if gamma is not None else dyd
    if rms:
        dx = invd * (g - xhat * (g * xhat).sum(axis=1, keepdims=True) / C)
    else:
        dx = invd * (g - g.mean(axis=1, keepdims=True) - xhat * (g * xhat).mean(axis=1, keepdims=True))
    return _emit(dx, x.dtype, out), dgamma.astype(x.dtype), dbeta.astype(x.dtype)
