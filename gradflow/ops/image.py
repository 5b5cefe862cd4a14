"""``keras.ops.image``: image operations on channels-last batches (``resize``)."""
from __future__ import annotations

__all__ = ["resize"]


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resample ``images`` (N, H, W, C) or (H, W, C) to ``size = (height, width)`` with half-pixel
    centres (Keras/TF); 'bilinear' or 'nearest'."""
    from ..layers.preprocessing import Resizing
    from .keras_names import convert_to_tensor

    height, width = size
    layer = Resizing(height, width, interpolation=interpolation, crop_to_aspect_ratio=crop_to_aspect_ratio,
                     pad_to_aspect_ratio=pad_to_aspect_ratio, antialias=antialias, data_format=data_format,
                     name="resize")
    return layer.call(convert_to_tensor(images))
