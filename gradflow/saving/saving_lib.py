"""Saving and loading models and weights: safetensors inside a zip, no pickle, atomic writes.

``model.save("m.gflow")`` writes a zip holding

* ``config.json``: the architecture (class names + each layer's ``get_config``) and the
  compile settings (optimizer config, loss and metric names);
* ``model.weights.safetensors``: every weight, keyed by its name (``dense/kernel``), with the
  model's weight order in the metadata;
* ``optimizer.safetensors``: the optimizer state (moments, iteration count), so training
  resumes exactly;
* ``hooks.safetensors`` and ``assets/...`` (only when the model has layers of the user's that define
  Keras's ``save_own_variables`` / ``save_assets`` hooks): what those hooks stored, keyed by the
  layer's Keras path (``<path>/vars/<key>``, ``assets/<path>/<file>``), handed back to
  ``load_own_variables`` / ``load_assets`` on load.

``model.save_weights(path)`` writes the weights alone as plain safetensors (any name but
``*.weights.h5``, which gets Keras 3's h5 layout: see :mod:`.api`); plain safetensors carry no
hook state.
Writes go to a temporary file in the same directory, are fsync'ed and then renamed over the
target, so a crash mid-write leaves the previous file intact; the target keeps its permission
bits, and temporary files of earlier killed saves of it are removed. Loads check everything (zip
integrity, JSON, every name/shape/dtype, the optimizer state) before touching a model (a load
hook that fails puts every weight back); any problem raises :class:`ModelFileError` (a
``ValueError``) naming the file, the member and the limit, and the model stays as it was. Only
registered layer classes, and optimizers/losses/metrics by registered name, are ever
instantiated from a file.

Reading is bounded by what the model needs: the zip's directory is checked first (only the
members above, asset names that stay inside their folder, sizes within their limits, nothing else
inflated), safetensors headers are checked against their member's size before any tensor is
read, the model is rebuilt under a budget of the values its file stores (a config claiming larger
layers is refused before their weights exist), and its shapes are compared with the stored ones
before the tensor data is read.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import re
import stat
import struct
import tempfile
import threading
import time
import zipfile
import zlib

import numpy as np

from .._version import __version__
from ..distribution import writes_files
from ..summary import unique_weights
from .layer_hooks import overrides, user_defines
from .serialization import deserialize_keras_object, serialize_keras_object
from .walk import join, saveables

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

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
#: what the user's layers' ``save_own_variables`` hooks stored (keys ``<layer path>/vars/<key>``)
HOOKS_NAME = "hooks.safetensors"
#: the folder of the files the user's layers' ``save_assets`` hooks wrote (``assets/<layer path>/...``)
ASSETS_DIR = "assets/"
#: the most the hooks' arrays, and all asset files together, may inflate to
_MAX_HOOKS = 1 << 30
_MAX_ASSETS = 1 << 30
#: refuse a safetensors header larger than this (a foreign or corrupt file, not a real model)
_MAX_HEADER = 16 << 20
#: ``WEIGHT_GUARD.check(layer, shape)``, where this thread sets one, sees every weight before
#: ``Layer.add_weight`` creates it (loading a model file charges them against what the file stores)
WEIGHT_GUARD = threading.local()


class ModelFileError(ValueError):
    """A model or weights file is unreadable, foreign, corrupt or does not match the model."""


# -- atomic writes --------------------------------------------------------------------------
#: ``tempfile.mkstemp``'s random part: 8 characters of this alphabet
_TMP_RANDOM = re.compile(r"[a-z0-9_]{8}")


def _remove_stale_temps(folder: str, base: str) -> None:
    """Delete the ``.<base>.XXXXXXXX.tmp`` files an earlier, killed save of the same target left in
    ``folder``. A save holds an exclusive ``flock`` on its temporary file while it writes, so a file
    that can be locked belongs to no live save (the lock goes with the process); other targets'
    temporary files, and those of saves still running, are left alone."""
    prefix, suffix = "." + base + ".", ".tmp"
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if not (name.startswith(prefix) and name.endswith(suffix)
                and _TMP_RANDOM.fullmatch(name[len(prefix):-len(suffix)])):
            continue
        stale = os.path.join(folder, name)
        try:
            fd = os.open(stale, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError:
            continue
        try:
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    continue  # a save in progress (in this or another process)
            elif time.time() - os.fstat(fd).st_mtime < 24 * 3600:
                continue  # no locks here: only day-old leftovers count as stale
            try:
                os.unlink(stale)
            except OSError:
                pass
        finally:
            os.close(fd)


def atomic_write(path, write) -> None:
    """Call ``write(fileobj)`` on a temporary file next to ``path``, fsync it, then rename it
    over ``path``; on any error the temporary file is removed and ``path`` is untouched.

    The new file keeps the permission bits of the one it replaces (a new target gets the mode a
    plain ``open()`` gives, i.e. 0o666 less the umask), and temporary files that an earlier save of
    the same target left behind when it was killed are removed first. In a data-parallel job only
    rank 0 writes (``gradflow.distribution.writes_files``): elsewhere this does nothing."""
    if not writes_files():
        return
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: the directory {folder!r} does not exist")
    base = os.path.basename(path)
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:  # no such file yet (or unreadable): what open() would give
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    _remove_stale_temps(folder, base)
    fd, tmp = tempfile.mkstemp(prefix="." + base + ".", suffix=".tmp", dir=folder)
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)  # released when the file is closed or the process dies
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
            if fcntl is not None:  # rename while still locked, so no cleaner can take the file first
                os.chmod(tmp, mode)
                os.replace(tmp, path)
        if fcntl is None:
            os.chmod(tmp, mode)
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
    from safetensors.numpy import save  # noqa: PLC0415 - safetensors loads on the first write, not with the layers

    keys = _unique_keys(names)
    # np.ascontiguousarray would turn a 0-d array (an iteration count) into shape (1,)
    tensors = {k: np.array(a, order="C", copy=None) for k, a in zip(keys, arrays)}
    metadata = {"format": kind, "order": json.dumps(keys)}
    if extra:
        metadata.update({k: str(v) for k, v in extra.items()})
    return save(tensors, metadata=metadata)


#: safetensors dtype codes gradflow reads, and their NumPy dtypes (all little-endian)
_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


class _Header:
    """A validated safetensors header: every tensor's dtype, shape and byte range, checked against
    each other and against the size of the data that follows, before any tensor is read."""

    __slots__ = ("keys", "entries", "meta", "offset", "size")

    def __init__(self, keys, entries, meta, offset, size):
        self.keys, self.entries, self.meta, self.offset, self.size = keys, entries, meta, offset, size

    @property
    def elements(self) -> int:
        return sum(math.prod(shape) for _, shape, _, _ in self.entries.values())

    def specs(self) -> list:
        """``(shape, dtype)`` of every tensor in the stored order."""
        return [(self.entries[k][1], self.entries[k][0]) for k in self.keys]


def _parse_header(prefix: bytes, size: int, where: str, kind: str | None, max_header: int) -> _Header:
    """The header of a safetensors blob of ``size`` bytes whose first bytes are ``prefix`` (at least
    the 8-byte length and the header itself; shorter raises a clear error)."""
    if size < 8 or len(prefix) < 8:
        raise ModelFileError(f"{where}: not a safetensors file (only {min(size, len(prefix))} bytes)")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > size - 8:
        raise ModelFileError(f"{where}: not a safetensors file, or truncated (header of {n} bytes "
                             f"in a file of {size} bytes)")
    if n > max_header:
        raise ModelFileError(f"{where}: safetensors header of {n} bytes is over the limit of {max_header} bytes "
                             f"(a foreign or corrupt file, not a model's weights)")
    if len(prefix) < 8 + n:
        raise ModelFileError(f"{where}: truncated safetensors header ({len(prefix) - 8} of {n} bytes)")
    try:
        header = json.loads(prefix[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{where}: not a safetensors file (unreadable header: {exc})") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{where}: not a safetensors file (header is not a JSON object)")
    meta = header.pop("__metadata__", None) or {}
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ModelFileError(f"{where}: the safetensors metadata must map names to strings")
    if kind is not None and meta.get("format") not in (None, kind):
        raise ModelFileError(f"{where}: holds {meta.get('format')!r} data, expected {kind!r}")
    data_len = size - 8 - n
    entries = {}
    for key, e in header.items():
        if not isinstance(e, dict) or set(e) != {"dtype", "shape", "data_offsets"}:
            raise ModelFileError(f"{where}: corrupt safetensors header (entry {key!r} is not "
                                 f"{{dtype, shape, data_offsets}})")
        code, shape, offsets = e["dtype"], e["shape"], e["data_offsets"]
        if code not in _ST_DTYPES:
            raise ModelFileError(f"{where}: tensor {key!r} has dtype {code!r}, which gradflow does not read "
                                 f"(supported: {', '.join(_ST_DTYPES)})")
        if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 1 << 62 for d in shape):
            raise ModelFileError(f"{where}: tensor {key!r} has an invalid shape {shape!r}")
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets) \
                or not 0 <= offsets[0] <= offsets[1] <= data_len:
            raise ModelFileError(f"{where}: tensor {key!r} has byte range {offsets!r} outside the "
                                 f"{data_len} bytes of tensor data")
        dtype = np.dtype(_ST_DTYPES[code])
        nbytes = math.prod(shape) * dtype.itemsize
        if offsets[1] - offsets[0] != nbytes:
            raise ModelFileError(f"{where}: tensor {key!r} of shape {tuple(shape)} and dtype {code} needs {nbytes} "
                                 f"bytes but its byte range {offsets!r} holds {offsets[1] - offsets[0]}")
        entries[key] = (dtype, tuple(shape), offsets[0], offsets[1])
    end = 0
    for key in sorted(entries, key=lambda k: (entries[k][2], entries[k][3])):
        if entries[key][2] != end:
            raise ModelFileError(f"{where}: corrupt safetensors header (tensor {key!r} starts at byte "
                                 f"{entries[key][2]} of the data, expected {end}: overlapping or missing data)")
        end = entries[key][3]
    if end != data_len:
        raise ModelFileError(f"{where}: the header describes {end} bytes of tensor data but {data_len} follow it "
                             f"(truncated or padded)")
    order = meta.get("order")
    if order is not None:
        try:
            keys = json.loads(order)
        except (json.JSONDecodeError, RecursionError):
            raise ModelFileError(f"{where}: the weight order in the metadata is unreadable") from None
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) \
                or sorted(keys) != sorted(entries):
            raise ModelFileError(f"{where}: the weight order in the metadata does not match the stored tensors")
    else:  # a safetensors file from elsewhere: file order (offsets) is the best guess
        keys = sorted(entries, key=lambda k: (entries[k][2], entries[k][3]))
    return _Header(keys, entries, meta, 8 + n, size)


def _arrays(data, header: _Header, copy: bool = False) -> list:
    """The tensors of ``data`` (the whole safetensors blob), in ``header.keys`` order: read-only views
    into ``data`` (no copy) unless ``copy``."""
    out = []
    for key in header.keys:
        dtype, shape, begin, end = header.entries[key]
        arr = np.frombuffer(data, dtype=dtype, count=math.prod(shape), offset=header.offset + begin).reshape(shape)
        out.append(arr.copy() if copy else arr)
    return out


def weights_from_bytes(data: bytes, where: str, kind: str | None = WEIGHTS_FORMAT):
    """``(keys, arrays, metadata)`` from safetensors bytes, in the stored order (header validated first)."""
    header = _parse_header(data, len(data), where, kind, _MAX_HEADER)
    return list(header.keys), _arrays(data, header, copy=True), dict(header.meta)


def _check_specs(params, keys, specs, where: str, check_names: bool) -> None:
    """The stored tensors (``keys`` with their ``(shape, dtype)``) against the model's parameters:
    count, names (when ``check_names``), shapes and dtypes; raises before anything is read."""
    if len(specs) != len(params):
        raise ModelFileError(f"{where}: holds {len(specs)} weight arrays but the model has {len(params)} "
                             f"({', '.join(p.name for p in params) or 'none'})")
    expected_keys = _unique_keys([p.name for p in params])
    for p, key, want_key, (shape, dtype) in zip(params, keys, expected_keys, specs):
        if check_names and key != want_key:
            raise ModelFileError(f"{where}: weight {key!r} found where the model has {want_key!r}")
        if tuple(shape) != tuple(p.shape):
            raise ModelFileError(f"{where}: weight {key!r} has shape {tuple(shape)} but the model's "
                                 f"{p.name!r} expects {tuple(p.shape)}")
        if not (dtype.kind == "f" and p.dtype.kind == "f" or dtype == p.dtype):
            raise ModelFileError(f"{where}: weight {key!r} has dtype {dtype} but {p.name!r} is {p.dtype}")


def _check_against(params, keys, arrays, where: str, check_names: bool) -> list[np.ndarray]:
    """The arrays cast to each parameter's dtype, after checking count, names, shapes, dtypes (and that no
    value overflows the parameter's dtype)."""
    _check_specs(params, keys, [(a.shape, a.dtype) for a in arrays], where, check_names)
    return [checked_cast(a, p.dtype, key, where) for p, key, a in zip(params, keys, arrays)]


