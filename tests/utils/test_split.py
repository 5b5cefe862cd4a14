"""train_test_split: sizes like scikit-learn, seeded repeatability, stratification."""
import numpy as np
import pytest

from gradflow.utils import train_test_split


def test_sizes_match_sklearn():
    sk_split = pytest.importorskip("sklearn.model_selection").train_test_split
    for n in (4, 10, 17, 101):
        for test_size in (0.1, 0.25, 0.33, 0.5, 0.9, 2):
            if not 0 < (test_size if isinstance(test_size, int) else np.ceil(test_size * n)) < n:
                continue
            a_tr, a_te = train_test_split(np.arange(n), test_size=test_size, seed=0)
            s_tr, s_te = sk_split(np.arange(n), test_size=test_size, random_state=0)
            assert (len(a_tr), len(a_te)) == (len(s_tr), len(s_te)), (n, test_size)


def test_partition_alignment_and_seed():
    x = np.arange(40).reshape(20, 2)
    y = np.arange(20) * 10
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.25, seed=3)
    assert len(x_te) == 5 and len(x_tr) == 15
    np.testing.assert_array_equal(x_tr[:, 0] * 5, y_tr)
    np.testing.assert_array_equal(x_te[:, 0] * 5, y_te)
    assert sorted(np.concatenate([y_tr, y_te])) == sorted(y)
    again = train_test_split(x, y, test_size=0.25, seed=3)
    np.testing.assert_array_equal(again[3], y_te)
    other = train_test_split(x, y, test_size=0.25, seed=4)
    assert not np.array_equal(other[3], y_te)
    rng_result = train_test_split(y, seed=np.random.default_rng(3))
    assert len(rng_result[1]) == 5


def test_no_shuffle_takes_the_tail():
    tr, te = train_test_split(list(range(10)), test_size=3, shuffle=False)
    np.testing.assert_array_equal(tr, np.arange(7))
    np.testing.assert_array_equal(te, [7, 8, 9])


def test_stratified_counts_match_sklearn():
    sk_split = pytest.importorskip("sklearn.model_selection").train_test_split
    y = np.repeat(np.arange(5), [3, 10, 17, 40, 30])
    for test_size in (0.2, 0.25, 0.37):
        _, ours = train_test_split(y, test_size=test_size, seed=0, stratify=y)
        _, ref = sk_split(y, test_size=test_size, random_state=0, stratify=y)
        assert len(ours) == len(ref)
        ideal = np.bincount(y) * len(ours) / len(y)
        assert np.all(np.abs(np.bincount(ours, minlength=5) - ideal) < 1)
        assert np.all(np.abs(np.bincount(ours, minlength=5) - np.bincount(ref, minlength=5)) <= 1)


def test_stratify_by_one_hot_rows():
    y = np.repeat(np.arange(3), 10)
    onehot = np.eye(3)[y]
    _, y_te = train_test_split(y, test_size=0.3, seed=1, stratify=onehot)
    np.testing.assert_array_equal(np.bincount(y_te), [3, 3, 3])


@pytest.mark.parametrize("kwargs, match", [
    (dict(test_size=0.0), r"expected test_size in \(0, 1\) or a count"),
    (dict(test_size=1.5), r"expected test_size in \(0, 1\) or a count"),
    (dict(test_size=10), "expected both parts non-empty"),
    (dict(test_size=0.2, shuffle=False, stratify=np.zeros(10)), "stratify needs shuffle=True"),
    (dict(test_size=0.2, stratify=np.r_[np.zeros(9), 1]), "at least 2 rows per class"),
    (dict(test_size=1, stratify=np.repeat([0, 1], 5)), "at least 2 rows in each part"),
])
def test_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        train_test_split(np.arange(10), **kwargs)


def test_length_mismatch_and_no_arrays():
    with pytest.raises(ValueError, match=r"same length, got lengths \[3, 2\]"):
        train_test_split([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="at least one array"):
        train_test_split()
