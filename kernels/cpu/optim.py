"""Fused optimizer updates in Numba: one pass that reads a parameter, its gradient and its slots once
and writes them once, instead of one NumPy ufunc (one pass over memory) per operation.

Contract (and the oracle): the NumPy ``_direction`` of each optimizer in ``gradflow/optimizers.py``.
Each kernel performs, element by element, exactly the float operations that code performs, in the
same order and in the arrays' dtype (the per-step scalars are cast to that dtype first, as NumPy
does with a Python float), with no fast-math and no contraction into FMAs, so both give the same
bits. There is no reduction: elements are independent, and a large array is cut into fixed chunks
run in parallel, so the result does not depend on the thread count.

Each ``*_update(out, g, slots..., scalars..., keep, decay, apply)``: every array 1-D, C-contiguous,
of one dtype (float32 or float64) and one size. ``apply=True``: ``out`` is the parameter, updated in
place (``out *= keep`` first when ``decay``, as the optimizer's decoupled weight decay); ``apply=False``:
``out`` receives the direction ``d`` (the flat path then applies it parameter by parameter). Flags
that turn a slot off (no momentum, no amsgrad) take any array of the right type in its place (the
kernel never reads it), so each optimizer compiles one signature per dtype and mode of running:
serial for small arrays, parallel over chunks for arrays of ``SERIAL_SIZE`` elements or more.
Nothing compiles before an optimizer's first step on the NumPy backend.
"""
from __future__ import annotations

import numpy as np
from numba import prange

from ._jit import njit

__all__ = ["adam_update", "sgd_update", "rmsprop_update", "adagrad_update", "adamax_update", "nadam_update",
           "SERIAL_SIZE", "CHUNK"]

#: below this many elements an update runs on the calling thread. The update is bound by memory
#: bandwidth, which one core already fills on the 2-core machines: model L's 2.56M-element Adam step
#: took 2.0 ms serial and 2.2 ms on two threads at best (quiet moments), 2.5 vs 10-16 ms medians
#: under load (a worker waiting for a busy core); only much larger arrays go parallel
SERIAL_SIZE = 1 << 22
#: elements per parallel task (fixed; results never depend on how tasks meet threads)
CHUNK = 1 << 14


def _driver(span):
    """A serial and a parallel kernel (over ``CHUNK``-sized chunks) running ``span(lo, hi, *args)``."""

    @njit(cache=True, error_model="numpy")
    def serial(n, args):
        span(0, n, *args)

    @njit(parallel=True, cache=True, error_model="numpy")
    def parallel(n, args):
        chunks = (n + CHUNK - 1) // CHUNK
        for k in prange(chunks):
            span(k * CHUNK, min(n, (k + 1) * CHUNK), *args)

    def run(n, args):
        (parallel if n >= SERIAL_SIZE else serial)(n, args)

    return run


@njit(cache=True)
def _max(a, b):
    """``np.maximum(a, b)``: NaN when either is NaN."""
    if a != a:
        return a
    return a if a > b else b


# -- the spans: elements [lo, hi), as slices so that the loop starts at 0 (SIMD); error_model numpy:
# x / 0 is inf or NaN as in NumPy, not an exception (and no test per element) ----------------------

@njit(inline="always")
def _descend(out, i, d, keep, decay, apply):
    """``out[i] = (w [* keep]) - d`` for a parameter (``apply``), else ``out[i] = d`` (the direction)."""
    if apply:
        w = out[i]
        if decay:
            w = w * keep
        out[i] = w - d
    else:
        out[i] = d


@njit(inline="always")
def _moments(m, v, i, gi, c1, c2):
    """Adam's (and Nadam's) moment updates of element ``i``, stored: ``m += (g - m) c1``, ``v += (g^2 - v) c2``;
    returns the new pair."""
    mi = m[i] + (gi - m[i]) * c1
    m[i] = mi
    vi = v[i] + (gi * gi - v[i]) * c2
    v[i] = vi
    return mi, vi


@njit(cache=True, error_model="numpy")
def _adam_span(lo, hi, out, g, m, v, vh, c1, c2, alpha, eps, keep, decay, amsgrad, apply):
    out, g, m, v, vh = out[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], vh[lo:hi]
    for i in range(g.size):
        gi = g[i]
        mi, vi = _moments(m, v, i, gi, c1, c2)
        if amsgrad:
            vi = _max(vh[i], vi)
            vh[i] = vi
        d = mi / (np.sqrt(vi) + eps) * alpha
        _descend(out, i, d, keep, decay, apply)


@njit(cache=True, error_model="numpy")
def _sgd_span(lo, hi, out, g, m, lr, mu, keep, decay, momentum, nesterov, apply):
    out, g, m = out[lo:hi], g[lo:hi], m[lo:hi]
    for i in range(g.size):
        step = g[i] * lr
        if momentum:
            mi = m[i] * mu - step
            m[i] = mi
            d = mi * mu - step if nesterov else mi
        else:
            d = -step  # w -= step is w + (-step) exactly
        if apply:
            w = out[i]
            if decay:
                w = w * keep
            out[i] = w + d
        else:
            out[i] = d


