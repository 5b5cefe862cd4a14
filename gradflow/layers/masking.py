"""Masking: marks the timesteps whose features all equal ``mask_value`` as padding (Keras 3)."""
from __future__ import annotations

from ..autograd.tensor import Tensor
from .base import Layer, set_keras_mask

__all__ = ["Masking"]


def _keep(layer, inputs):
    """``any(inputs != mask_value, axis=-1)`` as a boolean array (True: a step to use)."""
    data = inputs.data if isinstance(inputs, Tensor) else inputs
    return (data != layer.mask_value).any(axis=-1)


class Masking(Layer):
    """``Masking(mask_value=0.0)``: steps whose features all equal ``mask_value`` become 0 and are
    masked out (``_keras_mask`` False) for the layers after it (RNNs skip them, pooling ignores them)."""

    supports_masking = True

    def __init__(self, mask_value=0.0, **kwargs):
        super().__init__(**kwargs)
        self.mask_value = mask_value

    def compute_mask(self, inputs, mask=None):
        return Tensor._wrap(_keep(self, inputs))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        keep = _keep(self, inputs)
        outputs = inputs * Tensor._wrap(keep[..., None].astype(inputs.dtype))  # masked steps set to 0
        set_keras_mask(outputs, Tensor._wrap(keep))
        return outputs

    def get_config(self) -> dict:
        return {**super().get_config(), "mask_value": self.mask_value}