#: the most config.json / metadata.json may inflate to, and how deep their JSON may nest
MAX_JSON_BYTES = 16 << 20
MAX_JSON_DEPTH = 200
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.S)


def parse_json(raw: bytes, where: str):
    """JSON of a model file: at most MAX_JSON_BYTES and MAX_JSON_DEPTH levels deep (checked before parsing,
    so a hostile file cannot exhaust the stack), else :class:`ModelFileError` naming the member."""
    if len(raw) > MAX_JSON_BYTES:
        raise ModelFileError(f"{where} is {len(raw)} bytes, over the limit of {MAX_JSON_BYTES}")
    plain = _JSON_STRING.sub(b'""', raw)  # brackets inside strings do not nest
    codes = np.frombuffer(plain, dtype=np.uint8)
    steps = np.isin(codes, (0x5B, 0x7B)).astype(np.int32) - np.isin(codes, (0x5D, 0x7D)).astype(np.int32)
    deepest = int(np.cumsum(steps).max()) if len(steps) else 0
    if deepest > MAX_JSON_DEPTH:
        raise ModelFileError(f"{where} nests {deepest} levels deep, over the limit of {MAX_JSON_DEPTH}")
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise ModelFileError(f"{where} is not valid JSON ({exc})") from None


def checked_cast(array: np.ndarray, dtype, name: str, where: str) -> np.ndarray:
    """``array`` as ``dtype``; values finite in the file that would become Inf (float64 past float32's range)
    are an error naming the weight."""
    with np.errstate(over="ignore"):
        out = array.astype(dtype, copy=False)
    if out.dtype.kind == "f" and array.dtype.kind == "f" and out.dtype.itemsize < array.dtype.itemsize:
        with np.errstate(all="ignore"):
            if not np.isfinite(out).all() and (np.isfinite(array) & ~np.isfinite(out)).any():
                raise ModelFileError(f"{where}: weight {name!r} holds values beyond the range of {out.dtype} "
                                     f"(largest magnitude {float(np.nanmax(np.abs(array[np.isfinite(array)]))):.3g})")
    return out


