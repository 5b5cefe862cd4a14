"""Objects to and from configs, Keras 3 style: ``{"module", "class_name", "config", "registered_name"}``.

Only classes gradflow knows are ever instantiated: its own layers and models, classes a user
registered with :func:`register_keras_serializable` (under ``"package>Name"``), classes passed
in ``custom_objects`` (or an active :class:`CustomObjectScope`), and, as a fallback, Layer
subclasses defined in the running program (never anything named by a file alone).
"""
from __future__ import annotations

import difflib
import inspect
import types

import numpy as np

from .._registry import (  # noqa: F401
    CustomObjectScope,
    custom_object_scope,
    find,
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


_FUNCTION_KINDS = ("activations", "losses", "metrics")  # where a built-in function entry is looked up


def _serialize_function(fn) -> dict:
    """A function as Keras 3 writes one: by its registered name (``"package>name"``), or, for gradflow's
    own functions, by name under the matching ``keras.*`` module."""
    registered = registered_name(fn)
    module = getattr(fn, "__module__", None) or "builtins"
    if registered is None:
        if getattr(fn, "__name__", "<lambda>") == "<lambda>" or not module.startswith("gradflow."):
            raise TypeError(f"cannot serialize the function {fn!r}: register it with "
                            f"@keras.saving.register_keras_serializable() (lambdas cannot be saved)")
        parts = module.split(".")
        module = f"keras.{parts[1]}" if len(parts) > 1 else "keras"
        return {"module": module, "class_name": "function", "config": fn.__name__, "registered_name": fn.__name__}
    return {"module": module, "class_name": "function", "config": registered, "registered_name": registered}


def serialize_keras_object(obj):
    """``{"module", "class_name", "config", "registered_name"}`` of a layer, model, regularizer,
    initializer, loss, metric or optimizer (anything with ``get_config``); objects inside the
    config (a layer passed to another's constructor) are serialized as well. As in Keras, plain values
    stay as they are, lists and dicts are serialized item by item, NumPy scalars become Python numbers
    and registered functions ``{"class_name": "function", "config": "package>name", ...}``."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_keras_object(v) for v in obj]
    if isinstance(obj, dict):
        return {k: serialize_keras_object(v) for k, v in obj.items()}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": obj.tolist(), "dtype": obj.dtype.name}}
    if isinstance(obj, (types.FunctionType, types.BuiltinFunctionType)):
        return _serialize_function(obj)
    cls = type(obj)
    if not hasattr(obj, "get_config"):
        raise TypeError(f"cannot serialize {obj!r}: {cls.__name__} has no get_config()")
    registered = registered_name(cls)
    entry = {"module": _keras_module(cls), "class_name": cls.__name__, "config": _serialize_values(obj.get_config()),
             "registered_name": registered or cls.__name__}
    if _builds_from_config(obj):
        cfg = obj.get_build_config()
        if cfg is not None:
            entry["build_config"] = cfg
    return entry


#: gradflow's subpackage -> the Keras module that exports the same class (so Keras loads gradflow's entries)
_KERAS_MODULES = {"layers": "keras.layers", "optimizers": "keras.optimizers", "losses": "keras.losses",
                  "metrics": "keras.metrics", "initializers": "keras.initializers",
                  "regularizers": "keras.regularizers", "constraints": "keras.constraints",
                  "schedules": "keras.optimizers.schedules", "dtype_policies": "keras.dtype_policies"}


def _keras_module(cls) -> str | None:
    """``keras.<namespace>`` for gradflow's own classes (Keras 3 writes its public module), else the class's."""
    parts = cls.__module__.split(".")
    if parts[0] == "gradflow" and len(parts) > 1 and registered_name(cls) is None:
        return _KERAS_MODULES.get(parts[1], cls.__module__)
    return None if cls.__module__ == "__main__" else cls.__module__  # Keras: no module for a script's class


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


def _deserialize_function(entry: dict, custom_objects):
    name = entry.get("config")
    if not isinstance(name, str):
        raise TypeError(f"a function entry needs its name as 'config', got {entry!r}")
    for key in (name, entry.get("registered_name")):
        if isinstance(key, str):
            found = get_registered_object(key, custom_objects)
            if found is not None:
                return found
    module = str(entry.get("module") or "")
    if module == "builtins" or module.split(".")[0] in ("keras", "gradflow"):
        for kind in _FUNCTION_KINDS:
            found = find(kind, name)
            if found is not None:
                return found
    raise TypeError(f"could not locate the function {name!r}: register it with "
                    f"@keras.saving.register_keras_serializable() or pass custom_objects={{{name!r}: ...}}")


def deserialize_keras_object(entry, custom_objects=None):
    """The object a ``serialize_keras_object`` entry describes (registered classes and functions only).
    As in Keras, None and plain values come back as they are (a string the user registered, or passed in
    ``custom_objects``, is that object), lists item by item, and dicts that are no entry key by key."""
    if entry is None:
        return None
    if isinstance(entry, str):
        found = get_registered_object(entry, custom_objects)
        return entry if found is None else found
    if isinstance(entry, (bool, int, float)):
        return entry
    if isinstance(entry, (list, tuple)):
        return [deserialize_keras_object(v, custom_objects) for v in entry]
    if not isinstance(entry, dict):
        raise ValueError(f"expected a {{'class_name': ..., 'config': {{...}}}} entry, got {entry!r}")
    if "class_name" not in entry or "config" not in entry:
        return {k: deserialize_keras_object(v, custom_objects) for k, v in entry.items()}
    if entry["class_name"] == "function":
        return _deserialize_function(entry, custom_objects)
    if entry["class_name"] == "__numpy__":
        config = entry["config"] or {}
        return np.asarray(config.get("value"), dtype=config.get("dtype"))
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
