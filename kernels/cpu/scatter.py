"""Row scatter-add in Numba: ``target[index] += values`` for rows of ``D`` elements (the gradient of a
gather: ``Embedding``, ``take`` along the first axis), parallel and without races.

Each parallel task owns a contiguous range of target rows and scans every index once, accumulating
the values whose index falls in its range: no two threads ever write one row, and every row receives
its values in index order, so the sums are bitwise those of ``np.add.at`` (which adds in index order
too). Scanning the indices once per task is cheap next to the rows (an index is 8 bytes, a row D
floats).

``init=True`` (a gradient made from nothing) skips the separate zero fill of the target: a task
first writes ``0 + values`` into the rows it owns that are indexed (marking them), adds the later
duplicates, and zeros only the rows no index reached, so each target byte is written once and the
fresh pages are first touched by the threads in parallel. ``init=False`` adds into the target as it
is (``np.add.at``).

Indices are normalised as NumPy does (``-n <= i < n``; negative counts from the end); the caller
checks the range first (``scatter_rows`` raises ``IndexError`` as NumPy would).
"""
from __future__ import annotations

import numba
import numpy as np
from numba import prange

from ._jit import njit

__all__ = ["scatter_rows", "scatter_rows_into"]

#: tasks per thread: a skewed index distribution (a few hot rows) still spreads over the threads
TASKS_PER_THREAD = 4


@njit(parallel=True, cache=True)
def scatter_rows_into(target, index, values, init, tasks):
    """target[index[m]] += values[m] for every m (rows of target.shape[1]); ``init``: the target holds
    garbage and is fully written (rows no index reaches become zero). 2-D C-contiguous target and
    values of one dtype, 1-D integer index already checked to lie in [-n, n)."""
    n, D = target.shape
    M = index.shape[0]
    zero = target.dtype.type(0)
    for task in prange(tasks):
        lo = task * n // tasks
        hi = (task + 1) * n // tasks
        if hi <= lo:
            continue
        seen = np.zeros(hi - lo if init else 0, dtype=np.uint8)  # init: which of its rows were written
        for m in range(M):
            i = index[m]
            if i < 0:
                i += n
            if i < lo or i >= hi:
                continue
            row = target[i]
            src = values[m]
            if init and not seen[i - lo]:  # the row's first value: 0 + v (-0.0 becomes +0.0, as np.add.at)
                seen[i - lo] = 1
                for j in range(D):
                    row[j] = zero + src[j]
            else:
                for j in range(D):
                    row[j] += src[j]
        if init:
            for i in range(lo, hi):
                if not seen[i - lo]:
                    row = target[i]
                    for j in range(D):
                        row[j] = zero


def _tasks(n: int, work: int) -> int:
    """Parallel tasks: TASKS_PER_THREAD per thread, one for small work (waking threads costs more)."""
    if work < (1 << 15):
        return 1
    return max(1, min(n, TASKS_PER_THREAD * numba.get_num_threads()))


def scatter_rows(target, index, values, init=False):
    """``target[index] += values`` along the first axis of ``target`` (``np.add.at(target, index,
    values)`` for an integer array ``index``); ``init=True`` overwrites the target (as if it were
    zeros first). ``values`` has shape ``index.shape + target.shape[1:]``. Returns ``target``.

    ``target`` must be a C-contiguous NumPy float array; ``values`` is cast to its dtype.
    """
    if not target.flags.c_contiguous:
        raise ValueError("scatter_rows: the target must be C-contiguous")
    n = target.shape[0] if target.ndim else 0
    idx = np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise IndexError("scatter_rows: the index must be an integer array")
    flat = np.ascontiguousarray(idx.reshape(-1)).astype(np.int64, copy=False)
    if flat.size:
        low, high = int(flat.min()), int(flat.max())
        if low < -n or high >= n:
            bad = low if low < -n else high
            raise IndexError(f"index {bad} is out of bounds for axis 0 with size {n}")
    D = int(np.prod(target.shape[1:], dtype=np.int64))
    vals = np.broadcast_to(np.asarray(values, dtype=target.dtype), idx.shape + target.shape[1:])
    vals = np.ascontiguousarray(vals).reshape(flat.size, D)
    if n == 0 or D == 0:
        return target
    t2 = target.reshape(n, D)
    scatter_rows_into(t2, flat, vals, bool(init), _tasks(n, flat.size * D + n * D * int(init)))
    return target
