"""Argument handling shared by the launchers: device arrays in, C-contiguous arrays of the op's
dtype to the kernels, ``out=`` checked or allocated."""
from __future__ import annotations

import numpy as np

from . import launch

__all__ = ["device_input", "output", "bias_grad_into"]


def device_input(rt, op: str, name: str, arr, dtype=None):
    """``arr`` as a C-contiguous device array of ``dtype`` (cast if needed); TypeError naming the
    op and argument for host arrays."""
    if not rt.is_device_array(arr):
        kind = f"{type(arr).__module__}.{type(arr).__name__}"
        raise TypeError(f"{op} (cuda kernels) takes CuPy arrays, but {name} is a {kind}; move it to the GPU "
                        f"with cupy.asarray(...) or use the numpy kernels")
    if dtype is not None and np.dtype(arr.dtype) != np.dtype(dtype):
        arr = arr.astype(dtype)
    return rt.xp.ascontiguousarray(arr)


def output(rt, op: str, out, shape, dtype):
    """``out`` checked against ``shape``/``dtype`` (C-contiguous), or a new uninitialised array."""
    if out is None:
        return rt.xp.empty(tuple(shape), dtype=dtype)
    if not rt.is_device_array(out):
        raise TypeError(f"{op} (cuda kernels): out must be a CuPy array, got "
                        f"{type(out).__module__}.{type(out).__name__}")
    launch.check_out(op, out, tuple(shape), dtype)
    return out


def bias_grad_into(rt, op: str, dy, bias_out):
    """``bias_out[:]`` = ``dy`` summed over every axis but the last, on the device (the CPU helper in
    kernels/_geometry.py takes NumPy ``out=`` arrays only); None passes through."""
    if bias_out is not None:
        F = dy.shape[-1]
        output(rt, op, bias_out, (F,), dy.dtype)
        rt.xp.sum(dy.reshape(-1, F), axis=0, out=bias_out)
    return bias_out
