"""Keras 3's spellings of ops gradflow has under other names (``multiply`` for ``mul``...), and the
few array helpers custom layers and losses reach for (``zeros``, ``shape``, ``one_hot``,
``convert_to_tensor``/``convert_to_numpy``)."""
from __future__ import annotations

import numpy as np

from .. import creation
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend, is_cupy_array
from .elementwise import add, cast, div, mul, neg, pow, sub

__all__ = ["multiply", "subtract", "divide", "true_divide", "negative", "power", "zeros", "ones", "zeros_like",
           "ones_like", "full", "arange", "shape", "convert_to_tensor", "convert_to_numpy", "one_hot", "add"]

multiply, subtract, divide, true_divide, negative, power = mul, sub, div, div, neg, pow


def zeros(shape, dtype=None) -> Tensor:
    """``keras.ops.zeros(shape, dtype=None)``."""
    return creation.zeros(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=dtype)


def ones(shape, dtype=None) -> Tensor:
    """``keras.ops.ones(shape, dtype=None)``."""
    return creation.ones(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=dtype)


zeros_like, ones_like, full, arange = creation.zeros_like, creation.ones_like, creation.full, creation.arange


def shape(x) -> tuple:
    """The shape of a Tensor, array or symbolic tensor, as a tuple."""
    return tuple(x.shape)


def convert_to_tensor(x, dtype=None) -> Tensor:
    """``x`` as a Tensor on the active backend (a Tensor stays itself unless ``dtype`` changes it)."""
    if isinstance(x, Tensor):
        return x if dtype is None or x.dtype == np.dtype(dtype) else cast(x, dtype)
    return Tensor(x, dtype=dtype)


def convert_to_numpy(x) -> np.ndarray:
    """A NumPy array of ``x`` (copied from the GPU when it lives there)."""
    data = x.data if isinstance(x, Tensor) else x
    return data.get() if is_cupy_array(data) else np.asarray(data)


def one_hot(x, num_classes, axis=-1, dtype=None) -> Tensor:
    """One-hot encoding of integer class ids (no gradient): ``(..., num_classes)`` at ``axis``."""
    data = x.data if isinstance(x, Tensor) else x
    xp = array_module(data) if hasattr(data, "shape") else get_backend().xp
    ids = xp.asarray(data).astype(np.int64)
    out = (ids[..., None] == xp.arange(int(num_classes))).astype(dtype or get_backend().default_dtype)
    return Tensor._wrap(out if axis in (-1, out.ndim - 1) else xp.moveaxis(out, -1, axis))
