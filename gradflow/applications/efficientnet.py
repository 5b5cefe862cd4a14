"""EfficientNetB0-B7 (Tan & Le 2019), Keras's layer names and layouts (``keras.applications.efficientnet``).
The models take raw [0, 255] pixels: rescaling and normalization are their first layers."""
from __future__ import annotations

import math

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
    ZeroPadding2D,
)
from ._common import application_input, check_weights, finish, placeholder_preprocess_input, resolve_weights
from .imagenet_utils import decode_predictions

__all__ = [f"EfficientNetB{i}" for i in range(8)] + ["preprocess_input", "decode_predictions"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/keras-applications/"
WEIGHTS_HASHES = {
    "b0": ("902e53a9f72be733fc0bcb005b3ebbac", "50bc09e76180e00e4465e1a485ddc09d"),
    "b1": ("1d254153d4ab51201f1646940f018540", "74c4e6b3e1f6a1eea24c589628592432"),
    "b2": ("b15cce36ff4dcbd00b6dd88e7857a6ad", "111f8e2ac8aa800a7a99e3239f7bfb39"),
    "b3": ("ffd1fdc53d0ce67064dc6a9c7960ede0", "af6d107764bb5b1abb91932881670226"),
    "b4": ("18c95ad55216b8f92d7e70b3a046e2fc", "ebc24e6d6c33eaebbd558eafbeedf1ba"),
    "b5": ("ace28f2a6363774853a83a0b21b9421a", "38879255a25d3c92d5e44e04ae6cec6f"),
    "b6": ("165f6e37dce68623721b423839de8be5", "9ecce42647a20130c1f39a5d4cb75743"),
    "b7": ("8c03f828fec3ef71311cd463b6759d99", "cbcfe4450ddf6f3ad90b1b398090fe4a"),
}
# (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides) per stage; se_ratio 0.25, id_skip
DEFAULT_BLOCKS_ARGS = [(3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2), (3, 3, 40, 80, 6, 2),
                       (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2), (3, 1, 192, 320, 6, 1)]
CONV_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                           "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
DENSE_KERNEL_INITIALIZER = {"class_name": "VarianceScaling",
                            "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}
IMAGENET_STDDEV_RGB = [0.229, 0.224, 0.225]


def correct_pad(x, kernel_size):
    """Keras's ``imagenet_utils.correct_pad``: the padding a stride-2 'valid' conv needs to act as 'same'."""
    h, w = x.shape[1:3]
    adjust = (1, 1) if h is None else (1 - h % 2, 1 - w % 2)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
    return ((kh // 2 - adjust[0], kh // 2), (kw // 2 - adjust[1], kw // 2))


def _block(inputs, activation, drop_rate, name, filters_in, filters_out, kernel_size, strides, expand_ratio,
           se_ratio=0.25, id_skip=True):
    filters = filters_in * expand_ratio
    if expand_ratio != 1:
        x = Conv2D(filters, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
                   name=f"{name}expand_conv")(inputs)
        x = BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = Activation(activation, name=f"{name}expand_activation")(x)
    else:
        x = inputs
    if strides == 2:
        x = ZeroPadding2D(padding=correct_pad(x, kernel_size), name=f"{name}dwconv_pad")(x)
    x = DepthwiseConv2D(kernel_size, strides=strides, padding="valid" if strides == 2 else "same", use_bias=False,
                        depthwise_initializer=CONV_KERNEL_INITIALIZER, name=f"{name}dwconv")(x)
    x = BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = Activation(activation, name=f"{name}activation")(x)
    if 0 < se_ratio <= 1:
        filters_se = max(1, int(filters_in * se_ratio))
        se = GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
        se = Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
        se = Conv2D(filters_se, 1, padding="same", activation=activation, kernel_initializer=CONV_KERNEL_INITIALIZER,
                    name=f"{name}se_reduce")(se)
        se = Conv2D(filters, 1, padding="same", activation="sigmoid", kernel_initializer=CONV_KERNEL_INITIALIZER,
                    name=f"{name}se_expand")(se)
        x = Multiply(name=f"{name}se_excite")([x, se])
    x = Conv2D(filters_out, 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
               name=f"{name}project_conv")(x)
    x = BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if id_skip and strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = Add(name=f"{name}add")([x, inputs])
    return x


def _efficientnet(width, depth, default_size, dropout_rate, key, include_top, weights, input_tensor, input_shape,
                  pooling, classes, classifier_activation, name, drop_connect_rate=0.2, depth_divisor=8,
                  activation="swish"):
    title = f"EfficientNet{key.upper()}"
    check_weights(title, weights, include_top, classes)
    inputs = application_input(title, input_shape, input_tensor, (default_size, default_size, 3), include_top, 32,
                               weights)
    fname = name + (".h5" if include_top else "_notop.h5")
    imagenet = (fname, BASE_WEIGHTS_PATH + fname, WEIGHTS_HASHES[key][0 if include_top else 1])
    use_imagenet = weights == "imagenet"
    weights = resolve_weights(title, weights, include_top, imagenet)

    def round_filters(filters, divisor=depth_divisor):
        filters *= width
        new_filters = max(divisor, int(filters + divisor / 2) // divisor * divisor)
        if new_filters < 0.9 * filters:
            new_filters += divisor
        return int(new_filters)

    def round_repeats(repeats):
        return int(math.ceil(depth * repeats))

    x = Rescaling(1.0 / 255.0)(inputs)
    x = Normalization(axis=3)(x)
    if use_imagenet:
        x = Rescaling([1.0 / math.sqrt(s) for s in IMAGENET_STDDEV_RGB])(x)
    x = ZeroPadding2D(padding=correct_pad(x, 3), name="stem_conv_pad")(x)
    x = Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
               kernel_initializer=CONV_KERNEL_INITIALIZER, name="stem_conv")(x)
    x = BatchNormalization(axis=3, name="stem_bn")(x)
    x = Activation(activation, name="stem_activation")(x)
    b = 0
    blocks = float(sum(round_repeats(args[1]) for args in DEFAULT_BLOCKS_ARGS))
    for i, (kernel_size, repeats, filters_in, filters_out, expand_ratio, strides) in enumerate(DEFAULT_BLOCKS_ARGS):
        filters_in, filters_out = round_filters(filters_in), round_filters(filters_out)
        for j in range(round_repeats(repeats)):
            if j > 0:
                strides, filters_in = 1, filters_out
            x = _block(x, activation, drop_connect_rate * b / blocks, f"block{i + 1}{chr(j + 97)}_", filters_in,
                       filters_out, kernel_size, strides, expand_ratio)
            b += 1
    x = Conv2D(round_filters(1280), 1, padding="same", use_bias=False, kernel_initializer=CONV_KERNEL_INITIALIZER,
               name="top_conv")(x)
    x = BatchNormalization(axis=3, name="top_bn")(x)
    x = Activation(activation, name="top_activation")(x)

    def top(h):
        h = GlobalAveragePooling2D(name="avg_pool")(h)
        return Dropout(dropout_rate, name="top_dropout")(h) if dropout_rate > 0 else h

    if include_top:
        x = top(x)
        x = Dense(classes, activation=classifier_activation, kernel_initializer=DENSE_KERNEL_INITIALIZER,
                  name="predictions")(x)
        return finish(title, name, inputs, x, False, None, classes, classifier_activation, weights)
    return finish(title, name, inputs, x, False, pooling, classes, classifier_activation, weights,
                  pool_name="avg_pool")


_CONFIGS = {"b0": (1.0, 1.0, 224, 0.2), "b1": (1.0, 1.1, 240, 0.2), "b2": (1.1, 1.2, 260, 0.3),
            "b3": (1.2, 1.4, 300, 0.3), "b4": (1.4, 1.8, 380, 0.4), "b5": (1.6, 2.2, 456, 0.4),
            "b6": (1.8, 2.6, 528, 0.5), "b7": (2.0, 3.1, 600, 0.5)}


def _variant(key):
    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=f"efficientnet{key}"):
        return _efficientnet(*_CONFIGS[key], key, include_top, weights, input_tensor, input_shape, pooling, classes,
                             classifier_activation, name)
    build.__name__ = build.__qualname__ = f"EfficientNet{key.upper()}"
    width, depth, size, _ = _CONFIGS[key]
    build.__doc__ = (f"EfficientNet{key.upper()}: width x{width}, depth x{depth}, default input {size}x{size}; "
                     f"takes [0, 255] pixels.")
    return build


EfficientNetB0 = _variant("b0")
EfficientNetB1 = _variant("b1")
EfficientNetB2 = _variant("b2")
EfficientNetB3 = _variant("b3")
EfficientNetB4 = _variant("b4")
EfficientNetB5 = _variant("b5")
EfficientNetB6 = _variant("b6")
EfficientNetB7 = _variant("b7")


preprocess_input = placeholder_preprocess_input("EfficientNet")
