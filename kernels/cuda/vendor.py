"""The ``vendor`` implementations: NVIDIA's libraries through CuPy, the yardstick our own CUDA
kernels are measured against (same names and contracts as ``gradflow.kernels.cuda``).

* ``matmul``: ``cupy.matmul`` (cuBLAS).
* ``conv2d_*``: cuDNN through CuPy's cuDNN bindings (CuPy <= 13 with cuDNN installed), channels-last
  (NHWC) descriptors; asymmetric padding is applied with ``cupy.pad`` first. CuPy 14 removed its
  cuDNN support; there (and wherever cuDNN does not load) conv2d falls back to im2col + cuBLAS
  (``_arrayops``), which is exact but not cuDNN's speed - ``conv_backend()`` says which is in use.
* pooling and batch norm: plain CuPy array expressions (``_arrayops``). cuDNN's pooling returns
  no argmax and describes tensors as NCHW, so it would need transposes and a second pass.

TF32 follows ``gradflow.config.allow_tf32`` (off by default) on every call:

* cuBLAS: CuPy picks the GEMM compute type per dtype; for float32 we set COMPUTE_TYPE_TF32 when
  TF32 is allowed on an sm_80+ GPU and COMPUTE_TYPE_DEFAULT (full FP32; cuBLAS's default math
  mode never uses TF32) otherwise, and restore CuPy's setting afterwards. This overrides
  CuPy's own process-wide switch, the ``CUPY_TF32=1`` environment variable, for these calls.
* cuDNN: the convolution descriptor's math type is ``CUDNN_FMA_MATH`` (FMA kernels only) unless
  TF32 is allowed, then ``CUDNN_DEFAULT_MATH`` (which permits TF32 tensor cores on sm_80+). If
  cuDNN offers no FMA algorithm for a shape, or a cuDNN call fails, that pass uses im2col + cuBLAS
  instead (warned once per op and reported by ``conv_backend()``).
* ``NVIDIA_TF32_OVERRIDE=0`` in the environment disables TF32 in every NVIDIA library regardless.
"""
from __future__ import annotations

import contextlib
import sys
import warnings

import numpy as np

from .. import _composed
from .._geometry import check_activation, check_bias_act
from . import _arrayops, _arrays, _module, launch

__all__ = [
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul", "conv_backend", "bias_act_backward", "bn_relu_max_pool_forward", "bn_relu_max_pool_backward",
    "conv2d_pool_forward",
]

#: workspace cuDNN may use per convolution call (bytes)
CUDNN_WORKSPACE = 512 * 1024 * 1024

_COMPUTE_TYPE_DEFAULT, _COMPUTE_TYPE_TF32 = 1, 7  # cupy._core._routines_linalg enum values


def _rt(op: str):
    rt = _module.runtime(op)
    if rt.name != "cupy":  # the CPU emulator cannot run library calls
        raise RuntimeError(f"{op} (vendor) runs on CuPy only, not on the {rt.name!r} runtime")
    return rt


def _allow_tf32() -> bool:
    from gradflow import config  # noqa: PLC0415

    return bool(config.allow_tf32)


# ---------------------------------------------------------------------------------------------
# cuBLAS

@contextlib.contextmanager
def _cublas_math(rt, dtype):
    """Set CuPy's cuBLAS compute type for float32 from config.allow_tf32 for the block."""
    if np.dtype(dtype) != np.float32:
        yield
        return
    try:
        from cupy._core import _routines_linalg as rl  # noqa: PLC0415 - private, guarded
        previous = rl.get_compute_type(np.float32)
    except Exception:  # noqa: BLE001 - layout differs in this CuPy: leave its default alone
        yield
        return
    tf32 = launch.use_tf32(dtype, _allow_tf32(), rt.compute_capability())
    rl.set_compute_type(np.float32, getattr(rl, "COMPUTE_TYPE_TF32" if tf32 else "COMPUTE_TYPE_DEFAULT",
                                            _COMPUTE_TYPE_TF32 if tf32 else _COMPUTE_TYPE_DEFAULT))
    try:
        yield
    finally:
        rl.set_compute_type(np.float32, previous)


def _gemm(rt):
    def gemm(a, b):
        with _cublas_math(rt, a.dtype):
            return rt.cp.matmul(a, b)
    return gemm


def matmul(a, b, out=None):
    """c = a @ b (numpy.matmul semantics) with cuBLAS."""
    op = "matmul"
    rt = _rt(op)
    a = _arrays.device_input(rt, op, "a", a)
    launch.dtype_suffix(op, a.dtype)
    b = _arrays.device_input(rt, op, "b", b, a.dtype)
    s = launch.matmul_shapes(op, a.shape, b.shape)
    c = _arrays.output(rt, op, out, s.out_shape, a.dtype)
    with _cublas_math(rt, a.dtype):
        rt.cp.matmul(a, b, out=c)
    return c


