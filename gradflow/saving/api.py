"""``save_model``/``load_model`` by file kind: ``.keras`` files are Keras 3's format (so Keras reads
what gradflow writes and the reverse), anything else gradflow's own zip of config + safetensors."""
from __future__ import annotations

import contextlib
import os
import zipfile
import zlib

from . import saving_lib
from .keras_format import load_keras_model, save_keras_model
from .saving_lib import MAX_JSON_BYTES, ModelFileError

__all__ = ["save_model", "load_model"]

_KERAS_MEMBERS = {"metadata.json", "config.json", "model.weights.h5"}


def save_model(model, filepath) -> None:
    """Write ``model``: the Keras 3 format for a ``.keras`` path, gradflow's otherwise."""
    if os.fspath(filepath).endswith(".keras"):
        save_keras_model(model, filepath)
    else:
        saving_lib.save_model(model, filepath)


class _WeightsMember:
    """The ``model.weights.h5`` member of an open Keras archive, read only once its limit is known."""

    def __init__(self, zf: zipfile.ZipFile, info: zipfile.ZipInfo, where: str):
        self.zf, self.info, self.where = zf, info, where
        self.size = info.file_size

    def __call__(self, limit: int) -> bytes:
        return _read_member(self.zf, self.info, limit, self.where, "for this model's weights and optimizer state")


def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, where: str, why: str) -> bytes:
    """A member's bytes, refused before inflating when its declared size is over ``limit``, and never inflating
    more than that size (a member whose data runs past its declared size is corrupt)."""
    if info.file_size > limit:
        raise ModelFileError(f"{where}: member {info.filename!r} is {info.file_size} bytes uncompressed, over the "
                             f"limit of {limit} bytes {why}")
    try:
        with zf.open(info) as member:
            data = member.read(info.file_size)
            if member.read(1):
                raise ModelFileError(f"{where}: member {info.filename!r} holds more than the {info.file_size} bytes "
                                     f"its directory entry says")
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, zlib.error) as exc:
        raise ModelFileError(f"{where}: corrupt Keras archive ({type(exc).__name__}: {exc})") from None
    return data


@contextlib.contextmanager
def _keras_members(path):
    """The members of a Keras archive, or None when ``path`` is not one (gradflow's format, or no zip):
    the JSON members read (bounded), the weights member as a reader that waits for its limit."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        yield None
        return
    with zf:
        names = {i.filename: i for i in zf.infolist()}
        if not _KERAS_MEMBERS <= set(names):
            yield None
            return
        where = os.fspath(path)
        unknown = sorted(set(names) - _KERAS_MEMBERS - {"assets/"} - {n for n in names if n.startswith("assets/")})
        if unknown:
            raise ModelFileError(f"{where}: unexpected members in a Keras archive: {unknown}")
        members = {name: _read_member(zf, names[name], MAX_JSON_BYTES, where, "for a model config")
                   for name in ("config.json", "metadata.json")}
        members["model.weights.h5"] = _WeightsMember(zf, names["model.weights.h5"], where)
        yield members


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A model saved by gradflow (either format) or by Keras 3 (``model.save('m.keras')``)."""
    if os.path.exists(filepath):
        with _keras_members(filepath) as members:
            if members is not None:
                return load_keras_model(members, os.fspath(filepath), custom_objects=custom_objects,
                                        compile=compile)
    return saving_lib.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
