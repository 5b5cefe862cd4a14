"""The IDX file format (MNIST, Fashion-MNIST) and the shared four-file loader built on it.

An IDX file is ``00 00 <dtype> <ndim>`` (read as one big-endian int: 2049 for 1-D uint8 labels,
2051 for 3-D uint8 images), then ``ndim`` big-endian uint32 sizes, then the data, row-major.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

from ._files import DatasetFormatError, Remote, dataset_dir, ensure_files

__all__ = ["LABELS_MAGIC", "IMAGES_MAGIC", "read_bytes", "parse_idx", "read_idx", "load_idx_dataset"]

LABELS_MAGIC = 2049  # 0x00000801: uint8, 1 dimension
IMAGES_MAGIC = 2051  # 0x00000803: uint8, 3 dimensions

# IDX type code -> big-endian dtype
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def read_bytes(path: str | os.PathLike) -> bytes:
    """A file's bytes, gunzipped when it starts with the gzip magic (whatever its name says)."""
    raw = Path(path).read_bytes()
    if raw[:2] != _GZIP_MAGIC:
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise DatasetFormatError(f"{path}: corrupt or truncated gzip data ({exc})") from None


def parse_idx(data: bytes, name: str = "<bytes>", magic: int | None = None) -> np.ndarray:
    """Decode IDX bytes into an array, checking the magic number, header length and data length."""
    if len(data) < 4:
        raise DatasetFormatError(f"{name}: expected an IDX header of at least 4 bytes, got {len(data)} bytes")
    actual_magic = int.from_bytes(data[:4], "big")
    if magic is not None and actual_magic != magic:
        raise DatasetFormatError(f"{name}: expected IDX magic number {magic}, got {actual_magic}")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DatasetFormatError(
            f"{name}: not an IDX file: expected magic 0x0000<type><ndim> with type in "
            f"{sorted(_IDX_DTYPES)}, got {actual_magic:#010x}")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetFormatError(
            f"{name}: expected a {header}-byte header for {ndim} dimensions, got {len(data)} bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    actual = len(data) - header
    if actual != expected:
        what = "truncated" if actual < expected else "trailing bytes"
        raise DatasetFormatError(
            f"{name}: header shape {shape} needs {expected} data bytes, got {actual} ({what})")
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike, magic: int | None = None) -> np.ndarray:
    """Read one IDX file (gzipped or raw) from disk."""
    return parse_idx(read_bytes(path), name=str(path), magic=magic)


def _read_pair(images_path: Path, labels_path: Path, rows: int, cols: int, num_classes: int):
    x = read_idx(images_path, IMAGES_MAGIC)
    y = read_idx(labels_path, LABELS_MAGIC)
    if x.shape[1:] != (rows, cols):
        raise DatasetFormatError(
            f"{images_path}: expected images of {rows}x{cols} pixels, got {x.shape[1]}x{x.shape[2]}")
    if x.shape[0] != y.shape[0]:
        raise DatasetFormatError(
            f"{labels_path}: expected {x.shape[0]} labels (one per image in {images_path.name}), "
            f"got {y.shape[0]}")
    if y.size and int(y.max()) >= num_classes:
        raise DatasetFormatError(
            f"{labels_path}: expected labels in 0..{num_classes - 1}, got {int(y.max())}")
    return x, y


def load_idx_dataset(remote: Remote, path=None, rows: int = 28, cols: int = 28, num_classes: int = 10,
                     verify: bool | None = None):
    """Load the standard four IDX files of ``remote`` as ``((x_train, y_train), (x_test, y_test))``.

    ``remote.files`` must list train images, train labels, test images, test labels, in that order;
    ``verify``: see :func:`gradflow.datasets._files.ensure_files`.
    """
    directory = dataset_dir(remote.dataset, path)
    if directory.exists() and not directory.is_dir():
        raise ValueError(
            f"{remote.dataset}.load_data: expected path to be a directory holding the IDX files, "
            f"got the file {directory}")
    paths = ensure_files(remote, directory, verify=verify)
    train_x, train_y, test_x, test_y = (paths[rf.name] for rf in remote.files)
    return (_read_pair(train_x, train_y, rows, cols, num_classes),
            _read_pair(test_x, test_y, rows, cols, num_classes))
