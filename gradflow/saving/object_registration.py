"""Which user objects configs may name (Keras 3's ``object_registration``): classes and functions
registered with :func:`register_keras_serializable` under ``"package>Name"``, and those passed as
``custom_objects`` or in a :class:`CustomObjectScope`. They live in gradflow's one registry
(:mod:`gradflow._registry`), beside the built-ins; this module is their Keras-named home.
"""
from __future__ import annotations

from .._registry import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)

__all__ = ["register_keras_serializable", "get_registered_object", "get_registered_name", "CustomObjectScope",
           "custom_object_scope", "get_custom_objects"]
