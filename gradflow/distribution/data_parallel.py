"""``DataParallel``: what the trainer asks of a distribution (shards, gradient all-reduce, reductions)."""
from __future__ import annotations

import sys

import numpy as np

from ..autograd.engine import run_backward
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend, is_cupy_array
from .communicator import MPICommunicator, NCCLCommunicator

__all__ = ["DataParallel", "BUCKET_BYTES"]

#: default size of a gradient bucket (PyTorch DDP uses 25 MB; small models fill one bucket)
BUCKET_BYTES = 4 << 20


def _default_communicator():
    """NCCL (with MPI beside it) when the active backend is CuPy and CuPy has NCCL; else MPI."""
    mpi = MPICommunicator()
    if get_backend().device == "cuda":
        try:
            return NCCLCommunicator(mpi)
        except ImportError:
            pass  # a CuPy without NCCL: gradients go through host memory and MPI
    return mpi


class DataParallel:
    """Every process holds the whole model; each computes its share of every global batch.

    ``communicator``: by default NCCL (``NCCLCommunicator``) on the CuPy backend, else MPI (a
    FakeCommunicator trains in one process). Gradients are packed into one reused contiguous
    buffer per dtype (on the GPU when the communicator sums device arrays) and summed in place by
    one all-reduce per step. A rank that raises aborts the whole job (no rank waits forever).
    """

    def __init__(self, devices=None, communicator=None, bucket_bytes=BUCKET_BYTES):
        self.devices = devices
        self.comm = communicator if communicator is not None else _default_communicator()
        self.bucket_bytes = int(bucket_bytes)
        if self.bucket_bytes < 1:
            raise ValueError(f"DataParallel: bucket_bytes must be >= 1, got {bucket_bytes!r}")
        self._plans: dict = {}
        self.rank, self.size = self.comm.rank, self.comm.size
        if self.size > 1:
            self._install_abort_hook()

    @property
    def is_chief(self) -> bool:
        return self.rank == 0

    # -- data ---------------------------------------------------------------------------------
    def shard(self, n: int) -> slice:
        """This rank's rows of a global batch of ``n`` (shares differ by at most one row)."""
        base, extra = divmod(n, self.size)
        start = self.rank * base + min(self.rank, extra)
        return slice(start, start + base + (1 if self.rank < extra else 0))

    # -- state --------------------------------------------------------------------------------
    def broadcast_model(self, model) -> None:
        """Rank 0's weights (and optimizer state, when built) on every rank."""
        if self.size == 1:
            return
        model.set_weights(self.comm.bcast(model.get_weights() if self.is_chief else None))
        opt = getattr(model, "optimizer", None)
        if opt is not None and getattr(opt, "built", False):
            params = model._optimizer_params()
            opt.set_state(self.comm.bcast(opt.get_state(params) if self.is_chief else None), params)

    def allreduce_gradients(self, params) -> None:
        """Sum every parameter's ``.grad`` over the ranks, through one fused buffer per dtype."""
        if self.size == 1:
            return
        buckets, _ = self._bucket_plan(params, None)
        for bucket in buckets:
            bucket.pack()
            self.comm.allreduce_(bucket.buf)
            bucket.unpack()

    def backward(self, loss, params) -> None:
        """``loss.backward()`` with the gradients summed over the ranks: the parameters are cut into
        buckets of about ``bucket_bytes`` (last layers first, the order their gradients become
        final), and each bucket's all-reduce starts as soon as its gradients are final, in bucket
        order on every rank, while the backward pass goes on (NCCL on a side stream on the GPU;
        MPI's non-blocking all-reduce on the CPU). The result equals ``allreduce_gradients``."""
        if self.size == 1:
            run_backward(loss)
            return
        run = _BucketRun(*self._bucket_plan(params, self.bucket_bytes), self.comm)
        run_backward(loss, on_leaf=run.ready)
        run.finish()

    def _bucket_plan(self, params, limit) -> tuple:
        """``(buckets, where)``: the parameters in buckets of one dtype and device and at most
        ``limit`` bytes (None: one bucket each), in reverse parameter order, each with its reused
        buffer, and ``id(param) -> bucket index``; remembered per parameter list and limit."""
        key = (tuple(id(p) for p in params), limit)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        buckets, open_buckets = [], {}
        for p in reversed(params):
            kind = _Bucket.kind_of(p, self.comm)
            bucket = open_buckets.get(kind)
            if bucket is None or (limit is not None and bucket.params and bucket.nbytes + p.data.nbytes > limit):
                bucket = open_buckets[kind] = _Bucket(kind)
                buckets.append(bucket)
            bucket.add(p)
        for bucket in buckets:
            bucket.allocate()
        if len(self._plans) > 8:
            self._plans.clear()
        plan = self._plans[key] = (buckets, {id(p): k for k, b in enumerate(buckets) for p in b.params})
        return plan

    def average_state(self, arrays) -> None:
        """Average arrays (batch-norm moving statistics) over the ranks, in place, in one all-reduce."""
        self._sum_and_average(0.0, arrays)

    def _sum_and_average(self, value: float, arrays) -> float:
        """``sum(value)`` and ``average_state(arrays)`` in ONE all-reduce of a float64 buffer (the value,
        then every array): a training step needs both, and over a network every collective costs a
        round of latency (model B's step made 7 small all-reduces beside its gradients', one per
        batch-norm vector and one for the loss)."""
        if self.size == 1:
            return float(value)
        hosts = [a.get() if is_cupy_array(a) else a for a in arrays]  # a few vectors: through host memory
        buf = np.empty(1 + sum(int(h.size) for h in hosts), dtype=np.float64)
        buf[0] = value
        at = 1
        for h in hosts:
            buf[at:at + h.size] = np.asarray(h, dtype=np.float64).reshape(-1)
            at += h.size
        self.comm.allreduce_(buf)
        at = 1
        for a in arrays:
            part = buf[at:at + a.size] / self.size
            a[...] = array_module(a).asarray(part.reshape(a.shape).astype(a.dtype))
            at += a.size
        return float(buf[0])

    def sum(self, value: float) -> float:
        if self.size == 1:
            return float(value)
        buf = np.array([float(value)], dtype=np.float64)
        self.comm.allreduce_(buf)
        return float(buf[0])

    def gather_rows(self, array):
        """Every rank's rows, concatenated in rank order (so the global batch comes back in order)."""
        if self.size == 1:
            return array
        return np.concatenate(self.comm.allgather(np.asarray(array)), axis=0)

    # -- failures -----------------------------------------------------------------------------
    def _install_abort_hook(self) -> None:
        previous = sys.excepthook
        comm = self.comm

        def hook(exc_type, exc, tb):
            previous(exc_type, exc, tb)
            sys.stderr.flush()
            comm.abort(1)

        sys.excepthook = hook


