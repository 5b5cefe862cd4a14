"""Saving and loading models and weights: safetensors inside a zip, no pickle, atomic writes.

``model.save("m.gflow")`` writes a zip holding

* ``config.json``: the architecture (class names + each layer's ``get_config``) and the
  compile settings (optimizer config, loss and metric names);
* ``model.weights.safetensors``: every weight, keyed by its name (``dense/kernel``), with the
  model's weight order in the metadata;
* ``optimizer.safetensors``: the optimizer state (moments, iteration count), so training
  resumes exactly.

``model.save_weights(path)`` writes the weights alone as plain safetensors, whatever the name.
Writes go to a temporary file in the same directory, are fsync'ed and then renamed over the
target, so a crash mid-write leaves the previous file intact. Loads check everything (zip
integrity, JSON, every name/shape/dtype, the optimizer state) before touching a model; any
problem raises :class:`ModelFileError` (a ``ValueError``) and the model stays as it was.
Only registered layer classes, and optimizers/losses/metrics by registered name, are ever
instantiated from a file.
"""
from __future__ import annotations

import io
import json
import os
import struct
import tempfile
import zipfile

import numpy as np

__all__ = [
    "ModelFileError", "save_model", "load_model", "save_weights", "load_weights",
    "atomic_write", "weights_to_bytes", "weights_from_bytes", "FORMAT", "FORMAT_VERSION",
]

FORMAT = "gradflow.model"
FORMAT_VERSION = 1
WEIGHTS_FORMAT = "gradflow.weights"
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.weights.safetensors"
OPTIMIZER_NAME = "optimizer.safetensors"
#: refuse a header larger than this (a foreign or corrupt file, not a real model)
_MAX_HEADER = 100 << 20


class ModelFileError(ValueError):
    """A model or weights file is unreadable, foreign, corrupt or does not match the model."""


# -- atomic writes --------------------------------------------------------------------------
def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, fsync it, then rename it
    over ``path``; on any error the temporary file is removed and ``path`` is untouched."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: the directory {folder!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # the mode a plain open() would have given
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # make the rename itself durable (best effort: not every platform can open a directory)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


# -- safetensors bytes -----------------------------------------------------------------------
def _unique_keys(names) -> list[str]:
    seen: dict[str, int] = {}
    keys = []
    for i, name in enumerate(names):
        key = name or f"weight_{i}"
        if key in seen:
            key = f"{key}#{i}"
        seen[key] = i
        keys.append(key)
    return keys


def weights_to_bytes(names, arrays, kind: str = WEIGHTS_FORMAT, extra: dict | None = None) -> bytes:
    """Safetensors bytes of ``arrays`` keyed by (de-duplicated) ``names``; order in metadata."""
    from safetensors.numpy import save

    keys = _unique_keys(names)
    # np.ascontiguousarray would turn a 0-d array (an iteration count) into shape (1,)
    tensors = {k: np.array(a, order="C", copy=None) for k, a in zip(keys, arrays)}
    metadata = {"format": kind, "order": json.dumps(keys)}
    if extra:
        metadata.update({k: str(v) for k, v in extra.items()})
    return save(tensors, metadata=metadata)


