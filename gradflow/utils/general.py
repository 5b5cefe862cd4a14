"""Keras 3's general ``keras.utils`` helpers: data packing, a config object, file download, dataset
splitting, text and audio datasets from directories, and Keras's Progbar API."""
from __future__ import annotations

import hashlib
import json
import os
import tarfile
import tempfile
import warnings
import wave
import zipfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .. import progbar as _progbar
from ..backend import clear_session, is_keras_tensor, standardize_dtype
from ..config import disable_interactive_logging, enable_interactive_logging, is_interactive_logging_enabled
from ..datasets._files import download
from ._directory import from_directory

__all__ = ["pack_x_y_sample_weight", "unpack_x_y_sample_weight", "Config", "get_file", "split_dataset",
           "get_source_inputs", "text_dataset_from_directory", "audio_dataset_from_directory", "Progbar",
           "clear_session", "is_keras_tensor", "standardize_dtype", "enable_interactive_logging",
           "disable_interactive_logging", "is_interactive_logging_enabled"]


# -- packing ----------------------------------------------------------------------------------
def pack_x_y_sample_weight(x, y=None, sample_weight=None):
    """``x``, ``(x, y)`` or ``(x, y, sample_weight)`` as Keras's data adapters expect them."""
    if y is None:
        return x if not isinstance(x, (list, tuple)) else (x,)
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch of 1 to 3 elements (the missing ones None)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return (data, None, None)
    if len(data) == 1:
        return (data[0], None, None)
    if len(data) == 2:
        return (data[0], data[1], None)
    if len(data) == 3:
        return (data[0], data[1], data[2])
    raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                     f"found: {data}")


# -- Config -----------------------------------------------------------------------------------
class Config:
    """A dict with attribute access that can be frozen (Keras's ``keras.utils.Config``)."""

    __initialized = False

    def __init__(self, **kwargs):
        self._config = kwargs
        self._frozen = False
        self.__initialized = True

    def freeze(self):
        self._frozen = True

    def unfreeze(self):
        self._frozen = False

    @property
    def frozen(self) -> bool:
        return self._frozen

    def _check(self):
        if self._frozen:
            raise ValueError("Cannot mutate attribute(s) because the config is frozen.")

    def __setattr__(self, name, value):
        if not self.__initialized or name.startswith("_"):
            return object.__setattr__(self, name, value)
        self._check()
        self._config[name] = value

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._config[name]
        except KeyError:
            raise AttributeError(f"Unknown attribute: '{name}'") from None

    def __setitem__(self, key, value):
        self._check()
        self._config[key] = value

    def __getitem__(self, key):
        return self._config[key]

    def __delitem__(self, key):
        self._check()
        del self._config[key]

    def update(self, *args, **kwargs):
        self._check()
        self._config.update(*args, **kwargs)

    def pop(self, *args):
        self._check()
        return self._config.pop(*args)

    def get(self, key, default=None):
        return self._config.get(key, default)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def as_dict(self) -> dict:
        return dict(self._config)

    def to_json(self) -> str:
        return json.dumps(self._config)

    def __contains__(self, item):
        return item in self._config

    def __len__(self):
        return len(self._config)

    def __iter__(self):
        return iter(self._config)

    def __repr__(self):
        return f"<Config {self._config}>"


# -- get_file ---------------------------------------------------------------------------------
def _hash(path, algorithm: str) -> str:
    digest = hashlib.sha256() if algorithm == "sha256" else hashlib.md5()  # noqa: S324 - Keras's md5 option
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _algorithm(file_hash: str, hash_algorithm: str) -> str:
    if hash_algorithm in ("sha256", "md5"):
        return hash_algorithm
    return "sha256" if len(file_hash) == 64 else "md5"


