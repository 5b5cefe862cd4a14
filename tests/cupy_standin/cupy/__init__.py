"""A NumPy-backed stand-in for CuPy 14, faithful to its API, for testing the CuPy backend on a CPU.

Only the names the real wheel has exist here (``cupy_api.json``, made by ``make_api.py`` from the
``cupy-cuda13x`` 14 wheel); a name CuPy lacks raises AttributeError, as it would on a GPU. In
particular ``random.default_rng()`` returns a Generator with CuPy's methods and signatures only
(no ``permutation``, ``choice``, ``shuffle`` or ``normal``). Arrays behave as CuPy's do where a
CPU test can tell: reductions give 0-d arrays, implicit conversion to NumPy (``np.asarray``) is a
TypeError, mixing NumPy arrays into CuPy operations is a TypeError, and ``empty`` returns NaN-
poisoned memory. ``RawModule`` compiles the ``kernels/cuda`` sources for the CPU emulator of
``tests/kernels/_cuda_emu.py`` and launches them there; the device reports 132 SMs (an H100 SXM).

Every host synchronisation a real GPU would make (``get``, ``asnumpy``, ``item``, ``tolist``,
``float``/``int``/``bool`` of an array, ``synchronize``, indexing with a boolean mask) is counted
in ``_standin.syncs`` (``_standin.reset()``; ``_standin.where`` keeps the call sites).

Put ``tests/cupy_standin`` first on ``sys.path`` (or PYTHONPATH) to import it as ``cupy``.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import traceback
from pathlib import Path

import numpy as _np

_API = json.loads((Path(__file__).resolve().parent.parent / "cupy_api.json").read_text())
__version__ = _API["version"]
_TOP = frozenset(_API["modules"]["cupy"])
_NDARRAY = frozenset(_API["classes"]["cupy.ndarray"])
SM_COUNT = 132


class _Standin:
    """Counters of the stand-in (not part of CuPy)."""

    def __init__(self) -> None:
        self.syncs = 0
        self.where: list[str] = []
        self.record_sites = False

    def reset(self) -> None:
        self.syncs = 0
        self.where = []

    def sync(self, what: str) -> None:
        self.syncs += 1
        if self.record_sites:
            frames = [f for f in traceback.extract_stack()[:-2] if "cupy_standin" not in f.filename]
            site = frames[-1] if frames else None
            self.where.append(f"{what} at {site.filename}:{site.lineno}" if site else what)


_standin = _Standin()


# -- arrays ----------------------------------------------------------------------------------
def _reject_numpy(value, where: str) -> None:
    if isinstance(value, _np.ndarray):
        raise TypeError(f"Unsupported type <class 'numpy.ndarray'> ({where}): CuPy does not mix NumPy arrays "
                        f"into device operations; move it with cupy.asarray first")


def _unwrap(value, where: str):
    """The NumPy array inside a stand-in array; lists/tuples/dicts unwrapped inside; NumPy arrays refused."""
    if type(value) is ndarray:
        return value._a
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v, where) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v, where) for k, v in value.items()}
    _reject_numpy(value, where)
    return value


def _wrap(value):
    """NumPy results as CuPy returns them: arrays wrapped, NumPy scalars as 0-d arrays."""
    if isinstance(value, _np.ndarray):
        out = object.__new__(ndarray)
        out._a = value
        return out
    if isinstance(value, _np.generic):
        return _wrap(_np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


class _MemoryPointer:
    def __init__(self, arr: _np.ndarray) -> None:
        self.ptr = arr.__array_interface__["data"][0]


class _Flags:
    def __init__(self, arr: _np.ndarray) -> None:
        self.c_contiguous = bool(arr.flags.c_contiguous)
        self.f_contiguous = bool(arr.flags.f_contiguous)
        self.owndata = bool(arr.flags.owndata)

    def __getitem__(self, key: str) -> bool:
        return {"C_CONTIGUOUS": self.c_contiguous, "F_CONTIGUOUS": self.f_contiguous,
                "OWNDATA": self.owndata}[key]


class ndarray:  # noqa: N801 - CuPy's name
    """``cupy.ndarray`` over a NumPy array: only CuPy's attributes, syncs counted."""

    __slots__ = ("_a",)
    __array_priority__ = 100

    def __init__(self, shape, dtype=float, memptr=None, strides=None, order="C") -> None:
        if memptr is not None or strides is not None:
            raise NotImplementedError("stand-in cupy.ndarray: memptr/strides")
        self._a = _poisoned(shape, dtype, order)

    # attributes CuPy has as properties
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: _wrap(self._a.T))
    mT = property(lambda self: _wrap(_np.swapaxes(self._a, -1, -2)))
    real = property(lambda self: _wrap(self._a.real))
    imag = property(lambda self: _wrap(self._a.imag))
    base = property(lambda self: None if self._a.base is None else _wrap(self._a.base))
    data = property(lambda self: _MemoryPointer(self._a))
    flags = property(lambda self: _Flags(self._a))
    device = property(lambda self: cuda.Device(0))

    def __getattr__(self, name: str):
        if name not in _NDARRAY:
            raise AttributeError(f"'cupy.ndarray' object has no attribute '{name}' (CuPy {__version__})")
        attr = getattr(self._a, name, None)
        if attr is None or not callable(attr):
            raise AttributeError(f"stand-in cupy.ndarray.{name} is not emulated")

        @functools.wraps(attr)
        def method(*args, **kwargs):
            if "out" in kwargs and kwargs["out"] is not None:
                out = kwargs["out"]
                attr(*_unwrap(args, name), **_unwrap(kwargs, name))
                return out
            return _wrap(attr(*_unwrap(args, name), **_unwrap(kwargs, name)))
        return method

    # host transfers and syncs
    def get(self, stream=None, order="C", out=None, blocking=True):
        _standin.sync("ndarray.get")
        if out is not None:
            out[...] = self._a
            return out
        return _np.array(self._a, order=order, copy=True)

    def set(self, arr, stream=None) -> None:
        self._a[...] = arr

    def item(self, *args):
        _standin.sync("ndarray.item")
        return self._a.item(*args)

    def tolist(self):
        _standin.sync("ndarray.tolist")
        return self._a.tolist()

    def __float__(self) -> float:
        _standin.sync("float(ndarray)")
        return float(self._a)

    def __int__(self) -> int:
        _standin.sync("int(ndarray)")
        return int(self._a)

    def __complex__(self) -> complex:
        _standin.sync("complex(ndarray)")
        return complex(self._a)

    def __bool__(self) -> bool:
        _standin.sync("bool(ndarray)")
        return bool(self._a)

    def __index__(self) -> int:
        _standin.sync("index(ndarray)")
        return self._a.__index__()

    def __array__(self, dtype=None, copy=None):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. "
                        "Please use `.get()` to construct a NumPy array explicitly.")

    def __len__(self) -> int:
        return len(self._a)

    def __iter__(self):
        if self._a.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        return (_wrap(self._a[i]) for i in range(len(self._a)))

    def __repr__(self) -> str:
        _standin.sync("repr(ndarray)")
        return repr(self._a)

    def __str__(self) -> str:
        _standin.sync("str(ndarray)")
        return str(self._a)

    def __copy__(self):
        return _wrap(self._a.copy())

    def __deepcopy__(self, memo):
        return _wrap(self._a.copy())

    def __reduce__(self):
        raise TypeError("stand-in: pickling device arrays is not emulated")

    # indexing
    def __getitem__(self, key):
        key = _index(key)
        if _has_bool_mask(key):
            _standin.sync("boolean-mask indexing")
        return _wrap(self._a[key])

    def __setitem__(self, key, value) -> None:
        self._a[_index(key)] = _unwrap(value, "__setitem__")

    # NumPy protocols CuPy implements
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.get("out")
        result = getattr(ufunc, method)(*_unwrap(inputs, ufunc.__name__), **_unwrap(kwargs, ufunc.__name__))
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(result)

    def __array_function__(self, func, types_, args, kwargs):
        name = func.__name__
        if name not in _TOP:
            return NotImplemented
        return globals()[name](*args, **kwargs) if name in globals() else _function(name)(*args, **kwargs)

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self._a.shape, "typestr": self._a.dtype.str, "data": (self.data.ptr, False),
                "version": 3, "strides": None if self._a.flags.c_contiguous else self._a.strides}


