"""Keras 3's geometric and mixing augmentation layers: RandomCrop, RandomErasing, RandomGaussianBlur,
RandomPerspective, RandomShear, RandomElasticTransform, MixUp, CutMix, MaxNumBoundingBoxes. The warps
run on gradflow.ops.image (affine, perspective and elastic transforms), as Keras's call its
``backend.image`` ops."""
from __future__ import annotations

import random as _py_random

import numpy as np

from ..ops import image as ops_image
from ..random import beta, normal, shuffle
from ._args import describe, positive_int
from ._image_base import _ImageLayer, factor_pair

__all__ = ["RandomCrop", "RandomErasing", "RandomGaussianBlur", "RandomPerspective", "RandomShear",
           "RandomElasticTransform", "MixUp", "CutMix", "MaxNumBoundingBoxes"]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _check_interpolation(layer, interpolation, fill_mode=None):
    if interpolation not in _INTERPOLATIONS:
        raise NotImplementedError(f"{describe(layer)}: unknown `interpolation` {interpolation}; expected one of "
                                  f"{_INTERPOLATIONS}")
    if fill_mode is not None and fill_mode not in _FILL_MODES:
        raise NotImplementedError(f"{describe(layer)}: unknown `fill_mode` {fill_mode}; expected one of {_FILL_MODES}")


def _apply_where(apply, new, old):
    return np.where(np.asarray(apply).reshape(-1, 1, 1, 1), new, old)


class RandomCrop(_ImageLayer):
    """A random ``height x width`` window in training (the largest central window of that aspect, resized,
    when the image is not larger); the identity in inference (Keras 3)."""

    def __init__(self, height, width, seed=None, data_format=None, name=None, **kwargs):
        if seed is None:
            seed = _py_random.randint(1, int(1e9))  # Keras: make_default_seed(), saved in the config
        super().__init__(data_format=data_format, seed=seed, name=name, **kwargs)
        self.height = positive_int(self, "height", height)
        self.width = positive_int(self, "width", width)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        h = len(shape) - 3 if self.data_format == "channels_last" else len(shape) - 2
        shape[h], shape[h + 1] = self.height, self.width
        return tuple(shape)

    def _augment(self, x):
        n, ih, iw, c = x.shape
        if ih > self.height and iw > self.width:
            top = int(self.uniform((), 0, float(ih - self.height + 1)))
            left = int(self.uniform((), 0, float(iw - self.width + 1)))
        else:
            ch = max(min(ih, int(float(iw * self.height) / self.width)), 1)
            cw = max(min(iw, int(float(ih * self.width) / self.height)), 1)
            top, left = int(float(ih - ch) / 2), int(float(iw - cw) / 2)
        out = x[:, top:top + self.height, left:left + self.width]
        if out.shape[1:3] != (self.height, self.width):
            out = ops_image.resize(out, (self.height, self.width)).numpy()
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "height": self.height, "width": self.width}


def _boxes_mask(n, h, w, x0, x1, y0, y1):
    gy, gx = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32), indexing="ij")
    gx, gy = gx[None, :, :, None], gy[None, :, :, None]
    r = [v.reshape(-1, 1, 1, 1) for v in (x0, x1, y0, y1)]
    return (gx >= r[0]) & (gx < r[1]) & (gy >= r[2]) & (gy < r[3])


def _crop_bounds(layer, n, length, ratio):
    crop = (ratio * length).astype(np.float32)
    start = layer.uniform((n,)) * (np.float32(length) - crop)
    return start, start + crop


class RandomErasing(_ImageLayer):
    """Erase a random rectangle (``scale`` of the area) with ``fill_value`` (or noise) with probability
    ``U(factor)``."""

    def __init__(self, factor=1.0, scale=(0.02, 0.33), fill_value=None, value_range=(0, 255), seed=None,
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))
        self.scale = factor_pair(self, scale, (0, 1), "scale")
        if fill_value is not None and not (isinstance(fill_value, (int, float)) or
                                           (isinstance(fill_value, (tuple, list)) and len(fill_value) == 3)):
            raise ValueError(f"{describe(self)}: the `fill_value` argument should be a number or a list of three "
                             f"numbers. Received: fill_value={fill_value}")
        self.fill_value, self.value_range = fill_value, value_range

    def _augment(self, x):
        n, h, w, c = x.shape
        ratio = np.sqrt(self.uniform((n, 2), *self.scale))
        x0, x1 = _crop_bounds(self, n, w, ratio[:, 0])
        y0, y1 = _crop_bounds(self, n, h, ratio[:, 1])
        mask = _boxes_mask(n, h, w, x0, x1, y0, y1)
        prob = self.uniform((n,), *self.factor)
        apply = self.uniform((n,)) < prob
        if self.fill_value is None:
            fill = normal(x.shape, dtype="float32", seed=self.generator).numpy() * np.float32(self.value_range[1])
        else:
            fill = np.broadcast_to(np.asarray(self.fill_value, np.float32), x.shape)
        fill = np.clip(fill, self.value_range[0], self.value_range[1])
        return _apply_where(apply, np.where(mask, fill, x), x).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "scale": self.scale, "fill_value": self.fill_value,
                "value_range": self.value_range}


