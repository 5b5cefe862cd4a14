"""Regularization layers beside Dropout (Keras 3, keras/src/layers/regularization): noise that is active in
training only, channel-wise (spatial) dropout, and ActivityRegularization."""
from __future__ import annotations

import math

import numpy as np

from .. import regularizers
from ..autograd.tensor import Tensor
from ._args import describe
from .base import Layer
from .input_spec import InputSpec
from .regularization import Dropout

__all__ = ["ActivityRegularization", "AlphaDropout", "GaussianDropout", "GaussianNoise", "SpatialDropout1D",
           "SpatialDropout2D", "SpatialDropout3D"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _unit_rate(layer, name: str, value) -> float:
    """Keras's check: a float in [0, 1]."""
    try:
        rate = float(value)
    except (TypeError, ValueError):
        rate = math.nan
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"Invalid value received for argument `{name}`. Expected a float value between 0 and 1. "
                         f"Received: {name}={value}")
    return value


class _Noise(Layer):
    """Shared by the noise layers: a seeded generator (the layer's own when ``seed`` is given) and the
    pass-through of shapes and masks."""

    supports_masking = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{describe(self)}: seed must be an int or None, got seed={seed!r}")
        self.seed = seed
        self._rng = None

    _generator = Dropout._generator

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _normal(self, x: Tensor, mean: float, stddev: float) -> Tensor:
        rng = self._generator(x.data)
        noise = rng.standard_normal(x.shape, dtype=np.float32) * np.float32(stddev) + np.float32(mean)
        return Tensor._wrap(noise.astype(x.dtype, copy=False))


class GaussianNoise(_Noise):
    """Adds zero-centred Gaussian noise of standard deviation ``stddev`` in training (Keras 3)."""

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.stddev = _unit_rate(self, "stddev", stddev)

    def call(self, inputs, training=False):
        if training and self.stddev > 0:
            return inputs + self._normal(inputs, 0.0, float(self.stddev))
        return inputs

    def get_config(self) -> dict:
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


class GaussianDropout(_Noise):
    """Multiplies by 1-centred Gaussian noise of standard deviation ``sqrt(rate / (1 - rate))`` in training."""

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _unit_rate(self, "rate", rate)

    def call(self, inputs, training=False):
        if training and self.rate > 0:
            return inputs * self._normal(inputs, 1.0, math.sqrt(self.rate / (1.0 - self.rate)))
        return inputs

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


class AlphaDropout(_Noise):
    """Dropout that keeps SELU's self-normalisation: dropped units are set to SELU's negative saturation,
    then an affine map restores the mean and variance (Keras 3's formula)."""

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.rate = _unit_rate(self, "rate", rate)
        self.noise_shape = None if noise_shape is None else tuple(noise_shape)

    def call(self, inputs, training=False):
        if not training or self.rate <= 0:
            return inputs
        shape = inputs.shape if self.noise_shape is None else tuple(
            n if d is None else d for n, d in zip(inputs.shape, self.noise_shape))
        rng = self._generator(inputs.data)
        kept = (rng.random(shape, dtype=np.float32) >= self.rate).astype(inputs.dtype)
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - self.rate) * (1 + self.rate * alpha_p ** 2)) ** -0.5
        b = -a * alpha_p * self.rate
        kept_t = Tensor._wrap(kept)
        dropped = Tensor._wrap((alpha_p * (1 - kept)).astype(inputs.dtype, copy=False))
        return (inputs * kept_t + dropped) * float(a) + float(b)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate, "seed": self.seed,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape)}


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one draw per (sample, channel), shared over the spatial axes."""

    _rank = 3

    def __init__(self, rate, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        self.input_spec = InputSpec(ndim=self._rank)

    def _channels_first(self) -> bool:
        return getattr(self, "data_format", "channels_last") == "channels_first"

    def call(self, x, training: bool = False):
        if not training or self.rate == 0.0:
            return x
        shape = [1] * x.ndim
        shape[0] = x.shape[0]
        channel = 1 if self._channels_first() else x.ndim - 1
        shape[channel] = x.shape[channel]
        rng = self._generator(x.data)
        keep = rng.random(tuple(shape), dtype=np.float32) >= self.rate
        mask = (keep * (1.0 / (1.0 - self.rate))).astype(x.dtype)
        return x * Tensor._wrap(mask)

    def get_config(self) -> dict:  # Keras's spatial dropouts write only these
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype.name}


class SpatialDropout1D(_SpatialDropout):
    """Drops whole channels of ``(batch, steps, channels)`` inputs in training (Keras 3)."""

    _rank = 3


class _SpatialDropoutND(_SpatialDropout):
    def __init__(self, rate, data_format=None, seed=None, name=None, dtype=None):
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        data_format = "channels_last" if data_format is None else str(data_format).lower()
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError(f"The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                             f"Received: data_format={data_format}")
        self.data_format = data_format

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class SpatialDropout2D(_SpatialDropoutND):
    """Drops whole channels of 4-D image batches in training (Keras 3)."""

    _rank = 4


class SpatialDropout3D(_SpatialDropoutND):
    """Drops whole channels of 5-D volume batches in training (Keras 3)."""

    _rank = 5


class ActivityRegularization(Layer):
    """Identity whose output adds ``L1L2(l1, l2)(output) / batch size`` to the layer's losses (Keras 3)."""

    supports_masking = True

    def __init__(self, l1=0.0, l2=0.0, **kwargs):
        kwargs.pop("activity_regularizer", None)
        super().__init__(activity_regularizer=regularizers.L1L2(l1=l1, l2=l2), **kwargs)
        self.l1 = l1
        self.l2 = l2

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        return inputs

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("activity_regularizer", None)
        return {**cfg, "l1": self.l1, "l2": self.l2}
