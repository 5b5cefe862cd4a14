"""CPU kernels (`numpy` = kernels/vectorized.py, `numba` = kernels/cpu/) against kernels/reference.py.

Random inputs on odd shapes (batch 1, 1x1 and non-square kernels, stride > kernel, padding on
one side, 'same' padding for even kernels, dilation 2, 1 and 3 channels, ragged GEMM tiles),
float32 and float64, every primary output poisoned with NaN before the call. The reference
itself is checked against independent definitions (naive loops, adjoint identities, finite
differences) on tiny cases.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradflow.kernels import cpu, reference, vectorized

IMPLS = {"numpy": vectorized, "numba": cpu}
DTYPES = [np.float32, np.float64]
#: relative-error bounds ||out - ref|| / ||ref|| by (kind, dtype)
TOL = {("conv", np.float32): 1e-4, ("mm", np.float32): 1e-4, ("pool", np.float32): 1e-5, ("bn", np.float32): 1e-5,
       ("conv", np.float64): 1e-10, ("mm", np.float64): 1e-10, ("pool", np.float64): 1e-12, ("bn", np.float64): 1e-10}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert np.isfinite(a).all(), "output has NaN/inf (an element was not written?)"
    n = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (n if n > 0 else 1.0))


def poisoned(shape, dtype):
    return np.full(shape, np.nan, dtype=dtype)


@pytest.fixture(params=list(IMPLS), ids=list(IMPLS))
def impl(request):
    return IMPLS[request.param]


@pytest.fixture(params=DTYPES, ids=["f32", "f64"])
def dtype(request):
    return request.param


def _rand(rng, shape, dtype, scale=1.0, offset=0.0):
    return (rng.standard_normal(shape) * scale + offset).astype(dtype)


# -- conv2d -----------------------------------------------------------------------------------
NO_PAD = ((0, 0), (0, 0))
CONV_CASES = {  # x shape, w shape, stride, padding, dilation
    "batch1_1x1": ((1, 5, 6, 3), (1, 1, 3, 4), (1, 1), NO_PAD, (1, 1)),
    "nonsquare_onesided_pad": ((2, 7, 9, 3), (3, 2, 3, 5), (2, 1), ((1, 0), (0, 2)), (1, 2)),
    "stride_gt_kernel": ((2, 9, 8, 2), (2, 2, 2, 3), (3, 3), NO_PAD, (1, 1)),
    "same_even_kernel": ((2, 6, 7, 3), (4, 2, 3, 4), (1, 1), ((1, 2), (0, 1)), (1, 1)),
    "dilation2_one_channel": ((1, 9, 9, 1), (3, 3, 1, 2), (1, 1), ((2, 2), (2, 2)), (2, 2)),
    "one_channel_valid": ((3, 8, 8, 1), (3, 3, 1, 8), (1, 1), NO_PAD, (1, 1)),
    "rgb_stride2_same": ((2, 8, 8, 3), (3, 3, 3, 6), (2, 2), ((0, 1), (0, 1)), (1, 1)),
    "ragged_filters": ((2, 6, 5, 16), (3, 3, 16, 21), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "several_tiles": ((4, 16, 16, 8), (3, 3, 8, 12), (1, 1), NO_PAD, (1, 1)),
    "stride2_1x1": ((2, 7, 7, 5), (1, 1, 5, 3), (2, 2), NO_PAD, (1, 1)),
    # KH*KW*C > 32: the Numba dot-product paths (the cases above take its small-K BLAS path)
    "deep_strided_asym": ((2, 11, 9, 8), (3, 2, 8, 5), (2, 3), ((1, 1), (0, 2)), (1, 1)),
    "deep_dilated": ((2, 10, 10, 6), (3, 3, 6, 7), (1, 1), ((2, 2), (2, 2)), (2, 2)),
    "deep_stride2_dilation2": ((1, 13, 12, 5), (3, 3, 5, 4), (2, 2), ((1, 2), (2, 1)), (2, 2)),
    # filters (and, for backward_input, channels) a multiple of 32: the SIMD implicit-GEMM paths
    "simd_valid_ragged_row": ((2, 13, 11, 32), (3, 3, 32, 64), (1, 1), NO_PAD, (1, 1)),
    "simd_stride2_dilated_cols": ((2, 10, 9, 5), (3, 2, 5, 32), (2, 1), ((1, 1), (0, 2)), (1, 2)),
    "simd_one_channel_same": ((3, 12, 12, 1), (3, 3, 1, 32), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "simd_even_kernel_dilated_rows": ((2, 7, 6, 32), (4, 2, 32, 32), (1, 1), ((1, 2), (0, 1)), (2, 1)),
    "simd_pad_wider_than_kernel": ((1, 5, 5, 32), (2, 2, 32, 32), (1, 1), ((3, 3), (0, 0)), (1, 1)),
    "simd_wide_row_three_blocks": ((1, 4, 27, 7), (3, 3, 7, 32), (1, 1), NO_PAD, (1, 1)),
    # 16-column tiles: filters (and channels) a multiple of 16 but not of 32
    "simd16_same": ((2, 7, 9, 16), (3, 3, 16, 16), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "simd16_48_filters_strided": ((2, 9, 8, 5), (3, 3, 5, 48), (2, 2), ((1, 1), (0, 1)), (1, 1)),
    "simd8_same": ((2, 6, 7, 8), (3, 3, 8, 8), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "simd8_24_filters_dilated": ((1, 9, 9, 3), (2, 3, 3, 24), (1, 1), ((1, 0), (2, 2)), (2, 2)),
}


def _conv_out_shape(xs, ws, stride, padding, dilation):
    OH = (xs[1] + sum(padding[0]) - dilation[0] * (ws[0] - 1) - 1) // stride[0] + 1
    OW = (xs[2] + sum(padding[1]) - dilation[1] * (ws[1] - 1) - 1) // stride[1] + 1
    return (xs[0], OH, OW, ws[3])


@pytest.mark.parametrize("case", list(CONV_CASES))
def test_conv2d_matches_reference(impl, dtype, case, rng):
    xs, ws, stride, padding, dilation = CONV_CASES[case]
    geo = (stride, padding, dilation)
    x, w, b = _rand(rng, xs, dtype), _rand(rng, ws, dtype), _rand(rng, ws[3], dtype)
    ys = _conv_out_shape(xs, ws, *geo)
    dy = _rand(rng, ys, dtype)
    tol = TOL[("conv", dtype)]

    out = poisoned(ys, dtype)
    y = impl.conv2d_forward(x, w, b, *geo, out=out)
    assert y is out and y.dtype == dtype
    assert rel_err(y, reference.conv2d_forward(x, w, b, *geo)) < tol
    assert rel_err(impl.conv2d_forward(x, w, None, *geo), reference.conv2d_forward(x, w, None, *geo)) < tol

    out = poisoned(xs, dtype)
    dx = impl.conv2d_backward_input(dy, w, xs, *geo, out=out)
    assert dx is out
    assert rel_err(dx, reference.conv2d_backward_input(dy, w, xs, *geo)) < tol

    out = poisoned(ws, dtype)
    dw = impl.conv2d_backward_filter(dy, x, ws, *geo, out=out)
    assert dw is out
    assert rel_err(dw, reference.conv2d_backward_filter(dy, x, ws, *geo)) < tol


def test_conv2d_errors_name_op_and_shapes(impl):
    x, w = np.zeros((1, 5, 5, 3), np.float32), np.zeros((3, 3, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward.*3 channels.*4"):
        impl.conv2d_forward(x, w, None, (1, 1), NO_PAD, (1, 1))
    w = np.zeros((3, 3, 3, 2), np.float32)
    with pytest.raises(ValueError, match=r"conv2d_forward: out .*\(1, 3, 3, 2\)"):
        impl.conv2d_forward(x, w, None, (1, 1), NO_PAD, (1, 1), out=np.empty((1, 3, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv2d_backward_input: dy must have shape \(1, 3, 3, 2\), got \(1, 4, 4, 2\)"):
        impl.conv2d_backward_input(np.zeros((1, 4, 4, 2), np.float32), w, x.shape, (1, 1), NO_PAD, (1, 1))
    with pytest.raises(ValueError, match="does not fit"):
        impl.conv2d_forward(np.zeros((1, 2, 2, 3), np.float32), w, None, (1, 1), NO_PAD, (1, 1))


# -- pooling ----------------------------------------------------------------------------------
POOL_CASES = {  # x shape, pool, stride, padding
    "2x2": ((2, 6, 6, 3), (2, 2), (2, 2), NO_PAD),
    "overlap_asym_pad": ((1, 7, 5, 1), (3, 2), (2, 1), ((1, 1), (0, 1))),
    "stride_gt_pool": ((2, 9, 9, 2), (2, 2), (3, 3), NO_PAD),
    "same_odd_input": ((2, 5, 7, 4), (2, 2), (2, 2), ((0, 1), (0, 1))),
    "1x1": ((1, 4, 4, 3), (1, 1), (1, 1), NO_PAD),
    "3x3_stride1_pad1": ((2, 8, 6, 5), (3, 3), (1, 1), ((1, 1), (1, 1))),
    "ragged_tail": ((3, 7, 7, 32), (2, 2), (2, 2), NO_PAD),
}


def _pool_out_shape(xs, pool, stride, padding):
    return (xs[0], (xs[1] + sum(padding[0]) - pool[0]) // stride[0] + 1,
            (xs[2] + sum(padding[1]) - pool[1]) // stride[1] + 1, xs[3])


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_max_pool_matches_reference(impl, dtype, case, rng):
    xs, pool, stride, padding = POOL_CASES[case]
    geo = (pool, stride, padding)
    x = _rand(rng, xs, dtype)
    ys = _pool_out_shape(xs, *geo)
    y_ref, arg_ref = reference.max_pool2d_forward(x, *geo)
    out = poisoned(ys, dtype)
    y, arg = impl.max_pool2d_forward(x, *geo, out=out)
    assert y is out and arg.dtype == np.int64 and arg.shape == ys
    assert rel_err(y, y_ref) < TOL[("pool", dtype)]
    np.testing.assert_array_equal(arg, arg_ref)

    dy = _rand(rng, ys, dtype)
    out = poisoned(xs, dtype)
    dx = impl.max_pool2d_backward(dy, arg_ref, xs, *geo, out=out)
    assert dx is out
    assert rel_err(dx, reference.max_pool2d_backward(dy, arg_ref, xs, *geo)) < TOL[("pool", dtype)]


def test_max_pool_ties_and_minus_inf(impl):
    """Ties go to the first cell in row-major order; padded cells never win, even over -inf."""
    geo = ((3, 3), (2, 2), ((1, 1), (1, 1)))
    x = np.random.default_rng(1).integers(0, 2, (2, 6, 6, 3)).astype(np.float32)
    x[1] = -np.inf
    y_ref, arg_ref = reference.max_pool2d_forward(x, *geo)
    y, arg = impl.max_pool2d_forward(x, *geo)
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    assert (arg >= 0).all() and (arg < 36).all()


@pytest.mark.parametrize("case", list(POOL_CASES))
def test_avg_pool_matches_reference(impl, dtype, case, rng):
    xs, pool, stride, padding = POOL_CASES[case]
    geo = (pool, stride, padding)
    x = _rand(rng, xs, dtype)
    ys = _pool_out_shape(xs, *geo)
    out = poisoned(ys, dtype)
    y = impl.avg_pool2d_forward(x, *geo, out=out)
    assert y is out
    assert rel_err(y, reference.avg_pool2d_forward(x, *geo)) < TOL[("pool", dtype)]
    dy = _rand(rng, ys, dtype)
    out = poisoned(xs, dtype)
    dx = impl.avg_pool2d_backward(dy, xs, *geo, out=out)
    assert dx is out
    assert rel_err(dx, reference.avg_pool2d_backward(dy, xs, *geo)) < TOL[("pool", dtype)]


def test_pool_errors(impl):
    x = np.zeros((1, 4, 4, 2), np.float32)
    with pytest.raises(ValueError, match=r"max_pool2d_forward: padding .* smaller than the pool"):
        impl.max_pool2d_forward(x, (2, 2), (2, 2), ((2, 0), (0, 0)))
    with pytest.raises(ValueError, match=r"max_pool2d_backward: argmax must have shape \(1, 2, 2, 2\)"):
        impl.max_pool2d_backward(np.zeros((1, 2, 2, 2), np.float32), np.zeros((1, 2, 2, 1), np.int64),
                                 x.shape, (2, 2), (2, 2), NO_PAD)


# -- batch norm -------------------------------------------------------------------------------
BN_CASES = {"one_row": (1, 3, 0.0), "one_channel": (7, 1, 0.0), "small": (64, 5, 0.0),
            "offset_mean": (300, 32, 10.0), "wide": (129, 130, 1.0)}


@pytest.mark.parametrize("case", list(BN_CASES))
def test_batch_norm_matches_reference(impl, dtype, case, rng):
    M, C, offset = BN_CASES[case]
    x = _rand(rng, (M, C), dtype, scale=2.0, offset=offset)
    gamma, beta = _rand(rng, C, dtype), _rand(rng, C, dtype)
    tol = TOL[("bn", dtype)]
    y_ref, mean_ref, inv_ref = reference.batch_norm_forward(x, gamma, beta, 1e-3)
    out = poisoned((M, C), dtype)
    y, mean, inv_std = impl.batch_norm_forward(x, gamma, beta, 1e-3, out=out)
    assert y is out and mean.dtype == dtype and inv_std.dtype == dtype
    assert rel_err(y, y_ref) < tol
    assert rel_err(mean, mean_ref) < tol
    assert rel_err(inv_std, inv_ref) < tol

    var = np.abs(_rand(rng, C, dtype)) + 0.5
    out = poisoned((M, C), dtype)
    yi = impl.batch_norm_inference(x, gamma, beta, mean_ref, var, 1e-3, out=out)
    assert yi is out
    assert rel_err(yi, reference.batch_norm_inference(x, gamma, beta, mean_ref, var, 1e-3)) < tol

    dy = _rand(rng, (M, C), dtype)
    dx_ref, dg_ref, db_ref = reference.batch_norm_backward(dy, x, gamma, mean_ref, inv_ref)
    out = poisoned((M, C), dtype)
    dx, dg, db = impl.batch_norm_backward(dy, x, gamma, mean_ref, inv_ref, out=out)
    assert dx is out
    if M > 1:  # with one row dx is 0 up to rounding: relative error is meaningless
        assert rel_err(dx, dx_ref) < max(tol, 1e-4 if dtype == np.float32 else tol)
    assert rel_err(dg, dg_ref) < tol
    assert rel_err(db, db_ref) < tol


def test_batch_norm_errors(impl):
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"batch_norm_forward: gamma must have shape \(3,\), got \(2,\)"):
        impl.batch_norm_forward(x, np.ones(2, np.float32), np.zeros(3, np.float32), 1e-3)
    with pytest.raises(ValueError, match=r"batch_norm_forward: expected x of shape \[M, C\]"):
        impl.batch_norm_forward(np.zeros((2, 2, 3), np.float32), np.ones(3, np.float32), np.zeros(3, np.float32), 1e-3)


# -- matmul -----------------------------------------------------------------------------------
MATMUL_CASES = {
    "1x1": ((1, 1), (1, 1)),
    "small": ((5, 7), (7, 3)),
    "ragged": ((33, 17), (17, 9)),
    "broadcast_batch": ((3, 1, 5, 7), (4, 7, 6)),
    "batched_blocks": ((2, 70, 300), (2, 300, 67)),
    # N a multiple of 8: the SIMD tiles (ragged row and column blocks, several reduction slices)
    "simd_blocks": ((2, 101, 600), (2, 600, 160)),
    "simd_broadcast_16": ((3, 1, 13, 5), (4, 5, 16)),
    "simd_k0": ((4, 0), (0, 8)),
    # lstm: many rows (B packed) and few rows with a long reduction (B read in place, even row blocks)
    "simd_packed_tall": ((2, 250, 40), (40, 24)),
    "simd_direct_long_k": ((130, 700), (700, 32)),
    "empty_reduction": ((2, 3, 0), (0, 5)),
}


@pytest.mark.parametrize("case", list(MATMUL_CASES))
def test_matmul_matches_reference(impl, dtype, case, rng):
    sa, sb = MATMUL_CASES[case]
    a, b = _rand(rng, sa, dtype), _rand(rng, sb, dtype)
    shape = np.broadcast_shapes(sa[:-2], sb[:-2]) + (sa[-2], sb[-1])
    out = poisoned(shape, dtype)
    c = impl.matmul(a, b, out=out)
    assert c is out
    assert rel_err(c, reference.matmul(a, b)) < TOL[("mm", dtype)]


def test_matmul_transposed_operands(impl, rng):
    a = _rand(rng, (40, 30), np.float32)
    b = _rand(rng, (20, 40), np.float32)
    assert rel_err(impl.matmul(a.T, b.T), reference.matmul(a.T, b.T)) < 1e-4


@pytest.mark.parametrize("m,k,n", [(300, 37, 64), (130, 600, 48), (9, 5, 8)])
def test_matmul_simd_transposed_views(impl, m, k, n, rng):
    """lstm: the SIMD path reads a transposed A in place and packs a transposed B from its strides
    (model L's X^T @ dZ and dZ @ W^T), for many and few rows of C."""
    a = _rand(rng, (k, m), np.float32)
    b = _rand(rng, (n, k), np.float32)
    bc = np.ascontiguousarray(b.T)
    for x, y in ((a.T, b.T), (a.T, bc), (np.ascontiguousarray(a.T), b.T)):
        out = poisoned((m, n), np.float32)
        assert rel_err(impl.matmul(x, y, out=out), reference.matmul(x, y)) < 1e-5


def test_matmul_errors(impl):
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ"):
        impl.matmul(np.zeros((2, 3), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match=r"matmul: batch dimensions"):
        impl.matmul(np.zeros((2, 2, 3), np.float32), np.zeros((3, 3, 2), np.float32))


# -- the reference against independent definitions ----------------------------------------------
def _naive_conv(x, w, b, stride, padding, dilation):
    """Seven nested loops straight from the formula (scalar code, tiny shapes only)."""
    N, H, W, C = x.shape
    KH, KW, _, F = w.shape
    (sh, sw), ((top, bottom), (left, right)), (dh, dw) = stride, padding, dilation
    OH = (H + top + bottom - dh * (KH - 1) - 1) // sh + 1
    OW = (W + left + right - dw * (KW - 1) - 1) // sw + 1
    y = np.zeros((N, OH, OW, F))
    for n in range(N):
        for oh in range(OH):
            for ow in range(OW):
                for f in range(F):
                    s = 0.0 if b is None else float(b[f])
                    for i in range(KH):
                        for j in range(KW):
                            h, ww = oh * sh - top + i * dh, ow * sw - left + j * dw
                            if 0 <= h < H and 0 <= ww < W:
                                s += float(np.dot(x[n, h, ww, :], w[i, j, :, f]))
                    y[n, oh, ow, f] = s
    return y


@pytest.mark.parametrize("case", ["nonsquare_onesided_pad", "dilation2_one_channel", "rgb_stride2_same"])
def test_reference_conv_against_naive_loops_and_adjoints(case, rng):
    xs, ws, stride, padding, dilation = CONV_CASES[case]
    geo = (stride, padding, dilation)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[3])
    y = reference.conv2d_forward(x, w, b, *geo)
    np.testing.assert_allclose(y, _naive_conv(x, w, b, *geo), rtol=1e-12, atol=1e-12)
    # the backward passes are the adjoints of the (linear) forward map: <y(x), dy> = <x, dx(dy)>
    dy = rng.standard_normal(y.shape)
    lin = reference.conv2d_forward(x, w, None, *geo)
    np.testing.assert_allclose(np.vdot(lin, dy), np.vdot(x, reference.conv2d_backward_input(dy, w, xs, *geo)), rtol=1e-10)
    np.testing.assert_allclose(np.vdot(lin, dy), np.vdot(w, reference.conv2d_backward_filter(dy, x, ws, *geo)), rtol=1e-10)


def test_reference_pooling_against_definitions(rng):
    x = rng.standard_normal((2, 5, 4, 3))
    geo = ((2, 2), (2, 1), ((0, 1), (1, 0)))
    y, arg = reference.max_pool2d_forward(x, *geo)
    # every max equals the input at its argmax, and no in-bounds cell of its window is larger
    flat = x.reshape(2, 20, 3)
    np.testing.assert_array_equal(np.take_along_axis(flat, arg.reshape(2, -1, 3), axis=1).reshape(y.shape), y)
    padded = np.pad(x, ((0, 0), (0, 1), (1, 0), (0, 0)), constant_values=-np.inf)
    for oh in range(y.shape[1]):
        for ow in range(y.shape[2]):
            win = padded[:, 2 * oh:2 * oh + 2, ow:ow + 2, :]
            np.testing.assert_array_equal(win.max(axis=(1, 2)), y[:, oh, ow, :])
    # backward of max pool and avg pool: finite differences of sum(pool(x) * dy)
    dy = rng.standard_normal(y.shape)
    for fwd, bwd in ((lambda v: reference.max_pool2d_forward(v, *geo)[0],
                      lambda: reference.max_pool2d_backward(dy, arg, x.shape, *geo)),
                     (lambda v: reference.avg_pool2d_forward(v, *geo),
                      lambda: reference.avg_pool2d_backward(dy, x.shape, *geo))):
        np.testing.assert_allclose(bwd(), _numeric_grad(lambda v: np.vdot(fwd(v), dy), x), rtol=1e-6, atol=1e-8)


def _numeric_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + h
        hi = f(x)
        x[idx] = old - h
        lo = f(x)
        x[idx] = old
        g[idx] = (hi - lo) / (2 * h)
    return g


def test_reference_batch_norm_and_matmul_against_definitions(rng):
    x, gamma, beta, dy = rng.standard_normal((6, 3)), rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((6, 3))
    y, mean, inv_std = reference.batch_norm_forward(x, gamma, beta, 1e-3)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-3) * gamma + beta, rtol=1e-12)
    dx, dgamma, dbeta = reference.batch_norm_backward(dy, x, gamma, mean, inv_std)

    def loss(v, g=gamma, bt=beta):
        return np.vdot(reference.batch_norm_forward(v, g, bt, 1e-3)[0], dy)

    np.testing.assert_allclose(dx, _numeric_grad(loss, x.copy()), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dgamma, _numeric_grad(lambda g: loss(x, g=g), gamma.copy()), rtol=1e-6)
    np.testing.assert_allclose(dbeta, _numeric_grad(lambda bt: loss(x, bt=bt), beta.copy()), rtol=1e-6)
    a, b = rng.standard_normal((3, 1, 4, 5)), rng.standard_normal((2, 5, 6))
    np.testing.assert_allclose(reference.matmul(a, b), np.matmul(a, b), rtol=1e-12)


