"""to_categorical and normalize: Keras semantics, checked against plain NumPy and scikit-learn."""
import numpy as np
import pytest

from gradflow.utils import normalize, to_categorical


def test_to_categorical_basic():
    out = to_categorical([0, 2, 1, 2])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1, 2]])
    assert out.dtype == np.float64  # Keras's dtype for arrays and lists
    import gradflow as gf

    assert to_categorical(gf.Tensor(np.array([0, 2]))).dtype == np.float32  # for tensors: Keras's one_hot


def test_to_categorical_column_labels_and_num_classes():
    y = np.array([[1], [3], [0]], dtype=np.uint8)
    out = to_categorical(y, num_classes=5, dtype="int64")
    assert out.shape == (3, 5) and out.dtype == np.int64
    np.testing.assert_array_equal(out.argmax(-1), [1, 3, 0])


def test_to_categorical_keeps_leading_shape():
    y = np.array([[0, 1], [2, 0]])
    out = to_categorical(y)
    assert out.shape == (2, 2, 3)
    np.testing.assert_array_equal(out.argmax(-1), y)
    assert to_categorical(np.int64(2), num_classes=4).shape == (4,)


def test_to_categorical_matches_sklearn():
    OneHotEncoder = pytest.importorskip("sklearn.preprocessing").OneHotEncoder
    y = np.random.default_rng(0).integers(0, 7, 50)
    ref = OneHotEncoder(categories=[list(range(7))]).fit_transform(y[:, None]).toarray()
    np.testing.assert_array_equal(to_categorical(y, 7), ref)


def test_to_categorical_integer_valued_floats_ok():
    np.testing.assert_array_equal(to_categorical(np.array([1.0, 0.0])), [[0, 1], [1, 0]])


@pytest.mark.parametrize("y, num_classes, match", [
    ([0, -1, 2], None, "expected labels >= 0, got -1"),
    ([0, 3], 3, r"expected labels in 0..2 for num_classes=3, got 3"),
    ([0.5, 1], None, "expected integer class labels, got 0.5"),
    ([], None, "cannot infer num_classes"),
    ([0, 1], 0, "expected num_classes >= 1, got 0"),
])
def test_to_categorical_errors(y, num_classes, match):
    with pytest.raises(ValueError, match=match):
        to_categorical(y, num_classes)


def test_to_categorical_rejects_non_numeric():
    with pytest.raises(TypeError, match="expected integer class labels, got dtype"):
        to_categorical(np.array(["a", "b"]))


def test_normalize_matches_sklearn():
    sk_normalize = pytest.importorskip("sklearn.preprocessing").normalize
    x = np.random.default_rng(1).normal(size=(6, 4))
    x[2] = 0.0
    np.testing.assert_allclose(normalize(x), sk_normalize(x, norm="l2"))
    np.testing.assert_allclose(normalize(x, order=1), sk_normalize(x, norm="l1"))
    np.testing.assert_allclose(normalize(x, axis=0), sk_normalize(x, norm="l2", axis=0))
    assert np.all(normalize(x)[2] == 0)


def test_normalize_dtypes_and_axes():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    out = normalize(x, axis=1)
    assert out.dtype == np.float32 and out.shape == x.shape
    np.testing.assert_allclose(np.linalg.norm(out, axis=1)[x.sum(axis=1) > 0], 1.0, rtol=1e-6)
    assert normalize(np.array([3, 4])).dtype == np.float64  # Keras: NumPy's float64 for integers
    np.testing.assert_allclose(normalize(np.array([3, 4])), [0.6, 0.8], rtol=1e-6)
