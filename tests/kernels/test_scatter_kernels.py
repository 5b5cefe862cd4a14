"""The Numba row scatter-add (kernels/cpu/scatter.py) against ``np.add.at``, and the gather backward
(``ops.getitem`` / Embedding) that uses it against the float64 ``reference`` backend."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import gradflow as gf
from gradflow import ops

pytest.importorskip("numba")
sc = importlib.import_module("gradflow.kernels.cpu.scatter")

CASES = [  # target rows, row shape, index shape
    (1, (1,), (1,)), (7, (3,), (5,)), (5, (), (40,)), (3, (2,), (4, 0)), (6, (2, 3), (3, 4)),
    (300, (17,), (8, 50)), (0, (4,), (0,)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("itype", [np.int32, np.int64, np.uint8])
@pytest.mark.parametrize("n,row,ishape", CASES)
def test_scatter_rows_matches_add_at(n, row, ishape, itype, dtype):
    rng = np.random.default_rng(n)
    low = 0 if itype == np.uint8 else -n
    idx = rng.integers(low, max(n, 1), ishape).astype(itype) if n else np.zeros(ishape, itype)
    vals = rng.standard_normal(ishape + row).astype(dtype)
    vals.reshape(-1)[:1] = -0.0  # np.add.at on zeros turns -0.0 into +0.0
    ref = np.zeros((n,) + row, dtype)
    np.add.at(ref, idx, vals)
    out = np.full((n,) + row, np.nan, dtype)  # poisoned: init=True must write every element
    assert sc.scatter_rows(out, idx, vals, init=True) is out
    np.testing.assert_array_equal(out, ref)  # the same additions in the same order: bitwise equal
    assert not np.signbit(out[ref == 0]).any()
    acc, ref2 = np.ones((n,) + row, dtype), np.ones((n,) + row, dtype)
    np.add.at(ref2, idx, vals)
    np.testing.assert_array_equal(sc.scatter_rows(acc, idx, vals), ref2)


def test_scatter_rows_many_duplicates_and_parallel_tasks():
    rng = np.random.default_rng(1)
    idx = np.concatenate([np.full(3000, 5), rng.integers(-1000, 1000, 9000)])  # one hot row, negatives
    vals = rng.standard_normal((idx.size, 33)).astype(np.float32)
    ref = np.zeros((1000, 33), np.float32)
    np.add.at(ref, idx, vals)
    out = np.full_like(ref, np.nan)
    np.testing.assert_array_equal(sc.scatter_rows(out, idx, vals, init=True), ref)
    start = rng.standard_normal(ref.shape).astype(np.float32)  # init=False on parallel tasks: adds into it
    want = start.copy()
    np.add.at(want, idx, vals)
    np.testing.assert_array_equal(sc.scatter_rows(start, idx, vals), want)


def test_scatter_rows_out_of_range_is_index_error():
    for bad in (7, -8):
        with pytest.raises(IndexError, match="out of bounds"):
            sc.scatter_rows(np.zeros((7, 2)), np.array([0, bad]), np.ones((2, 2)))
    with pytest.raises(IndexError):
        sc.scatter_rows(np.zeros((7, 2)), np.array([0.5]), np.ones((1, 2)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_getitem_gather_backward_matches_reference(dtype):
    rng = np.random.default_rng(2)
    table = rng.standard_normal((11, 6)).astype(dtype)
    idx = rng.integers(-11, 11, (4, 9)).astype(np.int32)
    gout = rng.standard_normal((4, 9, 6))
    t = gf.Tensor(table, requires_grad=True)
    (ops.getitem(t, idx) * gf.Tensor(gout.astype(dtype))).sum().backward()
    assert t.grad.dtype == np.dtype(dtype)
    with gf.use_backend("reference"):
        r = gf.Tensor(table.astype(np.float64), requires_grad=True)
        (ops.getitem(r, idx) * gf.Tensor(gout)).sum().backward()
        want = np.asarray(r.grad.numpy())
    np.testing.assert_allclose(np.asarray(t.grad.numpy(), np.float64), want, rtol=1e-5, atol=1e-5)


def test_scatter_add_uses_kernel_and_keeps_add_at_semantics():
    rng = np.random.default_rng(3)
    target = rng.standard_normal((9, 4))
    idx = rng.integers(-9, 9, 30)
    vals = rng.standard_normal((30, 4))
    want = target.copy()
    np.add.at(want, idx, vals)
    np.testing.assert_array_equal(ops.scatter_add(target, idx, vals), want)
