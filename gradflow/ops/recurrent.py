"""Fused recurrent sequences: a whole LSTM, GRU or SimpleRNN pass over time as one autograd node.

On NumPy arrays of float32/float64 (kernels ``auto`` or ``numba``, Numba installed) forward and
backward are each one call of the fused Numba kernels in ``gradflow.kernels.cpu.recurrent``: the
step's ``h @ U``, the gate nonlinearities and the state update run together per block of batch rows,
and backward through time accumulates ``dU`` in the same pass. In float32 their gate nonlinearities
use a vectorizable rational ``tanh`` (sigmoid through it) within 3e-7 of the exact value.
Elsewhere (CuPy, the numpy/reference kernel choice, a recurrent-dropout ``mask``, other dtypes)
forward walks the steps with the dispatched matmul kernel for ``h @ U`` and keeps the gates;
backward walks them in reverse and computes the recurrent kernel's gradient as one matmul over
all steps at the end. The input projection ``x W`` stays outside (one matmul over
``batch * steps``), so its gradient is ordinary autograd. The input bias may come in as ``bias``
(or already added to ``xw``): the fused kernels add it as they load ``xw`` and gather its gradient
in the backward pass, so it costs no separate pass over the ``(N, T, G u)`` projections.

* ``lstm_sequence(xw, U, h0, c0, mask, reverse, step_mask, bias=None)`` -> ``[h_t | c_t]`` for
  every processed step, shape ``(N, T, 2u)`` (Keras's gate order i, f, c, o; tanh and sigmoid);
* ``gru_sequence(xw, U, b_rec, h0, mask, reverse, step_mask, reset_after=True, bias=None)`` ->
  ``h_t`` ``(N, T, u)`` (gates z, r, h; Keras 3's reset_after rule ``r * (h U_h + b_rec_h)``, or
  with ``reset_after=False`` ``(r * h) U_h``, where ``b_rec`` must be None);
* ``simple_rnn_sequence(xw, U, h0, mask, reverse, step_mask, bias=None)`` -> ``h_t = tanh(xw_t +
  bias + h U)`` ``(N, T, u)`` (not exported from ``gradflow.ops``: SimpleRNN's own fused path).

``mask`` is the recurrent-dropout mask applied to ``h`` before ``h @ U`` (or None); ``reverse``
processes the steps last to first (``go_backwards``), outputs in processing order as Keras.
``step_mask`` (batch, T) booleans in input order (or None): at a masked step the states carry
through unchanged (Keras's ``mask``); the layer derives its masked outputs from the carried states.
"""
from __future__ import annotations

import numpy as np

from .. import config
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend
from ._kernel import kernel, optional_kernels

__all__ = ["lstm_sequence", "gru_sequence", "simple_rnn_sequence"]

_FUSED_MODULE = "gradflow.kernels.cpu.recurrent"


def _fused(*arrays):
    """The Numba recurrent kernels when they apply to ``arrays`` (NumPy, one float32/float64 dtype,
    kernels ``auto``/``numba``, not the reference backend), else None (the step-by-step path)."""
    if config.kernels not in ("auto", "numba") or get_backend().name == "reference":
        return None
    dtype = arrays[0].dtype
    if dtype not in (np.float32, np.float64) or not all(type(a) is np.ndarray and a.dtype == dtype
                                                            for a in arrays):
        return None
    return optional_kernels(_FUSED_MODULE)


def _c(a):
    return np.ascontiguousarray(a)


def _keep(step_mask, n, t):
    """(uint8 keep array, has_keep) for the kernels."""
    if step_mask is None:
        return np.ones((1, 1), dtype=np.uint8), False
    return _c(np.broadcast_to(step_mask, (n, t))).view(np.uint8), True


def _sigmoid(xp, a):
    return 0.5 * (1.0 + xp.tanh(0.5 * a))


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _last(out, last):
    """The op's output: every step's (N, T, .), or with ``last`` only the last step's (N, .)."""
    return out[:, -1].copy() if last else out


def _full_grad(grad, last, T):
    """The output gradient as (N, T, .) for the step path (zeros before the last step with ``last``)."""
    if not last:
        return grad
    full = array_module(grad).zeros((grad.shape[0], T) + grad.shape[1:], dtype=grad.dtype)
    full[:, -1] = grad
    return full


def _kernel_grad(grad, last, dtype):
    """The output gradient for the backward kernels: C-contiguous, (N, 1, .) with ``last``."""
    grad = _c(grad.astype(dtype, copy=False))
    return grad.reshape(grad.shape[0], 1, grad.shape[1]) if last else grad