class RandomGaussianBlur(_ImageLayer):
    """Blur with probability ``U(factor)``, ``sigma ~ U(sigma)`` (one per batch and axis), clipped to
    ``value_range``."""

    def __init__(self, factor=1.0, kernel_size=3, sigma=1.0, value_range=(0, 255), data_format=None, seed=None,
                 **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))
        ks = tuple(kernel_size) if isinstance(kernel_size, (tuple, list)) else (kernel_size, kernel_size)
        if len(ks) != 2 or ks[0] % 2 == 0 or ks[1] % 2 == 0:
            raise ValueError(f"{describe(self)}: kernel_size must be an odd number. "
                             f"Received: kernel_size={kernel_size}")
        self.kernel_size = ks
        self.sigma = factor_pair(self, sigma, (0, 1), "sigma")
        self.value_range = value_range

    def _augment(self, x):
        n = x.shape[0]
        prob = self.uniform((n,), *self.factor)
        apply = self.uniform((n,)) < prob
        sigma = self.uniform((2,), *self.sigma) + np.float32(1e-6)
        blurred = ops_image.gaussian_blur(x, self.kernel_size, tuple(float(s) for s in sigma),
                                          data_format="channels_last").numpy()
        return np.clip(_apply_where(apply, blurred, x), *self.value_range).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "kernel_size": self.kernel_size, "sigma": self.sigma,
                "value_range": self.value_range}


