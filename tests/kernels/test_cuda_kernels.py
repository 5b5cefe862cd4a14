"""The `cuda` (our CUDA C) and `vendor` (cuBLAS/cuDNN) implementations on a real GPU against
gradflow.kernels.reference, float64 and float32, odd shapes, outputs poisoned with NaN.

Marked `gpu`; skips the whole module with a reason where CuPy or a CUDA device is missing.
Run on a GPU machine with:  python -m pytest -m gpu tests/kernels/test_cuda_kernels.py -v
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

cupy = pytest.importorskip("cupy", reason="CuPy is not installed: the GPU kernel tests need CuPy and a CUDA GPU")
try:
    _GPU_OK = bool(cupy.cuda.is_available())
except Exception:  # noqa: BLE001 - a broken driver raises instead of returning False
    _GPU_OK = False
if not _GPU_OK:
    pytest.skip("CuPy sees no usable CUDA GPU (cupy.cuda.is_available() is False)", allow_module_level=True)

pytestmark = pytest.mark.gpu


def _load(name):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(f"_gradflow_{name}", Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cases = _load("_cuda_cases")
CONV_CASES, POOL_CASES, BN_CASES, MATMUL_CASES = cases.CONV_CASES, cases.POOL_CASES, cases.BN_CASES, cases.MATMUL_CASES
DTYPES, DTYPE_IDS, tol, rel_err, f64 = cases.DTYPES, cases.DTYPE_IDS, cases.tol, cases.rel_err, cases.f64

# larger shapes: real SM counts give the 128x64 tile, split-K and several blocks per grid-stride loop
BIG_CONV_CASES = {
    "modelB_1_b8": ((8, 32, 32, 3), (3, 3, 3, 32), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "modelB_2_b8": ((8, 16, 16, 32), (3, 3, 32, 64), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "modelB_3_b16": ((16, 8, 8, 64), (3, 3, 64, 128), (1, 1), ((1, 1), (1, 1)), (1, 1)),
    "strided_wide": ((4, 15, 17, 48), (5, 3, 48, 96), (2, 3), ((2, 2), (1, 1)), (1, 1)),
}
IMPLS = ["cuda", "vendor"]


@pytest.fixture(scope="module")
def ref():
    try:
        return importlib.import_module("gradflow.kernels.reference")
    except ImportError as exc:
        pytest.skip(f"gradflow.kernels.reference is not importable: {exc}")


@pytest.fixture(params=IMPLS)
def impl(request):
    return importlib.import_module("gradflow.kernels.cuda" if request.param == "cuda" else "gradflow.kernels.cuda.vendor")


@pytest.fixture(autouse=True)
def _fp32_exact():
    """TF32 off (the default) for every test unless the test turns it on itself."""
    from gradflow import config

    previous = config.allow_tf32
    config.allow_tf32 = False
    yield
    config.allow_tf32 = previous


def dev(a):
    return None if a is None else cupy.asarray(a)


def nan_out(shape, dtype):
    return cupy.full(shape, cupy.nan, dtype=dtype)


def host(a):
    return cupy.asnumpy(a)


# ---------------------------------------------------------------------------------------------

def _check_conv(impl, ref, case, dtype, seed=0, bias=True):
    xs, ws, st, pad, dil = case
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[3]).astype(dtype) if bias else None
    y_ref = ref.conv2d_forward(*f64(x, w, b), st, pad, dil)
    dy = rng.standard_normal(np.shape(y_ref)).astype(dtype)

    y = impl.conv2d_forward(dev(x), dev(w), dev(b), st, pad, dil, out=nan_out(np.shape(y_ref), dtype))
    dx = impl.conv2d_backward_input(dev(dy), dev(w), xs, st, pad, dil, out=nan_out(xs, dtype))
    dw = impl.conv2d_backward_filter(dev(dy), dev(x), ws, st, pad, dil, out=nan_out(ws, dtype))
    for name, got, want in [
        ("forward", y, y_ref),
        ("backward_input", dx, ref.conv2d_backward_input(*f64(dy, w), xs, st, pad, dil)),
        ("backward_filter", dw, ref.conv2d_backward_filter(*f64(dy, x), ws, st, pad, dil)),
    ]:
        assert isinstance(got, cupy.ndarray) and got.dtype == dtype and got.shape == np.shape(want), name
        err = rel_err(host(got), want)
        assert err < tol(dtype, "conv"), f"{impl.__name__} conv2d {name}: rel err {err:.2e}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CONV_CASES), ids=list(CONV_CASES))
def test_conv2d_odd_shapes(impl, ref, case, dtype):
    _check_conv(impl, ref, CONV_CASES[case], dtype, seed=len(case))


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(BIG_CONV_CASES), ids=list(BIG_CONV_CASES))
def test_conv2d_larger_shapes(impl, ref, case, dtype):
    _check_conv(impl, ref, BIG_CONV_CASES[case], dtype, seed=3, bias=False)


def test_vendor_conv_really_used_cudnn_when_present(ref):
    """After the conv tests, vendor conv2d must not have fallen back from a working cuDNN."""
    from gradflow.kernels.cuda import vendor

    _check_conv(vendor, ref, BIG_CONV_CASES["modelB_2_b8"], np.float32)
    backend = vendor.conv_backend()
    assert backend == "cudnn" or backend.startswith("im2col+cublas ("), backend


def test_conv2d_backward_filter_is_deterministic():
    import gradflow.kernels.cuda as cuda

    xs, ws, st, pad, dil = BIG_CONV_CASES["modelB_2_b8"]
    rng = np.random.default_rng(4)
    x = dev(rng.standard_normal(xs).astype(np.float32))
    dy = dev(rng.standard_normal((xs[0], xs[1], xs[2], ws[3])).astype(np.float32))
    a = host(cuda.conv2d_backward_filter(dy, x, ws, st, pad, dil))
    b = host(cuda.conv2d_backward_filter(dy, x, ws, st, pad, dil))
    np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(POOL_CASES), ids=list(POOL_CASES))
def test_pooling(impl, ref, case, dtype):
    xs, pool, st, pad = POOL_CASES[case]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xs).astype(dtype)
    x[0, 0, 1, 0] = x[0, 0, 0, 0]  # a tie: the first cell in row-major window order wins
    y_ref, am_ref = ref.max_pool2d_forward(*f64(x), pool, st, pad)
    dy = rng.standard_normal(np.shape(y_ref)).astype(dtype)

    y, am = impl.max_pool2d_forward(dev(x), pool, st, pad, out=nan_out(np.shape(y_ref), dtype))
    assert am.dtype == np.int64 and am.shape == np.shape(y_ref)
    np.testing.assert_array_equal(host(am), am_ref)
    np.testing.assert_array_equal(host(y), np.asarray(y_ref).astype(dtype))
    dx = impl.max_pool2d_backward(dev(dy), am, xs, pool, st, pad, out=nan_out(xs, dtype))
    assert rel_err(host(dx), ref.max_pool2d_backward(*f64(dy), am_ref, xs, pool, st, pad)) < tol(dtype, "pool")
    ya = impl.avg_pool2d_forward(dev(x), pool, st, pad, out=nan_out(np.shape(y_ref), dtype))
    assert rel_err(host(ya), ref.avg_pool2d_forward(*f64(x), pool, st, pad)) < tol(dtype, "pool")
    dxa = impl.avg_pool2d_backward(dev(dy), xs, pool, st, pad, out=nan_out(xs, dtype))
    assert rel_err(host(dxa), ref.avg_pool2d_backward(*f64(dy), xs, pool, st, pad)) < tol(dtype, "pool")


def test_pooling_large(impl, ref):
    xs, pool, st, pad = (32, 32, 32, 32), (2, 2), (2, 2), ((0, 0), (0, 0))
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xs).astype(np.float32)
    y, am = impl.max_pool2d_forward(dev(x), pool, st, pad)
    y_ref, am_ref = ref.max_pool2d_forward(*f64(x), pool, st, pad)
    np.testing.assert_array_equal(host(am), am_ref)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx = impl.max_pool2d_backward(dev(dy), am, xs, pool, st, pad)
    assert rel_err(host(dx), ref.max_pool2d_backward(*f64(dy), am_ref, xs, pool, st, pad)) < 1e-5


# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("M,C", BN_CASES + [(65536, 64), (8192, 129)])
def test_batch_norm(impl, ref, M, C, dtype):
    rng = np.random.default_rng(M + C)
    x = (rng.standard_normal((M, C)) * 3 + 5).astype(dtype)
    gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    dy = rng.standard_normal((M, C)).astype(dtype)
    var = (rng.random(C) + 0.5).astype(dtype)
    eps = 1e-3

    y, mean, inv_std = impl.batch_norm_forward(dev(x), dev(gamma), dev(beta), eps, out=nan_out((M, C), dtype))
    y_ref, mean_ref, inv_ref = ref.batch_norm_forward(*f64(x, gamma, beta), eps)
    for name, got, want in [("y", y, y_ref), ("mean", mean, mean_ref), ("inv_std", inv_std, inv_ref)]:
        assert got.dtype == dtype, name
        assert rel_err(host(got), want) < tol(dtype, "bn"), name
    mean_d, inv_d = np.asarray(mean_ref, dtype), np.asarray(inv_ref, dtype)
    yi = impl.batch_norm_inference(dev(x), dev(gamma), dev(beta), dev(mean_d), dev(var), eps, out=nan_out((M, C), dtype))
    assert rel_err(host(yi), ref.batch_norm_inference(*f64(x, gamma, beta, mean_d, var), eps)) < tol(dtype, "bn")
    got = impl.batch_norm_backward(dev(dy), dev(x), dev(gamma), dev(mean_d), dev(inv_d), out=nan_out((M, C), dtype))
    want = ref.batch_norm_backward(*f64(dy, x, gamma, mean_d, inv_d))
    for name, g, w in zip(("dx", "dgamma", "dbeta"), got, want):
        assert rel_err(host(g), w) < tol(dtype, "bn"), name


# ---------------------------------------------------------------------------------------------

BIG_MATMUL = [((1000, 1000), (1000, 1000)), ((4, 257, 129), (4, 129, 515)), ((3, 1, 64, 64), (5, 64, 32))]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("a_shape,b_shape", MATMUL_CASES + BIG_MATMUL, ids=[f"{a}@{b}" for a, b in MATMUL_CASES + BIG_MATMUL])
def test_matmul(impl, ref, a_shape, b_shape, dtype):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    want = ref.matmul(*f64(a, b))
    c = impl.matmul(dev(a), dev(b), out=nan_out(np.shape(want), dtype))
    assert c.dtype == dtype and c.shape == np.shape(want)
    assert rel_err(host(c), want) < tol(dtype, "matmul")


@pytest.mark.parametrize("a_shape,b_shape", cases.MATMUL_1D_CASES, ids=[f"{a}@{b}" for a, b in cases.MATMUL_1D_CASES])
def test_matmul_1d_operands_follow_numpy(impl, a_shape, b_shape):
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    c = impl.matmul(dev(a), dev(b))
    assert c.shape == np.matmul(a, b).shape
    assert rel_err(host(c), np.matmul(a, b)) < 1e-12


def test_matmul_unaligned_views():
    import gradflow.kernels.cuda as cuda

    rng = np.random.default_rng(6)
    a_buf = dev(rng.standard_normal(33 * 64 + 1).astype(np.float32))
    b_buf = dev(rng.standard_normal(64 * 40 + 1).astype(np.float32))
    a, b = a_buf[1:].reshape(33, 64), b_buf[1:].reshape(64, 40)
    c_buf = nan_out((33 * 40 + 1,), np.float32)
    c = c_buf[1:].reshape(33, 40)
    cuda.matmul(a, b, out=c)
    assert rel_err(host(c), host(a).astype(np.float64) @ host(b)) < 1e-4


def test_matmul_tf32_is_opt_in_and_close(impl):
    from gradflow import config

    if int(cupy.cuda.Device().compute_capability) < 80:
        pytest.skip("TF32 needs sm_80 or newer")
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((513, 1024)).astype(np.float32), rng.standard_normal((1024, 257)).astype(np.float32)
    exact = a.astype(np.float64) @ b
    fp32 = rel_err(host(impl.matmul(dev(a), dev(b))), exact)
    config.allow_tf32 = True
    tf32 = rel_err(host(impl.matmul(dev(a), dev(b))), exact)
    assert fp32 < 1e-5, "TF32 must be off unless gradflow.config.allow_tf32 is set"
    assert tf32 < 1e-2
    if impl.__name__.endswith(".cuda"):
        from gradflow.kernels.cuda import _module

        if _module.runtime("matmul").has_tf32():
            assert tf32 > 1e-5, "allow_tf32 did not switch to the tensor-core kernel"
