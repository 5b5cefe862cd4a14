"""CIFAR-10: 50,000 train and 10,000 test 32x32 colour images in 10 classes.

Reads the binary version, ``cifar-10-binary.tar.gz`` (straight from the archive, nothing extracted) or
its extracted ``cifar-10-batches-bin/`` folder: each record is 1 label byte then 3,072 pixel bytes in
CHW order. It also reads the file Keras downloads, ``cifar-10-python.tar.gz`` (or its extracted
``cifar-10-batches-py/`` folder, as in ``~/.keras/datasets``), whose batches are pickle streams:
gradflow never runs ``pickle`` on them but decodes them as data (``_pickled_data.py``).
"""
from __future__ import annotations

import os
import tarfile
import zlib
from pathlib import Path

import numpy as np

from ._files import (
    DatasetFormatError,
    Remote,
    RemoteFile,
    dataset_dir,
    ensure_files,
    find_existing,
    resolve_verify,
    unverified,
)
from ._keras_files import checked, decode_batch, read_pickled_members, tar_members

__all__ = ["load_data", "REMOTE", "CLASS_NAMES", "TRAIN_FILES", "TEST_FILE"]

CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer",
               "dog", "frog", "horse", "ship", "truck")
ARCHIVE = "cifar-10-binary.tar.gz"
EXTRACTED_DIR = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
IMAGE_SHAPE = (3, 32, 32)  # as stored: channels first
RECORD_BYTES = 1 + 3 * 32 * 32
RECORDS_PER_FILE = 10000

# Keras's file (the Python version): its name, folder, members and the SHA-256 Keras checks
PY_ARCHIVE = "cifar-10-python.tar.gz"
PY_DIR = "cifar-10-batches-py"
PY_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
PY_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
PY_TEST_FILE = "test_batch"
PY_FILES = PY_TRAIN_FILES + (PY_TEST_FILE,)