def _index(key):
    if isinstance(key, tuple):
        return tuple(k._a if type(k) is ndarray else k for k in key)
    return key._a if type(key) is ndarray else key


def _has_bool_mask(key) -> bool:
    keys = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, _np.ndarray) and k.dtype == _np.bool_ and k.ndim > 0 for k in keys)


def _binary(name: str):
    def op(self, other):
        _reject_numpy(other, name)
        if type(other) is ndarray:
            other = other._a
        result = getattr(self._a, name)(other)
        if result is NotImplemented:
            return NotImplemented
        if name.startswith("__i"):
            return self
        return _wrap(result)
    op.__name__ = name
    return op


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
              "lshift", "rshift"):
    for _form in ("__{}__", "__r{}__", "__i{}__"):
        setattr(ndarray, _form.format(_name), _binary(_form.format(_name)))
for _name in ("lt", "le", "gt", "ge", "eq", "ne", "divmod", "rdivmod"):
    setattr(ndarray, f"__{_name}__", _binary(f"__{_name}__"))
for _name in ("neg", "pos", "abs", "invert"):
    setattr(ndarray, f"__{_name}__", (lambda n: lambda self: _wrap(getattr(self._a, n)()))(f"__{_name}__"))
ndarray.__hash__ = None  # type: ignore[assignment]
ndarray.__module__ = "cupy"


