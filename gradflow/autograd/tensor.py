"""``Tensor``: an array on a device plus what reverse-mode autograd needs (grad, graph node)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..backend import array_module, backend_for, device_of, get_backend, is_cupy_array
from .engine import run_backward, unbroadcast

__all__ = ["Tensor", "Parameter", "tensor", "unbroadcast"]

_FLOAT_KINDS = "f"


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    Its operators and op methods (``a + b``, ``a @ b``, ``t.sum()``, ``t.T``, ``t.astype``,
    ``t.to``...) are the differentiable ops of :mod:`gradflow.ops`, which sits above autograd:
    ``gradflow.ops.install_tensor_methods`` attaches them once, when ``import gradflow`` runs.
    """

    #: ``_keras_mask``: the Keras mask a layer attached (unset, so reading it raises, as on torch)
    __slots__ = ("data", "grad", "requires_grad", "_node", "name", "_keras_mask", "__weakref__")
    data: Any  # a NumPy or CuPy array (CuPy has no type stubs)
    __array_ufunc__ = None  # make NumPy defer to our reflected operators (ndarray + Tensor)

    def __init__(self, data, dtype=None, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        if is_cupy_array(data) and dtype is None:
            arr = data
        else:
            backend = get_backend()
            if not isinstance(data, np.ndarray) and not is_cupy_array(data):
                data = np.asarray(data)
                if dtype is None and data.dtype == np.float64:
                    dtype = backend.default_dtype  # Python floats take the backend's default dtype
            arr = backend.asarray(data, dtype=dtype)
        if requires_grad and arr.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {arr.dtype}")
        self.data = arr
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._node = None
        self.name = name

    @classmethod
    def _wrap(cls, arr, requires_grad=False):
        """Fast constructor from an array that needs no conversion."""
        t = object.__new__(Tensor)
        t.data = arr
        t.grad = None
        t.requires_grad = requires_grad
        t._node = None
        t.name = None
        return t

    # -- properties -----------------------------------------------------------------------
    shape = property(lambda self: self.data.shape)
    dtype = property(lambda self: self.data.dtype)
    ndim = property(lambda self: self.data.ndim)
    size = property(lambda self: self.data.size)
    device = property(lambda self: device_of(self.data), doc="'cpu' or 'cuda'")
    is_leaf = property(lambda self: self._node is None)

    @property
    def xp(self):
        return array_module(self.data)

    def __len__(self):
        return len(self.data)

    def __repr__(self):
        flag = ", requires_grad=True" if self.requires_grad else ""
        dev = "" if self.device == "cpu" else ", device='cuda'"
        body = np.array2string(self.numpy(), separator=", ", prefix="tensor(")
        return f"tensor({body}, dtype={self.dtype}{dev}{flag})"

    # -- conversion -----------------------------------------------------------------------
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a copy from the GPU; shares memory on the CPU)."""
        return backend_for(self.data).to_numpy(self.data)

    def __array__(self, dtype=None, copy=None):
        arr = self.numpy()
        return arr if dtype is None else arr.astype(dtype)

    def item(self):
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.numpy().reshape(()).item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __format__(self, spec: str) -> str:
        """``f"{t:.4f}"`` formats a 0-d tensor's value (as torch does: metric results are tensors)."""
        if self.data.ndim == 0:
            return format(self.item(), spec)
        return format(str(self), spec)

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def __dlpack__(self, *args, **kwargs):
        return self.data.__dlpack__(*args, **kwargs)

    def __dlpack_device__(self):
        return self.data.__dlpack_device__()

    # -- autograd -------------------------------------------------------------------------
    def detach(self) -> "Tensor":
        """The same data, cut from the graph."""
        return Tensor._wrap(self.data, False)

    def requires_grad_(self, flag: bool = True) -> "Tensor":
        if flag and self.data.dtype.kind not in _FLOAT_KINDS:
            raise TypeError(f"only floating-point tensors can require gradients, got dtype {self.dtype}")
        self.requires_grad = flag
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, grad=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``; frees the graph unless retained."""
        run_backward(self, grad, retain_graph)

    def __pos__(self):
        return self

    __hash__ = object.__hash__  # kept when ops attach __eq__: tensors are dict keys by identity

    def permute(self, *axes) -> "Tensor":
        return self.transpose(*axes)  # type: ignore[attr-defined]

    def cpu(self) -> "Tensor":
        return self.to("cpu")  # type: ignore[attr-defined]

    def cuda(self) -> "Tensor":
        return self.to("cuda")  # type: ignore[attr-defined]


class Parameter(Tensor):
    """A Tensor that a layer owns and an optimizer updates (requires_grad unless frozen)."""

    __slots__ = ("trainable", "constraint")

    def __init__(self, data, dtype=None, requires_grad: bool = True, name: str | None = None, trainable: bool = True):
        super().__init__(data, dtype=dtype, requires_grad=requires_grad and trainable, name=name)
        self.trainable = trainable
        self.constraint = None  # a projection the optimizer applies after each update (Keras's variable.constraint)

    def assign(self, value) -> None:
        """Replace the values in place (same shape and dtype), keeping the device."""
        value = value.data if isinstance(value, Tensor) else value
        xp = array_module(self.data)
        value = xp.asarray(value, dtype=self.data.dtype)
        if value.shape != self.data.shape:
            raise ValueError(f"parameter {self.name!r}: expected shape {self.data.shape}, got {value.shape}")
        self.data[...] = value

    def assign_add(self, value) -> None:
        """``self += value`` in place (Keras variables' ``assign_add``)."""
        self.assign(self.data + (value.data if isinstance(value, Tensor) else value))

    def assign_sub(self, value) -> None:
        """``self -= value`` in place (Keras variables' ``assign_sub``)."""
        self.assign(self.data - (value.data if isinstance(value, Tensor) else value))


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new Tensor from a list, scalar or array (float32 by default for float data)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)
