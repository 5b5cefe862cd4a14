"""Keras-style layers: the Layer base class and the built-in layers, one module per family."""
from .augmentation import RandomFlip, RandomRotation, RandomTranslation, RandomZoom
from .base import Layer, clear_session, layer_class, register_alias, registered_layers, snake_case
from .convolutional import Conv2D, Convolution2D
from .core import Activation, Dense
from .input_layer import Input, InputLayer
from .merging import (Add, Average, Concatenate, Maximum, Minimum, Multiply, Subtract, add, average, concatenate,
                      maximum, minimum, multiply, subtract)
from .operations import TensorOp
from .symbolic import KerasTensor
from .normalization import BatchNormalization
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D, GlobalMaxPool2D,
                      GlobalMaxPooling2D, MaxPool2D, MaxPooling2D)
from .regularization import Dropout
from .reshaping import Flatten, Reshape, UpSampling2D

__all__ = [
    "Layer", "layer_class", "registered_layers", "register_alias", "clear_session", "snake_case",
    "Input", "InputLayer", "Dense", "Activation", "Conv2D", "Convolution2D",
    "MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D",
    "GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "Flatten", "Reshape", "UpSampling2D", "Dropout", "BatchNormalization",
    "RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom",
    "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
    "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "TensorOp", "KerasTensor",
    "serialize", "deserialize",
]


def serialize(layer) -> dict:
    """A layer's ``{"module", "class_name", "config", "registered_name"}`` entry (Keras 3)."""
    from ..saving.serialization import serialize_keras_object

    return serialize_keras_object(layer)


def deserialize(config: dict, custom_objects=None):
    """The layer a ``serialize`` entry describes."""
    from ..saving.serialization import deserialize_keras_object

    return deserialize_keras_object(config, custom_objects=custom_objects)