def _opt(*arrays):
    """The arrays that are not None (the optional biases, for ``_fused``)."""
    return tuple(a for a in arrays if a is not None)


def _bias_or_zeros(bias, n, dtype):
    """The kernels' bias argument: ``bias`` C-contiguous, or zeros (n,) for none."""
    return _c(bias) if bias is not None else np.zeros(n, dtype=dtype)


def _bias_grad(parts, bias):
    """The bias gradient from the kernels' per-block partials (None without a bias)."""
    return parts.sum(axis=0) if bias is not None else None


class LSTMSequence(Function):
    @staticmethod
    def forward(ctx, xw, U, h0, c0, mask, reverse, step_mask=None, bias=None, last=False):
        ctx.last = last
        K = _fused(xw, U, h0, c0, *_opt(bias)) if mask is None else None
        if K is not None:
            return _last(_lstm_fused_forward(ctx, K, xw, U, h0, c0, reverse, step_mask, bias), last)
        ctx.fused = None
        ctx.has_bias = bias is not None
        xp = array_module(xw)
        if bias is not None:
            xw = xw + bias
        N, T, four_u = xw.shape
        u = four_u // 4
        mm = kernel("matmul", xw)
        out = xp.empty((N, T, 2 * u), dtype=xw.dtype)
        gates = xp.empty((T, N, four_u), dtype=xw.dtype)  # i, f, g, o per processed step
        tcs = xp.empty((T, N, u), dtype=xw.dtype)
        hms = xp.empty((T, N, u), dtype=xw.dtype)  # the (masked) h each step multiplied by U
        cs_prev = xp.empty((T, N, u), dtype=xw.dtype)
        h, c = h0, c0
        for s, t in enumerate(_steps(T, reverse)):
            hm = h * mask if mask is not None else h
            z = xw[:, t] + mm(xp.ascontiguousarray(hm), U)
            i, f, o = _sigmoid(xp, z[:, :u]), _sigmoid(xp, z[:, u:2 * u]), _sigmoid(xp, z[:, 3 * u:])
            g = xp.tanh(z[:, 2 * u:3 * u])
            cs_prev[s], hms[s] = c, hm
            c_new = f * c + i * g
            tc = xp.tanh(c_new)
            h_new = o * tc
            if step_mask is not None:
                keep = step_mask[:, t:t + 1]
                h, c = xp.where(keep, h_new, h), xp.where(keep, c_new, c)
            else:
                h, c = h_new, c_new
            gates[s, :, :u], gates[s, :, u:2 * u], gates[s, :, 2 * u:3 * u], gates[s, :, 3 * u:] = i, f, g, o
            tcs[s] = tc
            out[:, s, :u], out[:, s, u:] = h, c
        ctx.saved = (gates, tcs, hms, cs_prev, U, mask, reverse, step_mask)
        return _last(out, last)

    @staticmethod
    def backward(ctx, grad):
        if ctx.fused is not None:
            return _lstm_fused_backward(ctx, grad)
        gates, tcs, hms, cs_prev, U, mask, reverse, step_mask = ctx.saved
        grad = _full_grad(grad, ctx.last, gates.shape[0])
        xp = array_module(grad)
        T, N, four_u = gates.shape
        u = four_u // 4
        mm = kernel("matmul", grad)
        dxw = xp.empty((N, T, four_u), dtype=grad.dtype)
        dzs = xp.empty((T, N, four_u), dtype=grad.dtype)
        Ut = xp.ascontiguousarray(U.T)
        dh_next = xp.zeros((N, u), dtype=grad.dtype)
        dc_next = xp.zeros((N, u), dtype=grad.dtype)
        order = list(_steps(T, reverse))
        for s in range(T - 1, -1, -1):
            i, f, g, o = (gates[s, :, k * u:(k + 1) * u] for k in range(4))
            tc = tcs[s]
            dh = grad[:, s, :u] + dh_next
            dc = grad[:, s, u:] + dc_next
            dh_carry = dc_carry = None
            if step_mask is not None:  # a masked step passes the gradient straight to the previous states
                keep = step_mask[:, order[s]:order[s] + 1]
                dh_carry, dc_carry = xp.where(keep, 0, dh), xp.where(keep, 0, dc)
                dh, dc = xp.where(keep, dh, 0), xp.where(keep, dc, 0)
            dc = dc + dh * o * (1.0 - tc * tc)
            dz = dzs[s]
            dz[:, :u] = dc * g * i * (1.0 - i)
            dz[:, u:2 * u] = dc * cs_prev[s] * f * (1.0 - f)
            dz[:, 2 * u:3 * u] = dc * i * (1.0 - g * g)
            dz[:, 3 * u:] = dh * tc * o * (1.0 - o)
            dxw[:, order[s]] = dz
            dhm = mm(dz, Ut)
            dh_next = dhm * mask if mask is not None else dhm
            dc_next = dc * f
            if dh_carry is not None:
                dh_next, dc_next = dh_next + dh_carry, dc_next + dc_carry
        dU = mm(xp.ascontiguousarray(hms.reshape(T * N, u).T), dzs.reshape(T * N, four_u))
        db = dxw.sum(axis=(0, 1)) if ctx.has_bias else None
        return dxw, dU, dh_next, dc_next, None, None, None, db, None


