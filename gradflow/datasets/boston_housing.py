"""Boston housing prices (506 samples, 13 features): Keras's ``boston_housing.npz``, SHA-256 checked."""
from __future__ import annotations

from ._keras_files import keras_file, load_npz, split_shuffled

__all__ = ["load_data"]

SHA256 = "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5"


def load_data(path="boston_housing.npz", test_split=0.2, seed=113, verify=None):
    """``(x_train, y_train), (x_test, y_test)`` as Keras gives them: shuffled with ``seed``, the last
    ``test_split`` fraction for test. ``path``: the file, a directory holding it, or a name under
    ``$GRADFLOW_DATA/boston_housing``."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
                         f"(exclusive of 1).")
    f = load_npz(keras_file("boston_housing", "boston_housing.npz", SHA256, path, verify))
    return split_shuffled(f["x"], f["y"], test_split, seed)
