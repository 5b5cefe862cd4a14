"""Xception (Chollet 2017): depthwise separable convolutions with residual connections, Keras's layer
names and layouts (``keras.applications.xception``)."""
from __future__ import annotations

from ..layers import (
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    GlobalAveragePooling2D,
    MaxPooling2D,
    SeparableConv2D,
)
from . import imagenet_utils
from ._common import application_input, check_weights, finish, keras_weights, resolve_weights

__all__ = ["Xception", "preprocess_input", "decode_predictions"]


def _sep(x, filters, name, relu_first=True):
    if relu_first:
        x = Activation("relu", name=f"{name}_act")(x)
    x = SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _residual(x, filters):
    r = Conv2D(filters, (1, 1), strides=(2, 2), padding="same", use_bias=False)(x)
    return BatchNormalization(axis=-1)(r)


def Xception(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
             classifier_activation="softmax", name="xception"):
    """Xception: entry, 8 middle and exit flows; 22,910,480 parameters with the top (299x299 input)."""
    check_weights("Xception", weights, include_top, classes)
    inputs = application_input("Xception", input_shape, input_tensor, (299, 299, 3), include_top, 71, weights)
    imagenet = keras_weights("xception", "xception_weights_tf_dim_ordering_tf_kernels.h5",
                             "0a58e3b7378bc2990ea3b43d5981f1f6", "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
                             "b0042744bf5b25fce3cb969f33bebb97")
    weights = resolve_weights("Xception", weights, include_top, imagenet)
    x = Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(inputs)
    x = BatchNormalization(axis=-1, name="block1_conv1_bn")(x)
    x = Activation("relu", name="block1_conv1_act")(x)
    x = Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = BatchNormalization(axis=-1, name="block1_conv2_bn")(x)
    x = Activation("relu", name="block1_conv2_act")(x)
    for block, filters in ((2, 128), (3, 256), (4, 728)):
        residual = _residual(x, filters)
        x = _sep(x, filters, f"block{block}_sepconv1", relu_first=block != 2)
        x = _sep(x, filters, f"block{block}_sepconv2")
        x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
        x = Add()([x, residual])
    for i in range(8):
        residual = x
        for j in (1, 2, 3):
            x = _sep(x, 728, f"block{i + 5}_sepconv{j}")
        x = Add()([x, residual])
    residual = _residual(x, 1024)
    x = _sep(x, 728, "block13_sepconv1")
    x = _sep(x, 1024, "block13_sepconv2")
    x = MaxPooling2D((3, 3), strides=(2, 2), padding="same", name="block13_pool")(x)
    x = Add()([x, residual])
    x = _sep(x, 1536, "block14_sepconv1", relu_first=False)
    x = Activation("relu", name="block14_sepconv1_act")(x)
    x = _sep(x, 2048, "block14_sepconv2", relu_first=False)
    x = Activation("relu", name="block14_sepconv2_act")(x)
    return finish("Xception", name, inputs, x, include_top, pooling, classes, classifier_activation, weights,
                  top=GlobalAveragePooling2D(name="avg_pool"))


def preprocess_input(x, data_format=None):
    """Keras's Xception preprocessing: scaled to [-1, 1] ("tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
