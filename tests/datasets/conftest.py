"""Builders for small, valid IDX and CIFAR files (and broken variants) in tmp_path."""
import gzip
import io
import tarfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode a uint8 array as IDX: 00 00 08 ndim, big-endian sizes, data."""
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.tobytes()


def small_mnist(n_train=7, n_test=5, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_train, dtype=np.uint8),
        rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8), rng.integers(0, 10, n_test, dtype=np.uint8),
    )


def write_idx_set(directory: Path, arrays, gz=True) -> dict:
    """Write four IDX files (gzipped or raw); returns name -> path."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, array in zip(IDX_NAMES, arrays):
        data = idx_bytes(array)
        path = directory / (name + ".gz" if gz else name)
        path.write_bytes(gzip.compress(data) if gz else data)
        paths[name] = path
    return paths


def cifar_records(n, seed):
    """n CIFAR records (label + CHW pixels) and the expected HWC images and labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    chw = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    data = b"".join(bytes([labels[i]]) + chw[i].tobytes() for i in range(n))
    return data, chw.transpose(0, 2, 3, 1), labels


CIFAR_NAMES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)


def cifar_set(n=3):
    """name -> (bytes, x HWC, y) for the six batch files, each with n records."""
    return {name: cifar_records(n, seed) for seed, name in enumerate(CIFAR_NAMES)}


def write_cifar_dir(directory: Path, files) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, (data, _, _) in files.items():
        (directory / name).write_bytes(data)
    return directory


def write_cifar_tar(path: Path, files, prefix="cifar-10-batches-bin/") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, (data, _, _) in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def build():
    """The builders above, for test modules (importlib import mode cannot import conftest)."""
    return SimpleNamespace(
        idx_bytes=idx_bytes, small_mnist=small_mnist, write_idx_set=write_idx_set, IDX_NAMES=IDX_NAMES,
        cifar_records=cifar_records, cifar_set=cifar_set, write_cifar_dir=write_cifar_dir,
        write_cifar_tar=write_cifar_tar, CIFAR_NAMES=CIFAR_NAMES,
    )


@pytest.fixture
def small_cifar(monkeypatch):
    """Six batch files of 3 records each, with the loader's per-file record count patched to match."""
    from gradflow.datasets import cifar10

    monkeypatch.setattr(cifar10, "RECORDS_PER_FILE", 3)
    return cifar_set(3)


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """GRADFLOW_DATA pointed at an empty temporary directory."""
    home = tmp_path / "gradflow-data"
    monkeypatch.setenv("GRADFLOW_DATA", str(home))
    return home


@pytest.fixture(autouse=True)
def _unverified_fixture_files(monkeypatch):
    """These tests load small synthetic files in the standard layouts, which have no published hash:
    the documented switch for such files. tests/reliability/test_dataset_integrity.py tests verification."""
    monkeypatch.setenv("GRADFLOW_DATA_VERIFY", "0")