class RandomPerspective(_ImageLayer):
    """Move each corner by up to ``scale / 2`` of its coordinates and warp, with probability ``U(factor)``."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None, data_format=None,
                 **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))
        if scale < 0.0 or scale > 1.0:
            raise ValueError(f"{describe(self)}: the `scale` argument should be a number in the range [0, 1]. "
                             f"Received: scale={scale}")
        _check_interpolation(self, interpolation)
        self.scale, self.interpolation, self.fill_value = scale, interpolation, fill_value

    def _augment(self, x):
        n, h, w, _ = x.shape
        prob = self.uniform((n,), *self.factor)
        apply = self.uniform((n,)) < prob
        f = self.uniform((n, 4, 2), -0.5 * self.scale, 0.5 * self.scale)
        start = np.repeat(np.array([[[0.0, 0.0], [w - 1, 0.0], [0.0, h - 1], [w - 1, h - 1]]], np.float32), n, 0)
        end = start + start * f
        out = ops_image.perspective_transform(x, start, end, interpolation=self.interpolation,
                                              fill_value=self.fill_value, data_format="channels_last").numpy()
        return _apply_where(apply, out, x)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_value": self.fill_value}


class RandomShear(_ImageLayer):
    """Shear by ``+-U(x_factor)`` along x and ``+-U(y_factor)`` along y (one sign drawn per image)."""

    def __init__(self, x_factor=0.0, y_factor=0.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.x_factor = self._shear_factor(x_factor, "x_factor")
        self.y_factor = self._shear_factor(y_factor, "y_factor")
        _check_interpolation(self, interpolation, fill_mode)
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value

    def _shear_factor(self, f, name):
        vals = list(f) if isinstance(f, (tuple, list)) else [f]
        low = -1.0 if len(vals) == 2 else 0.0  # a saved (-f, f) pair loads back (Keras's own check refuses it)
        if len(vals) not in (1, 2) or isinstance(f, (tuple, list)) and len(vals) != 2 or \
                any(not low <= v <= 1.0 for v in vals):
            raise ValueError(f"{describe(self)}: the `x_factor` and `y_factor` arguments should be a number (or a "
                             f"list of two numbers) in the range [0, 1]. Received: {name}={f}")
        return tuple(sorted(vals)) if len(vals) == 2 else (-abs(vals[0]), abs(vals[0]))

    def _augment(self, x):
        n = x.shape[0]
        invert = np.where(self.uniform((n, 1)) > 0.5, -1.0, 1.0).astype(np.float32)
        sy = self.uniform((n, 1), *self.y_factor)
        sx = self.uniform((n, 1), *self.x_factor)
        shear = np.concatenate([sx, sy], 1) * invert
        one, zero = np.ones(n, np.float32), np.zeros(n, np.float32)
        t = np.stack([one, shear[:, 0], zero, shear[:, 1], one, zero, zero, zero], 1)
        return ops_image.affine_transform(x, t, interpolation=self.interpolation, fill_mode=self.fill_mode,
                                          fill_value=self.fill_value, data_format="channels_last").numpy()

    def get_config(self) -> dict:
        return {**super().get_config(), "x_factor": self.x_factor, "y_factor": self.y_factor,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value}


class RandomElasticTransform(_ImageLayer):
    """Elastic distortion (``alpha = 0.1 s max(h, w)``, ``sigma = 0.05 s min(h, w)``, ``s ~ U(scale)``) with
    probability ``U(factor)``, clipped to ``value_range``."""

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                 value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))
        self.scale = factor_pair(self, scale, (0, 1), "scale")
        _check_interpolation(self, interpolation)
        if fill_mode not in ("reflect", "wrap", "constant", "nearest", "mirror"):
            raise NotImplementedError(f"{describe(self)}: unknown `fill_mode` {fill_mode}")
        self.interpolation, self.fill_mode, self.fill_value = interpolation, fill_mode, fill_value
        self.value_range = value_range

    def _augment(self, x):
        if self.scale[1] == 0 or self.factor[1] == 0:
            return x
        n, h, w, _ = x.shape
        prob = self.uniform((n,), *self.factor)
        apply = self.uniform((n,)) < prob
        s = float(self.uniform((), *self.scale))
        alpha, sigma = max(h, w) * 0.1 * s, min(h, w) * 0.05 * s
        out = ops_image.elastic_transform(x, alpha=alpha, sigma=sigma, interpolation=self.interpolation,
                                          fill_mode=self.fill_mode, fill_value=self.fill_value, seed=self.generator,
                                          data_format="channels_last").numpy()
        return np.clip(_apply_where(apply, out, x), *self.value_range).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "scale": self.scale,
                "interpolation": self.interpolation, "fill_mode": self.fill_mode, "fill_value": self.fill_value,
                "value_range": self.value_range}


class MixUp(_ImageLayer):
    """Blend each image (and its ``labels`` in a dict input) with a shuffled partner by ``Beta(alpha, alpha)``."""

    def __init__(self, alpha=0.2, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.alpha = alpha

    def _augment_with_labels(self, x, labels):
        n = x.shape[0]
        order = shuffle(np.arange(n, dtype=np.int64), seed=self.generator).numpy()
        weight = beta((n,), self.alpha, self.alpha, dtype="float32", seed=self.generator).numpy()
        out = weight.reshape(-1, 1, 1, 1) * x + (np.float32(1.0) - weight.reshape(-1, 1, 1, 1)) * x[order]
        if labels is not None:
            w = weight.reshape(-1, 1)
            labels = w * labels + (1.0 - w) * labels[order]
        return out.astype(np.float32), labels

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class CutMix(_ImageLayer):
    """Paste a random box of a shuffled partner into each image (area from ``Beta(a, a)``, ``a ~ U(factor)``)
    and mix the ``labels`` of a dict input by the kept area. Unbatched images are returned unchanged."""

    def __init__(self, factor=1.0, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))

    def _apply(self, images, labels, training):
        if images.ndim == 3:
            return (images.astype(np.float32) if training else images), labels
        return super()._apply(images, labels, training)

    def _augment_with_labels(self, x, labels):
        n, h, w, _ = x.shape
        a = float(self.uniform((), *self.factor)) + 1e-6
        weight = beta((n,), a, a, dtype="float32", seed=self.generator).numpy()
        ratio = np.sqrt(np.float32(1.0) - weight)
        x0, x1 = _crop_bounds(self, n, w, ratio)
        y0, y1 = _crop_bounds(self, n, h, ratio)
        mask = _boxes_mask(n, h, w, x0, x1, y0, y1)
        kept = 1.0 - (x1 - x0) * (y1 - y0) / (w * h)
        order = shuffle(np.arange(n, dtype=np.int32), seed=self.generator).numpy()
        out = np.where(mask, x[order], x).astype(np.float32)
        if labels is not None:
            k = kept.reshape(-1, 1)
            labels = k * labels + (1.0 - k) * labels[order]
        return out, labels

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor}


class MaxNumBoundingBoxes(_ImageLayer):
    """Pad or cut the ``bounding_boxes`` of a dict input to ``max_number`` per image (``fill_value``)."""

    seeded, keeps_dtype, always = False, True, True

    def __init__(self, max_number, fill_value=-1, **kwargs):
        self.bounding_box_format = kwargs.pop("bounding_box_format", None)
        super().__init__(**kwargs)
        self.max_number = int(max_number)
        self.fill_value = int(fill_value)

    def call(self, inputs, training=True):
        if not isinstance(inputs, dict) or "bounding_boxes" not in inputs:
            return inputs
        out = dict(inputs)
        bb = dict(inputs["bounding_boxes"])
        boxes = np.asarray(bb["boxes"].numpy() if hasattr(bb["boxes"], "numpy") else bb["boxes"])
        labels = np.asarray(bb["labels"].numpy() if hasattr(bb["labels"], "numpy") else bb["labels"])
        pad = max(self.max_number - boxes.shape[1], 0)
        boxes = np.pad(boxes[:, :self.max_number], ((0, 0), (0, pad), (0, 0)), constant_values=self.fill_value)
        labels = np.pad(labels[:, :self.max_number], ((0, 0), (0, pad)), constant_values=self.fill_value)
        bb["boxes"], bb["labels"] = boxes, labels
        out["bounding_boxes"] = bb
        return out

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "max_number": self.max_number}
        if self.bounding_box_format is not None:
            cfg["bounding_box_format"] = self.bounding_box_format
        return cfg