def test_reference_returns_input_dtype():
    x = np.ones((1, 3, 3, 2), np.float32)
    assert reference.conv2d_forward(x, np.ones((2, 2, 2, 1), np.float32), None, (1, 1), NO_PAD, (1, 1)).dtype == np.float32
    assert reference.batch_norm_forward(np.ones((3, 2), np.float32), np.ones(2), np.zeros(2), 1e-3)[1].dtype == np.float32


def test_non_contiguous_and_mixed_dtype_inputs(impl, rng):
    """Strided views and float64 weights with float32 data: same answers, outputs in the dtype of x."""
    base = _rand(rng, (2, 9, 8, 6), np.float32)
    x = base[:, ::2, :, ::2]  # (2, 5, 8, 3), not contiguous
    w = _rand(rng, (3, 3, 3, 4), np.float64)
    geo = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    y = impl.conv2d_forward(x, w, None, *geo)
    assert y.dtype == np.float32
    assert rel_err(y, reference.conv2d_forward(x, w.astype(np.float32), None, *geo)) < 1e-4
    dy = np.asfortranarray(_rand(rng, y.shape, np.float32))
    assert rel_err(impl.conv2d_backward_input(dy, w, x.shape, *geo),
                   reference.conv2d_backward_input(dy, w.astype(np.float32), x.shape, *geo)) < 1e-4
    assert rel_err(impl.conv2d_backward_filter(dy, x, w.shape, *geo), reference.conv2d_backward_filter(dy, x, w.shape, *geo)) < 1e-4
    pgeo = ((2, 2), (2, 2), NO_PAD)
    y_ref, arg_ref = reference.max_pool2d_forward(x, *pgeo)
    y, arg = impl.max_pool2d_forward(x, *pgeo)
    np.testing.assert_array_equal(arg, arg_ref)
    xb = _rand(rng, (40, 10), np.float32)[:, ::2]
    gamma, beta = np.ones(5), np.zeros(5)
    assert rel_err(impl.batch_norm_forward(xb, gamma, beta, 1e-3)[0], reference.batch_norm_forward(xb, gamma, beta, 1e-3)[0]) < 1e-5
    a = _rand(rng, (6, 12), np.float32)[:, ::2]
    assert rel_err(impl.matmul(a, a.T), reference.matmul(a, a.T)) < 1e-4


