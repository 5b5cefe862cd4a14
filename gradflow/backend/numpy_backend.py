"""CPU backends: ``numpy`` (float32, fast kernels) and ``reference`` (float64, plain kernels)."""
from __future__ import annotations

import numpy as np

from .base import Backend

__all__ = ["NumpyBackend", "ReferenceBackend"]


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    default_dtype: type[np.floating] = np.float32

    @property
    def xp(self):
        return np


class ReferenceBackend(NumpyBackend):
    """The oracle: NumPy in float64, hot-path ops on the plain ``reference`` kernels."""

    name = "reference"
    default_dtype = np.float64
