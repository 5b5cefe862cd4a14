"""Small layers the applications need in Keras's exact weight layout, private to them."""
from __future__ import annotations

from .. import initializers, ops, random
from .. import layers as _layers

__all__ = ["LayerScale", "StochasticDepth", "CustomScaleLayer"]


class LayerScale(_layers.Layer):
    """ConvNeXt's learnable per-channel scale: ``x * gamma``, gamma initialised to ``init_values``."""

    def __init__(self, init_values, projection_dim, **kwargs):
        super().__init__(**kwargs)
        self.init_values = float(init_values)
        self.projection_dim = int(projection_dim)

    def build(self, input_shape) -> None:
        self.gamma = self.add_weight(shape=(self.projection_dim,), initializer=initializers.Constant(self.init_values),
                                     trainable=True)  # unnamed in Keras too: ".../variable"

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x):
        return x * ops.convert_to_tensor(self.gamma)

    def get_config(self) -> dict:
        return {**super().get_config(), "init_values": self.init_values, "projection_dim": self.projection_dim}


class StochasticDepth(_layers.Layer):
    """Drop whole residual branches with probability ``drop_path_rate`` in training (identity in inference)."""

    def __init__(self, drop_path_rate, **kwargs):
        super().__init__(**kwargs)
        self.drop_path_rate = float(drop_path_rate)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training=None):
        if training and self.drop_path_rate > 0:
            keep = 1 - self.drop_path_rate
            shape = (x.shape[0],) + (1,) * (len(x.shape) - 1)
            mask = ops.floor(keep + random.uniform(shape))
            return (x / keep) * mask
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "drop_path_rate": self.drop_path_rate}


class CustomScaleLayer(_layers.Layer):
    """InceptionResNetV2's residual merge: ``inputs[0] + inputs[1] * scale``."""

    def __init__(self, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[0])

    def call(self, inputs):
        return inputs[0] + inputs[1] * self.scale

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}
