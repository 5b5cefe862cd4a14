"""Downloads: file:// mirrors stand in for the network; hashes, atomic writes, offline message."""
import gzip
import hashlib
import io
import os
import re
import urllib.error

import numpy as np
import pytest

from gradflow.datasets import (
    DatasetChecksumError,
    DatasetUnavailableError,
    _files,
    cifar10,
    data_dir,
    fashion_mnist,
    mnist,
)
from gradflow.datasets._files import Remote, RemoteFile, download, ensure_files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _offline(url):
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")


def _serve_mnist(tmp_path, build, seed=0):
    """Write gzipped IDX files into a fake mirror folder; return (Remote, arrays)."""
    arrays = build.small_mnist(seed=seed)
    mirror = tmp_path / "mirror"
    paths = build.write_idx_set(mirror, arrays, gz=True)
    files = tuple(RemoteFile(p.name, _sha(p.read_bytes())) for p in paths.values())
    return Remote("mnist", (mirror.as_uri() + "/",), files), arrays


def _leftovers(directory):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_known_hash_tables_are_well_formed():
    for module in (mnist, fashion_mnist, cifar10):
        for rf in module.REMOTE.files:
            assert re.fullmatch(r"[0-9a-f]{64}", rf.sha256), (module.__name__, rf.name)
        assert all(m.startswith(("https://", "http://")) for m in module.REMOTE.mirrors)
    assert [rf.name for rf in mnist.REMOTE.files] == [
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def test_data_dir_env_and_default(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADFLOW_DATA", str(tmp_path / "x"))
    assert data_dir() == tmp_path / "x"
    monkeypatch.delenv("GRADFLOW_DATA")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert data_dir() == tmp_path / "home" / ".gradflow" / "datasets"


def test_download_verifies_and_writes(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"gradflow" * 1000)
    dest = tmp_path / "out" / "file.bin"
    download(src.as_uri(), dest, _sha(src.read_bytes()))
    assert dest.read_bytes() == src.read_bytes()
    assert _leftovers(dest.parent) == ["file.bin"]


def test_sha_mismatch_rejected_and_nothing_left(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"tampered")
    dest = tmp_path / "out" / "file.bin"
    with pytest.raises(DatasetChecksumError) as err:
        download(src.as_uri(), dest, "0" * 64)
    msg = str(err.value)
    assert "file.bin" in msg and "0" * 64 in msg and _sha(b"tampered") in msg
    assert _leftovers(dest.parent) == []


def test_failed_stream_leaves_old_file_untouched(tmp_path):
    dest = tmp_path / "file.bin"
    dest.write_bytes(b"old contents")

    class Broken(io.BytesIO):
        def read(self, size=-1):
            if self.tell() >= 4:
                raise ConnectionResetError("connection reset mid-download")
            return super().read(4)

    with pytest.raises(ConnectionResetError):
        download("https://example.invalid/file.bin", dest, None, opener=lambda url: Broken(b"new contents"))
    assert dest.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == ["file.bin"]


def test_atomic_replace_is_the_only_write_to_dest(tmp_path, monkeypatch):
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    dest = tmp_path / "out" / "file.bin"
    seen = []
    real_replace = os.replace

    def spy(a, b):
        seen.append((os.path.basename(a), os.path.basename(b), os.path.exists(b)))
        return real_replace(a, b)

    monkeypatch.setattr(_files.os, "replace", spy)
    download(src.as_uri(), dest, _sha(b"payload"))
    (tmp_name, final_name, existed), = seen
    assert tmp_name.startswith(".file.bin.") and tmp_name.endswith(".part")
    assert final_name == "file.bin" and not existed


def test_mnist_downloads_into_gradflow_data(tmp_path, build, data_home, monkeypatch):
    remote, arrays = _serve_mnist(tmp_path, build)
    monkeypatch.setattr(mnist, "REMOTE", remote)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays[0])
    np.testing.assert_array_equal(y_test, arrays[3])
    assert _leftovers(data_home / "mnist") == sorted(rf.name for rf in remote.files)
    # second call reads from disk only
    monkeypatch.setattr(_files, "_open_url", _offline)
    (x2, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x2, arrays[0])


def test_only_missing_files_are_downloaded(tmp_path, build, monkeypatch):
    remote, arrays = _serve_mnist(tmp_path, build)
    target = tmp_path / "target"
    build.write_idx_set(target, arrays, gz=False)  # all four present, raw
    (target / "t10k-labels-idx1-ubyte").unlink()
    fetched = []
    real = _files._open_url
    monkeypatch.setattr(_files, "_open_url", lambda url: fetched.append(url) or real(url))
    monkeypatch.setattr(mnist, "REMOTE", remote)
    mnist.load_data(path=target)
    assert [u.rsplit("/", 1)[1] for u in fetched] == ["t10k-labels-idx1-ubyte.gz"]


def test_falls_back_to_next_mirror(tmp_path, build, data_home, monkeypatch):
    remote, arrays = _serve_mnist(tmp_path, build)
    dead = (tmp_path / "no-such-mirror").as_uri() + "/"
    monkeypatch.setattr(mnist, "REMOTE", Remote("mnist", (dead,) + remote.mirrors, remote.files))
    (_, y_train), _ = mnist.load_data()
    np.testing.assert_array_equal(y_train, arrays[1])


def test_checksum_mismatch_during_load_keeps_nothing(tmp_path, build, data_home, monkeypatch):
    remote, _ = _serve_mnist(tmp_path, build)
    bad = (remote.files[0],) + (RemoteFile(remote.files[1].name, "f" * 64),) + remote.files[2:]
    monkeypatch.setattr(mnist, "REMOTE", Remote("mnist", remote.mirrors, bad))
    with pytest.raises(DatasetChecksumError, match="train-labels-idx1-ubyte.gz .* expected f{64}"):
        mnist.load_data()
    assert _leftovers(data_home / "mnist") == ["train-images-idx3-ubyte.gz"]


@pytest.mark.parametrize("module", [mnist, fashion_mnist])
def test_offline_gives_one_clear_message(data_home, monkeypatch, module):
    monkeypatch.setattr(_files, "_open_url", _offline)
    with pytest.raises(DatasetUnavailableError) as err:
        module.load_data()
    msg = str(err.value)
    directory = data_home / module.REMOTE.dataset
    assert str(directory) in msg and "Place these files" in msg
    for rf in module.REMOTE.files:
        assert rf.name in msg
    assert "Temporary failure in name resolution" in msg
    assert err.value.__cause__ is None and err.value.__suppress_context__
    assert isinstance(err.value, RuntimeError)
    assert _leftovers(directory) == []


def test_offline_names_only_the_missing_files(tmp_path, build, monkeypatch):
    arrays = build.small_mnist()
    paths = build.write_idx_set(tmp_path, arrays, gz=True)
    paths["train-labels-idx1-ubyte"].unlink()
    monkeypatch.setattr(_files, "_open_url", _offline)
    with pytest.raises(DatasetUnavailableError) as err:
        mnist.load_data(path=tmp_path)
    msg = str(err.value)
    assert "train-labels-idx1-ubyte.gz" in msg and "t10k-images" not in msg.split("Download attempts")[0]


def test_cifar_offline_message_mentions_extracted_folder(data_home, monkeypatch):
    monkeypatch.setattr(_files, "_open_url", _offline)
    with pytest.raises(DatasetUnavailableError) as err:
        cifar10.load_data()
    msg = str(err.value)
    assert "cifar-10-binary.tar.gz" in msg and "cifar-10-batches-bin" in msg
    assert str(data_home / "cifar10") in msg


def test_cifar_downloads_archive(tmp_path, build, small_cifar, data_home, monkeypatch):
    mirror = tmp_path / "mirror"
    archive = build.write_cifar_tar(mirror / "cifar-10-binary.tar.gz", small_cifar)
    remote = Remote("cifar10", (mirror.as_uri(),),
                    (RemoteFile("cifar-10-binary.tar.gz", _sha(archive.read_bytes())),))
    monkeypatch.setattr(cifar10, "REMOTE", remote)
    (x_train, y_train), (x_test, _) = cifar10.load_data()
    assert x_train.shape == (15, 32, 32, 3) and y_train.shape == (15, 1) and x_test.shape == (3, 32, 32, 3)
    assert (data_home / "cifar10" / "cifar-10-binary.tar.gz").read_bytes() == archive.read_bytes()


def test_ensure_files_accepts_ungzipped_variant(tmp_path):
    (tmp_path / "a-idx1-ubyte").write_bytes(b"x")
    remote = Remote("t", (), (RemoteFile("a-idx1-ubyte.gz", None),))
    assert ensure_files(remote, tmp_path) == {"a-idx1-ubyte.gz": tmp_path / "a-idx1-ubyte"}


def test_unknown_hash_skips_verification(tmp_path):
    src = tmp_path / "s.gz"
    src.write_bytes(gzip.compress(b"abc"))
    assert download(src.as_uri(), tmp_path / "d" / "s.gz").read_bytes() == src.read_bytes()


def test_bad_copy_on_first_mirror_falls_back(tmp_path, build, data_home, monkeypatch):
    remote, arrays = _serve_mnist(tmp_path, build)
    corrupt = tmp_path / "corrupt-mirror"
    corrupt.mkdir()
    for rf in remote.files:
        (corrupt / rf.name).write_bytes(b"not the published file")
    monkeypatch.setattr(mnist, "REMOTE", Remote("mnist", (corrupt.as_uri(),) + remote.mirrors, remote.files))
    (x_train, _), _ = mnist.load_data()
    np.testing.assert_array_equal(x_train, arrays[0])