# ---------------------------------------------------------------------------------------------
# cuDNN

_cudnn_state: dict = {}


def _cudnn():
    """CuPy's low-level cuDNN module and cupyx.cudnn, or None (reason in conv_backend())."""
    if "lib" not in _cudnn_state:
        try:
            import cupyx.cudnn as high  # noqa: PLC0415 - gone in CuPy 14
            from cupy.cuda import cudnn as low  # noqa: PLC0415

            low.getVersion()  # loads libcudnn
            _cudnn_state.update(lib=(low, high), why="")
        except Exception as exc:  # noqa: BLE001 - ImportError, missing libcudnn
            _cudnn_state.update(lib=None, why=f"{type(exc).__name__}: {exc}")
    return _cudnn_state["lib"]


def conv_backend() -> str:
    """Which library vendor conv2d uses here: ``"cudnn"``, ``"im2col+cublas (<why>)"``, or
    ``"cudnn; im2col+cublas for <op>: <why>"`` after a pass fell back."""
    if not _cudnn():
        return f"im2col+cublas ({_cudnn_state.get('why', '')})"
    fell = _cudnn_state.get("fallbacks", {})
    return "cudnn" + "".join(f"; im2col+cublas for {op}: {why}" for op, why in fell.items())


class _NoAlgorithm(Exception):
    """cuDNN has no algorithm for this call under the requested math type."""


class _ConvDescriptors:
    """NHWC tensor/filter and cross-correlation descriptors for one call (destroyed on exit)."""

    def __init__(self, low, x_shape, w_nhwc_shape, y_shape, pad, stride, dilation, dtype, math):
        dt = low.CUDNN_DATA_FLOAT if np.dtype(dtype) == np.float32 else low.CUDNN_DATA_DOUBLE
        nhwc = low.CUDNN_TENSOR_NHWC
        self.low = low
        self.x = low.createTensorDescriptor()
        self.y = low.createTensorDescriptor()
        self.w = low.createFilterDescriptor()
        self.conv = low.createConvolutionDescriptor()
        n, h, w, c = x_shape
        low.setTensor4dDescriptor(self.x, nhwc, dt, n, c, h, w)
        n, h, w, c = y_shape
        low.setTensor4dDescriptor(self.y, nhwc, dt, n, c, h, w)
        f, kh, kw, c = w_nhwc_shape
        low.setFilter4dDescriptor_v4(self.w, dt, nhwc, f, c, kh, kw)
        low.setConvolution2dDescriptor_v5(self.conv, pad[0], pad[1], stride[0], stride[1], dilation[0],
                                          dilation[1], low.CUDNN_CROSS_CORRELATION, dt)
        low.setConvolutionMathType(self.conv, math)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.low.destroyTensorDescriptor(self.x)
        self.low.destroyTensorDescriptor(self.y)
        self.low.destroyFilterDescriptor(self.w)
        self.low.destroyConvolutionDescriptor(self.conv)


def _math_types(low):
    fma = getattr(low, "CUDNN_FMA_MATH", 3)
    default = getattr(low, "CUDNN_DEFAULT_MATH", 0)
    return (default, None) if _allow_tf32() else (fma, {fma})


def _pick(perfs, allowed, deterministic: bool):
    for p in perfs:
        if p.status != 0 or p.memory > CUDNN_WORKSPACE:
            continue
        if allowed is not None and p.mathType not in allowed:
            continue
        if deterministic and p.determinism == 0:
            continue
        return p
    raise _NoAlgorithm()


