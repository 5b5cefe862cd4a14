"""``Variable``: Keras 3's ``keras.Variable`` on gradflow's ``Parameter``.

A Variable *is* a Tensor (so it works in every op, with ``.numpy()``, ``float()``, arithmetic
and ``np.asarray``) that a layer, metric or seed generator owns and updates in place with
``assign``/``assign_add``/``assign_sub``. ``Layer.add_weight`` and ``Metric.add_variable``
return Variables. The constructor follows ``keras/src/backend/common/variables.py``:
``Variable(initializer, shape=None, dtype=None, trainable=True, autocast=True,
aggregation="none", synchronization="auto", name=None)`` where ``initializer`` is an
initializer (name, instance or callable, then ``shape`` is required) or the initial value.
"""
from __future__ import annotations

import sys

import numpy as np

from . import initializers
from ._naming import unique_name
from .autograd.tensor import Parameter, Tensor
from .backend import get_backend

__all__ = ["Variable", "is_variable"]

_AGGREGATIONS = (None, "none", "mean", "sum", "only_first_replica")
_SYNCHRONIZATIONS = (None, "none", "on_read", "on_write", "auto")
_TRAINABLE = Parameter.__dict__["trainable"]  # Parameter's slot, under the Keras-style property below


def _standard_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        shape = tuple(shape)
    except TypeError:
        raise ValueError(f"Cannot convert '{shape}' to a shape.") from None
    if any(s is None for s in shape):
        raise ValueError("Shapes used to initialize variables must be fully-defined (no `None` dimensions). "
                         f"Received: shape={shape}")
    return tuple(int(s) for s in shape)