class _Bucket:
    """Parameters whose gradients travel in one buffer: one dtype, on one device. CuPy gradients
    are summed on the GPU when the communicator takes device arrays (NCCL), else through host
    memory."""

    def __init__(self, kind):
        self.dtype, self.on_gpu, self.on_device = kind
        self.params, self.offsets, self.size, self.nbytes, self.buf = [], [], 0, 0, None

    @staticmethod
    def kind_of(p, comm) -> tuple:
        """(dtype, the gradients are CuPy arrays, the sum runs on the GPU)."""
        on_gpu = is_cupy_array(p.data)
        return np.dtype(p.dtype), on_gpu, on_gpu and comm.device_arrays

    def add(self, p) -> None:
        self.offsets.append(self.size)
        self.params.append(p)
        self.size += int(p.size)
        self.nbytes += p.data.nbytes

    def allocate(self) -> None:
        xp = array_module(self.params[0].data) if self.on_device else np
        self.buf = xp.empty(self.size, dtype=self.dtype)

    def pack(self) -> None:
        buf, through_host = self.buf, self.on_gpu and not self.on_device
        for p, off in zip(self.params, self.offsets):
            n, g = int(p.size), p.grad
            if g is None:
                buf[off:off + n] = 0.0
            else:
                buf[off:off + n] = (g.data.get() if through_host else g.data).reshape(-1)

    def unpack(self) -> None:
        through_host = self.on_gpu and not self.on_device
        for p, off in zip(self.params, self.offsets):
            part = self.buf[off:off + int(p.size)].reshape(p.shape)
            p.grad = Tensor._wrap(array_module(p.data).asarray(part) if through_host else part.copy())


class _BucketRun:
    """One backward pass's bucket bookkeeping: a bucket starts when all of its gradients are
    final and every earlier bucket has started (the same order on every rank)."""

    def __init__(self, plan, where, comm):
        self.plan, self.where, self.comm = plan, where, comm
        self.left = [len(b.params) for b in plan]
        self.handles = []

    def ready(self, t) -> None:
        k = self.where.get(id(t))
        if k is None:
            return
        self.left[k] -= 1
        self._launch()

    def _launch(self) -> None:
        while len(self.handles) < len(self.plan) and self.left[len(self.handles)] <= 0:
            bucket = self.plan[len(self.handles)]
            bucket.pack()
            self.handles.append(self.comm.iallreduce_(bucket.buf))

    def finish(self) -> None:
        self.left = [0] * len(self.plan)  # parameters the loss did not reach count as zeros
        self._launch()
        for bucket, handle in zip(self.plan, self.handles):
            handle.wait()
            bucket.unpack()