class GRUSequence(Function):
    @staticmethod
    def forward(ctx, xw, U, b_rec, h0, mask, reverse, step_mask=None, reset_after=True, bias=None, last=False):
        if not reset_after and b_rec is not None:
            raise ValueError("gru_sequence: with reset_after=False the recurrent bias b_rec must be None (the "
                             "whole bias goes into xw or bias)")
        ctx.last = last
        K = _fused(xw, U, h0, *_opt(b_rec, bias)) if mask is None else None
        if K is not None:
            return _last(_gru_fused_forward(ctx, K, xw, U, b_rec, h0, reverse, step_mask, reset_after, bias), last)
        ctx.fused = None
        ctx.has_bias = bias is not None
        xp = array_module(xw)
        if bias is not None:
            xw = xw + bias
        N, T, three_u = xw.shape
        u = three_u // 3
        mm = kernel("matmul", xw)
        out = xp.empty((N, T, u), dtype=xw.dtype)
        saved = xp.empty((T, N, 4 * u), dtype=xw.dtype)  # z, r, hh, rec_h per processed step
        hms = xp.empty((T, N, u), dtype=xw.dtype)
        hs_prev = xp.empty((T, N, u), dtype=xw.dtype)
        h = h0
        for s, t in enumerate(_steps(T, reverse)):
            hm = h * mask if mask is not None else h
            x_t = xw[:, t]
            if reset_after:
                rec = mm(xp.ascontiguousarray(hm), U)
                if b_rec is not None:
                    rec = rec + b_rec
            else:
                rec = xp.empty((N, three_u), dtype=xw.dtype)
                rec[:, :2 * u] = mm(xp.ascontiguousarray(hm), xp.ascontiguousarray(U[:, :2 * u]))
            z = _sigmoid(xp, x_t[:, :u] + rec[:, :u])
            r = _sigmoid(xp, x_t[:, u:2 * u] + rec[:, u:2 * u])
            if not reset_after:  # the reset gate applies to the state before the matmul
                rec[:, 2 * u:] = mm(xp.ascontiguousarray(r * hm), xp.ascontiguousarray(U[:, 2 * u:]))
                hh = xp.tanh(x_t[:, 2 * u:] + rec[:, 2 * u:])
            else:
                hh = xp.tanh(x_t[:, 2 * u:] + r * rec[:, 2 * u:])
            hs_prev[s], hms[s] = h, hm
            h_new = z * h + (1.0 - z) * hh
            h = xp.where(step_mask[:, t:t + 1], h_new, h) if step_mask is not None else h_new
            saved[s, :, :u], saved[s, :, u:2 * u], saved[s, :, 2 * u:3 * u], saved[s, :, 3 * u:] = z, r, hh, \
                rec[:, 2 * u:]
            out[:, s] = h
        ctx.saved = (saved, hms, hs_prev, U, mask, reverse, b_rec is not None, step_mask, reset_after)
        return _last(out, last)

    @staticmethod
    def backward(ctx, grad):
        if ctx.fused is not None:
            return _gru_fused_backward(ctx, grad)
        saved, hms, hs_prev, U, mask, reverse, has_b, step_mask, reset_after = ctx.saved
        grad = _full_grad(grad, ctx.last, saved.shape[0])
        xp = array_module(grad)
        T, N, four_u = saved.shape
        u = four_u // 4
        mm = kernel("matmul", grad)
        dxw = xp.empty((N, T, 3 * u), dtype=grad.dtype)
        drecs = xp.empty((T, N, 3 * u), dtype=grad.dtype)
        Ut = xp.ascontiguousarray(U.T)
        dh_next = xp.zeros((N, u), dtype=grad.dtype)
        rhms = None if reset_after else xp.empty_like(hms)
        order = list(_steps(T, reverse))
        for s in range(T - 1, -1, -1):
            z, r, hh, rec_h = (saved[s, :, k * u:(k + 1) * u] for k in range(4))
            dh = grad[:, s] + dh_next
            dh_carry = None
            if step_mask is not None:  # a masked step passes the gradient straight to the previous state
                keep = step_mask[:, order[s]:order[s] + 1]
                dh_carry, dh = xp.where(keep, 0, dh), xp.where(keep, dh, 0)
            dz = dh * (hs_prev[s] - hh) * z * (1.0 - z)
            da_h = dh * (1.0 - z) * (1.0 - hh * hh)
            t = order[s]
            drec = drecs[s]
            if reset_after:
                da_r = da_h * rec_h * r * (1.0 - r)
                drec[:, :u], drec[:, u:2 * u], drec[:, 2 * u:] = dz, da_r, da_h * r
                dhm = mm(drec, Ut)
            else:  # rec_h is unused; h's part of U multiplied r * hm
                d_rh = mm(xp.ascontiguousarray(da_h), xp.ascontiguousarray(Ut[2 * u:]))
                da_r = d_rh * hms[s] * r * (1.0 - r)
                drec[:, :u], drec[:, u:2 * u], drec[:, 2 * u:] = dz, da_r, da_h
                dhm = mm(xp.ascontiguousarray(drec[:, :2 * u]), xp.ascontiguousarray(Ut[:2 * u])) + d_rh * r
                rhms[s] = r * hms[s]  # the h-part's input, for dU below
            dxw[:, t, :u], dxw[:, t, u:2 * u], dxw[:, t, 2 * u:] = dz, da_r, da_h
            dh_next = dh * z + (dhm * mask if mask is not None else dhm)
            if dh_carry is not None:
                dh_next = dh_next + dh_carry
        flat = drecs.reshape(T * N, 3 * u)
        if reset_after:
            dU = mm(xp.ascontiguousarray(hms.reshape(T * N, u).T), flat)
        else:  # z and r multiplied hm, h's part r * hm
            dU = xp.concatenate([mm(xp.ascontiguousarray(hms.reshape(T * N, u).T), xp.ascontiguousarray(
                flat[:, :2 * u])), mm(xp.ascontiguousarray(rhms.reshape(T * N, u).T),
                                      xp.ascontiguousarray(flat[:, 2 * u:]))], axis=1)
        db = flat.sum(axis=0) if has_b else None
        db_in = dxw.sum(axis=(0, 1)) if ctx.has_bias else None
        return dxw, dU, db, dh_next, None, None, None, None, db_in, None


