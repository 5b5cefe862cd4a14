"""Keras 3's colour augmentation layers: AutoContrast, Equalization, Solarization, RandomInvert,
RandomGrayscale, RandomColorDegeneration, RandomHue, RandomSaturation, RandomPosterization,
RandomSharpness, RandomColorJitter. Each follows its Keras source: the same factor rules, value
ranges, draws per image, and results for fixed factors."""
from __future__ import annotations

import numpy as np

from ..backend import epsilon
from ..ops import image as ops_image
from ._args import describe
from ._image_base import _ImageLayer, factor_pair, to_range, value_range_pair

__all__ = ["AutoContrast", "Equalization", "Solarization", "RandomInvert", "RandomGrayscale",
           "RandomColorDegeneration", "RandomHue", "RandomSaturation", "RandomPosterization", "RandomSharpness",
           "RandomColorJitter"]


def _gray(x):
    return ops_image.rgb_to_grayscale(x).numpy()


def _per_image(x, values):
    return np.asarray(values, np.float32).reshape(-1, 1, 1, 1)


class AutoContrast(_ImageLayer):
    """Stretch each image's channels to the full ``value_range`` (applied in inference too, as Keras)."""

    always, seeded = True, False

    def __init__(self, value_range=(0, 255), **kwargs):
        super().__init__(**kwargs)
        self.value_range = value_range_pair(self, value_range)

    def _augment(self, x):
        original = x
        images = to_range(x, self.value_range, (0, 255)).astype(np.float32)
        low = images.min(axis=(1, 2), keepdims=True)
        high = images.max(axis=(1, 2), keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.float32(255.0) / (high - low)
            out = images * scale + (-low * scale)
        out = to_range(np.clip(out, 0.0, 255.0), (0, 255), self.value_range)
        return np.where(np.isnan(out), original, out).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": self.value_range}


class Equalization(_ImageLayer):
    """Histogram equalization of each channel (one histogram over the batch, ``bins`` bins)."""

    seeded = False

    def __init__(self, value_range=(0, 255), bins=256, data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.bins = int(bins)
        self.value_range = value_range_pair(self, value_range)

    def _channel(self, ch):
        lo, hi = (float(v) for v in self.value_range)
        scale = np.float32(255.0 / (hi - lo))
        ch = ch * scale + np.float32(0 - lo * (255.0 / (hi - lo)))
        nb = self.bins
        idx = np.clip(((ch - 0.0) * (nb - 1) / 255.0).astype(np.int32), 0, nb - 1)
        hist = np.bincount(idx.reshape(-1), minlength=nb)
        if np.count_nonzero(hist) <= 1:
            eq = ch
        else:
            cdf = np.cumsum(hist)
            cdf_min = cdf[np.nonzero(cdf)[0][0]]
            denom = cdf[-1] - cdf_min
            denom = 1 if denom == 0 else denom
            lut = np.clip(np.round(((cdf - cdf_min) * 255 / denom).astype(np.float32)), 0, 255)
            pos = np.clip((ch / np.float32(255.0)) * np.float32(nb - 1), 0, nb - 1).astype(np.int32)
            eq = lut[pos]
        back = np.float32((hi - lo) / 255.0)
        return (eq * back + np.float32(lo)).astype(np.float32)

    def _augment(self, x):
        return np.stack([self._channel(x[..., i]) for i in range(x.shape[-1])], axis=-1)

    def get_config(self) -> dict:
        return {**super().get_config(), "bins": self.bins, "value_range": self.value_range}


class Solarization(_ImageLayer):
    """Add ``U(a0, a1 * 255)`` and invert the pixels above ``U(t0, t1 * 255)`` (on a 0-255 scale)."""

    def __init__(self, addition_factor=0.0, threshold_factor=0.0, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.addition_factor = self._factor(addition_factor, "addition_factor")
        self.threshold_factor = self._factor(threshold_factor, "threshold_factor")
        self.value_range = value_range_pair(self, value_range)

    def _factor(self, f, name):
        vals = list(f) if isinstance(f, (tuple, list)) else [0, f]
        if len(vals) != 2 or any(not 0 <= v <= 1 for v in vals):
            raise ValueError(f"{describe(self)}: the `addition_factor` and `threshold_factor` arguments should be a "
                             f"number (or a list of two numbers) in the range [0, 1]. Received: {name}={f}")
        return tuple(sorted(vals))

    def _augment(self, x):
        n = x.shape[0]
        add = self.uniform((n, 1, 1, 1), self.addition_factor[0], self.addition_factor[1] * 255)
        thr = self.uniform((n, 1, 1, 1), self.threshold_factor[0], self.threshold_factor[1] * 255)
        images = to_range(x, self.value_range, (0, 255))
        out = np.clip(images + add, 0, 255)
        out = np.where(out < thr, out, 255 - out)
        return to_range(out, (0, 255), self.value_range).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": self.value_range, "addition_factor": self.addition_factor,
                "threshold_factor": self.threshold_factor}


class RandomInvert(_ImageLayer):
    """Replace an image by ``value_range[1] - image`` with probability ``U(factor)``."""

    def __init__(self, factor=1.0, value_range=(0, 255), seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))
        self.value_range = value_range

    def _augment(self, x):
        n = x.shape[0]
        prob = self.uniform((n,), *self.factor)
        thr = self.uniform((n,))
        return np.where((thr < prob)[:, None, None, None], np.float32(self.value_range[1]) - x, x)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomGrayscale(_ImageLayer):
    """Turn an image to grayscale (kept 3 channels) with probability ``factor``."""

    keeps_dtype = True

    def __init__(self, factor=0.5, data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        if factor < 0 or factor > 1:
            raise ValueError(f"{describe(self)}: `factor` should be between 0 and 1. Received: factor={factor}")
        self.factor = factor

    def _augment(self, x):
        apply = (self.uniform((x.shape[0],)) < self.factor)[:, None, None, None]
        return np.where(apply, _gray(x), x)

    def get_config(self) -> dict:
        cfg = {**super().get_config(), "factor": self.factor}
        cfg.pop("seed")  # Keras's RandomGrayscale does not save its seed
        return cfg


class RandomColorDegeneration(_ImageLayer):
    """Blend each image with its grayscale version by ``U(factor)``, clipped to ``value_range``."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor)
        self.value_range = value_range_pair(self, value_range)

    def _augment(self, x):
        f = self.uniform((x.shape[0], 1, 1, 1), *self.factor)
        return np.clip(x + f * (_gray(x) - x), *self.value_range).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


def _hsv(x):
    return ops_image.rgb_to_hsv(x).numpy()


def _rgb(x):
    return ops_image.hsv_to_rgb(x).numpy()


class RandomHue(_ImageLayer):
    """Rotate the hue by ``+-U(factor) / 2`` of a turn (sign drawn per image)."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))
        self.value_range = value_range

    def _augment(self, x):
        n = x.shape[0]
        invert = np.where(self.uniform((n,)) > 0.5, -1.0, 1.0).astype(np.float32)
        f = (invert * self.uniform((n,), *self.factor) * np.float32(0.5)).reshape(n, 1, 1)
        hsv = _hsv(to_range(x, self.value_range, (0, 1)).astype(np.float32))
        h = hsv[..., 0] + f
        h = np.where(h > 1.0, h - 1.0, h)
        h = np.where(h < 0.0, h + 1.0, h)
        rgb = np.clip(_rgb(np.stack([h, hsv[..., 1], hsv[..., 2]], -1).astype(np.float32)), 0, 1)
        return to_range(rgb, (0, 1), self.value_range).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSaturation(_ImageLayer):
    """Scale the saturation by ``f / (1 - f)`` for ``f ~ U(factor)`` (``value_range`` clips it, as Keras)."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor)
        self.value_range = value_range_pair(self, value_range)

    def _augment(self, x):
        n = x.shape[0]
        f = self.uniform((n,), *self.factor)
        f = (f / (np.float32(1) - f + np.float32(epsilon()))).astype(np.float32).reshape(n, 1, 1)
        hsv = _hsv(x)
        s = np.clip(hsv[..., 1] * f, *self.value_range)
        return _rgb(np.stack([hsv[..., 0], s, hsv[..., 2]], -1).astype(np.float32))

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomPosterization(_ImageLayer):
    """Keep ``U{factor}`` bits of each 8-bit channel value."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (1, 8))
        self.value_range = value_range_pair(self, value_range)

    def _augment(self, x):
        n = x.shape[0]
        lo, hi = self.factor
        bits = self.randint((n,), lo, hi) if lo != hi else np.full((n,), lo)
        shift = (8 - np.asarray(bits, np.int64)).astype(np.uint8).reshape(n, 1, 1, 1)
        images = to_range(x, self.value_range, (0, 255)).astype(np.float32).astype(np.uint8)
        images = np.left_shift(np.right_shift(images, shift), shift).astype(np.float32)
        return to_range(images, (0, 255), self.value_range).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomSharpness(_ImageLayer):
    """Blend with a smoothed image: ``x + (1 - 2 U(factor)) (smooth(x) - x)``, clipped to ``value_range``."""

    def __init__(self, factor, value_range=(0, 255), data_format=None, seed=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.factor = factor_pair(self, factor, (0, 1))
        self.value_range = value_range_pair(self, value_range)

    def _augment(self, x):
        n = x.shape[0]
        s = (self.uniform((n,), *self.factor) * 2).astype(np.float32).reshape(n, 1, 1, 1)
        a, b = 1.0 / 13.0, 5.0 / 13.0
        k = np.array([[a, a, a], [a, b, a], [a, a, a]], np.float32)
        p = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
        h, w = x.shape[1:3]
        smooth = sum(k[i, j] * p[:, i:i + h, j:j + w] for i in range(3) for j in range(3))
        return np.clip(x + (np.float32(1.0) - s) * (smooth - x), *self.value_range).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": self.factor, "value_range": self.value_range}


class RandomColorJitter(_ImageLayer):
    """Brightness, contrast, saturation and hue jitter in that order (each only when its factor is given)."""

    def __init__(self, value_range=(0, 255), brightness_factor=None, contrast_factor=None, saturation_factor=None,
                 hue_factor=None, seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        from .augmentation import RandomBrightness, RandomContrast  # noqa: PLC0415 - sibling module, no cycle
        self.value_range = value_range
        self.brightness_factor, self.contrast_factor = brightness_factor, contrast_factor
        self.saturation_factor, self.hue_factor = saturation_factor, hue_factor
        vr = self.value_range
        self._steps = []
        if brightness_factor is not None:
            self._steps.append(RandomBrightness(brightness_factor, value_range=vr, seed=seed))
        if contrast_factor is not None:
            self._steps.append(RandomContrast(contrast_factor, value_range=vr, seed=seed))
        if saturation_factor is not None:
            self._steps.append(RandomSaturation(saturation_factor, value_range=vr, seed=seed))
        if hue_factor is not None:
            self._steps.append(RandomHue(hue_factor, value_range=vr, seed=seed))

    def _augment(self, x):
        for step in self._steps:
            x = step(x, training=True).numpy().astype(np.float32)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": self.value_range, "brightness_factor": self.brightness_factor,
                "contrast_factor": self.contrast_factor, "saturation_factor": self.saturation_factor,
                "hue_factor": self.hue_factor}
