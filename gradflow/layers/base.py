"""``Layer``: the Keras-style building block — lazy build, named weights, trainable flag, config.

Subclasses implement ``build(input_shape)`` (creating weights with ``add_weight``), ``call(x,
training)`` and, where cheap, ``compute_output_shape``. Every subclass is registered by class
name so configs can be rebuilt without pickle (``layer_class(name)``).
"""
from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from ..autograd.tensor import Parameter, Tensor
from ..backend import array_module, get_backend

__all__ = ["Layer", "layer_class", "registered_layers", "register_alias", "clear_session", "snake_case", "to_tensor"]

_REGISTRY: dict[str, type] = {}
_name_counts: defaultdict[str, int] = defaultdict(int)


def snake_case(name: str) -> str:
    """``MaxPooling2D -> max_pooling2d``, ``Dense -> dense`` (Keras's auto-name rule)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    """``dense``, then ``dense_1``, ``dense_2``... for the session."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def clear_session() -> None:
    """Restart automatic layer names from ``dense``, ``conv2d``... (like keras.backend.clear_session)."""
    _name_counts.clear()


def layer_class(name: str) -> type:
    """The registered Layer class called ``name`` (the only ones a config may instantiate)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        import difflib

        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown layer class {name!r}{hint}") from None


def registered_layers() -> dict[str, type]:
    return dict(_REGISTRY)


def register_alias(alias: str, cls: type) -> None:
    """Let configs name ``cls`` by another class name too (Keras 2's ``MaxPool2D`` etc.)."""
    _REGISTRY[alias] = cls


def to_tensor(x, dtype=None) -> Tensor:
    """Wrap arrays/lists as Tensors (float data to the layer dtype)."""
    if isinstance(x, Tensor):
        return x
    arr = x if hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__") else np.asarray(x)
    if dtype is not None and arr.dtype.kind in "fiub" and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return Tensor(arr)


class Layer:
    """Base class of every layer."""

    _COMMON = ("name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size", "input_dim")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):  # private helper bases are not config targets
            _REGISTRY[cls.__name__] = cls

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, input_dim=None, **kwargs):
        if kwargs:
            bad = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s): {bad}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.dtype = np.dtype(dtype) if dtype is not None else np.dtype(get_backend().default_dtype)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = tuple(batch_input_shape)
        elif input_shape is not None:
            shape = (input_shape,) if isinstance(input_shape, int) else tuple(input_shape)
            self._batch_input_shape = (batch_size,) + shape
        else:
            self._batch_input_shape = None
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._params: dict[str, Parameter] = {}
        self._regularizers: dict[str, object] = {}

    # -- weights --------------------------------------------------------------------------
    def add_weight(self, name, shape, initializer="zeros", regularizer=None, trainable=True, dtype=None) -> Parameter:
        """Create, register and return a named weight (``layer.kernel`` etc. by attribute too)."""
        from .. import initializers

        dtype = np.dtype(dtype) if dtype is not None else self.dtype
        values = initializers.get(initializer)(tuple(int(s) for s in shape), dtype=dtype)
        param = Parameter(values, dtype=dtype, name=f"{self.name}/{name}", trainable=trainable)
        param.requires_grad = trainable and self._trainable
        self._params[name] = param
        if regularizer is not None:
            from .. import regularizers

            self._regularizers[name] = regularizers.get(regularizer)
        return param

    @property
    def weights(self) -> list[Parameter]:
        """All weights: trainable ones first, then non-trainable (Keras order)."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self) -> list[Parameter]:
        if not self._trainable:
            return []
        return [p for p in self._params.values() if p.trainable]

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        if not self._trainable:
            return list(self._params.values())
        return [p for p in self._params.values() if not p.trainable]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        for p in self._params.values():
            p.requires_grad = p.trainable and self._trainable

    def count_params(self) -> int:
        return int(sum(p.size for p in self._params.values()))

    def get_weights(self) -> list[np.ndarray]:
        """Weights as NumPy arrays, in ``weights`` order (Keras layouts)."""
        return [p.numpy().copy() for p in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight at once; checks the count and every shape before changing anything."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"layer {self.name!r}: set_weights expected {len(params)} arrays "
                             f"({', '.join(p.name for p in params) or 'no weights'}), got {len(weights)}")
        arrays = []
        for p, w in zip(params, weights):
            arr = w.numpy() if isinstance(w, Tensor) else np.asarray(w)
            if arr.shape != p.shape:
                raise ValueError(f"layer {self.name!r}: weight {p.name!r} expects shape {p.shape}, got {arr.shape}")
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"layer {self.name!r}: weight {p.name!r} needs numeric values, got dtype {arr.dtype}")
            arrays.append(arr)
        for p, arr in zip(params, arrays):
            p.assign(arr)

    def regularization_losses(self) -> list[Tensor]:
        """The penalty of every regularised weight, as scalar Tensors (added to the loss)."""
        return [reg(self._params[n]) for n, reg in self._regularizers.items()]

    @property
    def losses(self) -> list[Tensor]:
        return self.regularization_losses()

    # -- building and calling -------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create weights for ``input_shape`` (batch axis included, as None)."""

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch axis as None); default: run on a dummy batch."""
        from ..autograd import no_grad

        probe = tuple(1 if d is None else d for d in input_shape)
        with no_grad():
            out = self.call(Tensor(get_backend().xp.zeros(probe, dtype=self.dtype)), training=False)
        return (input_shape[0],) + tuple(out.shape[1:])

    def check_input_shape(self, input_shape) -> None:
        """Raise a clear error if this layer cannot take ``input_shape`` (subclasses extend).

        Runs before ``build`` and on every call after it, so a changed input (say a Dense
        fed a different last dimension) fails with the layer's name, not deep inside an op.
        """

    def build_from_shape(self, input_shape) -> tuple:
        """Build (once) and record input/output shapes; returns the output shape."""
        input_shape = tuple(input_shape)
        self.check_input_shape(input_shape)
        if not self.built:
            self.build(input_shape)
            self.built = True
        self.input_shape = input_shape
        self.output_shape = self.compute_output_shape(input_shape)
        return self.output_shape

    def _prepare(self, inputs) -> Tensor:
        """The input as a Tensor, the layer built for it (or its shape checked if already built)."""
        x = to_tensor(inputs, self.dtype)
        shape = (None,) + tuple(x.shape[1:])
        if not self.built:
            self.build_from_shape(shape)
        else:
            self.check_input_shape(shape)
        return x

    def __call__(self, inputs, training: bool = False):
        return self.call(self._prepare(inputs), training=bool(training))

    def call(self, inputs, training: bool = False):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    # -- devices --------------------------------------------------------------------------
    def to(self, device: str) -> "Layer":
        """Move every weight to ``device`` ('cpu' or 'cuda') in place."""
        from ..ops import to_device

        for p in self._params.values():
            p.data = to_device(p.detach(), device).data
            p.grad = None
        return self

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        """JSON-able constructor arguments (subclasses extend)."""
        cfg = {"name": self.name, "trainable": self._trainable, "dtype": self.dtype.name}
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _param_attr(self, item):
    """``layer.kernel``, ``layer.bias``, ``layer.moving_mean``... read the named weights."""
    params = self.__dict__.get("_params")
    if params is not None and item in params:
        return params[item]
    raise AttributeError(f"{type(self).__name__!s} object has no attribute {item!r}")


Layer.__getattr__ = _param_attr
