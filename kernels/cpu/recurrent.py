"""Fused recurrent sequences in Numba: LSTM, GRU (both reset rules) and SimpleRNN, forward and
backward through time, one kernel call per pass.

The input projection ``x W`` is one GEMM over all steps done by the caller (``xw``, shape
``(N, T, G * u)``); the input bias ``b`` is added here as each step's rows of ``xw`` load, and its
gradient (the sum of ``dxw``'s rows) is gathered per row block in the backward pass, so neither
is a separate pass over the ``(N, T, G * u)`` projections. Here each thread owns a block of batch
rows for the whole sequence (rows never interact), so there is no synchronisation per step: at
every step the block's ``h @ U`` is computed into a small ``(rows, G*u)`` buffer that stays in L1,
the gate nonlinearities and the state update are applied to it in place, and the new states are
written once. Backward walks the steps in reverse
the same way and accumulates the bias gradients (and, on request, the recurrent kernel's gradient
``dU``) into per-block partials in the same pass; the caller sums the partials. The fused ops leave
``dU`` to one GEMM over all steps, ``h_prev^T @ dz`` (faster than per-block partials).

The gate nonlinearities run on whole rows of units so LLVM vectorizes them: in float32 ``tanh`` is a
rational approximation (``_fast_tanh32``: Eigen's, saturating to +-1, within 3e-7 of the true value,
no libm call), and sigmoid is ``(1 + tanh(x / 2)) / 2``; float64 keeps libm's ``tanh``. Constants
are float32 so float32 arithmetic is not promoted to float64 (they widen exactly with float64 arrays).

Conventions (as ``gradflow.ops.recurrent``): step ``s`` is the ``s``-th processed step, reading input
time ``t = T-1-s`` with ``reverse`` (``go_backwards``) else ``t = s``; outputs are in processing order.
``keep`` (N, T) uint8 in input time order (``has_keep`` False: every step kept): at a dropped step
the states carry through unchanged, and backward passes their gradient straight to the previous
step. Gate orders are Keras's: LSTM i, f, c, o; GRU z, r, h. Each kernel sets flush-to-zero and
denormals-are-zero on its threads while it runs when ``flush`` (``_fpenv``).

The backward kernels' output gradient ``grad`` is (N, T, .) or, when only the last step's output was
used (a layer without return_sequences), (N, 1, .): the earlier steps then have none.

Every array is C-contiguous and of one float dtype (float32 or float64); outputs are fully written.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange, types
from numba.extending import overload

from ._fpenv import enter, leave
from ._gemm import FASTMATH
from ._jit import njit
from ._simd import NR_MAX, tile_rows

__all__ = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_rnn_forward",
           "simple_rnn_backward", "block_rows", "tanh_into", "sigmoid_into"]

#: batch rows a thread steps together: a row block's gates (rows x 4u) stay in L1, and each row of U
#: loaded from L2 serves every row of the block
MAX_ROWS = 8

#: the register-tile width (columns) of the recurrent GEMMs: ``h @ U`` and ``dz @ U^T`` of a row block
#: run as MR x NR_MAX outer-product tiles (``_simd``) when their column count is a multiple of it
NR = NR_MAX

ONE = np.float32(1.0)
HALF = np.float32(0.5)
ZERO = np.float32(0.0)
# Eigen's float tanh: a 13/6 rational approximation on [-CLAMP, CLAMP] (tanh is +-1 in float32 beyond)
_CLAMP = np.float32(7.90531110763549805)
_A1, _A3, _A5 = np.float32(4.89352455891786e-03), np.float32(6.37261928875436e-04), np.float32(1.48572235717979e-05)
_A7, _A9 = np.float32(5.12229709037114e-08), np.float32(-8.60467152213735e-11)
_A11, _A13 = np.float32(2.00018790482477e-13), np.float32(-2.76076847742355e-16)
_B0, _B2 = np.float32(4.89352518554385e-03), np.float32(2.26843463243900e-03)
_B4, _B6 = np.float32(1.18534705686654e-04), np.float32(1.19825839466702e-06)


def block_rows(n: int) -> int:
    """Rows per block: at most MAX_ROWS, and enough blocks for every thread."""
    threads = max(1, numba.get_num_threads())
    return max(1, min(MAX_ROWS, -(-n // threads)))


def _tanh(x):
    """tanh for the kernels (Python fallback; compiled per dtype by the overload below)."""
    return math.tanh(x)


def _fast_tanh32(x):
    y = min(max(x, -_CLAMP), _CLAMP)
    y2 = y * y
    p = y2 * _A13 + _A11
    p = y2 * p + _A9
    p = y2 * p + _A7
    p = y2 * p + _A5
    p = y2 * p + _A3
    p = y2 * p + _A1
    q = y2 * _B6 + _B4
    q = y2 * q + _B2
    q = y2 * q + _B0
    r = y * p / q
    # saturated (|x| >= CLAMP, 2.7e-7 from +-1): exactly +-1 as libm's, so sigmoid reaches 0 and 1 too
    r = ONE if x >= _CLAMP else r
    return -ONE if x <= -_CLAMP else r


@overload(_tanh, jit_options={"fastmath": FASTMATH, "error_model": "numpy"})
def _tanh_impl(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return _fast_tanh32
    return lambda x: math.tanh(x)


@njit(cache=True, inline="always")
def _sig(a):
    return HALF + HALF * _tanh(HALF * a)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def tanh_into(x, out):
    """out[:] = tanh(x[:]) as the kernels compute it (1-D arrays; for tests and tools)."""
    for i in range(x.shape[0]):
        out[i] = _tanh(x[i])


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def sigmoid_into(x, out):
    """out[:] = sigmoid(x[:]) as the kernels compute it."""
    for i in range(x.shape[0]):
        out[i] = _sig(x[i])


# -- shared pieces of the forward and backward kernels (inlined) -----------------------------------


@njit(cache=True, inline="always")
def _block(blk, rows, N):
    """The first row and row count of block ``blk``."""
    r0 = blk * rows
    return r0, min(N, r0 + rows) - r0


@njit(cache=True, inline="always")
def _time(s, T, reverse):
    return T - 1 - s if reverse else s


@njit(cache=True, inline="always")
def _kept(keep, has_keep, b, t):
    return (not has_keep) or keep[b, t] != 0


@njit(cache=True, inline="always")
def _load_rows(dst, src, r0, R):
    """dst[r, :] = src[r0 + r, :dst.shape[1]] for r < R (the initial states)."""
    for r in range(R):
        d = dst[r]
        s = src[r0 + r]
        for k in range(d.shape[0]):
            d[k] = s[k]


@njit(cache=True, inline="always")
def _step_rows(dst, src, r0, R, t, n):
    """dst[r, :n] = src[r0 + r, t, :n]: a step's input projections (or saved states) of the block."""
    for r in range(R):
        d = dst[r]
        s = src[r0 + r, t]
        for j in range(n):
            d[j] = s[j]


