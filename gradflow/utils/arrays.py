"""Label and feature helpers with Keras semantics: ``to_categorical`` and ``normalize``."""
from __future__ import annotations

import numpy as np

__all__ = ["to_categorical", "normalize"]


def to_categorical(y, num_classes: int | None = None, dtype=None) -> np.ndarray:
    """One-hot encode integer labels: shape ``y.shape + (num_classes,)``.

    Like Keras, a trailing axis of size 1 is dropped first, so ``(N, 1)`` labels give ``(N, C)``.
    ``num_classes`` defaults to ``max(y) + 1``. Negative, non-integer or too-large labels raise.
    The dtype is Keras's: float64 for arrays and lists (NumPy's default, as Keras builds it), float32
    for a gradflow Tensor (Keras's ``one_hot`` on a backend tensor); ``dtype`` (gradflow's extension)
    chooses another. Losses cast the labels to the predictions' dtype, so float64 labels train float32.
    """
    if dtype is None:
        dtype = "float32" if hasattr(y, "numpy") and not isinstance(y, np.ndarray) else "float64"
    y = y.numpy() if hasattr(y, "numpy") and not isinstance(y, np.ndarray) else np.asarray(y)
    if y.dtype == bool or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise TypeError(f"to_categorical: expected integer class labels, got dtype {y.dtype}")
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            bad = y[~np.isfinite(y) | (y != np.round(y))].ravel()[0]
            raise ValueError(f"to_categorical: expected integer class labels, got {bad.item()!r}")
    shape = y.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    labels = y.reshape(-1).astype(np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"to_categorical: expected labels >= 0, got {int(labels.min())}")
    if num_classes is None:
        if labels.size == 0:
            raise ValueError("to_categorical: cannot infer num_classes from empty labels; pass num_classes")
        num_classes = int(labels.max()) + 1
    num_classes = int(num_classes)
    if num_classes < 1:
        raise ValueError(f"to_categorical: expected num_classes >= 1, got {num_classes}")
    if labels.size and labels.max() >= num_classes:
        raise ValueError(
            f"to_categorical: expected labels in 0..{num_classes - 1} for num_classes={num_classes}, "
            f"got {int(labels.max())}")
    out = np.zeros((labels.size, num_classes), dtype=dtype)
    out[np.arange(labels.size), labels] = 1
    return out.reshape(shape + (num_classes,))


def normalize(x, axis: int = -1, order: int | float = 2) -> np.ndarray:
    """Scale ``x`` to unit ``order``-norm along ``axis``; zero-norm slices stay zero (Keras semantics).

    Floating inputs keep their dtype; integer inputs come back as float64 (Keras's NumPy result).
    """
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    norm = np.linalg.norm(x, ord=order, axis=axis, keepdims=True)
    norm = np.where(norm == 0, 1, norm).astype(x.dtype, copy=False)
    return x / norm
