"""Batch norm over x[M, C] (training forward, inference, fused backward) on batchnorm.cu."""
from __future__ import annotations

from .._geometry import check_activation
from . import _arrays, _module, launch

__all__ = ["batch_norm_forward", "batch_norm_inference", "batch_norm_backward"]


def _launch(rt, family: str, sfx: str, grid, args) -> None:
    ref = launch.kernel_ref(family, sfx)
    rt.kernel(ref)(grid, (launch.BLOCK, 1, 1), launch.pack_args(ref, args))


def _x2d(rt, op: str, name: str, arr, dtype=None):
    arr = _arrays.device_input(rt, op, name, arr, dtype)
    if arr.ndim != 2:
        raise ValueError(f"{op}: {name} must be 2-D [M, C] (the op moves the feature axis last), "
                         f"got shape {tuple(arr.shape)}")
    return arr


def batch_norm_forward(x, gamma, beta, eps, out=None, activation=None):
    """``(y, mean, inv_std)`` with the biased variance; statistics in one pass over x."""
    op = "batch_norm_forward"
    relu = check_activation(op, activation)
    rt = _module.runtime(op)
    x = _x2d(rt, op, "x", x)
    sfx = launch.dtype_suffix(op, x.dtype)
    M, C = x.shape
    gamma = _arrays.device_input(rt, op, "gamma", gamma, x.dtype)
    beta = _arrays.device_input(rt, op, "beta", beta, x.dtype)
    launch.check_vectors(op, C, gamma=gamma.shape, beta=beta.shape)
    plan = launch.batch_norm_plan(op, M, C, rt.sm_count())
    xp = rt.xp
    part = xp.empty((plan.splits, 3, C), dtype=x.dtype)
    mean = xp.empty((C,), dtype=x.dtype)
    inv_std = xp.empty((C,), dtype=x.dtype)
    y = _arrays.output(rt, op, out, (M, C), x.dtype)
    _launch(rt, "bn_stats_partial", sfx, plan.partial_grid, (x, part, M, C, plan.rows_per_split))
    _launch(rt, "bn_stats_finalize", sfx, plan.finalize_grid, (part, mean, inv_std, plan.splits, C, M, eps))
    _launch(rt, "bn_apply", sfx, plan.elementwise_grid, (x, mean, inv_std, gamma, beta, y, M * C, C))
    if relu:
        xp.maximum(y, 0, out=y)
    return y, mean, inv_std


def batch_norm_inference(x, gamma, beta, mean, var, eps, out=None, activation=None):
    """y = (x - mean) / sqrt(var + eps) * gamma + beta with given statistics (then ReLU if asked)."""
    op = "batch_norm_inference"
    relu = check_activation(op, activation)
    rt = _module.runtime(op)
    x = _x2d(rt, op, "x", x)
    sfx = launch.dtype_suffix(op, x.dtype)
    M, C = x.shape
    vecs = {n: _arrays.device_input(rt, op, n, v, x.dtype)
            for n, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))}
    launch.check_vectors(op, C, **{n: v.shape for n, v in vecs.items()})
    y = _arrays.output(rt, op, out, (M, C), x.dtype)
    grid = (launch.grid_stride_blocks(M * C, rt.sm_count()), 1, 1)
    _launch(rt, "bn_inference", sfx, grid,
            (x, vecs["gamma"], vecs["beta"], vecs["mean"], vecs["var"], y, eps, M * C, C))
    if relu:
        rt.xp.maximum(y, 0, out=y)
    return y


def batch_norm_backward(dy, x, gamma, mean, inv_std, out=None, y=None):
    """``(dx, dgamma, dbeta)``: one reduction pass for dgamma/dbeta, one elementwise pass for dx."""
    op = "batch_norm_backward"
    rt = _module.runtime(op)
    x = _x2d(rt, op, "x", x)
    sfx = launch.dtype_suffix(op, x.dtype)
    dy = _x2d(rt, op, "dy", dy, x.dtype)
    if dy.shape != x.shape:
        raise ValueError(f"{op}: dy must have the shape of x {tuple(x.shape)}, got {tuple(dy.shape)}")
    if y is not None:  # the forward ended with ReLU
        y = _x2d(rt, op, "y", y, x.dtype)
        if y.shape != x.shape:
            raise ValueError(f"{op}: y must have the shape of x {tuple(x.shape)}, got {tuple(y.shape)}")
        dy = dy * (y > 0)
    M, C = x.shape
    vecs = {n: _arrays.device_input(rt, op, n, v, x.dtype)
            for n, v in (("gamma", gamma), ("mean", mean), ("inv_std", inv_std))}
    launch.check_vectors(op, C, **{n: v.shape for n, v in vecs.items()})
    plan = launch.batch_norm_plan(op, M, C, rt.sm_count())
    xp = rt.xp
    part = xp.empty((plan.splits, 2, C), dtype=x.dtype)
    dgamma = xp.empty((C,), dtype=x.dtype)
    dbeta = xp.empty((C,), dtype=x.dtype)
    dx = _arrays.output(rt, op, out, (M, C), x.dtype)
    _launch(rt, "bn_bwd_partial", sfx, plan.partial_grid,
            (dy, x, vecs["mean"], vecs["inv_std"], part, M, C, plan.rows_per_split))
    _launch(rt, "bn_bwd_finalize", sfx, plan.finalize_grid, (part, dgamma, dbeta, plan.splits, C))
    _launch(rt, "bn_bwd_dx", sfx, plan.elementwise_grid,
            (dy, x, vecs["mean"], vecs["inv_std"], vecs["gamma"], dgamma, dbeta, dx, M * C, C, M))
    return dx, dgamma, dbeta
