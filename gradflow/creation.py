"""Tensor creation on the active backend: zeros, ones, full, arange, randn, rand, from_dlpack.

The deterministic ones live in :mod:`gradflow.ops.creation` (ops use them too); ``randn`` and
``rand`` draw from gradflow's seeded generator.
"""
from __future__ import annotations

import numpy as np

from .autograd.tensor import Tensor
from .ops.creation import _dtype, _shape, arange, eye, from_dlpack, full, ones, ones_like, zeros, zeros_like
from .random import generator

__all__ = ["zeros", "ones", "full", "arange", "randn", "rand", "zeros_like", "ones_like", "from_dlpack", "eye"]


def randn(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Standard normal samples from gradflow's seeded generator."""
    dt = np.dtype(_dtype(dtype))
    arr = generator().standard_normal(_shape(shape), dtype=np.float64 if dt == np.float64 else np.float32)
    return Tensor(arr.astype(dt, copy=False), requires_grad=requires_grad)


def rand(*shape, dtype=None, requires_grad=False) -> Tensor:
    """Uniform [0, 1) samples from gradflow's seeded generator."""
    dt = np.dtype(_dtype(dtype))
    arr = generator().random(_shape(shape), dtype=np.float64 if dt == np.float64 else np.float32)
    return Tensor(arr.astype(dt, copy=False), requires_grad=requires_grad)