# -- bounded reading of model files ------------------------------------------------------------
#: the most config.json may inflate to (real configs are kilobytes to a few megabytes)
_MAX_CONFIG = 16 << 20
#: elements a rebuilt model may allocate beyond what its file stores (so a small mismatch still gets
#: the precise "holds N weight arrays" / shape message instead of the budget's)
_BUDGET_SLACK = 1 << 20
_MEMBERS = (CONFIG_NAME, WEIGHTS_NAME, OPTIMIZER_NAME, HOOKS_NAME)
#: what a damaged or hostile zip raises from zipfile/zlib while being read
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError, struct.error,
               NotImplementedError, RuntimeError, OverflowError, IndexError, KeyError, TypeError)


def _open_file(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise FileNotFoundError(f"no model or weights file at {os.fspath(path)!r}") from None
    except IsADirectoryError:
        raise ModelFileError(f"{os.fspath(path)}: is a directory, not a model or weights file") from None


def _check_asset_name(name: str, where: str) -> None:
    """An ``assets/`` member name must stay inside the folder it is extracted to."""
    parts = name[len(ASSETS_DIR):].rstrip("/").split("/")
    unsafe = "\\" in name or ":" in name or (name != ASSETS_DIR and any(p in ("", ".", "..") for p in parts))
    if unsafe:
        raise ModelFileError(f"{where}: asset member {name!r} has an unsafe name (limit: plain relative paths "
                             f"inside assets/)")


class _Archive:
    """A model zip opened on its file (never read whole): the directory is checked first (only the
    three known members, each once, unencrypted, stored or deflated, sizes within their limits) and
    each member is then read with at most its declared size inflated, its CRC checked at the end."""

    def __init__(self, f, where: str):
        self.where = where
        try:
            self.zf = zipfile.ZipFile(f)
            infos = self.zf.infolist()
        except _ZIP_ERRORS as exc:
            raise ModelFileError(f"{where}: not a gradflow model file (not a readable zip archive: {exc})") from None
        self.infos = {}
        for info in infos:
            name = info.filename
            if name.startswith(ASSETS_DIR):
                _check_asset_name(name, where)
                if name.endswith("/"):
                    continue  # a folder entry
            elif name not in _MEMBERS:
                raise ModelFileError(f"{where}: unexpected member {name!r} ({info.file_size} bytes uncompressed); "
                                     f"a gradflow model file holds only {', '.join(_MEMBERS)} (limit: no other "
                                     f"members), so it is foreign or was tampered with")
            if name in self.infos:
                raise ModelFileError(f"{where}: member {name!r} appears twice (limit: once)")
            if info.flag_bits & 0x1:
                raise ModelFileError(f"{where}: member {name!r} is encrypted (limit: gradflow reads plain members)")
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ModelFileError(f"{where}: member {name!r} uses compression method {info.compress_type} "
                                     f"(limit: stored or deflated only)")
            self.infos[name] = info
        assets = sum(i.file_size for n, i in self.infos.items() if n.startswith(ASSETS_DIR))
        if assets > _MAX_ASSETS:
            raise ModelFileError(f"{where}: the asset files take {assets} bytes uncompressed, over the limit of "
                                 f"{_MAX_ASSETS} bytes")
        if CONFIG_NAME in self.infos and self.infos[CONFIG_NAME].file_size > _MAX_CONFIG:
            raise ModelFileError(f"{where}: member {CONFIG_NAME!r} is {self.infos[CONFIG_NAME].file_size} bytes "
                                 f"uncompressed, over the limit of {_MAX_CONFIG} bytes for a model config")

    def __contains__(self, name):
        return name in self.infos

    def names(self):
        return sorted(self.infos)

    def _corrupt(self, name, exc) -> ModelFileError:
        if isinstance(exc, zipfile.BadZipFile) and "CRC" in str(exc):
            return ModelFileError(f"{self.where}: member {name!r} is corrupt (CRC mismatch)")
        return ModelFileError(f"{self.where}: member {name!r} is corrupt or truncated "
                              f"({type(exc).__name__}: {exc})")

    def read(self, name: str, limit: int, upto: int | None = None) -> bytes:
        """The bytes of member ``name`` (its first ``upto`` bytes only, when given), never inflating
        more than ``limit`` bytes; the whole member also gets its CRC checked."""
        info = self.infos[name]
        if info.file_size > limit:
            raise ModelFileError(f"{self.where}: member {name!r} is {info.file_size} bytes uncompressed, over the "
                                 f"limit of {limit} bytes for this model")
        want = info.file_size if upto is None else min(upto, info.file_size)
        try:
            with self.zf.open(info) as m:
                data = m.read(want)
                if upto is None and (len(data) != info.file_size or m.read(1)):
                    raise ModelFileError(f"{self.where}: member {name!r} holds more or fewer bytes than the "
                                         f"{info.file_size} its directory entry says (limit: exactly that)")
        except ModelFileError:
            raise
        except _ZIP_ERRORS as exc:
            raise self._corrupt(name, exc) from None
        if len(data) != want:
            raise ModelFileError(f"{self.where}: member {name!r} is truncated ({len(data)} of {want} bytes)")
        return data

    def crc_ok(self, name: str, limit: int) -> bool:
        """Whether the member's CRC is right, streaming it (for a better message on a damaged header);
        members inflating beyond ``limit`` are not checked (and count as fine)."""
        info = self.infos[name]
        if info.file_size > limit:
            return True
        try:
            with self.zf.open(info) as m:
                while m.read(1 << 20):
                    pass
        except zipfile.BadZipFile as exc:
            return "CRC" not in str(exc)
        except _ZIP_ERRORS:
            return True
        return True

    def header(self, name: str, kind: str | None, limit: int) -> _Header:
        """The validated safetensors header of member ``name``, reading only the header itself."""
        info = self.infos[name]
        where = f"{self.where}:{name}"
        if info.file_size > limit:
            raise ModelFileError(f"{self.where}: member {name!r} is {info.file_size} bytes uncompressed, over the "
                                 f"limit of {limit} bytes for this model")
        try:
            first = self.read(name, limit, upto=8)
            n = struct.unpack("<Q", first)[0] if len(first) == 8 else 0
            prefix = self.read(name, limit, upto=8 + n) if 8 < 8 + n <= min(info.file_size, 8 + _MAX_HEADER) \
                else first
            return _parse_header(prefix, info.file_size, where, kind, _MAX_HEADER)
        except ModelFileError:
            if not self.crc_ok(name, min(limit, 256 << 20)):
                raise ModelFileError(f"{self.where}: member {name!r} is corrupt (CRC mismatch)") from None
            raise

    def close(self):
        self.zf.close()


def _read_config(archive: _Archive, where: str) -> dict:
    if CONFIG_NAME not in archive:
        raise ModelFileError(f"{where}: not a gradflow model file (no {CONFIG_NAME}; members: "
                             f"{', '.join(archive.names()) or 'none'})")
    config = parse_json(archive.read(CONFIG_NAME, _MAX_CONFIG), f"{where}: {CONFIG_NAME}")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ModelFileError(f"{where}: {CONFIG_NAME} is not a gradflow model config (format "
                             f"{config.get('format') if isinstance(config, dict) else None!r})")
    version = config.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(f"{where}: format version {version!r} is newer than this gradflow reads "
                             f"({FORMAT_VERSION}); upgrade gradflow")
    if not isinstance(config.get("model"), dict) or WEIGHTS_NAME not in archive:
        raise ModelFileError(f"{where}: incomplete model file (needs the model config and {WEIGHTS_NAME})")
    return config


# -- a memory budget while a file's model is rebuilt -------------------------------------------
@contextlib.contextmanager
def _weight_budget(limit: int, stored: int, where: str, member: str):
    """While rebuilding a model from a file, every weight this thread creates is charged against
    ``limit`` values and refused beyond it (through ``Layer.add_weight``'s guard), so a config that
    claims far larger layers than the file stores is rejected before their weights are allocated."""
    used = 0

    def charge(layer, shape) -> None:
        nonlocal used
        used += math.prod(shape)
        if used > limit:
            raise ModelFileError(
                f"{where}: the model config asks for more weights than {member} stores: layer {layer.name!r} "
                f"would create a weight of shape {shape}, bringing the total to {used} values, over the limit "
                f"of {limit} (the {stored} values stored plus {_BUDGET_SLACK}); refusing to allocate it")

    previous = getattr(WEIGHT_GUARD, "check", None)
    WEIGHT_GUARD.check = charge
    try:
        yield
    finally:
        WEIGHT_GUARD.check = previous


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
    return unique_weights(model.weights)


def save_model(model, path) -> None:
    """Write ``model`` (architecture, weights, compile settings, optimizer state) to ``path``."""
    if not model.built:
        raise ValueError(f"cannot save model {model.name!r}: it is not built yet; call build(input_shape), "
                         f"fit it, or give the first layer input_shape=")
    params = _model_weights(model)
    compile_cfg = model.get_compile_config() if getattr(model, "compiled", False) else None
    if compile_cfg is not None and user_defines(model, "get_compile_config"):  # the user's objects, as Keras does
        compile_cfg = serialize_keras_object(compile_cfg)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "gradflow_version": __version__,
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

    entries += _hook_entries(model)

    def write(f):
        with zipfile.ZipFile(f, "w") as zf:
            for name, data, method in entries:
                _write_entry(zf, name, data, method)

    atomic_write(path, write)


# -- the user's layers' saving hooks -----------------------------------------------------------
def _hooked(model, hook: str) -> list:
    """``[(path, layer)]`` of the layers (Keras paths) whose class defines ``hook`` (or its pair) itself."""
    pair = {"save_own_variables": "load_own_variables", "load_own_variables": "save_own_variables",
            "save_assets": "load_assets", "load_assets": "save_assets"}[hook]
    return [(path, layer) for path, layer, fixed in saveables(model)
            if fixed is None and (overrides(layer, hook) or overrides(layer, pair))]


def _hook_entries(model) -> list:
    """The zip members holding what the user's hooks save: their variables (one safetensors member) and
    their asset files (``assets/<layer path>/...``)."""
    names, arrays = [], []
    for path, layer in _hooked(model, "save_own_variables"):
        store: dict = {}
        layer.save_own_variables(store)
        for key, value in store.items():
            names.append(join(path, f"vars/{key}"))
            arrays.append(value.numpy() if hasattr(value, "numpy") else np.asarray(value))
    entries = []
    if names:
        entries.append((HOOKS_NAME, weights_to_bytes(names, arrays, kind="gradflow.hooks"), zipfile.ZIP_STORED))
    return entries + [(name, data, zipfile.ZIP_DEFLATED) for name, data in asset_entries(model)]


def asset_entries(model) -> list:
    """``[(member name, bytes)]`` of the files the user's ``save_assets`` hooks write, under
    ``assets/<layer path>/`` as in Keras's archives."""
    out = []
    for path, layer in _hooked(model, "save_assets"):
        with tempfile.TemporaryDirectory() as folder:
            layer.save_assets(folder)
            out += [(ASSETS_DIR + join(path, rel), data) for rel, data in _files_in(folder)]
    return out


def _files_in(folder: str) -> list:
    """``[(relative path with '/', bytes)]`` of the plain files below ``folder`` (links are not followed)."""
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(root, name)
            if os.path.islink(full) or not os.path.isfile(full):
                continue
            with open(full, "rb") as fh:
                out.append((os.path.relpath(full, folder).replace(os.sep, "/"), fh.read()))
    return out


def _hook_values(archive: _Archive, where: str) -> dict:
    """The arrays the user's ``save_own_variables`` hooks stored, by key (empty without the member)."""
    if HOOKS_NAME not in archive:
        return {}
    header = archive.header(HOOKS_NAME, "gradflow.hooks", _MAX_HOOKS)
    data = archive.read(HOOKS_NAME, _MAX_HOOKS)
    return dict(zip(header.keys, _arrays(data, header, copy=True)))


def apply_hooks(model, values: dict, assets, where: str, variables: bool = True) -> None:
    """Run the user's ``load_own_variables`` (with what their ``save_own_variables`` stored) and
    ``load_assets`` (with ``assets(folder)`` extracting the archive's asset files into ``folder``). When a hook
    fails, every weight of the model gets its value from before back, and the error names the file."""
    own = _hooked(model, "load_own_variables") if variables else []
    with_assets = _hooked(model, "load_assets") if assets is not None else []
    if not own and not with_assets:
        return
    snapshot = [(p, p.numpy().copy()) for p in _model_weights(model)]
    try:
        for path, layer in own:
            prefix = join(path, "vars/")
            layer.load_own_variables({k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)
                                      and "/" not in k[len(prefix):]})
        if with_assets:
            with tempfile.TemporaryDirectory() as folder:
                assets(folder)
                for path, layer in with_assets:
                    target = os.path.join(folder, *path.split("/")) if path else folder
                    os.makedirs(target, exist_ok=True)
                    layer.load_assets(target)
    except Exception as exc:
        for p, value in snapshot:
            p.assign(value)
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{where}: a layer's load hook failed, the model's weights are as before "
                             f"({type(exc).__name__}: {exc})") from exc


