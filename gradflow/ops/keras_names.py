"""Keras 3's spellings of ops gradflow has under other names (``multiply`` for ``mul``...), and the
few array helpers custom layers and losses reach for (``zeros``, ``shape``, ``one_hot``,
``convert_to_tensor``/``convert_to_numpy``)."""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend, is_cupy_array
from . import creation
from .dtypes import result_type
from .elementwise import _floating, add, cast, div, minimum, mul, neg, pow, relu, sigmoid, sqrt, sub
from .elementwise import abs as _abs
from .linalg import matmul

__all__ = ["multiply", "subtract", "divide", "true_divide", "negative", "power", "zeros", "ones", "zeros_like",
           "ones_like", "full", "arange", "shape", "convert_to_tensor", "convert_to_numpy", "one_hot", "add",
           "moments", "tensordot", "logical_and", "logical_or",
           "logical_not", "logical_xor", "norm", "square_root", "dot", "relu6", "silu", "swish", "absolute",
           "floor_divide", "mod", "round"]

multiply, subtract, divide, true_divide, negative, power = mul, sub, div, div, neg, pow


def zeros(shape, dtype=None) -> Tensor:
    """``keras.ops.zeros(shape, dtype=None)``."""
    return creation.zeros(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=dtype)


def ones(shape, dtype=None) -> Tensor:
    """``keras.ops.ones(shape, dtype=None)``."""
    return creation.ones(tuple(shape) if not isinstance(shape, int) else (shape,), dtype=dtype)


full = creation.full


def zeros_like(x, dtype=None) -> Tensor:
    """``keras.ops.zeros_like``: zeros of ``x``'s shape and dtype (or ``dtype``)."""
    return creation.zeros_like(convert_to_tensor(x), dtype)


def ones_like(x, dtype=None) -> Tensor:
    """``keras.ops.ones_like``: ones of ``x``'s shape and dtype (or ``dtype``)."""
    return creation.ones_like(convert_to_tensor(x), dtype)


def arange(start, stop=None, step=1, dtype=None) -> Tensor:
    """``keras.ops.arange``: int32 for integer arguments, the default float otherwise (Keras)."""
    if dtype is None:
        dtype = result_type(*(v for v in (start, stop, step) if v is not None))
        if np.dtype(dtype).kind == "i":
            dtype = "int32"
    return creation.arange(start, stop, step, dtype=dtype)


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


def moments(x, axes, keepdims=False, synchronized=False):
    """``(mean, variance)`` of ``x`` over ``axes`` (the biased variance, as Keras), differentiable."""
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
    x = _floating(convert_to_tensor(x))
    mean = x.mean(axis=axes, keepdims=True)
    centred = x - mean
    variance = (centred * centred).mean(axis=axes, keepdims=keepdims)
    return (mean if keepdims else mean.reshape(variance.shape)), variance


def tensordot(a, b, axes=2):
    """Sum products over ``axes`` (an int: the last of ``a`` with the first of ``b``; or two lists),
    as one matmul of the moved and flattened operands."""
    a = convert_to_tensor(a)
    b = convert_to_tensor(b)
    if isinstance(axes, int):
        ax_a, ax_b = list(range(a.ndim - axes, a.ndim)), list(range(axes))
    else:
        ax_a, ax_b = ([axes[0]] if isinstance(axes[0], int) else list(axes[0]),
                      [axes[1]] if isinstance(axes[1], int) else list(axes[1]))
    ax_a, ax_b = [x % a.ndim for x in ax_a], [x % b.ndim for x in ax_b]
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    k = int(np.prod([a.shape[i] for i in ax_a])) if ax_a else 1
    a2 = a.transpose(*free_a, *ax_a).reshape((-1, k))
    b2 = b.transpose(*ax_b, *free_b).reshape((k, -1))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return matmul(a2, b2).reshape(out_shape)


def dot(a, b):
    """``numpy.dot`` semantics for 1-D and 2-D operands (a matmul)."""
    a, b = convert_to_tensor(a), convert_to_tensor(b)
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum()
    return matmul(a, b)


def _logical(name):
    def op(a, b=None):
        da = a.data if isinstance(a, Tensor) else a
        xp = array_module(da) if hasattr(da, "shape") else np
        if b is None:
            return Tensor._wrap(xp.logical_not(xp.asarray(da)))
        db = b.data if isinstance(b, Tensor) else b
        return Tensor._wrap(getattr(xp, name)(xp.asarray(da), db))

    op.__name__ = name
    op.__doc__ = f"Elementwise ``{name}`` (boolean, no gradient)."
    return op


logical_and, logical_or = _logical("logical_and"), _logical("logical_or")
logical_not, logical_xor = _logical("logical_not"), _logical("logical_xor")
absolute = _abs


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def floor_divide(a, b):
    """``floor(a / b)`` elementwise (no gradient), in Keras's result dtype."""
    da, db = _data(a), _data(b)
    xp = array_module(da) if hasattr(da, "shape") else (array_module(db) if hasattr(db, "shape") else np)
    return Tensor._wrap(xp.asarray(xp.floor_divide(da, db)))


def mod(a, b):
    """``a - floor(a / b) * b`` (Python's modulo; differentiable in ``a``)."""
    return sub(a, mul(floor_divide(a, b), b))


def round(x, decimals=0):  # noqa: A001 - Keras's name
    """Round half to even at ``decimals`` (no gradient)."""
    data = _data(convert_to_tensor(x))
    return Tensor._wrap(array_module(data).round(data, int(decimals)))


def norm(x, ord=None, axis=None, keepdims=False):
    """The Euclidean norm (``ord`` None or 2 over ``axis``; 1 for the L1 norm), differentiable."""
    x = _floating(convert_to_tensor(x))
    if ord in (None, 2, "fro", "euclidean"):
        return ((x * x).sum(axis=axis, keepdims=keepdims)) ** 0.5
    if ord == 1:
        return _abs(x).sum(axis=axis, keepdims=keepdims)
    raise ValueError(f"ops.norm: ord must be None, 1 or 2, got {ord!r}")


def square_root(x):
    return sqrt(x)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    return minimum(relu(x), 6.0)


def silu(x):
    """``x * sigmoid(x)`` (a.k.a. swish)."""
    return x * sigmoid(x)


swish = silu
