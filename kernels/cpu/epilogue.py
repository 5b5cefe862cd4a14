"""The backward of a layer's bias + activation epilogue in one pass (Numba).

``bias_act_backward(dy, y)`` masks dy where the ReLU output y is 0 and sums the masked rows for the
bias gradient, reading dy and y once. Partial sums are taken over a fixed number of row chunks and
added in order, so the result does not depend on the thread count, nor on whether the kernel's
serial or ``parallel=True`` build runs (``_jit.SerialOrParallel``: the parallel one once compiled,
on disk, or repaid by ``PARALLEL_WORK`` elements in this process).
"""
from __future__ import annotations

import numpy as np
from numba import prange

from .._geometry import check_bias_act, check_float, check_out
from .._workspace import scratch
from ._jit import njit, serial_or_parallel

__all__ = ["bias_act_backward"]

#: row chunks of the bias-gradient partial sums (fixed: deterministic)
CHUNKS = 16
#: elements of dy after which a process compiles the parallel build of the masking pass
PARALLEL_WORK = 1 << 31


@serial_or_parallel(PARALLEL_WORK, cache=True, error_model="numpy")
def _mask_and_sum(dy, y, relu, write, eff, part):
    M, F = dy.shape
    nchunks = part.shape[0]
    zero = dy.dtype.type(0)
    one = dy.dtype.type(1)
    for ch in prange(nchunks):
        acc = part[ch]
        acc[:] = 0
        for r in range(ch * M // nchunks, (ch + 1) * M // nchunks):
            dr = dy[r]
            er = eff[r]
            yr = y[r]
            if relu:  # branches hoisted, mask as a multiply by a select of constants: LLVM vectorises it
                for f in range(F):
                    v = dr[f] * (one if yr[f] > zero else zero)
                    er[f] = v
                    acc[f] += v
            elif write:
                for f in range(F):
                    er[f] = dr[f]
                    acc[f] += dr[f]
            else:
                for f in range(F):
                    acc[f] += dr[f]


@njit(cache=True, error_model="numpy")
def _sum_rows(part, db):
    for f in range(db.shape[0]):
        s = part[0, f]
        for ch in range(1, part.shape[0]):
            s += part[ch, f]
        db[f] = s


def bias_act_backward(dy, y=None, out=None):
    """(dy_eff, db): dy masked where y <= 0 (ReLU; unmasked when y is None) and its column sums."""
    op = "bias_act_backward"
    check_float(op, dy, y)
    F = check_bias_act(op, dy, y)
    dtype = dy.dtype
    dy = np.ascontiguousarray(dy)
    write = y is not None or out is not None  # unmasked and no out: dy itself is dy_eff
    if out is not None:
        eff = check_out(op, out, dy.shape, dtype)
    else:
        eff = np.empty(dy.shape, dtype) if write else dy
    part = scratch("nb.bias_act.part", (CHUNKS, F), dtype)
    yy = dy if y is None else np.ascontiguousarray(y, dtype=dtype)
    _mask_and_sum(dy.size, dy, yy, y is not None, write, eff, part)
    db = np.empty(F, dtype)
    _sum_rows(part, db)
    return eff, db
