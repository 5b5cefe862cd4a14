"""InceptionResNetV2 (Szegedy et al. 2016), Keras's layer names and layouts
(``keras.applications.inception_resnet_v2``)."""
from __future__ import annotations

from ..layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    GlobalAveragePooling2D,
    MaxPooling2D,
)
from . import imagenet_utils
from ._common import application_input, check_weights, finish, keras_weights, resolve_weights
from ._layers import CustomScaleLayer

__all__ = ["InceptionResNetV2", "preprocess_input", "decode_predictions"]


def conv2d_bn(x, filters, kernel_size, strides=1, padding="same", activation="relu", use_bias=False, name=None):
    x = Conv2D(filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias, name=name)(x)
    if not use_bias:
        x = BatchNormalization(axis=3, scale=False, name=None if name is None else f"{name}_bn")(x)
    if activation is not None:
        x = Activation(activation, name=None if name is None else f"{name}_ac")(x)
    return x


def _block(x, scale, block_type, block_idx, activation="relu"):
    if block_type == "block35":
        b0 = conv2d_bn(x, 32, 1)
        b1 = conv2d_bn(conv2d_bn(x, 32, 1), 32, 3)
        b2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 32, 1), 48, 3), 64, 3)
        branches = [b0, b1, b2]
    elif block_type == "block17":
        b0 = conv2d_bn(x, 192, 1)
        b1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 128, 1), 160, [1, 7]), 192, [7, 1])
        branches = [b0, b1]
    else:
        b0 = conv2d_bn(x, 192, 1)
        b1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 192, 1), 224, [1, 3]), 256, [3, 1])
        branches = [b0, b1]
    block_name = f"{block_type}_{block_idx}"
    mixed = Concatenate(axis=3, name=f"{block_name}_mixed")(branches)
    up = conv2d_bn(mixed, x.shape[3], 1, activation=None, use_bias=True, name=f"{block_name}_conv")
    x = CustomScaleLayer(scale)([x, up])
    if activation is not None:
        x = Activation(activation, name=f"{block_name}_ac")(x)
    return x


def InceptionResNetV2(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None,  # noqa: N802
                      classes=1000, classifier_activation="softmax", name="inception_resnet_v2"):
    """InceptionResNetV2: 55,873,736 parameters with the top (299x299 input)."""
    check_weights("InceptionResNetV2", weights, include_top, classes)
    inputs = application_input("InceptionResNetV2", input_shape, input_tensor, (299, 299, 3), include_top, 75,
                               weights)
    imagenet = keras_weights("inception_resnet_v2", "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels.h5",
                             "e693bd0210a403b3192acc6073ad2e96",
                             "inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                             "d19885ff4a710c122648d3b5c3b684e4")
    weights = resolve_weights("InceptionResNetV2", weights, include_top, imagenet)
    x = conv2d_bn(inputs, 32, 3, strides=2, padding="valid")
    x = conv2d_bn(x, 32, 3, padding="valid")
    x = conv2d_bn(x, 64, 3)
    x = MaxPooling2D(3, strides=2)(x)
    x = conv2d_bn(x, 80, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, padding="valid")
    x = MaxPooling2D(3, strides=2)(x)
    b0 = conv2d_bn(x, 96, 1)
    b1 = conv2d_bn(conv2d_bn(x, 48, 1), 64, 5)
    b2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1), 96, 3), 96, 3)
    bp = conv2d_bn(AveragePooling2D(3, strides=1, padding="same")(x), 64, 1)
    x = Concatenate(axis=3, name="mixed_5b")([b0, b1, b2, bp])
    for block_idx in range(1, 11):
        x = _block(x, 0.17, "block35", block_idx)
    b0 = conv2d_bn(x, 384, 3, strides=2, padding="valid")
    b1 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 256, 3), 384, 3, strides=2, padding="valid")
    bp = MaxPooling2D(3, strides=2, padding="valid")(x)
    x = Concatenate(axis=3, name="mixed_6a")([b0, b1, bp])
    for block_idx in range(1, 21):
        x = _block(x, 0.1, "block17", block_idx)
    b0 = conv2d_bn(conv2d_bn(x, 256, 1), 384, 3, strides=2, padding="valid")
    b1 = conv2d_bn(conv2d_bn(x, 256, 1), 288, 3, strides=2, padding="valid")
    b2 = conv2d_bn(conv2d_bn(conv2d_bn(x, 256, 1), 288, 3), 320, 3, strides=2, padding="valid")
    bp = MaxPooling2D(3, strides=2, padding="valid")(x)
    x = Concatenate(axis=3, name="mixed_7a")([b0, b1, b2, bp])
    for block_idx in range(1, 10):
        x = _block(x, 0.2, "block8", block_idx)
    x = _block(x, 1.0, "block8", 10, activation=None)
    x = conv2d_bn(x, 1536, 1, name="conv_7b")
    return finish("InceptionResNetV2", name, inputs, x, include_top, pooling, classes, classifier_activation, weights,
                  top=GlobalAveragePooling2D(name="avg_pool"))


def preprocess_input(x, data_format=None):
    """Keras's InceptionResNetV2 preprocessing: scaled to [-1, 1] ("tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
