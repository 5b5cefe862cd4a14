"""Handwritten digits shipped inside gradflow: 1,797 real 8x8 images, no download, no extra package.

The default dataset of the examples and README: fast, offline and deterministic. The images are
the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin, C. Kaynak; CC BY 4.0),
the same 1,797 images scikit-learn ships as ``load_digits``, stored in ``data/digits.npz`` (uint8
pixels 0..16 and labels, read with ``allow_pickle=False``) and checked against their SHA-256.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ..utils.split import train_test_split

__all__ = ["load_data", "NUM_CLASSES", "NUM_IMAGES"]

NUM_CLASSES = 10
NUM_IMAGES = 1797
SPLIT_SEED = 0
_FILE = Path(__file__).with_name("data") / "digits.npz"
_SHA256 = "089d33176bf6819a5c6ebd6746c5293713f4e81c2c8fc52b672e6e15faa78f41"


def load_data(test_split: float = 0.2, seed: int = SPLIT_SEED):
    """Return ``((x_train, y_train), (x_test, y_test))`` with a fixed, stratified, seeded split.

    x is uint8 ``(N, 8, 8, 1)`` with values 0..16 (ink counts; divide by 16 to get [0, 1]);
    y is uint8 ``(N,)``. The default ``test_split=0.2`` gives 1,437 train / 360 test.
    """
    pixels, labels = _read_digits()
    x = pixels.reshape(-1, 8, 8, 1)
    x_train, x_test, y_train, y_test = train_test_split(x, labels, test_size=test_split, seed=seed, stratify=labels)
    return (x_train, y_train), (x_test, y_test)


def _read_digits(path: Path = _FILE) -> tuple[np.ndarray, np.ndarray]:
    """(pixels uint8 (1797, 64), labels uint8 (1797,)) from the bundled file, after its hash check."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise FileNotFoundError(f"gradflow's bundled digits file {path} is missing ({exc}); reinstall gradflow "
                                f"(pip install --force-reinstall gradflow-keras)") from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _SHA256:
        raise ValueError(f"gradflow's bundled digits file {path} is damaged: SHA-256 {digest}, expected {_SHA256}; "
                         f"reinstall gradflow")
    with np.load(path, allow_pickle=False) as data:
        pixels, labels = data["pixels"], data["labels"]
    if pixels.shape != (NUM_IMAGES, 64) or labels.shape != (NUM_IMAGES,):
        raise ValueError(f"{path}: expected pixels (1797, 64) and labels (1797,), got {pixels.shape} and "
                         f"{labels.shape}")
    return pixels.astype(np.uint8, copy=False), labels.astype(np.uint8, copy=False)
