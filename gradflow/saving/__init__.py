"""Saving: model files (zip of config + safetensors, never pickle) and Keras-style object registration."""
from .api import (  # noqa: F401 - .keras/.weights.h5 files in Keras 3's format, others gradflow's
    load_model,
    load_weights,
    save_model,
    save_weights,
)
from .layer_hooks import SavingHooks  # noqa: F401 - the hooks every Layer has
from .saving_lib import (  # noqa: F401
    FORMAT,
    FORMAT_VERSION,
    ModelFileError,
    atomic_write,
    weights_from_bytes,
    weights_to_bytes,
)
from .serialization import (  # noqa: F401
    CustomObjectScope,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
    serialize_keras_object,
)

__all__ = ["save_model", "load_model", "save_weights", "load_weights", "ModelFileError", "atomic_write",
           "register_keras_serializable", "get_registered_object", "get_registered_name", "CustomObjectScope",
           "custom_object_scope", "get_custom_objects", "serialize_keras_object", "deserialize_keras_object",
           "FORMAT", "FORMAT_VERSION", "weights_to_bytes", "weights_from_bytes"]