@njit(cache=True, inline="always")
def _step_rows_bias(dst, src, bias, r0, R, t, n):
    """dst[r, :n] = src[r0 + r, t, :n] + bias[:n]: a step's input projections plus the input bias."""
    for r in range(R):
        d = dst[r]
        s = src[r0 + r, t]
        for j in range(n):
            d[j] = s[j] + bias[j]


@njit(cache=True, inline="always")
def _add_rows(db, d, R, j0, j1):
    """db[j] += sum_r d[r, j] for j in [j0, j1): a bias gradient gathered from the block's rows."""
    for r in range(R):
        dr = d[r]
        for j in range(j0, j1):
            db[j] += dr[j]


@njit(cache=True, inline="always")
def _prev_rows(hp, out, h0, r0, R, s):
    """hp[r] = the state step ``s`` started from: out[b, s - 1, :u] (h0 at the first step)."""
    if s > 0:
        _step_rows(hp, out, r0, R, s - 1, hp.shape[1])
    else:
        _load_rows(hp, h0, r0, R)


@njit(cache=True, inline="always")
def _save_prev(hpt, out, h0, r0, R, s, t):
    """hpt[r0 + r, t] = the state step ``s`` started from (out[b, s - 1, :u], h0 at the first step):
    h_prev in input time order beside dxw's rows, for the caller's one GEMM dU = h_prev^T @ dz.
    Nothing when ``hpt`` has zero rows."""
    if hpt.shape[0] == 0:
        return
    u = hpt.shape[2]
    for r in range(R):
        b = r0 + r
        d = hpt[b, t]
        src = out[b, s - 1] if s > 0 else h0[b]
        for k in range(u):
            d[k] = src[k]


