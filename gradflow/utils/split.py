"""``train_test_split``: split arrays into train and test parts, optionally stratified, in NumPy."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["train_test_split"]


def train_test_split(*arrays, test_size: float | int = 0.25, shuffle: bool = True, seed=None, stratify=None):
    """Split arrays (same first dimension) into ``[a_train, a_test, b_train, b_test, ...]``.

    ``test_size`` is a fraction in (0, 1) (test count rounded up, like scikit-learn) or a count.
    ``stratify`` (labels, e.g. ``y``) keeps each class's share the same in both parts.
    ``seed`` is an int, ``None`` or a ``numpy.random.Generator``. Without shuffling the
    last ``test_size`` rows are the test part.
    """
    if not arrays:
        raise ValueError("train_test_split: expected at least one array, got none")
    arrays = [np.asarray(a) if not hasattr(a, "shape") else a for a in arrays]
    lengths = [len(a) for a in arrays]
    n = lengths[0]
    if any(length != n for length in lengths):
        raise ValueError(f"train_test_split: expected arrays of the same length, got lengths {lengths}")
    n_test = _test_count(test_size, n)
    if stratify is not None:
        if not shuffle:
            raise ValueError("train_test_split: stratify needs shuffle=True, got shuffle=False")
        train_idx, test_idx = _stratified_indices(np.asarray(stratify), n, n_test, np.random.default_rng(seed))
    elif shuffle:
        order = np.random.default_rng(seed).permutation(n)
        train_idx, test_idx = order[n_test:], order[:n_test]
    else:
        train_idx, test_idx = np.arange(n - n_test), np.arange(n - n_test, n)
    out = []
    for a in arrays:
        out.extend((a[train_idx], a[test_idx]))
    return out


def _test_count(test_size, n: int) -> int:
    """How many rows go to the test part; both parts must be non-empty."""
    if isinstance(test_size, (bool, np.bool_)):
        raise TypeError(f"train_test_split: expected test_size as a fraction or a count, got {test_size!r}")
    if isinstance(test_size, (int, np.integer)):
        n_test = int(test_size)
    elif isinstance(test_size, (float, np.floating)) and 0.0 < test_size < 1.0:
        n_test = math.ceil(float(test_size) * n)
    else:
        raise ValueError(f"train_test_split: expected test_size in (0, 1) or a count, got {test_size!r}")
    if not 0 < n_test < n:
        raise ValueError(
            f"train_test_split: test_size={test_size!r} gives {n_test} test and {n - n_test} train rows "
            f"out of {n}; expected both parts non-empty")
    return n_test


def _stratified_indices(labels: np.ndarray, n: int, n_test: int, rng: np.random.Generator):
    """Shuffled train/test indices whose per-class test counts follow the class shares.

    Each class gets ``floor(share * n_test)`` test rows; the rows still owed go to the classes
    with the largest remainders (ties broken at random), so totals are exact.
    """
    if len(labels) != n:
        raise ValueError(f"train_test_split: expected {n} stratify labels, got {len(labels)}")
    keys = labels.reshape(n, -1) if labels.ndim > 1 else labels.reshape(n, 1)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    if counts.min() < 2:
        raise ValueError(
            f"train_test_split: stratify needs at least 2 rows per class, got a class with {counts.min()}")
    n_classes = len(counts)
    if n_test < n_classes or n - n_test < n_classes:
        raise ValueError(
            f"train_test_split: stratify over {n_classes} classes needs at least {n_classes} rows in each "
            f"part, got {n - n_test} train and {n_test} test")
    ideal = counts * (n_test / n)
    per_class = np.floor(ideal).astype(np.int64)
    remainder = ideal - per_class
    owed = n_test - int(per_class.sum())
    if owed:
        tiebreak = rng.random(n_classes)
        order = np.lexsort((tiebreak, -remainder))  # largest remainder first, random among ties
        per_class[order[:owed]] += 1
    test_parts, train_parts = [], []
    for cls in range(n_classes):
        members = rng.permutation(np.flatnonzero(inverse == cls))
        test_parts.append(members[: per_class[cls]])
        train_parts.append(members[per_class[cls]:])
    train_idx = rng.permutation(np.concatenate(train_parts))
    test_idx = rng.permutation(np.concatenate(test_parts))
    return train_idx, test_idx
