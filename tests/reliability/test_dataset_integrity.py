"""Dataset files are checked, not trusted: a wrong file already in the data directory is refused (it used
to be loaded silently), the check is cached by size and mtime, unverifiable files need an explicit opt-in,
and a CIFAR archive member of the wrong size is refused before it is read."""
import gzip
import hashlib
import io
import json
import tarfile

import numpy as np
import pytest

from gradflow.datasets import DatasetChecksumError, DatasetFormatError, DatasetUnverifiedError, _files, cifar10, mnist
from gradflow.datasets._files import Remote, RemoteFile

NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
         "t10k-labels-idx1-ubyte.gz")


def _idx(array):
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape) + array.tobytes()


@pytest.fixture
def published(tmp_path, monkeypatch):
    """Four small IDX files in a data directory, 'published' under their SHA-256s (mnist.REMOTE patched)."""
    monkeypatch.delenv("GRADFLOW_DATA_VERIFY", raising=False)
    rng = np.random.default_rng(0)
    arrays = (rng.integers(0, 256, (4, 28, 28)), rng.integers(0, 10, 4), rng.integers(0, 256, (2, 28, 28)),
              rng.integers(0, 10, 2))
    folder = tmp_path / "mnist"
    folder.mkdir()
    files = []
    for name, array in zip(NAMES, arrays):
        data = gzip.compress(_idx(array), mtime=0)
        (folder / name).write_bytes(data)
        files.append(RemoteFile(name, hashlib.sha256(data).hexdigest()))
    monkeypatch.setattr(mnist, "REMOTE", Remote("mnist", (), tuple(files)))
    monkeypatch.setattr(_files, "_open_url", lambda url: (_ for _ in ()).throw(OSError("offline")))
    return folder, arrays


def test_published_files_load_and_the_check_is_remembered(published, monkeypatch):
    folder, arrays = published
    (x_train, _), (_, y_test) = mnist.load_data(path=folder)
    np.testing.assert_array_equal(x_train, arrays[0])
    np.testing.assert_array_equal(y_test, arrays[3])
    known = json.loads((folder / ".gradflow-verified.json").read_text())
    assert sorted(known) == sorted(NAMES)
    hashed = []
    monkeypatch.setattr(_files, "_sha256_of", lambda path: hashed.append(path) or "x")
    mnist.load_data(path=folder)
    assert hashed == []  # unchanged files are not hashed again


def test_a_wrong_file_in_the_data_directory_is_refused(published):
    folder, _ = published
    target = folder / "train-images-idx3-ubyte.gz"
    mnist.load_data(path=folder)  # checked and remembered ...
    raw = bytearray(gzip.decompress(target.read_bytes()))
    raw[-1] ^= 0xFF  # ... then swapped for a tampered copy: a new size/mtime is checked again
    target.write_bytes(gzip.compress(bytes(raw), mtime=1))
    with pytest.raises(DatasetChecksumError, match=r"train-images-idx3-ubyte.gz has SHA-256 .* published .* "
                                                   r"Delete it .* verify=False"):
        mnist.load_data(path=folder)
    assert mnist.load_data(path=folder, verify=False)[0][0].shape == (4, 28, 28)  # the explicit opt-out


def test_unverifiable_files_need_the_opt_in(published, monkeypatch):
    folder, arrays = published
    raw = folder / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((folder / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetUnverifiedError, match=r"is not the published t10k-labels-idx1-ubyte.gz.*"
                                                     r"GRADFLOW_DATA_VERIFY=0"):
        mnist.load_data(path=folder)
    monkeypatch.setenv("GRADFLOW_DATA_VERIFY", "0")
    np.testing.assert_array_equal(mnist.load_data(path=folder)[1][1], arrays[3])
    with pytest.raises(ValueError, match="verify must be True, False or None"):
        mnist.load_data(path=folder, verify="no")


def _cifar_archive(path, sizes):
    with tarfile.open(path, "w:gz") as tar:
        for name, size in sizes.items():
            info = tarfile.TarInfo("cifar-10-batches-bin/" + name)
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
    return path


def test_cifar_member_of_the_wrong_size_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar10, "RECORDS_PER_FILE", 2)
    good = 2 * cifar10.RECORD_BYTES
    sizes = {name: good for name in cifar10.TRAIN_FILES}
    sizes[cifar10.TEST_FILE] = 64 * good  # a member far larger than a batch file
    archive = _cifar_archive(tmp_path / "cifar-10-binary.tar.gz", sizes)
    reads = []
    real = tarfile.TarFile.extractfile
    monkeypatch.setattr(tarfile.TarFile, "extractfile", lambda self, m: reads.append(m.name) or real(self, m))
    with pytest.raises(DatasetFormatError, match=r"test_batch.bin: expected 2 records .* got 393344 bytes"):
        cifar10.load_data(path=archive, verify=False)
    assert not any(name.endswith("test_batch.bin") for name in reads)


def test_cifar_archive_is_checked_and_extracted_folders_need_the_opt_in(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADFLOW_DATA_VERIFY", raising=False)
    monkeypatch.setattr(cifar10, "RECORDS_PER_FILE", 1)
    archive = _cifar_archive(tmp_path / "cifar-10-binary.tar.gz",
                             {name: cifar10.RECORD_BYTES for name in cifar10.TRAIN_FILES + (cifar10.TEST_FILE,)})
    with pytest.raises(DatasetChecksumError, match="cifar-10-binary.tar.gz has SHA-256"):
        cifar10.load_data(path=tmp_path)  # not the published archive
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setattr(cifar10, "REMOTE", Remote("cifar10", (), (RemoteFile(cifar10.ARCHIVE, digest),)))
    assert cifar10.load_data(path=tmp_path)[0][0].shape == (5, 32, 32, 3)
    folder = tmp_path / "extracted" / "cifar-10-batches-bin"
    folder.mkdir(parents=True)
    for name in cifar10.TRAIN_FILES + (cifar10.TEST_FILE,):
        (folder / name).write_bytes(bytes(cifar10.RECORD_BYTES))
    with pytest.raises(DatasetUnverifiedError, match="cifar-10-batches-bin is not the published"):
        cifar10.load_data(path=folder)
    assert cifar10.load_data(path=folder, verify=False)[1][0].shape == (1, 32, 32, 3)
