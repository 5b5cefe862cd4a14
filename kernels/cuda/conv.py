"""conv2d forward and both backward passes on the implicit-GEMM kernels of conv2d.cu."""
from __future__ import annotations

from .._geometry import check_activation
from . import _arrays, _module, launch

__all__ = ["conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter"]


def _launch(rt, ref, grid, block, args) -> None:
    rt.kernel(ref)(grid, block, launch.pack_args(ref, args))


def conv2d_forward(x, w, b, stride, padding, dilation, out=None, activation=None):
    """y[N,OH,OW,F] = act(conv(x[N,H,W,C], w[KH,KW,C,F]) + b[F]) (b may be None; act None or 'relu')."""
    op = "conv2d_forward"
    relu = check_activation(op, activation)
    rt = _module.runtime(op)
    x = _arrays.device_input(rt, op, "x", x)
    sfx = launch.dtype_suffix(op, x.dtype)
    w = _arrays.device_input(rt, op, "w", w, x.dtype)
    g = launch.conv_geometry(op, x.shape, w.shape, stride, padding, dilation)
    if b is not None:
        b = _arrays.device_input(rt, op, "b", b, x.dtype)
        launch.check_vectors(op, g.F, b=b.shape)
    y = _arrays.output(rt, op, out, g.y_shape, x.dtype)
    plan = launch.conv_launch(op, "fwd", g, sfx, rt.sm_count())
    has_bias = b is not None
    _launch(rt, plan.kernel, plan.grid, plan.block,
            (x, w, b if has_bias else y, y, int(has_bias)) + g.kernel_args())
    if relu:
        rt.xp.maximum(y, 0, out=y)
    return y


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    """dx[N,H,W,C] for y = conv(x, w), from dy[N,OH,OW,F]."""
    op = "conv2d_backward_input"
    rt = _module.runtime(op)
    dy = _arrays.device_input(rt, op, "dy", dy)
    sfx = launch.dtype_suffix(op, dy.dtype)
    w = _arrays.device_input(rt, op, "w", w, dy.dtype)
    g = launch.conv_geometry(op, x_shape, w.shape, stride, padding, dilation, dy_shape=dy.shape)
    dx = _arrays.output(rt, op, out, g.x_shape, dy.dtype)
    plan = launch.conv_launch(op, "bwd_input", g, sfx, rt.sm_count())
    _launch(rt, plan.kernel, plan.grid, plan.block, (dy, w, dx) + g.kernel_args())
    return dx


def conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None, bias_out=None):
    """dw[KH,KW,C,F] for y = conv(x, w), from dy[N,OH,OW,F] (split over the pixels when that
    fills the GPU better; the partial sums are added in a fixed order); with ``bias_out`` also
    the bias gradient (a CuPy reduction)."""
    dw = _backward_filter(dy, x, w_shape, stride, padding, dilation, out)
    _arrays.bias_grad_into(_module.runtime("conv2d_backward_filter"), "conv2d_backward_filter", dy, bias_out)
    return dw


def _backward_filter(dy, x, w_shape, stride, padding, dilation, out):
    op = "conv2d_backward_filter"
    rt = _module.runtime(op)
    x = _arrays.device_input(rt, op, "x", x)
    sfx = launch.dtype_suffix(op, x.dtype)
    dy = _arrays.device_input(rt, op, "dy", dy, x.dtype)
    g = launch.conv_geometry(op, x.shape, w_shape, stride, padding, dilation, dy_shape=dy.shape)
    dw = _arrays.output(rt, op, out, g.w_shape, x.dtype)
    sms = rt.sm_count()
    plan = launch.conv_launch(op, "bwd_filter", g, sfx, sms)
    if plan.splits == 1:
        _launch(rt, plan.kernel, plan.grid, plan.block, (x, dy, dw) + g.kernel_args() + (plan.k_chunk,))
        return dw
    ws = rt.xp.empty((plan.splits,) + g.w_shape, dtype=x.dtype)
    _launch(rt, plan.kernel, plan.grid, plan.block, (x, dy, ws) + g.kernel_args() + (plan.k_chunk,))
    reduce_ref = launch.kernel_ref("conv2d_splitk_reduce", sfx)
    grid = (launch.grid_stride_blocks(dw.size, sms), 1, 1)
    _launch(rt, reduce_ref, grid, (launch.BLOCK, 1, 1), (ws, dw, plan.splits, dw.size))
    return dw