def _cudnn_conv(rt, kind: str, g, x_pad_shape, pad, arrays, out):
    """Run one cuDNN convolution pass; ``arrays`` are (x, w_nhwc) / (dy, w_nhwc) / (x, dy)."""
    from gradflow import config  # noqa: PLC0415

    low, high = _cudnn()
    cp = rt.cp
    dtype = out.dtype
    math, allowed = _math_types(low)
    one, zero = np.ones((), dtype), np.zeros((), dtype)
    handle = high.get_handle()
    w_nhwc_shape = (g.F, g.KH, g.KW, g.C)
    with _ConvDescriptors(low, x_pad_shape, w_nhwc_shape, g.y_shape, pad, (g.sh, g.sw), (g.dh, g.dw),
                          dtype, math) as d:
        if kind == "fwd":
            x, w = arrays
            perf = _pick(low.getConvolutionForwardAlgorithm_v7(handle, d.x, d.w, d.conv, d.y, 16), allowed, False)
        elif kind == "bwd_input":
            dy, w = arrays
            perf = _pick(low.getConvolutionBackwardDataAlgorithm_v7(handle, d.w, d.y, d.conv, d.x, 16), allowed,
                         config.deterministic)
        else:
            x, dy = arrays
            perf = _pick(low.getConvolutionBackwardFilterAlgorithm_v7(handle, d.x, d.y, d.conv, d.w, 16), allowed,
                         config.deterministic)
        low.setConvolutionMathType(d.conv, perf.mathType)
        ws = cp.empty((max(int(perf.memory), 1),), dtype=np.uint8)
        args = (ws.data.ptr, int(perf.memory), zero.ctypes.data)
        if kind == "fwd":
            low.convolutionForward(handle, one.ctypes.data, d.x, x.data.ptr, d.w, w.data.ptr, d.conv, perf.algo,
                                   *args, d.y, out.data.ptr)
        elif kind == "bwd_input":
            low.convolutionBackwardData_v3(handle, one.ctypes.data, d.w, w.data.ptr, d.y, dy.data.ptr, d.conv,
                                           perf.algo, *args, d.x, out.data.ptr)
        else:
            low.convolutionBackwardFilter_v3(handle, one.ctypes.data, d.x, x.data.ptr, d.y, dy.data.ptr, d.conv,
                                             perf.algo, *args, d.w, out.data.ptr)


def _symmetric(g):
    return g.pt == g.pb and g.pl == g.pr


def _padded_x_shape(g):
    return (g.N, g.H + g.pt + g.pb, g.W + g.pl + g.pr, g.C)


def _fallback(op: str, why: str) -> None:
    fell = _cudnn_state.setdefault("fallbacks", {})
    if op not in fell:
        fell[op] = why
        warnings.warn(f"gradflow vendor {op}: {why}; using im2col + cuBLAS", RuntimeWarning, stacklevel=3)


def _try_cudnn(rt, op, kind, g, arrays_fn, out) -> bool:
    """Run the pass on cuDNN if it is here and works; False means use the fallback (recorded in
    conv_backend() and warned about once per op)."""
    if _cudnn() is None:
        return False
    try:
        arrays, x_shape, pad = arrays_fn()
        _cudnn_conv(rt, kind, g, x_shape, pad, arrays, out)
        return True
    except _NoAlgorithm:
        _fallback(op, "cuDNN offers no full-FP32 (FMA) algorithm for this shape")
    except Exception as exc:  # noqa: BLE001 - a cuDNN/binding error: stay correct, say so
        _fallback(op, f"cuDNN failed ({type(exc).__name__}: {exc})")
    return False


def conv2d_forward(x, w, b, stride, padding, dilation, out=None, activation=None):
    op = "conv2d_forward"
    relu = check_activation(op, activation)
    rt = _rt(op)
    cp = rt.cp
    x = _arrays.device_input(rt, op, "x", x)
    launch.dtype_suffix(op, x.dtype)
    w = _arrays.device_input(rt, op, "w", w, x.dtype)
    g = launch.conv_geometry(op, x.shape, w.shape, stride, padding, dilation)
    if b is not None:
        b = _arrays.device_input(rt, op, "b", b, x.dtype)
        launch.check_vectors(op, g.F, b=b.shape)
    y = _arrays.output(rt, op, out, g.y_shape, x.dtype)

    def arrays():
        w_nhwc = cp.ascontiguousarray(w.transpose(3, 0, 1, 2))
        if _symmetric(g):
            return (x, w_nhwc), g.x_shape, (g.pt, g.pl)
        xp_ = cp.pad(x, ((0, 0), (g.pt, g.pb), (g.pl, g.pr), (0, 0)))
        return (xp_, w_nhwc), _padded_x_shape(g), (0, 0)

    if _try_cudnn(rt, op, "fwd", g, arrays, y):
        if b is not None:
            y += b
    else:
        y = _arrayops.conv2d_forward(cp, _gemm(rt), x, w, b, g, y)
    if relu:
        cp.maximum(y, 0, out=y)
    return y


