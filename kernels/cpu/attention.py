"""Fused scaled-dot-product attention in Numba, forward and backward, flash-attention style.

Contract (and the oracle): ``kernels/reference_fused.py``. Layout ``(B, T, N, H)`` as Keras's
``ops.dot_product_attention``; grouped heads (``N`` a multiple of the key/value heads ``K``).

Forward: one parallel task per (batch, head). Queries go in blocks of ``BQ`` rows, keys in blocks
of ``BK``; a block's scores live in a ``BQ x BK`` tile in the inputs' dtype (float32 accumulates in
float32, as PyTorch does on the CPU), and each row keeps a running max and sum, rescaling its
output accumulator when the max grows. Only ``out`` and the row log-sum-exp ``lse (B, N, T)`` are
written; no ``(B, N, T, S)`` tensor exists. Under ``is_causal`` key blocks past the diagonal are
skipped. Dropout multiplies the probabilities by a keep mask given as an array or drawn from a
seed by the same counter-based hash as the reference (``reference_fused.dropout_keep``), so the
backward pass redraws it instead of storing it.

Backward: one task per (batch, key/value head), looping over the query heads of its group, so the
key and value gradients accumulate in the task's own buffers (no atomics); the probabilities are
recomputed from ``lse``, and ``delta = rowsum(dO * O)`` replaces the softmax's row sums.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._geometry import check_float, check_out
from ..reference_fused import large_negative
from ._jit import njit

__all__ = ["attention_forward", "attention_backward", "BQ", "BK"]

#: query rows and keys per tile
BQ, BK = 16, 64

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)


@njit(cache=True, inline="always")
def _kept(seed, flat, rate):
    """splitmix64 of ``seed + (flat + 1) * golden``: the reference's ``dropout_keep`` for one element."""
    z = seed + (np.uint64(flat) + np.uint64(1)) * _M1
    z = (z ^ (z >> np.uint64(30))) * _M2
    z = (z ^ (z >> np.uint64(27))) * _M3
    z = z ^ (z >> np.uint64(31))
    return np.float64(z >> np.uint64(11)) * (1.0 / 9007199254740992.0) >= rate


@njit(cache=True, inline="always")
def _factor(drop_mode, dmask, seed, rate, b, n, i, j, N, T, S, inv_keep, zero):
    """The dropout multiplier of probability (b, n, i, j): 1/(1-rate) kept, 0 dropped."""
    if drop_mode == 1:
        keep = _kept(seed, ((b * N + n) * T + i) * S + j, rate)
    else:
        keep = dmask[b, n, i, j]
    return inv_keep if keep else zero


@njit(cache=True, inline="always")
def _logits(s, nq, nk, i0, j0, b, n, bias, mask, has_bias, has_mask, causal, neg):
    """Add the bias to the score tile and replace masked entries by ``neg``."""
    for ii in range(nq):
        i = i0 + ii
        for jj in range(nk):
            j = j0 + jj
            x = s[ii, jj]
            if has_bias:
                x += bias[b, n, i, j]
            if (has_mask and not mask[b, n, i, j]) or (causal and j > i):
                x = neg
            s[ii, jj] = x


@njit(cache=True, inline="always")
def _scores(s, qs, kt, nq, nk, j0, D, zero):
    """s[:nq, :nk] = qs[:nq] @ kt[:, j0:j0+nk] (vectorised along the keys)."""
    for ii in range(nq):
        for jj in range(nk):
            s[ii, jj] = zero
        for d in range(D):
            qv = qs[ii, d]
            for jj in range(nk):
                s[ii, jj] += qv * kt[d, j0 + jj]


@njit(parallel=True, cache=True, fastmath={"contract", "arcp", "nsz", "reassoc"})
def _forward(q, k, v, bias, mask, dmask, o, lse, scale, neg, zero, one, inv_keep, has_bias, has_mask, causal,
             drop_mode, rate, seed):
    B, T, N, D = q.shape
    S, Kh, Dv = k.shape[1], k.shape[2], v.shape[3]
    G = N // Kh
    for task in prange(B * N):
        b = task // N
        n = task - b * N
        kh = n // G
        kt = np.empty((D, S), q.dtype)
        for j in range(S):
            for d in range(D):
                kt[d, j] = k[b, j, kh, d]
        s = np.empty((BQ, BK), q.dtype)
        qs = np.empty((BQ, D), q.dtype)
        acc = np.empty((BQ, Dv), q.dtype)
        m = np.empty(BQ, q.dtype)
        ls = np.empty(BQ, q.dtype)
        for i0 in range(0, T, BQ):
            nq = min(T, i0 + BQ) - i0
            for ii in range(nq):
                m[ii] = neg
                ls[ii] = zero
                for d in range(Dv):
                    acc[ii, d] = zero
                for d in range(D):
                    qs[ii, d] = q[b, i0 + ii, n, d] * scale
            jend = min(S, i0 + nq) if causal and not has_mask else S  # a masked row may need every key
            for j0 in range(0, jend, BK):
                nk = min(jend, j0 + BK) - j0
                _scores(s, qs, kt, nq, nk, j0, D, zero)
                _logits(s, nq, nk, i0, j0, b, n, bias, mask, has_bias, has_mask, causal, neg)
                for ii in range(nq):
                    mx = m[ii]
                    for jj in range(nk):
                        if s[ii, jj] > mx:
                            mx = s[ii, jj]
                    corr = np.exp(m[ii] - mx)
                    m[ii] = mx
                    tot = zero
                    for jj in range(nk):
                        p = np.exp(s[ii, jj] - mx)
                        tot += p
                        if drop_mode != 0:
                            p *= _factor(drop_mode, dmask, seed, rate, b, n, i0 + ii, j0 + jj, N, T, S, inv_keep, zero)
                        s[ii, jj] = p
                    ls[ii] = ls[ii] * corr + tot
                    for d in range(Dv):
                        acc[ii, d] *= corr
                    for jj in range(nk):
                        pj = s[ii, jj]
                        if pj != zero:
                            for d in range(Dv):
                                acc[ii, d] += pj * v[b, j0 + jj, kh, d]
            for ii in range(nq):
                r = one / ls[ii]
                for d in range(Dv):
                    o[b, i0 + ii, n, d] = acc[ii, d] * r
                lse[b, n, i0 + ii] = m[ii] + np.log(ls[ii])


