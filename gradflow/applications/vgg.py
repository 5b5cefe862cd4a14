"""VGG16 and VGG19 (Simonyan & Zisserman 2014), Keras's layer names and layouts."""
from __future__ import annotations

from ..layers import Conv2D, Dense, Flatten, MaxPooling2D
from ._common import application_input, check_weights, finish, keras_weights, resolve_weights

__all__ = ["VGG16", "VGG19"]


_HASHES = {"VGG16": ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
           "VGG19": ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6")}


def _vgg(name, convs, include_top, weights, input_tensor, input_shape, pooling, classes, classifier_activation):
    check_weights(name, weights, include_top, classes)
    inputs = application_input(name, input_shape, input_tensor, (224, 224, 3), include_top, 32, weights)
    low = name.lower()
    imagenet = keras_weights(low, f"{low}_weights_tf_dim_ordering_tf_kernels.h5", _HASHES[name][0],
                             f"{low}_weights_tf_dim_ordering_tf_kernels_notop.h5", _HASHES[name][1])
    weights = resolve_weights(name, weights, include_top, imagenet)
    x = inputs
    for block, (filters, count) in enumerate(zip((64, 128, 256, 512, 512), convs), start=1):
        for i in range(1, count + 1):
            x = Conv2D(filters, (3, 3), activation="relu", padding="same", name=f"block{block}_conv{i}")(x)
        x = MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)

    def top(h):
        h = Flatten(name="flatten")(h)
        h = Dense(4096, activation="relu", name="fc1")(h)
        return Dense(4096, activation="relu", name="fc2")(h)

    return finish(name, low, inputs, x, include_top, pooling, classes, classifier_activation, weights, top)


def VGG16(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
          classifier_activation="softmax", name="vgg16"):
    """VGG16: 13 convolutions in five blocks, then two 4096-unit layers; 138,357,544 parameters with the top."""
    return _vgg("VGG16", (2, 2, 3, 3, 3), include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)


def VGG19(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,  # noqa: N802
          classifier_activation="softmax", name="vgg19"):
    """VGG19: 16 convolutions in five blocks, then two 4096-unit layers; 143,667,240 parameters with the top."""
    return _vgg("VGG19", (2, 2, 4, 4, 4), include_top, weights, input_tensor, input_shape, pooling, classes,
                classifier_activation)
