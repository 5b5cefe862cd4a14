"""``keras.applications.resnet_v2``: ResNet50V2/101V2/152V2 and their preprocessing."""
from __future__ import annotations

from . import imagenet_utils
from .resnet import ResNet50V2, ResNet101V2, ResNet152V2

__all__ = ["ResNet50V2", "ResNet101V2", "ResNet152V2", "preprocess_input", "decode_predictions"]


def preprocess_input(x, data_format=None):
    """Keras's ResNetV2 preprocessing: scaled to [-1, 1] ("tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
