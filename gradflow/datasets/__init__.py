"""Datasets as ``((x_train, y_train), (x_test, y_test))`` NumPy arrays, Keras-style.

``digits`` ships with scikit-learn (offline); ``mnist``, ``fashion_mnist`` and ``cifar10`` read
their standard files from ``path`` or ``$GRADFLOW_DATA`` and download missing ones when online.
"""
from . import cifar10, digits, fashion_mnist, mnist
from ._files import (
    DatasetChecksumError, DatasetError, DatasetFormatError, DatasetUnavailableError, data_dir,
)

__all__ = [
    "mnist", "fashion_mnist", "cifar10", "digits", "data_dir",
    "DatasetError", "DatasetUnavailableError", "DatasetChecksumError", "DatasetFormatError",
]
