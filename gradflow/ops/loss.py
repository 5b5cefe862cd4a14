"""The losses' autograd Functions: one pass forward and backward instead of a chain of small ops.
:mod:`gradflow.losses` gives them Keras's names, defaults and reductions."""
from __future__ import annotations

import math

from ..autograd.function import Function
from ..backend import array_module

__all__ = ["probability_crossentropy", "sparse_probability_crossentropy", "binary_probability_crossentropy",
           "log_cosh"]


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


def log_cosh(pred, true):
    """Elementwise ``log(cosh(pred - true))``, overflow-free."""
    return LogCosh.apply(pred, true)
