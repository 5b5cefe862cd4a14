"""keras.backend's dtype and tensor helpers: standardize_dtype, result_type (Keras's type promotion
lattice, as on its torch and JAX backends), is_float_dtype, is_int_dtype, is_keras_tensor, get_uid."""
from __future__ import annotations

import functools
import sys

import numpy as np

__all__ = ["standardize_dtype", "result_type", "is_float_dtype", "is_int_dtype", "is_keras_tensor", "get_uid"]

BOOL_TYPES = ("bool",)
INT_TYPES = ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
FLOAT_TYPES = ("bfloat16", "float16", "float32", "float64")
WEAK_TYPES = ("int", "float")
COMPLEX_TYPES = ("complex64", "complex128")
FLOAT8_TYPES = ("float8_e4m3fn", "float8_e5m2")
ALLOWED_DTYPES = ("float16", "float32", "float64", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                  "int64", "bfloat16", "bool", "string", "float8_e4m3fn", "float8_e5m2", "complex64", "complex128")
#: Python types as Keras reads them on its non-TensorFlow backends
PYTHON_DTYPES_MAP = {bool: "bool", int: "int32", float: "float32", str: "string", "int": "int32",
                     complex: "complex64"}
#: Keras (torch/JAX) computes 64-bit promotions in 32 bits
BIT64_TO_BIT32_DTYPE = {"int64": "int32", "uint64": "uint32", "float64": "float32", "complex128": "complex64"}


def _floatx() -> str:
    from . import floatx  # noqa: PLC0415 - the package imports this module; floatx is defined there first

    return floatx()


def standardize_dtype(dtype) -> str:
    """A dtype's Keras name ('float32', 'int32', ...) from a string, a NumPy/CuPy dtype, a Python type or None
    (``floatx()``); ValueError for anything else."""
    if dtype is None:
        return _floatx()
    dtype = PYTHON_DTYPES_MAP.get(dtype, dtype) if not isinstance(dtype, np.dtype) else dtype
    if hasattr(dtype, "name"):
        dtype = dtype.name
    elif hasattr(dtype, "__name__"):
        dtype = dtype.__name__
    elif "torch" in str(dtype) or "jax.numpy" in str(dtype):
        dtype = str(dtype).split(".")[-1]
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return dtype


def is_float_dtype(dtype) -> bool:
    dtype = standardize_dtype(dtype)
    return dtype.startswith("float") or dtype.startswith("bfloat")


def is_int_dtype(dtype) -> bool:
    dtype = standardize_dtype(dtype)
    return dtype.startswith("int") or dtype.startswith("uint")


def _lattice() -> dict:
    (b1,) = BOOL_TYPES
    (u1, u2, u4, u8, i1, i2, i4, i8) = INT_TYPES
    bf, f2, f4, f8 = FLOAT_TYPES
    i_, f_ = WEAK_TYPES
    c64, c128 = COMPLEX_TYPES
    return {b1: [i_], u1: [i2, u2], u2: [i4, u4], u4: [i8, u8], u8: [f_], i_: [u1, i1, c64], i1: [i2], i2: [i4],
            i4: [i8], i8: [f_], f_: [bf, f2], bf: [f4], f2: [f4], f4: [f8, c64], f8: [c128], c64: [c128], c128: []}


def _upper_bounds() -> dict:
    lattice = _lattice()
    bounds = {node: {node} for node in lattice}
    for n in lattice:
        while True:
            new = set().union(*(lattice[b] for b in bounds[n]))
            if new.issubset(bounds[n]):
                break
            bounds[n] |= new
    return bounds


_UPPER_BOUNDS = _upper_bounds()


@functools.lru_cache(512)
def _least_upper_bound(*nodes):
    found = set(nodes)
    unknown = [n for n in found if n not in _UPPER_BOUNDS]
    if unknown:
        raise ValueError(f"dtype={unknown[0]!r} is not a valid dtype for Keras type promotion.")
    common = set.intersection(*[_UPPER_BOUNDS[n] for n in found])
    least = (common & found) or {c for c in common if common.issubset(_UPPER_BOUNDS[c])}
    if len(least) != 1:
        raise ValueError(f"Input dtypes {tuple(str(n) for n in nodes)} have no available implicit dtype promotion "
                         f"path. Try explicitly casting inputs to the desired output type.")
    return least.pop()


def _weak(dtype: str, weak: bool) -> str:
    if not weak or dtype == "bool":
        return dtype
    for kind in ("float", "int", "complex"):
        if kind in dtype:
            return kind
    raise ValueError(f"Invalid value for argument `dtype`. Expected one of {ALLOWED_DTYPES}. Received: dtype={dtype}")


def _resolve_weak(dtype: str, precision: str) -> str:
    head = "f" if dtype == "bfloat16" else dtype[:1]
    if head == "b":
        return "bool"
    if head == "i":
        return f"int{precision}"
    if head == "u":
        return f"uint{precision}"
    return f"float{precision}"


def result_type(*dtypes) -> str:
    """The dtype of an operation on inputs of ``dtypes`` by Keras's promotion rules (JAX's lattice; Python
    ``int``/``float`` are weak; 64-bit results narrowed to 32 bits, as on Keras's torch and JAX backends)."""
    if not dtypes:
        return _floatx()
    if any(d in FLOAT8_TYPES for d in dtypes if isinstance(d, str)):
        raise ValueError(f"There is no implicit conversions from float8 dtypes to others. You must cast it "
                         f"internally. Received: {dtypes}")
    args = [_floatx() if d is None else d for d in dtypes]
    names = tuple(standardize_dtype(a) for a in args)
    weak = tuple(a is int or a is float for a in args)
    if len(names) == 1:
        out, out_weak = names[0], weak[0]
    elif len(set(names)) == 1 and not all(weak):
        out, out_weak = names[0], False
    elif all(weak):
        out, out_weak = _least_upper_bound(*set(names)), True
    else:
        out = _least_upper_bound(*{_weak(d, w) for d, w in zip(names, weak)})
        out_weak = out in WEAK_TYPES
    if out != "bool" and out_weak:
        out = _resolve_weak(out, _floatx()[-2:])
    return BIT64_TO_BIT32_DTYPE.get(out, out)


def is_keras_tensor(x) -> bool:
    """Whether ``x`` is a symbolic KerasTensor (``Input()`` and the layers called on it)."""
    symbolic = sys.modules.get("gradflow.layers.symbolic")  # none can exist before layers are imported
    return symbolic is not None and isinstance(x, symbolic.KerasTensor)


def get_uid(prefix: str = "") -> int:
    """1, 2, 3... per ``prefix`` for the session, on the counter that names layers (``clear_session`` resets)."""
    from .._naming import next_uid  # noqa: PLC0415 - keeps _naming out of import gradflow, as clear_session does

    return next_uid(prefix)
