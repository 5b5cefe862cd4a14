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
* ``Flushed()`` is a context manager that sets FTZ|DAZ on the calling thread on entry and on every
  Numba worker just before the first kernel that may run on them (``_jit.BEFORE_THREADS``), and gives
  each thread back its own previous value on exit (what gradflow's fit/evaluate/predict use, so the
  user's NumPy and Numba code outside them keeps IEEE denormals). A block whose kernels all run serial
  (a small model's first run) never launches the workers' flush, nor compiles its ``parallel=True``
  kernel.

On other architectures every function here is a no-op that reads 0.

Numba's on-disk cache keys a kernel by its own file's timestamp and bytecode only, so a kernel that
inlines ``enter``/``leave`` would keep the old code after this file changed. ``_jit`` keys a module's
kernels by its source and every source it imports from (``_jit.source_key``): a kernel module that
imports from this file recompiles when it changes.
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

from ._jit import BEFORE_THREADS, njit, refresh_threaded

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
def _swap_csr(value, write):
    """This thread's MXCSR before the call (0 off x86); then ``value`` is loaded when ``write``. One
    kernel for both directions: a first run compiles one signature, not two."""
    old = np.int64(_stmxcsr())
    if write:
        _ldmxcsr(np.uint32(value))
    return old


def get_csr() -> int:
    """This thread's MXCSR (0 off x86)."""
    return int(_swap_csr(0, False))


def set_csr(value: int) -> None:
    """Load ``value`` into this thread's MXCSR (kept after return: Numba's compiled code does not
    restore it)."""
    _swap_csr(int(value), True)


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
def _flush_workers(prev, done, on, fallback, iterations):
    """on: each thread saves its MXCSR in prev[thread id] (once) and sets FTZ|DAZ; off: each thread
    puts back its own saved FTZ|DAZ bits (``fallback``'s where it saved none), leaving the other bits
    alone. Either way a thread marks done[thread id]: the caller repeats until every thread it needs
    has run (a scheduler may hand one thread several iterations and another none)."""
    for _ in prange(iterations):
        tid = numba.get_thread_id()
        if done[tid] != 0:
            continue
        done[tid] = 1
        cur = np.int64(_stmxcsr())
        if on:
            if prev[tid] < 0:
                prev[tid] = cur
            _ldmxcsr(np.uint32(cur | FTZ_DAZ))
        else:
            old = prev[tid] if prev[tid] >= 0 else fallback
            _ldmxcsr(np.uint32((cur & ~FTZ_DAZ) | (old & FTZ_DAZ)))


#: rounds of ``_flush_workers`` before giving up on a thread the scheduler never hands an iteration
_ROUNDS = 64


def _on_every_worker(prev, on: bool, fallback: int, need: int) -> bool:
    """Run ``_flush_workers`` until threads 0..need-1 of Numba's pool have each run it once, with the
    pool widened to ``need`` threads meanwhile (the caller's count may have shrunk since entry: the
    threads left out would keep their flush). Returns whether every one did."""
    if need <= 0:
        return True
    done = np.zeros(prev.shape[0], dtype=np.uint8)
    count = numba.get_num_threads()
    if count != need:
        numba.set_num_threads(need)
    try:
        for _ in range(_ROUNDS):
            _flush_workers(prev, done, on, fallback, 4 * need)
            if done[:need].all():
                return True
        return False
    finally:
        if count != need:
            numba.set_num_threads(count)


class Flushed:
    """Flush-to-zero and denormals-are-zero on this thread (and Numba's workers when ``workers``, from
    the first kernel that may run on them) inside the block; each thread gets its own bits back after."""

    __slots__ = ("main", "prev", "workers")

    def __init__(self, workers: bool = True):
        self.main = -1
        self.workers = workers
        self.prev = np.full(max(numba.config.NUMBA_NUM_THREADS, 1), -1, dtype=np.int64)

    def _flush_workers(self) -> None:
        """FTZ|DAZ on every worker (run from ``BEFORE_THREADS``, on the thread about to launch them).
        This thread runs it with its entry register: a thread pool creates its threads on its first
        parallel region (OpenMP does), and they would inherit a flushed register as their own."""
        flushed = get_csr()
        set_csr(self.main)
        try:
            _on_every_worker(self.prev, True, self.main, numba.get_num_threads())
        finally:
            set_csr(flushed)

    def __enter__(self):
        self.main = int(get_csr())
        try:
            # before this thread's: a pool started later would inherit this thread's register for good
            _launch_threads()
            if self.workers:
                self.prev[:] = -1
                refresh_threaded()
                BEFORE_THREADS.append(self._flush_workers)
            set_csr(self.main | FTZ_DAZ)
        except BaseException:  # interrupted mid-entry (SIGINT): `with` skips __exit__, so restore here
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self.workers:
                try:  # no threaded kernel ran: the workers were never flushed
                    BEFORE_THREADS.remove(self._flush_workers)
                except ValueError:
                    pass
                flushed = np.flatnonzero(self.prev >= 0)
                if flushed.size:  # exactly the threads flushed, however the pool changed since
                    _on_every_worker(self.prev, False, self.main, int(flushed[-1]) + 1)
        finally:  # this thread's register first of all, even when interrupted here
            set_csr((int(get_csr()) & ~FTZ_DAZ) | (self.main & FTZ_DAZ))
        return False
