"""MobileNetV2 (Sandler et al. 2018): inverted residual blocks, Keras's layer names and layouts."""
from __future__ import annotations

from ..layers import Add, BatchNormalization, Conv2D, DepthwiseConv2D, ReLU, ZeroPadding2D
from . import imagenet_utils
from ._common import KERAS_WEIGHTS, application_input, check_weights, finish, resolve_weights

__all__ = ["MobileNetV2", "preprocess_input", "decode_predictions"]


def _make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def _bn(name):
    return BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)


def _correct_pad(x):
    """Keras's padding before a stride-2 3x3 depthwise conv: one less at the top/left for even sizes."""
    h, w = x.shape[1:3]
    adjust = (1, 1) if h is None or w is None else (1 - h % 2, 1 - w % 2)
    return ((1 - adjust[0], 1), (1 - adjust[1], 1))


def _inverted_res_block(inputs, expansion, stride, alpha, filters, block_id):
    in_channels = inputs.shape[-1]
    pointwise_filters = _make_divisible(int(filters * alpha), 8)
    x = inputs
    prefix = f"block_{block_id}_"
    if block_id:
        x = Conv2D(expansion * in_channels, kernel_size=1, padding="same", use_bias=False, name=prefix + "expand")(x)
        x = _bn(prefix + "expand_BN")(x)
        x = ReLU(6.0, name=prefix + "expand_relu")(x)
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = ZeroPadding2D(padding=_correct_pad(x), name=prefix + "pad")(x)
    x = DepthwiseConv2D(kernel_size=3, strides=stride, use_bias=False, padding="same" if stride == 1 else "valid",
                        name=prefix + "depthwise")(x)
    x = _bn(prefix + "depthwise_BN")(x)
    x = ReLU(6.0, name=prefix + "depthwise_relu")(x)
    x = Conv2D(pointwise_filters, kernel_size=1, padding="same", use_bias=False, name=prefix + "project")(x)
    x = _bn(prefix + "project_BN")(x)
    if in_channels == pointwise_filters and stride == 1:
        return Add(name=prefix + "add")([inputs, x])
    return x


_BLOCKS = [  # (filters, stride, expansion) per block, block_id in order
    (16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6), (64, 2, 6), (64, 1, 6), (64, 1, 6),
    (64, 1, 6), (96, 1, 6), (96, 1, 6), (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6),
]


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights=None, input_tensor=None, pooling=None,  # noqa: N802
                classes=1000, classifier_activation="softmax", name=None):
    """MobileNetV2 with width multiplier ``alpha``; 3,538,984 parameters at alpha=1.0 with the top."""
    if alpha <= 0:
        raise ValueError(f"MobileNetV2: alpha must be > 0, got {alpha!r}")
    check_weights("MobileNetV2", weights, include_top, classes)
    inputs = application_input("MobileNetV2", input_shape, input_tensor, (224, 224, 3), include_top, 32, weights)
    rows = inputs.shape[1]
    stem = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}"
    fname = f"{stem}.h5" if include_top else f"{stem}_no_top.h5"
    weights = resolve_weights("MobileNetV2", weights, include_top,
                              (fname, f"{KERAS_WEIGHTS}mobilenet_v2/{fname}", None))
    x = Conv2D(_make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2), padding="same", use_bias=False,
               name="Conv1")(inputs)
    x = _bn("bn_Conv1")(x)
    x = ReLU(6.0, name="Conv1_relu")(x)
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    x = Conv2D(_make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280, kernel_size=1, use_bias=False,
               name="Conv_1")(x)
    x = _bn("Conv_1_bn")(x)
    x = ReLU(6.0, name="out_relu")(x)
    model_name = name or f"mobilenetv2_{alpha:0.2f}_{rows}"
    return finish("MobileNetV2", model_name, inputs, x, include_top, pooling, classes, classifier_activation, weights)


def preprocess_input(x, data_format=None):
    """Keras's MobileNetV2 preprocessing: scaled to [-1, 1] ("tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
