"""``DataParallel``: what the trainer asks of a distribution (shards, gradient all-reduce, reductions)."""
from __future__ import annotations

import sys

import numpy as np

__all__ = ["DataParallel", "BUCKET_BYTES"]

#: default size of a gradient bucket (PyTorch DDP uses 25 MB; small models fill one bucket)
BUCKET_BYTES = 4 << 20


def _default_communicator():
    """NCCL (with MPI beside it) when the active backend is CuPy and CuPy has NCCL; else MPI."""
    from ..backend import get_backend
    from .communicator import MPICommunicator, NCCLCommunicator

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
        self._buffers: dict = {}
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
        from ..autograd.tensor import Tensor

        from ..backend import array_module, is_cupy_array

        groups: dict = {}
        for p in params:
            groups.setdefault(np.dtype(p.dtype).str, []).append(p)
        for key, group in groups.items():
            on_gpu = is_cupy_array(group[0].data)
            # where the sum happens: on the GPU with NCCL, else in host memory (CuPy copies out and back)
            xp = array_module(group[0].data) if on_gpu and self.comm.device_arrays else np
            total = sum(int(p.size) for p in group)
            buf = self._buffers.get((key, xp.__name__))
            if buf is None or buf.size != total:
                buf = self._buffers[(key, xp.__name__)] = xp.empty(total, dtype=np.dtype(key))
            offset = 0
            for p in group:
                n = int(p.size)
                g = p.grad
                if g is None:
                    buf[offset:offset + n] = 0.0
                elif xp is np and on_gpu:
                    buf[offset:offset + n] = g.data.get().reshape(-1)
                else:
                    buf[offset:offset + n] = g.data.reshape(-1)
                offset += n
            self.comm.allreduce_(buf)
            offset = 0
            back = array_module(group[0].data)
            for p in group:
                n = int(p.size)
                part = buf[offset:offset + n].reshape(p.shape)
                p.grad = Tensor._wrap(back.asarray(part) if xp is np and on_gpu else part.copy())
                offset += n

    def backward(self, loss, params) -> None:
        """``loss.backward()`` with the gradients summed over the ranks: the parameters are cut into
        buckets of about ``bucket_bytes`` (last layers first, the order their gradients become
        final), and each bucket's all-reduce starts as soon as its gradients are final, in bucket
        order on every rank, while the backward pass goes on (NCCL on a side stream on the GPU;
        MPI's non-blocking all-reduce on the CPU). The result equals ``allreduce_gradients``."""
        from ..autograd.engine import run_backward

        if self.size == 1:
            run_backward(loss)
            return
        run = _BucketRun(self._bucket_plan(params), self.comm)
        run_backward(loss, on_leaf=run.ready)
        run.finish()

    def _bucket_plan(self, params) -> list:
        """Buckets (lists of parameters of one dtype and device) in reverse parameter order, each
        with its reused buffer; remembered per parameter list."""
        from ..backend import array_module, is_cupy_array

        key = tuple(id(p) for p in params)
        plan = self._plans.get(key)
        if plan is not None:
            return plan
        plan, open_buckets = [], {}
        for p in reversed(params):
            on_gpu = is_cupy_array(p.data)
            xp = array_module(p.data) if on_gpu and self.comm.device_arrays else np
            kind = (np.dtype(p.dtype).str, xp.__name__, on_gpu)
            bucket = open_buckets.get(kind)
            if bucket is None or bucket.nbytes + p.data.nbytes > self.bucket_bytes and bucket.params:
                bucket = open_buckets[kind] = _Bucket(xp, np.dtype(p.dtype), on_gpu)
                plan.append(bucket)
            bucket.add(p)
        for bucket in plan:
            bucket.allocate()
        if len(self._plans) > 8:
            self._plans.clear()
        self._plans[key] = plan
        return plan

    def average_state(self, arrays) -> None:
        """Average arrays (batch-norm moving statistics) over the ranks, in place."""
        if self.size == 1:
            return
        from ..backend import array_module, is_cupy_array

        for a in arrays:
            host = a.get() if is_cupy_array(a) else a  # a few vectors: through host memory
            flat = np.ascontiguousarray(host, dtype=np.float64).reshape(-1)
            self.comm.allreduce_(flat)
            a[...] = array_module(a).asarray((flat / self.size).reshape(a.shape).astype(a.dtype))

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
    """Parameters whose gradients travel in one buffer (one dtype, one device)."""

    def __init__(self, xp, dtype, on_gpu):
        self.xp, self.dtype, self.on_gpu = xp, dtype, on_gpu
        self.params, self.offsets, self.nbytes, self.buf = [], [], 0, None

    def add(self, p) -> None:
        self.offsets.append(sum(int(q.size) for q in self.params))
        self.params.append(p)
        self.nbytes += p.data.nbytes

    def allocate(self) -> None:
        self.buf = self.xp.empty(sum(int(p.size) for p in self.params), dtype=self.dtype)

    def pack(self) -> None:
        buf = self.buf
        for p, off in zip(self.params, self.offsets):
            n, g = int(p.size), p.grad
            if g is None:
                buf[off:off + n] = 0.0
            elif self.xp is np and self.on_gpu:  # CuPy without NCCL: through host memory
                buf[off:off + n] = g.data.get().reshape(-1)
            else:
                buf[off:off + n] = g.data.reshape(-1)

    def unpack(self) -> None:
        from ..autograd.tensor import Tensor
        from ..backend import array_module

        for p, off in zip(self.params, self.offsets):
            part = self.buf[off:off + int(p.size)].reshape(p.shape)
            if self.xp is np and self.on_gpu:
                p.grad = Tensor._wrap(array_module(p.data).asarray(part))
            else:
                p.grad = Tensor._wrap(part.copy())


class _BucketRun:
    """One backward pass's bucket bookkeeping: a bucket starts when all of its gradients are
    final and every earlier bucket has started (the same order on every rank)."""

    def __init__(self, plan, comm):
        self.plan, self.comm = plan, comm
        self.where = {id(p): k for k, b in enumerate(plan) for p in b.params}
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
