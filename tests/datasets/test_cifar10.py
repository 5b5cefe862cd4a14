"""CIFAR-10 binary loader: extracted folder, tar.gz archive, and broken files."""
import numpy as np
import pytest

from gradflow.datasets import DatasetChecksumError, DatasetFormatError, DatasetUnverifiedError, cifar10


def _expected(files):
    train = [files[name] for name in cifar10.TRAIN_FILES]
    x_train = np.concatenate([x for _, x, _ in train])
    y_train = np.concatenate([y for _, _, y in train])[:, None]
    _, x_test, y_test = files[cifar10.TEST_FILE]
    return (x_train, y_train), (x_test, y_test[:, None])


def _check(result, files):
    (x_train, y_train), (x_test, y_test) = result
    (ex_train, ey_train), (ex_test, ey_test) = _expected(files)
    assert x_train.shape == (15, 32, 32, 3) and y_train.shape == (15, 1)
    assert x_test.shape == (3, 32, 32, 3) and y_test.shape == (3, 1)
    for got, want in ((x_train, ex_train), (y_train, ey_train), (x_test, ex_test), (y_test, ey_test)):
        assert got.dtype == np.uint8 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)


def test_channels_last_layout(build, small_cifar):
    data, x, _ = small_cifar["data_batch_1.bin"]
    # the red plane comes first in the record: pixel (0, 1) red is byte 1 + 1
    assert x[0, 0, 1, 0] == data[2] and x[0, 0, 0, 1] == data[1 + 1024]


@pytest.mark.parametrize("layout", ["extracted_dir", "parent_of_extracted", "archive_in_dir", "archive_path"])
def test_loads_every_layout(tmp_path, build, small_cifar, layout):
    if layout == "extracted_dir":
        path = build.write_cifar_dir(tmp_path / "cifar-10-batches-bin", small_cifar)
    elif layout == "parent_of_extracted":
        build.write_cifar_dir(tmp_path / "cifar-10-batches-bin", small_cifar)
        path = tmp_path
    elif layout == "archive_in_dir":
        build.write_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", small_cifar)
        path = tmp_path
    else:
        path = build.write_cifar_tar(tmp_path / "elsewhere.tar.gz", small_cifar)
    _check(cifar10.load_data(path=path), small_cifar)


def test_default_location_under_gradflow_data(build, small_cifar, data_home):
    build.write_cifar_tar(data_home / "cifar10" / "cifar-10-binary.tar.gz", small_cifar)
    _check(cifar10.load_data(), small_cifar)


def test_truncated_batch_rejected(tmp_path, build, small_cifar):
    folder = build.write_cifar_dir(tmp_path / "cifar-10-batches-bin", small_cifar)
    target = folder / "data_batch_3.bin"
    target.write_bytes(target.read_bytes()[:-10])
    with pytest.raises(DatasetFormatError) as err:
        cifar10.load_data(path=folder)
    msg = str(err.value)
    assert "data_batch_3.bin" in msg and "expected 3 records of 3073 bytes = 9219 bytes" in msg
    assert "got 9209 bytes" in msg


def test_wrong_record_count_rejected(tmp_path, build, small_cifar):
    files = dict(small_cifar)
    files["test_batch.bin"] = build.cifar_records(2, seed=9)
    archive = build.write_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", files)
    with pytest.raises(DatasetFormatError, match=r"cifar-10-binary.tar.gz:cifar-10-batches-bin/test_batch.bin: "
                                                  r"expected 3 records .* got 6146 bytes"):
        cifar10.load_data(path=archive)


def test_archive_missing_member_rejected(tmp_path, build, small_cifar):
    files = {k: v for k, v in small_cifar.items() if k != "data_batch_5.bin"}
    archive = build.write_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", files)
    with pytest.raises(DatasetFormatError, match="missing data_batch_5.bin"):
        cifar10.load_data(path=tmp_path)
    assert archive.exists()


def test_corrupt_archive_rejected(tmp_path, build, small_cifar):
    archive = build.write_cifar_tar(tmp_path / "cifar-10-binary.tar.gz", small_cifar)
    archive.write_bytes(archive.read_bytes()[:200])
    with pytest.raises(DatasetFormatError, match="corrupt or truncated tar archive"):
        cifar10.load_data(path=tmp_path)


def test_label_out_of_range_rejected(tmp_path, build, small_cifar):
    files = dict(small_cifar)
    data, x, y = files["data_batch_2.bin"]
    files["data_batch_2.bin"] = (bytes([10]) + data[1:], x, y)
    folder = build.write_cifar_dir(tmp_path / "bins", files)
    with pytest.raises(DatasetFormatError, match="data_batch_2.bin: expected labels in 0..9, got 10"):
        cifar10.load_data(path=folder)


