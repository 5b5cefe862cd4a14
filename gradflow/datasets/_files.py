"""Where dataset files live, and how missing ones are downloaded: hash-checked, written atomically.

Every loader describes its files with a :class:`Remote` and calls :func:`ensure_files`; this is the
only module that touches the network or writes into the data directory.

Every load checks every file's SHA-256, the ones already on disk too (a wrong or tampered file is
an error, never used silently). A file checked once is remembered by size and modification time in
a ``.gradflow-verified.json`` beside it (when the directory is writable), so later loads do not
hash it again. A file whose hash cannot be checked (an uncompressed copy, an extracted archive,
your own data in the standard layout) is refused unless the load says ``verify=False`` or
``GRADFLOW_DATA_VERIFY=0`` is set.
"""
from __future__ import annotations

import contextlib
import hashlib
import http.client
import json
import logging
import os
import tempfile
import threading
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DatasetError", "DatasetUnavailableError", "DatasetChecksumError", "DatasetFormatError",
    "DatasetUnverifiedError", "RemoteFile", "Remote", "data_dir", "dataset_dir", "download", "find_existing",
    "ensure_files", "resolve_verify", "verify_file", "VERIFY_ENV",
]

log = logging.getLogger("gradflow.datasets")

DEFAULT_DATA_DIR = Path("~/.gradflow/datasets")
_CHUNK = 1 << 20
_TIMEOUT_S = 30.0
#: set to 0 to accept dataset files whose SHA-256 cannot be checked (tests, your own data)
VERIFY_ENV = "GRADFLOW_DATA_VERIFY"
_VERIFIED_NAME = ".gradflow-verified.json"
_verified_lock = threading.Lock()


class DatasetError(Exception):
    """Base class of every dataset error, so ``except DatasetError`` catches them all."""


class DatasetUnavailableError(DatasetError, RuntimeError):
    """The files are neither on disk nor downloadable; the message says what to put where."""


class DatasetChecksumError(DatasetUnavailableError):
    """A downloaded file's SHA-256 is not the published one; nothing was kept."""


class DatasetFormatError(DatasetError, ValueError):
    """A file on disk is truncated or malformed; the message names the file, expected and actual."""


class DatasetUnverifiedError(DatasetUnavailableError):
    """A file on disk cannot be checked against a published SHA-256 and ``verify=False`` was not given."""


for _error in (DatasetError, DatasetUnavailableError, DatasetChecksumError, DatasetFormatError,
               DatasetUnverifiedError):
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


def resolve_verify(verify: bool | None) -> bool:
    """``verify`` as given, or (None) from ``$GRADFLOW_DATA_VERIFY`` (default on)."""
    if verify is None:
        return os.environ.get(VERIFY_ENV, "1").strip().lower() not in ("0", "false", "no", "off")
    if not isinstance(verify, bool):
        raise ValueError(f"verify must be True, False or None (from ${VERIFY_ENV}), got {verify!r}")
    return verify


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_verified(directory: Path) -> dict:
    try:
        data = json.loads((directory / _VERIFIED_NAME).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember_verified(path: Path, stat: os.stat_result, sha256: str) -> None:
    """Record a check beside the file (atomically; silently skipped where the folder is read-only)."""
    with _verified_lock:
        known = _read_verified(path.parent)
        known[path.name] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256}
        try:
            fd, tmp = tempfile.mkstemp(prefix=f"{_VERIFIED_NAME}.", suffix=".part", dir=path.parent)
        except OSError:
            return
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(known, out, indent=1, sort_keys=True)
            os.replace(tmp, path.parent / _VERIFIED_NAME)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def verify_file(path: Path, sha256: str, dataset: str) -> Path:
    """``path`` after checking its SHA-256 against ``sha256`` (remembered by size and mtime, so an
    unchanged file is hashed once); :class:`DatasetChecksumError` naming the file otherwise."""
    stat = path.stat()
    entry = _read_verified(path.parent).get(path.name)
    if (isinstance(entry, dict) and entry.get("size") == stat.st_size and entry.get("mtime_ns") == stat.st_mtime_ns
            and entry.get("sha256") == sha256.lower()):
        return path
    actual = _sha256_of(path)
    if actual != sha256.lower():
        raise DatasetChecksumError(
            f"{dataset}: {path} has SHA-256 {actual}, expected the published {sha256.lower()}; the file is wrong, "
            f"damaged or tampered with. Delete it to download a fresh copy, or pass load_data(..., verify=False) "
            f"(or set {VERIFY_ENV}=0) to use it anyway")
    _remember_verified(path, stat, actual)
    return path


def unverified(dataset: str, path: Path, published: str) -> DatasetUnverifiedError:
    """The error for a file that is not the published one (so its hash cannot be checked)."""
    return DatasetUnverifiedError(
        f"{dataset}: {path} is not the published {published}, so its SHA-256 cannot be checked. Use the "
        f"published file (or delete this one to download it), or pass load_data(..., verify=False) or set "
        f"{VERIFY_ENV}=0 to load unverified local files (tests, your own data)")


def find_existing(directory: Path, names: Iterable[str]) -> Path | None:
    """The first of ``names`` present as a regular file in ``directory``, or ``None``."""
    for name in names:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def _gz_variants(name: str) -> tuple[str, ...]:
    return (name, name[: -len(".gz")]) if name.endswith(".gz") else (name,)


def ensure_files(remote: Remote, directory: Path, variants: Callable[[str], tuple[str, ...]] = _gz_variants,
                 verify: bool | None = None) -> dict[str, Path]:
    """Map each of ``remote.files`` to a path in ``directory``, downloading the missing ones.

    A file counts as present under any of ``variants(name)`` (by default the name with and
    without ``.gz``). With ``verify`` (default: ``$GRADFLOW_DATA_VERIFY``, on) a present file must be
    the published one with its published SHA-256 (:func:`verify_file`), else the load fails. Raises
    one :class:`DatasetUnavailableError` naming every missing file and the directory to put it in
    when no mirror can be reached.
    """
    verify = resolve_verify(verify)
    found: dict[str, Path] = {}
    missing: list[RemoteFile] = []
    for rf in remote.files:
        hit = find_existing(directory, variants(rf.name))
        if hit is None:
            missing.append(rf)
            continue
        if verify:
            if hit.name != rf.name or rf.sha256 is None:
                raise unverified(remote.dataset, hit, rf.name)
            verify_file(hit, rf.sha256, remote.dataset)
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

