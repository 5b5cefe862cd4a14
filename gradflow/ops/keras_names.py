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
           "ones_like", "full", "arange", "shape", "convert_to_tensor", "convert_to_numpy", "one_hot", "add",
           "moments", "tensordot", "conv", "depthwise_conv", "max_pool", "average_pool", "logical_and", "logical_or",
           "logical_not", "norm", "square_root", "dot", "relu6", "silu", "swish"]

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


def moments(x, axes, keepdims=False, synchronized=False):
    """``(mean, variance)`` of ``x`` over ``axes`` (the biased variance, as Keras), differentiable."""
    axes = (axes,) if isinstance(axes, int) else tuple(axes)
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
    from .linalg import matmul

    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return matmul(a2, b2).reshape(out_shape)


def dot(a, b):
    """``numpy.dot`` semantics for 1-D and 2-D operands (a matmul)."""
    from .linalg import matmul

    a, b = convert_to_tensor(a), convert_to_tensor(b)
    if a.ndim == 1 and b.ndim == 1:
        return (a * b).sum()
    return matmul(a, b)


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras's ``ops.conv`` for 1-D ``(N, steps, C)`` and 2-D ``(N, H, W, C)`` channels-last inputs."""
    from .nn import conv2d

    if data_format not in (None, "channels_last"):
        raise ValueError(f"ops.conv: only data_format='channels_last' is supported, got {data_format!r}")
    inputs, kernel = convert_to_tensor(inputs), convert_to_tensor(kernel)
    if inputs.ndim == 3:
        s = strides if isinstance(strides, int) else strides[0]
        d = dilation_rate if isinstance(dilation_rate, int) else dilation_rate[0]
        n, steps, c = inputs.shape
        y = conv2d(inputs.reshape((n, 1, steps, c)), kernel.reshape((1, *kernel.shape)), None, (1, s), padding, (1, d))
        return y.reshape((n, y.shape[2], y.shape[3]))
    if inputs.ndim == 4:
        return conv2d(inputs, kernel, None, strides, padding, dilation_rate)
    raise ValueError(f"ops.conv supports 1-D and 2-D convolutions (inputs of rank 3 or 4), got rank {inputs.ndim}")


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras's ``ops.depthwise_conv`` (2-D, channels-last)."""
    from .nn import depthwise_conv2d

    return depthwise_conv2d(convert_to_tensor(inputs), convert_to_tensor(kernel), strides, padding, dilation_rate)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    from .nn import max_pool2d

    return max_pool2d(convert_to_tensor(inputs), pool_size, strides, padding)


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    from .nn import avg_pool2d

    return avg_pool2d(convert_to_tensor(inputs), pool_size, strides, padding)


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
logical_not = _logical("logical_not")


def norm(x, ord=None, axis=None, keepdims=False):
    """The Euclidean norm (``ord`` None or 2 over ``axis``; 1 for the L1 norm), differentiable."""
    x = convert_to_tensor(x)
    if ord in (None, 2, "fro", "euclidean"):
        return ((x * x).sum(axis=axis, keepdims=keepdims)) ** 0.5
    if ord == 1:
        from .elementwise import abs as _abs

        return _abs(x).sum(axis=axis, keepdims=keepdims)
    raise ValueError(f"ops.norm: ord must be None, 1 or 2, got {ord!r}")


def square_root(x):
    from .elementwise import sqrt

    return sqrt(x)


def relu6(x):
    """``min(max(x, 0), 6)``."""
    from .elementwise import minimum, relu

    return minimum(relu(x), 6.0)


def silu(x):
    """``x * sigmoid(x)`` (a.k.a. swish)."""
    from .elementwise import sigmoid

    return x * sigmoid(x)


swish = silu
