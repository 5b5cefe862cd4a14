"""Keras 3's dtype promotion (``keras.backend.result_type``): the JAX-style lattice where Python
numbers are *weak* (``int32 + 2.5 -> float32``, ``float16 + 1.0 -> float16``) and an integer meeting
a float takes the float (``int32 + float32 -> float32``, never NumPy's float64).

Differences from Keras, kept on purpose: 64-bit dtypes stay 64-bit (Keras on torch narrows them
to 32 bits; gradflow's float64 ``reference`` backend is the oracle and must stay float64), and a
weak float resolves to the backend's default float (float32, float64 on ``reference``).
"""
from __future__ import annotations

import functools

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import get_backend

__all__ = ["result_type", "float_dtype"]

_INT = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
_LATTICE = {
    "bool": ["int"], "uint8": ["int16", "uint16"], "uint16": ["int32", "uint32"], "uint32": ["int64", "uint64"],
    "uint64": ["float"], "int": ["uint8", "int8"], "int8": ["int16"], "int16": ["int32"], "int32": ["int64"],
    "int64": ["float"], "float": ["bfloat16", "float16"], "bfloat16": ["float32"], "float16": ["float32"],
    "float32": ["float64"], "float64": [],
}


def _upper_bounds() -> dict[str, set[str]]:
    bounds = {n: {n} for n in _LATTICE}
    for n in _LATTICE:
        while True:
            more = set().union(*(_LATTICE[b] for b in bounds[n]))
            if more <= bounds[n]:
                break
            bounds[n] |= more
    return bounds


_UB = _upper_bounds()


@functools.lru_cache(256)
def _lub(nodes: frozenset) -> str:
    common = set.intersection(*(_UB[n] for n in nodes))
    least = (common & nodes) or {c for c in common if common <= _UB[c]}
    if len(least) != 1:
        raise TypeError(f"no implicit dtype promotion for {sorted(nodes)}; cast the inputs explicitly")
    return least.pop()


def _node(value) -> tuple[str, bool]:
    """``(dtype name, weak)`` of a dtype, a Python number type or value, a Tensor or an array."""
    if value is float or value is int:
        return value.__name__, True
    if value is bool or isinstance(value, bool):
        return "bool", False
    if isinstance(value, float):
        return "float", True
    if isinstance(value, int):
        return "int", True
    if isinstance(value, Tensor):
        return value.data.dtype.name, False
    dtype = getattr(value, "dtype", value)
    return np.dtype(dtype).name, False


def float_dtype() -> str:
    """The dtype a weak float resolves to: the backend's default float."""
    return np.dtype(get_backend().default_dtype).name


@functools.lru_cache(512)
def _result(nodes: tuple) -> str:
    names = {n for n, _ in nodes}
    if len(names) == 1 and not all(w for _, w in nodes):
        return next(iter(names))
    out = _lub(frozenset(names))
    if out == "float":
        return float_dtype()
    if out == "int":
        return "int32"
    return out


def result_type(*values) -> str:
    """The dtype Keras gives an op on ``values`` (dtypes, Python numbers or their types, Tensors, arrays)."""
    if not values:
        return float_dtype()
    return _result(tuple(_node(v) for v in values))
