"""Tensor creation on the active backend, torch-style (``zeros(2, 3)``): zeros, ones, full, eye,
arange, zeros_like, ones_like, from_dlpack. ``gradflow.creation`` re-exports them beside the random
ones; ``keras_names`` wraps them in Keras's spellings (``ops.zeros((2, 3))``)."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import _instance, get_backend

__all__ = ["zeros", "ones", "full", "arange", "zeros_like", "ones_like", "from_dlpack", "eye"]


def _shape(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _dtype(dtype):
    return get_backend().default_dtype if dtype is None else dtype


def zeros(*shape, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(get_backend().xp.zeros(_shape(shape), dtype=_dtype(dtype)), requires_grad=requires_grad)


def ones(*shape, dtype=None, requires_grad=False) -> Tensor:
    return Tensor(get_backend().xp.ones(_shape(shape), dtype=_dtype(dtype)), requires_grad=requires_grad)


def full(shape, value, dtype=None, requires_grad=False) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return Tensor(get_backend().xp.full(shape, value, dtype=_dtype(dtype)), requires_grad=requires_grad)


def zeros_like(t, dtype=None) -> Tensor:
    return Tensor(t.xp.zeros(t.shape, dtype=dtype or t.dtype))


def ones_like(t, dtype=None) -> Tensor:
    return Tensor(t.xp.ones(t.shape, dtype=dtype or t.dtype))


def eye(n, m=None, dtype=None) -> Tensor:
    return Tensor(get_backend().xp.eye(n, m, dtype=_dtype(dtype)))


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """Like ``numpy.arange``; integer arguments give int64, floats the default float dtype."""
    if stop is None:
        start, stop = 0, start
    if dtype is None and all(isinstance(v, (int, np.integer)) for v in (start, stop, step)):
        dtype = np.int64
    return Tensor(get_backend().xp.arange(start, stop, step, dtype=_dtype(dtype)))


def from_dlpack(obj) -> Tensor:
    """A Tensor sharing memory with any DLPack producer (NumPy, CuPy, PyTorch, JAX...)."""
    device_type = obj.__dlpack_device__()[0] if hasattr(obj, "__dlpack_device__") else 1
    if int(device_type) == 1:  # kDLCPU
        arr = np.from_dlpack(obj)
    elif int(device_type) in (2, 3, 13):  # kDLCUDA, kDLCUDAHost, kDLCUDAManaged
        arr = _instance("cupy").xp.from_dlpack(obj)
    else:
        raise ValueError(f"from_dlpack: unsupported DLPack device type {device_type}; gradflow takes CPU and CUDA "
                         "arrays")
    return Tensor._wrap(arr)
