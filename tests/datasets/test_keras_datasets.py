"""boston_housing, california_housing, cifar100, imdb, reuters: tiny files in the published formats (no
network); the same arrays as Keras's own loaders (tests/keras_cases/apps.py), hashes checked, pickles
restricted to NumPy arrays, a clear offline error."""
import hashlib
import io
import pickle
import tarfile
import urllib.error
import zipfile

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow
from gradflow.datasets import (
    DatasetChecksumError,
    DatasetFormatError,
    DatasetUnavailableError,
    _files,
    boston_housing,
    california_housing,
    cifar100,
    imdb,
    reuters,
)


def _apps_cases():
    return case_module("apps")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return _apps_cases().write_files(tmp_path_factory.mktemp("keras-datasets"))


@pytest.mark.parametrize("name", ["boston_housing", "california_housing", "imdb", "reuters", "cifar100"])
def test_same_arrays_as_keras(real_keras, name):
    cases = _apps_cases()
    cases.dataset_loaders(real_keras, gradflow, name)


def test_cifar10_from_keras_file_same_arrays_as_keras(real_keras):
    case_module("datasets_more").cifar10_keras_file(real_keras, gradflow)


def test_shapes_and_splits(files):
    (x, y), (xt, yt) = boston_housing.load_data(files["boston_housing.npz"])
    assert x.shape == (18, 13) and xt.shape == (5, 13) and y.shape == (18,)
    (x, _), (xt, _) = california_housing.load_data("small", files["california_housing.npz"], test_split=0.5)
    assert len(x) == len(xt) == 300
    (x, y), (xt, yt) = cifar100.load_data("coarse", path=files["cifar-100-python.tar.gz"])
    assert x.shape == (6, 32, 32, 3) and x.dtype == np.uint8 and y.shape == (6, 1) and int(y.max()) < 20
    (x, y), _ = imdb.load_data(files["imdb.npz"], num_words=10, skip_top=2, oov_char=None)
    assert x.dtype == object and all(2 <= w < 10 for s in x for w in s)
    assert len(reuters.get_label_names()) == 46 and reuters.get_label_names()[3] == "earn"
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(files["boston_housing.npz"], test_split=1.0)
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data("medium")
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data("tiny")


def test_directory_and_data_dir_paths(files, tmp_path, monkeypatch):
    directory = files["imdb.npz"].parent
    a = imdb.load_data(directory)
    monkeypatch.setenv("GRADFLOW_DATA", str(tmp_path))
    (tmp_path / "imdb").mkdir()
    (tmp_path / "imdb" / "imdb.npz").write_bytes(files["imdb.npz"].read_bytes())
    b = imdb.load_data()  # Keras's default: a name under the data directory
    assert [list(s) for s in a[0][0]] == [list(s) for s in b[0][0]]
    assert imdb.get_word_index(directory) == {"the": 1, "a": 2, "film": 3}


def test_hash_is_checked(files, monkeypatch):
    monkeypatch.setenv("GRADFLOW_DATA_VERIFY", "1")
    with pytest.raises(DatasetChecksumError, match="SHA-256"):
        boston_housing.load_data(files["boston_housing.npz"])
    with pytest.raises(DatasetChecksumError, match="MD5"):
        reuters.get_word_index(files["reuters_word_index.json"])
    boston_housing.load_data(files["boston_housing.npz"], verify=False)
    good = files["boston_housing.npz"].read_bytes()
    monkeypatch.setattr(boston_housing, "SHA256", hashlib.sha256(good).hexdigest())
    boston_housing.load_data(files["boston_housing.npz"])


def test_offline_is_a_clear_error(tmp_path, monkeypatch):
    def offline(url):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(_files, "_open_url", offline)
    monkeypatch.setenv("GRADFLOW_DATA", str(tmp_path))
    with pytest.raises(DatasetUnavailableError, match=r"imdb\.npz.*storage\.googleapis\.com"):
        imdb.load_data()
    with pytest.raises(DatasetUnavailableError, match="cifar-100-python.tar.gz"):
        cifar100.load_data()
    assert not list(tmp_path.rglob("*.part"))


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickles_cannot_run_code(tmp_path):
    path = tmp_path / "reuters.npz"
    blob = io.BytesIO()
    np.lib.format.write_array(blob, np.array([_Evil()], dtype=object), allow_pickle=True)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("x.npy", blob.getvalue())
        y = io.BytesIO()
        np.lib.format.write_array(y, np.zeros(1, "int64"))
        z.writestr("y.npy", y.getvalue())
    with pytest.raises(DatasetFormatError, match="builtins.print"):
        reuters.load_data(path)
    archive = tmp_path / "cifar-100-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = pickle.dumps({b"data": _Evil()})
        info = tarfile.TarInfo("cifar-100-python/train")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DatasetFormatError, match="builtins.print"):
        cifar100.load_data(path=archive)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_idx_datasets_same_arrays_as_keras(real_keras, name):
    _apps_cases().idx_datasets(real_keras, gradflow, name)
