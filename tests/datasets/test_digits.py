"""digits: the bundled 8x8 images (the ones scikit-learn ships) with a fixed, stratified, seeded split."""
import numpy as np
import pytest

from gradflow.datasets import digits


@pytest.fixture(scope="module")
def split():
    return digits.load_data()


def test_shapes_and_dtypes(split):
    (x_train, y_train), (x_test, y_test) = split
    assert x_train.shape == (1437, 8, 8, 1) and y_train.shape == (1437,)
    assert x_test.shape == (360, 8, 8, 1) and y_test.shape == (360,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.uint8
    assert x_train.min() == 0 and x_train.max() == 16
    assert set(np.unique(y_train)) == set(range(10))


def test_deterministic(split):
    (x_train, y_train), (x_test, y_test) = digits.load_data()
    np.testing.assert_array_equal(x_train, split[0][0])
    np.testing.assert_array_equal(y_test, split[1][1])
    (_, y_other), _ = digits.load_data(seed=1)
    assert not np.array_equal(y_other, y_train)


def test_stratified(split):
    (_, y_train), (_, y_test) = split
    total = np.bincount(np.concatenate([y_train, y_test]), minlength=10)
    ideal = total * 360 / total.sum()
    assert np.all(np.abs(np.bincount(y_test, minlength=10) - ideal) < 1)


def test_same_images_as_sklearn(split):
    load_digits = pytest.importorskip("sklearn.datasets").load_digits
    bunch = load_digits()
    (x_train, y_train), (x_test, y_test) = split
    ours = np.concatenate([x_train, x_test]).reshape(-1, 64).astype(np.float64)
    labels = np.concatenate([y_train, y_test])
    key = lambda rows, y: sorted(map(tuple, np.column_stack([rows, y])))  # noqa: E731
    assert key(ours, labels) == key(bunch.data, bunch.target)


def test_other_test_split():
    (x_train, _), (x_test, _) = digits.load_data(test_split=0.5)
    assert len(x_test) == 899 and len(x_train) == 898


def test_needs_no_scikit_learn(monkeypatch):
    import builtins

    real = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.split(".")[0] == "sklearn":
            raise ImportError("scikit-learn is not installed")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    (x_train, _), (x_test, _) = digits.load_data()
    assert len(x_train) + len(x_test) == digits.NUM_IMAGES


def test_damaged_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "digits.npz"
    raw = bytearray(digits._FILE.read_bytes())
    raw[100] ^= 0xFF
    bad.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="damaged: SHA-256"):
        digits._read_digits(bad)
    with pytest.raises(FileNotFoundError, match="reinstall"):
        digits._read_digits(tmp_path / "missing.npz")
