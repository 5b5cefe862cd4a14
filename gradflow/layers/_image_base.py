"""The shared plumbing of Keras 3's image preprocessing layers (``BaseImagePreprocessingLayer``):
``factor`` and ``value_range`` rules, a ``SeedGenerator`` per layer, the channel layout, dict inputs
(``{"images": ..., "labels": ...}``), and the inference rule (most layers are the identity with
``training=False``; a few, like AutoContrast, always apply).

The layers compute on NumPy (float32, Keras's compute dtype) and return a Tensor on the input's
backend; they are input preprocessing, so no gradient flows through the random ones.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import backend_for
from ..random import SeedGenerator, randint, uniform
from ._args import data_format as check_data_format
from ._args import describe
from .base import Layer

__all__: list[str] = []


def factor_pair(layer, factor, bounds=(-1.0, 1.0), name="factor"):
    """Keras's ``_set_factor``: a number ``f`` -> ``(max(-|f|, low), |f|)``; a pair sorted; within ``bounds``."""
    msg = (f"{describe(layer)}: the `{name}` argument should be a number (or a list of two numbers) in the range "
           f"[{bounds[0]}, {bounds[1]}]. Received: {name}={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(msg)
        lower, upper = sorted(factor)
    elif isinstance(factor, (int, float, np.integer, np.floating)) and not isinstance(factor, bool):
        if factor < bounds[0] or factor > bounds[1]:
            raise ValueError(msg)
        factor = abs(factor)
        lower, upper = max(-factor, bounds[0]), factor
    else:
        raise ValueError(msg)
    return lower, upper


def value_range_pair(layer, value_range):
    if not isinstance(value_range, (tuple, list)) or len(value_range) != 2:
        raise ValueError(f"{describe(layer)}: the `value_range` argument should be a list of two numbers. "
                         f"Received: value_range={value_range}")
    return sorted(value_range)


def to_range(images, source, target):
    """Keras's ``_transform_value_range``: a linear map of ``source`` onto ``target`` (float32)."""
    if source[0] == target[0] and source[1] == target[1]:
        return images
    images = images.astype(np.float32)
    scaled = (images - np.float32(source[0])) / np.float32(source[1] - source[0])
    return scaled * np.float32(target[1] - target[0]) + np.float32(target[0])


class _ImageLayer(Layer):
    """Base of the image layers: ``_augment(images, rng)`` transforms a channels-last float32 NumPy
    batch; ``always`` layers apply in inference too."""

    always = False  # True: also applied with training=False (AutoContrast, Resizing-like layers)
    seeded = True  # False: the layer draws nothing (no seed argument)
    keeps_dtype = False  # True: the input dtype is kept (no cast to float32)

    def __init__(self, data_format=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{describe(self)}: seed must be an int or None, got seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self.generator = SeedGenerator(seed) if self.seeded else None

    # -- random draws (Keras's names: uniform/randint with the layer's SeedGenerator) --------------
    def uniform(self, shape, lo=0.0, hi=1.0) -> np.ndarray:
        return uniform(shape, lo, hi, dtype="float32", seed=self.generator).numpy()

    def randint(self, shape, lo, hi) -> np.ndarray:
        return randint(shape, lo, hi, dtype="int32", seed=self.generator).numpy()

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def check_input_shape(self, input_shape) -> None:
        if isinstance(input_shape, dict):
            return
        if len(input_shape) not in (3, 4):
            raise ValueError(f"{describe(self)} expects images (batch, height, width, channels) or one image "
                             f"(height, width, channels), got shape {tuple(input_shape)}")

    def call(self, inputs, training=True):
        if isinstance(inputs, dict):
            out = dict(inputs)
            images = _array(inputs["images"])
            labels = None if inputs.get("labels") is None else _array(inputs["labels"])
            new_images, new_labels = self._apply(images, labels, training)
            out["images"] = _wrap_like(new_images, inputs["images"])
            if labels is not None:
                out["labels"] = _wrap_like(new_labels, inputs["labels"])
            return out
        images, _ = self._apply(_array(inputs), None, training)
        return _wrap_like(images, inputs)

    def _apply(self, images, labels, training):
        if not training and not self.always:
            return images, labels
        single = images.ndim == 3
        x = images[None] if single else images
        first = self.data_format == "channels_first"
        if first:
            x = np.moveaxis(x, 1, -1)
        dtype = x.dtype
        if not self.keeps_dtype:
            x = x.astype(np.float32)
        x, labels = self._augment_with_labels(x, labels)
        if self.keeps_dtype:
            x = x.astype(dtype)
        if first:
            x = np.moveaxis(x, -1, 1)
        return np.ascontiguousarray(x[0] if single else x), labels

    def _augment_with_labels(self, x, labels):
        return self._augment(x), labels

    def _augment(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "data_format": self.data_format}
        if self.seeded:
            cfg["seed"] = self.seed
        return cfg


def _array(x) -> np.ndarray:
    return x.numpy() if isinstance(x, Tensor) else np.asarray(x)


def _wrap_like(arr, like):
    data = like.data if isinstance(like, Tensor) else np.asarray(like)
    return Tensor._wrap(backend_for(data).asarray(arr))
