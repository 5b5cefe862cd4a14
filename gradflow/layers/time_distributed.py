"""``TimeDistributed``: one layer applied to every time step of ``(batch, time, ...)`` (Keras 3).

As Keras, the wrapped layer runs once per step (its mask, ``mask[:, t]``, passed where its ``call``
takes one) and the output mask is the input mask. Layers that treat every sample on its own (Dense,
the convolutions and poolings, Flatten...) run once over ``(batch * time, ...)`` instead: the same
numbers, one call.
"""
from __future__ import annotations

from .. import ops
from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from ._args import describe
from .base import Layer, _call_flags
from .convolutional import Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D
from .core import Activation, Dense, Identity
from .pooling import (
    AveragePooling1D,
    AveragePooling2D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    MaxPooling1D,
    MaxPooling2D,
)
from .reshaping import Flatten

__all__ = ["TimeDistributed"]

#: classes (exactly these, not subclasses) whose output for a sample depends on that sample alone
_PER_SAMPLE = frozenset({Dense, Activation, Identity, Conv1D, Conv2D, DepthwiseConv2D, SeparableConv2D,
                         MaxPooling1D, MaxPooling2D, AveragePooling1D, AveragePooling2D, GlobalAveragePooling1D,
                         GlobalAveragePooling2D, GlobalMaxPooling1D, GlobalMaxPooling2D, Flatten})


class TimeDistributed(Layer):
    """Applies ``layer`` to every temporal slice of an input of shape ``(batch, time, ...)``."""

    def __init__(self, layer, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"{describe(self)}: expects a keras.layers.Layer instance, got {layer!r}")
        self.layer = layer
        self.supports_masking = True

    def _child_shape(self, input_shape) -> tuple:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError(f"{describe(self)}: `TimeDistributed` layer should be passed an `input_shape` with at "
                             f"least 3 dimensions, received: {input_shape}")
        return (input_shape[0], *input_shape[2:])

    def check_input_shape(self, input_shape) -> None:
        child = self._child_shape(input_shape)
        if self.layer.built:
            self.layer.check_input_shape(child)

    def build(self, input_shape) -> None:
        if not self.layer.built:
            self.layer.build_from_shape(self._child_shape(input_shape))

    def compute_output_shape(self, input_shape):
        child = self.layer.compute_output_shape(self._child_shape(input_shape))
        return (child[0], input_shape[1], *child[1:])

    def compute_mask(self, inputs, mask):
        return mask

    def call(self, inputs, training=None, mask=None):
        n, steps = inputs.shape[0], inputs.shape[1]
        if mask is not None:
            mshape = tuple(mask.shape)
            if len(mshape) < 2:
                raise ValueError(f"{describe(self)}: the `mask` passed to the `TimeDistributed` layer must be at "
                                 f"least 2D (e.g., `(batch_size, timesteps)`), but it has {len(mshape)} "
                                 f"dimension(s) with shape {mshape}.")
            if mshape[0] != n or mshape[1] != steps:
                raise ValueError(f"{describe(self)}: the `mask` passed to the `TimeDistributed` layer has a shape "
                                 f"{mshape} that is incompatible with the input shape {tuple(inputs.shape)}. The "
                                 f"first two dimensions of the mask (batch size and timesteps) must match the "
                                 f"input's first two dimensions.")
        takes_mask = _call_flags(type(self.layer))[1]
        if type(self.layer) in _PER_SAMPLE and not (takes_mask and mask is not None):
            flat = inputs.reshape((n * steps, *inputs.shape[2:]))
            out = self.layer._invoke(flat, (), {}, training)
            return out.reshape((n, steps, *out.shape[1:]))
        outputs = []
        for t in range(steps):
            kwargs = {"mask": mask[:, t]} if takes_mask and mask is not None else {}
            outputs.append(self.layer._invoke(inputs[:, t], (), kwargs, training))
        return ops.stack(outputs, axis=1)

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "TimeDistributed":
        config = dict(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)
