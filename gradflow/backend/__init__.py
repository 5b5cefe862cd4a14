"""Which array library and device gradflow computes on: ``numpy``, ``cupy`` or ``reference``.

``GRADFLOW_BACKEND=numpy|cupy|reference|auto`` is read at import; the backend itself is
resolved on first use, so ``import gradflow`` never initialises CUDA (fork-safe).
``auto`` takes CuPy only when it imports and a CUDA device works, else NumPy.
"""
from __future__ import annotations

import contextlib
import logging
import os
import threading
import warnings
from importlib import metadata

import numpy as np

from .base import Backend, BackendUnavailableError
from .cupy_backend import CupyBackend, cupy_status
from .keras_api import get_uid, is_float_dtype, is_int_dtype, is_keras_tensor, result_type, standardize_dtype
from .numpy_backend import NumpyBackend, ReferenceBackend

__all__ = [
    "Backend", "BackendUnavailableError", "VALID_BACKENDS", "get_backend", "set_backend",
    "use_backend", "backend_for", "array_module", "device_of", "is_cupy_array",
    "memory_stats", "free_memory", "epsilon", "set_epsilon", "floatx", "set_floatx", "image_data_format",
    "set_image_data_format", "clear_session", "backend", "standardize_dtype", "result_type", "is_float_dtype",
    "is_int_dtype", "is_keras_tensor", "get_uid",
]

_EPSILON = [1e-7]
_IMAGE_DATA_FORMAT = ["channels_last"]


def epsilon() -> float:
    """The fuzz factor of numerical expressions, 1e-7 (``keras.backend.epsilon``)."""
    return _EPSILON[0]


def set_epsilon(value: float) -> None:
    _EPSILON[0] = float(value)


def floatx() -> str:
    """The default float type of the active backend ('float32'; 'float64' on ``reference``)."""
    return np.dtype(get_backend().default_dtype).name


def set_floatx(value: str) -> None:
    """The default float type of new tensors, layers and weights: 'float16', 'float32' or 'float64' (as
    Keras; the reference backend computes in float64 only)."""
    if value not in ("float16", "float32", "float64"):
        raise ValueError(f"Unknown `floatx` value: {value!r}. Expected one of 'float16', 'float32', 'float64'")
    backend = get_backend()
    if backend.name == "reference" and value != "float64":
        raise ValueError(f"set_floatx({value!r}): the reference backend computes in float64")
    backend.default_dtype = getattr(np, value)


def image_data_format() -> str:
    """'channels_last', gradflow's (and Keras's) layout for images."""
    return _IMAGE_DATA_FORMAT[0]


def set_image_data_format(value: str) -> None:
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"image data format must be 'channels_last' or 'channels_first', got {value!r}")
    _IMAGE_DATA_FORMAT[0] = value


def clear_session() -> None:
    """Restart automatic layer names (``dense``, ``dense_1``...), as ``keras.backend.clear_session``."""
    from .._naming import clear_session as _clear  # noqa: PLC0415 - keeps _naming out of import gradflow

    _clear()


def backend() -> str:
    """The name of the array backend in use ('numpy', 'cupy' or 'reference'); Keras names its own here."""
    return get_backend().name

VALID_BACKENDS = ("auto", "numpy", "cupy", "reference")
log = logging.getLogger("gradflow")

_lock = threading.RLock()
_instances: dict[str, Backend] = {}
_local = threading.local()


def _check_name(name: str, source: str) -> str:
    key = str(name).strip().lower()
    if key not in VALID_BACKENDS:
        raise ValueError(f"{source}={name!r} is not a gradflow backend; valid names: {', '.join(VALID_BACKENDS)}")
    return key


_requested = _check_name(os.environ.get("GRADFLOW_BACKEND", "auto") or "auto", "GRADFLOW_BACKEND")
_current: Backend | None = None
_seed: int | None = None  # the last seed(n): backends created later start from it too


def _instance(name: str) -> Backend:
    """The (cached) backend object for a concrete name."""
    with _lock:
        if name not in _instances:
            if name == "numpy":
                _instances[name] = NumpyBackend()
            elif name == "reference":
                _instances[name] = ReferenceBackend()
            elif name == "cupy":
                _instances[name] = CupyBackend()
            else:  # pragma: no cover - guarded by _check_name
                raise ValueError(name)
            if _seed is not None:
                _instances[name].seed(_seed)
        return _instances[name]


def _resolve(name: str) -> Backend:
    if name != "auto":
        return _instance(name)
    ok, why = cupy_status()
    chosen = _instance("cupy") if ok else _instance("numpy")
    log.info("gradflow backend auto -> %s (%s)", chosen.name, why if ok else "no usable CuPy/GPU")
    return chosen


def get_backend() -> Backend:
    """The active backend (a ``use_backend`` block's, else the global one)."""
    stack = getattr(_local, "stack", None)
    if stack:
        return stack[-1]
    global _current
    if _current is None:
        with _lock:
            if _current is None:
                _current = _resolve(_requested)
    return _current


def set_backend(name: str) -> Backend:
    """Switch the global backend: ``numpy``, ``cupy``, ``reference`` or ``auto``."""
    global _current, _requested
    key = _check_name(name, "backend")
    backend = _resolve(key)
    _requested, _current = key, backend
    return backend


@contextlib.contextmanager
def use_backend(name: str):
    """Run a block on another backend: ``with use_backend("reference"): ...``."""
    backend = _resolve(_check_name(name, "backend"))
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(backend)
    try:
        yield backend
    finally:
        stack.pop()


def seed(n: int | None) -> None:
    """Seed the generator of every backend, those made later included (``gradflow.random.seed``)."""
    global _seed
    with _lock:
        _seed = None if n is None else int(n)
        for instance in _instances.values():
            instance.seed(_seed)


def generator():
    """The active backend's seeded random generator (``get_backend().generator()``)."""
    return get_backend().generator()


def is_cupy_array(arr) -> bool:
    return type(arr).__module__.startswith("cupy")


def array_module(arr):
    """``numpy`` or ``cupy``, whichever owns ``arr``."""
    if is_cupy_array(arr):
        return _instance("cupy").xp
    return np


def device_of(arr) -> str:
    return "cuda" if is_cupy_array(arr) else "cpu"


def backend_for(arr) -> Backend:
    """The backend that computes on ``arr``'s device (the active one when it matches)."""
    current = get_backend()
    if current.device == device_of(arr):
        return current
    return _instance("cupy") if is_cupy_array(arr) else _instance("numpy")


def memory_stats() -> dict:
    """Memory figures of the active backend (CuPy pool and device figures on a GPU)."""
    return get_backend().memory_stats()


def free_memory() -> None:
    """Release cached blocks of the CuPy memory pool (no-op on the CPU)."""
    get_backend().free_memory()


def _warn_two_cupy_wheels() -> None:
    found = []
    for dist in ("cupy", "cupy-cuda11x", "cupy-cuda12x", "cupy-cuda13x"):
        try:
            metadata.version(dist)
            found.append(dist)
        except metadata.PackageNotFoundError:
            pass
    if len(found) > 1:
        warnings.warn(
            f"several CuPy packages are installed at once ({', '.join(found)}); they overwrite each "
            f"other's files. Uninstall all but the one matching your CUDA version.",
            RuntimeWarning, stacklevel=3,
        )


_warn_two_cupy_wheels()
# No sys.excepthook here: a library leaves interpreter-wide state alone. BackendUnavailableError
# carries its whole explanation (what is missing and how to fix it) on one line of its own.
