"""``keras.utils.legacy``: Keras 2's object serialization, ``{"class_name": ..., "config": ...}`` entries
(no ``module``/``registered_name``), which Keras 3 still reads and writes through these two functions."""
from __future__ import annotations

import inspect

from .._registry import CustomObjectScope, find_class, get_registered_name, get_registered_object

__all__ = ["serialize_keras_object", "deserialize_keras_object"]


def serialize_keras_object(instance):
    """``{"class_name": registered name, "config": get_config()}`` with the config's objects serialized the
    same way (marked ``__passive_serialization__``); a function gives its registered name; None gives None."""
    instance = inspect.unwrap(instance) if callable(instance) else instance
    if instance is None:
        return None
    if hasattr(instance, "get_config"):
        config = {}
        for key, item in instance.get_config().items():
            if isinstance(item, str):
                config[key] = item
                continue
            try:
                serialized = serialize_keras_object(item)
            except ValueError:
                config[key] = item
                continue
            if isinstance(serialized, dict) and not isinstance(item, dict):
                serialized["__passive_serialization__"] = True
            config[key] = serialized
        return {"class_name": get_registered_name(type(instance)), "config": config}
    if hasattr(instance, "__name__"):
        return get_registered_name(instance)
    raise ValueError(f"Cannot serialize {instance} because it doesn't implement `get_config()`.")


def _lookup(name, module_objects, custom_objects, printable_module_name):
    obj = get_registered_object(name, custom_objects, module_objects)
    if obj is None:
        obj = find_class(name)  # gradflow's own classes, which Keras passes as module_objects
    if obj is None:
        raise ValueError(f"Unknown {printable_module_name}: '{name}'. Please ensure you are using a "
                         "`keras.utils.custom_object_scope` and that this object is included in the scope.")
    return obj


def deserialize_keras_object(identifier, module_objects=None, custom_objects=None, printable_module_name="object"):
    """The object a Keras 2 entry (or a registered name) describes; ``module_objects`` and ``custom_objects``
    map names to classes and functions (gradflow's own classes are found without them)."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        if "class_name" not in identifier or "config" not in identifier:
            raise ValueError(f"Improper config format for {identifier}. Expecting python dict contains `class_name` "
                             "and `config` as keys")
        cls = _lookup(identifier["class_name"], module_objects, custom_objects, printable_module_name)
        config = identifier["config"]
        if isinstance(config, dict):
            config = dict(config)
            for key, item in config.items():
                if key != "name" and isinstance(item, dict) and "__passive_serialization__" in item:
                    config[key] = deserialize_keras_object(item, module_objects, custom_objects, "config_item")
        custom_objects = custom_objects or {}
        if hasattr(cls, "from_config"):
            if "custom_objects" in inspect.signature(cls.from_config).parameters:
                return cls.from_config(config, custom_objects=custom_objects)
            with CustomObjectScope(custom_objects):
                return cls.from_config(config)
        with CustomObjectScope(custom_objects):
            return cls(**config)
    if isinstance(identifier, str):
        obj = _lookup(identifier, module_objects, custom_objects, printable_module_name)
        return obj() if inspect.isclass(obj) else obj
    if inspect.isfunction(identifier):
        return identifier
    raise ValueError(f"Could not interpret serialized {printable_module_name}: {identifier}")