@njit(cache=True, inline="always")
def _grad_row(grad, zrow, b, s, T):
    """The output gradient of row ``b`` at step ``s``: grad[b, s], or with a one-step ``grad`` (N, 1, .)
    for T > 1 steps (only the last step's output was used) grad[b, 0] at the last step, zeros before."""
    if grad.shape[1] == T:
        return grad[b, s]
    return grad[b, 0] if s == T - 1 else zrow


@njit(cache=True, inline="always")
def _carry_rows(acc, g, r, off):
    """A dropped step: its state gradient acc[r] gathers g[off:off + u] (the step's output gradient)
    and passes on."""
    a = acc[r]
    for k in range(a.shape[0]):
        a[k] += g[off + k]


@njit(cache=True, inline="always")
def _zero_step(d, dxw, r, b, t):
    """A dropped step has no gate gradient: d[r] = 0 and dxw[b, t] = 0."""
    dr = d[r]
    dx = dxw[b, t]
    for j in range(dr.shape[0]):
        dr[j] = ZERO
        dx[j] = ZERO


@njit(cache=True, inline="always")
def _sig_range(v, j0, j1):
    """v[j] = sigmoid(v[j]) for j in [j0, j1): one array, so LLVM vectorizes it."""
    for j in range(j0, j1):
        v[j] = _sig(v[j])


@njit(cache=True, inline="always")
def _tanh_range(v, j0, j1):
    """v[j] = tanh(v[j]) for j in [j0, j1)."""
    for j in range(j0, j1):
        v[j] = _tanh(v[j])


@njit(cache=True, inline="always")
def _copy(dst, d0, src, s0, n):
    """dst[d0:d0 + n] = src[s0:s0 + n]."""
    for j in range(n):
        dst[d0 + j] = src[s0 + j]


@njit(cache=True, inline="always")
def _ld(a):
    """The row stride of a 2-D array in elements (its rows are unit-stride)."""
    return a.strides[0] // a.itemsize


