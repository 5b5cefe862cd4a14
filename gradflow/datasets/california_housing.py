"""California housing prices (20,640 samples, 8 features): Keras's ``california_housing.npz``."""
from __future__ import annotations

from ._keras_files import keras_file, load_npz, split_shuffled

__all__ = ["load_data"]

SHA256 = "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f"


def load_data(version="large", path="california_housing.npz", test_split=0.2, seed=113, verify=None):
    """``(x_train, y_train), (x_test, y_test)`` as Keras gives them; ``version="small"`` keeps the first
    600 samples."""
    if not 0 <= test_split < 1:
        raise ValueError(f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
                         f"(exclusive of 1).")
    if version not in ("small", "large"):
        raise ValueError(f"Argument `version` must be one of 'small', 'large'. Received: version={version}")
    f = load_npz(keras_file("california_housing", "california_housing.npz", SHA256, path, verify))
    x, y = f["x"], f["y"]
    if version == "small":
        x, y = x[:600], y[:600]
    return split_shuffled(x, y, test_split, seed)
