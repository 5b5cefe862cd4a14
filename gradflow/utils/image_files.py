"""Images from files (Keras 3's ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img`` and
``image_dataset_from_directory``), through Pillow: ``pip install "gradflow-keras[images]"``."""
from __future__ import annotations

import numpy as np

from ._directory import from_directory

__all__ = ["load_img", "img_to_array", "array_to_img", "save_img", "image_dataset_from_directory"]

_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_MODES = {"rgb": "RGB", "rgba": "RGBA", "grayscale": "L"}


def _pil():
    try:
        from PIL import Image  # noqa: PLC0415 - optional dependency (PIL)
    except ImportError:
        raise ImportError('reading and writing image files needs Pillow: '
                          'pip install "gradflow-keras[images]"') from None
    return Image


def load_img(path, color_mode="rgb", target_size=None, interpolation="nearest", keep_aspect_ratio=False):
    """A PIL image from ``path`` in ``color_mode`` ('rgb', 'rgba', 'grayscale'), resized to
    ``target_size = (height, width)`` when given."""
    Image = _pil()
    if color_mode not in _MODES:
        raise ValueError(f"load_img: color_mode must be one of {sorted(_MODES)}, got {color_mode!r}")
    with open(path, "rb") as f:
        img = Image.open(f)
        img.load()
    img = img.convert(_MODES[color_mode])
    if target_size is not None:
        height, width = target_size
        resample = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
        if interpolation not in resample:
            raise ValueError(f"load_img: interpolation must be one of {sorted(resample)}, got {interpolation!r}")
        if keep_aspect_ratio:
            w, h = img.size
            target = width / height
            cw, ch = (int(h * target), h) if w / h > target else (w, int(w / target))
            left, top = (w - cw) // 2, (h - ch) // 2
            img = img.crop((left, top, left + cw, top + ch))
        if img.size != (width, height):
            img = img.resize((width, height), resample[interpolation])
    return img


def img_to_array(img, data_format=None, dtype="float32") -> np.ndarray:
    """``(height, width, channels)`` array of a PIL image (values 0-255, not rescaled)."""
    arr = np.asarray(img, dtype=dtype)
    if arr.ndim == 2:
        arr = arr[..., None]
    if data_format == "channels_first":
        arr = np.moveaxis(arr, -1, 0)
    return arr


def array_to_img(x, data_format=None, scale=True):
    """A PIL image of an ``(height, width, channels)`` array; ``scale`` maps its range to 0-255."""
    Image = _pil()
    x = np.asarray(x, dtype=np.float64)
    if data_format == "channels_first":
        x = np.moveaxis(x, 0, -1)
    if scale:
        x = x - x.min()
        top = x.max()
        x = x / top * 255.0 if top > 0 else x
    x = np.clip(x, 0, 255).astype(np.uint8)
    if x.shape[-1] == 1:
        return Image.fromarray(x[..., 0], "L")
    return Image.fromarray(x, "RGBA" if x.shape[-1] == 4 else "RGB")


def save_img(path, x, data_format=None, file_format=None, scale=True) -> None:
    array_to_img(x, data_format=data_format, scale=scale).save(path, format=file_format)


def image_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, color_mode="rgb",
                                 batch_size=32, image_size=(256, 256), shuffle=True, seed=None, validation_split=None,
                                 subset=None, interpolation="bilinear", follow_links=False,
                                 crop_to_aspect_ratio=False, pad_to_aspect_ratio=False, data_format=None,
                                 verbose=True):
    """A batch source of ``(images, labels)`` from ``directory/<class>/<image files>`` (Keras 3's
    arguments; a ``PyDataset`` that ``fit`` takes, with ``class_names``). ``labels=None`` yields images
    only; ``validation_split`` with ``subset`` 'training', 'validation' or 'both' splits the files
    (the same ``seed`` on both calls gives disjoint subsets, as Keras)."""
    _pil()
    if pad_to_aspect_ratio:
        raise ValueError("image_dataset_from_directory: pad_to_aspect_ratio is not supported by gradflow")
    image_size = tuple(image_size)

    def load(paths):
        return np.stack([img_to_array(load_img(p, color_mode, image_size, interpolation, crop_to_aspect_ratio))
                         for p in paths])

    return from_directory("image_dataset_from_directory", directory, labels, label_mode, class_names, batch_size,
                          shuffle, seed, validation_split, subset, follow_links, verbose, _EXTENSIONS, load,
                          int_dtype="int64")
