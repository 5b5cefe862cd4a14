"""Datasets as ``((x_train, y_train), (x_test, y_test))`` NumPy arrays, Keras-style.

``digits`` ships inside gradflow (offline); ``mnist``, ``fashion_mnist`` and ``cifar10`` read
their standard files from ``path`` or ``$GRADFLOW_DATA``, download missing ones when online, and
check every file's SHA-256 (``load_data(verify=False)`` or ``GRADFLOW_DATA_VERIFY=0`` for files that
cannot be checked: your own data in the standard layout, test fixtures). ``boston_housing``,
``california_housing``, ``cifar100``, ``imdb`` and ``reuters`` read the very files Keras downloads
(``.npz``, ``.json``, ``cifar-100-python.tar.gz``) with Keras's arguments and results; gradflow never
runs ``pickle`` on them: their pickled arrays are decoded as data, NumPy arrays and plain containers only.
"""
# apps
from . import boston_housing, california_housing, cifar10, cifar100, digits, fashion_mnist, imdb, mnist, reuters
from ._files import (
    DatasetChecksumError,
    DatasetError,
    DatasetFormatError,
    DatasetUnavailableError,
    DatasetUnverifiedError,
    data_dir,
)

__all__ = [
    "mnist", "fashion_mnist", "cifar10", "digits", "data_dir",
    "DatasetError", "DatasetUnavailableError", "DatasetChecksumError", "DatasetFormatError", "DatasetUnverifiedError",
    # apps
    "boston_housing", "california_housing", "cifar100", "imdb", "reuters",
]
