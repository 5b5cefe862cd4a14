"""``save_model``/``load_model`` by file kind: ``.keras`` files are Keras 3's format (so Keras reads
what gradflow writes and the reverse), anything else gradflow's own zip of config + safetensors.
``save_weights``/``load_weights`` likewise: ``*.weights.h5`` is Keras 3's layout (h5py), a ``.keras``
file gives its weights, anything else is safetensors (or a gradflow model file). Loading goes by content
(an HDF5 signature, a Keras archive's members), so any name works there."""
from __future__ import annotations

import contextlib
import os
import zipfile
import zlib

from . import saving_lib
from .keras_format import load_keras_model, load_keras_weights, save_keras_model, save_keras_weights
from .saving_lib import _MAX_ASSETS, ASSETS_DIR, MAX_JSON_BYTES, ModelFileError, _check_asset_name

__all__ = ["save_model", "load_model", "save_weights", "load_weights"]

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
        assets = [info for name, info in names.items() if name.startswith(ASSETS_DIR) and not name.endswith("/")]
        for info in assets:
            _check_asset_name(info.filename, where)
        total = sum(info.file_size for info in assets)
        if total > _MAX_ASSETS:
            raise ModelFileError(f"{where}: the asset files take {total} bytes uncompressed, over the limit of "
                                 f"{_MAX_ASSETS} bytes")
        members["assets"] = _asset_extractor(zf, assets, where)
        yield members


def _asset_extractor(zf: zipfile.ZipFile, assets: list, where: str):
    """``extract(folder)``: a Keras archive's ``assets/`` files (names checked, sizes bounded) below ``folder``,
    where the layers' ``load_assets`` hooks read them."""
    def extract(folder: str) -> None:
        for info in assets:
            target = os.path.join(folder, *info.filename[len(ASSETS_DIR):].split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(_read_member(zf, info, _MAX_ASSETS, where, "for the asset files"))
    return extract


def load_model(filepath, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """A model saved by gradflow (either format) or by Keras 3 (``model.save('m.keras')``)."""
    if os.path.exists(filepath):
        with _keras_members(filepath) as members:
            if members is not None:
                return load_keras_model(members, os.fspath(filepath), custom_objects=custom_objects,
                                        compile=compile)
    return saving_lib.load_model(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)


_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def save_weights(model, filepath) -> None:
    """``model.save_weights``: Keras 3's h5 layout for ``*.weights.h5`` (the name Keras's ``save_weights``
    takes; Keras reads the file), safetensors for any other name (``*.weights.safetensors``)."""
    if os.fspath(filepath).lower().endswith(".weights.h5"):
        save_keras_weights(model, filepath)
    elif os.fspath(filepath).endswith(".keras"):
        raise ValueError(f"save_weights: {os.fspath(filepath)!r} is a whole-model name; use model.save() for "
                         f"a .keras file, or a name ending in .weights.h5 (Keras's layout) or .weights.safetensors")
    else:
        saving_lib.save_weights(model, filepath)


def _h5_reader(path, where: str):
    def read(limit: int) -> bytes:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise ModelFileError(f"{where}: {size} bytes, over the limit of {limit} bytes for this model's "
                                     f"weights (and optimizer state)")
            data = f.read(size + 1)
        if len(data) != size:
            raise ModelFileError(f"{where}: the file changed size while being read")
        return data
    return read


def load_weights(model, filepath) -> None:
    """``model.load_weights``: a Keras ``.weights.h5`` file, the weights of a ``.keras`` file (Keras's or
    gradflow's), or gradflow's safetensors / model file. Nothing changes unless everything fits."""
    where = os.fspath(filepath)
    if os.path.isfile(filepath):
        with open(filepath, "rb") as f:
            magic = f.read(len(_HDF5_MAGIC))
        if magic == _HDF5_MAGIC:
            load_keras_weights(model, _h5_reader(filepath, where), where)
            return
        with _keras_members(filepath) as members:
            if members is not None:
                load_keras_weights(model, members["model.weights.h5"], where, assets=members["assets"])
                return
    saving_lib.load_weights(model, filepath)
