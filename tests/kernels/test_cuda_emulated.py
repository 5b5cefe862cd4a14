"""The real CUDA sources and launchers, run on the CPU emulator (tests/kernels/_cuda_emu.py):
every op and tile shape against the reference on odd shapes, outputs poisoned with NaN and
guarded against out-of-bounds writes. Also the vendor fallbacks (im2col + GEMM, pooling and
batch-norm array expressions) on NumPy, and the TF32 kernel on the emulator's functional WMMA
model. What this cannot check - speed, real tensor cores, cuBLAS/cuDNN themselves - is in
test_cuda_kernels.py (GPU)."""
from __future__ import annotations

import importlib
import sys
import types

import numpy as np
import pytest

import gradflow.kernels.cuda as cuda
from gradflow.kernels.cuda import _arrayops, _module, launch


def _load(name):
    """tests/ is not a package (pytest --import-mode=importlib): load the helpers by path."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location(f"_gradflow_{name}", Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


cases = _load("_cuda_cases")
emu = cases.load_helper("_cuda_emu")
pytestmark = pytest.mark.skipif(emu.compiler() is None, reason="the CUDA emulator needs a C++17 compiler (g++)")

CONV_CASES, POOL_CASES, BN_CASES, MATMUL_CASES = cases.CONV_CASES, cases.POOL_CASES, cases.BN_CASES, cases.MATMUL_CASES
DTYPES, DTYPE_IDS, tol, rel_err, f64 = cases.DTYPES, cases.DTYPE_IDS, cases.tol, cases.rel_err, cases.f64


class _ArrayOpsOracle:
    """The NumPy vendor fallbacks in float64: an implementation independent of the CUDA kernels,
    used when gradflow.kernels.reference is not there (yet)."""

    def conv2d_forward(self, x, w, b, stride, padding, dilation):
        g = launch.conv_geometry("oracle", x.shape, w.shape, stride, padding, dilation)
        return _arrayops.conv2d_forward(np, np.matmul, x, w, b, g, np.empty(g.y_shape))

    def conv2d_backward_input(self, dy, w, x_shape, stride, padding, dilation):
        g = launch.conv_geometry("oracle", x_shape, w.shape, stride, padding, dilation)
        return _arrayops.conv2d_backward_input(np, np.matmul, dy, w, g, np.empty(g.x_shape))

    def conv2d_backward_filter(self, dy, x, w_shape, stride, padding, dilation):
        g = launch.conv_geometry("oracle", x.shape, w_shape, stride, padding, dilation)
        return _arrayops.conv2d_backward_filter(np, np.matmul, dy, x, g, np.empty(g.w_shape))

    def max_pool2d_forward(self, x, pool, stride, padding):
        g = launch.pool_geometry("oracle", x.shape, pool, stride, padding)
        return _arrayops.max_pool2d_forward(np, x, g, np.empty(g.y_shape))

    def max_pool2d_backward(self, dy, argmax, x_shape, pool, stride, padding):
        g = launch.pool_geometry("oracle", x_shape, pool, stride, padding)
        return _arrayops.max_pool2d_backward(np, np.add.at, dy, argmax, g, np.empty(g.x_shape))

    def avg_pool2d_forward(self, x, pool, stride, padding):
        g = launch.pool_geometry("oracle", x.shape, pool, stride, padding)
        return _arrayops.avg_pool2d_forward(np, x, g, np.empty(g.y_shape))

    def avg_pool2d_backward(self, dy, x_shape, pool, stride, padding):
        g = launch.pool_geometry("oracle", x_shape, pool, stride, padding)
        return _arrayops.avg_pool2d_backward(np, dy, g, np.empty(g.x_shape))

    def batch_norm_forward(self, x, gamma, beta, eps):
        return _arrayops.batch_norm_forward(np, x, gamma, beta, eps, np.empty_like(x))

    def batch_norm_inference(self, x, gamma, beta, mean, var, eps):
        return _arrayops.batch_norm_inference(np, x, gamma, beta, mean, var, eps, np.empty_like(x))

    def batch_norm_backward(self, dy, x, gamma, mean, inv_std):
        return _arrayops.batch_norm_backward(np, dy, x, gamma, mean, inv_std, np.empty_like(x))

    def matmul(self, a, b):
        return np.matmul(a, b)


@pytest.fixture(scope="module")
def ref():
    """kernels/reference.py (the oracle) when it exists, else the NumPy vendor fallbacks."""
    try:
        return importlib.import_module("gradflow.kernels.reference")
    except ImportError:
        return _ArrayOpsOracle()


@pytest.fixture
def rt():
    r = emu.EmuRuntime()  # 132 SMs, as an H100
    with _module.using_runtime(r):
        yield r


def _nan_out(rt, shape, dtype):
    out = rt.xp.empty(shape, dtype)
    assert np.isnan(out).all()  # the poison every kernel must overwrite
    return out


# ---------------------------------------------------------------------------------------------
# conv2d

def _conv_roundtrip(rt, ref, case, dtype, rng, use_out=True, bias=True):
    xs, ws, st, pad, dil = case
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[3]).astype(dtype) if bias else None
    g = launch.conv_geometry("test", xs, ws, st, pad, dil)
    dy = rng.standard_normal(g.y_shape).astype(dtype)
    dev = rt.device
    out = (lambda s: _nan_out(rt, s, dtype)) if use_out else (lambda s: None)
    y = cuda.conv2d_forward(dev(x), dev(w), None if b is None else dev(b), st, pad, dil, out=out(g.y_shape))
    dx = cuda.conv2d_backward_input(dev(dy), dev(w), xs, st, pad, dil, out=out(xs))
    dw = cuda.conv2d_backward_filter(dev(dy), dev(x), ws, st, pad, dil, out=out(ws))
    for name, got, want in [
        ("forward", y, ref.conv2d_forward(*f64(x, w, b), st, pad, dil)),
        ("backward_input", dx, ref.conv2d_backward_input(*f64(dy, w), xs, st, pad, dil)),
        ("backward_filter", dw, ref.conv2d_backward_filter(*f64(dy, x), ws, st, pad, dil)),
    ]:
        assert got.dtype == dtype and got.shape == np.shape(want), name
        err = rel_err(got, want)
        assert err < tol(dtype, "conv"), f"conv2d {name}: rel err {err:.2e}"


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(CONV_CASES), ids=list(CONV_CASES))
def test_conv2d(rt, ref, case, dtype):
    _conv_roundtrip(rt, ref, CONV_CASES[case], dtype, np.random.default_rng(len(case)))


def test_conv2d_without_bias_or_out(rt, ref):
    _conv_roundtrip(rt, ref, CONV_CASES["nonsquare"], np.float32, np.random.default_rng(1), use_out=False, bias=False)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("tile", list(launch.CONV_TILES))
def test_conv2d_every_tile_and_split_k(monkeypatch, ref, tile, dtype):
    """Force each tile shape, and enough SMs with short K slices that the filter gradient splits."""
    monkeypatch.setattr(launch, "choose_conv_tile", lambda M, N, sms=0: launch.CONV_TILES[tile])
    monkeypatch.setattr(launch, "MIN_KTILES_PER_SPLIT", 1)
    r = emu.EmuRuntime(sm_count=64)
    with _module.using_runtime(r):
        _conv_roundtrip(r, ref, ((2, 11, 10, 37), (3, 2, 37, 45), (2, 1), ((1, 0), (0, 1)), (1, 2)), dtype,
                        np.random.default_rng(7))
    names = [name for name, *_ in r.launches]
    assert f"conv2d_fwd_{'f32' if dtype is np.float32 else 'f64'}_{tile}" in names
    assert any(n.startswith("conv2d_splitk_reduce") for n in names)
    assert max(grid[2] for name, grid, _ in r.launches if "bwd_filter" in name) > 1


# ---------------------------------------------------------------------------------------------
# pooling

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", list(POOL_CASES), ids=list(POOL_CASES))
def test_pooling(rt, ref, case, dtype):
    xs, pool, st, pad = POOL_CASES[case]
    rng = np.random.default_rng(3)
    x = rng.standard_normal(xs).astype(dtype)
    x[0, 0, 1, 0] = x[0, 0, 0, 0]  # a tie: the first cell in row-major window order wins
    g = launch.pool_geometry("test", xs, pool, st, pad)
    dy = rng.standard_normal(g.y_shape).astype(dtype)
    dev = rt.device

    y, am = cuda.max_pool2d_forward(dev(x), pool, st, pad, out=_nan_out(rt, g.y_shape, dtype))
    y_ref, am_ref = ref.max_pool2d_forward(*f64(x), pool, st, pad)
    assert am.dtype == np.int64 and am.shape == g.y_shape
    np.testing.assert_array_equal(am, am_ref)
    np.testing.assert_array_equal(y, np.asarray(y_ref).astype(dtype))

    dx = cuda.max_pool2d_backward(dev(dy), dev(am), xs, pool, st, pad, out=_nan_out(rt, xs, dtype))
    assert rel_err(dx, ref.max_pool2d_backward(*f64(dy), am_ref, xs, pool, st, pad)) < tol(dtype, "pool")

    ya = cuda.avg_pool2d_forward(dev(x), pool, st, pad, out=_nan_out(rt, g.y_shape, dtype))
    assert rel_err(ya, ref.avg_pool2d_forward(*f64(x), pool, st, pad)) < tol(dtype, "pool")
    dxa = cuda.avg_pool2d_backward(dev(dy), xs, pool, st, pad, out=_nan_out(rt, xs, dtype))
    assert rel_err(dxa, ref.avg_pool2d_backward(*f64(dy), xs, pool, st, pad)) < tol(dtype, "pool")
    assert cuda.avg_pool2d_forward(dev(x), pool, st, pad).dtype == dtype  # out=None allocates


# ---------------------------------------------------------------------------------------------
# batch norm

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("M,C", BN_CASES)
def test_batch_norm(rt, ref, M, C, dtype):
    rng = np.random.default_rng(M + C)
    x = (rng.standard_normal((M, C)) * 3 + 5).astype(dtype)  # offset mean: one-pass variance must cope
    gamma, beta = rng.standard_normal(C).astype(dtype), rng.standard_normal(C).astype(dtype)
    dy = rng.standard_normal((M, C)).astype(dtype)
    var = (rng.random(C) + 0.5).astype(dtype)
    eps = 1e-3
    dev = rt.device

    y, mean, inv_std = cuda.batch_norm_forward(dev(x), dev(gamma), dev(beta), eps, out=_nan_out(rt, (M, C), dtype))
    y_ref, mean_ref, inv_ref = ref.batch_norm_forward(*f64(x, gamma, beta), eps)
    for name, got, want in [("y", y, y_ref), ("mean", mean, mean_ref), ("inv_std", inv_std, inv_ref)]:
        assert got.dtype == dtype
        assert rel_err(got, want) < tol(dtype, "bn"), name

    yi = cuda.batch_norm_inference(dev(x), dev(gamma), dev(beta), dev(np.asarray(mean_ref, dtype)), dev(var), eps,
                                   out=_nan_out(rt, (M, C), dtype))
    assert rel_err(yi, ref.batch_norm_inference(*f64(x, gamma, beta, mean_ref, var), eps)) < tol(dtype, "bn")

    mean_d, inv_d = np.asarray(mean_ref, dtype), np.asarray(inv_ref, dtype)
    dx, dgamma, dbeta = cuda.batch_norm_backward(dev(dy), dev(x), dev(gamma), dev(mean_d), dev(inv_d),
                                                 out=_nan_out(rt, (M, C), dtype))
    want = ref.batch_norm_backward(*f64(dy, x, gamma, mean_d, inv_d))
    for name, got, w in zip(("dx", "dgamma", "dbeta"), (dx, dgamma, dbeta), want):
        assert rel_err(got, w) < tol(dtype, "bn"), name


# ---------------------------------------------------------------------------------------------
# matmul

@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("a_shape,b_shape", MATMUL_CASES, ids=[f"{a}@{b}" for a, b in MATMUL_CASES])
def test_matmul(rt, ref, a_shape, b_shape, dtype):
    rng = np.random.default_rng(5)
    a, b = rng.standard_normal(a_shape).astype(dtype), rng.standard_normal(b_shape).astype(dtype)
    want = ref.matmul(*f64(a, b))
    c = cuda.matmul(rt.device(a), rt.device(b), out=_nan_out(rt, np.shape(want), dtype))
    assert c.dtype == dtype and c.shape == np.shape(want)
    assert rel_err(c, want) < tol(dtype, "matmul")


@pytest.mark.parametrize("a_shape,b_shape", cases.MATMUL_1D_CASES, ids=[f"{a}@{b}" for a, b in cases.MATMUL_1D_CASES])
def test_matmul_1d_operands_follow_numpy(rt, a_shape, b_shape):
    """Beyond the contract: 1-D operands are promoted and dropped as numpy.matmul does."""
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    c = cuda.matmul(rt.device(a), rt.device(b))
    assert c.shape == np.matmul(a, b).shape
    assert rel_err(c, np.matmul(a, b)) < 1e-12


def test_matmul_unaligned_operands_take_the_scalar_path(rt, ref):
    """Views starting 1 element into a buffer are not 16-byte aligned: no vector loads/stores."""
    rng = np.random.default_rng(6)
    a_buf, b_buf = rt.device(rng.standard_normal(33 * 64 + 1).astype(np.float32)), rt.device(
        rng.standard_normal(64 * 40 + 1).astype(np.float32))
    a, b = a_buf[1:].reshape(33, 64), b_buf[1:].reshape(64, 40)
    c_buf = rt.xp.empty(33 * 40 + 1, np.float32)
    c = c_buf[1:].reshape(33, 40)
    cuda.matmul(a, b, out=c)
    assert rel_err(c, ref.matmul(*f64(a, b))) < 1e-4


def _tf32(a):
    """cvt.rna.tf32.f32 on the host: round float32 to 10 mantissa bits, ties away from zero."""
    bits = np.asarray(a, np.float32).view(np.uint32)
    return ((bits + np.uint32(0x1000)) & np.uint32(0xFFFFE000)).view(np.float32)


@pytest.mark.parametrize("a_shape,b_shape", [((130, 70), (70, 200)), ((3, 33, 17), (17, 129)), ((5, 8), (8, 4))])
def test_matmul_tf32_kernel_on_the_wmma_model(monkeypatch, a_shape, b_shape):
    """allow_tf32 selects matmul_tf32, which must equal the float32-accumulated product of the
    TF32-rounded inputs (tiles, fragment offsets and the staged epilogue are exercised)."""
    from gradflow import config

    rng = np.random.default_rng(11)
    a, b = rng.standard_normal(a_shape).astype(np.float32), rng.standard_normal(b_shape).astype(np.float32)
    r = emu.EmuRuntime(tf32=True)
    with _module.using_runtime(r):
        c32 = cuda.matmul(r.device(a), r.device(b))
        monkeypatch.setattr(config, "allow_tf32", True)
        c = cuda.matmul(r.device(a), r.device(b), out=_nan_out(r, np.matmul(a, b).shape, np.float32))
    assert [name for name, *_ in r.launches] == ["matmul_f32", "matmul_tf32"]
    assert rel_err(c, np.matmul(_tf32(a).astype(np.float64), _tf32(b))) < 1e-6
    assert rel_err(c32, np.matmul(a.astype(np.float64), b)) < 1e-6


def test_the_emulator_catches_a_missing_barrier(monkeypatch):
    """The harness has teeth: matmul.cu without its end-of-slice __syncthreads computes garbage."""
    src = _module.source("matmul.cu")
    broken = src.replace("if (t + 1 < ktiles) stash(cur ^ 1);\n        __syncthreads();", "if (t + 1 < ktiles) stash(cur ^ 1);", 1)
    assert broken != src
    monkeypatch.setattr(emu._module, "source", lambda f: broken if f == "matmul.cu" else src)
    r = emu.EmuRuntime()
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((40, 50)), rng.standard_normal((50, 30))
    with _module.using_runtime(r):
        c = cuda.matmul(r.device(a), r.device(b))
    assert rel_err(c, a @ b) > 1e-3


# ---------------------------------------------------------------------------------------------
# vendor wrappers on NumPy standing in for CuPy (the no-cuDNN path, as with CuPy 14)

class _NumpyAsCupy:
    name = "cupy"
    cp = xp = np

    def is_device_array(self, arr):
        return isinstance(arr, np.ndarray)

    def sm_count(self):
        return 2

    def compute_capability(self):
        return 0


@pytest.fixture
def fake_cupy(monkeypatch):
    from gradflow.kernels.cuda import vendor

    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(scatter_add=np.add.at))
    monkeypatch.setattr(vendor, "_cudnn_state", {})
    with _module.using_runtime(_NumpyAsCupy()):
        yield vendor


def test_vendor_fallbacks_match_the_reference(fake_cupy, ref):
    vendor = fake_cupy
    assert vendor.conv_backend().startswith("im2col+cublas")
    rng = np.random.default_rng(9)
    for xs, ws, st, pad, dil in (CONV_CASES["same_even_kernel"], CONV_CASES["wide"]):
        x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[3])
        g = launch.conv_geometry("t", xs, ws, st, pad, dil)
        dy = rng.standard_normal(g.y_shape)
        out = np.full(g.y_shape, np.nan)
        assert vendor.conv2d_forward(x, w, b, st, pad, dil, out=out) is out
        assert rel_err(out, ref.conv2d_forward(x, w, b, st, pad, dil)) < 1e-12
        assert rel_err(vendor.conv2d_backward_input(dy, w, xs, st, pad, dil),
                       ref.conv2d_backward_input(dy, w, xs, st, pad, dil)) < 1e-12
        assert rel_err(vendor.conv2d_backward_filter(dy, x, ws, st, pad, dil),
                       ref.conv2d_backward_filter(dy, x, ws, st, pad, dil)) < 1e-12
    xs, pool, st, pad = POOL_CASES["nonsquare_stride_gt_pool"]
    x = rng.standard_normal(xs)
    y, am = vendor.max_pool2d_forward(x, pool, st, pad)
    y_ref, am_ref = ref.max_pool2d_forward(x, pool, st, pad)
    np.testing.assert_array_equal(am, am_ref)
    dy = rng.standard_normal(y.shape)
    assert rel_err(vendor.max_pool2d_backward(dy, am, xs, pool, st, pad),
                   ref.max_pool2d_backward(dy, am_ref, xs, pool, st, pad)) < 1e-12
    assert rel_err(vendor.avg_pool2d_backward(dy, xs, pool, st, pad), ref.avg_pool2d_backward(dy, xs, pool, st, pad)) < 1e-12
    x, gamma, beta = rng.standard_normal((50, 6)), rng.standard_normal(6), rng.standard_normal(6)
    y, mean, inv_std = vendor.batch_norm_forward(x, gamma, beta, 1e-5)
    assert rel_err(y, ref.batch_norm_forward(x, gamma, beta, 1e-5)[0]) < 1e-12
    dx, dg, db = vendor.batch_norm_backward(np.ones_like(x), x, gamma, mean, inv_std)
    assert rel_err(db, np.full(6, 50.0)) < 1e-12
    assert rel_err(vendor.matmul(x, x.T), x @ x.T) < 1e-12
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ"):
        vendor.matmul(x, x)


def test_vendor_refuses_the_emulator():
    from gradflow.kernels.cuda import vendor

    with _module.using_runtime(emu.EmuRuntime()):
        with pytest.raises(RuntimeError, match=r"matmul \(vendor\) runs on CuPy only"):
            vendor.matmul(np.ones((2, 2)), np.ones((2, 2)))