# -- creation and module functions -------------------------------------------------------------
_POISON = 0xFF  # float NaN, integer -1: memory from empty() is not zeros on a GPU either


def _poisoned(shape, dtype=float, order="C") -> _np.ndarray:
    arr = _np.empty(shape, dtype=dtype, order=order)
    arr.view(_np.uint8).reshape(-1)[...] = _POISON if arr.size else 0
    return arr


def empty(shape, dtype=float, order="C"):
    return _wrap(_poisoned(shape, dtype, order))


def empty_like(prototype, dtype=None, order="K", subok=None, shape=None):
    a = _unwrap(prototype, "empty_like")
    return _wrap(_poisoned(a.shape if shape is None else shape, a.dtype if dtype is None else dtype,
                           "F" if order == "F" else "C"))


def asarray(a, dtype=None, order=None, *, blocking=False):
    if type(a) is ndarray and (dtype is None or _np.dtype(dtype) == a.dtype) and order in (None, "K", "A"):
        return a
    return _wrap(_np.array(_unwrap_any(a), dtype=dtype, order=order or "K", copy=True))


def array(obj, dtype=None, copy=True, order="K", subok=False, ndmin=0, *, blocking=False):
    if type(obj) is ndarray and not copy and (dtype is None or _np.dtype(dtype) == obj.dtype):
        return obj
    return _wrap(_np.array(_unwrap_any(obj), dtype=dtype, order=order, ndmin=ndmin, copy=True))


asanyarray = asarray


def _unwrap_any(value):
    """Like _unwrap, but NumPy arrays are welcome (host-to-device copies)."""
    if type(value) is ndarray:
        return value._a
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap_any(v) for v in value)
    return value


def asnumpy(a, stream=None, order="C", out=None, *, blocking=True):
    if type(a) is ndarray:
        return a.get(order=order, out=out)
    return _np.asarray(a, order=order)


def get_array_module(*args):
    return sys.modules[__name__] if any(type(a) is ndarray for a in args) else _np


def get_default_memory_pool():
    return _POOL


def get_default_pinned_memory_pool():
    return _PINNED


class _Pool:
    def used_bytes(self) -> int:
        return 0

    def total_bytes(self) -> int:
        return 0

    def free_bytes(self) -> int:
        return 0

    def n_free_blocks(self) -> int:
        return 0

    def free_all_blocks(self, stream=None) -> None:
        pass

    def set_limit(self, size=None, fraction=None) -> None:
        pass

    def get_limit(self) -> int:
        return 0


_POOL = _Pool()
_PINNED = _Pool()


class _Ufunc:
    """A NumPy ufunc on stand-in arrays (CuPy's ufuncs have ``reduce``/``accumulate``/``outer``/``at`` too)."""

    def __init__(self, ufunc) -> None:
        self._u = ufunc
        self.__name__ = ufunc.__name__
        self.nin, self.nout = ufunc.nin, ufunc.nout

    def __call__(self, *args, **kwargs):
        return self._run(self._u, args, kwargs)

    def _run(self, fn, args, kwargs):
        out = kwargs.get("out")
        result = fn(*_unwrap(args, f"cupy.{self.__name__}"), **_unwrap(kwargs, f"cupy.{self.__name__}"))
        if out is not None:
            return out[0] if isinstance(out, tuple) and len(out) == 1 else out
        return _wrap(result)

    def __getattr__(self, method: str):
        if method not in ("reduce", "accumulate", "reduceat", "outer", "at"):
            raise AttributeError(method)
        return lambda *args, **kwargs: self._run(getattr(self._u, method), args, kwargs)


