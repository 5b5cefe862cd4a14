"""Objects to and from configs, Keras 3 style: ``{"module", "class_name", "config", "registered_name"}``.

Only classes gradflow knows are ever instantiated: its own layers and models, classes a user
registered with :func:`register_keras_serializable` (under ``"package>Name"``), classes passed
in ``custom_objects`` (or an active :class:`CustomObjectScope`), and, as a fallback, Layer
subclasses defined in the running program (never anything named by a file alone).
"""
from __future__ import annotations

import difflib
import inspect

from .._registry import (  # noqa: F401
    CustomObjectScope,
    custom_object_scope,
    find_class,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    registered,
    registered_name,
)
from .layer_hooks import overrides

__all__ = ["register_keras_serializable", "get_registered_object", "get_registered_name", "CustomObjectScope",
           "custom_object_scope", "get_custom_objects", "serialize_keras_object", "deserialize_keras_object"]

def _serialize_values(value):
    """A config's values with any layer or other configurable object in it serialized too."""
    if isinstance(value, dict):
        return {k: _serialize_values(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_serialize_values(v) for v in value)
    if hasattr(value, "get_config") and not isinstance(value, type):
        return serialize_keras_object(value)
    return value


def serialize_keras_object(obj) -> dict:
    """``{"module", "class_name", "config", "registered_name"}`` of a layer, model, regularizer,
    initializer, loss, metric or optimizer (anything with ``get_config``); objects inside the
    config (a layer passed to another's constructor) are serialized as well."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    cls = type(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"cannot serialize {obj!r}: {cls.__name__} has no get_config()")
    registered = registered_name(cls)
    entry = {"module": cls.__module__, "class_name": cls.__name__, "config": _serialize_values(obj.get_config()),
             "registered_name": registered or cls.__name__}
    if _builds_from_config(obj):
        cfg = obj.get_build_config()
        if cfg is not None:
            entry["build_config"] = cfg
    return entry


def _builds_from_config(obj) -> bool:
    """Whether ``obj``'s build config is saved and used on load: models, and the user's own layers (Keras
    saves every layer's; gradflow's built-in layers are built again by the graph that calls them)."""
    if not callable(getattr(obj, "get_build_config", None)):
        return False
    if overrides(obj, "get_build_config") or overrides(obj, "build_from_config"):
        return True
    return not type(obj).__module__.startswith("gradflow.")


def _lookup_class(entry: dict, custom_objects):
    """The class a config entry names: the user's objects first, then gradflow's registry."""
    class_name, registered = entry.get("class_name"), entry.get("registered_name")
    if not isinstance(class_name, str):
        raise ValueError(f"a config entry needs a 'class_name' string, got {entry!r}")
    for name in (registered, class_name):
        if name:
            obj = get_registered_object(name, custom_objects)
            if obj is not None:
                return obj
    found = find_class(class_name)
    if found is not None and hasattr(found, "from_config"):
        return found
    raise ValueError(f"unknown layer class {class_name!r}{_close_layer(class_name)}. If it is your own class, "
                     f"decorate it with @keras.saving.register_keras_serializable() or pass custom_objects="
                     f"{{{class_name!r}: {class_name}}}")


def _close_layer(name: str) -> str:
    close = difflib.get_close_matches(name, list(registered("layers")), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def deserialize_keras_object(entry: dict, custom_objects=None):
    """The layer or model a ``serialize_keras_object`` entry describes (registered classes only)."""
    if not isinstance(entry, dict):
        raise ValueError(f"expected a {{'class_name': ..., 'config': {{...}}}} entry, got {entry!r}")
    cls = _lookup_class(entry, custom_objects)
    config = entry.get("config") or {}
    if not isinstance(config, dict):
        raise ValueError(f"the config of {entry.get('class_name')!r} must be a dict")
    with CustomObjectScope(custom_objects or {}):  # models' from_config rebuild graphs; custom classes resolve
        if "custom_objects" in _params(cls.from_config):
            obj = cls.from_config(dict(config), custom_objects=custom_objects)
        else:
            obj = cls.from_config(dict(config))
    build = entry.get("build_config")
    if build and _builds_from_config(obj) and not getattr(obj, "built", False):
        obj.build_from_config(build)
    return obj


def _params(fn):
    try:
        return inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
