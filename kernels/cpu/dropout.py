"""Inverted dropout in Numba: ``x`` times a keep mask drawn from a seed by a counter-based hash.

Contract (and the oracle): ``kernels/reference_fused.py``'s ``dropout_apply``. Element ``i`` (flat,
C order) is kept when the top 53 bits of ``splitmix64(seed + (i + 1) * golden)`` read as a uniform in
[0, 1) are ``>= rate`` (the attention kernel's ``dropout_keep``); kept elements are multiplied by
``1 / (1 - rate)``, dropped ones by 0. The mask is a function of ``(seed, i)``, so backward applies
the same call to the incoming gradient instead of storing it, and no float uniforms are drawn: the
comparison is on integers (``ceil(rate * 2**53)``).
"""
from __future__ import annotations

import math

import numpy as np
from numba import prange

from .._geometry import check_float, check_out
from ._jit import njit

__all__ = ["dropout_apply"]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)
_M3 = np.uint64(0x94D049BB133111EB)
#: elements per parallel task (a fixed split: the result never depends on the thread count anyway)
CHUNK = 1 << 14
#: below this many elements one task runs on the calling thread: the loop is a few vector instructions
#: per element (model T's 204,800 take about 0.1 ms on one core), less than waking the workers costs
#: on a busy machine
SERIAL_SIZE = 1 << 18


@njit(cache=True, inline="always")
def _apply_range(x, y, seed, threshold, scale, zero, lo, hi):
    for i in range(lo, hi):
        z = seed + (np.uint64(i) + np.uint64(1)) * _M1
        z = (z ^ (z >> np.uint64(30))) * _M2
        z = (z ^ (z >> np.uint64(27))) * _M3
        z = z ^ (z >> np.uint64(31))
        y[i] = x[i] * (scale if (z >> np.uint64(11)) >= threshold else zero)


@njit(parallel=True, cache=True)
def _apply_parallel(x, y, seed, threshold, scale, zero):
    n = x.size
    for c in prange((n + CHUNK - 1) // CHUNK):
        _apply_range(x, y, seed, threshold, scale, zero, c * CHUNK, min(n, (c + 1) * CHUNK))


@njit(cache=True)
def _apply_serial(x, y, seed, threshold, scale, zero):
    _apply_range(x, y, seed, threshold, scale, zero, 0, x.size)


def keep_threshold(rate: float) -> int:
    """The integer form of ``u >= rate`` for ``u = m / 2**53``: ``m >= ceil(rate * 2**53)`` (exact)."""
    return math.ceil(float(rate) * 9007199254740992.0)


def dropout_apply(x, rate, seed, out=None):
    """``x`` with each element kept (times ``1 / (1 - rate)``) or zeroed by the hash of ``(seed, flat index)``."""
    op = "dropout_apply"
    check_float(op, x)
    rate = float(rate)
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"{op}: rate must be in [0, 1), got {rate}")
    y = np.empty(x.shape, x.dtype) if out is None else check_out(op, out, x.shape, x.dtype)
    xf = np.ascontiguousarray(x).reshape(-1)
    yf = y.reshape(-1)
    t = x.dtype.type
    run = _apply_serial if x.size < SERIAL_SIZE else _apply_parallel
    run(xf, yf, np.uint64(int(seed) % (1 << 64)), np.uint64(keep_threshold(rate)), t(1.0 / (1.0 - rate)), t(0))
    return y
