"""``keras.applications.vgg16``: VGG16 and its preprocessing."""
from __future__ import annotations

from . import imagenet_utils
from .vgg import VGG16

__all__ = ["VGG16", "preprocess_input", "decode_predictions"]


def preprocess_input(x, data_format=None):
    """Keras's VGG16 preprocessing: RGB -> BGR, minus the ImageNet channel means ("caffe")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
