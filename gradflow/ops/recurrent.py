"""Fused recurrent sequences: a whole LSTM or GRU pass over time as one autograd node.

Forward walks the steps with the dispatched matmul kernel for ``h @ U`` and keeps the gates;
backward walks them in reverse (backpropagation through time) and computes the recurrent kernel's
gradient as one matmul over all steps at the end. The input projection ``x W + b`` stays outside
(one matmul over ``batch * steps``), so its gradient is ordinary autograd.

* ``lstm_sequence(xw, U, h0, c0, mask, reverse)`` -> ``[h_t | c_t]`` for every processed step,
  shape ``(N, T, 2u)`` (Keras's gate order i, f, c, o; tanh and sigmoid);
* ``gru_sequence(xw, U, b_rec, h0, mask, reverse)`` -> ``h_t`` ``(N, T, u)`` (Keras 3's
  reset_after rule, gates z, r, h).

``mask`` is the recurrent-dropout mask applied to ``h`` before ``h @ U`` (or None); ``reverse``
processes the steps last to first (``go_backwards``), outputs in processing order as Keras.
``step_mask`` (batch, T) booleans in input order (or None): at a masked step the states carry
through unchanged (Keras's ``mask``); the layer derives its masked outputs from the carried states.
"""
from __future__ import annotations

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module
from ._kernel import kernel

__all__ = ["lstm_sequence", "gru_sequence"]


def _sigmoid(xp, a):
    return 0.5 * (1.0 + xp.tanh(0.5 * a))


def _steps(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


class LSTMSequence(Function):
    @staticmethod
    def forward(ctx, xw, U, h0, c0, mask, reverse, step_mask=None):
        xp = array_module(xw)
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
        return out

    @staticmethod
    def backward(ctx, grad):
        gates, tcs, hms, cs_prev, U, mask, reverse, step_mask = ctx.saved
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
        return dxw, dU, dh_next, dc_next, None, None, None


class GRUSequence(Function):
    @staticmethod
    def forward(ctx, xw, U, b_rec, h0, mask, reverse, step_mask=None):
        xp = array_module(xw)
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
            rec = mm(xp.ascontiguousarray(hm), U)
            if b_rec is not None:
                rec = rec + b_rec
            x_t = xw[:, t]
            z = _sigmoid(xp, x_t[:, :u] + rec[:, :u])
            r = _sigmoid(xp, x_t[:, u:2 * u] + rec[:, u:2 * u])
            hh = xp.tanh(x_t[:, 2 * u:] + r * rec[:, 2 * u:])
            hs_prev[s], hms[s] = h, hm
            h_new = z * h + (1.0 - z) * hh
            h = xp.where(step_mask[:, t:t + 1], h_new, h) if step_mask is not None else h_new
            saved[s, :, :u], saved[s, :, u:2 * u], saved[s, :, 2 * u:3 * u], saved[s, :, 3 * u:] = z, r, hh, \
                rec[:, 2 * u:]
            out[:, s] = h
        ctx.saved = (saved, hms, hs_prev, U, mask, reverse, b_rec is not None, step_mask)
        return out

    @staticmethod
    def backward(ctx, grad):
        saved, hms, hs_prev, U, mask, reverse, has_b, step_mask = ctx.saved
        xp = array_module(grad)
        T, N, four_u = saved.shape
        u = four_u // 4
        mm = kernel("matmul", grad)
        dxw = xp.empty((N, T, 3 * u), dtype=grad.dtype)
        drecs = xp.empty((T, N, 3 * u), dtype=grad.dtype)
        Ut = xp.ascontiguousarray(U.T)
        dh_next = xp.zeros((N, u), dtype=grad.dtype)
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
            da_r = da_h * rec_h * r * (1.0 - r)
            t = order[s]
            dxw[:, t, :u], dxw[:, t, u:2 * u], dxw[:, t, 2 * u:] = dz, da_r, da_h
            drec = drecs[s]
            drec[:, :u], drec[:, u:2 * u], drec[:, 2 * u:] = dz, da_r, da_h * r
            dhm = mm(drec, Ut)
            dh_next = dh * z + (dhm * mask if mask is not None else dhm)
            if dh_carry is not None:
                dh_next = dh_next + dh_carry
        flat = drecs.reshape(T * N, 3 * u)
        dU = mm(xp.ascontiguousarray(hms.reshape(T * N, u).T), flat)
        db = flat.sum(axis=0) if has_b else None
        return dxw, dU, db, dh_next, None, None, None


def _bool_mask(step_mask):
    if step_mask is None:
        return None
    data = step_mask.data if isinstance(step_mask, Tensor) else step_mask
    return array_module(data).asarray(data).astype(bool)


def lstm_sequence(xw, U, h0, c0, mask=None, reverse=False, step_mask=None):
    return LSTMSequence.apply(xw, U, h0, c0, mask, reverse, _bool_mask(step_mask))


def gru_sequence(xw, U, b_rec, h0, mask=None, reverse=False, step_mask=None):
    return GRUSequence.apply(xw, U, b_rec, h0, mask, reverse, _bool_mask(step_mask))
