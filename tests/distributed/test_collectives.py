"""DataParallel's collectives with P simulated ranks: one thread per rank and a communicator that
meets at a barrier, so the sums, broadcasts and gathers are checked without MPI (CI has none)."""
import threading

import numpy as np
import pytest

import gradflow as keras
from gradflow.autograd.tensor import Tensor
from gradflow.distribution import DataParallel
from gradflow.distribution.communicator import Communicator


class ThreadComm(Communicator):
    """Rank ``rank`` of ``size`` threads; each collective is two barrier phases over a shared slot list."""

    def __init__(self, rank, size, shared):
        self.rank, self.size, self._shared = rank, size, shared

    def _exchange(self, obj) -> list:
        slots, barrier = self._shared["slots"], self._shared["barrier"]
        slots[self.rank] = obj
        barrier.wait()
        values = list(slots)
        barrier.wait()  # nobody overwrites a slot before every rank has read them all
        return values

    def allreduce_(self, array) -> None:
        values = self._exchange(np.array(array, copy=True))
        array[...] = np.sum(values, axis=0)

    def bcast(self, obj, root=0):
        return self._exchange(obj)[root]

    def allgather(self, obj) -> list:
        return self._exchange(obj)

    def abort(self, code=1) -> None:  # pragma: no cover - a failing rank fails the test instead
        raise SystemExit(code)


def run_ranks(size, fn):
    """``fn(dp, rank)`` on ``size`` simulated ranks; their results in rank order."""
    shared = {"slots": [None] * size, "barrier": threading.Barrier(size, timeout=30)}
    results, errors = [None] * size, []

    def worker(rank):
        try:
            results[rank] = fn(DataParallel(communicator=ThreadComm(rank, size, shared)), rank)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            shared["barrier"].abort()

    threads = [threading.Thread(target=worker, args=(r,)) for r in range(size)]
    import sys

    hook = sys.excepthook
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.excepthook = hook  # DataParallel installs its abort-the-job hook when size > 1
    if errors:
        raise errors[0]
    return results


def _model(seed):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


@pytest.mark.parametrize("size", [2, 3])
def test_allreduce_gradients_sums_every_rank_and_dtype(size):
    def fn(dp, rank):
        params = [Tensor(np.zeros((2, 3), np.float32)), Tensor(np.zeros(4, np.float64)), Tensor(np.zeros(5, np.float32))]
        params[0].grad = Tensor(np.full((2, 3), rank + 1.0, np.float32))
        params[1].grad = Tensor(np.arange(4.0) * (rank + 1))
        params[2].grad = None if rank == 0 else Tensor(np.ones(5, np.float32))  # no gradient on rank 0: counts 0
        for _ in range(2):  # the fused buffers are reused on the next step
            dp.allreduce_gradients(params)
        return [p.grad.data for p in params]

    total = sum(range(1, size + 1))
    for grads in run_ranks(size, fn):
        # two steps: the second all-reduce sums the already-summed gradients again
        np.testing.assert_array_equal(grads[0], np.full((2, 3), total * size, np.float32))
        np.testing.assert_array_equal(grads[1], np.arange(4.0) * total * size)
        np.testing.assert_array_equal(grads[2], np.full(5, (size - 1) * size, np.float32))
        assert [g.dtype for g in grads] == [np.float32, np.float64, np.float32]


def test_broadcast_model_gives_every_rank_rank_zeros_weights():
    # different initial weights on every rank, built before the rank threads start: set_random_seed is
    # process-global, so ranks seeding it at once would make rank 0's model differ from `chief`
    models = [_model(100 + rank) for rank in range(3)]
    chief = [w.copy() for w in models[0].get_weights()]
    assert not np.array_equal(models[1].get_weights()[0], chief[0])

    def fn(dp, rank):
        model = models[rank]
        dp.broadcast_model(model)
        return model.get_weights()

    for weights in run_ranks(3, fn):
        for a, b in zip(weights, chief):
            np.testing.assert_array_equal(a, b)


def test_gather_sum_average_and_shards_put_the_global_batch_back_in_order():
    batch = np.arange(32 * 2, dtype=np.float32).reshape(32, 2)

    def fn(dp, rank):
        rows = batch[dp.shard(len(batch))]
        stats = np.full(3, float(rank), np.float32)
        dp.average_state([stats])
        return dp.gather_rows(rows), dp.sum(len(rows)), stats

    for gathered, count, stats in run_ranks(3, fn):
        np.testing.assert_array_equal(gathered, batch)
        assert count == 32
        np.testing.assert_allclose(stats, np.full(3, 1.0))


def test_shards_cover_the_global_batch_unevenly():
    from gradflow.distribution import FakeCommunicator

    class Rank(FakeCommunicator):
        def __init__(self, rank, size):
            self.rank, self.size = rank, size

    shards = [DataParallel(communicator=Rank(r, 3)).shard(32) for r in range(3)]
    assert [s.stop - s.start for s in shards] == [11, 11, 10]
    assert shards[0].start == 0 and shards[-1].stop == 32
    assert all(a.stop == b.start for a, b in zip(shards, shards[1:]))


