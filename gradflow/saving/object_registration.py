"""Which user objects configs may name (Keras 3's ``object_registration``): classes and functions
registered with :func:`register_keras_serializable` under ``"package>Name"``, and those passed as
``custom_objects`` or in a :class:`CustomObjectScope`. Imports nothing of gradflow, so any module
(activations, initializers...) can look names up here.
"""
from __future__ import annotations

import threading

__all__ = ["register_keras_serializable", "get_registered_object", "get_registered_name", "CustomObjectScope",
           "custom_object_scope", "get_custom_objects"]

_GLOBAL_CUSTOM_OBJECTS: dict[str, object] = {}
_GLOBAL_CUSTOM_NAMES: dict[object, str] = {}
_SCOPE = threading.local()


def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: register a class (or function) for loading under ``"package>name"``."""
    def decorator(obj):
        key = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: {obj.__name__} needs a get_config() method")
        _GLOBAL_CUSTOM_OBJECTS[key] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = key
        return obj

    return decorator


def get_registered_name(obj) -> str:
    return _GLOBAL_CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_custom_objects() -> dict:
    """The global registry of custom objects (mutable, as Keras's)."""
    return _GLOBAL_CUSTOM_OBJECTS


class CustomObjectScope:
    """``with CustomObjectScope({"MyLayer": MyLayer}): load_model(...)``."""

    def __init__(self, *objects):
        self.objects = {}
        for mapping in objects:
            self.objects.update(mapping or {})

    def __enter__(self):
        stack = getattr(_SCOPE, "stack", None)
        if stack is None:
            stack = _SCOPE.stack = []
        stack.append(self.objects)
        return self

    def __exit__(self, *exc):
        _SCOPE.stack.pop()
        return False


custom_object_scope = CustomObjectScope


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects: dict | None = None):
    """The object called ``name`` in custom_objects, the active scopes, the registry or ``module_objects``."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for scope in reversed(getattr(_SCOPE, "stack", None) or []):
        if name in scope:
            return scope[name]
    if name in _GLOBAL_CUSTOM_OBJECTS:
        return _GLOBAL_CUSTOM_OBJECTS[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


