"""``keras.applications``: the reference architectures (VGG16, ResNet50, MobileNetV2...).

Not in gradflow yet: each name raises an error that says so, instead of an AttributeError
deep inside a ported program.
"""

_PLANNED = ("VGG16", "VGG19", "ResNet50", "MobileNetV2")


def __getattr__(name):
    if name in _PLANNED:
        raise NotImplementedError(f"gradflow.applications.{name} is not available in this version of gradflow; "
                                  f"build the architecture with gradflow.layers, or use Keras for now")
    raise AttributeError(f"module 'gradflow.applications' has no attribute {name!r}")
