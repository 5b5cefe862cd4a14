"""The files Keras's own loaders download (one ``.npz``, ``.json`` or ``.tar.gz`` each): where they live,
how they are fetched and checked, and a ``.npz`` reader that never runs ``pickle``: the object arrays
inside are decoded as data (``_pickled_data.py``), NumPy arrays and plain containers only.

Keras publishes SHA-256 hashes for its data files and MD5 hashes for its word indexes; both are checked.
"""
from __future__ import annotations

import hashlib
import io
import os
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ._files import (
    VERIFY_ENV,
    DatasetChecksumError,
    DatasetFormatError,
    DatasetUnavailableError,
    data_dir,
    download,
    resolve_verify,
    verify_file,
)
from ._pickled_data import PickledDataError, decode

__all__ = ["KERAS_ORIGIN", "checked", "decode_batch", "keras_file", "load_npz", "read_pickled_members",
           "split_shuffled", "tar_members"]

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def _load_npy(raw: bytes, where: str):
    fh = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(fh, allow_pickle=False)
    except ValueError:
        pass
    fh.seek(0)
    try:
        version = np.lib.format.read_magic(fh)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(fh)
        elif version[0] in (2, 3):
            np.lib.format.read_array_header_2_0(fh)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        array = decode(fh, encoding="latin1")
    except (ValueError, PickledDataError, EOFError) as exc:
        raise DatasetFormatError(f"{where}: not a readable .npy member ({exc})") from None
    if not isinstance(array, np.ndarray):
        raise DatasetFormatError(f"{where}: expected an array, got {type(array).__name__}")
    return array


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Every ``.npy`` member of the ``.npz`` at ``path``; object arrays (ragged sequences) are decoded as data,
    NumPy arrays and lists only (no code can run)."""
    arrays = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".npy"):
                    arrays[member[:-4]] = _load_npy(archive.read(member), f"{path}:{member}")
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetFormatError(f"{path}: not a readable .npz archive ({exc})") from None
    return arrays


def checked(path: Path, file_hash: str, dataset: str, verify: bool) -> Path:
    """``path``, after checking its published hash when ``verify`` is on (SHA-256 for a 64-digit
    ``file_hash``, else MD5): the check every loader makes before it opens a file it did not download."""
    if not verify:
        return path
    if len(file_hash) == 64:
        return verify_file(path, file_hash, dataset)
    digest = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    if digest != file_hash.lower():
        raise DatasetChecksumError(
            f"{dataset}: {path} has MD5 {digest}, expected the published {file_hash.lower()}; delete it to download "
            f"a fresh copy, or pass verify=False (or set {VERIFY_ENV}=0) to use it anyway")
    return path


def keras_file(dataset: str, fname: str, file_hash: str, path=None, verify=None,
               origin: str | None = None) -> Path:
    """The local copy of Keras's published file ``fname``, hash-checked (SHA-256 or MD5 ``file_hash``).

    ``path`` may be the file itself, a directory holding ``fname``, or (as in Keras) a file name under the
    data directory ``$GRADFLOW_DATA/<dataset>``. A missing file is downloaded from ``origin`` (default
    Keras's bucket + ``fname``); offline, a :class:`DatasetUnavailableError` says where to put it.
    """
    verify = resolve_verify(verify)
    if path is None:
        target = data_dir() / dataset / fname
    else:
        p = Path(os.fspath(path)).expanduser()
        if p.is_dir():
            target = p / fname
        elif p.is_file() or p.is_absolute() or p.parent != Path("."):
            target = p
        else:
            target = data_dir() / dataset / p
    if target.is_file():
        return checked(target, file_hash, dataset, verify)
    url = origin or KERAS_ORIGIN + fname
    try:
        download(url, target, file_hash if len(file_hash) == 64 else None)
    except DatasetChecksumError:
        raise
    except (OSError, ValueError) as exc:
        raise DatasetUnavailableError(
            f"{dataset}: cannot find or download {fname}. Place Keras's published {fname} at {target} (or pass "
            f"load_data(path=...) for the file or a directory holding it, or set GRADFLOW_DATA). Download of "
            f"{url} failed: {exc}") from None
    if len(file_hash) != 64:
        try:
            checked(target, file_hash, dataset, True)
        except DatasetChecksumError:
            target.unlink()
            raise
    return target


def split_shuffled(x, y, test_split: float, seed: int):
    """Keras's split for the regression sets: shuffle with ``RandomState(seed)``, then the first
    ``int(len * (1 - test_split))`` rows train."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
                         f"(exclusive of 1).")
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    n = int(len(x) * (1 - test_split))
    return (np.array(x[:n]), np.array(y[:n])), (np.array(x[n:]), np.array(y[n:]))


def tar_members(archive, needed: tuple[str, ...], read_member) -> dict:
    """``{name: read_member(where, tar, member)}`` for the first file member of the (gzipped) tar ``archive``
    with each base name in ``needed`` (``where`` names it as ``archive:member``); nothing is extracted to
    disk. A broken archive, or a missing member, raises :class:`DatasetFormatError` naming it."""
    found: dict = {}
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                name = os.path.basename(member.name)
                if member.isfile() and name in needed and name not in found:
                    found[name] = read_member(f"{archive}:{member.name}", tar, member)
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise DatasetFormatError(f"{archive}: corrupt or truncated tar archive ({exc})") from None
    missing = [name for name in needed if name not in found]
    if missing:
        raise DatasetFormatError(f"{archive}: expected members {', '.join(needed)}, missing {', '.join(missing)}")
    return found


def decode_batch(fh, where: str):
    """The pickle stream ``fh`` (a CIFAR batch) decoded as data (``_pickled_data``, no ``pickle``); a stream
    that is not plain data raises :class:`DatasetFormatError` naming ``where``."""
    try:
        return decode(fh, encoding="bytes")
    except PickledDataError as exc:
        raise DatasetFormatError(f"{where}: not a CIFAR batch ({exc})") from None


def read_pickled_members(archive, needed: tuple[str, ...], decode_member) -> dict:
    """``{name: decode_member(where, decoded)}`` for each member of the (gzipped) tar ``archive`` whose base
    name is in ``needed``, its pickle stream decoded as data (``decode_batch``); a broken archive or stream,
    or a missing member, raises :class:`DatasetFormatError` naming it."""
    return tar_members(archive, needed,
                       lambda where, tar, member: decode_member(where, decode_batch(tar.extractfile(member), where)))
