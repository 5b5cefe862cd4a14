"""Small Numba calls run on the calling thread only (matmul, layer norm, attention): results equal to
the parallel path, and the caller's thread count comes back afterwards."""
from __future__ import annotations

import importlib

import numba
import numpy as np
import pytest

from gradflow.kernels import reference_fused as ref
from gradflow.kernels.cpu import attention as nb_attention
from gradflow.kernels.cpu import layernorm as nb_layernorm

nb_matmul = importlib.import_module("gradflow.kernels.cpu.matmul")  # the package re-exports the function


def test_one_thread_restores_the_count():
    before = numba.get_num_threads()
    with nb_matmul.one_thread(True):
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), nb_matmul.one_thread(True):
        raise RuntimeError("inside")
    assert numba.get_num_threads() == before
    with nb_matmul.one_thread(False):
        assert numba.get_num_threads() == before


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shape", [((3, 5, 7), (7, 16)), ((2, 9, 33), (33, 13)), ((4, 70, 64), (64, 96)),
                                   ((70, 64), (3, 64, 13))], ids=["small_simd", "small", "parallel_simd",
                                                                    "parallel"])
def test_matmul_either_side_of_the_cutoff(shape, dtype):
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=shape[0]).astype(dtype), rng.normal(size=shape[1]).astype(dtype)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    out = np.full(want.shape, np.nan, dtype)
    before = numba.get_num_threads()
    got = nb_matmul.matmul(a, b, out=out)
    assert got is out and numba.get_num_threads() == before
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)


def test_serial_and_parallel_kernels_agree():
    """The same problem on one thread and on all: layer norm and attention, bit for bit where the
    work split is fixed (attention: one task per head; layer norm: fixed row chunks)."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(300, 40)).astype(np.float32)
    gamma, beta = rng.normal(size=40).astype(np.float32), rng.normal(size=40).astype(np.float32)
    q = rng.normal(size=(2, 40, 2, 16)).astype(np.float32)
    results = []
    for serial in (True, False):
        with nb_matmul.one_thread(serial):
            y, mean, inv = nb_layernorm.layer_norm_forward(x, gamma, beta, 1e-6)
            grads = nb_layernorm.layer_norm_backward(x, x, gamma, mean, inv)
            o, lse = nb_attention.attention_forward(q, q, q)
            results.append((y, *grads, o, lse, *nb_attention.attention_backward(q, q, q, q, o, lse)[:3]))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
    o64, _ = ref.attention_forward(q, q, q)
    np.testing.assert_allclose(results[0][4], o64, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("shapes", [((7, 5), (7, 16)), ((300, 70), (300, 32)), ((3, 40, 9), (3, 40, 24)),
                                    ((1, 0, 4), (0, 8))], ids=["small", "parallel", "batched", "k0"])
def test_matmul_reads_a_transposed_a_in_place(shapes, dtype):
    """``a.T @ g`` (a weight gradient): the SIMD path reads A through its strides, no copy."""
    rng = np.random.default_rng(2)
    base, b = rng.normal(size=shapes[0]).astype(dtype), rng.normal(size=shapes[1]).astype(dtype)
    a = np.swapaxes(base, -1, -2)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    got = nb_matmul.matmul(a, b, out=np.full(want.shape, np.nan, dtype))
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-12,
                               atol=1e-4 if dtype == np.float32 else 1e-12)
