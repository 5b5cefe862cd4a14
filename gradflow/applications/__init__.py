"""``keras.applications``: reference architectures with Keras's layer names, weight layouts and parameter
counts. ``weights=None`` builds them untrained; a path loads a weights file (Keras's published Keras-2 h5
files by layer, Keras 3 ``.weights.h5``/``.keras``, gradflow's own); 'imagenet' fetches Keras's published
file once into ``$GRADFLOW_MODELS`` (``~/.gradflow/models``), checks its hash and loads it."""
from . import (
    convnext,
    densenet,
    efficientnet,
    efficientnet_v2,
    imagenet_utils,
    inception_resnet_v2,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    nasnet,
    resnet,
    resnet50,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from ._weights import WeightsUnavailableError
from .convnext import ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny, ConvNeXtXLarge
from .densenet import DenseNet121, DenseNet169, DenseNet201
from .efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from .efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from .inception_resnet_v2 import InceptionResNetV2
from .inception_v3 import InceptionV3
from .mobilenet import MobileNet
from .mobilenet_v2 import MobileNetV2
from .mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from .nasnet import NASNetLarge, NASNetMobile
from .resnet import ResNet50, ResNet50V2, ResNet101, ResNet101V2, ResNet152, ResNet152V2
from .vgg import VGG16, VGG19
from .xception import Xception

__all__ = [
    "VGG16", "VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2",
    "DenseNet121", "DenseNet169", "DenseNet201", "MobileNet", "MobileNetV2", "Xception", "InceptionV3",
    "WeightsUnavailableError", "imagenet_utils", "resnet", "resnet50", "resnet_v2", "densenet", "mobilenet",
    "mobilenet_v2", "vgg16", "vgg19", "xception", "inception_v3", "efficientnet",
    "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4", "EfficientNetB5",
    "EfficientNetB6", "EfficientNetB7", "convnext", "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge",
    "ConvNeXtXLarge", "mobilenet_v3", "MobileNetV3Small", "MobileNetV3Large",
    "efficientnet_v2", "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L", "inception_resnet_v2", "InceptionResNetV2",
    "nasnet", "NASNetMobile", "NASNetLarge",
]
