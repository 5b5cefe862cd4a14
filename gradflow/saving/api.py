"""``save_model``/``load_model`` by file kind: ``.keras`` files are Keras 3's format (so Keras reads
what gradflow writes and the reverse), anything else gradflow's own zip of config + safetensors."""
from __future__ import annotations

import os
import zipfile

from . import saving_lib
from .keras_format import load_keras_model, save_keras_model
from .saving_lib import ModelFileError

__all__ = ["save_model", "load_model"]

_KERAS_MEMBERS = {"metadata.json", "config.json", "model.weights.h5"}
_MAX_KERAS_MEMBER = 8 << 30  # a member larger than this is rejected before it is inflated


def save_model(model, filepath) -> None:
    """Write ``model``: the Keras 3 format for a ``.keras`` path, gradflow's otherwise."""
    if os.fspath(filepath).endswith(".keras"):
        save_keras_model(model, filepath)
    else:
        saving_lib.save_model(model, filepath)


def _keras_members(path):
    """The members of a Keras archive, or None when ``path`` is not one (gradflow's format, or no zip)."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None
    with zf:
        names = {i.filename: i for i in zf.infolist()}
        if not _KERAS_MEMBERS <= set(names):
            return None
        unknown = sorted(set(names) - _KERAS_MEMBERS - {"assets/"} - {n for n in names if n.startswith("assets/")})
        if unknown:
            raise ModelFileError(f"{os.fspath(path)}: unexpected members in a Keras archive: {unknown}")
        for name in _KERAS_MEMBERS:
            if names[name].file_size > _MAX_KERAS_MEMBER:
                raise ModelFileError(f"{os.fspath(path)}: member {name!r} claims {names[name].file_size} bytes, over "
                                     f"the limit of {_MAX_KERAS_MEMBER}")
        try:
            return {name: zf.read(name) for name in _KERAS_MEMBERS}
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ModelFileError(f"{os.fspath(path)}: corrupt Keras archive ({exc})") from None


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A model saved by gradflow (either format) or by Keras 3 (``model.save('m.keras')``)."""
    members = _keras_members(filepath) if os.path.exists(filepath) else None
    if members is not None:
        return load_keras_model(members, os.fspath(filepath), custom_objects=custom_objects, compile=compile)
    return saving_lib.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
