"""InceptionV3 (Szegedy et al. 2016), Keras's layer names and layouts (``keras.applications.inception_v3``).
Its convolutions are unnamed in Keras too (``conv2d_N``, ``batch_normalization_N``), so only the mixed
blocks and the head have fixed names."""
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

__all__ = ["InceptionV3", "preprocess_input", "decode_predictions"]


def _cbr(x, filters, rows, cols, padding="same", strides=(1, 1)):
    x = Conv2D(filters, (rows, cols), strides=strides, padding=padding, use_bias=False)(x)
    x = BatchNormalization(axis=3, scale=False)(x)
    return Activation("relu")(x)


def _avg_branch(x, filters):
    return _cbr(AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x), filters, 1, 1)


def _block_35(x, pool_filters, name):
    b1 = _cbr(x, 64, 1, 1)
    b5 = _cbr(_cbr(x, 48, 1, 1), 64, 5, 5)
    b3 = _cbr(_cbr(_cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
    return Concatenate(axis=3, name=name)([b1, b5, b3, _avg_branch(x, pool_filters)])


def _block_17(x, mid, name):
    b1 = _cbr(x, 192, 1, 1)
    b7 = _cbr(_cbr(_cbr(x, mid, 1, 1), mid, 1, 7), 192, 7, 1)
    b7d = _cbr(x, mid, 1, 1)
    for filters, (r, c) in ((mid, (7, 1)), (mid, (1, 7)), (mid, (7, 1)), (192, (1, 7))):
        b7d = _cbr(b7d, filters, r, c)
    return Concatenate(axis=3, name=name)([b1, b7, b7d, _avg_branch(x, 192)])


def _block_8(x, i):
    b1 = _cbr(x, 320, 1, 1)
    b3 = _cbr(x, 384, 1, 1)
    b3 = Concatenate(axis=3, name=f"mixed9_{i}")([_cbr(b3, 384, 1, 3), _cbr(b3, 384, 3, 1)])
    b3d = _cbr(_cbr(x, 448, 1, 1), 384, 3, 3)
    b3d = Concatenate(axis=3)([_cbr(b3d, 384, 1, 3), _cbr(b3d, 384, 3, 1)])
    return Concatenate(axis=3, name=f"mixed{9 + i}")([b1, b3, b3d, _avg_branch(x, 192)])


def InceptionV3(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
                classifier_activation="softmax", name="inception_v3"):
    """InceptionV3: 23,851,784 parameters with the top (299x299 input)."""
    check_weights("InceptionV3", weights, include_top, classes)
    inputs = application_input("InceptionV3", input_shape, input_tensor, (299, 299, 3), include_top, 75, weights)
    imagenet = keras_weights("inception_v3", "inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
                             "9a0d58056eeedaa3f26cb7ebd46da564",
                             "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5",
                             "bcbd6486424b2319ff4ef7d526e38f63")
    weights = resolve_weights("InceptionV3", weights, include_top, imagenet)
    x = _cbr(inputs, 32, 3, 3, strides=(2, 2), padding="valid")
    x = _cbr(x, 32, 3, 3, padding="valid")
    x = _cbr(x, 64, 3, 3)
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _cbr(x, 80, 1, 1, padding="valid")
    x = _cbr(x, 192, 3, 3, padding="valid")
    x = MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _block_35(x, 32, "mixed0")
    x = _block_35(x, 64, "mixed1")
    x = _block_35(x, 64, "mixed2")
    b3 = _cbr(x, 384, 3, 3, strides=(2, 2), padding="valid")
    b3d = _cbr(_cbr(_cbr(x, 64, 1, 1), 96, 3, 3), 96, 3, 3, strides=(2, 2), padding="valid")
    x = Concatenate(axis=3, name="mixed3")([b3, b3d, MaxPooling2D((3, 3), strides=(2, 2))(x)])
    x = _block_17(x, 128, "mixed4")
    x = _block_17(x, 160, "mixed5")
    x = _block_17(x, 160, "mixed6")
    x = _block_17(x, 192, "mixed7")
    b3 = _cbr(_cbr(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding="valid")
    b7 = _cbr(_cbr(_cbr(x, 192, 1, 1), 192, 1, 7), 192, 7, 1)
    b7 = _cbr(b7, 192, 3, 3, strides=(2, 2), padding="valid")
    x = Concatenate(axis=3, name="mixed8")([b3, b7, MaxPooling2D((3, 3), strides=(2, 2))(x)])
    x = _block_8(x, 0)
    x = _block_8(x, 1)
    return finish("InceptionV3", name, inputs, x, include_top, pooling, classes, classifier_activation, weights,
                  top=GlobalAveragePooling2D(name="avg_pool"))


def preprocess_input(x, data_format=None):
    """Keras's InceptionV3 preprocessing: scaled to [-1, 1] ("tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
