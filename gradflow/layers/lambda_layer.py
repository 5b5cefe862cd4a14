"""Lambda: a function of the inputs as a layer (Keras 3)."""
from __future__ import annotations

import inspect

import numpy as np

from .._registry import get_registered_name, get_registered_object
from ._args import describe
from .base import Layer, flatten_shapes, map_structure_shapes, to_tensor

__all__ = ["Lambda"]


class Lambda(Layer):
    """``Lambda(function, output_shape=None, mask=None, arguments=None)``: ``function(inputs, **arguments)``.

    The function runs on gradflow Tensors (use ``gradflow.ops``), so gradients flow through it.
    Without ``output_shape`` the shape is found by running the function once on zeros. A Lambda
    saves by the function's name only: loading needs it registered (``register_keras_serializable``)
    or passed in ``custom_objects``, as gradflow never unpickles code from a file.

    ``mask`` (Keras 3): None (the layer drops incoming masks), a callable ``mask(inputs, previous_mask)``
    giving the output mask, or a tensor used as the output mask whatever comes in. A function that
    takes ``mask`` receives the incoming mask.
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise TypeError(f"{describe(self)}: function must be callable, got {function!r}")
        if mask is not None and not callable(mask):
            mask = to_tensor(mask)
        self.mask = mask
        self.supports_masking = mask is not None
        self.function = function
        self.arguments = dict(arguments or {})
        self._output_shape = output_shape
        try:
            params = inspect.signature(function).parameters
        except (TypeError, ValueError):
            params = {}
        self._takes_training = "training" in params
        self._takes_mask = "mask" in params

    def compute_output_shape(self, input_shape):
        if self._output_shape is None:
            return super().compute_output_shape(input_shape)
        if callable(self._output_shape):  # Keras: the function's result, as it is
            out = self._output_shape(input_shape)
            return tuple(out) if isinstance(out, list) and all(d is None or isinstance(d, int) for d in out) else out
        # Keras: output shapes exclude the batch axis, which is the first input's; a structure of shapes
        # (several outputs) gets it on each
        batch = flatten_shapes(input_shape)[0][0] if flatten_shapes(input_shape) else None
        shape = self._output_shape
        if isinstance(shape, int):
            shape = (shape,)
        return map_structure_shapes(lambda s: (batch,) + tuple(s), shape)

    def call(self, inputs, mask=None, training=None):
        kwargs = dict(self.arguments)
        if self._takes_mask:
            kwargs["mask"] = mask
        if self._takes_training:
            kwargs["training"] = training
        return self.function(inputs, **kwargs)

    def compute_mask(self, inputs, previous_mask=None):
        """Keras: ``mask(inputs, previous_mask)`` for a callable, else the given mask (None: no mask)."""
        if callable(self.mask):
            return self.mask(inputs, previous_mask)
        return self.mask

    def _function_name(self, fn) -> str:
        name = get_registered_name(fn)
        if name == "<lambda>":
            raise ValueError(f"{describe(self)}: a lambda expression cannot be saved (gradflow writes no code into "
                             f"files); define a named function, register it with "
                             f"keras.saving.register_keras_serializable(), and pass it to Lambda")
        return name

    def get_config(self) -> dict:
        shape = self._output_shape
        config = {**super().get_config(), "function": self._function_name(self.function), "arguments": self.arguments,
                  "output_shape": None if shape is None or callable(shape) else list(shape)}
        if callable(self.mask):
            config["mask"] = self._function_name(self.mask)
        elif self.mask is not None:  # Keras's entry for a tensor
            value = np.asarray(self.mask.numpy())
            config["mask"] = {"class_name": "__tensor__", "config": {"value": value.tolist(),
                                                                       "dtype": str(value.dtype)}}
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Lambda":
        config = dict(config)
        config["function"] = _resolve_function(config, config["function"], "function")
        mask = config.get("mask")
        if isinstance(mask, dict) and mask.get("class_name") == "__tensor__":
            config["mask"] = np.asarray(mask["config"]["value"], dtype=mask["config"].get("dtype"))
        elif mask is not None:
            config["mask"] = _resolve_function(config, mask, "mask function")
        return cls(**config)


def _resolve_function(config: dict, name, what: str):
    """The registered function a saved Lambda names (by name or by Keras's function entry)."""
    if isinstance(name, dict) and name.get("class_name") == "function":  # Keras's entry for a named function
        name = name.get("registered_name") or name.get("config")
    if not isinstance(name, str):
        kind = name.get("class_name") if isinstance(name, dict) else type(name).__name__
        raise ValueError(f"Lambda layer {config.get('name')!r}: the file stores its {what} as Python bytecode "
                         f"({kind!r}), and gradflow never runs code from a model file. Define the function in "
                         f"your program, register it with keras.saving.register_keras_serializable() (or pass "
                         f"custom_objects={{'its_name': function}}), and save the model again with it")
    fn = get_registered_object(name)
    if fn is None:
        raise ValueError(f"Lambda: the {what} {name!r} of a saved Lambda layer is not registered; decorate it "
                         f"with keras.saving.register_keras_serializable() or pass custom_objects="
                         f"{{{name!r}: function}} when loading")
    return fn
