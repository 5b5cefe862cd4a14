"""ConvNeXtTiny/Small/Base/Large/XLarge (Liu et al. 2022), Keras's layer names and layouts
(``keras.applications.convnext``). The models take raw [0, 255] pixels (``include_preprocessing``)."""
from __future__ import annotations

import numpy as np

from ..layers import (
    Activation,
    Conv2D,
    Dense,
    GlobalAveragePooling2D,
    GlobalMaxPooling2D,
    LayerNormalization,
    Normalization,
)
from ..models import Model, Sequential
from ._common import application_input, check_weights, load_weights, placeholder_preprocess_input, resolve_weights
from ._layers import LayerScale, StochasticDepth
from .imagenet_utils import decode_predictions

__all__ = ["ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge", "preprocess_input",
           "decode_predictions"]

BASE_WEIGHTS_PATH = "https://storage.googleapis.com/tensorflow/keras-applications/convnext/"
WEIGHTS_HASHES = {
    "convnext_tiny": ("8ae6e78ce2933352b1ef4008e6dd2f17bc40771563877d156bc6426c7cf503ff",
                      "d547c096cabd03329d7be5562c5e14798aa39ed24b474157cef5e85ab9e49ef1"),
    "convnext_small": ("ce1277d8f1ee5a0ef0e171469089c18f5233860ceaf9b168049cb9263fd7483c",
                       "6fc8009faa2f00c1c1dfce59feea9b0745eb260a7dd11bee65c8e20843da6eab"),
    "convnext_base": ("52cbb006d3dadd03f6e095a8ca1aca47aecdd75acb4bc74bce1f5c695d0086e6",
                      "40a20c5548a5e9202f69735ecc06c990e6b7c9d2de39f0361e27baeb24cb7c45"),
    "convnext_large": ("070c5ed9ed289581e477741d3b34beffa920db8cf590899d6d2c67fba2a198a6",
                       "96f02b6f0753d4f543261bc9d09bed650f24dd6bc02ddde3066135b63d23a1cd"),
    "convnext_xlarge": ("c1f5ccab661354fc3a79a10fa99af82f0fbf10ec65cb894a3ae0815f17a889ee",
                        "de3f8a54174130e0cecdc71583354753d557fcf1f4487331558e2a16ba0cfe05"),
}
MODEL_CONFIGS = {
    "tiny": ([3, 3, 9, 3], [96, 192, 384, 768]),
    "small": ([3, 3, 27, 3], [96, 192, 384, 768]),
    "base": ([3, 3, 27, 3], [128, 256, 512, 1024]),
    "large": ([3, 3, 27, 3], [192, 384, 768, 1536]),
    "xlarge": ([3, 3, 27, 3], [256, 512, 1024, 2048]),
}


def _block(x, projection_dim, drop_path_rate, layer_scale_init_value, name):
    inputs = x
    x = Conv2D(filters=projection_dim, kernel_size=7, padding="same", groups=projection_dim,
               name=f"{name}_depthwise_conv")(x)
    x = LayerNormalization(epsilon=1e-6, name=f"{name}_layernorm")(x)
    x = Dense(4 * projection_dim, name=f"{name}_pointwise_conv_1")(x)
    x = Activation("gelu", name=f"{name}_gelu")(x)
    x = Dense(projection_dim, name=f"{name}_pointwise_conv_2")(x)
    if layer_scale_init_value is not None:
        x = LayerScale(layer_scale_init_value, projection_dim, name=f"{name}_layer_scale")(x)
    if drop_path_rate:
        layer = StochasticDepth(drop_path_rate, name=f"{name}_stochastic_depth")
    else:
        layer = Activation("linear", name=f"{name}_identity")
    return inputs + layer(x)


