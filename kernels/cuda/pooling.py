"""Max and average pooling (forward and backward) on the kernels of pool.cu."""
from __future__ import annotations

import numpy as np

from . import _arrays, _module, launch

__all__ = ["max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward"]


def _launch(rt, family: str, sfx: str, total: int, args) -> None:
    ref = launch.kernel_ref(family, sfx)
    grid = (launch.grid_stride_blocks(total, rt.sm_count()), 1, 1)
    rt.kernel(ref)(grid, (launch.BLOCK, 1, 1), launch.pack_args(ref, args))


def max_pool2d_forward(x, pool, stride, padding, out=None):
    """``(y, argmax)``: argmax is int64, the flat index h*W + w into the (n, c) input plane."""
    op = "max_pool2d_forward"
    rt = _module.runtime(op)
    x = _arrays.device_input(rt, op, "x", x)
    sfx = launch.dtype_suffix(op, x.dtype)
    g = launch.pool_geometry(op, x.shape, pool, stride, padding)
    y = _arrays.output(rt, op, out, g.y_shape, x.dtype)
    argmax = rt.xp.empty(g.y_shape, dtype=np.int64)
    _launch(rt, "maxpool_fwd", sfx, y.size, (x, y, argmax) + g.kernel_args())
    return y, argmax


def max_pool2d_backward(dy, argmax, x_shape, pool, stride, padding, out=None):
    """dx: each input cell sums the dy of the windows whose argmax it is."""
    op = "max_pool2d_backward"
    rt = _module.runtime(op)
    dy = _arrays.device_input(rt, op, "dy", dy)
    sfx = launch.dtype_suffix(op, dy.dtype)
    g = launch.pool_geometry(op, x_shape, pool, stride, padding, dy_shape=dy.shape)
    argmax = _arrays.device_input(rt, op, "argmax", argmax, np.int64)
    if tuple(argmax.shape) != g.y_shape:
        raise ValueError(f"{op}: argmax must have the shape of dy {g.y_shape}, got {tuple(argmax.shape)}")
    dx = _arrays.output(rt, op, out, g.x_shape, dy.dtype)
    _launch(rt, "maxpool_bwd", sfx, dx.size, (dy, argmax, dx) + g.kernel_args())
    return dx


def avg_pool2d_forward(x, pool, stride, padding, out=None):
    """y: mean over the in-bounds cells of each window (padding not counted)."""
    op = "avg_pool2d_forward"
    rt = _module.runtime(op)
    x = _arrays.device_input(rt, op, "x", x)
    sfx = launch.dtype_suffix(op, x.dtype)
    g = launch.pool_geometry(op, x.shape, pool, stride, padding)
    y = _arrays.output(rt, op, out, g.y_shape, x.dtype)
    _launch(rt, "avgpool_fwd", sfx, y.size, (x, y) + g.kernel_args())
    return y


def avg_pool2d_backward(dy, x_shape, pool, stride, padding, out=None):
    """dx: each input cell sums dy / count of the windows that contain it."""
    op = "avg_pool2d_backward"
    rt = _module.runtime(op)
    dy = _arrays.device_input(rt, op, "dy", dy)
    sfx = launch.dtype_suffix(op, dy.dtype)
    g = launch.pool_geometry(op, x_shape, pool, stride, padding, dy_shape=dy.shape)
    dx = _arrays.output(rt, op, out, g.x_shape, dy.dtype)
    _launch(rt, "avgpool_bwd", sfx, dx.size, (dy, dx) + g.kernel_args())
    return dx