def _extract(path: Path, into: Path, archive_format) -> bool:
    formats = ["tar", "zip"] if archive_format in ("auto", None) else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format)
    for fmt in formats:
        if fmt == "tar" and tarfile.is_tarfile(path):
            with tarfile.open(path) as archive:
                archive.extractall(into, filter="data")
            return True
        if fmt == "zip" and zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                archive.extractall(into)
            return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None, cache_subdir="datasets",
             hash_algorithm="auto", extract=False, archive_format="auto", cache_dir=None, force_download=False):
    """Download ``origin`` (http(s) or file://) into ``cache_dir/cache_subdir`` (default ``~/.keras``) unless a
    copy with the right hash is there, check ``file_hash`` (SHA-256 or MD5), and with ``extract``/``untar``
    unpack a tar/zip archive; returns the file's (or the extraction folder's) path, named as Keras names them."""
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = os.path.expanduser(cache_dir if cache_dir is not None else os.environ.get("KERAS_HOME", "~/.keras"))
    if not os.access(base, os.W_OK):  # as Keras: a cache it cannot write to falls back to /tmp/.keras
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")  # noqa: S108
    folder = os.path.join(base, cache_subdir)
    os.makedirs(folder, exist_ok=True)
    provided = fname
    fname = os.fspath(fname) if fname else os.path.basename(urlparse(origin).path)
    if not fname:
        raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'. Please specify the "
                         "`fname` argument.")
    if os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify the file's parent "
                         f"directory, use the `cache_dir` argument. Received: fname={fname}")
    extraction_dir = None
    if extract or untar:
        if provided and "." in fname:
            target = os.path.join(folder, fname)
            extraction_dir = os.path.join(folder, f"{fname[:fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(folder, fname)
            target = os.path.join(folder, f"{fname}_archive")
    else:
        target = os.path.join(folder, fname)
    fresh = force_download or not os.path.exists(target)
    if not fresh and file_hash is not None and _hash(target, _algorithm(file_hash, hash_algorithm)) != file_hash:
        fresh = True  # a stale or corrupt copy: download again
    if fresh:
        download(origin, target)
        if file_hash is not None and _hash(target, _algorithm(file_hash, hash_algorithm)) != file_hash:
            os.remove(target)
            raise ValueError(f"Incomplete or corrupted file detected. The {_algorithm(file_hash, hash_algorithm)} "
                             f"file hash does not match the provided value of {file_hash}.")
    if extraction_dir is None:
        return target
    if not _extract(Path(target), Path(extraction_dir), "tar" if untar else archive_format):
        warnings.warn("Could not extract archive.", stacklevel=2)
    return extraction_dir


# -- split_dataset ----------------------------------------------------------------------------
def _sizes(n: int, left_size, right_size) -> tuple[int, int]:
    def count(size, what):
        if size is None:
            return None
        if isinstance(size, float):
            if not 0 < size < 1:
                raise ValueError(f"`{what}` must be in (0, 1) as a fraction, got {size}")
            return round(size * n)
        if isinstance(size, int) and 0 < size <= n:
            return size
        raise ValueError(f"`{what}` must be a float fraction or a positive int <= {n}, got {size!r}")

    left, right = count(left_size, "left_size"), count(right_size, "right_size")
    if left is None and right is None:
        left = round(0.5 * n)
    if left is None:
        left = n - right
    if right is None:
        right = n - left
    if left + right > n:
        raise ValueError(f"The sum of `left_size` and `right_size` ({left + right}) exceeds the dataset size {n}")
    if left == 0 or right == 0:
        raise ValueError("Both splits must hold at least one sample; adjust `left_size`/`right_size`")
    return left, right


def split_dataset(dataset, left_size=None, right_size=None, shuffle=False, seed=None):
    """Split arrays (an array, a tuple/list of arrays, or a dict of arrays with the same first axis) into
    ``(left, right)`` of the same structure; sizes as fractions (float) or counts (int), as Keras."""
    leaves = list(dataset.values()) if isinstance(dataset, dict) else \
        list(dataset) if isinstance(dataset, (tuple, list)) else [dataset]
    arrays = [np.asarray(a) for a in leaves]
    n = len(arrays[0])
    if any(len(a) != n for a in arrays):
        raise ValueError(f"split_dataset: the arrays have different lengths {[len(a) for a in arrays]}")
    left, right = _sizes(n, left_size, right_size)
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    parts = []
    for idx in (order[:left], order[left:left + right]):
        picked = [a[idx] for a in arrays]
        if isinstance(dataset, dict):
            parts.append(dict(zip(dataset, picked)))
        elif isinstance(dataset, (tuple, list)):
            parts.append(type(dataset)(picked))
        else:
            parts.append(picked[0])
    return tuple(parts)


# -- graph ------------------------------------------------------------------------------------
def get_source_inputs(tensor):
    """The ``Input`` tensors a symbolic tensor was computed from (Keras's ``get_source_inputs``)."""
    node = getattr(tensor, "_node", None)
    if node is None or not node.flat_inputs:
        return [tensor]
    sources, seen = [], set()
    for t in node.flat_inputs:
        for s in get_source_inputs(t):
            if id(s) not in seen:
                seen.add(id(s))
                sources.append(s)
    return sources


# -- datasets from directories (the walking and batching shared with image_dataset_from_directory) ----
def text_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                max_length=None, shuffle=True, seed=None, validation_split=None, subset=None,
                                follow_links=False, verbose=True):
    """Batches of ``(texts, labels)`` from ``directory/<class>/*.txt``: texts as a NumPy array of str (each cut
    to ``max_length`` characters), labels as ``label_mode`` says; a ``PyDataset`` with ``class_names``."""
    def load(paths):
        texts = []
        for p in paths:
            text = Path(p).read_text(encoding="utf-8")
            texts.append(text[:max_length] if max_length is not None else text)
        return np.array(texts, dtype=object)

    return from_directory("text_dataset_from_directory", directory, labels, label_mode, class_names, batch_size,
                           shuffle, seed, validation_split, subset, follow_links, verbose, (".txt",), load)