@pytest.mark.parametrize("size,activation", [(2, None), (3, "relu")])
def test_sync_batch_norm_is_one_batch_norm_over_the_global_batch(size, activation):
    """Each rank normalises its (uneven) share with the global batch's statistics; its input
    gradient is its rows of one process's gradient, and the ranks' local dgamma/dbeta add up to
    the global ones (as the gradient all-reduce will add them)."""
    from gradflow import ops

    rng = np.random.default_rng(5)
    x = (rng.normal(size=(11, 4, 3)) * 3 + 1).astype(np.float64)
    w = rng.normal(size=(11, 4, 3))  # the loss sum(w * y): a gradient that differs per element
    gamma, beta = rng.normal(size=3) + 1.0, rng.normal(size=3)

    def grads(xs, ws, comm=None):
        xt = Tensor(xs, requires_grad=True)
        g, b = Tensor(gamma.copy(), requires_grad=True), Tensor(beta.copy(), requires_grad=True)
        if comm is None:
            y, mean, var = ops.batch_norm(xt, g, b, axis=-1, eps=1e-3, training=True, activation=activation)
        else:
            y, mean, var = ops.sync_batch_norm(xt, g, b, axis=-1, eps=1e-3, activation=activation, comm=comm)
        (y * Tensor(ws)).sum().backward()
        return y.data, xt.grad.data, g.grad.data, b.grad.data, np.asarray(mean), np.asarray(var)

    y_ref, dx_ref, dg_ref, db_ref, mean_ref, var_ref = grads(x, w)

    def fn(dp, rank):
        rows = dp.shard(len(x))
        return rows, grads(x[rows], w[rows], dp.comm)

    results = run_ranks(size, fn)
    for rows, (y, dx, _, _, mean, var) in results:
        np.testing.assert_allclose(y, y_ref[rows], rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(dx, dx_ref[rows], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(mean, mean_ref, rtol=1e-12)
        np.testing.assert_allclose(var, var_ref, rtol=1e-10)
    np.testing.assert_allclose(sum(r[1][2] for r in results), dg_ref, rtol=1e-10)
    np.testing.assert_allclose(sum(r[1][3] for r in results), db_ref, rtol=1e-10)


class CountingComm(ThreadComm):
    """ThreadComm that records when each all-reduce starts (during backward or after it)."""

    def __init__(self, rank, size, shared, log):
        super().__init__(rank, size, shared)
        self.log = log

    def iallreduce_(self, array):
        self.log.append((self.rank, len(array), self.in_backward))
        return super().iallreduce_(array)


@pytest.mark.parametrize("bucket_bytes", [64, 1 << 20])
def test_bucketed_backward_equals_one_fused_all_reduce(bucket_bytes):
    """dp.backward cuts the gradients into buckets (last layers first) and starts each one's
    all-reduce while the backward pass runs; the sums equal allreduce_gradients'."""
    from gradflow.autograd.engine import run_backward
    from gradflow.distribution.data_parallel import _BucketRun

    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 3)).astype(np.float32)
    size = 2
    shared = {"slots": [None] * size, "barrier": threading.Barrier(size, timeout=30)}
    log, results = [], [None] * size

    def grads(model, rows, dp, bucketed):
        out = model(x[rows])
        loss = (out * out).sum()
        params = model.trainable_weights
        for p in params:
            p.grad = None
        if bucketed:
            dp.comm.in_backward = True
            run = _BucketRun(*dp._bucket_plan(params, dp.bucket_bytes), dp.comm)
            run_backward(loss, on_leaf=run.ready)
            dp.comm.in_backward = False
            run.finish()
        else:
            loss.backward()
            dp.allreduce_gradients(params)
        return [p.grad.numpy().copy() for p in params]

    def worker(rank):
        comm = CountingComm(rank, size, shared, log)
        comm.in_backward = False
        dp = DataParallel(communicator=comm, bucket_bytes=bucket_bytes)
        model = _model(7)
        rows = dp.shard(len(x))
        results[rank] = (grads(model, rows, dp, True), grads(model, rows, dp, False))

    import sys

    hook = sys.excepthook
    try:
        threads = [threading.Thread(target=worker, args=(r,)) for r in range(size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    finally:
        sys.excepthook = hook
    for bucketed, fused in results:
        for a, b in zip(bucketed, fused):
            np.testing.assert_array_equal(a, b)
    mine = [entry for entry in log if entry[0] == 0]
    if bucket_bytes == 64:  # 4 parameters of 3x4, 4, 4x2, 2 floats: several buckets, the first started early
        assert len(mine) > 1 and mine[0][2] is True
    else:
        assert len(mine) == 1
