"""Fused recurrent sequences in Numba: LSTM, GRU (both reset rules) and SimpleRNN, forward and
backward through time, one kernel call per pass.

The input projection ``x W + b`` is one GEMM over all steps done by the caller (``xw``, shape
``(N, T, G * u)``). Here each thread owns a block of batch rows for the whole sequence (rows never
interact), so there is no synchronisation per step: at every step the block's ``h @ U`` is computed
into a small ``(rows, G*u)`` buffer that stays in L1, the gate nonlinearities and the state update
are applied to it in place, and the new states are written once. Backward walks the steps in reverse
the same way and accumulates the recurrent kernel's gradient ``dU`` (and GRU's recurrent bias) into a
per-block partial in the same pass; the caller sums the partials.

Conventions (as ``gradflow.ops.recurrent``): step ``s`` is the ``s``-th processed step, reading input
time ``t = T-1-s`` with ``reverse`` (``go_backwards``) else ``t = s``; outputs are in processing order.
``keep`` (N, T) uint8 in input time order (``has_keep`` False: every step kept): at a dropped step
the states carry through unchanged, and backward passes their gradient straight to the previous
step. Gate orders are Keras's: LSTM i, f, c, o; GRU z, r, h. Each kernel sets flush-to-zero and
denormals-are-zero on its threads while it runs when ``flush`` (``_fpenv``).

Every array is C-contiguous and of one float dtype (float32 or float64); outputs are fully written.
"""
from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

from . import _gemm
from ._fpenv import cache_depends, enter, leave
from ._gemm import FASTMATH

__all__ = ["lstm_forward", "lstm_backward", "gru_forward", "gru_backward", "simple_rnn_forward",
           "simple_rnn_backward", "block_rows"]

#: batch rows a thread steps together: a row block's gates (rows x 4u) stay in L1, and each row of U
#: loaded from L2 serves every row of the block
MAX_ROWS = 8


