"""How a differentiable op reaches its hot-path kernel through the registry."""
from __future__ import annotations

import functools
import importlib

import numpy as np

from .. import dispatch
from ..backend import get_backend, is_cupy_array

_HALF = np.dtype(np.float16)
_HALVES = frozenset({"float16", "bfloat16"})


def kernel(op: str, like, key=None):
    """The implementation of ``op`` for the device of array ``like`` under the current config.

    The kernels compute in float32/float64: for float16/bfloat16 arrays (a mixed-precision layer) the call
    runs in float32 and its float results come back in the half dtype, so such layers work on every device."""
    if is_cupy_array(like):
        fn = dispatch.get(op, "cuda", "cupy", key)
    else:
        fn = dispatch.get(op, "cpu", get_backend().name, key)
    dtype = getattr(like, "dtype", None)
    if dtype is not None and dtype.itemsize == 2 and dtype.name in _HALVES:  # .name costs ~2 us
        return _via_float32(fn, dtype)
    return fn


@functools.cache
def optional_kernels(module: str):
    """The Numba kernel module ``module``, imported on first use (Numba is optional, as for the
    dispatch registry), or None when it cannot be imported; tried once per process."""
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def _via_float32(fn, half):
    def up(a):
        return a.astype(np.float32) if getattr(a, "dtype", None) == half else a

    def down(a):
        if isinstance(a, tuple):
            return tuple(down(v) for v in a)
        return a.astype(half) if getattr(a, "dtype", None) == np.float32 else a

    def call(*args, **kwargs):
        out = fn(*(up(a) for a in args), **{k: up(v) for k, v in kwargs.items()})
        with np.errstate(over="ignore"):  # overflow to inf is what loss scaling detects and backs off from
            return down(out)

    return call
