"""Preprocessing layers (Keras 3): Rescaling, Normalization (with ``adapt``), CenterCrop, Resizing.

They run inside a model like any layer (so a saved model carries its preprocessing). Rescaling and
Normalization are differentiable affine maps; CenterCrop and Resizing cut or resample images
(channels-last) on the active backend.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ..backend import array_module
from ..ops.image import resize
from ._args import data_format as check_data_format
from ._args import describe, positive_int
from .base import Layer

__all__ = ["Rescaling", "Normalization", "CenterCrop", "Resizing"]


def _number_or_list(layer, name, value):
    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(v) for v in np.asarray(value).ravel()]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{describe(layer)}: {name} must be a number or a list of numbers, got {name}={value!r}")
    return float(value)


class Rescaling(Layer):
    """``x * scale + offset`` (e.g. ``Rescaling(1.0 / 255)``); both may be per-channel lists."""

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        self.scale = _number_or_list(self, "scale", scale)
        self.offset = _number_or_list(self, "offset", offset)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        xp = array_module(inputs.data)
        scale = self.scale if isinstance(self.scale, float) else Tensor._wrap(xp.asarray(self.scale, inputs.dtype))
        offset = self.offset if isinstance(self.offset, float) else Tensor._wrap(xp.asarray(self.offset, inputs.dtype))
        return inputs * scale + offset

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "offset": self.offset}


class Normalization(Layer):
    """Feature-wise ``(x - mean) / sqrt(variance)`` with statistics given or learned by ``adapt(data)``.

    ``axis`` (default -1) names the axes that keep their own statistics; the others are reduced
    over. ``invert=True`` applies the inverse map. The statistics are non-trainable weights
    ``mean``, ``variance`` and ``count`` (Keras 3's layout), so they save with the model.
    """

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        if axis is None:
            self.axis = ()
        else:
            self.axis = (int(axis),) if isinstance(axis, (int, np.integer)) else tuple(int(a) for a in axis)
        if (mean is None) != (variance is None):
            raise ValueError(f"{describe(self)}: pass both mean and variance, or neither (and call adapt())")
        self.input_mean = None if mean is None else np.asarray(mean, dtype=np.float64)
        self.input_variance = None if variance is None else np.asarray(variance, dtype=np.float64)
        self.invert = bool(invert)

    def _kept(self, rank: int) -> tuple:
        out = []
        for a in self.axis:
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f"{describe(self)}: axis {a} is out of range for inputs of rank {rank} (or is the "
                                 f"batch axis)")
            out.append(a % rank)
        return tuple(sorted(out))

    def _stat_shape(self, input_shape) -> tuple:
        kept = self._kept(len(input_shape))
        if any(input_shape[a] is None for a in kept):
            raise ValueError(f"{describe(self)}: the axes {list(kept)} that keep their own statistics need known "
                             f"sizes, got input shape {tuple(input_shape)}")
        return tuple(input_shape[a] if a in kept else 1 for a in range(len(input_shape)))

    def build(self, input_shape) -> None:
        """Keras's layout: adapted statistics are the weights ``mean``/``variance`` (the kept axes' sizes) and
        ``count``; given ``mean``/``variance`` are constants (no weights), aligned right to left with the
        kept axes and broadcast."""
        if self.input_mean is None:
            kept = self._kept(len(input_shape))
            shape = tuple(input_shape[a] for a in kept)
            self.add_weight(name="mean", shape=shape, initializer="zeros", trainable=False)
            self.add_weight(name="variance", shape=shape, initializer="ones", trainable=False)
            self.add_weight(name="count", shape=(), initializer="zeros", trainable=False, dtype="int32")
            return
        self._given_constants(input_shape)

    def _given_constants(self, input_shape) -> tuple:
        """The given mean and variance, aligned right to left with the kept axes and broadcast to the
        statistics shape of ``input_shape``, in the compute dtype (kept per input rank)."""
        rank = len(input_shape)
        cached = self.__dict__.setdefault("_given", {})
        if rank in cached:
            return cached[rank]
        bshape = self._stat_shape(input_shape)
        kept = self._kept(rank)
        mean, variance = self.input_mean, self.input_variance
        if mean.ndim:
            if mean.ndim > len(kept):
                raise ValueError(f"{describe(self)}: mean/variance of shape {mean.shape} do not fit the kept axes "
                                 f"{list(kept)} of input shape {tuple(input_shape)}")
            aligned = [1] * rank
            for i in range(1, mean.ndim + 1):
                aligned[kept[-i]] = mean.shape[-i]
            mean, variance = mean.reshape(aligned), variance.reshape(aligned)
        try:
            mean, variance = np.broadcast_to(mean, bshape), np.broadcast_to(variance, bshape)
        except ValueError:
            raise ValueError(f"{describe(self)}: mean/variance of shape {self.input_mean.shape} do not fit the "
                             f"statistics shape {bshape} for input shape {tuple(input_shape)}") from None
        dtype = self.compute_dtype
        cached[rank] = (np.array(mean, dtype=dtype), np.array(variance, dtype=dtype))
        return cached[rank]

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the mean and variance of ``data`` (an array, or an iterable of batches)."""
        if self.input_mean is not None:
            raise ValueError(f"{describe(self)}: was given mean and variance; adapt() cannot learn them")
        batches = [data] if hasattr(data, "shape") or isinstance(data, list) and data and np.isscalar(data[0]) \
            else data
        total = count = None
        sq = None
        for i, batch in enumerate(batches):
            if steps is not None and i >= steps:
                break
            arr = batch.numpy() if isinstance(batch, Tensor) else np.asarray(batch, dtype=np.float64)
            arr = arr.astype(np.float64, copy=False)
            if arr.ndim == 1:
                arr = arr[:, None]
            if not self.built:
                self.build_from_shape((None,) + arr.shape[1:])
            shape = self._stat_shape((None,) + arr.shape[1:])
            axes = tuple(a for a in range(arr.ndim) if shape[a] == 1 or a == 0)
            n = int(np.prod([arr.shape[a] for a in axes]))
            s, s2 = arr.sum(axis=axes, keepdims=True), (arr * arr).sum(axis=axes, keepdims=True)
            total, sq, count = (s, s2, n) if total is None else (total + s, sq + s2, count + n)
        if total is None:
            raise ValueError(f"{describe(self)}: adapt() got no data")
        mean = total / count
        variance = np.maximum(sq / count - mean * mean, 0.0)
        self.mean.assign(mean.reshape(self.mean.shape))
        self.variance.assign(variance.reshape(self.variance.shape))
        self.count.assign(np.asarray(count, dtype=np.int32))

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs):
        if self.input_mean is not None:
            xp = array_module(inputs.data)
            mean, variance = (Tensor._wrap(xp.asarray(v)) for v in self._given_constants(inputs.shape))
        else:
            bshape = self._stat_shape(inputs.shape)
            mean, variance = self.mean.reshape(bshape), self.variance.reshape(bshape)
        if inputs.dtype != mean.dtype:  # Keras converts the inputs to the compute dtype
            inputs = ops.cast(inputs, mean.dtype)
        std = ops.maximum(ops.sqrt(variance), 1e-7)  # Keras: max(sqrt(variance), epsilon)
        if self.invert:
            return mean + inputs * std
        return (inputs - mean) / std

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": list(self.axis), "invert": self.invert,
                "mean": None if self.input_mean is None else self.input_mean.tolist(),
                "variance": None if self.input_variance is None else self.input_variance.tolist()}