def _header(data: bytes, where: str) -> dict:
    if len(data) < 8:
        raise ModelFileError(f"{where}: not a safetensors file (only {len(data)} bytes)")
    (size,) = struct.unpack("<Q", data[:8])
    if size > min(len(data) - 8, _MAX_HEADER):
        raise ModelFileError(f"{where}: not a safetensors file, or truncated (header of {size} bytes "
                             f"in a file of {len(data)} bytes)")
    try:
        header = json.loads(data[8:8 + size].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{where}: not a safetensors file (unreadable header: {exc})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{where}: not a safetensors file (header is not a JSON object)")
    return header


def weights_from_bytes(data: bytes, where: str, kind: str | None = WEIGHTS_FORMAT):
    """``(keys, arrays, metadata)`` from safetensors bytes, in the stored order."""
    from safetensors.numpy import load

    header = _header(data, where)
    meta = header.get("__metadata__") or {}
    if kind is not None and meta.get("format") not in (None, kind):
        raise ModelFileError(f"{where}: holds {meta.get('format')!r} data, expected {kind!r}")
    try:
        tensors = load(data)
    except Exception as exc:  # SafetensorError: truncated, overlapping, bad dtype...
        raise ModelFileError(f"{where}: corrupt or truncated safetensors data ({exc})") from None
    order = meta.get("order")
    if order is not None:
        try:
            keys = json.loads(order)
        except json.JSONDecodeError:
            raise ModelFileError(f"{where}: the weight order in the metadata is unreadable") from None
        if not isinstance(keys, list) or sorted(keys) != sorted(tensors):
            raise ModelFileError(f"{where}: the weight order in the metadata does not match the stored tensors")
    else:  # a safetensors file from elsewhere: file order (offsets) is the best guess
        entries = {k: v for k, v in header.items() if k != "__metadata__"}
        keys = sorted(entries, key=lambda k: entries[k].get("data_offsets", [0])[0])
    return keys, [tensors[k] for k in keys], meta


def _check_against(params, keys, arrays, where: str, check_names: bool) -> list[np.ndarray]:
    """The arrays cast to each parameter's dtype, after checking count, names, shapes, dtypes."""
    if len(arrays) != len(params):
        raise ModelFileError(f"{where}: holds {len(arrays)} weight arrays but the model has {len(params)} "
                             f"({', '.join(p.name for p in params) or 'none'})")
    out = []
    expected_keys = _unique_keys([p.name for p in params])
    for p, key, want_key, arr in zip(params, keys, expected_keys, arrays):
        if check_names and key != want_key:
            raise ModelFileError(f"{where}: weight {key!r} found where the model has {want_key!r}")
        if tuple(arr.shape) != tuple(p.shape):
            raise ModelFileError(f"{where}: weight {key!r} has shape {tuple(arr.shape)} but the model's "
                                 f"{p.name!r} expects {tuple(p.shape)}")
        if arr.dtype.kind not in "fiub":
            raise ModelFileError(f"{where}: weight {key!r} has non-numeric dtype {arr.dtype}")
        if arr.dtype.kind == "f" and p.dtype.kind == "f" or arr.dtype == p.dtype:
            out.append(arr.astype(p.dtype, copy=False))
        else:
            raise ModelFileError(f"{where}: weight {key!r} has dtype {arr.dtype} but {p.name!r} is {p.dtype}")
    return out


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.dtype):
        return obj.name
    if isinstance(obj, (set, frozenset)):
        return sorted(obj)
    raise TypeError(f"cannot save {type(obj).__name__} {obj!r} in a model config (not JSON-serialisable); "
                    f"give the layer a get_config() that returns plain values")


# -- whole models ---------------------------------------------------------------------------
def _model_weights(model):
    """The parameters in the model's weight order, without duplicates (shared weights)."""
    from ..summary import unique_weights

    return unique_weights(model.weights)


def save_model(model, path) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state) to ``path``."""
    import gradflow

    from .serialization import serialize_keras_object

    if not model.built:
        raise ValueError(f"cannot save model {model.name!r}: it is not built yet; call build(input_shape), "
                         f"fit it, or give the first layer input_shape=")
    params = _model_weights(model)
    compile_cfg = model._compile_config() if getattr(model, "compiled", False) else None
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gradflow_version": gradflow.__version__,
        "model": serialize_keras_object(model),
        "compile": compile_cfg,
        "weights": [{"name": p.name, "shape": list(p.shape), "dtype": p.dtype.name} for p in params],
    }
    config_bytes = json.dumps(config, indent=1, default=_json_default).encode("utf-8")
    weights_bytes = weights_to_bytes([p.name for p in params], [p.numpy() for p in params])
    entries = [(CONFIG_NAME, config_bytes, zipfile.ZIP_DEFLATED), (WEIGHTS_NAME, weights_bytes, zipfile.ZIP_STORED)]
    opt = getattr(model, "optimizer", None)
    if compile_cfg is not None and opt is not None and hasattr(opt, "get_state"):
        train_params = model._optimizer_params()
        state = opt.get_state(train_params)
        names = list(state)
        entries.append((OPTIMIZER_NAME, weights_to_bytes(names, [np.asarray(state[k]) for k in names],
                                                         kind="gradflow.optimizer",
                                                         extra={"class_name": type(opt).__name__}),
                        zipfile.ZIP_STORED))

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:
            for name, data, method in entries:
                _write_entry(zf, name, data, method)

    atomic_write(path, write)


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes, method: int) -> None:
    """One member of the model zip (a seam tests use to simulate a crash mid-save)."""
    zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=method)


def _read_file(path) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f"no model or weights file at {os.fspath(path)!r}") from None


def _open_zip(data: bytes, where: str) -> dict[str, bytes]:
    """The members of a model zip, after checking it is one and that every CRC is right."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelFileError(f"{where}: not a gradflow model file (not a zip archive; truncated or foreign)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise ModelFileError(f"{where}: member {bad!r} is corrupt (CRC mismatch)")
            return {info.filename: zf.read(info) for info in zf.infolist()}
    except ModelFileError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, NotImplementedError) as exc:
        raise ModelFileError(f"{where}: corrupt model archive ({exc})") from None


