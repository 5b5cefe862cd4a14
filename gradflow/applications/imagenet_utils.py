"""``keras.applications.imagenet_utils``: the ImageNet input preprocessing modes and ``decode_predictions``."""
from __future__ import annotations

import json

import numpy as np

from .. import ops
from ..backend import floatx, image_data_format
from ._weights import fetch

__all__ = ["preprocess_input", "decode_predictions"]

CLASS_INDEX = None
CLASS_INDEX_PATH = "https://storage.googleapis.com/download.tensorflow.org/data/imagenet_class_index.json"
_CLASS_INDEX_MD5 = "c2c37ea517e94d9795004a39431a14cb"
_CAFFE_MEAN = [103.939, 116.779, 123.68]
_TORCH_MEAN, _TORCH_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def preprocess_input(x, data_format=None, mode="caffe"):
    """Preprocess a batch of images as Keras does: ``mode`` "caffe" (RGB -> BGR, minus the ImageNet channel
    means), "tf" (scaled to [-1, 1]) or "torch" (scaled to [0, 1], then normalized per channel). A NumPy
    float array is changed in place (as Keras's is); an int array is converted to floatx first."""
    if mode not in {"caffe", "tf", "torch"}:
        raise ValueError(f"Expected mode to be one of `caffe`, `tf` or `torch`. Received: mode={mode}")
    if data_format is None:
        data_format = image_data_format()
    elif data_format not in {"channels_first", "channels_last"}:
        raise ValueError(f"Expected data_format to be one of `channels_first` or `channels_last`. "
                         f"Received: data_format={data_format}")
    if isinstance(x, np.ndarray):
        return _numpy(x, data_format, mode)
    return _tensor(x, data_format, mode)


def _channel_shape(ndim: int, data_format: str) -> tuple:
    if data_format == "channels_first":
        return (3, 1, 1) if ndim == 3 else (1, 3) + (1,) * (ndim - 2)
    return (1,) * (ndim - 1) + (3,)


def _numpy(x, data_format, mode):
    if not issubclass(x.dtype.type, np.floating):
        x = x.astype(floatx(), copy=False)
    if mode == "tf":
        x /= 127.5
        x -= 1.0
        return x
    if mode == "torch":
        x /= 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        if data_format == "channels_first":
            x = x[::-1, ...] if x.ndim == 3 else x[:, ::-1, ...]
        else:
            x = x[..., ::-1]
        mean, std = _CAFFE_MEAN, None
    shape = _channel_shape(x.ndim, data_format)
    x -= np.asarray(mean, x.dtype).reshape(shape)
    if std is not None:
        x /= np.asarray(std, x.dtype).reshape(shape)
    return x


def _tensor(x, data_format, mode):
    x = ops.convert_to_tensor(x)
    ndim = len(x.shape)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        x = x / 255.0
        mean, std = _TORCH_MEAN, _TORCH_STD
    else:
        if data_format == "channels_first":
            x = (ops.stack([x[i, ...] for i in (2, 1, 0)], axis=0) if ndim == 3
                 else ops.stack([x[:, i] for i in (2, 1, 0)], axis=1))
        else:
            x = ops.stack([x[..., i] for i in (2, 1, 0)], axis=-1)
        mean, std = _CAFFE_MEAN, None
    dtype = x.dtype
    x = x + ops.convert_to_tensor(-np.asarray(mean).reshape(_channel_shape(ndim, data_format)), dtype=dtype)
    if std is not None:
        std_shape = (-1, 1, 1) if data_format == "channels_first" else (3,)
        x = x / ops.convert_to_tensor(np.asarray(std).reshape(std_shape), dtype=dtype)
    return x


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each row of ``preds`` (shape (samples, 1000)), best first, as
    ``(class_name, class_description, score)``; the class index is Keras's published json (downloaded once)."""
    global CLASS_INDEX
    preds = np.asarray(preds.numpy() if hasattr(preds, "numpy") else preds)
    if preds.ndim != 2 or preds.shape[1] != 1000:
        raise ValueError(f"`decode_predictions` expects a batch of predictions (i.e. a 2D array of shape "
                         f"(samples, 1000)). Received array with shape: {preds.shape}")
    if CLASS_INDEX is None:
        path = fetch("imagenet_class_index.json", CLASS_INDEX_PATH, _CLASS_INDEX_MD5, "decode_predictions")
        with open(path, encoding="utf-8") as fh:
            CLASS_INDEX = json.load(fh)
    results = []
    for pred in preds:
        top_indices = pred.argsort()[-top:][::-1]
        result = [tuple(CLASS_INDEX[str(i)]) + (pred[i],) for i in top_indices]
        result.sort(key=lambda r: r[2], reverse=True)
        results.append(result)
    return results