@njit(parallel=True, cache=True, fastmath={"contract", "arcp", "nsz", "reassoc"})
def _backward(do, q, k, v, o, lse, bias, mask, dmask, dq, dk, dv, dbias, scale, neg, half_neg, zero, inv_keep,
              recip, has_bias, has_mask, causal, drop_mode, rate, seed, need_dbias):
    B, T, N, D = q.shape
    S, Kh, Dv = k.shape[1], k.shape[2], v.shape[3]
    G = N // Kh
    for task in prange(B * Kh):
        b = task // Kh
        kh = task - b * Kh
        kt = np.empty((D, S), q.dtype)
        vt = np.empty((Dv, S), q.dtype)
        for j in range(S):
            for d in range(D):
                kt[d, j] = k[b, j, kh, d]
            for d in range(Dv):
                vt[d, j] = v[b, j, kh, d]
        dka = np.zeros((S, D), q.dtype)
        dva = np.zeros((S, Dv), q.dtype)
        s = np.empty((BQ, BK), q.dtype)
        dp = np.empty((BQ, BK), q.dtype)
        qs = np.empty((BQ, D), q.dtype)
        dos = np.empty((BQ, Dv), q.dtype)
        dqa = np.empty((BQ, D), q.dtype)
        delta = np.empty(BQ, q.dtype)
        for g in range(G):
            n = kh * G + g
            for i0 in range(0, T, BQ):
                nq = min(T, i0 + BQ) - i0
                for ii in range(nq):
                    t = zero
                    for d in range(Dv):
                        dos[ii, d] = do[b, i0 + ii, n, d]
                        t += dos[ii, d] * o[b, i0 + ii, n, d]
                    delta[ii] = t
                    for d in range(D):
                        qs[ii, d] = q[b, i0 + ii, n, d] * scale
                        dqa[ii, d] = zero
                jend = min(S, i0 + nq) if causal and not has_mask else S
                for j0 in range(0, jend, BK):
                    nk = min(jend, j0 + BK) - j0
                    _scores(s, qs, kt, nq, nk, j0, D, zero)
                    _logits(s, nq, nk, i0, j0, b, n, bias, mask, has_bias, has_mask, causal, neg)
                    # dp = dO @ V^T on the tile
                    for ii in range(nq):
                        for jj in range(nk):
                            dp[ii, jj] = zero
                        for d in range(Dv):
                            gv = dos[ii, d]
                            for jj in range(nk):
                                dp[ii, jj] += gv * vt[d, j0 + jj]
                    for ii in range(nq):
                        i = i0 + ii
                        li = lse[b, n, i]
                        cut = neg
                        if li <= half_neg:  # every key masked: neg + log(count) rounds to neg, so p = 1 / count
                            li = neg
                            cut = recip[jend - 1]
                        for jj in range(nk):
                            j = j0 + jj
                            p = np.exp(s[ii, jj] - li)
                            if cut != neg:
                                p *= cut
                            f = p
                            dpv = dp[ii, jj]
                            if drop_mode != 0:
                                fac = _factor(drop_mode, dmask, seed, rate, b, n, i, j, N, T, S, inv_keep, zero)
                                f = p * fac
                                dpv *= fac
                            if f != zero:
                                for d in range(Dv):
                                    dva[j, d] += f * dos[ii, d]
                            ds = p * (dpv - delta[ii])
                            if (has_mask and not mask[b, n, i, j]) or (causal and j > i):
                                ds = zero
                            if need_dbias:
                                dbias[b, n, i, j] = ds
                            s[ii, jj] = ds
                        for jj in range(nk):
                            ds = s[ii, jj]
                            if ds != zero:
                                for d in range(D):
                                    dqa[ii, d] += ds * k[b, j0 + jj, kh, d]
                                    dka[j0 + jj, d] += ds * qs[ii, d]
                for ii in range(nq):
                    for d in range(D):
                        dq[b, i0 + ii, n, d] = dqa[ii, d] * scale
                if need_dbias and jend < S:
                    for ii in range(nq):  # the skipped blocks past the diagonal
                        for j in range(jend, S):
                            dbias[b, n, i0 + ii, j] = zero
        for j in range(S):
            for d in range(D):
                dk[b, j, kh, d] = dka[j, d]
            for d in range(Dv):
                dv[b, j, kh, d] = dva[j, d]