@njit(cache=True, inline="always")
def _acc_rows(acc, hp, R, U, c0, c1):
    """acc[r, j - c0] += sum_k hp[r, k] * U[k, j] for j in [c0, c1), rows r < R (register tiles
    when the column count is a multiple of NR)."""
    n = c1 - c0
    if n % NR == 0:
        for p in range(n // NR):
            tile_rows(R, NR, hp, 0, _ld(hp), 0, 1, U, c0 + p * NR, 0, _ld(U), acc, p * NR, _ld(acc), 1,
                      U.shape[0], True)
        return
    for k in range(U.shape[0]):
        uk = U[k, c0:c1]
        for r in range(R):
            a = hp[r, k]
            ar = acc[r]
            for j in range(n):
                ar[j] += a * uk[j]


@njit(cache=True, inline="always")
def _back_rows(dst, d, R, Ut, j0, j1):
    """dst[r, k] += sum_{j in [j0, j1)} d[r, j] * Ut[j, k]: gradient into the previous state."""
    u = dst.shape[1]
    if u % NR == 0:
        for p in range(u // NR):
            tile_rows(R, NR, d, j0, _ld(d), 0, 1, Ut, j0 * _ld(Ut) + p * NR, 0, _ld(Ut), dst, p * NR, _ld(dst), 1,
                      j1 - j0, True)
        return
    for r in range(R):
        dr = dst[r]
        for j in range(j0, j1):
            a = d[r, j]
            uj = Ut[j]
            for k in range(dr.shape[0]):
                dr[k] += a * uj[k]


@njit(cache=True, inline="always")
def _outer_rows(dU, hp, d, R, c0, c1, j0):
    """dU[k, c0 + j] += sum_r hp[r, k] * d[r, j0 + j] for j < c1 - c0: the recurrent kernel's gradient
    (tiles of 8 rows of dU by NR columns: one load and store of dU per step, not one per batch row)."""
    n = c1 - c0
    if n % NR == 0:
        u = dU.shape[0]
        for k0 in range(0, u, 8):
            mr = min(8, u - k0)
            for p in range(n // NR):
                tile_rows(mr, NR, hp, k0, 1, 0, _ld(hp), d, j0 + p * NR, 0, _ld(d), dU, k0 * _ld(dU) + c0 + p * NR,
                          _ld(dU), 1, R, True)
        return
    for k in range(dU.shape[0]):
        uk = dU[k, c0:c1]
        for r in range(R):
            a = hp[r, k]
            dr = d[r, j0:j0 + n]
            for j in range(n):
                uk[j] += a * dr[j]


@njit(cache=True, inline="always")
def _store_grad_rows(dst, dh0, r0, R):
    """dh0[r0 + r] = dst[r]: the gradient reaching the initial state."""
    for r in range(R):
        d = dst[r]
        o = dh0[r0 + r]
        for k in range(d.shape[0]):
            o[k] = d[k]


# -- LSTM -----------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_fwd_block(blk, xw, bias, U, h0, c0, keep, has_keep, reverse, rows, out, saved, flush):
    N, T, G = xw.shape
    u = G // 4
    csr = enter(flush)
    r0, R = _block(blk, rows, N)
    z = np.empty((R, G), dtype=xw.dtype)
    hp = np.empty((R, u), dtype=xw.dtype)
    cp = np.empty((R, u), dtype=xw.dtype)
    cnew = np.empty((R, u), dtype=xw.dtype)
    tcs = np.empty((R, u), dtype=xw.dtype)
    tiled = G % NR == 0
    hpf, zf, Uf = hp.reshape(-1), z.reshape(-1), U.reshape(-1)
    _load_rows(hp, h0, r0, R)
    _load_rows(cp, c0, r0, R)
    for s in range(T):
        t = _time(s, T, reverse)
        _step_rows_bias(z, xw, bias, r0, R, t, G)
        if tiled:  # z += hp @ U in registers, NR columns at a time
            for p in range(G // NR):
                tile_rows(R, NR, hpf, 0, u, 0, 1, Uf, p * NR, 0, G, zf, p * NR, G, 1, u, True)
        else:
            _acc_rows(z, hp, R, U, 0, G)
        for r in range(R):  # simple passes over the block's private rows: each vectorizes
            b = r0 + r
            zr, hr, cr, cn, tc = z[r], hp[r], cp[r], cnew[r], tcs[r]
            _sig_range(zr, 0, 2 * u)  # i, f
            _tanh_range(zr, 2 * u, 3 * u)  # g
            _sig_range(zr, 3 * u, G)  # o
            for j in range(u):
                cn[j] = zr[u + j] * cr[j] + zr[j] * zr[2 * u + j]
            for j in range(u):
                tc[j] = _tanh(cn[j])
            if _kept(keep, has_keep, b, t):
                for j in range(u):
                    hr[j] = zr[3 * u + j] * tc[j]
                    cr[j] = cn[j]
            sv, ob = saved[b, s], out[b, s]
            _copy(sv, 0, zr, 0, G)
            _copy(sv, G, tc, 0, u)
            _copy(ob, 0, hr, 0, u)
            _copy(ob, u, cr, 0, u)
    leave(csr, flush)


@njit(parallel=True, cache=True)
def lstm_forward(xw, bias, U, h0, c0, keep, has_keep, reverse, rows, out, saved, flush):
    """out[:, s] = [h_s | c_s] (N, T, 2u); saved[:, s] = i, f, g, o, tanh(c_new) (N, T, 5u). The
    gate pre-activations are ``xw + bias + h U`` (``bias`` (4u,), zeros for none: added as xw loads)."""
    n = xw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _lstm_fwd_block(blk, xw, bias, U, h0, c0, keep, has_keep, reverse, rows, out, saved, flush)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _lstm_bwd_block(blk, grad, Ut, h0, c0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dc0, dU_parts,
                    db_parts, hpt, flush):
    N, T, G = dxw.shape
    u = G // 4
    csr = enter(flush)
    r0, R = _block(blk, rows, N)
    dz = np.empty((R, G), dtype=dxw.dtype)
    hp = np.empty((R, u), dtype=dxw.dtype)
    dh_n = np.zeros((R, u), dtype=dxw.dtype)
    zrow = np.zeros(grad.shape[2], dtype=grad.dtype)  # a step without an output gradient (_grad_row)
    dc_n = np.zeros((R, u), dtype=dxw.dtype)
    want_dU = dU_parts.shape[0] > 0
    tiled = u % NR == 0
    dxf, dhf, Utf = dxw.reshape(-1), dh_n.reshape(-1), Ut.reshape(-1)
    if want_dU:
        dU_parts[blk, :, :] = ZERO
    db = db_parts[blk]
    db[:] = ZERO
    for s in range(T - 1, -1, -1):
        t = _time(s, T, reverse)
        if want_dU:
            _prev_rows(hp, out, h0, r0, R, s)
        _save_prev(hpt, out, h0, r0, R, s, t)
        for r in range(R):
            b = r0 + r
            if not _kept(keep, has_keep, b, t):  # the states carried through: so does their gradient
                gr = _grad_row(grad, zrow, b, s, T)
                _carry_rows(dh_n, gr, r, 0)
                _carry_rows(dc_n, gr, r, u)
                _zero_step(dz, dxw, r, b, t)
                continue
            sv, gr, dzr, dz_copy = saved[b, s], _grad_row(grad, zrow, b, s, T), dxw[b, t], dz[r]
            cprev = out[b, s - 1, u:] if s > 0 else c0[b]
            dhr, dcr = dh_n[r], dc_n[r]
            for j in range(u):
                i = sv[j]
                f = sv[u + j]
                g = sv[2 * u + j]
                o = sv[3 * u + j]
                tc = sv[4 * u + j]
                dh = gr[j] + dhr[j]
                dc = gr[u + j] + dcr[j] + dh * o * (ONE - tc * tc)
                di = dc * g * i * (ONE - i)
                df = dc * cprev[j] * f * (ONE - f)
                dg = dc * i * (ONE - g * g)
                do = dh * tc * o * (ONE - o)
                dzr[j] = di
                dzr[u + j] = df
                dzr[2 * u + j] = dg
                dzr[3 * u + j] = do
                db[j] += di  # the bias gradient, in the same pass (no reduction over N * T rows after)
                db[u + j] += df
                db[2 * u + j] += dg
                db[3 * u + j] += do
                dcr[j] = dc * f
                dhr[j] = ZERO
            if want_dU or not tiled:  # the loop kernels read the block's gate gradients from dz
                for j in range(G):
                    dz_copy[j] = dzr[j]
        if tiled:  # dh_n += dz @ U^T in registers, read from dxw's rows of the block at time t
            for p in range(u // NR):
                tile_rows(R, NR, dxf, (r0 * T + t) * G, T * G, 0, 1, Utf, p * NR, 0, u, dhf, p * NR, u, 1, G, True)
        else:
            _back_rows(dh_n, dz, R, Ut, 0, G)
        if want_dU:
            _outer_rows(dU_parts[blk], hp, dz, R, 0, G, 0)
    _store_grad_rows(dh_n, dh0, r0, R)
    _store_grad_rows(dc_n, dc0, r0, R)
    leave(csr, flush)


@njit(parallel=True, cache=True)
def lstm_backward(grad, Ut, h0, c0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dc0, dU_parts, db_parts,
                  hpt, flush):
    """From the forward's ``out`` and ``saved``: dxw (N, T, 4u), dh0, dc0 (N, u), one partial dU
    (u, 4u) per row block in dU_parts (blocks, u, 4u) and one partial bias gradient (the sum of
    dxw's rows) per block in db_parts (blocks, 4u). With ``dU_parts`` of zero blocks, dU is left
    to the caller (one GEMM over all steps: ``h_prev^T @ dxw``, faster than a partial per block), and
    ``hpt`` (N, T, u) (not of zero rows) gets h_prev in input time order for it."""
    n = dxw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _lstm_bwd_block(blk, grad, Ut, h0, c0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dc0, dU_parts,
                        db_parts, hpt, flush)


# -- GRU ------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _gru_fwd_block(blk, xw, b_in, U, b_rec, has_b, reset_after, h0, keep, has_keep, reverse, rows, out, saved, flush):
    N, T, G = xw.shape
    u = G // 3
    csr = enter(flush)
    r0, R = _block(blk, rows, N)
    rec = np.empty((R, G), dtype=xw.dtype)
    hp = np.empty((R, u), dtype=xw.dtype)
    rh = np.empty((R, u), dtype=xw.dtype)
    _load_rows(hp, h0, r0, R)
    cols = G if reset_after else 2 * u
    for s in range(T):
        t = _time(s, T, reverse)
        for r in range(R):
            rr = rec[r]
            for j in range(cols):
                rr[j] = b_rec[j] if (has_b and reset_after) else ZERO
        _acc_rows(rec, hp, R, U, 0, cols)
        for r in range(R):  # z and r: sigmoid(x + b + h U) in place, one vectorized pass
            xr, rr = xw[r0 + r, t], rec[r]
            for j in range(2 * u):
                rr[j] += xr[j] + b_in[j]
            _sig_range(rr, 0, 2 * u)
        if not reset_after:  # h's recurrent part multiplies the reset state (r * h) @ U_h
            for r in range(R):
                rr, hr, rhr = rec[r], hp[r], rh[r]
                for j in range(u):
                    rhr[j] = rr[u + j] * hr[j]
                    rr[2 * u + j] = ZERO
            _acc_rows(rec[:, 2 * u:], rh, R, U, 2 * u, G)
        for r in range(R):
            b = r0 + r
            xr, rr, hr, hh = xw[b, t], rec[r], hp[r], rh[r]
            sv, ob = saved[b, s], out[b, s]
            _copy(sv, 3 * u, rr, 2 * u, u)  # the recurrent h-part, before the reset gate
            if reset_after:
                for j in range(u):
                    hh[j] = xr[2 * u + j] + b_in[2 * u + j] + rr[u + j] * rr[2 * u + j]
            else:
                for j in range(u):
                    hh[j] = xr[2 * u + j] + b_in[2 * u + j] + rr[2 * u + j]
            _tanh_range(hh, 0, u)
            if _kept(keep, has_keep, b, t):
                for j in range(u):
                    hr[j] = rr[j] * hr[j] + (ONE - rr[j]) * hh[j]
            _copy(sv, 0, rr, 0, 2 * u)
            _copy(sv, 2 * u, hh, 0, u)
            _copy(ob, 0, hr, 0, u)
    leave(csr, flush)


@njit(parallel=True, cache=True)
def gru_forward(xw, b_in, U, b_rec, has_b, reset_after, h0, keep, has_keep, reverse, rows, out, saved, flush):
    """out[:, s] = h_s (N, T, u); saved[:, s] = z, r, hh and (reset_after) the recurrent h-part
    ``(h U_h + b_h)`` (N, T, 4u; the last u unused without reset_after). ``b_in`` (3u,) is the input
    bias (zeros for none), added to xw as it loads; ``b_rec`` (3u,) is used only with reset_after
    and has_b."""
    n = xw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _gru_fwd_block(blk, xw, b_in, U, b_rec, has_b, reset_after, h0, keep, has_keep, reverse, rows, out, saved,
                       flush)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _gru_bwd_block(blk, grad, Ut, reset_after, h0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dU_parts,
                   db_parts, dbi_parts, drec, hpt, flush):
    N, T, G = dxw.shape
    u = G // 3
    csr = enter(flush)
    r0, R = _block(blk, rows, N)
    d = np.empty((R, G), dtype=dxw.dtype)  # the gradient of the recurrent pre-activations
    hp = np.empty((R, u), dtype=dxw.dtype)
    rh = np.empty((R, u), dtype=dxw.dtype)  # reset_after False: r * h_prev, then its gradient
    dh_n = np.zeros((R, u), dtype=dxw.dtype)
    zrow = np.zeros(grad.shape[2], dtype=grad.dtype)  # a step without an output gradient (_grad_row)
    kept_rows = np.empty(R, dtype=np.bool_)
    gemm_dU = reset_after and drec.shape[0] > 0  # dU left to the caller: one GEMM h_prev^T @ drec
    if not gemm_dU:
        dU_parts[blk, :, :] = ZERO
    db = db_parts[blk]
    db[:] = ZERO
    dbi = dbi_parts[blk]
    dbi[:] = ZERO
    for s in range(T - 1, -1, -1):
        t = _time(s, T, reverse)
        _prev_rows(hp, out, h0, r0, R, s)
        _save_prev(hpt, out, h0, r0, R, s, t)
        for r in range(R):
            b = r0 + r
            kept_rows[r] = _kept(keep, has_keep, b, t)
            if not kept_rows[r]:
                _carry_rows(dh_n, _grad_row(grad, zrow, b, s, T), r, 0)
                _zero_step(d, dxw, r, b, t)
                rh[r, :] = ZERO
                continue
            sv, gr, dr, dx, hr, dhr, rhr = saved[b, s], _grad_row(grad, zrow, b, s, T), d[r], dxw[b, t], hp[r], \
                dh_n[r], rh[r]
            for j in range(u):
                zg = sv[j]
                rg = sv[u + j]
                hh = sv[2 * u + j]
                dh = gr[j] + dhr[j]
                da_h = dh * (ONE - zg) * (ONE - hh * hh)
                dr[j] = dh * (hr[j] - hh) * zg * (ONE - zg)
                dx[2 * u + j] = da_h
                if reset_after:
                    dr[u + j] = da_h * sv[3 * u + j] * rg * (ONE - rg)
                    dr[2 * u + j] = da_h * rg
                else:
                    dr[2 * u + j] = da_h
                    rhr[j] = rg * hr[j]
                dhr[j] = dh * zg
        if reset_after:
            _back_rows(dh_n, d, R, Ut, 0, G)
            if gemm_dU:
                for r in range(R):
                    _copy(drec[r0 + r, t], 0, d[r], 0, G)
            else:
                _outer_rows(dU_parts[blk], hp, d, R, 0, G, 0)
            _add_rows(db, d, R, 0, G)
        else:
            _outer_rows(dU_parts[blk], rh, d, R, 2 * u, G, 2 * u)  # dU_h += (r * h)^T da_h
            rh[:, :] = ZERO  # now the gradient of r * h_prev: da_h @ U_h^T
            _back_rows(rh, d, R, Ut, 2 * u, G)
            for r in range(R):
                if kept_rows[r]:
                    sv, dr, hr, dhr, rhr = saved[r0 + r, s], d[r], hp[r], dh_n[r], rh[r]
                    for j in range(u):
                        rg = sv[u + j]
                        dr[u + j] = rhr[j] * hr[j] * rg * (ONE - rg)
                        dhr[j] += rhr[j] * rg
            _back_rows(dh_n, d, R, Ut, 0, 2 * u)
            _outer_rows(dU_parts[blk], hp, d, R, 0, 2 * u, 0)
        for r in range(R):
            if kept_rows[r]:
                dr, dx = d[r], dxw[r0 + r, t]
                for j in range(2 * u):
                    dx[j] = dr[j]
        for r in range(R):  # the input bias's gradient: the sum of dxw's rows (zero at dropped steps)
            dx = dxw[r0 + r, t]
            for j in range(G):
                dbi[j] += dx[j]
    _store_grad_rows(dh_n, dh0, r0, R)
    leave(csr, flush)


@njit(parallel=True, cache=True)
def gru_backward(grad, Ut, reset_after, h0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dU_parts,
                 db_parts, dbi_parts, drec, hpt, flush):
    """dxw (N, T, 3u), dh0 (N, u), per-block partials dU_parts (blocks, u, 3u), dbi_parts (blocks,
    3u) (the input bias's gradient: the sum of dxw's rows) and, with reset_after, db_parts (blocks,
    3u) (the recurrent bias's gradient; zeros otherwise). With reset_after and ``drec`` (N, T, 3u)
    (not of zero rows) dU is left to the caller: ``drec`` gets the recurrent pre-activations'
    gradient in input time order (zeros at dropped steps), dU = h_prev^T @ drec is one GEMM over all
    steps, and dU_parts (of zero blocks then) is not read or written. ``hpt`` (N, T, u) (not of zero
    rows) gets h_prev in input time order for that GEMM."""
    n = dxw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _gru_bwd_block(blk, grad, Ut, reset_after, h0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dU_parts,
                       db_parts, dbi_parts, drec, hpt, flush)


# -- SimpleRNN ------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _simple_rnn_fwd_block(blk, xw, bias, U, h0, keep, has_keep, reverse, rows, out, flush):
    N, T, u = xw.shape
    csr = enter(flush)
    r0, R = _block(blk, rows, N)
    a = np.empty((R, u), dtype=xw.dtype)
    hp = np.empty((R, u), dtype=xw.dtype)
    _load_rows(hp, h0, r0, R)
    for s in range(T):
        t = _time(s, T, reverse)
        _step_rows_bias(a, xw, bias, r0, R, t, u)
        _acc_rows(a, hp, R, U, 0, u)
        for r in range(R):
            b = r0 + r
            hr, ar, ob = hp[r], a[r], out[b, s]
            if _kept(keep, has_keep, b, t):
                for j in range(u):
                    hr[j] = _tanh(ar[j])
            for j in range(u):
                ob[j] = hr[j]
    leave(csr, flush)


@njit(parallel=True, cache=True)
def simple_rnn_forward(xw, bias, U, h0, keep, has_keep, reverse, rows, out, flush):
    """out[:, s] = h_s = tanh(xw_t + bias + h_{s-1} U) (carried at dropped steps), (N, T, u);
    ``bias`` (u,) (zeros for none) is added as xw loads."""
    n = xw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _simple_rnn_fwd_block(blk, xw, bias, U, h0, keep, has_keep, reverse, rows, out, flush)


@njit(cache=True, fastmath=FASTMATH, error_model="numpy")
def _simple_rnn_bwd_block(blk, grad, Ut, h0, keep, has_keep, reverse, rows, out, dxw, dh0, dU_parts, db_parts,
                          hpt, flush):
    N, T, u = dxw.shape
    csr = enter(flush)
    r0, R = _block(blk, rows, N)
    da = np.empty((R, u), dtype=dxw.dtype)
    hp = np.empty((R, u), dtype=dxw.dtype)
    dh_n = np.zeros((R, u), dtype=dxw.dtype)
    zrow = np.zeros(grad.shape[2], dtype=grad.dtype)  # a step without an output gradient (_grad_row)
    want_dU = dU_parts.shape[0] > 0
    if want_dU:
        dU_parts[blk, :, :] = ZERO
    db = db_parts[blk]
    db[:] = ZERO
    for s in range(T - 1, -1, -1):
        t = _time(s, T, reverse)
        if want_dU:
            _prev_rows(hp, out, h0, r0, R, s)
        _save_prev(hpt, out, h0, r0, R, s, t)
        for r in range(R):
            b = r0 + r
            if not _kept(keep, has_keep, b, t):
                _carry_rows(dh_n, _grad_row(grad, zrow, b, s, T), r, 0)
                _zero_step(da, dxw, r, b, t)
                continue
            ob, gr, dar, dx, dhr = out[b, s], _grad_row(grad, zrow, b, s, T), da[r], dxw[b, t], dh_n[r]
            for j in range(u):
                h = ob[j]
                g = (gr[j] + dhr[j]) * (ONE - h * h)
                dar[j] = g
                dx[j] = g
                db[j] += g
                dhr[j] = ZERO
        _back_rows(dh_n, da, R, Ut, 0, u)
        if want_dU:
            _outer_rows(dU_parts[blk], hp, da, R, 0, u, 0)
    _store_grad_rows(dh_n, dh0, r0, R)
    leave(csr, flush)


@njit(parallel=True, cache=True)
def simple_rnn_backward(grad, Ut, h0, keep, has_keep, reverse, rows, out, dxw, dh0, dU_parts, db_parts, hpt,
                        flush):
    """dxw (N, T, u), dh0 (N, u), per-block partials dU_parts (blocks, u, u) and db_parts (blocks, u)
    (the bias's gradient: the sum of dxw's rows). With ``dU_parts`` of zero blocks dU is left to the
    caller (one GEMM over all steps, ``h_prev^T @ dxw``), and ``hpt`` (N, T, u) (not of zero rows)
    gets h_prev in input time order for it."""
    n = dxw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _simple_rnn_bwd_block(blk, grad, Ut, h0, keep, has_keep, reverse, rows, out, dxw, dh0, dU_parts, db_parts,
                              hpt, flush)