@functools.lru_cache(maxsize=None)
def _function(name: str):
    target = getattr(_np, name)
    if isinstance(target, _np.ufunc):
        return _Ufunc(target)
    if not callable(target) or isinstance(target, type):  # constants, dtypes (cupy.float32 is numpy's)
        return target

    @functools.wraps(target)
    def fn(*args, **kwargs):
        out = kwargs.get("out")
        result = target(*_unwrap(args, f"cupy.{name}"), **_unwrap(kwargs, f"cupy.{name}"))
        return out if out is not None else _wrap(result)
    fn.__module__ = "cupy"
    return fn


# -- raw kernels on the CPU emulator ----------------------------------------------------------
_REPO = Path(__file__).resolve().parents[3]
_CUDA_DIR = _REPO / "kernels" / "cuda"


@functools.lru_cache(maxsize=1)
def _emulator():
    import importlib.util

    spec = importlib.util.spec_from_file_location("_gradflow_cuda_emu", _REPO / "tests" / "kernels" / "_cuda_emu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _source_file(code: str) -> str:
    for path in sorted(_CUDA_DIR.glob("*.cu")):
        if path.read_text() == code:
            return path.name
    raise NotImplementedError("stand-in RawModule: only the kernels/cuda/*.cu sources run on the emulator")


class RawModule:
    """Compiles (for the emulator) on the first ``get_function``, as CuPy compiles lazily."""

    def __init__(self, code=None, *, path=None, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, name_expressions=None, jitify=False) -> None:
        if code is None:
            raise NotImplementedError("stand-in RawModule: code= only")
        self.code, self.options, self.backend = code, tuple(options), backend
        self._file = _source_file(code)
        self._defines = tuple(o[2:].split("=")[0] for o in self.options if o.startswith("-D"))
        self._lib = None

    def get_function(self, name: str):
        emu = _emulator()
        if self._lib is None:
            self._lib = emu.build(self._file, self._defines)
        refs = [r for r in emu.launch.all_kernels() if r.name == name and r.file == self._file]
        if not refs:
            raise AttributeError(f"CUDA_ERROR_NOT_FOUND: named symbol not found: {name}")
        return RawKernel(None, name, _kernel=emu._EmuKernel(_emu_runtime(emu), self._lib, refs[0]))


_emu_rt = None


def _emu_runtime(emu):
    """One emulator runtime for every kernel (its guard list stays empty: arrays here are plain)."""
    global _emu_rt
    if _emu_rt is None:
        _emu_rt = emu.EmuRuntime(sm_count=SM_COUNT)
    return _emu_rt


class RawKernel:
    def __init__(self, code, name, options=(), backend="nvrtc", translate_cucomplex=False,
                 enable_cooperative_groups=False, jitify=False, *, _kernel=None) -> None:
        if _kernel is None:
            raise NotImplementedError("stand-in RawKernel: get it from RawModule.get_function")
        self.name, self._kernel = name, _kernel

    def __call__(self, grid, block, args, *, shared_mem=0) -> None:
        plain = []
        for a in args:
            _reject_numpy(a, f"RawKernel {self.name}")  # a host array passed as a device pointer
            plain.append(a._a if type(a) is ndarray else a)
        self._kernel(grid, block, tuple(plain), shared_mem=shared_mem)


# -- submodules --------------------------------------------------------------------------------
from . import cuda, linalg, random  # noqa: E402, F401 - submodules (attributes of cupy) using the names above

_OWN = {"ndarray", "empty", "empty_like", "asarray", "array", "asanyarray", "asnumpy", "get_array_module",
        "get_default_memory_pool", "get_default_pinned_memory_pool", "RawModule", "RawKernel", "cuda", "random",
        "linalg", "__version__"}


def __getattr__(name: str):
    if name not in _TOP:
        raise AttributeError(f"module 'cupy' has no attribute '{name}' (CuPy {__version__} has no such name)")
    if not hasattr(_np, name):
        raise AttributeError(f"stand-in: cupy.{name} exists in CuPy {__version__} but is not emulated")
    value = _function(name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(_TOP | _OWN)


_missing = sorted(n for n in _OWN if n not in _TOP and not n.startswith("_"))
assert not _missing, f"the stand-in defines names CuPy {__version__} lacks: {_missing}"
if os.environ.get("CUPY_STANDIN_RECORD_SITES"):
    _standin.record_sites = True