def _dummy(dtype):
    return np.broadcast_to(np.zeros(1, dtype), (1, 1, 1, 1))


def _prepare(op, q, k, v, bias, mask, scale, dropout_rate, dropout_seed, dropout_mask):
    check_float(op, q, k, v)
    dtype = q.dtype
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4 or k.shape[:3] != v.shape[:3] or q.shape[0] != k.shape[0] \
            or q.shape[3] != k.shape[3] or q.shape[2] % k.shape[2]:
        raise ValueError(f"{op}: expected q (B, T, N, H), k (B, S, K, H), v (B, S, K, Hv) with N a multiple of K, "
                         f"got shapes {q.shape}, {k.shape}, {v.shape}")
    B, T, N, H = q.shape
    S = k.shape[1]
    full = (B, N, T, S)
    q, k, v = (np.ascontiguousarray(a, dtype=dtype) for a in (q, k, v))
    has_bias, has_mask = bias is not None, mask is not None
    bias4 = np.broadcast_to(np.asarray(bias, dtype=dtype), full) if has_bias else _dummy(dtype)
    mask4 = np.broadcast_to(np.asarray(mask, dtype=bool), full) if has_mask else _dummy(np.bool_)
    rate = float(dropout_rate or 0.0)
    if rate and dropout_mask is not None:
        drop_mode, dmask4 = 2, np.broadcast_to(np.asarray(dropout_mask, dtype=bool), full)
    else:
        drop_mode, dmask4 = (1 if rate else 0), _dummy(np.bool_)
    scale = 1.0 / float(np.sqrt(H)) if scale is None else float(scale)
    t = dtype.type
    consts = (t(scale), t(large_negative(dtype)), t(0), t(1.0 / (1.0 - rate)))
    return q, k, v, bias4, mask4, dmask4, has_bias, has_mask, drop_mode, rate, np.uint64(dropout_seed or 0), consts


def attention_forward(q, k, v, bias=None, mask=None, scale=None, is_causal=False, dropout_rate=0.0,
                      dropout_seed=0, dropout_mask=None, out=None):
    op = "attention_forward"
    q, k, v, bias4, mask4, dmask4, has_bias, has_mask, drop_mode, rate, seed, consts = _prepare(
        op, q, k, v, bias, mask, scale, dropout_rate, dropout_seed, dropout_mask)
    B, T, N, _ = q.shape
    shape = (B, T, N, v.shape[3])
    o = np.empty(shape, q.dtype) if out is None else check_out(op, out, shape, q.dtype)
    lse = np.empty((B, N, T), q.dtype)
    _forward(q, k, v, bias4, mask4, dmask4, o, lse, consts[0], consts[1], consts[2], q.dtype.type(1), consts[3],
             has_bias, has_mask, bool(is_causal), drop_mode, rate, seed)
    return o, lse


def attention_backward(do, q, k, v, o, lse, bias=None, mask=None, scale=None, is_causal=False, dropout_rate=0.0,
                       dropout_seed=0, dropout_mask=None, need_dbias=False, out=None):
    op = "attention_backward"
    q, k, v, bias4, mask4, dmask4, has_bias, has_mask, drop_mode, rate, seed, consts = _prepare(
        op, q, k, v, bias, mask, scale, dropout_rate, dropout_seed, dropout_mask)
    dtype = q.dtype
    do, o, lse = (np.ascontiguousarray(a, dtype=dtype) for a in (do, o, lse))
    if out is None:
        dq, dk, dv = np.empty(q.shape, dtype), np.empty(k.shape, dtype), np.empty(v.shape, dtype)
    else:
        dq, dk, dv = (check_out(op, a, s, dtype, name) for a, s, name in
                      zip(out, (q.shape, k.shape, v.shape), ("out[0]", "out[1]", "out[2]")))
    B, T, N, _ = q.shape
    dbias = np.empty((B, N, T, k.shape[1]), dtype) if need_dbias else np.empty((1, 1, 1, 1), dtype)
    recip = (1.0 / np.arange(1, k.shape[1] + 1)).astype(dtype)  # 1 / count of keys, for fully masked rows
    _backward(do, q, k, v, o, lse, bias4, mask4, dmask4, dq, dk, dv, dbias, consts[0], consts[1],
              dtype.type(consts[1] / 2), consts[2], consts[3], recip, has_bias, has_mask, bool(is_causal), drop_mode,
              rate, seed, bool(need_dbias))
    return dq, dk, dv, (dbias if need_dbias else None)
