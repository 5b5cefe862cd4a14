"""The x86 floating-point control register (MXCSR) from Numba: flush-to-zero and denormals-are-zero.

Gradients through long recurrences shrink into denormal floats, and arithmetic on denormals runs
about 100x slower on x86. Setting MXCSR's FTZ (bit 15: denormal results become zero) and DAZ (bit 6:
denormal inputs read as zero) removes that cliff, as PyTorch does. MXCSR is per thread, so each
Numba worker has its own copy:

* ``enter(flush)`` / ``leave(saved, flush)`` are called from inside a kernel (each ``prange`` body):
  the bits hold exactly while that kernel's code runs on that thread and are restored after;
* ``get_csr()`` / ``set_csr(value)`` called from Python set the calling thread's register (Numba's
  compiled code does not restore it on return); ``workers_csr(values)`` / ``set_workers_csr(value)``
  read and set it on every thread of Numba's pool (one ``prange`` iteration per thread);
* ``Flushed()`` is a context manager that sets FTZ|DAZ on the calling thread and on every Numba
  worker on entry and gives each thread back its own previous value on exit (what gradflow's
  fit/evaluate/predict use, so the user's NumPy and Numba code outside them keeps IEEE denormals).

On other architectures every function here is a no-op that reads 0.
"""
from __future__ import annotations

import platform

import numba
import numpy as np
from llvmlite import ir
from numba import prange, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.ufunc.parallel import _launch_threads

from ._jit import njit

__all__ = ["FTZ_DAZ", "HAVE_MXCSR", "enter", "leave", "get_csr", "set_csr", "workers_csr", "set_workers_csr",
           "Flushed"]

#: MXCSR's flush-to-zero (bit 15) and denormals-are-zero (bit 6)
FTZ_DAZ = (1 << 15) | (1 << 6)
HAVE_MXCSR = platform.machine().lower() in ("x86_64", "amd64", "i386", "i686", "x86")


def _csr_fn(builder, name):
    fnty = ir.FunctionType(ir.VoidType(), [ir.IntType(8).as_pointer()])
    return cgutils.get_or_insert_function(builder.module, fnty, name)


@intrinsic
def _stmxcsr(typingctx):
    def codegen(context, builder, signature, args):
        slot = cgutils.alloca_once(builder, ir.IntType(32))
        if HAVE_MXCSR:
            builder.call(_csr_fn(builder, "llvm.x86.sse.stmxcsr"), [builder.bitcast(slot, ir.IntType(8).as_pointer())])
        else:
            builder.store(ir.Constant(ir.IntType(32), 0), slot)
        return builder.load(slot)

    return types.uint32(), codegen


@intrinsic
def _ldmxcsr(typingctx, value):
    if not isinstance(value, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        if HAVE_MXCSR:
            slot = cgutils.alloca_once(builder, ir.IntType(32))
            builder.store(builder.trunc(args[0], ir.IntType(32)) if args[0].type.width > 32 else
                          builder.zext(args[0], ir.IntType(32)) if args[0].type.width < 32 else args[0], slot)
            builder.call(_csr_fn(builder, "llvm.x86.sse.ldmxcsr"), [builder.bitcast(slot, ir.IntType(8).as_pointer())])
        return context.get_dummy_value()

    return types.void(value), codegen


@njit(cache=True)
def get_csr():
    """This thread's MXCSR (0 off x86)."""
    return np.int64(_stmxcsr())


@njit(cache=True)
def set_csr(value):
    """Load ``value`` into this thread's MXCSR (kept after return)."""
    _ldmxcsr(np.uint32(value))


@njit(cache=True)
def enter(flush):
    """Inside a kernel: FTZ|DAZ on this thread when ``flush``, off otherwise; returns the value to restore."""
    saved = np.int64(_stmxcsr())
    # both ways: switched off, a kernel runs IEEE even on a thread something else left flushed
    _ldmxcsr(np.uint32(saved | FTZ_DAZ) if flush else np.uint32(saved & ~FTZ_DAZ))
    return saved


@njit(cache=True)
def leave(saved, flush):
    """Inside a kernel: restore what ``enter`` saved."""
    _ldmxcsr(np.uint32(saved))


@njit(parallel=True, cache=True)
def _workers(values, set_value, value):
    for i in prange(values.shape[0]):
        if set_value:
            _ldmxcsr(np.uint32(value))
        values[i] = np.int64(_stmxcsr())


def workers_csr(n: int | None = None) -> np.ndarray:
    """MXCSR as seen by ``n`` iterations of a ``prange`` (default: one per Numba thread)."""
    values = np.zeros(n or numba.get_num_threads(), dtype=np.int64)
    _workers(values, False, 0)
    return values


def set_workers_csr(value: int) -> None:
    """Load ``value`` into MXCSR on every thread of Numba's pool (and on this one)."""
    set_csr(value)
    _workers(np.zeros(numba.get_num_threads(), dtype=np.int64), True, int(value))


@njit(parallel=True, cache=True)
def _flush_workers(prev, on, fallback):
    """on: each thread saves its MXCSR in prev[thread id] (once: several iterations may land on one
    thread) and sets FTZ|DAZ; off: each thread puts back its own saved FTZ|DAZ bits (``fallback``'s
    where it saved none), leaving the other bits alone."""
    for _ in prange(prev.shape[0]):
        tid = numba.get_thread_id()
        cur = np.int64(_stmxcsr())
        if on:
            if prev[tid] < 0:
                prev[tid] = cur
            _ldmxcsr(np.uint32(cur | FTZ_DAZ))
        else:
            old = prev[tid] if prev[tid] >= 0 else fallback
            _ldmxcsr(np.uint32((cur & ~FTZ_DAZ) | (old & FTZ_DAZ)))


class Flushed:
    """Flush-to-zero and denormals-are-zero on this thread (and Numba's workers when ``workers``)
    inside the block; each thread gets its own bits back after."""

    __slots__ = ("main", "prev", "workers")

    def __init__(self, workers: bool = True):
        self.main = -1
        self.workers = workers
        self.prev = np.full(max(numba.config.NUMBA_NUM_THREADS, 1), -1, dtype=np.int64)

    def __enter__(self):
        self.main = int(get_csr())
        try:
            # before this thread's: a pool started now would inherit this thread's register for good
            if self.workers:
                self.prev[:] = -1
                _flush_workers(self.prev, True, self.main)
            else:
                _launch_threads()
            set_csr(self.main | FTZ_DAZ)
        except BaseException:  # interrupted mid-entry (SIGINT): `with` skips __exit__, so restore here
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self.workers:
                _flush_workers(self.prev, False, self.main)
        finally:  # this thread's register first of all, even when interrupted here
            set_csr((int(get_csr()) & ~FTZ_DAZ) | (self.main & FTZ_DAZ))
        return False