# -- fused bias + ReLU epilogue ----------------------------------------------------------------
@pytest.mark.parametrize("case", ["simd_valid_ragged_row", "simd_stride2_dilated_cols", "simd16_same",
                                  "several_tiles", "one_channel_valid", "deep_dilated"])
def test_conv2d_forward_fused_relu_matches_reference(impl, dtype, case, rng):
    """activation='relu' equals ReLU of the plain convolution, on the SIMD, dot-product and BLAS paths."""
    xs, ws, stride, padding, dilation = CONV_CASES[case]
    geo = (stride, padding, dilation)
    x, w, b = _rand(rng, xs, dtype), _rand(rng, ws, dtype), _rand(rng, ws[3], dtype)
    ys = _conv_out_shape(xs, ws, *geo)
    want = np.maximum(reference.conv2d_forward(x, w, b, *geo), 0)
    assert (want == 0).mean() > 0.2  # the mask matters
    out = poisoned(ys, dtype)
    y = impl.conv2d_forward(x, w, b, *geo, out=out, activation="relu")
    assert y is out and rel_err(y, want) < TOL[("conv", dtype)]
    assert (y >= 0).all()
    np.testing.assert_array_equal(reference.conv2d_forward(x, w, b, *geo, activation="relu"), want)


def test_conv2d_forward_rejects_unknown_activation(impl):
    x, w = np.zeros((1, 4, 4, 2), np.float32), np.zeros((3, 3, 2, 32), np.float32)
    with pytest.raises(ValueError, match="conv2d_forward: activation must be"):
        impl.conv2d_forward(x, w, None, (1, 1), NO_PAD, (1, 1), activation="tanh")


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (130, 32), (1000, 64)])
def test_bias_act_backward_matches_reference(impl, dtype, shape, rng):
    dy, y = _rand(rng, shape, dtype), np.maximum(_rand(rng, shape, dtype), 0)
    want_eff, want_db = reference.bias_act_backward(dy, y)
    out = poisoned(shape, dtype)
    eff, db = impl.bias_act_backward(dy, y, out=out)
    assert eff is out and rel_err(eff, want_eff) < TOL[("pool", dtype)]
    assert db.shape == (shape[1],) and db.dtype == dtype
    assert rel_err(db, (dy.astype(np.float64) * (y > 0)).sum(0)) < TOL[("bn", dtype)]
    eff, db = impl.bias_act_backward(dy, None)  # no activation: dy untouched, db its column sums
    np.testing.assert_array_equal(eff, dy)
    assert rel_err(db, dy.astype(np.float64).sum(0)) < TOL[("bn", dtype)]


