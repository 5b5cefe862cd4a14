"""Where dataset files live, and how missing ones are downloaded: hash-checked, written atomically.

Every loader describes its files with a :class:`Remote` and calls :func:`ensure_files`; this is the
only module that touches the network or writes into the data directory.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

__all__ = [
    "DatasetError", "DatasetUnavailableError", "DatasetChecksumError", "DatasetFormatError",
    "RemoteFile", "Remote", "data_dir", "dataset_dir", "download", "find_existing",
    "ensure_files",
]

log = logging.getLogger("gradflow.datasets")

DEFAULT_DATA_DIR = Path("~/.gradflow/datasets")
_CHUNK = 1 << 20
_TIMEOUT_S = 30.0


class DatasetError(Exception):
    """Base class of every dataset error, so ``except DatasetError`` catches them all."""


class DatasetUnavailableError(DatasetError, RuntimeError):
    """The files are neither on disk nor downloadable; the message says what to put where."""


class DatasetChecksumError(DatasetUnavailableError):
    """A downloaded file's SHA-256 is not the published one; nothing was kept."""


class DatasetFormatError(DatasetError, ValueError):
    """A file on disk is truncated or malformed; the message names the file, expected and actual."""


for _error in (DatasetError, DatasetUnavailableError, DatasetChecksumError, DatasetFormatError):
    _error.__module__ = "gradflow.datasets"  # tracebacks show the public import path


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name and SHA-256 (``None`` where no official hash is known)."""

    name: str
    sha256: str | None


@dataclass(frozen=True)
class Remote:
    """A dataset's published files and the mirrors (base URLs, tried in order) that serve them."""

    dataset: str
    mirrors: tuple[str, ...]
    files: tuple[RemoteFile, ...]
    placement: str = "gzipped or not"  # how the offline message describes acceptable forms


def data_dir() -> Path:
    """The root for downloaded datasets: ``$GRADFLOW_DATA`` or ``~/.gradflow/datasets``."""
    root = os.environ.get("GRADFLOW_DATA") or str(DEFAULT_DATA_DIR)
    return Path(root).expanduser()


def dataset_dir(dataset: str, path: str | os.PathLike | None = None) -> Path:
    """The directory a loader reads from: ``path`` when given, else ``data_dir()/dataset``."""
    return Path(path).expanduser() if path is not None else data_dir() / dataset


def _open_url(url: str):
    """Open a URL for reading (a seam tests replace to simulate being offline)."""
    return urllib.request.urlopen(url, timeout=_TIMEOUT_S)  # noqa: S310 - http(s)/file mirrors only


def download(url: str, dest: str | os.PathLike, sha256: str | None = None,
             opener: Callable[[str], object] | None = None) -> Path:
    """Fetch ``url`` into ``dest`` atomically: stream to a temp file beside it, check the
    SHA-256, then ``os.replace``. On any failure the temp file is removed and ``dest`` untouched."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    opener = opener or _open_url
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, opener(url) as response:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if sha256 is not None and actual != sha256.lower():
            raise DatasetChecksumError(
                f"{dest.name} downloaded from {url} has SHA-256 {actual}, expected {sha256.lower()}; "
                "the file was discarded (corrupt download or a changed mirror)")
        os.replace(tmp, dest)
        return dest
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def find_existing(directory: Path, names: Iterable[str]) -> Path | None:
    """The first of ``names`` present as a regular file in ``directory``, or ``None``."""
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _gz_variants(name: str) -> tuple[str, ...]:
    return (name, name[: -len(".gz")]) if name.endswith(".gz") else (name,)


def ensure_files(remote: Remote, directory: Path,
                 variants: Callable[[str], tuple[str, ...]] = _gz_variants) -> dict[str, Path]:
    """Map each of ``remote.files`` to a path in ``directory``, downloading the missing ones.

    A file counts as present under any of ``variants(name)`` (by default the name with and
    without ``.gz``). Raises one :class:`DatasetUnavailableError` naming every missing file and
    the directory to put it in when no mirror can be reached.
    """
    found: dict[str, Path] = {}
    missing: list[RemoteFile] = []
    for rf in remote.files:
        hit = find_existing(directory, variants(rf.name))
        if hit is None:
            missing.append(rf)
        else:
            found[rf.name] = hit
    for index, rf in enumerate(missing):
        found[rf.name] = _download_one(remote, rf, directory, still_missing=missing[index:])
    return found


def _download_one(remote: Remote, rf: RemoteFile, directory: Path,
                  still_missing: list[RemoteFile]) -> Path:
    """Try each mirror for one file until one serves it with the published hash."""
    dest = directory / rf.name
    reasons, bad_hashes = [], []
    for base in remote.mirrors:
        url = base.rstrip("/") + "/" + rf.name
        log.info("gradflow.datasets: downloading %s from %s", rf.name, url)
        try:
            return download(url, dest, rf.sha256)
        except DatasetChecksumError as exc:  # a changed or corrupt copy: another mirror may be right
            bad_hashes.append(str(exc))
        except (OSError, ValueError, http.client.HTTPException) as exc:  # offline, 404, refused, bad URL
            reasons.append(f"{url}: {exc}")
    if bad_hashes:
        raise DatasetChecksumError("; ".join(bad_hashes + reasons)) from None
    raise DatasetUnavailableError(_offline_message(remote, directory, still_missing, reasons)) from None


def _offline_message(remote: Remote, directory: Path, missing: list[RemoteFile], reasons: list[str]) -> str:
    names = ", ".join(rf.name for rf in missing)
    tried = "; ".join(reasons) if reasons else "no mirrors configured"
    return (
        f"{remote.dataset}: cannot find or download {names}. "
        f"Place these files ({remote.placement}) in {directory} "
        f"(or pass load_data(path=DIR) for a directory that holds them, or set GRADFLOW_DATA). "
        f"Download attempts failed: {tried}"
    )