def _read_wav(path):
    with wave.open(os.fspath(path), "rb") as f:
        width, channels, frames = f.getsampwidth(), f.getnchannels(), f.readframes(f.getnframes())
    if width == 1:
        audio = (np.frombuffer(frames, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width in (2, 4):
        kind = np.int16 if width == 2 else np.int32
        audio = np.frombuffer(frames, dtype=kind).astype(np.float32) / float(-np.iinfo(kind).min)
    else:
        raise ValueError(f"{path}: {8 * width}-bit WAV is not supported (8, 16 or 32-bit PCM)")
    return audio.reshape(-1, channels)


def audio_dataset_from_directory(directory, labels="inferred", label_mode="int", class_names=None, batch_size=32,
                                 sampling_rate=None, output_sequence_length=None, ragged=False, shuffle=True,
                                 seed=None, validation_split=None, subset=None, follow_links=False, verbose=True):
    """Batches of ``(audio, labels)`` from ``directory/<class>/*.wav`` (PCM, read with the standard library):
    audio as float32 in [-1, 1] of shape (batch, samples, channels), cut or zero-padded to
    ``output_sequence_length``, else padded to the batch's longest clip, as Keras."""
    if ragged:
        raise ValueError("audio_dataset_from_directory: ragged=True is not supported by gradflow (no ragged tensors)")
    if sampling_rate is not None and (not isinstance(sampling_rate, int) or sampling_rate <= 0):
        raise ValueError(f"`sampling_rate` should be a positive integer, got {sampling_rate!r}")

    def load(paths):
        clips = [_read_wav(p) for p in paths]
        length = output_sequence_length or max(len(c) for c in clips)
        out = np.zeros((len(clips), length, clips[0].shape[1]), dtype=np.float32)
        for i, c in enumerate(clips):
            out[i, :min(length, len(c))] = c[:length]
        return out

    return from_directory("audio_dataset_from_directory", directory, labels, label_mode, class_names, batch_size,
                           shuffle, seed, validation_split, subset, follow_links, verbose, (".wav",), load)


# -- Progbar ----------------------------------------------------------------------------------
class Progbar(_progbar.Progbar):
    """Keras's ``keras.utils.Progbar``: ``update(current, values=[(name, value), ...])`` with values
    averaged over the steps since they were first seen, except those in ``stateful_metrics`` (and, as in
    Keras 3, the final update, which shows its own values)."""

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, unit_name="step"):
        super().__init__(target, verbose=verbose, width=width, interval=interval, unit_name=unit_name)
        self.stateful_metrics = set(stateful_metrics or ())
        self._values: dict = {}
        self._seen_so_far = 0

    def update(self, current, values=None, finalize=None):  # type: ignore[override]
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        step = max(current - self._seen_so_far, 1)
        for name, value in values or []:
            if name in self.stateful_metrics or finalize:  # Keras 3: the last step shows its own value
                self._values[name] = [float(value), 1]
            else:
                total, count = self._values.get(name, [0.0, 0])
                self._values[name] = [total + float(value) * step, count + step]
        self._seen_so_far = current
        logs = {name: total / max(count, 1) for name, (total, count) in self._values.items()}
        super().update(current, logs, finalize=finalize)

    def add(self, n, values=None):
        self.update(self._seen_so_far + n, values)