def bias_act_backward(dy, y=None, out=None):
    """(dy_eff, db) of a bias + ReLU epilogue (kernels/README.md), as two CuPy expressions."""
    op = "bias_act_backward"
    rt = _rt(op)
    dy = _arrays.device_input(rt, op, "dy", dy)
    launch.dtype_suffix(op, dy.dtype)
    if y is not None:
        y = _arrays.device_input(rt, op, "y", y, dy.dtype)
    check_bias_act(op, dy, y)
    out = None if out is None else _arrays.output(rt, op, out, dy.shape, dy.dtype)
    return _arrayops.bias_act_backward(rt.cp, dy, y, out)


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    op = "conv2d_backward_input"
    rt = _rt(op)
    cp = rt.cp
    dy = _arrays.device_input(rt, op, "dy", dy)
    launch.dtype_suffix(op, dy.dtype)
    w = _arrays.device_input(rt, op, "w", w, dy.dtype)
    g = launch.conv_geometry(op, x_shape, w.shape, stride, padding, dilation, dy_shape=dy.shape)
    dx = _arrays.output(rt, op, out, g.x_shape, dy.dtype)

    def arrays():
        w_nhwc = cp.ascontiguousarray(w.transpose(3, 0, 1, 2))
        if _symmetric(g):
            return (dy, w_nhwc), g.x_shape, (g.pt, g.pl)
        return (dy, w_nhwc), _padded_x_shape(g), (0, 0)

    if _symmetric(g):
        if _try_cudnn(rt, op, "bwd_input", g, arrays, dx):
            return dx
    else:
        dxpad = cp.empty(_padded_x_shape(g), dtype=dy.dtype)
        if _try_cudnn(rt, op, "bwd_input", g, arrays, dxpad):
            dx[...] = dxpad[:, g.pt:g.pt + g.H, g.pl:g.pl + g.W, :]
            return dx
    return _arrayops.conv2d_backward_input(cp, _gemm(rt), dy, w, g, dx)


def conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None, bias_out=None):
    dw = _backward_filter(dy, x, w_shape, stride, padding, dilation, out)
    _arrays.bias_grad_into(_rt("conv2d_backward_filter"), "conv2d_backward_filter", dy, bias_out)
    return dw


def _backward_filter(dy, x, w_shape, stride, padding, dilation, out):
    op = "conv2d_backward_filter"
    rt = _rt(op)
    cp = rt.cp
    x = _arrays.device_input(rt, op, "x", x)
    launch.dtype_suffix(op, x.dtype)
    dy = _arrays.device_input(rt, op, "dy", dy, x.dtype)
    g = launch.conv_geometry(op, x.shape, w_shape, stride, padding, dilation, dy_shape=dy.shape)
    dw = _arrays.output(rt, op, out, g.w_shape, x.dtype)

    def arrays():
        if _symmetric(g):
            return (x, dy), g.x_shape, (g.pt, g.pl)
        return (cp.pad(x, ((0, 0), (g.pt, g.pb), (g.pl, g.pr), (0, 0))), dy), _padded_x_shape(g), (0, 0)

    dw_nhwc = cp.empty((g.F, g.KH, g.KW, g.C), dtype=x.dtype)
    if _try_cudnn(rt, op, "bwd_filter", g, arrays, dw_nhwc):
        dw[...] = dw_nhwc.transpose(1, 2, 3, 0)
        return dw
    return _arrayops.conv2d_backward_filter(cp, _gemm(rt), dy, x, g, dw)


# ---------------------------------------------------------------------------------------------
# pooling and batch norm: CuPy array expressions

def max_pool2d_forward(x, pool, stride, padding, out=None):
    op = "max_pool2d_forward"
    rt = _rt(op)
    x = _arrays.device_input(rt, op, "x", x)
    launch.dtype_suffix(op, x.dtype)
    g = launch.pool_geometry(op, x.shape, pool, stride, padding)
    return _arrayops.max_pool2d_forward(rt.cp, x, g, _arrays.output(rt, op, out, g.y_shape, x.dtype))


def max_pool2d_backward(dy, argmax, x_shape, pool, stride, padding, out=None):
    import cupyx  # noqa: PLC0415

    op = "max_pool2d_backward"
    rt = _rt(op)
    dy = _arrays.device_input(rt, op, "dy", dy)
    launch.dtype_suffix(op, dy.dtype)
    g = launch.pool_geometry(op, x_shape, pool, stride, padding, dy_shape=dy.shape)
    argmax = _arrays.device_input(rt, op, "argmax", argmax, np.int64)
    if tuple(argmax.shape) != g.y_shape:
        raise ValueError(f"{op}: argmax must have the shape of dy {g.y_shape}, got {tuple(argmax.shape)}")
    dx = _arrays.output(rt, op, out, g.x_shape, dy.dtype)
    return _arrayops.max_pool2d_backward(rt.cp, cupyx.scatter_add, dy, argmax, g, dx)