def _extract_assets(archive: _Archive):
    """``extract(folder)``: writes the archive's ``assets/`` members (names checked, sizes bounded) below
    ``folder``."""
    def extract(folder: str) -> None:
        for name in archive.names():
            if not name.startswith(ASSETS_DIR):
                continue
            target = os.path.join(folder, *name[len(ASSETS_DIR):].split("/"))
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as fh:
                fh.write(archive.read(name, _MAX_ASSETS))
    return extract


def _write_entry(zf: zipfile.ZipFile, name: str, data: bytes, method: int) -> None:
    """One member of the model zip (a seam tests use to simulate a crash mid-save)."""
    zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data, compress_type=method)


def _model_from_config(cfg: dict, where: str, custom_objects=None):
    try:
        model = deserialize_keras_object(cfg, custom_objects=custom_objects)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{where}: cannot rebuild the model from its config: {type(exc).__name__}: {exc}") from exc
    return model


def _opt_limit(params) -> int:
    """The most an optimizer state for ``params`` can take: three slots per value (AMSGrad Adam has
    the most) plus a header of 256 bytes per entry."""
    values = sum(int(p.data.size) * p.data.dtype.itemsize for p in params)
    return 3 * values + 256 * (3 * len(params) + 16) + 8


def load_model(path, custom_objects=None, compile: bool = True, safe_mode: bool = True):
    """Rebuild a model saved with ``model.save(path)``: architecture, weights and (when
    ``compile``) its compile settings and optimizer state. ``custom_objects`` maps class names
    to the user's own layer/model classes (or register them with register_keras_serializable).

    Memory stays bounded by what the model needs: the zip directory is checked first (no unknown
    member is inflated), the weights' safetensors header is validated against the member's size,
    the model is rebuilt under a budget of the values the file stores, and its weights' shapes are
    compared with the header before any tensor data is read."""
    where = os.fspath(path)
    with _open_file(path) as f:
        archive = _Archive(f, where)
        try:
            return _load_from(archive, where, custom_objects, compile)
        finally:
            archive.close()


