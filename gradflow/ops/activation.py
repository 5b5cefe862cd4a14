"""The activation functions' autograd Functions: one saved array and one pass each, so a layer's
activation costs little. :mod:`gradflow.activations` gives them Keras's names and defaults."""
from __future__ import annotations

import math

from ..autograd.function import Function
from ..backend import array_module
from .elementwise import _erf_array

__all__ = ["leaky_relu", "elu", "softplus", "softsign", "silu", "gelu"]

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# -- Functions --------------------------------------------------------------------------------
class LeakyRelu(Function):
    @staticmethod
    def forward(ctx, x, slope):
        ctx.pos, ctx.slope = x > 0, slope
        return array_module(x).where(ctx.pos, x, x * x.dtype.type(slope))

    @staticmethod
    def backward(ctx, g):
        return array_module(g).where(ctx.pos, g, g * g.dtype.type(ctx.slope)), None


class Elu(Function):
    """``scale * (x if x > 0 else alpha * (exp(x) - 1))`` (elu: scale 1; selu: Keras constants)."""

    @staticmethod
    def forward(ctx, x, alpha, scale):
        xp = array_module(x)
        pos = x > 0
        neg = alpha * xp.expm1(xp.minimum(x, 0))  # minimum avoids overflow in the unused branch
        ctx.pos, ctx.neg, ctx.alpha, ctx.scale = pos, neg, alpha, scale
        return (scale * xp.where(pos, x, neg)).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        d = xp.where(ctx.pos, 1.0, ctx.neg + ctx.alpha) * ctx.scale
        return (g * d).astype(g.dtype, copy=False), None, None


class Softplus(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        ctx.x = x
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return g * (0.5 * (1 + xp.tanh(0.5 * ctx.x)))


class Softsign(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        ctx.den = 1 + xp.abs(x)
        return x / ctx.den

    @staticmethod
    def backward(ctx, g):
        return g / (ctx.den * ctx.den)


class Silu(Function):
    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        s = 0.5 * (1 + xp.tanh(0.5 * x))
        ctx.x, ctx.s = x, s
        return x * s

    @staticmethod
    def backward(ctx, g):
        s = ctx.s
        return g * (s * (1 + ctx.x * (1 - s)))


class Gelu(Function):
    """Exact GELU ``0.5 x (1 + erf(x / sqrt 2))``; derivative ``Phi(x) + x phi(x)``."""

    @staticmethod
    def forward(ctx, x):
        cdf = 0.5 * (1 + _erf_array(x * x.dtype.type(_INV_SQRT_2)))
        ctx.x, ctx.cdf = x, cdf
        return x * cdf

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        x = ctx.x
        pdf = xp.exp(-0.5 * x * x) * x.dtype.type(_INV_SQRT_2PI)
        return g * (ctx.cdf + x * pdf)


class GeluTanh(Function):
    """GELU's tanh approximation ``0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))``."""

    @staticmethod
    def forward(ctx, x):
        xp = array_module(x)
        t = xp.tanh(x.dtype.type(_SQRT_2_OVER_PI) * (x + x.dtype.type(0.044715) * x * x * x))
        ctx.x, ctx.t = x, t
        return 0.5 * x * (1 + t)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.x, ctx.t
        du = x.dtype.type(_SQRT_2_OVER_PI) * (1 + x.dtype.type(3 * 0.044715) * x * x)
        return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du)


# -- the ops --------------------------------------------------------------------------------
def leaky_relu(x, negative_slope: float):
    """``x`` if positive else ``negative_slope * x``."""
    return LeakyRelu.apply(x, float(negative_slope))


def elu(x, alpha: float, scale: float = 1.0):
    """``scale * (x if x > 0 else alpha * (exp(x) - 1))`` (selu is a scaled elu)."""
    return Elu.apply(x, float(alpha), float(scale))


def softplus(x):
    """``log(exp(x) + 1)``, overflow-free."""
    return Softplus.apply(x)


def softsign(x):
    """``x / (|x| + 1)``."""
    return Softsign.apply(x)


def silu(x):
    """``x * sigmoid(x)``."""
    return Silu.apply(x)


def gelu(x, approximate: bool = False):
    """GELU: the exact erf form, or the tanh approximation."""
    return GeluTanh.apply(x) if approximate else Gelu.apply(x)