class _ImageSize(Layer):
    def __init__(self, height, width, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.height = positive_int(self, "height", height)
        self.width = positive_int(self, "width", width)
        self.data_format = check_data_format(self, data_format)

    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) not in (3, 4):
            raise ValueError(f"{describe(self)} expects images (batch, height, width, channels) or one image, got "
                             f"shape {tuple(input_shape)}")

    def _hw_axes(self, ndim):
        return (ndim - 3, ndim - 2) if self.data_format == "channels_last" else (ndim - 2, ndim - 1)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h, w = self._hw_axes(len(shape))
        shape[h], shape[w] = self.height, self.width
        return tuple(shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width, "data_format": self.data_format}


class CenterCrop(_ImageSize):
    """The central ``height x width`` window (an image smaller than that is resized up, as Keras does)."""

    def call(self, inputs):
        h_axis, w_axis = self._hw_axes(inputs.ndim)
        H, W = inputs.shape[h_axis], inputs.shape[w_axis]
        if H < self.height or W < self.width:
            return Resizing(self.height, self.width, data_format=self.data_format, name=f"{self.name}_resize",
                            crop_to_aspect_ratio=True).call(inputs)
        top, left = (H - self.height) // 2, (W - self.width) // 2
        index = [slice(None)] * inputs.ndim
        index[h_axis], index[w_axis] = slice(top, top + self.height), slice(left, left + self.width)
        return inputs[tuple(index)]


class Resizing(_ImageSize):
    """Resample images to ``height x width`` with Keras's ``ops.image.resize``: 'bilinear' (default),
    'nearest', 'bicubic', 'lanczos3', 'lanczos5' or 'area', ``antialias``, and ``crop_to_aspect_ratio`` /
    ``pad_to_aspect_ratio`` (padding with ``fill_value``). Differentiable."""

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False, pad_to_aspect_ratio=False,
                 fill_mode="constant", fill_value=0.0, antialias=False, data_format=None, **kwargs):
        super().__init__(height, width, data_format=data_format, **kwargs)
        methods = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area")
        if interpolation not in methods:
            raise ValueError(f"{describe(self)}: interpolation must be one of {methods}, got {interpolation!r}")
        if fill_mode != "constant":
            raise ValueError(f"{describe(self)}: only fill_mode='constant' is supported, got {fill_mode!r}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{describe(self)}: only one of crop_to_aspect_ratio and pad_to_aspect_ratio can be True")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = bool(crop_to_aspect_ratio)
        self.pad_to_aspect_ratio = bool(pad_to_aspect_ratio)
        self.fill_mode, self.fill_value, self.antialias = fill_mode, fill_value, bool(antialias)

    def call(self, inputs):
        return resize(inputs, (self.height, self.width), interpolation=self.interpolation,
                      antialias=self.antialias, crop_to_aspect_ratio=self.crop_to_aspect_ratio,
                      pad_to_aspect_ratio=self.pad_to_aspect_ratio, fill_mode=self.fill_mode,
                      fill_value=self.fill_value, data_format=self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio, "pad_to_aspect_ratio": self.pad_to_aspect_ratio,
                "fill_mode": self.fill_mode, "fill_value": self.fill_value, "antialias": self.antialias}
