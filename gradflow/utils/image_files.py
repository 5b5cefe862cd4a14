"""Images from files (Keras 3's ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img`` and
``image_dataset_from_directory``), through Pillow: ``pip install "gradflow-keras[images]"``."""
from __future__ import annotations

import os

import numpy as np

from .py_dataset import PyDataset

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


class _DirectoryDataset(PyDataset):
    """Batches of ``(images, labels)`` read from files as they are needed."""

    def __init__(self, paths, labels, class_names, batch_size, image_size, color_mode, interpolation,
                 crop_to_aspect_ratio, label_mode, shuffle, seed):
        super().__init__()
        self.paths, self.labels, self.class_names = list(paths), labels, list(class_names)
        self.batch_size, self.image_size, self.color_mode = batch_size, tuple(image_size), color_mode
        self.interpolation, self.crop, self.label_mode = interpolation, crop_to_aspect_ratio, label_mode
        self._rng = np.random.default_rng(seed)
        self._shuffle = shuffle
        self._order = np.arange(len(self.paths))
        if shuffle:
            self._rng.shuffle(self._order)

    def __len__(self):
        return -(-len(self.paths) // self.batch_size) if self.batch_size else len(self.paths)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a dataset of {len(self)} batches")
        size = self.batch_size or 1
        picks = self._order[index * size:(index + 1) * size]
        images = np.stack([img_to_array(load_img(self.paths[i], self.color_mode, self.image_size, self.interpolation,
                                                 self.crop)) for i in picks])
        if self.batch_size is None:
            images = images[0]
        if self.labels is None:
            return images
        labels = self._encode(self.labels[picks])
        return images, (labels if self.batch_size else labels[0])

    def _encode(self, ids):
        if self.label_mode == "int":
            return ids.astype("int64")
        if self.label_mode == "binary":
            return ids.astype("float32")[:, None]
        return np.eye(len(self.class_names), dtype="float32")[ids]

    def on_epoch_end(self) -> None:
        if self._shuffle:
            self._rng.shuffle(self._order)


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
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"image_dataset_from_directory: label_mode must be 'int', 'categorical', 'binary' or None, "
                         f"got {label_mode!r}")
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"image_dataset_from_directory: no directory {os.fspath(directory)!r}")
    classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    if class_names is not None:
        if sorted(class_names) != classes:
            raise ValueError(f"image_dataset_from_directory: class_names {class_names} do not match the "
                             f"subdirectories {classes}")
        classes = list(class_names)
    paths, ids = [], []
    if labels == "inferred":
        for k, name in enumerate(classes):
            for root, _, files in os.walk(os.path.join(directory, name), followlinks=follow_links):
                for f in sorted(files):
                    if f.lower().endswith(_EXTENSIONS):
                        paths.append(os.path.join(root, f))
                        ids.append(k)
    else:
        for root, _, files in os.walk(directory, followlinks=follow_links):
            paths += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(_EXTENSIONS)]
        if labels is not None:
            ids = list(labels)
            if len(ids) != len(paths):
                raise ValueError(f"image_dataset_from_directory: {len(ids)} labels for {len(paths)} image files")
    if not paths:
        raise ValueError(f"image_dataset_from_directory: no images ({', '.join(_EXTENSIONS)}) under {directory!r}")
    if label_mode == "binary" and labels == "inferred" and len(classes) != 2:
        raise ValueError(f"image_dataset_from_directory: label_mode='binary' needs 2 classes, found {classes}")
    ids_arr = np.asarray(ids, dtype=np.int64) if labels is not None and label_mode is not None else None
    order = np.random.default_rng(seed if seed is not None else 1337).permutation(len(paths))
    paths = [paths[i] for i in order]
    ids_arr = None if ids_arr is None else ids_arr[order]
    if verbose:
        print(f"Found {len(paths)} files belonging to {len(classes)} classes.")

    def make(sl):
        return _DirectoryDataset([paths[i] for i in range(len(paths))[sl]], None if ids_arr is None else ids_arr[sl],
                                 classes, batch_size, image_size, color_mode, interpolation, crop_to_aspect_ratio,
                                 label_mode, shuffle, seed)

    if validation_split:
        if subset not in ("training", "validation", "both"):
            raise ValueError("image_dataset_from_directory: with validation_split, pass subset='training', "
                             "'validation' or 'both'")
        n_val = int(validation_split * len(paths))
        train, val = make(slice(0, len(paths) - n_val)), make(slice(len(paths) - n_val, len(paths)))
        return {"training": train, "validation": val, "both": (train, val)}[subset]
    return make(slice(None))
