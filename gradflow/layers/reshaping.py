"""Reshaping layers: Flatten, Reshape (one -1 allowed), UpSampling1D, UpSampling2D (nearest or
bilinear), ZeroPadding2D, Cropping2D, RepeatVector and Permute."""
from __future__ import annotations

import math

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ._args import check_rank, describe, from_channels_last, positive_tuple, to_channels_last
from ._args import data_format as check_data_format
from .base import Layer

__all__ = ["Flatten", "Reshape", "UpSampling1D", "UpSampling2D", "ZeroPadding2D", "Cropping2D", "RepeatVector",
           "Permute"]


def _repeat_axis(x, axis: int, times: int):
    """Each entry along ``axis`` repeated ``times`` times in a row, by broadcasting against ones (so
    the backward pass sums each block back onto its source)."""
    shape = x.shape
    expanded = x.reshape(shape[:axis + 1] + (1,) + shape[axis + 1:])
    ones = Tensor._wrap(x.xp.ones((1,) * (axis + 1) + (times,) + (1,) * (len(shape) - axis - 1), dtype=x.dtype))
    return (expanded * ones).reshape(shape[:axis] + (shape[axis] * times,) + shape[axis + 1:])


class RepeatVector(Layer):
    """``(batch, features)`` -> ``(batch, n, features)``: the input repeated ``n`` times."""

    def __init__(self, n, **kwargs):
        super().__init__(**kwargs)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{describe(self)}: n must be a positive int, got n={n!r}")
        self.n = int(n)

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 2, "(batch, features)")

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.n, input_shape[1])

    def call(self, x, training: bool = False):
        return _repeat_axis(x.reshape((x.shape[0], 1, x.shape[1])), 1, self.n)

    def get_config(self) -> dict:
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of ``1..rank-1`` (Keras counts from 1)."""

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        try:
            self.dims = tuple(int(d) for d in dims)
        except (TypeError, ValueError):
            raise ValueError(f"{describe(self)}: dims must be a tuple of ints, got {dims!r}") from None
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError(f"{describe(self)}: dims must be a permutation of 1..{len(self.dims)} (the batch axis "
                             f"stays first), got {dims!r}")

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, len(self.dims) + 1, f"(batch + {len(self.dims)} axes for dims={self.dims})")

    def compute_output_shape(self, input_shape):
        return (input_shape[0],) + tuple(input_shape[d] for d in self.dims)

    def call(self, x, training: bool = False):
        return x.transpose((0,) + self.dims)

    def get_config(self) -> dict:
        return {**super().get_config(), "dims": list(self.dims)}


class UpSampling1D(Layer):
    """``(batch, steps, features)`` -> ``(batch, steps * size, features)``: each step repeated."""

    def __init__(self, size=2, **kwargs):
        super().__init__(**kwargs)
        (self.size,) = positive_tuple(self, "size", size, 1)

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 3, "(batch, steps, features)")

    def compute_output_shape(self, input_shape):
        steps = input_shape[1]
        return (input_shape[0], None if steps is None else steps * self.size, input_shape[2])

    def call(self, x, training: bool = False):
        return _repeat_axis(x, 1, self.size)

    def get_config(self) -> dict:
        return {**super().get_config(), "size": self.size}


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


def _two_sided(layer, name, value):
    """Keras's ``1``, ``(1, 2)`` or ``((top, bottom), (left, right))`` as ((top, bottom), (left, right))."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        pairs = ((int(value),) * 2,) * 2
    else:
        items = tuple(value)
        if len(items) == 2 and all(isinstance(v, (int, np.integer)) for v in items):
            pairs = ((int(items[0]),) * 2, (int(items[1]),) * 2)
        elif len(items) == 2 and all(len(tuple(v)) == 2 for v in items):
            pairs = tuple((int(a), int(b)) for a, b in items)
        else:
            raise ValueError(f"{describe(layer)}: {name} must be an int, a pair of ints or a pair of pairs, "
                             f"got {name}={value!r}")
    if min(min(p) for p in pairs) < 0:
        raise ValueError(f"{describe(layer)}: {name} must be >= 0, got {name}={value!r}")
    return pairs


class _Spatial2D(Layer):
    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)

    def _hw_axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 4, "(batch, height, width, channels)" if self.data_format == "channels_last"
                   else "(batch, channels, height, width)")


class ZeroPadding2D(_Spatial2D):
    """Zeros around images: ``padding`` 1, ``(rows, cols)`` or ``((top, bottom), (left, right))``."""

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.padding = _two_sided(self, "padding", padding)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (lo, hi) in zip(self._hw_axes(), self.padding):
            shape[axis] = None if shape[axis] is None else shape[axis] + lo + hi
        return tuple(shape)

    def call(self, x, training: bool = False):
        widths = [(0, 0)] * 4
        for axis, p in zip(self._hw_axes(), self.padding):
            widths[axis] = p
        return ops.pad(x, widths)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


class Cropping2D(_Spatial2D):
    """Cut rows and columns off the edges: ``cropping`` 1, ``(rows, cols)`` or ``((top, bottom), (left, right))``."""

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.cropping = _two_sided(self, "cropping", cropping)

    def check_input_shape(self, input_shape) -> None:
        super().check_input_shape(input_shape)
        for axis, (lo, hi) in zip(self._hw_axes(), self.cropping):
            n = input_shape[axis]
            if n is not None and lo + hi >= n:
                raise ValueError(f"{describe(self)}: cropping {self.cropping} leaves nothing of an input of shape "
                                 f"{tuple(input_shape)}")

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (lo, hi) in zip(self._hw_axes(), self.cropping):
            shape[axis] = None if shape[axis] is None else shape[axis] - lo - hi
        return tuple(shape)

    def call(self, x, training: bool = False):
        index = [slice(None)] * 4
        for axis, (lo, hi) in zip(self._hw_axes(), self.cropping):
            index[axis] = slice(lo, x.shape[axis] - hi)
        return x[tuple(index)]

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": [list(p) for p in self.cropping], "data_format": self.data_format}

