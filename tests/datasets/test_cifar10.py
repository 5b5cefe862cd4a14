"""CIFAR-10 binary loader: extracted folder, tar.gz archive, and broken files."""
import numpy as np
import pytest

from gradflow.datasets import DatasetFormatError, cifar10


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
