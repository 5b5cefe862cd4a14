"""Pipeline (Keras 3): a sequence of layers applied one after another, itself a layer (not a model)."""
from __future__ import annotations

from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from ._data_layer import DataLayer
from .base import _call_flags
from .symbolic import flatten, map_structure

__all__ = ["Pipeline"]


class Pipeline(DataLayer):
    """``Pipeline([layer1, layer2, ...])(x)`` is ``layer2(layer1(x))``...; each layer is given ``training``
    (Keras's default ``True``: the augmentation layers in it are active unless ``training=False``) and the
    mask the previous one produced, where its ``call`` takes them. Inputs are not cast (strings pass)."""

    def __init__(self, layers, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._pipeline_layers = list(layers)

    @property
    def layers(self) -> list:
        return self._pipeline_layers

    def call(self, inputs, training=True, mask=None):
        outputs = inputs
        for layer in self._pipeline_layers:
            takes_training, takes_mask, _ = _call_flags(type(layer))
            kwargs = {}
            if takes_mask and mask is not None:
                kwargs["mask"] = mask
            if takes_training and training is not None:
                kwargs["training"] = training
            outputs = layer(inputs, **kwargs)
            inputs = outputs
            mask = map_structure(lambda t: getattr(t, "_keras_mask", None), outputs)
            if all(m is None for m in flatten(mask)):
                mask = None
        return outputs

    def compute_output_shape(self, input_shape):
        shape = input_shape
        for layer in self._pipeline_layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def output_dtype(self) -> str:
        for layer in reversed(self._pipeline_layers):
            if isinstance(layer, DataLayer):
                return layer.output_dtype()
            return layer.dtype.name
        return self.dtype.name

    @classmethod
    def from_config(cls, config: dict):
        layers = config.get("layers")
        if not isinstance(layers, (list, tuple)):
            raise ValueError(f"`Pipeline` config must contain a `layers` key mapping to a list of serialized layers. "
                             f"Received config with layers={layers}.")
        config = {**config, "layers": [deserialize_keras_object(x) for x in layers]}
        return cls(**config)

    def get_config(self) -> dict:
        return {"layers": [serialize_keras_object(layer) for layer in self._pipeline_layers], "name": self.name}
