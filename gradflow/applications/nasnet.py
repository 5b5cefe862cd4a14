"""NASNetMobile and NASNetLarge (Zoph et al. 2018), Keras's layer names and layouts
(``keras.applications.nasnet``)."""
from __future__ import annotations

from ..layers import (
    Activation,
    Add,
    AveragePooling2D,
    BatchNormalization,
    Concatenate,
    Conv2D,
    Cropping2D,
    GlobalAveragePooling2D,
    MaxPooling2D,
    SeparableConv2D,
    ZeroPadding2D,
)
from . import imagenet_utils
from ._common import KERAS_WEIGHTS, application_input, check_weights, finish, resolve_weights
from .efficientnet import correct_pad

__all__ = ["NASNetMobile", "NASNetLarge", "preprocess_input", "decode_predictions"]

_WEIGHTS = {  # default size -> (top file, URL name, hash), (no-top file, URL name, hash)
    224: (("nasnet_mobile.h5", "NASNet-mobile.h5", "020fb642bf7360b370c678b08e0adf61"),
          ("nasnet_mobile_no_top.h5", "NASNet-mobile-no-top.h5", "1ed92395b5b598bdda52abe5c0dbfd63")),
    331: (("nasnet_large.h5", "NASNet-large.h5", "11577c9a518f0070763c2b964a382f17"),
          ("nasnet_large_no_top.h5", "NASNet-large-no-top.h5", "d81d89dc07e6e56530c4e77faddd61b5")),
}


def _bn(name):
    return BatchNormalization(axis=-1, momentum=0.9997, epsilon=1e-3, name=name)


def _sep_block(ip, filters, kernel_size=(3, 3), strides=(1, 1), block_id=None):
    x = Activation("relu")(ip)
    if strides == (2, 2):
        x = ZeroPadding2D(padding=correct_pad(x, kernel_size), name=f"separable_conv_1_pad_{block_id}")(x)
        conv_pad = "valid"
    else:
        conv_pad = "same"
    x = SeparableConv2D(filters, kernel_size, strides=strides, name=f"separable_conv_1_{block_id}", padding=conv_pad,
                        use_bias=False)(x)
    x = _bn(f"separable_conv_1_bn_{block_id}")(x)
    x = Activation("relu")(x)
    x = SeparableConv2D(filters, kernel_size, name=f"separable_conv_2_{block_id}", padding="same", use_bias=False)(x)
    return _bn(f"separable_conv_2_bn_{block_id}")(x)


def _adjust_block(p, ip, filters, block_id=None):
    if p is None:
        return ip
    if p.shape[-2] != ip.shape[-2]:
        p = Activation("relu", name=f"adjust_relu_1_{block_id}")(p)
        p1 = AveragePooling2D((1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_1_{block_id}")(p)
        p1 = Conv2D(filters // 2, (1, 1), padding="same", use_bias=False, name=f"adjust_conv_1_{block_id}",
                    kernel_initializer="he_normal")(p1)
        p2 = ZeroPadding2D(padding=((0, 1), (0, 1)))(p)
        p2 = Cropping2D(cropping=((1, 0), (1, 0)))(p2)
        p2 = AveragePooling2D((1, 1), strides=(2, 2), padding="valid", name=f"adjust_avg_pool_2_{block_id}")(p2)
        p2 = Conv2D(filters // 2, (1, 1), padding="same", use_bias=False, name=f"adjust_conv_2_{block_id}",
                    kernel_initializer="he_normal")(p2)
        p = Concatenate(axis=-1)([p1, p2])
        p = _bn(f"adjust_bn_{block_id}")(p)
    elif p.shape[-1] != filters:
        p = Activation("relu")(p)
        p = Conv2D(filters, (1, 1), strides=(1, 1), padding="same", name=f"adjust_conv_projection_{block_id}",
                   use_bias=False, kernel_initializer="he_normal")(p)
        p = _bn(f"adjust_bn_{block_id}")(p)
    return p


def _squeeze(ip, filters, kind, block_id):
    h = Activation("relu")(ip)
    h = Conv2D(filters, (1, 1), strides=(1, 1), padding="same", name=f"{kind}_conv_1_{block_id}", use_bias=False,
               kernel_initializer="he_normal")(h)
    return _bn(f"{kind}_bn_1_{block_id}")(h)


def _normal_a_cell(ip, p, filters, block_id=None):
    p = _adjust_block(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "normal", block_id)
    x1_1 = _sep_block(h, filters, kernel_size=(5, 5), block_id=f"normal_left1_{block_id}")
    x1_2 = _sep_block(p, filters, block_id=f"normal_right1_{block_id}")
    x1 = Add(name=f"normal_add_1_{block_id}")([x1_1, x1_2])
    x2_1 = _sep_block(p, filters, (5, 5), block_id=f"normal_left2_{block_id}")
    x2_2 = _sep_block(p, filters, (3, 3), block_id=f"normal_right2_{block_id}")
    x2 = Add(name=f"normal_add_2_{block_id}")([x2_1, x2_2])
    x3 = AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"normal_left3_{block_id}")(h)
    x3 = Add(name=f"normal_add_3_{block_id}")([x3, p])
    x4_1 = AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"normal_left4_{block_id}")(p)
    x4_2 = AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"normal_right4_{block_id}")(p)
    x4 = Add(name=f"normal_add_4_{block_id}")([x4_1, x4_2])
    x5 = _sep_block(h, filters, block_id=f"normal_left5_{block_id}")
    x5 = Add(name=f"normal_add_5_{block_id}")([x5, h])
    x = Concatenate(axis=-1, name=f"normal_concat_{block_id}")([p, x1, x2, x3, x4, x5])
    return x, ip