@njit(cache=True, error_model="numpy")
def _rmsprop_span(lo, hi, out, g, v, m, mg, lr, rho, omr, eps, mu, keep, decay, momentum, centered, apply):
    out, g, v, m, mg = out[lo:hi], g[lo:hi], v[lo:hi], m[lo:hi], mg[lo:hi]
    for i in range(g.size):
        gi = g[i]
        vi = v[i] * rho + gi * gi * omr
        v[i] = vi
        if centered:
            mgi = mg[i] * rho + gi * omr
            mg[i] = mgi
            t = vi - mgi * mgi + eps
        else:
            t = vi + eps
        d = gi / np.sqrt(t) * lr
        if momentum:
            d = m[i] * mu + d
            m[i] = d
        _descend(out, i, d, keep, decay, apply)


@njit(cache=True, error_model="numpy")
def _adagrad_span(lo, hi, out, g, acc, lr, eps, keep, decay, apply):
    out, g, acc = out[lo:hi], g[lo:hi], acc[lo:hi]
    for i in range(g.size):
        gi = g[i]
        a = acc[i] + gi * gi
        acc[i] = a
        d = gi / np.sqrt(a + eps) * lr
        _descend(out, i, d, keep, decay, apply)


@njit(cache=True, error_model="numpy")
def _adamax_span(lo, hi, out, g, m, u, c1, b2, step, eps, keep, decay, apply):
    out, g, m, u = out[lo:hi], g[lo:hi], m[lo:hi], u[lo:hi]
    for i in range(g.size):
        gi = g[i]
        mi = m[i] + (gi - m[i]) * c1
        m[i] = mi
        ui = _max(u[i] * b2, np.abs(gi))
        u[i] = ui
        d = mi / (ui + eps) * step
        _descend(out, i, d, keep, decay, apply)


@njit(cache=True, error_model="numpy")
def _nadam_span(lo, hi, out, g, m, v, c1, c2, v_scale, a_over_b, b_lr, eps, keep, decay, apply):
    out, g, m, v = out[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]
    for i in range(g.size):
        gi = g[i]
        mi, vi = _moments(m, v, i, gi, c1, c2)
        d = (mi * a_over_b + gi) * b_lr / (np.sqrt(vi * v_scale) + eps)
        _descend(out, i, d, keep, decay, apply)


_adam = _driver(_adam_span)
_sgd = _driver(_sgd_span)
_rmsprop = _driver(_rmsprop_span)
_adagrad = _driver(_adagrad_span)
_adamax = _driver(_adamax_span)
_nadam = _driver(_nadam_span)


# -- entry points (scalars cast to the arrays' dtype, as NumPy casts a Python float) ---------------

def adam_update(out, g, m, v, vh, c1, c2, alpha, eps, keep, decay, amsgrad, apply):
    """Adam/AdamW: ``m += (g - m) c1; v += (g² - v) c2; [vh = max(vh, v)]; d = m / (sqrt(v) + eps) alpha``."""
    f = out.dtype.type
    _adam(g.size, (out, g, m, v, vh, f(c1), f(c2), f(alpha), f(eps), f(keep), bool(decay), bool(amsgrad),
                   bool(apply)))


def sgd_update(out, g, m, lr, mu, keep, decay, momentum, nesterov, apply):
    """SGD: ``d = -lr g``; with momentum ``m = mu m - lr g; d = m`` (nesterov: ``mu m - lr g``); ``w += d``."""
    f = out.dtype.type
    _sgd(g.size, (out, g, m, f(lr), f(mu), f(keep), bool(decay), bool(momentum), bool(nesterov), bool(apply)))


def rmsprop_update(out, g, v, m, mg, lr, rho, omr, eps, mu, keep, decay, momentum, centered, apply):
    """RMSprop: ``v = rho v + omr g²; d = lr g / sqrt(v [- mg²] + eps)``; with momentum ``m = mu m + d; d = m``."""
    f = out.dtype.type
    _rmsprop(g.size, (out, g, v, m, mg, f(lr), f(rho), f(omr), f(eps), f(mu), f(keep), bool(decay), bool(momentum),
                      bool(centered), bool(apply)))


def adagrad_update(out, g, acc, lr, eps, keep, decay, apply):
    """Adagrad: ``acc += g²; d = lr g / sqrt(acc + eps)``."""
    f = out.dtype.type
    _adagrad(g.size, (out, g, acc, f(lr), f(eps), f(keep), bool(decay), bool(apply)))


def adamax_update(out, g, m, u, c1, b2, step, eps, keep, decay, apply):
    """Adamax: ``m += (g - m) c1; u = max(b2 u, |g|); d = step m / (u + eps)``."""
    f = out.dtype.type
    _adamax(g.size, (out, g, m, u, f(c1), f(b2), f(step), f(eps), f(keep), bool(decay), bool(apply)))


def nadam_update(out, g, m, v, c1, c2, v_scale, a_over_b, b_lr, eps, keep, decay, apply):
    """Nadam: the moments as Adam, ``d = (m a/b + g) b lr / (sqrt(v v_scale) + eps)``."""
    f = out.dtype.type
    _nadam(g.size, (out, g, m, v, f(c1), f(c2), f(v_scale), f(a_over_b), f(b_lr), f(eps), f(keep), bool(decay),
                    bool(apply)))