def test_bias_act_backward_checks_shapes(impl):
    with pytest.raises(ValueError, match="bias_act_backward"):
        impl.bias_act_backward(np.zeros((4, 3), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="bias_act_backward"):
        impl.bias_act_backward(np.zeros((4, 3, 1), np.float32), None)


@pytest.mark.parametrize("M,C", [(7, 3), (300, 32), (129, 130)])
def test_batch_norm_fused_relu_matches_reference(impl, dtype, M, C, rng):
    """activation='relu' forward (training and inference) is ReLU of the plain result; backward with
    y= is the plain backward of dy masked where y is 0."""
    x = _rand(rng, (M, C), dtype, scale=2.0)
    gamma, beta = _rand(rng, C, dtype), _rand(rng, C, dtype)
    tol = TOL[("bn", dtype)]
    y_ref, mean_ref, inv_ref = reference.batch_norm_forward(x, gamma, beta, 1e-3)
    out = poisoned((M, C), dtype)
    y, mean, inv_std = impl.batch_norm_forward(x, gamma, beta, 1e-3, out=out, activation="relu")
    assert y is out and rel_err(y, np.maximum(y_ref, 0)) < tol and (y >= 0).all()
    assert rel_err(mean, mean_ref) < tol and rel_err(inv_std, inv_ref) < tol
    var = np.abs(_rand(rng, C, dtype)) + 0.5
    yi = impl.batch_norm_inference(x, gamma, beta, mean_ref, var, 1e-3, activation="relu")
    assert rel_err(yi, np.maximum(reference.batch_norm_inference(x, gamma, beta, mean_ref, var, 1e-3), 0)) < tol

    dy = _rand(rng, (M, C), dtype)
    yr = np.maximum(y_ref, 0).astype(dtype)
    assert 0.2 < (yr == 0).mean() < 0.8
    want = reference.batch_norm_backward(dy * (yr > 0), x, gamma, mean_ref, inv_ref)
    assert rel_err(reference.batch_norm_backward(dy, x, gamma, mean_ref, inv_ref, y=yr)[0], want[0]) < 1e-12
    out = poisoned((M, C), dtype)
    dx, dg, db = impl.batch_norm_backward(dy, x, gamma, mean_ref, inv_ref, out=out, y=yr)
    assert dx is out
    assert rel_err(dx, want[0]) < max(tol, 1e-4 if dtype == np.float32 else tol)
    assert rel_err(dg, want[1]) < tol and rel_err(db, want[2]) < tol
    with pytest.raises(ValueError, match="activation must be"):
        impl.batch_norm_forward(x, gamma, beta, 1e-3, activation="gelu")


@pytest.mark.parametrize("case", ["simd_valid_ragged_row", "simd_stride2_dilated_cols", "simd_one_channel_same",
                                  "simd16_same", "simd8_same", "several_tiles", "one_channel_valid"])
def test_conv2d_backward_filter_writes_the_bias_gradient(impl, dtype, case, rng):
    """bias_out= gets dy summed over (N, OH, OW) (fused into the SIMD pass for numba), dw unchanged."""
    xs, ws, stride, padding, dilation = CONV_CASES[case]
    geo = (stride, padding, dilation)
    x = _rand(rng, xs, dtype)
    dy = _rand(rng, _conv_out_shape(xs, ws, *geo), dtype)
    bias = poisoned((ws[3],), dtype)
    dw = impl.conv2d_backward_filter(dy, x, ws, *geo, bias_out=bias)
    assert rel_err(dw, reference.conv2d_backward_filter(dy, x, ws, *geo)) < TOL[("conv", dtype)]
    assert rel_err(bias, dy.astype(np.float64).sum(axis=(0, 1, 2))) < TOL[("bn", dtype)]
    with pytest.raises(ValueError, match="conv2d_backward_filter"):
        impl.conv2d_backward_filter(dy, x, ws, *geo, bias_out=np.zeros(ws[3] + 1, dtype))


def test_numba_results_do_not_depend_on_the_thread_count(rng):
    """Every reduction in the SIMD conv, matmul, batch-norm and epilogue kernels runs over fixed
    chunks added in order: one thread and two give bit-identical results."""
    import numba

    from gradflow.kernels import cpu

    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("needs Numba with at least 2 threads")
    x = _rand(rng, (9, 11, 10, 16), np.float32)
    w = _rand(rng, (3, 3, 16, 32), np.float32)
    geo = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    dy = _rand(rng, (9, 11, 10, 32), np.float32)
    a, b = _rand(rng, (70, 300), np.float32), _rand(rng, (300, 48), np.float32)
    x2 = _rand(rng, (990, 32), np.float32)
    g1 = np.ones(32, np.float32)

    def run():
        bias = np.empty(32, np.float32)
        y, mean, inv = cpu.batch_norm_forward(x2, g1, g1, 1e-3, activation="relu")
        return [cpu.conv2d_forward(x, w, g1, *geo, activation="relu"), cpu.conv2d_backward_input(dy, w, x.shape, *geo),
                cpu.conv2d_backward_filter(dy, x, w.shape, *geo, bias_out=bias), bias, cpu.matmul(a, b), y, mean,
                *cpu.batch_norm_backward(x2, x2, g1, mean, inv, y=y), *cpu.bias_act_backward(x2, y)]

    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run()
        numba.set_num_threads(2)
        two = run()
    finally:
        numba.set_num_threads(old)
    for p, q in zip(one, two):
        np.testing.assert_array_equal(p, q)


# -- fused batch norm -> ReLU -> max-pool -------------------------------------------------------
@pytest.mark.parametrize("shape,pool", [((2, 6, 8, 32), (2, 2)), ((3, 7, 9, 5), (2, 2)), ((1, 5, 7, 3), (3, 2)),
                                        ((4, 2, 2, 1), (2, 2))])
def test_bn_relu_max_pool_matches_the_three_reference_ops(impl, dtype, shape, pool, rng):
    """Forward: max-pool (stride = pool, no padding) of relu(batch_norm(x)), argmax included; backward:
    the pooled gradient through max-pool, ReLU and batch norm. Odd sizes leave cells outside every
    window: they still get batch norm's gradient."""
    N, H, W, C = shape
    x = _rand(rng, shape, dtype, scale=2.0, offset=0.5)
    gamma, beta = _rand(rng, C, dtype), _rand(rng, C, dtype)
    tol = TOL[("bn", dtype)]
    valid = ((0, 0), (0, 0))
    yb, mean, inv = reference.batch_norm_forward(x.reshape(-1, C), gamma, beta, 1e-3, activation="relu")
    want_y, want_arg = reference.max_pool2d_forward(yb.reshape(shape), pool, pool, valid)
    out = poisoned(want_y.shape, dtype)
    y, arg, m, s = impl.bn_relu_max_pool_forward(x, gamma, beta, 1e-3, pool, out=out)
    assert y is out and rel_err(y, want_y) < tol
    np.testing.assert_array_equal(arg, want_arg)
    assert rel_err(m, mean) < tol and rel_err(s, inv) < tol

    dy = _rand(rng, want_y.shape, dtype)
    g_full = reference.max_pool2d_backward(dy * (want_y > 0), want_arg, shape, pool, pool, valid)
    want = reference.batch_norm_backward(g_full.reshape(-1, C), x.reshape(-1, C), gamma, mean, inv)
    out = poisoned(shape, dtype)
    dx, dg, db = impl.bn_relu_max_pool_backward(dy, want_y, want_arg, x, gamma, mean, inv, pool, out=out)
    assert dx is out
    assert rel_err(dx.reshape(-1, C), want[0]) < max(tol, 1e-4 if dtype == np.float32 else tol)
    assert rel_err(dg, want[1]) < max(tol, 1e-4 if dtype == np.float32 else tol) and rel_err(db, want[2]) < tol


def test_bn_relu_max_pool_checks_shapes(impl):
    x = np.zeros((2, 4, 4, 3), np.float32)
    v = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="bn_relu_max_pool_forward: gamma must have shape"):
        impl.bn_relu_max_pool_forward(x, np.ones(4, np.float32), v, 1e-3, (2, 2))
    with pytest.raises(ValueError, match="bn_relu_max_pool_forward: pool"):
        impl.bn_relu_max_pool_forward(x, v, v, 1e-3, (5, 2))
    with pytest.raises(ValueError, match="bn_relu_max_pool_backward: dy must have shape"):
        impl.bn_relu_max_pool_backward(np.zeros((2, 3, 2, 3), np.float32), np.zeros((2, 2, 2, 3), np.float32),
                                       np.zeros((2, 2, 2, 3), np.int64), x, v, v, v, (2, 2))


