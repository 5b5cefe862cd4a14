"""``keras.ops.image``: image operations on channels-last batches (``resize``).

The ``Resizing`` layer calls :func:`resize`; ops never import layers.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import array_module
from .elementwise import cast
from .keras_names import convert_to_tensor
from .linalg import matmul
from .shape import getitem, pad, transpose

__all__ = ["resize"]

_METHODS = ("bilinear", "nearest", "bicubic")


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resample ``images`` (N, H, W, C) or (H, W, C) to ``size = (height, width)`` as Keras on torch
    does (``torch.nn.functional.interpolate``, half-pixel centres): 'bilinear', 'nearest' or
    'bicubic' (a = -0.75), with ``antialias`` the area-aware filters used when shrinking. Each axis
    is one matrix of interpolation weights, applied by matmul, so the result is differentiable.
    ``crop_to_aspect_ratio`` / ``pad_to_aspect_ratio`` first crop or pad (``fill_value``) to the
    target's aspect ratio."""
    height, width = size
    where = "ops.image.resize"
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{where}: {name} must be a positive integer, got {name}={value!r}")
    if interpolation not in _METHODS:
        raise ValueError(f"{where}: interpolation must be one of {_METHODS}, got {interpolation!r}")
    if fill_mode != "constant":
        raise ValueError(f"{where}: only fill_mode='constant' is supported, got {fill_mode!r}")
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError(f"{where}: only one of pad_to_aspect_ratio and crop_to_aspect_ratio can be True")
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', "
                         f"got data_format={data_format!r}")
    images = convert_to_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: expected a rank-3 image or a rank-4 batch, got shape {images.shape}")
    out_dtype = images.dtype
    x = images if out_dtype.kind == "f" else cast(images, "float32")
    single = x.ndim == 3
    if single:
        x = x.reshape((1, *x.shape))
    # work channels-first (N, C, H, W): the weights multiply H from the left and W from the right
    x = transpose(x, (0, 3, 1, 2)) if fmt == "channels_last" else x
    H, W = x.shape[2], x.shape[3]
    if crop_to_aspect_ratio:
        ch = max(min(H, int(float(W * height) / width)), 1)
        cw = max(min(W, int(float(H * width) / height)), 1)
        top, left = int(float(H - ch) / 2), int(float(W - cw) / 2)
        x = getitem(x, (slice(None), slice(None), slice(top, top + ch), slice(left, left + cw)))
    elif pad_to_aspect_ratio:
        ph = max(H, int(float(W * height) / width))
        pw = max(W, int(float(H * width) / height))
        top, left = int(float(ph - H) / 2), int(float(pw - W) / 2)
        x = pad(x, ((0, 0), (0, 0), (top, top), (left, left)), constant_values=fill_value)
    H, W = x.shape[2], x.shape[3]
    dtype = x.dtype
    rows = Tensor._wrap(_as(x, _weights(H, int(height), interpolation, antialias), dtype))
    cols = Tensor._wrap(_as(x, _weights(W, int(width), interpolation, antialias).T, dtype))
    y = matmul(matmul(rows, x), cols)
    y = transpose(y, (0, 2, 3, 1)) if fmt == "channels_last" else y
    if single:
        y = y.reshape(tuple(y.shape[1:]))
    if out_dtype.kind != "f":
        data = y.data
        xp = array_module(data)
        if interpolation == "bicubic" and out_dtype == np.uint8:
            data = xp.round(xp.clip(data, 0, 255))
        return Tensor._wrap(data.astype(out_dtype))
    return y


def _as(like, weights, dtype):
    xp = array_module(like.data)
    return xp.asarray(weights.astype(dtype))


def _cubic(t, a):
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, (((t - 5) * t + 8) * t - 4) * a, 0.0))


def _weights(n_in: int, n_out: int, method: str, antialias: bool) -> np.ndarray:
    """The ``(n_out, n_in)`` interpolation matrix of one axis, as PyTorch's ``interpolate`` with
    ``align_corners=False`` computes it (float64)."""
    scale = n_in / n_out
    out = np.zeros((n_out, n_in))
    i = np.arange(n_out)
    if method == "nearest":  # 'nearest-exact'
        out[i, np.minimum(np.floor((i + 0.5) * scale).astype(np.int64), n_in - 1)] = 1.0
        return out
    if antialias:  # separable filter whose support grows with the shrink factor; taps renormalised
        size = 2 if method == "bilinear" else 4
        support = size / 2 * scale if scale >= 1.0 else size / 2
        invscale = 1.0 / scale if scale >= 1.0 else 1.0
        for o in range(n_out):
            center = scale * (o + 0.5)
            lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
            taps = (np.arange(lo, hi) - center + 0.5) * invscale
            w = np.maximum(0.0, 1.0 - np.abs(taps)) if method == "bilinear" else _cubic(taps, -0.5)
            total = w.sum()
            out[o, lo:hi] = w / total if total != 0 else w
        return out
    src = (i + 0.5) * scale - 0.5
    if method == "bilinear":
        src = np.maximum(src, 0.0)
        x0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        x1 = np.minimum(x0 + 1, n_in - 1)
        lam = src - x0
        np.add.at(out, (i, x0), 1.0 - lam)
        np.add.at(out, (i, x1), lam)
        return out
    x0 = np.floor(src).astype(np.int64)
    t = src - x0
    for k in (-1, 0, 1, 2):
        np.add.at(out, (i, np.clip(x0 + k, 0, n_in - 1)), _cubic(t - k, -0.75))
    return out