def avg_pool2d_forward(x, pool, stride, padding, out=None):
    op = "avg_pool2d_forward"
    rt = _rt(op)
    x = _arrays.device_input(rt, op, "x", x)
    launch.dtype_suffix(op, x.dtype)
    g = launch.pool_geometry(op, x.shape, pool, stride, padding)
    return _arrayops.avg_pool2d_forward(rt.cp, x, g, _arrays.output(rt, op, out, g.y_shape, x.dtype))


def avg_pool2d_backward(dy, x_shape, pool, stride, padding, out=None):
    op = "avg_pool2d_backward"
    rt = _rt(op)
    dy = _arrays.device_input(rt, op, "dy", dy)
    launch.dtype_suffix(op, dy.dtype)
    g = launch.pool_geometry(op, x_shape, pool, stride, padding, dy_shape=dy.shape)
    return _arrayops.avg_pool2d_backward(rt.cp, dy, g, _arrays.output(rt, op, out, g.x_shape, dy.dtype))


def _bn_inputs(rt, op, x, **vectors):
    x = _arrays.device_input(rt, op, "x", x)
    launch.dtype_suffix(op, x.dtype)
    if x.ndim != 2:
        raise ValueError(f"{op}: x must be 2-D [M, C], got shape {tuple(x.shape)}")
    vecs = {n: _arrays.device_input(rt, op, n, v, x.dtype) for n, v in vectors.items()}
    launch.check_vectors(op, x.shape[1], **{n: v.shape for n, v in vecs.items()})
    return x, vecs


def batch_norm_forward(x, gamma, beta, eps, out=None, activation=None):
    op = "batch_norm_forward"
    relu = check_activation(op, activation)
    rt = _rt(op)
    x, v = _bn_inputs(rt, op, x, gamma=gamma, beta=beta)
    y = _arrays.output(rt, op, out, x.shape, x.dtype)
    y, mean, inv_std = _arrayops.batch_norm_forward(rt.cp, x, v["gamma"], v["beta"], eps, y)
    if relu:
        rt.cp.maximum(y, 0, out=y)
    return y, mean, inv_std


def batch_norm_inference(x, gamma, beta, mean, var, eps, out=None, activation=None):
    op = "batch_norm_inference"
    relu = check_activation(op, activation)
    rt = _rt(op)
    x, v = _bn_inputs(rt, op, x, gamma=gamma, beta=beta, mean=mean, var=var)
    y = _arrays.output(rt, op, out, x.shape, x.dtype)
    y = _arrayops.batch_norm_inference(rt.cp, x, v["gamma"], v["beta"], v["mean"], v["var"], eps, y)
    if relu:
        rt.cp.maximum(y, 0, out=y)
    return y


def batch_norm_backward(dy, x, gamma, mean, inv_std, out=None, y=None):
    op = "batch_norm_backward"
    rt = _rt(op)
    x, v = _bn_inputs(rt, op, x, gamma=gamma, mean=mean, inv_std=inv_std)
    dy = _arrays.device_input(rt, op, "dy", dy, x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"{op}: dy must have the shape of x {tuple(x.shape)}, got {tuple(dy.shape)}")
    if y is not None:  # the forward ended with ReLU
        y = _arrays.device_input(rt, op, "y", y, x.dtype)
        if y.shape != x.shape:
            raise ValueError(f"{op}: y must have the shape of x {tuple(x.shape)}, got {tuple(y.shape)}")
        dy = dy * (y > 0)
    dx = _arrays.output(rt, op, out, x.shape, x.dtype)
    return _arrayops.batch_norm_backward(rt.cp, dy, x, v["gamma"], v["mean"], v["inv_std"], dx)


def bn_relu_max_pool_forward(x, gamma, beta, eps, pool, out=None):
    """Batch norm -> ReLU -> max-pool (stride = pool, no padding), composed from this module's kernels."""
    return _composed.bn_relu_max_pool_forward(_THIS, x, gamma, beta, eps, pool, out)


def bn_relu_max_pool_backward(dy, y, argmax, x, gamma, mean, inv_std, pool, out=None):
    return _composed.bn_relu_max_pool_backward(_THIS, dy, y, argmax, x, gamma, mean, inv_std, pool, out)


def conv2d_pool_forward(x, w, b, stride, padding, dilation, pool, out=None, activation=None, scale=None):
    """Inference conv (+ bias, activation) -> max-pool (stride = pool, no padding), composed from this
    module's kernels."""
    return _composed.conv2d_pool_forward(_THIS, x, w, b, stride, padding, dilation, pool, out, activation, scale)


_THIS = sys.modules[__name__]
