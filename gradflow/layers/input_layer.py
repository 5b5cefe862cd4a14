"""InputLayer and Input: a model's entry point. ``Input(shape)`` is a symbolic tensor (Keras 3)."""
from __future__ import annotations

from ._args import describe
from .base import Layer
from .symbolic import KerasTensor, Node

__all__ = ["InputLayer", "Input"]


def _dims(layer, shape, name):
    try:
        dims = (shape,) if isinstance(shape, int) else tuple(shape)
        dims = tuple(None if d is None else int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"{describe(layer)}: {name} must be a tuple of ints or None, got {name}={shape!r}") from None
    if any(d is not None and d <= 0 for d in dims):
        raise ValueError(f"{describe(layer)}: {name} must hold positive sizes (or None), got {name}={shape!r}")
    return dims


class InputLayer(Layer):
    """An identity layer that fixes the input shape: ``InputLayer(shape=(28, 28, 1))``.

    Keras 3 arguments ``shape``/``batch_size``/``batch_shape``; Keras 2's ``input_shape`` and
    ``batch_input_shape`` are accepted too. ``output_shape`` is ``(batch_size, *shape)``.
    """

    def __init__(self, shape=None, batch_size=None, dtype=None, name=None, batch_shape=None,
                 input_shape=None, batch_input_shape=None, sparse=None, ragged=None, input_tensor=None,
                 optional=False, **kwargs):
        if sparse or ragged or input_tensor is not None or optional:
            raise ValueError("InputLayer: sparse, ragged, optional and input_tensor inputs are not supported by "
                             "gradflow")
        shape = input_shape if shape is None else shape
        batch_shape = batch_input_shape if batch_shape is None else batch_shape
        if dtype in ("string", "str"):  # Keras's string inputs (for the lookup and text layers): NumPy objects
            dtype = "object"
        super().__init__(name=name, dtype=dtype, **kwargs)
        if shape is None and batch_shape is None:
            raise ValueError(f"{describe(self)}: pass shape= (without the batch axis) or batch_shape=")
        if shape is not None and batch_shape is not None:
            raise ValueError(f"{describe(self)}: pass shape= or batch_shape=, not both "
                             f"(got shape={shape!r}, batch_shape={batch_shape!r})")
        if batch_shape is None:
            if batch_size is not None and (isinstance(batch_size, bool) or int(batch_size) <= 0):
                raise ValueError(f"{describe(self)}: batch_size must be a positive int or None, got {batch_size!r}")
            batch_shape = (batch_size,) + _dims(self, shape, "shape")
        self.batch_shape = _dims(self, batch_shape, "batch_shape")
        self._batch_input_shape = self.batch_shape
        self.built = True
        self.input_shape = self.output_shape = self.batch_shape
        tensor = KerasTensor(self.batch_shape, self.dtype, name=self.name)
        node = Node(self, [], tensor, {})
        tensor._node, tensor._index = node, 0
        self._inbound_nodes.append(node)

    def check_input_shape(self, input_shape) -> None:
        want = self.batch_shape[1:]
        got = tuple(input_shape[1:])
        if len(got) != len(want) or any(w is not None and w != g for w, g in zip(want, got)):
            raise ValueError(f"{describe(self)}: expected inputs of shape {(None,) + want}, got {(None,) + got}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training: bool = False):
        return x

    def get_config(self) -> dict:
        dtype = "string" if self.dtype.kind in "OUS" else self.dtype.name
        return {"name": self.name, "dtype": dtype, "batch_shape": list(self.batch_shape), "sparse": False,
                "ragged": False, "optional": False}


def Input(shape=None, batch_size=None, dtype=None, sparse=None, batch_shape=None, name=None, tensor=None,  # noqa: N802
          optional=False):
    """A symbolic input tensor (Keras 3): ``x = Input(shape=(28, 28, 1))`` has ``x.shape ==
    (None, 28, 28, 1)``; call layers on it and pass it to ``Model(inputs, outputs)``, or put it
    first in a ``Sequential``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name, batch_shape=batch_shape,
                       sparse=sparse, input_tensor=tensor, optional=optional)
    return layer.output