def _convnext(size, include_top, include_preprocessing, weights, input_tensor, input_shape, pooling, classes,
              classifier_activation, name, drop_path_rate=0.0, layer_scale_init_value=1e-6):
    title = f"ConvNeXt{size.capitalize() if size != 'xlarge' else 'XLarge'}"
    depths, dims = MODEL_CONFIGS[size]
    check_weights(title, weights, include_top, classes)
    weights_name = f"convnext_{size}"
    if weights == "imagenet" and weights_name not in name:
        raise ValueError(f'Model name "{name}" does not match weights variant "{weights_name}". When using '
                         f'imagenet weights, model name must contain the weights variant (e.g., "{weights_name}").')
    inputs = application_input(title, input_shape, input_tensor, (224, 224, 3), include_top, 32, weights)
    fname = name + (".h5" if include_top else "_notop.h5")
    weights = resolve_weights(title, weights, include_top,
                              (fname, BASE_WEIGHTS_PATH + fname, WEIGHTS_HASHES[weights_name][0 if include_top else 1]))
    x = inputs
    if include_preprocessing and inputs.shape[-1] == 3:
        x = Normalization(mean=[0.485 * 255, 0.456 * 255, 0.406 * 255],
                          variance=[(0.229 * 255) ** 2, (0.224 * 255) ** 2, (0.225 * 255) ** 2],
                          name=f"{name}_prestem_normalization")(x)
    downsample = [Sequential([Conv2D(dims[0], kernel_size=4, strides=4, name=f"{name}_stem_conv"),
                              LayerNormalization(epsilon=1e-6, name=f"{name}_stem_layernorm")], name=f"{name}_stem")]
    for i in range(3):
        downsample.append(Sequential([
            LayerNormalization(epsilon=1e-6, name=f"{name}_downsampling_layernorm_{i}"),
            Conv2D(dims[i + 1], kernel_size=2, strides=2, name=f"{name}_downsampling_conv_{i}"),
        ], name=f"{name}_downsampling_block_{i}"))
    rates = [float(r) for r in np.linspace(0.0, drop_path_rate, sum(depths))]
    cur = 0
    for i in range(4):
        x = downsample[i](x)
        for j in range(depths[i]):
            x = _block(x, dims[i], rates[cur + j], layer_scale_init_value, f"{name}_stage_{i}_block_{j}")
        cur += depths[i]
    if include_top:
        x = GlobalAveragePooling2D(name=f"{name}_head_gap")(x)
        x = LayerNormalization(epsilon=1e-6, name=f"{name}_head_layernorm")(x)
        x = Dense(classes, activation=classifier_activation, name=f"{name}_head_dense")(x)
    else:
        if pooling == "avg":
            x = GlobalAveragePooling2D()(x)
        elif pooling == "max":
            x = GlobalMaxPooling2D()(x)
        elif pooling is not None:
            raise ValueError(f"{title}: pooling must be None, 'avg' or 'max', got {pooling!r}")
        x = LayerNormalization(epsilon=1e-6)(x)
    model = Model(inputs, x, name=name)
    load_weights(model, weights)
    return model


def _variant(size, title):
    def build(include_top=True, include_preprocessing=True, weights=None, input_tensor=None, input_shape=None,
              pooling=None, classes=1000, classifier_activation="softmax", name=f"convnext_{size}"):
        return _convnext(size, include_top, include_preprocessing, weights, input_tensor, input_shape, pooling,
                         classes, classifier_activation, name)
    build.__name__ = build.__qualname__ = title
    depths, dims = MODEL_CONFIGS[size]
    build.__doc__ = f"{title}: stages of {depths} blocks, widths {dims}; takes [0, 255] pixels."
    return build


ConvNeXtTiny = _variant("tiny", "ConvNeXtTiny")
ConvNeXtSmall = _variant("small", "ConvNeXtSmall")
ConvNeXtBase = _variant("base", "ConvNeXtBase")
ConvNeXtLarge = _variant("large", "ConvNeXtLarge")
ConvNeXtXLarge = _variant("xlarge", "ConvNeXtXLarge")


preprocess_input = placeholder_preprocess_input("ConvNeXt")