class SimpleRNNSequence(Function):
    @staticmethod
    def forward(ctx, xw, U, h0, mask, reverse, step_mask=None, bias=None):
        K = _fused(xw, U, h0, *_opt(bias)) if mask is None else None
        if K is not None:
            return _simple_fused_forward(ctx, K, xw, U, h0, reverse, step_mask, bias)
        ctx.fused = None
        ctx.has_bias = bias is not None
        xp = array_module(xw)
        if bias is not None:
            xw = xw + bias
        N, T, u = xw.shape
        mm = kernel("matmul", xw)
        out = xp.empty((N, T, u), dtype=xw.dtype)
        hms = xp.empty((T, N, u), dtype=xw.dtype)
        h = h0
        for s, t in enumerate(_steps(T, reverse)):
            hm = h * mask if mask is not None else h
            hms[s] = hm
            h_new = xp.tanh(xw[:, t] + mm(xp.ascontiguousarray(hm), U))
            h = xp.where(step_mask[:, t:t + 1], h_new, h) if step_mask is not None else h_new
            out[:, s] = h
        ctx.saved = (out, hms, U, mask, reverse, step_mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        if ctx.fused is not None:
            return _simple_fused_backward(ctx, grad)
        out, hms, U, mask, reverse, step_mask = ctx.saved
        xp = array_module(grad)
        N, T, u = out.shape
        mm = kernel("matmul", grad)
        dxw = xp.empty((N, T, u), dtype=grad.dtype)
        das = xp.empty((T, N, u), dtype=grad.dtype)
        Ut = xp.ascontiguousarray(U.T)
        dh_next = xp.zeros((N, u), dtype=grad.dtype)
        order = list(_steps(T, reverse))
        for s in range(T - 1, -1, -1):
            dh = grad[:, s] + dh_next
            dh_carry = None
            if step_mask is not None:
                keep = step_mask[:, order[s]:order[s] + 1]
                dh_carry, dh = xp.where(keep, 0, dh), xp.where(keep, dh, 0)
            da = das[s]
            da[...] = dh * (1.0 - out[:, s] * out[:, s])
            dxw[:, order[s]] = da
            dhm = mm(da, Ut)
            dh_next = dhm * mask if mask is not None else dhm
            if dh_carry is not None:
                dh_next = dh_next + dh_carry
        dU = mm(xp.ascontiguousarray(hms.reshape(T * N, u).T), das.reshape(T * N, u))
        db = dxw.sum(axis=(0, 1)) if ctx.has_bias else None
        return dxw, dU, dh_next, None, None, None, db


# -- the fused Numba path -------------------------------------------------------------------------
def _flush() -> bool:
    return bool(getattr(config, "flush_denormals", True))


def _lstm_fused_forward(ctx, K, xw, U, h0, c0, reverse, step_mask, bias):
    N, T, G = xw.shape
    u = G // 4
    keep, has_keep = _keep(step_mask, N, T)
    rows = K.block_rows(N)
    out = np.empty((N, T, 2 * u), dtype=xw.dtype)
    saved = np.empty((N, T, 5 * u), dtype=xw.dtype)
    h0, c0 = _c(h0), _c(c0)
    K.lstm_forward(_c(xw), _bias_or_zeros(bias, G, xw.dtype), _c(U), h0, c0, keep, has_keep, bool(reverse), rows,
                   out, saved, _flush())
    ctx.fused = (K, U, h0, c0, keep, has_keep, bool(reverse), rows, out, saved, bias)
    return out


def _lstm_fused_backward(ctx, grad):
    K, U, h0, c0, keep, has_keep, reverse, rows, out, saved, bias = ctx.fused
    N, T, two_u = out.shape
    u = two_u // 2
    grad = _kernel_grad(grad, ctx.last, out.dtype)
    dxw = np.empty((N, T, 4 * u), dtype=out.dtype)
    dh0, dc0 = np.empty_like(h0), np.empty_like(c0)
    none = np.empty((0, u, 4 * u), dtype=out.dtype)  # no per-block partials: dU is one GEMM below
    db_parts = np.empty(((N + rows - 1) // rows, 4 * u), dtype=out.dtype)
    hpt = np.empty((N, T, u), dtype=out.dtype)
    K.lstm_backward(grad, _c(U.T), h0, c0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, dc0, none, db_parts,
                    hpt, _flush())
    return dxw, _recurrent_kernel_grad(hpt, dxw), dh0, dc0, None, None, None, _bias_grad(db_parts, bias), None


def _recurrent_kernel_grad(hpt, dz):
    """dU = sum over steps of h_prev^T @ dz_t as one GEMM over ``batch * steps`` rows: ``hpt``
    (N, T, u) each step's h_prev and ``dz`` (N, T, G) its gate gradients, both in input time order
    (a dropped step's are zero), as the backward kernels write them."""
    N, T, u = hpt.shape
    mm = kernel("matmul", dz)
    return mm(hpt.reshape(N * T, u).T, dz.reshape(N * T, dz.shape[2]))


def _gru_fused_forward(ctx, K, xw, U, b_rec, h0, reverse, step_mask, reset_after, bias):
    N, T, G = xw.shape
    u = G // 3
    keep, has_keep = _keep(step_mask, N, T)
    rows = K.block_rows(N)
    out = np.empty((N, T, u), dtype=xw.dtype)
    saved = np.empty((N, T, 4 * u), dtype=xw.dtype)
    h0 = _c(h0)
    K.gru_forward(_c(xw), _bias_or_zeros(bias, G, xw.dtype), _c(U), _bias_or_zeros(b_rec, G, xw.dtype),
                  b_rec is not None, bool(reset_after), h0, keep, has_keep, bool(reverse), rows, out, saved, _flush())
    ctx.fused = (K, U, b_rec is not None, bool(reset_after), h0, keep, has_keep, bool(reverse), rows, out, saved,
                 bias)
    return out


def _gru_fused_backward(ctx, grad):
    K, U, has_b, reset_after, h0, keep, has_keep, reverse, rows, out, saved, bias = ctx.fused
    N, T, u = out.shape
    grad = _kernel_grad(grad, ctx.last, out.dtype)
    dxw = np.empty((N, T, 3 * u), dtype=out.dtype)
    dh0 = np.empty_like(h0)
    blocks = (N + rows - 1) // rows
    db_parts = np.empty((blocks, 3 * u), dtype=out.dtype)
    dbi_parts = np.empty((blocks, 3 * u), dtype=out.dtype)
    if reset_after:  # dU is one GEMM over all steps below, from the kernel's drec and hpt
        parts = np.empty((0, u, 3 * u), dtype=out.dtype)
        drec = np.empty((N, T, 3 * u), dtype=out.dtype)
        hpt = np.empty((N, T, u), dtype=out.dtype)
    else:  # the h-part's input is r * h_prev: per-block partials in the kernel
        parts = np.empty((blocks, u, 3 * u), dtype=out.dtype)
        drec = np.empty((0, 0, 3 * u), dtype=out.dtype)
        hpt = np.empty((0, 0, u), dtype=out.dtype)
    K.gru_backward(grad, _c(U.T), reset_after, h0, keep, has_keep, reverse, rows, out, saved, dxw, dh0, parts,
                   db_parts, dbi_parts, drec, hpt, _flush())
    dU = _recurrent_kernel_grad(hpt, drec) if reset_after else parts.sum(axis=0)
    db = db_parts.sum(axis=0) if has_b else None
    return dxw, dU, db, dh0, None, None, None, None, _bias_grad(dbi_parts, bias), None


def _simple_fused_forward(ctx, K, xw, U, h0, reverse, step_mask, bias):
    N, T, u = xw.shape
    keep, has_keep = _keep(step_mask, N, T)
    rows = K.block_rows(N)
    out = np.empty((N, T, u), dtype=xw.dtype)
    h0 = _c(h0)
    K.simple_rnn_forward(_c(xw), _bias_or_zeros(bias, u, xw.dtype), _c(U), h0, keep, has_keep, bool(reverse), rows,
                         out, _flush())
    ctx.fused = (K, U, h0, keep, has_keep, bool(reverse), rows, out, bias)
    return out


def _simple_fused_backward(ctx, grad):
    K, U, h0, keep, has_keep, reverse, rows, out, bias = ctx.fused
    N, T, u = out.shape
    grad = _c(grad.astype(out.dtype, copy=False))
    dxw = np.empty((N, T, u), dtype=out.dtype)
    dh0 = np.empty_like(h0)
    none = np.empty((0, u, u), dtype=out.dtype)  # no per-block partials: dU is one GEMM below
    db_parts = np.empty(((N + rows - 1) // rows, u), dtype=out.dtype)
    hpt = np.empty((N, T, u), dtype=out.dtype)
    K.simple_rnn_backward(grad, _c(U.T), h0, keep, has_keep, reverse, rows, out, dxw, dh0, none, db_parts, hpt,
                          _flush())
    return dxw, _recurrent_kernel_grad(hpt, dxw), dh0, None, None, None, _bias_grad(db_parts, bias)


def _bool_mask(step_mask):
    if step_mask is None:
        return None
    data = step_mask.data if isinstance(step_mask, Tensor) else step_mask
    return array_module(data).asarray(data).astype(bool)


def lstm_sequence(xw, U, h0, c0, mask=None, reverse=False, step_mask=None, bias=None):
    return LSTMSequence.apply(xw, U, h0, c0, mask, reverse, _bool_mask(step_mask), bias)


def lstm_last(xw, U, h0, c0, reverse=False, bias=None):
    """``lstm_sequence(...)[:, -1]`` (no mask): only the last step's ``[h | c]`` (N, 2u) is returned,
    so backward gets no (N, T, 2u) gradient of zeros to fill and read (the layers without
    return_sequences)."""
    return LSTMSequence.apply(xw, U, h0, c0, None, reverse, None, bias, True)


def gru_sequence(xw, U, b_rec, h0, mask=None, reverse=False, step_mask=None, reset_after=True, bias=None):
    return GRUSequence.apply(xw, U, b_rec, h0, mask, reverse, _bool_mask(step_mask), bool(reset_after), bias)


def gru_last(xw, U, b_rec, h0, reverse=False, reset_after=True, bias=None):
    """``gru_sequence(...)[:, -1]`` (no mask): only the last step's h (N, u), as ``lstm_last``."""
    return GRUSequence.apply(xw, U, b_rec, h0, None, reverse, None, bool(reset_after), bias, True)


def simple_rnn_sequence(xw, U, h0, mask=None, reverse=False, step_mask=None, bias=None):
    return SimpleRNNSequence.apply(xw, U, h0, mask, reverse, _bool_mask(step_mask), bias)
