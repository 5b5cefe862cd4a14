"""Handwritten digits bundled with scikit-learn: 1,797 real 8x8 images, no download needed.

The default dataset of the examples and README: fast, offline and deterministic. The images are
read straight from scikit-learn's bundled ``digits.csv.gz`` (skipping its ~1 s import) and fall
back to ``sklearn.datasets.load_digits`` if that file ever moves.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["load_data", "NUM_CLASSES", "NUM_IMAGES"]

NUM_CLASSES = 10
NUM_IMAGES = 1797
SPLIT_SEED = 0
_BUNDLED = Path("datasets") / "data" / "digits.csv.gz"


def load_data(test_split: float = 0.2, seed: int = SPLIT_SEED):
    """Return ``((x_train, y_train), (x_test, y_test))`` with a fixed, stratified, seeded split.

    x is uint8 ``(N, 8, 8, 1)`` with values 0..16 (scikit-learn's ink counts; divide by 16 to get
    [0, 1]); y is uint8 ``(N,)``. The default ``test_split=0.2`` gives 1,437 train / 360 test.
    """
    from ..utils.split import train_test_split

    pixels, labels = _read_digits()
    x = pixels.reshape(-1, 8, 8, 1).astype(np.uint8)
    y = labels.astype(np.uint8)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_split, seed=seed, stratify=y)
    return (x_train, y_train), (x_test, y_test)


def _read_digits() -> tuple[np.ndarray, np.ndarray]:
    """(pixels (1797, 64), labels (1797,)) from scikit-learn's bundled copy."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None:
        raise ImportError(
            "gradflow.datasets.digits needs scikit-learn (it ships the images); "
            "install it with: pip install scikit-learn")
    for root in spec.submodule_search_locations or ():
        bundled = Path(root) / _BUNDLED
        if bundled.is_file():
            table = np.loadtxt(bundled, delimiter=",")
            if table.shape == (NUM_IMAGES, 65):
                return table[:, :64], table[:, 64]
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target
