"""What the NumPy-native preprocessing layers share (lookup, hashing, encoding, discretization, text).

Keras runs these layers through TensorFlow; gradflow runs them on NumPy on the host. Their inputs
(NumPy arrays, lists, Tensors; strings stay strings, integers are not cast to the layer's float dtype)
reach ``call`` as host arrays, and numeric results come back as Tensors on the active backend (string
results stay NumPy-backed). :func:`encode_categorical` is Keras's ``encode_categorical_inputs``.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import floatx, get_backend, is_cupy_array
from .base import Layer
from .symbolic import any_symbolic

__all__ = ["DataLayer", "host_array", "as_output", "encode_categorical", "string_array", "OUTPUT_MODES"]

#: Keras's output modes of the lookup layers (and their aliases)
OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")


def host_array(x) -> np.ndarray:
    """``x`` (a Tensor, an array, a list) as a NumPy array, without casting."""
    if isinstance(x, Tensor):
        x = x.data
    if is_cupy_array(x):
        return x.get()
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "numpy") and not isinstance(x, (list, tuple)):  # a torch or TF tensor
        x = x.numpy()
    return np.asarray(x)


def string_array(x, encoding: str = "utf-8") -> np.ndarray:
    """Strings as a NumPy ``str`` array (bytes and object arrays of bytes are decoded)."""
    arr = host_array(x)
    if arr.dtype.kind == "S":
        return np.char.decode(arr, encoding)
    if arr.dtype.kind == "O":
        flat = [v.decode(encoding) if isinstance(v, bytes) else str(v) for v in arr.ravel().tolist()]
        return np.array(flat, dtype=str).reshape(arr.shape) if flat else np.zeros(arr.shape, dtype="<U1")
    if arr.dtype.kind != "U":
        return arr.astype(str)
    return arr


def as_output(arr) -> Tensor:
    """A result array as a Tensor: numbers on the active backend, strings kept on the host."""
    arr = np.asarray(arr)
    if arr.dtype.kind in "USO":
        return Tensor._wrap(arr)
    return Tensor._wrap(get_backend().asarray(arr))


def _one_hot(x: np.ndarray, depth: int, dtype) -> np.ndarray:
    """One-hot rows of ``x`` (any shape) on a new last axis; values outside [0, depth) give zeros."""
    x = np.asarray(x).astype(np.int64, copy=False)
    out = np.zeros(x.shape + (int(depth),), dtype=dtype)
    valid = (x >= 0) & (x < depth)
    idx = np.nonzero(valid)
    out[idx + (x[idx],)] = 1
    return out


def encode_categorical(inputs, output_mode: str, depth: int, dtype, count_weights=None) -> np.ndarray:
    """Keras's ``numerical_utils.encode_categorical_inputs`` on NumPy: ``int`` casts; ``one_hot`` adds an
    axis (a trailing axis of 1 is replaced); ``multi_hot``/``count`` reduce axis 1 (axis 0 of a vector)."""
    x = np.asarray(inputs)
    if output_mode == "int":
        return x.astype(dtype)
    if x.ndim == 0:
        x = x[None]
    if output_mode == "one_hot":
        if x.ndim > 1 and x.shape[-1] == 1:
            x = x[..., 0]
        return _one_hot(x, depth, dtype)
    axis = 1 if x.ndim > 1 else 0
    if output_mode == "multi_hot":
        return _one_hot(x, depth, dtype).max(axis=axis) if x.shape[axis] else \
            np.zeros(np.delete(np.array(x.shape), axis).tolist() + [depth], dtype=dtype)
    if output_mode != "count":
        raise ValueError(f"unknown output_mode {output_mode!r}")
    if count_weights is not None:
        weights = np.asarray(count_weights)
        return (_one_hot(x, depth, weights.dtype) * weights[..., None]).sum(axis=axis).astype(weights.dtype)
    return _one_hot(x, depth, dtype).sum(axis=axis).astype(dtype)


class DataLayer(Layer):
    """A layer whose ``call`` works on host arrays: inputs are not cast to the layer's dtype (strings and
    integers reach ``call`` as they are), and symbolic calls take their dtype from :meth:`output_dtype`."""

    def __call__(self, *args, **kwargs):
        if args and not any_symbolic(args[0]):
            args = (self._wrap_inputs(args[0]),) + args[1:]
        return super().__call__(*args, **kwargs)

    def _wrap_inputs(self, inputs):
        if isinstance(inputs, Tensor):
            return inputs
        return Tensor._wrap(host_array(inputs))

    def output_dtype(self) -> str:
        """The dtype of ``call``'s result (Keras's, per output mode)."""
        return self.dtype.name

    def _output_dtype(self, flat_inputs) -> str:
        dtype = self.output_dtype()
        return "object" if dtype == "string" else dtype  # symbolic string tensors hold NumPy objects

    @staticmethod
    def floatx() -> str:
        return floatx()
