"""Dropout: inverted dropout while training, identity in inference."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ..backend import backend_for
from ._args import describe
from .base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Zero each input with probability ``rate`` in training and scale the rest by 1/(1 - rate).

    ``noise_shape`` (None entries take the input's size) shares one mask along axes of size 1;
    ``seed`` gives the layer its own generator, else gradflow.random's seeded one is used.
    """
    supports_masking = True  # Keras: a mask passes through unchanged

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            raise ValueError(f"{describe(self)}: rate must be a float in [0, 1), got rate={rate!r}") from None
        if not 0.0 <= rate < 1.0:
            raise ValueError(f"{describe(self)}: rate must be in [0, 1), got rate={rate!r}")
        self.rate = rate
        self.noise_shape = None if noise_shape is None else tuple(None if d is None else int(d) for d in noise_shape)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{describe(self)}: seed must be an int or None, got seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self._rng = None

    def check_input_shape(self, input_shape) -> None:
        if self.noise_shape is not None and len(self.noise_shape) != len(input_shape):
            raise ValueError(f"{describe(self)}: noise_shape {self.noise_shape} must have the input's rank "
                             f"{len(input_shape)} (input shape {tuple(input_shape)})")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _generator(self, data):
        """The data's device's generator (the active backend's when they match), or the layer's own."""
        backend = backend_for(data)
        if self.seed is not None:
            if self._rng is None:
                self._rng = backend.xp.random.default_rng(self.seed)
            return self._rng
        return backend.generator()

    def call(self, x, training: bool = False):
        if not training or self.rate == 0.0:
            return x
        rng = self._generator(x.data)
        if self.noise_shape is None:
            return ops.dropout(x, self.rate, training=True, rng=rng)
        shape = tuple(n if d is None else d for n, d in zip(x.shape, self.noise_shape))
        keep = rng.random(shape, dtype=np.float32) >= self.rate
        mask = (keep * (1.0 / (1.0 - self.rate))).astype(x.dtype)
        return x * Tensor._wrap(mask)

    def get_config(self) -> dict:
        return {**super().get_config(), "rate": self.rate,
                "noise_shape": None if self.noise_shape is None else list(self.noise_shape), "seed": self.seed}
