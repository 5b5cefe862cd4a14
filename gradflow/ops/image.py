"""``keras.ops.image``: image operations on channels-last batches (``resize``).

The ``Resizing`` layer calls :func:`resize`; ops never import layers.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import array_module
from .keras_names import convert_to_tensor

__all__ = ["resize"]


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resample ``images`` (N, H, W, C) or (H, W, C) to ``size = (height, width)`` with half-pixel
    centres (Keras/TF); 'bilinear' or 'nearest'. ``crop_to_aspect_ratio`` first crops the largest
    central window of the target ratio. Not differentiable (the result has no graph node)."""
    height, width = size
    where = "ops.image.resize"
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{where}: {name} must be a positive integer, got {name}={value!r}")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(f"{where}: interpolation must be 'bilinear' or 'nearest', got {interpolation!r}")
    if pad_to_aspect_ratio or antialias:
        raise ValueError(f"{where}: pad_to_aspect_ratio and antialias are not supported by gradflow")
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', "
                         f"got data_format={data_format!r}")
    images = convert_to_tensor(images)
    x = images.data
    xp = array_module(x)
    single = x.ndim == 3
    if single:
        x = x[None]
    if fmt == "channels_first":
        x = xp.moveaxis(x, 1, -1)
    if crop_to_aspect_ratio:
        H, W = x.shape[1:3]
        target = width / height
        ch, cw = (H, int(round(H * target))) if W / H > target else (int(round(W / target)), W)
        ch, cw = min(ch, H), min(cw, W)
        top, left = (H - ch) // 2, (W - cw) // 2
        x = x[:, top:top + ch, left:left + cw]
    out = _resample(x, int(height), int(width), interpolation, xp)
    if fmt == "channels_first":
        out = xp.moveaxis(out, -1, 1)
    return Tensor._wrap(xp.ascontiguousarray(out[0] if single else out).astype(images.dtype, copy=False))


def _resample(x, height, width, interpolation, xp):
    """NHWC resampling with half-pixel centres (TF's ``resize`` without antialiasing)."""
    N, H, W, C = x.shape

    def coords(n_out, n_in):
        src = (xp.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
        return xp.clip(src, 0.0, n_in - 1)

    if interpolation == "nearest":
        rows = xp.minimum(xp.floor((xp.arange(height) + 0.5) * (H / height)).astype(np.int64), H - 1)
        cols = xp.minimum(xp.floor((xp.arange(width) + 0.5) * (W / width)).astype(np.int64), W - 1)
        return x[:, rows][:, :, cols]
    ys, xs = coords(height, H), coords(width, W)
    y0, x0 = xp.floor(ys).astype(np.int64), xp.floor(xs).astype(np.int64)
    y1, x1 = xp.minimum(y0 + 1, H - 1), xp.minimum(x0 + 1, W - 1)
    wy, wx = (ys - y0)[None, :, None, None], (xs - x0)[None, None, :, None]
    xf = x.astype(np.float64)
    top = xf[:, y0][:, :, x0] * (1 - wx) + xf[:, y0][:, :, x1] * wx
    bottom = xf[:, y1][:, :, x0] * (1 - wx) + xf[:, y1][:, :, x1] * wx
    return top * (1 - wy) + bottom * wy
