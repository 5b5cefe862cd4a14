"""MobileNet (Howard et al. 2017): depthwise separable convolutions, Keras's layer names and layouts
(``keras.applications.mobilenet``)."""
from __future__ import annotations

from ..layers import (
    Activation,
    BatchNormalization,
    Conv2D,
    DepthwiseConv2D,
    Dropout,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    ReLU,
    Reshape,
    ZeroPadding2D,
)
from ..models import Model
from . import imagenet_utils
from ._common import KERAS_WEIGHTS, application_input, check_weights, load_weights, resolve_weights

__all__ = ["MobileNet", "preprocess_input", "decode_predictions"]

_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1),
           (512, 1), (1024, 2), (1024, 1)]  # (pointwise filters, stride) of blocks 1..13


def _depthwise_conv_block(x, filters, alpha, depth_multiplier, stride, block_id):
    if stride != 1:
        x = ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid", depth_multiplier=depth_multiplier,
                        strides=(stride, stride), use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False, strides=(1, 1),
               name=f"conv_pw_{block_id}")(x)
    x = BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True, weights=None,  # noqa: N802
              input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax", name=None):
    """MobileNet with width multiplier ``alpha``; 4,253,864 parameters at alpha=1.0 with the top."""
    check_weights("MobileNet", weights, include_top, classes)
    if weights == "imagenet":
        if depth_multiplier != 1:
            raise ValueError(f"If imagenet weights are being loaded, depth multiplier must be 1. "
                             f"Received depth_multiplier={depth_multiplier}")
        if alpha not in (0.25, 0.50, 0.75, 1.0):
            raise ValueError(f"If imagenet weights are being loaded, alpha can be one of `0.25`, `0.50`, `0.75` "
                             f"or `1.0` only. Received alpha={alpha}")
    inputs = application_input("MobileNet", input_shape, input_tensor, (224, 224, 3), include_top, 32, weights)
    rows = inputs.shape[1]
    alpha_text = {1.0: "1_0", 0.75: "7_5", 0.5: "5_0"}.get(alpha, "2_5")
    fname = f"mobilenet_{alpha_text}_{rows}_tf.h5" if include_top else f"mobilenet_{alpha_text}_{rows}_tf_no_top.h5"
    weights = resolve_weights("MobileNet", weights, include_top, (fname, f"{KERAS_WEIGHTS}mobilenet/{fname}", None))
    x = Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2), name="conv1")(inputs)
    x = BatchNormalization(axis=-1, name="conv1_bn")(x)
    x = ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _depthwise_conv_block(x, filters, alpha, depth_multiplier, stride, block_id)
    if include_top:
        x = GlobalAveragePooling2D(keepdims=True)(x)
        x = Dropout(dropout, name="dropout")(x)
        x = Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = Reshape((classes,), name="reshape_2")(x)
        x = Activation(activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D()(x)
    elif pooling is not None:
        raise ValueError(f"MobileNet: pooling must be None, 'avg' or 'max', got {pooling!r}")
    model = Model(inputs, x, name=name or f"mobilenet_{alpha:0.2f}_{rows}")
    load_weights(model, weights)
    return model


def preprocess_input(x, data_format=None):
    """Keras's MobileNet preprocessing: scaled to [-1, 1] ("tf")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction."""
    return imagenet_utils.decode_predictions(preds, top=top)
