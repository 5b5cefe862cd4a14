"""Keras 3's augmentation policies and CLAHE: RandAugment (``num_ops`` layers drawn per batch), AugMix
(Dirichlet-weighted chains of augmentations mixed back with a Beta weight), and
ContrastLimitedAdaptiveHistogramEqualization (per-tile clipped histograms, bilinearly blended)."""
from __future__ import annotations

import numpy as np

from ..random import beta, gamma
from ._image_base import _ImageLayer, factor_pair, to_range
from .augmentation import RandomBrightness, RandomContrast, RandomRotation, RandomTranslation
from .augmentation_color import (
    AutoContrast,
    Equalization,
    RandomColorDegeneration,
    RandomPosterization,
    RandomSharpness,
    Solarization,
)
from .augmentation_geometry import RandomShear

__all__ = ["RandAugment", "AugMix", "ContrastLimitedAdaptiveHistogramEqualization"]

_GEOMETRIC = ("random_shear", "random_translation", "random_rotation")
_RAND_AUGMENT = ("random_shear", "random_translation", "random_rotation", "random_brightness",
                 "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
                 "solarization", "auto_contrast", "equalization")
_AUGMIX_ALL = ("random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
               "auto_contrast", "equalization", "random_brightness", "random_color_degeneration", "random_contrast",
               "random_sharpness")


def _sublayers(factor, value_range, interpolation, seed):
    """The augmentation layers both policies draw from, configured as Keras configures them."""
    return {
        "random_shear": RandomShear(x_factor=factor, y_factor=factor, interpolation=interpolation, seed=seed),
        "random_translation": RandomTranslation(factor, factor, interpolation=interpolation, seed=seed),
        "random_rotation": RandomRotation(factor, interpolation=interpolation, seed=seed),
        "random_brightness": RandomBrightness(factor, value_range=value_range, seed=seed),
        "random_color_degeneration": RandomColorDegeneration(factor, value_range=value_range, seed=seed),
        "random_contrast": RandomContrast(factor, value_range=value_range, seed=seed),
        "random_sharpness": RandomSharpness(factor, value_range=value_range, seed=seed),
        "solarization": Solarization(addition_factor=factor, threshold_factor=factor, value_range=value_range,
                                     seed=seed),
        "random_posterization": RandomPosterization(max(1, int(8 * factor[1])), value_range=value_range, seed=seed),
        "auto_contrast": AutoContrast(value_range=value_range),
        "equalization": Equalization(value_range=value_range),
    }


def _run(layer, x):
    return np.asarray(layer(x, training=True).numpy(), np.float32)


class RandAugment(_ImageLayer):
    """Apply ``num_ops`` augmentations, each drawn uniformly from Keras's 11 (same for the whole batch)."""

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.value_range, self.num_ops, self.interpolation = value_range, int(num_ops), interpolation
        self.factor = factor_pair(self, factor, (0, 1))
        self._layers = _sublayers(self.factor, value_range, interpolation, seed)

    def _augment(self, x):
        picks = self.randint((self.num_ops,), 0, len(_RAND_AUGMENT))
        for i in picks:
            x = _run(self._layers[_RAND_AUGMENT[int(i)]], x)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": self.value_range, "num_ops": self.num_ops,
                "factor": self.factor, "interpolation": self.interpolation}


class AugMix(_ImageLayer):
    """``num_chains`` chains of up to ``chain_depth`` random augmentations, mixed with Dirichlet(``alpha``)
    weights, then blended with the input by a Beta(``alpha``, ``alpha``) weight; clipped to ``value_range``."""

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(data_format=data_format, seed=seed, **kwargs)
        self.value_range, self.num_chains, self.chain_depth = value_range, int(num_chains), int(chain_depth)
        self.factor = factor_pair(self, factor, (0, 1))
        self.alpha, self.all_ops, self.interpolation = alpha, bool(all_ops), interpolation
        self._layers = _sublayers(self.factor, value_range, interpolation, seed)
        self._names = _AUGMIX_ALL if self.all_ops else _AUGMIX_ALL[:7]

    def _augment(self, x):
        g = gamma((self.num_chains,), self.alpha, dtype="float32", seed=self.generator).numpy()
        weights = g / g.sum()
        keep = float(beta((), self.alpha, self.alpha, dtype="float32", seed=self.generator).numpy())
        mixed = np.zeros_like(x)
        for c in range(self.num_chains):
            y = x.copy()
            for pick in self.randint((self.chain_depth,), 0, len(self._names) + 1):
                if int(pick) < len(self._names):  # the extra choice is "no op", as Keras's choice of None
                    y = _run(self._layers[self._names[int(pick)]], y)
            mixed += y * weights[c]
        out = np.float32(keep) * x + np.float32(1 - keep) * mixed
        return np.clip(out, self.value_range[0], self.value_range[1]).astype(np.float32)

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": self.value_range, "num_chains": self.num_chains,
                "chain_depth": self.chain_depth, "factor": self.factor, "alpha": self.alpha, "all_ops": self.all_ops,
                "interpolation": self.interpolation}


