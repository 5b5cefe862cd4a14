"""EfficientNetV2B0-B3/S/M/L (Tan & Le 2021), Keras's layer names and layouts
(``keras.applications.efficientnet_v2``). The models take raw [0, 255] pixels (``include_preprocessing``)."""
from __future__ import annotations

import math

from ..initializers import Constant
from ..layers import (
    Activation,
    Add,
    BatchNormalization,
    Conv2D,
    Dense,
    DepthwiseConv2D,
    Dropout,
    GlobalAveragePooling2D,
    Multiply,
    Normalization,
    Rescaling,
    Reshape,
)
from ._common import application_input, check_weights, finish, placeholder_preprocess_input, resolve_weights
from .efficientnet import CONV_KERNEL_INITIALIZER, DENSE_KERNEL_INITIALIZER
from .imagenet_utils import decode_predictions

__all__ = ["EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2S",
           "EfficientNetV2M", "EfficientNetV2L", "preprocess_input", "decode_predictions"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/efficientnet_v2/"
WEIGHTS_HASHES = {
    "b0": ("21ecbf6da12460d5c40bb2f29ceb2188", "893217f2bb855e2983157299931e43ff"),
    "b1": ("069f0534ff22adf035c89e2d9547a9dc", "0e80663031ca32d657f9caa404b6ec37"),
    "b2": ("424e49f28180edbde1e94797771950a7", "1dfe2e7a5d45b6632553a8961ea609eb"),
    "b3": ("1f1fc43bd98a6e4fd8fdfd551e02c7a0", "f6abf7b5849ac99a89b50dd3fd532856"),
    "-s": ("e1d88a8495beba45748fedd0cecbe016", "af0682fb74e8c54910f2d4393339c070"),
    "-m": ("a3bf6aa3276309f4fc6a34aa114c95cd", "1b8dc055df72dde80d614482840fe342"),
    "-l": ("27e6d408b53c7ebc868fefa357689935", "b0b66b5c863aef5b46e8608fe1711615"),
}
_B = [(3, 1, 32, 16, 1, 0, 1, 1), (3, 2, 16, 32, 4, 0, 2, 1), (3, 2, 32, 48, 4, 0, 2, 1),
      (3, 3, 48, 96, 4, 0.25, 2, 0), (3, 5, 96, 112, 6, 0.25, 1, 0), (3, 8, 112, 192, 6, 0.25, 2, 0)]
# (kernel_size, num_repeat, input_filters, output_filters, expand_ratio, se_ratio, strides, conv_type 1 = fused)
DEFAULT_BLOCKS_ARGS = {
    "s": [(3, 2, 24, 24, 1, 0, 1, 1), (3, 4, 24, 48, 4, 0, 2, 1), (3, 4, 48, 64, 4, 0, 2, 1),
          (3, 6, 64, 128, 4, 0.25, 2, 0), (3, 9, 128, 160, 6, 0.25, 1, 0), (3, 15, 160, 256, 6, 0.25, 2, 0)],
    "m": [(3, 3, 24, 24, 1, 0, 1, 1), (3, 5, 24, 48, 4, 0, 2, 1), (3, 5, 48, 80, 4, 0, 2, 1),
          (3, 7, 80, 160, 4, 0.25, 2, 0), (3, 14, 160, 176, 6, 0.25, 1, 0), (3, 18, 176, 304, 6, 0.25, 2, 0),
          (3, 5, 304, 512, 6, 0.25, 1, 0)],
    "l": [(3, 4, 32, 32, 1, 0, 1, 1), (3, 7, 32, 64, 4, 0, 2, 1), (3, 7, 64, 96, 4, 0, 2, 1),
          (3, 10, 96, 192, 4, 0.25, 2, 0), (3, 19, 192, 224, 6, 0.25, 1, 0), (3, 25, 224, 384, 6, 0.25, 2, 0),
          (3, 7, 384, 640, 6, 0.25, 1, 0)],
    "b0": _B, "b1": _B, "b2": _B, "b3": _B,
}
_CONFIGS = {"b0": (1.0, 1.0, 224), "b1": (1.0, 1.1, 240), "b2": (1.1, 1.2, 260), "b3": (1.2, 1.4, 300),
            "s": (1.0, 1.0, 384), "m": (1.0, 1.0, 480), "l": (1.0, 1.0, 480)}


def round_filters(filters, width_coefficient, min_depth, depth_divisor):
    filters *= width_coefficient
    minimum_depth = min_depth or depth_divisor
    return int(max(minimum_depth, int(filters + depth_divisor / 2) // depth_divisor * depth_divisor))


def _se(x, input_filters, filters, se_ratio, activation, name):
    filters_se = max(1, int(input_filters * se_ratio))
    se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = Conv2D(filters_se, 1, padding="same", activation=activation, kernel_initializer=CONV_KERNEL_INITIALIZER,
                name=f"{name}se_reduce")(se)
    se = Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_KERNEL_INITIALIZER,
                name=f"{name}se_expand")(se)
    return Multiply(name=f"{name}se_excite")([x, se])


def _bn(momentum, name):
    return BatchNormalization(axis=3, momentum=momentum, name=name)


def _mbconv(inputs, input_filters, output_filters, expand_ratio, kernel_size, strides, se_ratio, bn_momentum,
            activation, survival_probability, name, fused):
    filters = input_filters * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = Conv2D(filters, kernel_size=kernel_size if fused else 1, strides=strides if fused else 1,
                   kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same", use_bias=False,
                   name=f"{name}expand_conv")(x)
        x = _bn(bn_momentum, f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    if not fused:
        x = DepthwiseConv2D(kernel_size=kernel_size, strides=strides, depthwise_initializer=CONV_KERNEL_INITIALIZER,
                            padding="same", use_bias=False, name=f"{name}dwconv2")(x)
        x = _bn(bn_momentum, f"{name}bn")(x)
        x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        x = _se(x, input_filters, filters, se_ratio, activation, name)
    single = fused and expand_ratio == 1
    x = Conv2D(output_filters, kernel_size=kernel_size if single else 1, strides=strides if single else 1,
               kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same", use_bias=False,
               name=f"{name}project_conv")(x)
    x = _bn(bn_momentum, f"{name}project_bn")(x)
    if single:
        x = Activation(activation=activation, name=f"{name}project_activation")(x)
    if strides == 1 and input_filters == output_filters:
        if survival_probability:
            x = Dropout(survival_probability, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = Add(name=f"{name}add")([x, inputs])
    return x


def _efficientnet_v2(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, include_preprocessing, name, dropout_rate=0.2, drop_connect_rate=0.2,
                     depth_divisor=8, min_depth=8, bn_momentum=0.9, activation="swish"):
    title = f"EfficientNetV2{variant.upper()}"
    width, depth, default_size = _CONFIGS[variant]
    blocks_args = DEFAULT_BLOCKS_ARGS[variant]
    check_weights(title, weights, include_top, classes)
    inputs = application_input(title, input_shape, input_tensor, (default_size, default_size, 3), include_top, 32,
                               weights)
    key = variant if variant.startswith("b") else f"-{variant}"
    fname = name + (".h5" if include_top else "_notop.h5")
    weights = resolve_weights(title, weights, include_top,
                              (fname, BASE_WEIGHTS_PATH + fname, WEIGHTS_HASHES[key][0 if include_top else 1]))
    x = inputs
    if include_preprocessing:
        if variant.startswith("b") and inputs.shape[-1] == 3:
            x = Rescaling(scale=1.0 / 255)(x)
            x = Normalization(mean=[0.485, 0.456, 0.406], variance=[0.229**2, 0.224**2, 0.225**2], axis=3)(x)
        else:
            x = Rescaling(scale=1.0 / 128.0, offset=-1)(x)
    x = Conv2D(round_filters(blocks_args[0][2], width, min_depth, depth_divisor), kernel_size=3, strides=2,
               kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same", use_bias=False, name="stem_conv")(x)
    x = _bn(bn_momentum, "stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)
    b = 0
    blocks = float(sum(args[1] for args in blocks_args))
    for i, (kernel_size, repeats, f_in, f_out, expand_ratio, se_ratio, strides, conv_type) in enumerate(blocks_args):
        f_in = round_filters(f_in, width, min_depth, depth_divisor)
        f_out = round_filters(f_out, width, min_depth, depth_divisor)
        for j in range(int(math.ceil(depth * repeats))):
            if j > 0:
                strides, f_in = 1, f_out
            x = _mbconv(x, f_in, f_out, expand_ratio, kernel_size, strides, se_ratio, bn_momentum, activation,
                        drop_connect_rate * b / blocks, f"block{i + 1}{chr(j + 97)}_", fused=conv_type == 1)
            b += 1
    x = Conv2D(round_filters(1280, width, min_depth, depth_divisor), kernel_size=1, strides=1,
               kernel_initializer=CONV_KERNEL_INITIALIZER, padding="same", use_bias=False, name="top_conv")(x)
    x = _bn(bn_momentum, "top_bn")(x)
    x = Activation(activation=activation, name="top_activation")(x)
    if include_top:
        x = GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = Dropout(dropout_rate, name="top_dropout")(x)
        x = Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                  bias_initializer=Constant(0.0), name="predictions")(x)
        return finish(title, name, inputs, x, False, None, classes, classifier_activation, weights)
    return finish(title, name, inputs, x, False, pooling, classes, classifier_activation, weights,
                  pool_name="avg_pool")


def _variant(variant):
    title = f"EfficientNetV2{variant.upper()}"

    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", include_preprocessing=True, name=f"efficientnetv2-{variant}"):
        return _efficientnet_v2(variant, include_top, weights, input_tensor, input_shape, pooling, classes,
                                classifier_activation, include_preprocessing, name)
    build.__name__ = build.__qualname__ = title
    width, depth, size = _CONFIGS[variant]
    build.__doc__ = f"{title}: width x{width}, depth x{depth}, default input {size}x{size}; takes [0, 255] pixels."
    return build


EfficientNetV2B0 = _variant("b0")
EfficientNetV2B1 = _variant("b1")
EfficientNetV2B2 = _variant("b2")
EfficientNetV2B3 = _variant("b3")
EfficientNetV2S = _variant("s")
EfficientNetV2M = _variant("m")
EfficientNetV2L = _variant("l")


preprocess_input = placeholder_preprocess_input("EfficientNetV2")
