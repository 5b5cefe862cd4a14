"""How a training step is spread over processes: the trainer asks its strategy, never ``if dist``.

:class:`LocalStrategy` (one process) passes everything through; :class:`DataParallelStrategy`
wraps an active multi-process :class:`~gradflow.distribution.DataParallel`: it shards each global
batch, sums the gradients in buckets during the backward pass, reduces losses and metric
inputs, and averages the moving statistics. ``gradflow.distribution.current_strategy()`` picks
one for the active distribution. A new strategy (say, model-parallel) implements the same methods.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import is_cupy_array
from .data_parallel import DataParallel

__all__ = ["LocalStrategy", "DataParallelStrategy", "LOCAL"]


def _rows(parts, rows: slice):
    return None if parts is None else tuple(None if a is None else a[rows] for a in parts)


def _host_float(value) -> float:
    return float(value.get() if is_cupy_array(value) else value)


class LocalStrategy:
    """One process: the batch is the global batch, and reductions are the identity."""

    local = True
    is_chief = True

    def shard(self, xs, ys, sws):
        """``(xs, ys, sws, share, split)``: this process's rows of a global batch, their share of it
        and whether the rows were split (outputs then need gathering)."""
        return xs, ys, sws, 1.0, False

    def backward(self, loss, share: float, params, moving) -> object:
        """Gradients of ``loss`` (this process's ``share`` of the batch) for ``params`` (summed over
        the processes), with the ``moving`` weights agreed on; returns the global loss array."""
        loss.backward()
        return loss.data

    def global_loss(self, local, share: float):
        """The global batch's loss from this process's (a 0-d array)."""
        return local

    def gather(self, outs: list, split: bool) -> list:
        """Every process's output rows, in batch order (for metrics and predict)."""
        return outs

    def mean(self, mean: float, count: int) -> float:
        """The global mean of per-process means over ``count`` samples each."""
        return mean

    def from_chief(self, make):
        """``make()`` as the first process computes it, on every process (a shuffling order)."""
        return make()

    def check_custom_step(self, model, kind: str) -> None:
        """Refuse a user's ``train_step``/``test_step`` where the strategy cannot run it."""

    def start_fit(self, model) -> None:
        """Make every process start from the same weights."""

    def agree(self, what: dict, where: str) -> None:
        """Check that every process was given the same ``what`` (row counts, batch size, epochs, shapes
        and dtypes...) before the first step; alone there is nothing to compare."""

    def resume_epoch(self, model, requested: int, restored: int) -> int:
        """The epoch every process resumes at, given what this process's BackupAndRestore restored."""
        return restored


class DataParallelStrategy(LocalStrategy):
    """Each process computes its rows of every global batch (a batch smaller than the job runs
    whole on every process); gradients are all-reduced in buckets during the backward pass."""

    local = False

    def __init__(self, dist: DataParallel):
        self.dist = dist

    @property
    def is_chief(self) -> bool:  # type: ignore[override]
        return self.dist.is_chief

    def shard(self, xs, ys, sws):
        dist, n = self.dist, len(xs[0])
        if n < dist.size:
            return xs, ys, sws, 1.0 / dist.size, False
        rows = dist.shard(n)
        return _rows(xs, rows), _rows(ys, rows), _rows(sws, rows), (rows.stop - rows.start) / n, True

    def backward(self, loss, share, params, moving):
        loss = loss * share
        self.dist.backward(loss, params)  # the all-reduce runs in buckets alongside the backward pass
        # the loss's sum and the moving statistics' average travel in one all-reduce, not one each
        total = self.dist._sum_and_average(_host_float(loss.data), [p.data for p in moving])
        return np.asarray(total, dtype=loss.data.dtype)

    def global_loss(self, local, share):
        total = self.dist.sum(_host_float(local) * share)
        return np.asarray(total, dtype=local.dtype)

    def gather(self, outs, split):
        if not split:
            return outs
        return [Tensor._wrap(self.dist.gather_rows(o.data)) for o in outs]

    def mean(self, mean, count):
        return self.dist.sum(mean * count) / self.dist.sum(count)

    def from_chief(self, make):
        comm = self.dist.comm
        return comm.bcast(make() if self.dist.is_chief else None)

    def check_custom_step(self, model, kind):
        raise NotImplementedError(f"model {model.name!r} overrides {kind}_step: data-parallel training runs the "
                                  f"built-in steps only (they shard each batch and all-reduce the gradients)")

    def start_fit(self, model):
        self.dist.broadcast_model(model)  # every process starts from rank 0's weights

    def agree(self, what, where):
        # one small all-gather: a mismatch is one clear error on every rank at once, never a hang in a
        # later collective (a rank with fewer batches would finish while the others wait)
        seen = self.dist.comm.allgather(what)
        differ = [key for key in what if any(s.get(key) != seen[0].get(key) for s in seen)]
        if differ:
            detail = "; ".join(f"{key}: " + ", ".join(f"rank {r} {s.get(key)!r}" for r, s in enumerate(seen))
                               for key in differ)
            raise ValueError(f"{where}: the {len(seen)} data-parallel processes were given different "
                             f"{', '.join(differ)} ({detail}). Every rank must call {where} with the same "
                             f"arrays (each global batch is split by rank) and the same arguments")

    def resume_epoch(self, model, requested, restored):
        # only rank 0 writes backups (its disk may be its own): its restore counts for every rank
        seen = self.dist.comm.allgather(restored)
        if any(e != requested for e in seen):  # some rank restored: all take rank 0's state and epoch
            self.dist.broadcast_model(model)
        return seen[0]


#: the strategy of every run in one process
LOCAL = LocalStrategy()