def block_rows(n: int) -> int:
    """Rows per block: at most MAX_ROWS, and enough blocks for every thread."""
    threads = max(1, numba.get_num_threads())
    return max(1, min(MAX_ROWS, -(-n // threads)))


@njit(cache=True)
def _sig(a):
    return 0.5 * (1.0 + math.tanh(0.5 * a))


@njit(cache=True)
def _time(s, T, reverse):
    return T - 1 - s if reverse else s


@njit(cache=True)
def _kept(keep, has_keep, b, t):
    return (not has_keep) or keep[b, t] != 0


@njit(cache=True)
def _acc_rows(acc, hp, R, U, c0, c1):
    """acc[r, j - c0] += sum_k hp[r, k] * U[k, j] for j in [c0, c1), rows r < R."""
    for k in range(U.shape[0]):
        for r in range(R):
            a = hp[r, k]
            for j in range(c0, c1):
                acc[r, j - c0] += a * U[k, j]


@njit(cache=True)
def _back_rows(dst, d, R, Ut, j0, j1):
    """dst[r, k] += sum_{j in [j0, j1)} d[r, j] * Ut[j, k]: gradient into the previous state."""
    for j in range(j0, j1):
        for r in range(R):
            a = d[r, j]
            for k in range(Ut.shape[1]):
                dst[r, k] += a * Ut[j, k]


@njit(cache=True)
def _outer_rows(dU, hp, d, R, c0, c1, j0):
    """dU[k, c0 + j] += sum_r hp[r, k] * d[r, j0 + j] for j < c1 - c0: the recurrent kernel's gradient."""
    for k in range(dU.shape[0]):
        for r in range(R):
            a = hp[r, k]
            for j in range(c1 - c0):
                dU[k, c0 + j] += a * d[r, j0 + j]


# -- LSTM -----------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH)
def _lstm_fwd_block(blk, xw, U, h0, c0, keep, has_keep, reverse, rows, out, saved, flush):
    N, T, G = xw.shape
    u = G // 4
    csr = enter(flush)
    r0 = blk * rows
    R = min(N, r0 + rows) - r0
    z = np.empty((R, G), dtype=xw.dtype)
    hp = np.empty((R, u), dtype=xw.dtype)
    cp = np.empty((R, u), dtype=xw.dtype)
    for r in range(R):
        for k in range(u):
            hp[r, k] = h0[r0 + r, k]
            cp[r, k] = c0[r0 + r, k]
    for s in range(T):
        t = _time(s, T, reverse)
        for r in range(R):
            for j in range(G):
                z[r, j] = xw[r0 + r, t, j]
        _acc_rows(z, hp, R, U, 0, G)
        for r in range(R):
            b = r0 + r
            kept = _kept(keep, has_keep, b, t)
            for j in range(u):
                i = _sig(z[r, j])
                f = _sig(z[r, u + j])
                g = math.tanh(z[r, 2 * u + j])
                o = _sig(z[r, 3 * u + j])
                c = f * cp[r, j] + i * g
                tc = math.tanh(c)
                saved[b, s, j] = i
                saved[b, s, u + j] = f
                saved[b, s, 2 * u + j] = g
                saved[b, s, 3 * u + j] = o
                saved[b, s, 4 * u + j] = tc
                if kept:
                    hp[r, j] = o * tc
                    cp[r, j] = c
                out[b, s, j] = hp[r, j]
                out[b, s, u + j] = cp[r, j]
    leave(csr, flush)


@njit(parallel=True, cache=True)
def lstm_forward(xw, U, h0, c0, keep, has_keep, reverse, rows, out, saved, flush):
    """out[:, s] = [h_s | c_s] (N, T, 2u); saved[:, s] = i, f, g, o, tanh(c_new) (N, T, 5u)."""
    n = xw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _lstm_fwd_block(blk, xw, U, h0, c0, keep, has_keep, reverse, rows, out, saved, flush)


@njit(cache=True, fastmath=FASTMATH)
def _lstm_bwd_block(blk, grad, Ut, h0, c0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dc0, dU_parts, flush):
    N, T, G = dxw.shape
    u = G // 4
    csr = enter(flush)
    r0 = blk * rows
    R = min(N, r0 + rows) - r0
    dz = np.empty((R, G), dtype=dxw.dtype)
    hp = np.empty((R, u), dtype=dxw.dtype)
    dh_n = np.zeros((R, u), dtype=dxw.dtype)
    dc_n = np.zeros((R, u), dtype=dxw.dtype)
    dU = dU_parts[blk]
    dU[:, :] = 0.0
    for s in range(T - 1, -1, -1):
        t = _time(s, T, reverse)
        for r in range(R):
            b = r0 + r
            for k in range(u):
                hp[r, k] = out[b, s - 1, k] if s > 0 else h0[b, k]
            if not _kept(keep, has_keep, b, t):  # the states carried through: so does their gradient
                for k in range(u):
                    dh_n[r, k] += grad[b, s, k]
                    dc_n[r, k] += grad[b, s, u + k]
                for j in range(G):
                    dz[r, j] = 0.0
                    dxw[b, t, j] = 0.0
                continue
            for j in range(u):
                c_prev = out[b, s - 1, u + j] if s > 0 else c0[b, j]
                i = saved[b, s, j]
                f = saved[b, s, u + j]
                g = saved[b, s, 2 * u + j]
                o = saved[b, s, 3 * u + j]
                tc = saved[b, s, 4 * u + j]
                dh = grad[b, s, j] + dh_n[r, j]
                dc = grad[b, s, u + j] + dc_n[r, j] + dh * o * (1.0 - tc * tc)
                dz[r, j] = dc * g * i * (1.0 - i)
                dz[r, u + j] = dc * c_prev * f * (1.0 - f)
                dz[r, 2 * u + j] = dc * i * (1.0 - g * g)
                dz[r, 3 * u + j] = dh * tc * o * (1.0 - o)
                dc_n[r, j] = dc * f
                dh_n[r, j] = 0.0
            for j in range(G):
                dxw[b, t, j] = dz[r, j]
        _back_rows(dh_n, dz, R, Ut, 0, G)
        _outer_rows(dU, hp, dz, R, 0, G, 0)
    for r in range(R):
        for k in range(u):
            dh0[r0 + r, k] = dh_n[r, k]
            dc0[r0 + r, k] = dc_n[r, k]
    leave(csr, flush)


@njit(parallel=True, cache=True)
def lstm_backward(grad, Ut, h0, c0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dc0, dU_parts, flush):
    """From the forward's ``out`` and ``saved``: dxw (N, T, 4u), dh0, dc0 (N, u), and one partial dU
    (u, 4u) per row block in dU_parts (blocks, u, 4u)."""
    n = dxw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _lstm_bwd_block(blk, grad, Ut, h0, c0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dc0, dU_parts,
                        flush)



# -- GRU ------------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH)
def _gru_fwd_block(blk, xw, U, b_rec, has_b, reset_after, h0, keep, has_keep, reverse, rows, out, saved, flush):
    N, T, G = xw.shape
    u = G // 3
    csr = enter(flush)
    r0 = blk * rows
    R = min(N, r0 + rows) - r0
    rec = np.empty((R, G), dtype=xw.dtype)
    hp = np.empty((R, u), dtype=xw.dtype)
    rh = np.empty((R, u), dtype=xw.dtype)
    for r in range(R):
        for k in range(u):
            hp[r, k] = h0[r0 + r, k]
    for s in range(T):
        t = _time(s, T, reverse)
        cols = G if reset_after else 2 * u
        for r in range(R):
            for j in range(cols):
                rec[r, j] = b_rec[j] if (has_b and reset_after) else 0.0
        _acc_rows(rec, hp, R, U, 0, cols)
        if not reset_after:  # h's recurrent part multiplies the reset state (r * h) @ U_h
            for r in range(R):
                b = r0 + r
                for j in range(u):
                    rg = _sig(xw[b, t, u + j] + rec[r, u + j])
                    rh[r, j] = rg * hp[r, j]
                    rec[r, 2 * u + j] = 0.0
            for k in range(u):
                for r in range(R):
                    a = rh[r, k]
                    for j in range(u):
                        rec[r, 2 * u + j] += a * U[k, 2 * u + j]
        for r in range(R):
            b = r0 + r
            kept = _kept(keep, has_keep, b, t)
            for j in range(u):
                zg = _sig(xw[b, t, j] + rec[r, j])
                rg = _sig(xw[b, t, u + j] + rec[r, u + j])
                if reset_after:
                    hh = math.tanh(xw[b, t, 2 * u + j] + rg * rec[r, 2 * u + j])
                else:
                    hh = math.tanh(xw[b, t, 2 * u + j] + rec[r, 2 * u + j])
                saved[b, s, j] = zg
                saved[b, s, u + j] = rg
                saved[b, s, 2 * u + j] = hh
                saved[b, s, 3 * u + j] = rec[r, 2 * u + j]
                if kept:
                    rh[r, j] = zg * hp[r, j] + (1.0 - zg) * hh
                else:
                    rh[r, j] = hp[r, j]
            for j in range(u):
                hp[r, j] = rh[r, j]
                out[b, s, j] = rh[r, j]
    leave(csr, flush)


@njit(parallel=True, cache=True)
def gru_forward(xw, U, b_rec, has_b, reset_after, h0, keep, has_keep, reverse, rows, out, saved, flush):
    """out[:, s] = h_s (N, T, u); saved[:, s] = z, r, hh and (reset_after) the recurrent h-part
    ``(h U_h + b_h)`` (N, T, 4u; the last u unused without reset_after). ``b_rec`` (3u,) is used
    only with reset_after and has_b (the input bias is in xw)."""
    n = xw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _gru_fwd_block(blk, xw, U, b_rec, has_b, reset_after, h0, keep, has_keep, reverse, rows, out, saved, flush)


@njit(cache=True, fastmath=FASTMATH)
def _gru_bwd_block(blk, grad, Ut, reset_after, h0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dU_parts,
                 db_parts, flush):
    N, T, G = dxw.shape
    u = G // 3
    csr = enter(flush)
    r0 = blk * rows
    R = min(N, r0 + rows) - r0
    d = np.empty((R, G), dtype=dxw.dtype)  # the gradient of the recurrent pre-activations
    hp = np.empty((R, u), dtype=dxw.dtype)
    rh = np.empty((R, u), dtype=dxw.dtype)  # reset_after False: r * h_prev, then its gradient
    dh_n = np.zeros((R, u), dtype=dxw.dtype)
    kept_rows = np.empty(R, dtype=np.bool_)
    dU = dU_parts[blk]
    dU[:, :] = 0.0
    db = db_parts[blk]
    db[:] = 0.0
    for s in range(T - 1, -1, -1):
        t = _time(s, T, reverse)
        for r in range(R):
            b = r0 + r
            for k in range(u):
                hp[r, k] = out[b, s - 1, k] if s > 0 else h0[b, k]
            kept_rows[r] = _kept(keep, has_keep, b, t)
            if not kept_rows[r]:
                for k in range(u):
                    dh_n[r, k] += grad[b, s, k]
                    rh[r, k] = 0.0
                for j in range(G):
                    d[r, j] = 0.0
                    dxw[b, t, j] = 0.0
                continue
            for j in range(u):
                zg = saved[b, s, j]
                rg = saved[b, s, u + j]
                hh = saved[b, s, 2 * u + j]
                dh = grad[b, s, j] + dh_n[r, j]
                da_h = dh * (1.0 - zg) * (1.0 - hh * hh)
                d[r, j] = dh * (hp[r, j] - hh) * zg * (1.0 - zg)
                dxw[b, t, 2 * u + j] = da_h
                if reset_after:
                    d[r, u + j] = da_h * saved[b, s, 3 * u + j] * rg * (1.0 - rg)
                    d[r, 2 * u + j] = da_h * rg
                else:
                    d[r, 2 * u + j] = da_h
                    rh[r, j] = rg * hp[r, j]
                dh_n[r, j] = dh * zg
        if reset_after:
            _back_rows(dh_n, d, R, Ut, 0, G)
            _outer_rows(dU, hp, d, R, 0, G, 0)
            for r in range(R):
                for j in range(G):
                    db[j] += d[r, j]
        else:
            _outer_rows(dU, rh, d, R, 2 * u, G, 2 * u)  # dU_h += (r * h)^T da_h
            for r in range(R):  # the gradient of r * h_prev: da_h @ U_h^T
                for k in range(u):
                    rh[r, k] = 0.0
            _back_rows(rh, d, R, Ut, 2 * u, G)
            for r in range(R):
                if kept_rows[r]:
                    b = r0 + r
                    for j in range(u):
                        rg = saved[b, s, u + j]
                        d[r, u + j] = rh[r, j] * hp[r, j] * rg * (1.0 - rg)
                        dh_n[r, j] += rh[r, j] * rg
            _back_rows(dh_n, d, R, Ut, 0, 2 * u)
            _outer_rows(dU, hp, d, R, 0, 2 * u, 0)
        for r in range(R):
            if kept_rows[r]:
                b = r0 + r
                for j in range(2 * u):
                    dxw[b, t, j] = d[r, j]
    for r in range(R):
        for k in range(u):
            dh0[r0 + r, k] = dh_n[r, k]
    leave(csr, flush)


@njit(parallel=True, cache=True)
def gru_backward(grad, Ut, reset_after, h0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dU_parts,
                 db_parts, flush):
    """dxw (N, T, 3u), dh0 (N, u), per-block partials dU_parts (blocks, u, 3u) and, with reset_after,
    db_parts (blocks, 3u) (the recurrent bias's gradient; zeros otherwise)."""
    n = dxw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _gru_bwd_block(blk, grad, Ut, reset_after, h0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dU_parts,
                 db_parts, flush)



# -- SimpleRNN ------------------------------------------------------------------------------------


@njit(cache=True, fastmath=FASTMATH)
def _simple_rnn_fwd_block(blk, xw, U, h0, keep, has_keep, reverse, rows, out, flush):
    N, T, u = xw.shape
    csr = enter(flush)
    r0 = blk * rows
    R = min(N, r0 + rows) - r0
    a = np.empty((R, u), dtype=xw.dtype)
    hp = np.empty((R, u), dtype=xw.dtype)
    for r in range(R):
        for k in range(u):
            hp[r, k] = h0[r0 + r, k]
    for s in range(T):
        t = _time(s, T, reverse)
        for r in range(R):
            for j in range(u):
                a[r, j] = xw[r0 + r, t, j]
        _acc_rows(a, hp, R, U, 0, u)
        for r in range(R):
            b = r0 + r
            if _kept(keep, has_keep, b, t):
                for j in range(u):
                    hp[r, j] = math.tanh(a[r, j])
            for j in range(u):
                out[b, s, j] = hp[r, j]
    leave(csr, flush)


@njit(parallel=True, cache=True)
def simple_rnn_forward(xw, U, h0, keep, has_keep, reverse, rows, out, flush):
    """out[:, s] = h_s = tanh(xw_t + h_{s-1} U) (carried at dropped steps), (N, T, u)."""
    n = xw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _simple_rnn_fwd_block(blk, xw, U, h0, keep, has_keep, reverse, rows, out, flush)


@njit(cache=True, fastmath=FASTMATH)
def _simple_rnn_bwd_block(blk, grad, Ut, h0, keep, has_keep, reverse, rows, out, dxw, dh0, dU_parts, flush):
    N, T, u = dxw.shape
    csr = enter(flush)
    r0 = blk * rows
    R = min(N, r0 + rows) - r0
    da = np.empty((R, u), dtype=dxw.dtype)
    hp = np.empty((R, u), dtype=dxw.dtype)
    dh_n = np.zeros((R, u), dtype=dxw.dtype)
    dU = dU_parts[blk]
    dU[:, :] = 0.0
    for s in range(T - 1, -1, -1):
        t = _time(s, T, reverse)
        for r in range(R):
            b = r0 + r
            for k in range(u):
                hp[r, k] = out[b, s - 1, k] if s > 0 else h0[b, k]
            if not _kept(keep, has_keep, b, t):
                for k in range(u):
                    dh_n[r, k] += grad[b, s, k]
                    da[r, k] = 0.0
                    dxw[b, t, k] = 0.0
                continue
            for j in range(u):
                h = out[b, s, j]
                g = (grad[b, s, j] + dh_n[r, j]) * (1.0 - h * h)
                da[r, j] = g
                dxw[b, t, j] = g
                dh_n[r, j] = 0.0
        _back_rows(dh_n, da, R, Ut, 0, u)
        _outer_rows(dU, hp, da, R, 0, u, 0)
    for r in range(R):
        for k in range(u):
            dh0[r0 + r, k] = dh_n[r, k]
    leave(csr, flush)


@njit(parallel=True, cache=True)
def simple_rnn_backward(grad, Ut, h0, keep, has_keep, reverse, rows, out, dxw, dh0, dU_parts, flush):
    """dxw (N, T, u), dh0 (N, u) and per-block partials dU_parts (blocks, u, u)."""
    n = dxw.shape[0]
    for blk in prange((n + rows - 1) // rows):
        _simple_rnn_bwd_block(blk, grad, Ut, h0, keep, has_keep, reverse, rows, out, dxw, dh0, dU_parts, flush)


# Numba's disk cache would keep these kernels' code across a change to the MXCSR helpers they inline
# (or to FASTMATH): key every kernel of this file by those sources too
CACHE_DEPS = cache_depends([f for f in list(globals().values()) if isinstance(f, numba.core.registry.CPUDispatcher)],
                           [_gemm.__file__])