def test_simd_paths_with_the_avx2_tile_limits(monkeypatch, rng):
    """Hosts without AVX-512 use at most 16-column, 6-row tiles (NR_MAX, MR_MAX): same answers."""
    from gradflow.kernels import cpu
    from gradflow.kernels.cpu import _simd

    monkeypatch.setattr(_simd, "NR_MAX", 16)
    monkeypatch.setattr(_simd, "MR_MAX", 6)
    assert _simd.pick_nr(64) == 16 and _simd.mr_max(np.float32) == 6
    xs, ws, stride, padding, dilation = CONV_CASES["simd_valid_ragged_row"]
    geo = (stride, padding, dilation)
    x, w = _rand(rng, xs, np.float32), _rand(rng, ws, np.float32)
    dy = _rand(rng, _conv_out_shape(xs, ws, *geo), np.float32)
    tol = TOL[("conv", np.float32)]
    assert rel_err(cpu.conv2d_forward(x, w, None, *geo), reference.conv2d_forward(x, w, None, *geo)) < tol
    assert rel_err(cpu.conv2d_backward_input(dy, w, xs, *geo), reference.conv2d_backward_input(dy, w, xs, *geo)) < tol
    assert rel_err(cpu.conv2d_backward_filter(dy, x, ws, *geo), reference.conv2d_backward_filter(dy, x, ws, *geo)) < tol
    a, b = _rand(rng, (37, 50), np.float32), _rand(rng, (50, 64), np.float32)
    assert rel_err(cpu.matmul(a, b), reference.matmul(a, b)) < TOL[("mm", np.float32)]
