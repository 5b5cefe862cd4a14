"""The layer registry keeps public names for the public classes: a gradflow-internal class (a private
module's, or one defined in a function) and a user's class never take a public layer's name in configs,
also after every application family is built (an application's private Normalization once did)."""
import types

import numpy as np
import pytest

import gradflow as gf
import gradflow.layers.base as layer_base
from gradflow import _registry, applications
from gradflow.saving import serialization

#: the smallest application of each module (the variants share their module's classes and builders)
FAMILIES = [("VGG16", {}), ("VGG19", {}), ("ResNet50", {}), ("ResNet50V2", {}), ("DenseNet121", {}),
            ("MobileNet", {"alpha": 0.25}), ("MobileNetV2", {"alpha": 0.35}),
            ("MobileNetV3Small", {"alpha": 0.75, "minimalistic": True}), ("Xception", {"input_shape": (71, 71, 3)}),
            ("InceptionV3", {"input_shape": (75, 75, 3)}), ("InceptionResNetV2", {"input_shape": (75, 75, 3)}),
            ("NASNetMobile", {}), ("EfficientNetB0", {}), ("EfficientNetV2B0", {}), ("ConvNeXtTiny", {})]


def public_layers():
    return {name: obj for name, obj in vars(gf.layers).items()
            if not name.startswith("_") and isinstance(obj, type) and issubclass(obj, gf.layers.Layer)
            and obj is not gf.layers.Layer}


def check_public_names():
    for name, cls in public_layers().items():
        entry = {"class_name": name, "config": {}}
        assert serialization._lookup_class(entry, None) is cls, name
        assert _registry.find_class(name) is cls, name


@pytest.fixture
def zero_weights(monkeypatch):
    """Weights as zeros: building is what registers, and random initialisation is most of its time."""
    monkeypatch.setattr(layer_base, "initializers",
                        types.SimpleNamespace(get=lambda init: lambda shape, dtype=None: np.zeros(shape, dtype)))


@pytest.mark.parametrize("name,kwargs", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_public_layer_names_after_building_an_application(zero_weights, name, kwargs):
    getattr(applications, name)(include_top=False, weights=None, **{"input_shape": (32, 32, 3), **kwargs})
    check_public_names()


def _subclass(base, module, qualname=None):
    ns = {"__module__": module}
    if qualname:
        ns["__qualname__"] = qualname
    return type(base.__name__, (base,), ns)


@pytest.mark.parametrize("module,qualname", [("gradflow.applications._kfix_probe", None),
                                             ("gradflow.layers.kfix_probe", "make.<locals>.Normalization"),
                                             ("user_module", None)])
def test_internal_and_user_classes_never_shadow(module, qualname):
    public = gf.layers.Normalization
    shadow = _subclass(public, module, qualname)
    assert _registry.is_internal(shadow) == module.startswith("gradflow")
    assert _registry.find_class("Normalization") is public
    check_public_names()


def test_an_internal_class_keeps_a_name_of_its_own():
    own = type("KfixInternalOnly", (gf.layers.Layer,), {"__module__": "gradflow.applications._kfix_probe"})
    assert _registry.find_class("KfixInternalOnly") is own
    public = type("KfixPublicLater", (gf.layers.Layer,), {"__module__": "gradflow.layers.kfix_probe"})
    assert _registry.claim("layers", "KfixInternalOnly", public)  # a public class takes over an internal one
    assert _registry.find_class("KfixInternalOnly") is public
