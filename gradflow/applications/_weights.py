"""Keras's published ImageNet weights: fetched once into a cache (hash checked, written atomically) and
read from their Keras-2 ("legacy") h5 layout: ``layer_names`` at the root, each layer's ``weight_names``
in Keras's order (trainable weights, then the others), matched to the model's weighted layers in order
as Keras's own loader matches them."""
from __future__ import annotations

import hashlib
import os
import urllib.error
from pathlib import Path

import numpy as np

from ..datasets._files import download

__all__ = ["cache_dir", "fetch", "load_legacy_h5", "is_legacy_h5", "WeightsUnavailableError"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights that are neither in the cache nor downloadable (offline, or a bad download)."""


WeightsUnavailableError.__module__ = "gradflow.applications"


def cache_dir() -> Path:
    """Where downloaded weights live: ``$GRADFLOW_MODELS`` or ``~/.gradflow/models``."""
    return Path(os.environ.get("GRADFLOW_MODELS") or "~/.gradflow/models").expanduser()


def _digest(path: Path, file_hash: str) -> str:
    h = hashlib.sha256() if len(file_hash) == 64 else hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(fname: str, origin: str, file_hash: str | None, what: str) -> Path:
    """``cache_dir()/fname``, downloaded from ``origin`` when missing; its MD5 or SHA-256 (Keras's
    ``file_hash``) is checked either way, and a file that does not match is never used (Keras publishes no
    hash for a few files, MobileNetV2's: those are used as found)."""
    target = cache_dir() / fname
    if not target.is_file():
        try:
            download(origin, target, None)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            raise WeightsUnavailableError(
                f"{what}(weights='imagenet'): {fname} is not in {target.parent} and cannot be downloaded from "
                f"{origin} ({exc}). Download it elsewhere and place it there (or set $GRADFLOW_MODELS), pass "
                f"weights='/path/to/{fname}', or build the model with weights=None") from None
    if file_hash is None:
        return target
    actual = _digest(target, file_hash)
    if actual != file_hash.lower():
        raise WeightsUnavailableError(
            f"{what}(weights='imagenet'): {target} has hash {actual}, expected Keras's published "
            f"{file_hash.lower()}; delete it to download it again")
    return target


def is_legacy_h5(path) -> bool:
    """A Keras-2 whole-model or weights h5 (``layer_names`` at the root or under ``model_weights``)."""
    with open(path, "rb") as fh:
        if fh.read(len(_HDF5_MAGIC)) != _HDF5_MAGIC:
            return False
    h5py = _h5py()
    with h5py.File(path, "r") as f:
        return "layer_names" in f.attrs or ("model_weights" in f and "layer_names" in f["model_weights"].attrs)


def _h5py():
    try:
        import h5py  # noqa: PLC0415 - optional dependency, needed only for h5 weight files
    except ImportError as exc:  # pragma: no cover - h5py is installed with gradflow's keras extra
        raise ImportError("reading Keras's h5 weight files needs h5py (pip install h5py)") from exc
    return h5py


def _text(v) -> str:
    return v.decode("utf8") if isinstance(v, bytes) else str(v)


def load_legacy_h5(model, path) -> None:
    """Load a Keras-2 layout h5 into ``model``: every value is read and shape-checked before any changes."""
    h5py = _h5py()
    where = os.fspath(path)
    with h5py.File(path, "r") as f:
        root = f["model_weights"] if "layer_names" not in f.attrs and "model_weights" in f else f
        saved = []
        for layer_name in (_text(n) for n in root.attrs["layer_names"]):
            group = root[layer_name]
            names = [_text(n) for n in group.attrs.get("weight_names", [])]
            if names:
                saved.append((layer_name, [np.asarray(group[n]) for n in names]))
    layers = [layer for layer in _flat_layers(model) if layer.weights]
    if len(saved) != len(layers):
        raise ValueError(f"{where}: the file has weights for {len(saved)} layers, the model {model.name!r} has "
                         f"{len(layers)} layers with weights")
    # by name where the names agree; the rest (auto-named layers, whose numbering depends on the session
    # that wrote the file) in order, as Keras's loader pairs all of them
    by_name = {layer.name: layer for layer in layers}
    file_names = {layer_name for layer_name, _ in saved}
    rest = iter([layer for layer in layers if layer.name not in file_names])
    pairs = [(by_name[n] if n in by_name else next(rest), (n, values)) for n, values in saved]
    plan = []
    for layer, (layer_name, values) in pairs:
        variables = list(layer.trainable_weights) + list(layer.non_trainable_weights)
        if len(values) != len(variables):
            raise ValueError(f"{where}: layer {layer_name!r} has {len(values)} weights in the file, the model's "
                             f"layer {layer.name!r} has {len(variables)}")
        for var, value in zip(variables, values):
            if tuple(var.shape) != tuple(value.shape):
                raise ValueError(f"{where}: layer {layer_name!r}: a weight of shape {tuple(value.shape)} in the "
                                 f"file, {tuple(var.shape)} in the model's layer {layer.name!r}")
            plan.append((var, value))
    for var, value in plan:
        var.assign(value)


def _flat_layers(model):
    return list(model.layers)
