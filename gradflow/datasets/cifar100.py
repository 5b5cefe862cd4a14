"""CIFAR-100: 50,000 train and 10,000 test 32x32 colour images, 100 fine / 20 coarse classes.

Reads Keras's file, ``cifar-100-python.tar.gz`` (SHA-256 checked), straight from the archive. Its
``train`` and ``test`` members are pickle streams; gradflow never runs ``pickle`` on them but decodes
them as data (``_pickled_data.py``: NumPy arrays, lists and dicts only), so a tampered file cannot run
code.
"""
from __future__ import annotations

import numpy as np

from ._files import DatasetFormatError
from ._keras_files import keras_file, read_pickled_members

__all__ = ["load_data"]

ARCHIVE = "cifar-100-python.tar.gz"
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
SHA256 = "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7"


def load_data(label_mode="fine", path=None, verify=None):
    """``((x_train, y_train), (x_test, y_test))``: x uint8 ``(N, 32, 32, 3)``, y ``(N, 1)`` fine (0-99) or
    coarse (0-19) labels. ``path``: the archive or a directory holding it (default
    ``$GRADFLOW_DATA/cifar100``)."""
    if label_mode not in ("fine", "coarse"):
        raise ValueError(f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.')
    archive = keras_file("cifar100", ARCHIVE, SHA256, path, verify, origin=ORIGIN)
    batches = read_pickled_members(archive, ("train", "test"),
                                   lambda where, batch: _decode(where, batch, f"{label_mode}_labels"))
    return batches["train"], batches["test"]


def _decode(where: str, batch, label_key: str):
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{where}: expected a dict batch, got {type(batch).__name__}")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or label_key not in batch:
        raise DatasetFormatError(f"{where}: expected keys 'data' and {label_key!r}, got {sorted(batch)}")
    data = np.asarray(batch["data"], dtype=np.uint8)
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetFormatError(f"{where}: expected data of shape (N, 3072), got {data.shape}")
    labels = np.asarray(batch[label_key])
    if labels.shape != (data.shape[0],):
        raise DatasetFormatError(f"{where}: expected {data.shape[0]} labels, got shape {labels.shape}")
    x = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return x, np.reshape(labels, (len(labels), 1))
