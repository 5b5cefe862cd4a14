"""The losses' autograd Functions: one pass forward and backward instead of a chain of small ops.
:mod:`gradflow.losses` gives them Keras's names, defaults and reductions."""
from __future__ import annotations

import math

import numpy as np

from ..autograd.function import Function
from ..backend import array_module

__all__ = ["probability_crossentropy", "sparse_probability_crossentropy", "binary_probability_crossentropy",
           "log_cosh", "masked_logsumexp", "ctc_loss"]


# -- Functions ------------------------------------------------------------------------------
class ProbCrossEntropy(Function):
    """-sum(target * log(clip(p / sum(p), eps, 1-eps))) along ``axis`` (Keras, probabilities)."""

    @staticmethod
    def forward(ctx, probs, target, axis, eps):
        xp = array_module(probs)
        s = probs.sum(axis=axis, keepdims=True)
        p = probs / s
        pc = xp.clip(p, eps, 1.0 - eps)
        ctx.save_for_backward(p, pc, s, target)
        ctx.axis, ctx.eps = axis, eps
        return -(target * xp.log(pc)).sum(axis=axis)

    @staticmethod
    def backward(ctx, g):
        p, pc, s, target = ctx.saved
        xp = array_module(p)
        eps = ctx.eps
        dp = -target / pc * ((p >= eps) & (p <= 1.0 - eps))  # clip passes the gradient inside
        g = xp.expand_dims(g, ctx.axis)
        dprobs = g * (dp - (dp * p).sum(axis=ctx.axis, keepdims=True)) / s
        return dprobs, None, None, None


class ProbSparseCrossEntropy(Function):
    """-log(clip(p[label] / sum(p), eps, 1-eps)) over the last axis, with integer labels."""

    @staticmethod
    def forward(ctx, probs, labels, eps):
        xp = array_module(probs)
        s = probs.sum(axis=-1)
        picked = xp.take_along_axis(probs, labels[..., None], axis=-1)[..., 0]
        p = picked / s
        pc = xp.clip(p, eps, 1.0 - eps)
        ctx.save_for_backward(p, pc, s, labels)
        ctx.shape, ctx.eps = probs.shape, eps
        return -xp.log(pc)

    @staticmethod
    def backward(ctx, g):
        p, pc, s, labels = ctx.saved
        xp = array_module(p)
        eps = ctx.eps
        # d(-log p)/d probs_j = -(delta_jl - p) / (p * s), where p is not clipped
        coef = -g / pc * ((p >= eps) & (p <= 1.0 - eps)) / s
        d = xp.empty(ctx.shape, dtype=g.dtype)
        d[...] = (-coef * p)[..., None]
        flat = d.reshape(-1, d.shape[-1])
        flat[xp.arange(flat.shape[0]), labels.reshape(-1)] += coef.reshape(-1)
        return d, None, None


class ProbBinaryCrossEntropy(Function):
    """Elementwise -(t*log(pc) + (1-t)*log(1-pc)) with pc = clip(p, eps, 1-eps) (Keras)."""

    @staticmethod
    def forward(ctx, probs, target, eps):
        xp = array_module(probs)
        pc = xp.clip(probs, eps, 1.0 - eps)
        ctx.save_for_backward(probs, pc, target)
        ctx.eps = eps
        return -(target * xp.log(pc) + (1.0 - target) * xp.log(1.0 - pc))

    @staticmethod
    def backward(ctx, g):
        p, pc, target = ctx.saved
        inside = (p >= ctx.eps) & (p <= 1.0 - ctx.eps)
        return g * inside * ((1.0 - target) / (1.0 - pc) - target / pc), None, None


class LogCosh(Function):
    """log(cosh(pred - true)) as |x| + log1p(exp(-2|x|)) - log 2: never overflows."""

    @staticmethod
    def forward(ctx, pred, true):
        xp = array_module(pred)
        x = pred - true
        ax = xp.abs(x)
        ctx.x = x
        return ax + xp.log1p(xp.exp(-2.0 * ax)) - math.log(2.0)

    @staticmethod
    def backward(ctx, g):
        return g * array_module(g).tanh(ctx.x), None


class MaskedLogSumExp(Function):
    """log(sum(exp(x), axis)) over the entries where ``mask`` holds; -inf (gradient 0) for an empty row."""

    @staticmethod
    def forward(ctx, x, mask, axis):
        xp = array_module(x)
        xm = xp.where(mask, x, -xp.inf)
        m = xm.max(axis=axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, 0.0).astype(x.dtype, copy=False)
        with np.errstate(divide="ignore"):
            out = xp.log(xp.exp(xm - m).sum(axis=axis, keepdims=True)) + m
        ctx.save_for_backward(xm, out)
        ctx.axis = axis
        return out.squeeze(axis)

    @staticmethod
    def backward(ctx, g):
        xm, out = ctx.saved
        xp = array_module(xm)
        finite = xp.isfinite(out)
        w = xp.exp(xm - xp.where(finite, out, 0.0)) * finite
        return xp.expand_dims(g, ctx.axis) * w, None, None