class Variable(Parameter):
    """A named, stateful Tensor (``keras.Variable``): a layer weight, a metric's state, a seed."""

    __slots__ = ("_path", "_aggregation", "_synchronization", "_autocast", "regularizer", "constraint",
                 "_overwrite_with_gradient", "_free")

    def __init__(self, initializer, shape=None, dtype=None, trainable=True, autocast=True, aggregation="none",
                 synchronization="auto", name=None, **kwargs):
        kwargs.pop("layout", None)
        if kwargs:
            raise TypeError(f"Variable() got unexpected keyword argument(s): {', '.join(kwargs)}")
        name = name or unique_name("variable")
        if not isinstance(name, str) or "/" in name:
            raise ValueError("Argument `name` must be a string and cannot contain character `/`. "
                             f"Received: name={name}")
        if aggregation not in _AGGREGATIONS:
            raise ValueError("Invalid value for argument `aggregation`. Expected one of `None`, `'none'`, `'mean'`, "
                             f"`'sum'`, `'only_first_replica'`. Received: aggregation={aggregation}")
        if synchronization not in _SYNCHRONIZATIONS:
            raise ValueError("Invalid value for argument `synchronization`. Expected one of `None`, `'none'`, "
                             f"`'on_read'`, `'on_write'`, `'auto'`. Received: synchronization={synchronization}")
        if isinstance(initializer, str):
            initializer = initializers.get(initializer)
        if callable(initializer) and not isinstance(initializer, Tensor):
            if shape is None:
                raise ValueError("When creating a Variable from an initializer, the `shape` argument should be "
                                 f"specified. Received: initializer={initializer} and shape={shape}")
            dtype = np.dtype(get_backend().default_dtype if dtype is None else dtype)
            value = initializer(_standard_shape(shape), dtype=dtype)
        else:
            value = initializer
            if dtype is None:
                dtype = _value_dtype(value)
        dtype = np.dtype(dtype)
        super().__init__(value, dtype=dtype, requires_grad=dtype.kind == "f", name=name, trainable=bool(trainable))
        if shape is not None and self.shape != _standard_shape(shape):
            raise ValueError(f"Variable {name!r}: the initial value has shape {self.shape}, expected {tuple(shape)}")
        parent = _scope_path()
        self._setup(f"{parent}/{name}" if parent else name, aggregation, synchronization, autocast)
        self._free = True

    def _setup(self, path, aggregation="none", synchronization="auto", autocast=True) -> None:
        self._path = path
        self._aggregation = "none" if aggregation is None else aggregation
        self._synchronization = "none" if synchronization is None else synchronization
        self._autocast = bool(autocast)
        self.regularizer = None
        self.constraint = None
        self._overwrite_with_gradient = False

    @classmethod
    def _owned(cls, values, dtype, path: str, trainable: bool = True, aggregation="none",
               name: str | None = None) -> "Variable":
        """A Variable for a layer, metric or optimizer (``path`` like ``dense/kernel``), from initial
        values; its ``name`` is ``path`` unless given (an optimizer's: Keras's name, the path's last part)."""
        var = object.__new__(cls)
        Parameter.__init__(var, values, dtype=dtype, requires_grad=np.dtype(dtype).kind == "f", name=name or path,
                           trainable=trainable)
        var._setup(path, aggregation)
        var._free = False
        return var

    # -- Keras's properties --------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        return _TRAINABLE.__get__(self)

    @trainable.setter
    def trainable(self, value) -> None:
        _TRAINABLE.__set__(self, bool(value))
        data = getattr(self, "data", None)  # absent while copy/pickle restores the slots
        if data is not None and data.dtype.kind == "f":
            self.requires_grad = bool(value)

    path = property(lambda self: self._path, doc="Where the variable sits in its model (``dense/kernel``).")
    aggregation = property(lambda self: self._aggregation)
    synchronization = property(lambda self: self._synchronization)
    autocast = property(lambda self: self._autocast)
    value = property(lambda self: self, doc="The current value: the variable itself (a Tensor), as Keras on torch.")

    @property
    def overwrite_with_gradient(self) -> bool:
        return self._overwrite_with_gradient

    @overwrite_with_gradient.setter
    def overwrite_with_gradient(self, value) -> None:
        if not isinstance(value, bool):
            raise TypeError(f"`overwrite_with_gradient` must be a boolean. Received: {value}")
        self._overwrite_with_gradient = value

    # -- updates (return the variable, whose value is the new one) -----------------------------
    def assign(self, value):
        """Replace the values in place (same shape; cast to the variable's dtype)."""
        if not isinstance(value, Tensor) and not hasattr(value, "shape"):
            value = np.asarray(value)
        if tuple(value.shape) != self.shape:
            raise ValueError("The shape of the target variable and the shape of the target value in "
                             f"`variable.assign(value)` must match. variable.shape={self.shape}, "
                             f"Received: value.shape={tuple(value.shape)}. Target variable: {self!r}")
        Parameter.assign(self, value)
        return self

    def assign_add(self, value):
        self.assign(self.data + (value.data if isinstance(value, Tensor) else value))
        return self

    def assign_sub(self, value):
        self.assign(self.data - (value.data if isinstance(value, Tensor) else value))
        return self

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype={self.dtype}, value={self.numpy()}>"


def _scope_path() -> str:
    """Keras's ``current_path()``: the layer name scope open now (``seq/my_layer`` while it builds), or ''.
    Read from the layers' scope module once it is loaded (no scope can be open before), never imported
    here: layers sit above variables."""
    scopes = sys.modules.get("gradflow.layers._name_scope")
    return scopes.current_path() if scopes is not None else ""


def _value_dtype(value):
    """The dtype Keras gives a Variable made from ``value`` when no dtype is named."""
    if isinstance(value, Tensor):
        return value.dtype
    if isinstance(value, np.ndarray) or hasattr(value, "__cuda_array_interface__"):
        return value.dtype
    arr = np.asarray(value)
    if arr.dtype.kind == "f":
        return np.dtype(get_backend().default_dtype)
    if arr.dtype.kind in "iu":
        return np.dtype("int32")
    return arr.dtype


def is_variable(x) -> bool:
    """Whether ``x`` is a ``Variable`` (a layer weight, metric state or seed state)."""
    return isinstance(x, Variable)
