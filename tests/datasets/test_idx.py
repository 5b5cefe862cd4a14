"""IDX parsing and the MNIST / Fashion-MNIST loaders on small files built here."""
import gzip

import numpy as np
import pytest

from gradflow.datasets import DatasetFormatError, fashion_mnist, mnist
from gradflow.datasets._idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx, read_idx


@pytest.mark.parametrize("gz", [True, False])
def test_mnist_loads_gz_and_raw(tmp_path, build, gz):
    arrays = build.small_mnist()
    build.write_idx_set(tmp_path, arrays, gz=gz)
    (x_train, y_train), (x_test, y_test) = mnist.load_data(path=tmp_path)
    for got, want in zip((x_train, y_train, x_test, y_test), arrays):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want)
    assert x_train.shape == (7, 28, 28) and y_train.shape == (7,)
    assert x_train.flags.writeable


def test_mixed_gz_and_raw_and_fashion(tmp_path, build):
    arrays = build.small_mnist(seed=3)
    paths = build.write_idx_set(tmp_path, arrays, gz=True)
    raw = paths["t10k-labels-idx1-ubyte"]
    raw.with_suffix("").write_bytes(gzip.decompress(raw.read_bytes()))
    raw.unlink()
    (_, _), (_, y_test) = fashion_mnist.load_data(path=str(tmp_path))
    np.testing.assert_array_equal(y_test, arrays[3])


def test_gzip_detected_by_content_not_name(tmp_path, build):
    path = tmp_path / "labels-idx1-ubyte"  # no .gz suffix, but gzipped
    path.write_bytes(gzip.compress(build.idx_bytes(np.arange(5))))
    np.testing.assert_array_equal(read_idx(path, LABELS_MAGIC), np.arange(5))


def test_parse_other_idx_types():
    values = (np.arange(6).reshape(2, 3) - 3).astype(">i4")
    data = bytes([0, 0, 0x0C, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big") + values.tobytes()
    out = parse_idx(data)
    np.testing.assert_array_equal(out, values)
    assert out.dtype == np.int32 and out.dtype.isnative


def test_bad_magic_names_file_expected_and_actual(tmp_path, build):
    arrays = build.small_mnist()
    paths = build.write_idx_set(tmp_path, arrays, gz=False)
    # put labels where images belong
    paths["train-images-idx3-ubyte"].write_bytes(build.idx_bytes(arrays[1]))
    with pytest.raises(DatasetFormatError) as err:
        mnist.load_data(path=tmp_path)
    msg = str(err.value)
    assert "train-images-idx3-ubyte" in msg and f"expected IDX magic number {IMAGES_MAGIC}" in msg
    assert f"got {LABELS_MAGIC}" in msg


def test_not_an_idx_file():
    with pytest.raises(DatasetFormatError, match="not an IDX file"):
        parse_idx(b"\x89PNG\r\n\x1a\n....", name="x.png")
    with pytest.raises(DatasetFormatError, match="at least 4 bytes, got 2"):
        parse_idx(b"\x00\x00", name="tiny")


@pytest.mark.parametrize("gz", [True, False])
def test_truncated_images_rejected(tmp_path, build, gz):
    arrays = build.small_mnist()
    build.write_idx_set(tmp_path, arrays, gz=False)
    name = "train-images-idx3-ubyte"
    data = (tmp_path / name).read_bytes()[:-100]
    (tmp_path / name).unlink()
    if gz:
        (tmp_path / (name + ".gz")).write_bytes(gzip.compress(data))
    else:
        (tmp_path / name).write_bytes(data)
    with pytest.raises(DatasetFormatError) as err:
        mnist.load_data(path=tmp_path)
    msg = str(err.value)
    assert name in msg and "truncated" in msg
    assert f"needs {7 * 28 * 28} data bytes, got {7 * 28 * 28 - 100}" in msg


def test_truncated_gzip_stream_rejected(tmp_path, build):
    arrays = build.small_mnist()
    paths = build.write_idx_set(tmp_path, arrays, gz=True)
    target = paths["t10k-images-idx3-ubyte"]
    target.write_bytes(target.read_bytes()[:40])
    with pytest.raises(DatasetFormatError, match="t10k-images-idx3-ubyte.gz: corrupt or truncated gzip"):
        mnist.load_data(path=tmp_path)


def test_truncated_header_rejected():
    data = bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big")  # promises 3 sizes, holds 1
    with pytest.raises(DatasetFormatError, match="expected a 16-byte header for 3 dimensions, got 8 bytes"):
        parse_idx(data, name="short")


def test_trailing_bytes_rejected(build):
    with pytest.raises(DatasetFormatError, match="trailing bytes"):
        parse_idx(build.idx_bytes(np.zeros(4)) + b"\x00", magic=LABELS_MAGIC)


def test_label_count_mismatch_rejected(tmp_path, build):
    x_tr, y_tr, x_te, y_te = build.small_mnist()
    build.write_idx_set(tmp_path, (x_tr, y_tr[:-1], x_te, y_te), gz=True)
    with pytest.raises(DatasetFormatError) as err:
        mnist.load_data(path=tmp_path)
    msg = str(err.value)
    assert "train-labels-idx1-ubyte" in msg and "expected 7 labels" in msg and "got 6" in msg


def test_wrong_image_size_rejected(tmp_path, build):
    x_tr, y_tr, x_te, y_te = build.small_mnist()
    build.write_idx_set(tmp_path, (x_tr, y_tr, x_te[:, :27, :], y_te), gz=False)
    with pytest.raises(DatasetFormatError, match="expected images of 28x28 pixels, got 27x28"):
        mnist.load_data(path=tmp_path)


def test_wrong_dimension_count_rejected(tmp_path, build):
    x_tr, y_tr, x_te, y_te = build.small_mnist()
    build.write_idx_set(tmp_path, (x_tr, y_tr, x_te, y_te[:, None]), gz=False)  # labels as 2-D
    with pytest.raises(DatasetFormatError, match=f"expected IDX magic number {LABELS_MAGIC}, got 2050"):
        mnist.load_data(path=tmp_path)


def test_label_out_of_range_rejected(tmp_path, build):
    x_tr, y_tr, x_te, y_te = build.small_mnist()
    y_tr = y_tr.copy()
    y_tr[2] = 12
    build.write_idx_set(tmp_path, (x_tr, y_tr, x_te, y_te), gz=False)
    with pytest.raises(DatasetFormatError, match="expected labels in 0..9, got 12"):
        mnist.load_data(path=tmp_path)


def test_path_must_be_a_directory(tmp_path):
    target = tmp_path / "train-images-idx3-ubyte.gz"
    target.write_bytes(b"")
    with pytest.raises(ValueError, match="expected path to be a directory holding the IDX files"):
        mnist.load_data(path=target)
