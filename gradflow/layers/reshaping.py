"""Reshaping layers: Flatten, Reshape (one -1 allowed) and UpSampling2D (nearest or bilinear)."""
from __future__ import annotations

import math

import numpy as np

from ..autograd.tensor import Tensor
from ._args import check_rank, describe, from_channels_last, positive_tuple, to_channels_last
from ._args import data_format as check_data_format
from .base import Layer

__all__ = ["Flatten", "Reshape", "UpSampling2D"]


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1*d2*...); 'channels_first' inputs are made channels-last first (Keras)."""

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)

    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) < 1:
            raise ValueError(f"{describe(self)} expects inputs with a batch axis, got shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if any(d is None for d in rest):
            return (input_shape[0], None)
        return (input_shape[0], int(math.prod(rest)))

    def call(self, x, training: bool = False):
        if self.data_format == "channels_first" and x.ndim > 2:
            x = x.transpose(0, *range(2, x.ndim), 1)
        return x.reshape(x.shape[0], -1)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (batch axis kept); one entry may be -1."""

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            shape = tuple(int(d) for d in target_shape)
        except (TypeError, ValueError):
            raise ValueError(f"{describe(self)}: target_shape must be a tuple of ints, got {target_shape!r}") from None
        if shape.count(-1) > 1 or any(d == 0 or d < -1 for d in shape):
            raise ValueError(f"{describe(self)}: target_shape must hold positive ints and at most one -1, "
                             f"got {target_shape!r}")
        self.target_shape = shape

    def _resolve(self, input_shape):
        """``target_shape`` with its -1 filled in (None if the input size is unknown)."""
        rest = input_shape[1:]
        known = int(math.prod(d for d in self.target_shape if d != -1))
        if any(d is None for d in rest):
            return tuple(None if d == -1 else d for d in self.target_shape)
        total = int(math.prod(rest))
        if -1 in self.target_shape:
            if total % known:
                raise ValueError(f"{describe(self)}: cannot reshape inputs of shape {tuple(input_shape)} "
                                 f"({total} values per sample) to {self.target_shape}: "
                                 f"{total} is not a multiple of {known}")
            return tuple(total // known if d == -1 else d for d in self.target_shape)
        if total != known:
            raise ValueError(f"{describe(self)}: cannot reshape inputs of shape {tuple(input_shape)} "
                             f"({total} values per sample) to {self.target_shape} ({known} values)")
        return self.target_shape

    def check_input_shape(self, input_shape) -> None:
        self._resolve(input_shape)

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + self._resolve(input_shape)

    def call(self, x, training: bool = False):
        return x.reshape((x.shape[0],) + self.target_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "target_shape": list(self.target_shape)}


def _bilinear_matrix(n_in: int, scale: int) -> np.ndarray:
    """(n_in*scale, n_in) weights of half-pixel bilinear upsampling (TF/Keras, torch align_corners=False)."""
    n_out = n_in * scale
    src = np.maximum((np.arange(n_out) + 0.5) / scale - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w = src - i0
    m = np.zeros((n_out, n_in))
    rows = np.arange(n_out)
    np.add.at(m, (rows, i0), 1.0 - w)
    np.add.at(m, (rows, i1), w)
    return m


class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times ('nearest', Keras default) or interpolate ('bilinear')."""

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        self.size = positive_tuple(self, "size", size)
        self.data_format = check_data_format(self, data_format)
        if interpolation not in ("nearest", "bilinear"):
            raise ValueError(f"{describe(self)}: interpolation must be 'nearest' or 'bilinear', "
                             f"got interpolation={interpolation!r}")
        self.interpolation = interpolation

    def check_input_shape(self, input_shape) -> None:
        layout = "(batch, height, width, channels)" if self.data_format == "channels_last" else \
            "(batch, channels, height, width)"
        check_rank(self, input_shape, 4, layout)

    def compute_output_shape(self, input_shape):
        s = list(input_shape)
        axes = (1, 2) if self.data_format == "channels_last" else (2, 3)
        for ax, f in zip(axes, self.size):
            s[ax] = None if s[ax] is None else s[ax] * f
        return tuple(s)

    def call(self, x, training: bool = False):
        x = to_channels_last(x, self.data_format)
        n, h, w, c = x.shape
        sh, sw = self.size
        if self.interpolation == "nearest":
            # broadcast against ones: backward sums each block back onto its source pixel
            ones = Tensor._wrap(x.xp.ones((1, 1, sh, 1, sw, 1), dtype=x.dtype))
            y = (x.reshape(n, h, 1, w, 1, c) * ones).reshape(n, h * sh, w * sw, c)
        else:
            mh = Tensor._wrap(x.xp.asarray(_bilinear_matrix(h, sh).T, dtype=x.dtype))  # (h, h*sh)
            mw = Tensor._wrap(x.xp.asarray(_bilinear_matrix(w, sw).T, dtype=x.dtype))  # (w, w*sw)
            t = x.transpose(0, 2, 3, 1) @ mh            # (n, w, c, H)
            t = t.transpose(0, 3, 2, 1) @ mw            # (n, H, c, W)
            y = t.transpose(0, 1, 3, 2)                 # (n, H, W, c)
        return from_channels_last(y, self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format,
                "interpolation": self.interpolation}
