"""Models (Keras 3's split): ``Model`` (model.py), the functional graph (functional.py),
``Sequential`` (sequential.py), fusion as a graph rewrite (fusion.py: the matches; fused_ops.py:
the fused steps), ``clone_model`` (cloning.py).
Training lives in :mod:`gradflow.trainers`, files in :mod:`gradflow.saving`."""
import json

from ..saving.api import load_model
from ..saving.saving_lib import ModelFileError
from ..saving.serialization import deserialize_keras_object
from ..trainers.trainer import NotCompiledError
from .cloning import clone_model
from .functional import Functional
from .fusion import fused_layers as fused_layers  # gradflow.models.fused_layers
from .model import Model
from .sequential import Sequential

__all__ = ["Model", "Sequential", "Functional", "load_model", "model_from_config", "model_from_json", "clone_model",
           "ModelFileError", "NotCompiledError", "save_model"]


def save_model(model, filepath, overwrite: bool = True, **kwargs) -> None:
    """``model.save(filepath)``."""
    model.save(filepath, overwrite=overwrite, **kwargs)


def model_from_config(config: dict, custom_objects=None):
    """A model (or layer) from ``{'class_name': ..., 'config': ...}`` (registered classes only)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"model_from_config: expected {{'class_name': ..., 'config': {{...}}}}, got {config!r}")
    return deserialize_keras_object(config, custom_objects=custom_objects)


def model_from_json(json_string: str, custom_objects=None):
    """Rebuild a model from ``model.to_json()`` (architecture only; weights are fresh)."""
    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model_from_json: not valid JSON ({exc})") from None
    return model_from_config(config, custom_objects=custom_objects)
