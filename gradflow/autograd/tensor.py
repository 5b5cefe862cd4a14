"""``Tensor``: an array on a device plus what reverse-mode autograd needs (grad, graph node)."""
from __future__ import annotations

import numpy as np

from ..backend import array_module, backend_for, device_of, get_backend, is_cupy_array
from . import grad_mode

__all__ = ["Tensor", "Parameter", "tensor", "unbroadcast"]

_FLOAT_KINDS = "f"
#: set by gradflow.ops at import: the namespace with add, mul, matmul, sum, ...
_F = None


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = grad.reshape(shape)
    return grad


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation."""

    __slots__ = ("data", "grad", "requires_grad", "_node", "name", "__weakref__")
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
    T = property(lambda self: _F.transpose(self))

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

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        return bool(self.item())

    def astype(self, dtype) -> "Tensor":
        return _F.cast(self, dtype)

    def to(self, device: str) -> "Tensor":
        """This tensor on ``device`` ('cpu', 'cuda' or 'cuda:0'); differentiable."""
        return _F.to_device(self, device)

    def cpu(self) -> "Tensor":
        return self.to("cpu")

    def cuda(self) -> "Tensor":
        return self.to("cuda")

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
        from .engine import run_backward

        run_backward(self, grad, retain_graph)

    # -- operators ------------------------------------------------------------------------
    def __add__(self, o): return _F.add(self, o)
    def __radd__(self, o): return _F.add(o, self)
    def __sub__(self, o): return _F.sub(self, o)
    def __rsub__(self, o): return _F.sub(o, self)
    def __mul__(self, o): return _F.mul(self, o)
    def __rmul__(self, o): return _F.mul(o, self)
    def __truediv__(self, o): return _F.div(self, o)
    def __rtruediv__(self, o): return _F.div(o, self)
    def __pow__(self, o): return _F.pow(self, o)
    def __rpow__(self, o): return _F.pow(o, self)
    def __matmul__(self, o): return _F.matmul(self, o)
    def __rmatmul__(self, o): return _F.matmul(o, self)
    def __neg__(self): return _F.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _F.abs(self)
    def __lt__(self, o): return _F.less(self, o)
    def __le__(self, o): return _F.less_equal(self, o)
    def __gt__(self, o): return _F.greater(self, o)
    def __ge__(self, o): return _F.greater_equal(self, o)
    def __eq__(self, o): return _F.equal(self, o)
    def __ne__(self, o): return _F.not_equal(self, o)
    __hash__ = object.__hash__
    def __getitem__(self, idx): return _F.getitem(self, idx)

    # -- methods mirroring gradflow.ops ---------------------------------------------------
    def sum(self, axis=None, keepdims=False): return _F.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return _F.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return _F.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _F.min(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return _F.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return _F.std(self, axis, keepdims, ddof)
    def argmax(self, axis=None): return _F.argmax(self, axis)
    def exp(self): return _F.exp(self)
    def log(self): return _F.log(self)
    def sqrt(self): return _F.sqrt(self)
    def abs(self): return _F.abs(self)
    def tanh(self): return _F.tanh(self)
    def sigmoid(self): return _F.sigmoid(self)
    def relu(self): return _F.relu(self)
    def clip(self, lo=None, hi=None): return _F.clip(self, lo, hi)
    def reshape(self, *shape): return _F.reshape(self, shape[0] if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape)
    def transpose(self, *axes): return _F.transpose(self, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else (axes or None))
    def permute(self, *axes): return self.transpose(*axes)
    def flatten(self, start_axis=0): return _F.flatten(self, start_axis)
    def expand_dims(self, axis): return _F.expand_dims(self, axis)
    def squeeze(self, axis=None): return _F.squeeze(self, axis)
    def softmax(self, axis=-1): return _F.softmax(self, axis)
    def log_softmax(self, axis=-1): return _F.log_softmax(self, axis)


class Parameter(Tensor):
    """A Tensor that a layer owns and an optimizer updates (requires_grad unless frozen)."""

    __slots__ = ("trainable",)

    def __init__(self, data, dtype=None, requires_grad: bool = True, name: str | None = None, trainable: bool = True):
        super().__init__(data, dtype=dtype, requires_grad=requires_grad and trainable, name=name)
        self.trainable = trainable

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
