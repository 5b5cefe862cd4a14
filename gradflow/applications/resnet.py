"""ResNet50 (He et al. 2015, "v1" bottleneck blocks), Keras's layer names and layouts."""
from __future__ import annotations

from ..layers import Activation, Add, BatchNormalization, Conv2D, MaxPooling2D, ZeroPadding2D
from ._common import application_input, check_weights, finish

__all__ = ["ResNet50"]

_EPS = 1.001e-5


def _block(x, filters, stride=1, conv_shortcut=True, name=""):
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def _stack(x, filters, blocks, stride=2, name=""):
    x = _block(x, filters, stride=stride, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def ResNet50(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
             classifier_activation="softmax", name="resnet50"):
    """ResNet50: a 7x7 stem, then 3 + 4 + 6 + 3 bottleneck blocks; 25,636,712 parameters with the top."""
    check_weights("ResNet50", weights, include_top, classes)
    inputs = application_input("ResNet50", input_shape, input_tensor, (224, 224, 3), include_top, 32)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    x = BatchNormalization(axis=3, epsilon=_EPS, name="conv1_bn")(x)
    x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    x = _stack(x, 64, 3, stride=1, name="conv2")
    x = _stack(x, 128, 4, name="conv3")
    x = _stack(x, 256, 6, name="conv4")
    x = _stack(x, 512, 3, name="conv5")
    return finish("ResNet50", name, inputs, x, include_top, pooling, classes, classifier_activation, weights,
                  pool_name="avg_pool")
