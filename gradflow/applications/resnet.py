"""ResNet50/101/152 (He et al. 2015, "v1" bottleneck blocks) and ResNet50V2/101V2/152V2 (pre-activation
blocks), Keras's layer names and layouts (``keras.applications.resnet`` / ``resnet_v2``)."""
from __future__ import annotations

from ..layers import Activation, Add, BatchNormalization, Conv2D, MaxPooling2D, ZeroPadding2D
from . import imagenet_utils
from ._common import application_input, check_weights, finish, keras_weights, resolve_weights

__all__ = ["ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
           "preprocess_input", "decode_predictions"]

_EPS = 1.001e-5
_HASHES = {
    "resnet50": ("2cb95161c43110f7111970584f804107", "4d473c1dd8becc155b73f8504c6f6626"),
    "resnet101": ("f1aeb4b969a6efcfb50fad2f0c20cfc5", "88cf7a10940856eca736dc7b7e228a21"),
    "resnet152": ("100835be76be38e30d865e96f2aaae62", "ee4c566cf9a93f14d82f913c2dc6dd0c"),
    "resnet50v2": ("3ef43a0b657b3be2300d5770ece849e0", "fac2f116257151a9d068a22e544a4917"),
    "resnet101v2": ("6343647c601c52e1368623803854d971", "c0ed64b8031c3730f411d2eb4eea35b5"),
    "resnet152v2": ("a49b44d1979771252814e80f8ec446f9", "ed17cf2e0169df9d443503ef94b23b33"),
}


def _bn(name):
    return BatchNormalization(axis=3, epsilon=_EPS, name=name)


def _block(x, filters, stride=1, conv_shortcut=True, name=""):
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(f"{name}_0_bn")(shortcut)
    else:
        shortcut = x
    x = Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = _bn(f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    x = _bn(f"{name}_3_bn")(x)
    x = Add(name=f"{name}_add")([shortcut, x])
    return Activation("relu", name=f"{name}_out")(x)


def _stack(x, filters, blocks, stride=2, name=""):
    x = _block(x, filters, stride=stride, name=f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _block(x, filters, conv_shortcut=False, name=f"{name}_block{i}")
    return x


def _block_v2(x, filters, stride=1, conv_shortcut=False, name=""):
    preact = _bn(f"{name}_preact_bn")(x)
    preact = Activation("relu", name=f"{name}_preact_relu")(preact)
    if conv_shortcut:
        shortcut = Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = _bn(f"{name}_1_bn")(x)
    x = Activation("relu", name=f"{name}_1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = _bn(f"{name}_2_bn")(x)
    x = Activation("relu", name=f"{name}_2_relu")(x)
    x = Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return Add(name=f"{name}_out")([shortcut, x])


def _stack_v2(x, filters, blocks, stride1=2, name=""):
    x = _block_v2(x, filters, conv_shortcut=True, name=f"{name}_block1")
    for i in range(2, blocks):
        x = _block_v2(x, filters, name=f"{name}_block{i}")
    return _block_v2(x, filters, stride=stride1, name=f"{name}_block{blocks}")


def _resnet(title, depths, preact, include_top, weights, input_tensor, input_shape, pooling, classes,
            classifier_activation, name):
    check_weights(title, weights, include_top, classes)
    inputs = application_input(title, input_shape, input_tensor, (224, 224, 3), include_top, 32, weights)
    key = title.lower()
    imagenet = keras_weights("resnet", f"{key}_weights_tf_dim_ordering_tf_kernels.h5", _HASHES[key][0],
                             f"{key}_weights_tf_dim_ordering_tf_kernels_notop.h5", _HASHES[key][1])
    weights = resolve_weights(title, weights, include_top, imagenet)
    x = ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(inputs)
    x = Conv2D(64, 7, strides=2, name="conv1_conv")(x)
    if not preact:
        x = _bn("conv1_bn")(x)
        x = Activation("relu", name="conv1_relu")(x)
    x = ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for i, (filters, blocks) in enumerate(zip((64, 128, 256, 512), depths)):
        if preact:
            x = _stack_v2(x, filters, blocks, stride1=1 if i == 3 else 2, name=f"conv{i + 2}")
        else:
            x = _stack(x, filters, blocks, stride=1 if i == 0 else 2, name=f"conv{i + 2}")
    if preact:
        x = _bn("post_bn")(x)
        x = Activation("relu", name="post_relu")(x)
    return finish(title, name, inputs, x, include_top, pooling, classes, classifier_activation, weights,
                  pool_name="avg_pool")


def _variant(title, depths, preact, doc):
    """The public builder ``title`` (Keras's signature; its default name is ``title.lower()``)."""
    default_name = title.lower()

    def build(include_top=True, weights=None, input_tensor=None, input_shape=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=default_name):
        return _resnet(title, depths, preact, include_top, weights, input_tensor, input_shape, pooling, classes,
                       classifier_activation, name)
    build.__name__ = build.__qualname__ = title
    build.__doc__ = doc
    return build


ResNet50 = _variant("ResNet50", (3, 4, 6, 3), False, "ResNet50: a 7x7 stem, then 3 + 4 + 6 + 3 bottleneck blocks; "
                    "25,636,712 parameters with the top.")
ResNet101 = _variant("ResNet101", (3, 4, 23, 3), False, "ResNet101: 3 + 4 + 23 + 3 bottleneck blocks; 44,707,176 "
                     "parameters with the top.")
ResNet152 = _variant("ResNet152", (3, 8, 36, 3), False, "ResNet152: 3 + 8 + 36 + 3 bottleneck blocks; 60,419,944 "
                     "parameters with the top.")
ResNet50V2 = _variant("ResNet50V2", (3, 4, 6, 3), True, "ResNet50V2: pre-activation blocks, 3 + 4 + 6 + 3; "
                      "25,613,800 parameters with the top.")
ResNet101V2 = _variant("ResNet101V2", (3, 4, 23, 3), True, "ResNet101V2: pre-activation blocks, 3 + 4 + 23 + 3.")
ResNet152V2 = _variant("ResNet152V2", (3, 8, 36, 3), True, "ResNet152V2: pre-activation blocks, 3 + 8 + 36 + 3.")


def preprocess_input(x, data_format=None):
    """Keras's ResNet preprocessing: RGB -> BGR, minus the ImageNet channel means ("caffe")."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")


def decode_predictions(preds, top=5):
    """The ``top`` ImageNet classes of each prediction: ``(class_name, description, score)``."""
    return imagenet_utils.decode_predictions(preds, top=top)