class CTCLoss(Function):
    """Connectionist temporal classification: -log p(labels | logits) per sample (Graves et al. 2006).

    ``logits`` (B, T, C) are normalised with a log-softmax over C; ``labels`` (B, L) are integer ids
    packed to the left, ``label_length`` (B,) how many of them count, ``blank`` the blank id. Every
    sample uses all T steps (as ``keras.losses.ctc``). The forward-backward recursions run in log space
    over the extended label sequence (blanks between and around the labels), vectorised over the batch.
    An alignment that cannot exist gives +inf, as torch's ``ctc_loss``."""

    @staticmethod
    def forward(ctx, logits, labels, label_length, blank):
        xp = array_module(logits)
        B, T, C = logits.shape
        L = labels.shape[1]
        S = 2 * L + 1
        m = logits.max(axis=-1, keepdims=True)
        lse = xp.log(xp.exp(logits - m).sum(axis=-1, keepdims=True)) + m
        lp = logits - lse  # log-softmax
        ext = xp.full((B, S), blank, dtype=xp.int64)
        ext[:, 1::2] = labels
        s_idx = xp.arange(S)
        valid = s_idx[None, :] < (2 * label_length[:, None] + 1)  # (B, S)
        skip = xp.zeros((B, S), dtype=bool)  # s may come from s-2: a label that differs from the one before
        if S > 2:
            skip[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
        emit = xp.take_along_axis(lp, xp.broadcast_to(ext[:, None, :], (B, T, S)), axis=2)  # (B, T, S)
        ninf = -xp.inf
        with np.errstate(divide="ignore", invalid="ignore"):
            alpha = xp.full((T, B, S), ninf, dtype=logits.dtype)
            a0 = xp.full((B, S), ninf, dtype=logits.dtype)
            a0[:, 0] = emit[:, 0, 0]
            if S > 1:
                a0[:, 1] = xp.where(label_length > 0, emit[:, 0, 1], ninf)
            alpha[0] = a0
            for t in range(1, T):
                prev = alpha[t - 1]
                a = prev.copy()
                a[:, 1:] = xp.logaddexp(a[:, 1:], prev[:, :-1])
                if S > 2:
                    a[:, 2:] = xp.where(skip[:, 2:], xp.logaddexp(a[:, 2:], prev[:, :-2]), a[:, 2:])
                alpha[t] = xp.where(valid, a + emit[:, t], ninf)
            last = 2 * label_length  # the final blank's index
            rows = xp.arange(B)
            end_a = alpha[T - 1, rows, last]
            end_b = xp.where(label_length > 0, alpha[T - 1, rows, xp.maximum(last - 1, 0)], ninf)
            ll = xp.logaddexp(end_a, end_b)
        ctx.save_for_backward(lp, emit, alpha, ll, ext, valid, skip, label_length)
        return -ll

    @staticmethod
    def backward(ctx, g):
        lp, emit, alpha, ll, ext, valid, skip, label_length = ctx.saved
        xp = array_module(lp)
        B, T, C = lp.shape
        S = ext.shape[1]
        ninf = -xp.inf
        rows = xp.arange(B)
        last = 2 * label_length
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            beta = xp.full((T, B, S), ninf, dtype=lp.dtype)
            bT = xp.full((B, S), ninf, dtype=lp.dtype)
            bT[rows, last] = emit[rows, T - 1, last]
            prev_last = xp.maximum(last - 1, 0)
            bT[rows, prev_last] = xp.where(label_length > 0, emit[rows, T - 1, prev_last], bT[rows, prev_last])
            beta[T - 1] = bT
            for t in range(T - 2, -1, -1):
                nxt = beta[t + 1]
                b = nxt.copy()
                b[:, :-1] = xp.logaddexp(b[:, :-1], nxt[:, 1:])
                if S > 2:
                    b[:, :-2] = xp.where(skip[:, 2:], xp.logaddexp(b[:, :-2], nxt[:, 2:]), b[:, :-2])
                beta[t] = xp.where(valid, b + emit[:, t], ninf)
            # posterior of each state at each step: alpha * beta / emission / p
            post = xp.exp(alpha + beta - emit.transpose(1, 0, 2) - ll[None, :, None])  # (T, B, S)
            post = xp.where(xp.isfinite(post), post, 0.0)
            onehot = (ext[:, :, None] == xp.arange(C)[None, None, :]).astype(lp.dtype)  # (B, S, C)
            occupancy = xp.einsum("tbs,bsc->btc", post, onehot)
            dlogits = xp.exp(lp) - occupancy  # through the log-softmax; the occupancies sum to 1 per step
        dlogits = dlogits * g[:, None, None]
        return dlogits.astype(lp.dtype, copy=False), None, None, None


# -- the ops --------------------------------------------------------------------------------
def probability_crossentropy(probs, target, axis: int, eps: float):
    """Per-sample crossentropy of (unnormalised) probabilities against a target distribution."""
    return ProbCrossEntropy.apply(probs, target, axis, eps)


def sparse_probability_crossentropy(probs, labels, eps: float):
    """Per-sample crossentropy of probabilities (last axis) against integer labels."""
    return ProbSparseCrossEntropy.apply(probs, labels, eps)


def binary_probability_crossentropy(probs, target, eps: float):
    """Elementwise binary crossentropy of probabilities."""
    return ProbBinaryCrossEntropy.apply(probs, target, eps)


def masked_logsumexp(x, mask, axis: int):
    """``log(sum(exp(x)))`` along ``axis`` over the entries where ``mask`` holds (-inf where none does)."""
    return MaskedLogSumExp.apply(x, mask, axis)


def ctc_loss(logits, labels, label_length, blank: int = 0):
    """Per-sample CTC loss of ``logits`` (B, T, C) against left-packed ``labels`` (B, L)."""
    return CTCLoss.apply(logits, labels, label_length, blank)


def log_cosh(pred, true):
    """Elementwise ``log(cosh(pred - true))``, overflow-free."""
    return LogCosh.apply(pred, true)