# SHA-256 as listed in tensorflow/datasets url_checksums/cifar10.txt.
REMOTE = Remote(
    dataset="cifar10",
    mirrors=("https://www.cs.toronto.edu/~kriz/",),
    files=(RemoteFile(ARCHIVE, "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),),
    placement=f"or its extracted {EXTRACTED_DIR}/ folder with {', '.join(TRAIN_FILES)} and {TEST_FILE}",
)


def load_data(path=None, verify=None):
    """Return ``((x_train, y_train), (x_test, y_test))``: x uint8 ``(N, 32, 32, 3)``, y uint8 ``(N, 1)``.

    ``path`` may be the archive itself, a directory holding it, the extracted
    ``cifar-10-batches-bin`` folder, or its parent; or Keras's ``cifar-10-python.tar.gz``, a directory
    holding it, or its extracted ``cifar-10-batches-py`` folder (``~/.keras/datasets/cifar-10-batches-py``).
    Without ``path`` the binary archive is looked for in (and downloaded into)
    ``$GRADFLOW_DATA/cifar10``. An archive's SHA-256 is checked; an extracted folder cannot be checked,
    so it needs ``verify=False`` (default: ``$GRADFLOW_DATA_VERIFY``, on).
    """
    location = dataset_dir(REMOTE.dataset, path)
    verify = resolve_verify(verify)
    python_version = _python_version(location, verify)
    if python_version is not None:
        return python_version
    blobs = _read_batches(location, verify)
    train = [_decode(*blobs[name]) for name in TRAIN_FILES]
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    x_test, y_test = _decode(*blobs[TEST_FILE])
    return (x_train, y_train), (x_test, y_test)


def _read_batches(location: Path, verify: bool) -> dict[str, tuple[str, bytes]]:
    """Each batch file's (where, bytes): from the (checked) archive when there is one, else from a complete
    extracted folder (unverifiable: only with ``verify`` off), else from the downloaded archive."""
    needed = TRAIN_FILES + (TEST_FILE,)
    published = REMOTE.files[0]
    if location.is_file():
        return _read_archive(checked(location, published.sha256, REMOTE.dataset, verify), needed)
    archive = find_existing(location, (ARCHIVE,))
    if archive is None:
        for folder in (location, location / EXTRACTED_DIR):
            if all((folder / name).is_file() for name in needed):
                if verify:
                    raise unverified(REMOTE.dataset, folder, ARCHIVE)
                return {name: (str(folder / name), _read_record_file(folder / name)) for name in needed}
    archive = ensure_files(REMOTE, location, lambda n: (n,), verify=verify)[ARCHIVE]
    return _read_archive(archive, needed)


def _batch_bytes() -> int:
    return RECORDS_PER_FILE * RECORD_BYTES


def _read_record_file(path: Path) -> bytes:
    """A batch file's bytes, refusing one of the wrong size before reading it."""
    size = path.stat().st_size
    if size != _batch_bytes():
        raise DatasetFormatError(_size_message(str(path), size))
    return path.read_bytes()


def _size_message(name: str, size: int) -> str:
    return (f"{name}: expected {RECORDS_PER_FILE} records of {RECORD_BYTES} bytes = {_batch_bytes()} bytes, "
            f"got {size} bytes")


def _read_archive(archive: Path, needed: tuple[str, ...]) -> dict[str, tuple[str, bytes]]:
    """Read the batch members of a (gzipped) tar by base name; nothing is written to disk."""
    def read(where, tar, member):
        if member.size != _batch_bytes():  # checked before a byte is read: no huge members
            raise DatasetFormatError(_size_message(where, member.size))
        return where, tar.extractfile(member).read(_batch_bytes())

    return tar_members(archive, needed, read)


def _decode(name: str, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """One batch file's records -> x ``(N, 32, 32, 3)`` and y ``(N, 1)``, both uint8."""
    if len(data) != _batch_bytes():
        raise DatasetFormatError(_size_message(name, len(data)))
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD_BYTES)
    y = records[:, :1].copy()
    if y.size and int(y.max()) >= len(CLASS_NAMES):
        raise DatasetFormatError(f"{name}: expected labels in 0..{len(CLASS_NAMES) - 1}, got {int(y.max())}")
    x = np.ascontiguousarray(records[:, 1:].reshape((-1,) + IMAGE_SHAPE).transpose(0, 2, 3, 1))
    return x, y


def _python_version(location: Path, verify: bool):
    """The arrays from Keras's Python-version file or folder at ``location``, or None when there is none."""
    if location.is_file():
        return _python_archive(location, verify) if _is_python_archive(location) else None
    archive = find_existing(location, (PY_ARCHIVE,))
    if archive is not None and find_existing(location, (ARCHIVE,)) is None:
        return _python_archive(archive, verify)
    for folder in (location, location / PY_DIR):
        if all((folder / name).is_file() for name in PY_FILES):
            if verify:
                raise unverified(REMOTE.dataset, folder, PY_ARCHIVE)
            batches = {}
            for name in PY_FILES:
                with open(folder / name, "rb") as fh:
                    batches[name] = _decode_python_batch(str(folder / name), decode_batch(fh, str(folder / name)))
            return _python_arrays(batches)
    return None


def _python_archive(archive: Path, verify: bool):
    """The arrays of Keras's (checked) ``cifar-10-python.tar.gz`` at ``archive``."""
    return _python_arrays(read_pickled_members(checked(archive, PY_SHA256, REMOTE.dataset, verify), PY_FILES,
                                               _decode_python_batch))


def _is_python_archive(archive: Path) -> bool:
    """Whether the tar at ``archive`` is the Python version (its first batch member tells)."""
    names = set(PY_FILES)
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if member.isfile() and (name in names or name in TRAIN_FILES or name == TEST_FILE):
                    return name in names
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DatasetFormatError(f"{archive}: corrupt or truncated tar archive ({exc})") from None
    return False


def _decode_python_batch(where: str, batch) -> tuple[np.ndarray, np.ndarray]:
    """One decoded batch (a dict with ``data`` (N, 3072) uint8 and ``labels``) -> x (N, 32, 32, 3), y (N, 1)."""
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{where}: expected a dict batch, got {type(batch).__name__}")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise DatasetFormatError(f"{where}: expected keys 'data' and 'labels', got {sorted(map(str, batch))}")
    data = np.asarray(batch["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != RECORD_BYTES - 1:
        raise DatasetFormatError(f"{where}: expected uint8 data of shape (N, 3072), got {data.dtype} {data.shape}")
    labels = np.asarray(batch["labels"])
    if labels.shape != (data.shape[0],) or (labels.size and not 0 <= int(labels.min()) <= int(labels.max()) < 10):
        raise DatasetFormatError(f"{where}: expected {data.shape[0]} labels in 0..9, got shape {labels.shape}")
    x = np.ascontiguousarray(data.reshape((-1,) + IMAGE_SHAPE).transpose(0, 2, 3, 1))
    return x, labels.astype(np.uint8).reshape(-1, 1)


def _python_arrays(batches: dict):
    x_train = np.concatenate([batches[name][0] for name in PY_TRAIN_FILES])
    y_train = np.concatenate([batches[name][1] for name in PY_TRAIN_FILES])
    return (x_train, y_train), batches[PY_TEST_FILE]