def _reduction_a_cell(ip, p, filters, block_id=None):
    p = _adjust_block(p, ip, filters, block_id)
    h = _squeeze(ip, filters, "reduction", block_id)
    h3 = ZeroPadding2D(padding=correct_pad(h, 3), name=f"reduction_pad_1_{block_id}")(h)
    x1_1 = _sep_block(h, filters, (5, 5), strides=(2, 2), block_id=f"reduction_left1_{block_id}")
    x1_2 = _sep_block(p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right1_{block_id}")
    x1 = Add(name=f"reduction_add_1_{block_id}")([x1_1, x1_2])
    x2_1 = MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_left2_{block_id}")(h3)
    x2_2 = _sep_block(p, filters, (7, 7), strides=(2, 2), block_id=f"reduction_right2_{block_id}")
    x2 = Add(name=f"reduction_add_2_{block_id}")([x2_1, x2_2])
    x3_1 = AveragePooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_left3_{block_id}")(h3)
    x3_2 = _sep_block(p, filters, (5, 5), strides=(2, 2), block_id=f"reduction_right3_{block_id}")
    x3 = Add(name=f"reduction_add3_{block_id}")([x3_1, x3_2])
    x4 = AveragePooling2D((3, 3), strides=(1, 1), padding="same", name=f"reduction_left4_{block_id}")(x1)
    x4 = Add()([x2, x4])
    x5_1 = _sep_block(x1, filters, (3, 3), block_id=f"reduction_left4_{block_id}")
    x5_2 = MaxPooling2D((3, 3), strides=(2, 2), padding="valid", name=f"reduction_right5_{block_id}")(h3)
    x5 = Add(name=f"reduction_add4_{block_id}")([x5_1, x5_2])
    x = Concatenate(axis=-1, name=f"reduction_concat_{block_id}")([x2, x3, x4, x5])
    return x, ip


def _nasnet(title, input_shape, penultimate_filters, num_blocks, stem_block_filters, skip_reduction,
            filter_multiplier, include_top, weights, input_tensor, pooling, classes, default_size,
            classifier_activation, name):
    check_weights(title, weights, include_top, classes)
    if penultimate_filters % (24 * (filter_multiplier**2)) != 0:
        raise ValueError(f"For NASNet-A models, the `penultimate_filters` must be a multiple of 24 * "
                         f"(`filter_multiplier` ** 2). Current value: {penultimate_filters}")
    inputs = application_input(title, input_shape, input_tensor, (default_size, default_size, 3), include_top, 32,
                               weights)
    fname, url_name, file_hash = _WEIGHTS[default_size][0 if include_top else 1]
    weights = resolve_weights(title, weights, include_top, (fname, f"{KERAS_WEIGHTS}nasnet/{url_name}", file_hash))
    filters = penultimate_filters // 24
    x = Conv2D(stem_block_filters, (3, 3), strides=(2, 2), padding="valid", use_bias=False, name="stem_conv1",
               kernel_initializer="he_normal")(inputs)
    x = _bn("stem_bn1")(x)
    p = None
    x, p = _reduction_a_cell(x, p, filters // (filter_multiplier**2), block_id="stem_1")
    x, p = _reduction_a_cell(x, p, filters // filter_multiplier, block_id="stem_2")
    for i in range(num_blocks):
        x, p = _normal_a_cell(x, p, filters, block_id=f"{i}")
    x, p0 = _reduction_a_cell(x, p, filters * filter_multiplier, block_id=f"reduce_{num_blocks}")
    p = p0 if not skip_reduction else p
    for i in range(num_blocks):
        x, p = _normal_a_cell(x, p, filters * filter_multiplier, block_id=f"{num_blocks + i + 1}")
    x, p0 = _reduction_a_cell(x, p, filters * filter_multiplier**2, block_id=f"reduce_{2 * num_blocks}")
    p = p0 if not skip_reduction else p
    for i in range(num_blocks):
        x, p = _normal_a_cell(x, p, filters * filter_multiplier**2, block_id=f"{2 * num_blocks + i + 1}")
    x = Activation("relu")(x)
    return finish(title, name, inputs, x, include_top, pooling, classes, classifier_activation, weights,
                  top=GlobalAveragePooling2D())


def NASNetMobile(input_shape=None, include_top=True, weights=None, input_tensor=None, pooling=None, classes=1000,  # noqa: N802
                 classifier_activation="softmax", name="nasnet_mobile"):
    """NASNetMobile: 5,326,716 parameters with the top (224x224 input). (Keras's torch backend refuses to build
    it; gradflow builds the same architecture.)"""
    if not include_top and input_shape is None and input_tensor is None:
        input_shape = (224, 224, 3)
    return _nasnet("NASNetMobile", input_shape, 1056, 4, 32, False, 2, include_top, weights, input_tensor, pooling,
                   classes, 224, classifier_activation, name)


def NASNetLarge(input_shape=None, include_top=True, weights=None, input_tensor=None, pooling=None, classes=1000,  # noqa: N802
                classifier_activation="softmax", name="nasnet_large"):
    """NASNetLarge: 88,949,818 parameters with the top (331x331 input)."""
    return _nasnet("NASNetLarge", input_shape, 4032, 6, 96, True, 2, include_top, weights, input_tensor, pooling,
                   classes, 331, classifier_activation, name)


def preprocess_input(x, data_format=None):
    """Keras's NASNet preprocessing: scaled to [-1, 1] ("tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