def _read_config(members: dict, where: str) -> dict:
    if CONFIG_NAME not in members:
        raise ModelFileError(f"{where}: not a gradflow model file (no {CONFIG_NAME}; members: "
                             f"{', '.join(sorted(members)) or 'none'})")
    try:
        config = json.loads(members[CONFIG_NAME].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{where}: {CONFIG_NAME} is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{where}: {CONFIG_NAME} is not a gradflow model config (format "
                             f"{config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{where}: format version {version!r} is newer than this gradflow reads "
                             f"({FORMAT_VERSION}); upgrade gradflow")
    if not isinstance(config.get("model"), dict) or WEIGHTS_NAME not in members:
        raise ModelFileError(f"{where}: incomplete model file (needs the model config and {WEIGHTS_NAME})")
    return config


def _model_from_config(cfg: dict, where: str, custom_objects=None):
    from .serialization import deserialize_keras_object

    try:
        model = deserialize_keras_object(cfg, custom_objects=custom_objects)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{where}: cannot rebuild the model from its config: {type(exc).__name__}: {exc}") from exc
    return model


def load_model(path, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved with ``model.save(path)``: architecture, weights and (when
    ``compile``) its compile settings and optimizer state. ``custom_objects`` maps class names
    to the user's own layer/model classes (or register them with register_keras_serializable)."""
    where = os.fspath(path)
    members = _open_zip(_read_file(path), where)
    config = _read_config(members, where)
    model = _model_from_config(config["model"], where, custom_objects)
    if not model.built:
        raise ModelFileError(f"{where}: the saved model has no input shape, so its weights cannot be restored")
    params = _model_weights(model)
    keys, arrays, _ = weights_from_bytes(members[WEIGHTS_NAME], f"{where}:{WEIGHTS_NAME}")
    values = _check_against(params, keys, arrays, f"{where}:{WEIGHTS_NAME}", check_names=model._stable_weight_names)
    compile_cfg = config.get("compile")
    opt_state = None
    if compile and compile_cfg:
        try:
            model._compile_from_config(compile_cfg)
        except Exception as exc:
            raise ModelFileError(f"{where}: cannot restore the compile settings ({type(exc).__name__}: {exc}); "
                                 f"load with compile=False and compile the model yourself") from exc
        if OPTIMIZER_NAME in members:
            okeys, oarrays, _ = weights_from_bytes(members[OPTIMIZER_NAME], f"{where}:{OPTIMIZER_NAME}",
                                                   kind="gradflow.optimizer")
            opt_state = dict(zip(okeys, oarrays))
    for p, v in zip(params, values):
        p.assign(v)
    if opt_state is not None:
        try:
            model.optimizer.set_state(opt_state, model._optimizer_params())
        except Exception as exc:
            raise ModelFileError(f"{where}: the optimizer state does not fit the model "
                                 f"({type(exc).__name__}: {exc})") from exc
    return model


# -- weights only ---------------------------------------------------------------------------
def save_weights(model, path) -> None:
    """Write the model's weights as plain safetensors (keys = weight names, order in metadata)."""
    if not model.built:
        raise ValueError(f"cannot save the weights of model {model.name!r}: it is not built yet; call "
                         f"build(input_shape) or give the first layer input_shape=")
    params = _model_weights(model)
    data = weights_to_bytes([p.name for p in params], [p.numpy() for p in params])
    atomic_write(path, lambda f: f.write(data))


def load_weights(model, path) -> None:
    """Load weights saved by ``save_weights`` or ``save`` into ``model`` (matched by position;
    every shape checked first, so a mismatch leaves the model untouched)."""
    where = os.fspath(path)
    data = _read_file(path)
    if zipfile.is_zipfile(io.BytesIO(data)):
        members = _open_zip(data, where)
        _read_config(members, where)
        data, where = members[WEIGHTS_NAME], f"{where}:{WEIGHTS_NAME}"
    elif data[:4] == b"PK\x03\x04":
        raise ModelFileError(f"{where}: a truncated or corrupt model archive (zip without its directory)")
    if not model.built:
        raise ValueError(f"cannot load weights into model {model.name!r}: it is not built yet; call "
                         f"build(input_shape) or give the first layer input_shape= first")
    params = _model_weights(model)
    keys, arrays, _ = weights_from_bytes(data, where)
    values = _check_against(params, keys, arrays, where, check_names=False)
    for p, v in zip(params, values):
        p.assign(v)
