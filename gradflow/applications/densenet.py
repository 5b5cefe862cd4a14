"""DenseNet121/169/201 (Huang et al. 2017), Keras's layer names and layouts (``keras.applications.densenet``)."""
from __future__ import annotations

from ..layers import (
    Activation,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    MaxPooling2D,
    ZeroPadding2D,
)
from . import imagenet_utils
from ._common import application_input, check_weights, finish, keras_weights, resolve_weights

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "preprocess_input", "decode_predictions"]

_EPS = 1.001e-5
_HASHES = {121: ("9d60b8095a5708f2dcce2bca79d332c7", "30ee3e1110167f948a6b9946edeeb738"),
           169: ("d699b8f76981ab1b30698df4c175e90b", "b8c4d4c20dd625c148057b9ff1c1176b"),
           201: ("1ceb130c1ea1b78c3bf6114dbdfd8807", "c13680b51ded0fb44dff2d8f86ac8bb1")}


def _bn(name):
    return BatchNormalization(axis=3, epsilon=_EPS, name=name)


def _conv_block(x, growth_rate, name):
    x1 = _bn(f"{name}_0_bn")(x)
    x1 = Activation("relu", name=f"{name}_0_relu")(x1)
    x1 = Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(x1)
    x1 = _bn(f"{name}_1_bn")(x1)
    x1 = Activation("relu", name=f"{name}_1_relu")(x1)
    x1 = Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(x1)
    return Concatenate(axis=3, name=f"{name}_concat")([x, x1])


def _transition_block(x, reduction, name):
    x = _bn(f"{name}_bn")(x)
    x = Activation("relu", name=f"{name}_relu")(x)
    x = Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def _densenet(depth, blocks, include_top, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name):
    title = f"DenseNet{depth}"
    check_weights(title, weights, include_top, classes)
    inputs = application_input(title, input_shape, input_tensor, (224, 224, 3), include_top, 32, weights)
    stem = f"densenet{depth}_weights_tf_dim_ordering_tf_kernels"
    imagenet = keras_weights("densenet", f"{stem}.h5", _HASHES[depth][0], f"{stem}_notop.h5", _HASHES[depth][1])
    weights = resolve_weights(title, weights, include_top, imagenet)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)))(inputs)
    x = Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn("conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = MaxPooling2D(3, strides=2, name="pool1")(x)
    for i, n in enumerate(blocks):
        for b in range(n):
            x = _conv_block(x, 32, name=f"conv{i + 2}_block{b + 1}")
        if i < 3:
            x = _transition_block(x, 0.5, name=f"pool{i + 2}")
    x = _bn("bn")(x)
    x = Activation("relu", name="relu")(x)
    return finish(title, name, inputs, x, include_top, pooling, classes, classifier_activation, weights,
                  pool_name="avg_pool")


def DenseNet121(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
                classifier_activation="softmax", name="densenet121"):
    """DenseNet121: dense blocks of 6, 12, 24, 16 layers; 8,062,504 parameters with the top."""
    return _densenet(121, (6, 12, 24, 16), include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def DenseNet169(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
                classifier_activation="softmax", name="densenet169"):
    """DenseNet169: dense blocks of 6, 12, 32, 32 layers; 14,307,880 parameters with the top."""
    return _densenet(169, (6, 12, 32, 32), include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def DenseNet201(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
                classifier_activation="softmax", name="densenet201"):
    """DenseNet201: dense blocks of 6, 12, 48, 32 layers; 20,242,984 parameters with the top."""
    return _densenet(201, (6, 12, 48, 32), include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)


def preprocess_input(x, data_format=None):
    """Keras's DenseNet preprocessing: scaled to [0, 1], normalized per channel ("torch")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
