"""The ``dropout_apply`` kernel (`numpy` = kernels/vectorized_fused.py, `numba` = kernels/cpu/dropout.py)
against kernels/reference_fused.py, and the Dropout op and layer on top of it.

Odd shapes (one element, an empty array, sizes off the parallel chunk, a strided input), float32 and
float64, rates 0 to 0.99, seeds past 2**63, NaN passed through, outputs poisoned with NaN first.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradflow as gf
from gradflow.kernels import reference_fused as ref
from gradflow.kernels import vectorized_fused
from gradflow.kernels.cpu import dropout as nb_dropout

IMPLS = {"numpy": vectorized_fused, "numba": nb_dropout}
SHAPES = [(1,), (0, 3), (3, 5, 7), (nb_dropout.CHUNK * 2 + 5,), (nb_dropout.SERIAL_SIZE + 3, 2)]


@pytest.mark.parametrize("impl", sorted(IMPLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_dropout_apply_matches_reference(impl, dtype, shape):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    if x.size:
        x.reshape(-1)[0] = np.nan
    for rate, seed in ((0.0, 3), (0.1, 5), (0.5, 2**63 + 11), (0.99, 7)):
        want = ref.dropout_apply(x, rate, seed)
        got = IMPLS[impl].dropout_apply(x, rate, seed)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, rtol=3e-7 if dtype == np.float32 else 1e-15)
        out = np.full(shape, np.nan, dtype)
        assert IMPLS[impl].dropout_apply(x, rate, seed, out=out) is out
        np.testing.assert_array_equal(out, got)


def test_reference_keeps_the_expected_fraction_and_scale():
    x = np.ones(200_000, np.float32)
    y = ref.dropout_apply(x, 0.3, 42)
    assert abs((y == 0).mean() - 0.3) < 0.01
    np.testing.assert_allclose(y[y != 0], np.float32(1 / 0.7), rtol=1e-6)
    assert not np.array_equal(y, ref.dropout_apply(x, 0.3, 43))


def test_numba_reads_strided_input():
    x = np.random.default_rng(2).standard_normal((40, 30)).astype(np.float32).T
    want = ref.dropout_apply(np.ascontiguousarray(x), 0.4, 9)
    np.testing.assert_allclose(nb_dropout.dropout_apply(x, 0.4, 9), want, rtol=3e-7)


def test_dropout_op_gradient_is_its_mask_and_seeding_repeats():
    x0 = np.random.default_rng(3).standard_normal((8, 50, 16)).astype(np.float32)
    outs = []
    for _ in range(2):
        gf.utils.set_random_seed(5)
        x = gf.Tensor(x0, requires_grad=True)
        y = gf.ops.dropout(x, 0.25, training=True)
        y.sum().backward()
        kept = y.numpy() != 0
        assert y.dtype == np.float32 and x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad.numpy(), kept / np.float32(0.75), rtol=1e-6)
        outs.append(y.numpy())
    np.testing.assert_array_equal(outs[0], outs[1])
    assert not np.array_equal(outs[0], gf.ops.dropout(gf.Tensor(x0), 0.25, training=True).numpy())


def test_dropout_layer_with_its_own_seed_repeats():
    x = gf.Tensor(np.ones((4, 300), np.float32))
    a = gf.layers.Dropout(0.5, seed=1)(x, training=True).numpy()
    b = gf.layers.Dropout(0.5, seed=1)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    assert 0.4 < (a == 0).mean() < 0.6