def test_never_unpickles():
    import inspect

    source = inspect.getsource(cifar10)
    assert "pickle.load" not in source and "allow_pickle=True" not in source


def _write_python_version(folder, per_batch=3, seed=0, protocol=2):
    """Keras's file layout (``cifar-10-batches-py``), pickled as the published file is; returns the folder."""
    import pickle

    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name in cifar10.PY_TRAIN_FILES + (cifar10.PY_TEST_FILE,):
        batch = {b"batch_label": name.encode(), b"labels": [int(v) for v in rng.integers(0, 10, per_batch)],
                 b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), b"filenames": [b"a.png"] * per_batch}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=protocol))
    return folder


def _expected_python(folder):
    import pickle

    def one(name):
        d = pickle.loads((folder / name).read_bytes())
        x = d[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
        return x, np.asarray(d[b"labels"], np.uint8)[:, None]
    train = [one(n) for n in cifar10.PY_TRAIN_FILES]
    return (np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train])), one(cifar10.PY_TEST_FILE)


@pytest.mark.parametrize("layout", ["folder", "parent", "archive", "archive_in_dir"])
@pytest.mark.parametrize("protocol", [2, 4])
def test_reads_keras_python_version(tmp_path, layout, protocol):
    import tarfile

    folder = _write_python_version(tmp_path / "src" / cifar10.PY_DIR, protocol=protocol)
    expected = _expected_python(folder)
    if layout in ("archive", "archive_in_dir"):
        path = tmp_path / "dl" / cifar10.PY_ARCHIVE
        path.parent.mkdir()
        with tarfile.open(path, "w:gz") as tar:
            tar.add(folder, arcname=cifar10.PY_DIR)
        path = path.parent if layout == "archive_in_dir" else path
    else:
        path = folder if layout == "folder" else folder.parent
    got = cifar10.load_data(path=path, verify=False)
    for (xg, yg), (xe, ye) in zip(got, expected, strict=True):
        assert xg.dtype == np.uint8 and yg.dtype == np.uint8 and xg.flags.c_contiguous
        np.testing.assert_array_equal(xg, xe)
        np.testing.assert_array_equal(yg, ye)
    if layout in ("archive", "archive_in_dir"):
        with pytest.raises(DatasetChecksumError, match="expected the published 6d958be0"):
            cifar10.load_data(path=path, verify=True)  # not the published file: its SHA-256 is checked
    else:
        with pytest.raises(DatasetUnverifiedError, match="cannot be checked"):
            cifar10.load_data(path=path, verify=True)


def test_python_version_refuses_code_and_bad_batches(tmp_path):
    import pickle

    folder = _write_python_version(tmp_path / cifar10.PY_DIR)

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": Evil(), b"labels": []}))
    with pytest.raises(DatasetFormatError, match=r"data_batch_3: not a CIFAR batch .*refusing to load builtins.print"):
        cifar10.load_data(path=folder, verify=False)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1, 12]}))
    with pytest.raises(DatasetFormatError, match="data_batch_3: expected 2 labels in 0..9"):
        cifar10.load_data(path=folder, verify=False)
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": np.zeros((2, 3000), np.uint8), b"labels": [1, 2]}))
    with pytest.raises(DatasetFormatError, match=r"expected uint8 data of shape \(N, 3072\), got uint8 \(2, 3000\)"):
        cifar10.load_data(path=folder, verify=False)


def test_python_archive_names_a_bad_or_missing_member(tmp_path):
    """Keras's archive goes through the same tar reader as the binary one: a batch that is not plain data
    is named as ``archive:member``, a missing batch by name."""
    import pickle
    import tarfile

    folder = _write_python_version(tmp_path / "src" / cifar10.PY_DIR)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": tarfile.TarInfo("x"), b"labels": []}))
    path = tmp_path / cifar10.PY_ARCHIVE
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=cifar10.PY_DIR)
    with pytest.raises(DatasetFormatError, match=rf"{cifar10.PY_ARCHIVE}:{cifar10.PY_DIR}/test_batch: not a CIFAR"):
        cifar10.load_data(path=path, verify=False)
    (folder / "test_batch").unlink()
    with tarfile.open(path, "w:gz") as tar:
        tar.add(folder, arcname=cifar10.PY_DIR)
    with pytest.raises(DatasetFormatError, match="missing test_batch"):
        cifar10.load_data(path=path, verify=False)