def _load_from(archive: _Archive, where: str, custom_objects, compile: bool):
    config = _read_config(archive, where)
    wwhere = f"{where}:{WEIGHTS_NAME}"
    size = archive.infos[WEIGHTS_NAME].file_size
    header = archive.header(WEIGHTS_NAME, WEIGHTS_FORMAT, size)
    stored = header.elements
    with _weight_budget(stored + _BUDGET_SLACK, stored, where, WEIGHTS_NAME):
        model = _model_from_config(config["model"], where, custom_objects)
    if not model.built:
        raise ModelFileError(f"{where}: the saved model has no input shape, so its weights cannot be restored")
    params = _model_weights(model)
    _check_specs(params, header.keys, header.specs(), wwhere, check_names=model._stable_weight_names)
    data = archive.read(WEIGHTS_NAME, size)
    values = _check_against(params, header.keys, _arrays(data, header), wwhere, check_names=False)
    compile_cfg = config.get("compile")
    opt_state = None
    if compile and compile_cfg:
        try:
            model.compile_from_config(compile_cfg)
        except Exception as exc:
            raise ModelFileError(f"{where}: cannot restore the compile settings ({type(exc).__name__}: {exc}); "
                                 f"load with compile=False and compile the model yourself") from exc
        if OPTIMIZER_NAME in archive:
            limit = _opt_limit(model._optimizer_params())
            oheader = archive.header(OPTIMIZER_NAME, "gradflow.optimizer", limit)
            odata = archive.read(OPTIMIZER_NAME, limit)
            opt_state = dict(zip(oheader.keys, _arrays(odata, oheader)))
    hook_values = _hook_values(archive, where)
    for p, v in zip(params, values):
        p.assign(v)
    apply_hooks(model, hook_values, _extract_assets(archive), where)
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
    every shape checked first, so a mismatch leaves the model untouched). The safetensors header
    is checked against the model before any tensor data is read, so a file that does not fit is
    refused without reading (or allocating) more than its header."""
    where = os.fspath(path)
    with _open_file(path) as f:
        magic = f.read(4)
        f.seek(0)
        if zipfile.is_zipfile(f):
            archive = _Archive(f, where)
            try:
                _read_config(archive, where)
                _need_built(model)
                params = _model_weights(model)
                wwhere = f"{where}:{WEIGHTS_NAME}"
                limit = _weights_limit(params)
                header = archive.header(WEIGHTS_NAME, WEIGHTS_FORMAT, limit)
                _check_specs(params, header.keys, header.specs(), wwhere, check_names=False)
                data = archive.read(WEIGHTS_NAME, limit)
                values = _check_against(params, header.keys, _arrays(data, header), wwhere, check_names=False)
                hook_values = _hook_values(archive, where)
                snapshot = [(p, p.numpy().copy()) for p in params]
                for p, v in zip(params, values):
                    p.assign(v)
                try:
                    apply_hooks(model, hook_values, _extract_assets(archive), where)
                except ModelFileError:
                    for p, v in snapshot:
                        p.assign(v)
                    raise
                return
            finally:
                archive.close()
        elif magic == b"PK\x03\x04":
            raise ModelFileError(f"{where}: a truncated or corrupt model archive (zip without its directory)")
        else:
            _need_built(model)
            params = _model_weights(model)
            wwhere = where
            size = os.fstat(f.fileno()).st_size
            limit = _weights_limit(params)
            f.seek(0)
            prefix = f.read(8)
            if len(prefix) == 8:
                (n,) = struct.unpack("<Q", prefix)
                if n <= min(size - 8, _MAX_HEADER):
                    prefix += f.read(n)
            header = _parse_header(prefix, size, where, WEIGHTS_FORMAT, _MAX_HEADER)
            _check_specs(params, header.keys, header.specs(), where, check_names=False)
            if size > limit:
                raise ModelFileError(f"{where}: {size} bytes, over the limit of {limit} bytes for this model's weights")
            f.seek(0)
            data = f.read(size + 1)
            if len(data) != size:
                raise ModelFileError(f"{where}: the file changed size while being read")
    values = _check_against(params, header.keys, _arrays(data, header), wwhere, check_names=False)
    for p, v in zip(params, values):
        p.assign(v)


def _need_built(model) -> None:
    if not model.built:
        raise ValueError(f"cannot load weights into model {model.name!r}: it is not built yet; call "
                         f"build(input_shape) or give the first layer input_shape= first")


def _weights_limit(params) -> int:
    """The most a weights blob for ``params`` can take: every value as float64 (the widest a float
    weight may be stored in) plus the header limit."""
    return 8 + _MAX_HEADER + sum(int(p.data.size) * 8 for p in params)
