"""``keras.applications``: reference architectures with Keras's layer names, weight layouts and
parameter counts (VGG16, VGG19, ResNet50, MobileNetV2). ``weights=None`` builds them untrained;
a path loads a weights file; 'imagenet' is a clear error, as gradflow downloads nothing."""
from .mobilenet_v2 import MobileNetV2
from .resnet import ResNet50
from .vgg import VGG16, VGG19

__all__ = ["VGG16", "VGG19", "ResNet50", "MobileNetV2"]