class ContrastLimitedAdaptiveHistogramEqualization(_ImageLayer):
    """CLAHE: equalize each tile of a ``tile_grid_size`` grid with its histogram clipped at ``clip_limit``
    times the mean bin, blending the four nearest tiles' mappings (applied in inference too)."""

    seeded, always, keeps_dtype = False, True, True

    def __init__(self, value_range=(0, 255), clip_limit=4.0, tile_grid_size=(8, 8), data_format=None, **kwargs):
        super().__init__(data_format=data_format, **kwargs)
        self.value_range, self.clip_limit, self.tile_grid_size = value_range, clip_limit, tile_grid_size

    def _augment(self, x):
        dtype = x.dtype
        images = to_range(x, self.value_range, (0, 255))
        out = to_range(self._clahe(images.astype(np.float32, copy=False) if images.dtype.kind == "f" else images),
                       (0, 255), self.value_range)
        return out.astype(dtype)

    def _clahe(self, images):
        b, h, w, c = images.shape
        gh, gw = self.tile_grid_size
        th, tw = (h + gh - 1) // gh, (w + gw - 1) // gw
        ph, pw = th * gh - h, tw * gw - w
        padded = images if ph == 0 and pw == 0 else np.pad(images, ((0, 0), (0, ph), (0, pw), (0, 0)),
                                                          mode="symmetric")
        tiled = padded.reshape(b, gh, th, gw, tw, c).transpose(0, 1, 3, 5, 2, 4).reshape(b, gh, gw, c, th * tw)
        vals = np.clip(tiled.astype(np.int32), 0, 255)
        # Keras on torch: one_hot gives int64 counts, so the clip limit is truncated to an integer
        hists = np.zeros((b, gh, gw, c, 256), np.int64)
        for k in range(256):
            hists[..., k] = (vals == k).sum(-1)
        if self.clip_limit > 0:
            limit = int(self.clip_limit * (th * tw) / 256.0)
            clipped = np.clip(hists, 0, limit)
            hists = clipped + ((hists - clipped).sum(-1, keepdims=True) / 256.0).astype(np.float32)
        cdf = np.cumsum(hists, axis=-1).astype(np.float32)
        cdf_min = cdf.min(-1, keepdims=True)
        den = np.float32(th * tw) - cdf_min
        den = np.where(den == 0, np.float32(1), den)
        cdf = np.clip((cdf - cdf_min) * np.float32(255.0) / den, 0, 255).astype(np.float32)
        cdf = np.concatenate([cdf[:, :1], cdf, cdf[:, -1:]], 1)
        cdf = np.concatenate([cdf[:, :, :1], cdf, cdf[:, :, -1:]], 2)
        yg = (np.arange(th * gh, dtype=np.float32) - np.float32(th / 2.0)) / np.float32(th) + np.float32(1)
        xg = (np.arange(tw * gw, dtype=np.float32) - np.float32(tw / 2.0)) / np.float32(tw) + np.float32(1)
        y0, x0 = np.floor(yg), np.floor(xg)
        wy, wx = (yg - y0)[None, :, None, None], (xg - x0)[None, None, :, None]
        y1, x1 = np.clip(y0 + 1, 0, gh + 1).astype(np.int64), np.clip(x0 + 1, 0, gw + 1).astype(np.int64)
        y0, x0 = np.clip(y0, 0, gh + 1).astype(np.int64), np.clip(x0, 0, gw + 1).astype(np.int64)
        pix = np.clip(padded, 0, 255).astype(np.int32)
        bi = np.arange(b)[:, None, None, None]
        ci = np.arange(c)[None, None, None, :]

        def at(yy, xx):
            return cdf[bi, yy[None, :, None, None], xx[None, None, :, None], ci, pix]
        top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
        bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
        return (top * (1 - wy) + bottom * wy)[:, :h, :w, :]

    def get_config(self) -> dict:
        return {**super().get_config(), "value_range": self.value_range, "clip_limit": self.clip_limit,
                "tile_grid_size": self.tile_grid_size}
