"""Fused scaled-dot-product attention in Numba, forward and backward, flash-attention style.

Contract (and the oracle): ``kernels/reference_fused.py``. Layout ``(B, T, N, H)`` as Keras's
``ops.dot_product_attention``; grouped heads (``N`` a multiple of the key/value heads ``K``).

Forward: one parallel task per (batch, head). Queries go in blocks of ``BQ`` rows, keys in blocks
of ``BK`` (all keys in one block when they fit ``BK_ONE``: no rescaling then); a block's scores
live in a ``BQ x BK`` tile in the inputs' dtype (float32 accumulates in float32, as PyTorch does
on the CPU), and each row keeps a running max and sum, rescaling its output accumulator when the
max grows. Only ``out`` and the row log-sum-exp ``lse (B, N, T)`` are
written; no ``(B, N, T, S)`` tensor exists. Under ``is_causal`` key blocks past the diagonal are
skipped. Dropout multiplies the probabilities by a keep mask given as an array or drawn from a
seed by the same counter-based hash as the reference (``reference_fused.dropout_keep``), so the
backward pass redraws it instead of storing it.

The tile products (Q K^T, P V, and in backward dO V^T, P^T dO, dS K, dS^T Q) run on the register-
blocked SIMD micro-kernels of ``_simd.py`` (each task's K, K^T, V, V^T copied once into buffers
padded to whole ``NR``-column panels); float32's exp is a branch-free polynomial (``_exp_row``)
that LLVM vectorises. Calls below ``matmul.SERIAL_WORK`` multiply-adds run on the calling thread.

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
from ._simd import MR_MAX, NR_MAX, mr_max, tile_rows
from .matmul import SERIAL_WORK, one_thread

__all__ = ["attention_forward", "attention_backward", "BQ", "BK"]

#: query rows and keys per tile; keys up to ``BK_ONE`` (padded) go in one tile, so no row is rescaled;
#: backward takes ``BQ_BACKWARD`` query rows per tile (its dK and dV products reduce over them)
BQ, BK, BK_ONE, BQ_BACKWARD = 24, 128, 256, 48
#: lanes of the row maximum (independent compare chains LLVM turns into one vector compare)
_LANES = 16

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
def _row_max(row, n, mx, lanes):
    """max(mx, row[:n]) over ``_LANES`` running maxima (a NaN never wins, as in ``if x > mx``): one
    compare chain per lane, where a single chain is a serial dependency LLVM does not vectorise."""
    for t in range(_LANES):
        lanes[t] = mx
    n0 = n - n % _LANES
    for j0 in range(0, n0, _LANES):
        for t in range(_LANES):
            x = row[j0 + t]
            lanes[t] = x if x > lanes[t] else lanes[t]
    for j in range(n0, n):
        if row[j] > mx:
            mx = row[j]
    for t in range(_LANES):
        if lanes[t] > mx:
            mx = lanes[t]
    return mx


#: float32 exp: Cody-Waite reduction by ln 2 and Cephes's ``expf`` polynomial on [-ln2/2, ln2/2]
#: (max error about 2 ulp), 2**k put together from its exponent bits; below ``_EXP_LO`` it is 0
_LOG2E = np.float32(1.44269504088896341)
_LN2_HI = np.float32(0.693359375)
_LN2_LO = np.float32(-2.12194440e-4)
_EXP_LO = np.float32(-87.33654)  # log(FLT_MIN): every result is a normal float or 0
_EXP_HI = np.float32(88.37626)
_HALF = np.float32(0.5)
_P0, _P1, _P2 = np.float32(1.9875691500e-4), np.float32(1.3981999507e-3), np.float32(8.3334519073e-3)
_P3, _P4, _P5 = np.float32(4.1665795894e-2), np.float32(1.6666665459e-1), np.float32(5.0000001201e-1)
_ONE32, _ZERO32 = np.float32(1.0), np.float32(0.0)
_BIAS = np.int32(127)
_SHIFT = np.int32(23)


@njit(cache=True, fastmath={"contract"})
def _exp_row(x, c, n, bits, scale, fast):
    """x[:n] = exp(x[:n] - c). ``fast`` (float32): a branch-free polynomial that LLVM vectorises
    (no libm call in the loop; fast-math only contracts to FMAs, so the reduction keeps its order); else np.exp."""
    if not fast:
        for j in range(n):
            x[j] = np.exp(x[j] - c)
        return
    for j in range(n):
        t = np.float32(x[j] - c)
        tc = t if t > _EXP_LO else _EXP_LO  # NaN -> _EXP_LO here, restored below
        tc = tc if tc < _EXP_HI else _EXP_HI
        kf = np.floor(tc * _LOG2E + _HALF)
        r = tc - kf * _LN2_HI
        r = r - kf * _LN2_LO
        p = (((((_P0 * r + _P1) * r + _P2) * r + _P3) * r + _P4) * r + _P5) * (r * r) + r + _ONE32
        bits[j] = (np.int32(kf) + _BIAS) << _SHIFT
        x[j] = p if t >= _EXP_LO else (_ZERO32 if t < _EXP_LO else t)  # 0 below, NaN stays
    for j in range(n):
        x[j] *= scale[j]


#: columns per SIMD panel (a multiple of every machine's vector width); rows per micro-tile
NR = NR_MAX
MR = MR_MAX


@njit(cache=True, inline="always")
def _gemm(mr, C, c0, ldc, rows, cols, A, a0, lda, ars, B, b0, brs, R, accumulate):
    """C[c0 + i*ldc + n] (+)= sum_{r<R} A[a0 + i*lda + r*ars] * B[b0 + r*brs + n] for i < rows and n <
    cols rounded up to NR (flat offsets; C and B own those padding columns): the SIMD tiles of
    ``_simd.py``, mr rows at a time."""
    for p in range(0, cols, NR):
        for i0 in range(0, rows, mr):
            tile_rows(min(mr, rows - i0), NR, A, a0 + i0 * lda, lda, ars, 0, B, b0 + p, brs, 0, C,
                      c0 + i0 * ldc + p, ldc, R, 1, accumulate)


def _up(n):
    return (n + NR - 1) // NR * NR


@njit(parallel=True, cache=True, fastmath={"contract", "arcp", "nsz", "reassoc"})
def _forward(q, k, v, bias, mask, dmask, o, lse, scale, neg, zero, one, inv_keep, has_bias, has_mask, causal,
             drop_mode, rate, seed, fast, mr, Sp, Dp, Dvp, bk, bq):
    B, T, N, D = q.shape
    S, Kh, Dv = k.shape[1], k.shape[2], v.shape[3]
    G = N // Kh
    for task in prange(B * N):
        b = task // N
        n = task - b * N
        kh = n // G
        kt = np.zeros((D, Sp), q.dtype)  # K^T and V, padded to whole panels
        vr = np.zeros((S, Dvp), q.dtype)
        for j in range(S):
            for d in range(D):
                kt[d, j] = k[b, j, kh, d]
            for d in range(Dv):
                vr[j, d] = v[b, j, kh, d]
        s = np.zeros((bq, bk), q.dtype)
        bits = np.empty(bk, np.int32)
        pw = bits.view(np.float32)
        lanes = np.empty(_LANES, q.dtype)
        qs = np.zeros((bq, Dp), q.dtype)
        acc = np.zeros((bq, Dvp), q.dtype)
        m = np.empty(bq, q.dtype)
        ls = np.empty(bq, q.dtype)
        for i0 in range(0, T, bq):
            nq = min(T, i0 + bq) - i0
            for ii in range(nq):
                m[ii] = neg
                ls[ii] = zero
                for d in range(Dv):
                    acc[ii, d] = zero
                for d in range(D):
                    qs[ii, d] = q[b, i0 + ii, n, d] * scale
            jend = min(S, i0 + nq) if causal and not has_mask else S  # a masked row may need every key
            for j0 in range(0, jend, bk):
                nk = min(jend, j0 + bk) - j0
                _gemm(mr, s, 0, bk, nq, nk, qs, 0, Dp, 1, kt, j0, Sp, D, False)  # s = (scale Q) K^T
                if has_bias or has_mask or causal:
                    _logits(s, nq, nk, i0, j0, b, n, bias, mask, has_bias, has_mask, causal, neg)
                for ii in range(nq):
                    row = s[ii]
                    mx = _row_max(row, nk, m[ii], lanes)
                    _exp_row(row, mx, nk, bits, pw, fast)
                    tot = zero
                    for jj in range(nk):
                        tot += row[jj]
                    if j0 == 0:  # the first key tile: nothing accumulated yet to rescale
                        ls[ii] = tot
                    else:
                        corr = np.exp(m[ii] - mx)
                        ls[ii] = ls[ii] * corr + tot
                        for d in range(Dv):
                            acc[ii, d] *= corr
                    m[ii] = mx
                    if drop_mode != 0:
                        for jj in range(nk):
                            row[jj] *= _factor(drop_mode, dmask, seed, rate, b, n, i0 + ii, j0 + jj, N, T, S,
                                               inv_keep, zero)
                _gemm(mr, acc, 0, Dvp, nq, Dv, s, 0, bk, 1, vr, j0 * Dvp, Dvp, nk, True)  # acc += P V
            for ii in range(nq):
                r = one / ls[ii]
                for d in range(Dv):
                    o[b, i0 + ii, n, d] = acc[ii, d] * r
                lse[b, n, i0 + ii] = m[ii] + np.log(ls[ii])


@njit(parallel=True, cache=True, fastmath={"contract", "arcp", "nsz", "reassoc"})
def _backward(do, q, k, v, o, lse, bias, mask, dmask, dq, dk, dv, dbias, scale, neg, half_neg, zero, inv_keep,
              recip, has_bias, has_mask, causal, drop_mode, rate, seed, need_dbias, fast, mr, Sp, Dp, Dvp, bk, bq):
    B, T, N, D = q.shape
    S, Kh, Dv = k.shape[1], k.shape[2], v.shape[3]
    G = N // Kh
    for task in prange(B * Kh):
        b = task // Kh
        kh = task - b * Kh
        kt = np.zeros((D, Sp), q.dtype)  # K^T, K, V^T, padded to whole panels
        kr = np.zeros((S, Dp), q.dtype)
        vt = np.zeros((Dv, Sp), q.dtype)
        for j in range(S):
            for d in range(D):
                kt[d, j] = k[b, j, kh, d]
                kr[j, d] = k[b, j, kh, d]
            for d in range(Dv):
                vt[d, j] = v[b, j, kh, d]
        dka = np.zeros((S, Dp), q.dtype)
        dva = np.zeros((S, Dvp), q.dtype)
        s = np.zeros((bq, bk), q.dtype)
        pf = np.zeros((bq, bk), q.dtype)
        dp = np.zeros((bq, bk), q.dtype)
        bits = np.empty(bk, np.int32)
        pw = bits.view(np.float32)
        qs = np.zeros((bq, Dp), q.dtype)
        dos = np.zeros((bq, Dvp), q.dtype)
        dqa = np.zeros((bq, Dp), q.dtype)
        delta = np.empty(bq, q.dtype)
        for g in range(G):
            n = kh * G + g
            for i0 in range(0, T, bq):
                nq = min(T, i0 + bq) - i0
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
                for j0 in range(0, jend, bk):
                    nk = min(jend, j0 + bk) - j0
                    _gemm(mr, s, 0, bk, nq, nk, qs, 0, Dp, 1, kt, j0, Sp, D, False)  # s = (scale Q) K^T
                    if has_bias or has_mask or causal:
                        _logits(s, nq, nk, i0, j0, b, n, bias, mask, has_bias, has_mask, causal, neg)
                    _gemm(mr, dp, 0, bk, nq, nk, dos, 0, Dvp, 1, vt, j0, Sp, Dv, False)  # dp = dO V^T
                    for ii in range(nq):
                        i = i0 + ii
                        li = lse[b, n, i]
                        row = s[ii]
                        dprow = dp[ii]
                        if li <= half_neg:  # every key masked: neg + log(count) rounds to neg, so p = 1 / count
                            _exp_row(row, neg, nk, bits, pw, fast)
                            cut = recip[jend - 1]
                            for jj in range(nk):
                                row[jj] *= cut
                        else:
                            _exp_row(row, li, nk, bits, pw, fast)
                        dl = delta[ii]
                        if drop_mode != 0:
                            for jj in range(nk):
                                fac = _factor(drop_mode, dmask, seed, rate, b, n, i, j0 + jj, N, T, S, inv_keep, zero)
                                pf[ii, jj] = row[jj] * fac
                                dprow[jj] = row[jj] * (dprow[jj] * fac - dl)
                        else:
                            for jj in range(nk):
                                dprow[jj] = row[jj] * (dprow[jj] - dl)
                        if has_mask or causal:
                            for jj in range(nk):
                                j = j0 + jj
                                if (has_mask and not mask[b, n, i, j]) or (causal and j > i):
                                    dprow[jj] = zero
                        if need_dbias:
                            for jj in range(nk):
                                dbias[b, n, i, j0 + jj] = dprow[jj]
                    # dV += P^T dO, dQ += dS K, dK += dS^T (scale Q)
                    _gemm(mr, dva, j0 * Dvp, Dvp, nk, Dv, pf if drop_mode != 0 else s, 0, 1, bk, dos, 0, Dvp, nq,
                          True)
                    _gemm(mr, dqa, 0, Dp, nq, D, dp, 0, bk, 1, kr, j0 * Dp, Dp, nk, True)
                    _gemm(mr, dka, j0 * Dp, Dp, nk, D, dp, 0, 1, bk, qs, 0, Dp, nq, True)
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


def _work(q, k, v):
    """Multiply-adds of the forward pass."""
    B, T, N, H = q.shape
    return B * N * T * k.shape[1] * (H + v.shape[3])


def _geometry(q, k, v, bq):
    """Rows per micro-tile, the padded key count and head sizes (whole panels), keys and queries per tile."""
    Sp = _up(k.shape[1])
    return min(MR, mr_max(q.dtype)), Sp, _up(q.shape[3]), _up(v.shape[3]), (Sp if Sp <= BK_ONE else BK), bq


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
    with one_thread(_work(q, k, v) < SERIAL_WORK):
        _forward(q, k, v, bias4, mask4, dmask4, o, lse, consts[0], consts[1], consts[2], q.dtype.type(1), consts[3],
                 has_bias, has_mask, bool(is_causal), drop_mode, rate, seed, q.dtype == np.float32,
                 *_geometry(q, k, v, BQ))
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
    with one_thread(3 * _work(q, k, v) < SERIAL_WORK):
        _backward(do, q, k, v, o, lse, bias4, mask4, dmask4, dq, dk, dv, dbias, consts[0], consts[1],
                  dtype.type(consts[1] / 2), consts[2], consts[3], recip, has_bias, has_mask, bool(is_causal),
                  drop_mode, rate, seed, bool(need_dbias), dtype == np.float32,
                  *_geometry(q, k, v, BQ_BACKWARD))
    return dq, dk, dv, (dbias if need_dbias else None)
