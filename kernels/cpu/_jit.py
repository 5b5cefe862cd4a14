"""The one ``njit`` every Numba kernel in this package is decorated with: Numba's, plus a disk cache
that lives in the user's cache directory and is found again by the next process.

Numba's own ``cache=True`` has two problems for gradflow's kernels:

* it writes beside the sources (``__pycache__``), so a ``pip install`` into a read-only
  site-packages falls back to a per-path directory and a reinstall (or a new virtualenv) loses
  every compiled kernel; here the machine code goes to ``<cache>/numba/<key>/`` where ``<cache>``
  is :func:`gradflow.dispatch.cache_dir` (``$GRADFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradflow``
  or ``~/.cache/gradflow``) and ``<key>`` names the gradflow, Numba and Python versions and a hash
  of this package's sources. The hash covers every ``.py`` file here, so an edit to a helper
  (``_simd.tile_rows``) invalidates the kernels that inline it, which Numba's per-file check
  misses. A user-set ``NUMBA_CACHE_DIR`` still wins (Numba's own rule); ``GRADFLOW_CACHE_DIR=off``
  leaves Numba's default (beside the sources).
* a closure kernel (``conv2d._simd_kernels(nr).forward``, which calls the closure ``conv_row``) is
  looked up by a hash of its pickled closure cells, and a pickled dispatcher carries a fresh
  random id in every process: such a kernel never hits the cache and recompiles in every run.
  Here a dispatcher in a closure cell is hashed by what defines it (its code, its own closure
  cells and its options), so the second process loads it from disk.

Anything Numba-internal that this needs and cannot find (a newer Numba) falls back to Numba's
own ``cache=True``: slower first runs, never a failure to import.
"""
from __future__ import annotations

import functools
import hashlib
import os
import sys
from importlib import metadata

import numba
from numba.core.dispatcher import Dispatcher

from gradflow.dispatch import cache_dir

try:  # Numba's cache machinery (not public API: guarded, see the module docstring)
    from numba.core import caching as _caching
    from numba.core.serialize import dumps as _dumps

    _BASES: tuple | None = (_caching.FunctionCache, _caching.CompileResultCacheImpl,
                            _caching._SourceFileBackedLocatorMixin, _caching._CacheLocator)
except (ImportError, AttributeError):  # pragma: no cover - another Numba layout
    _BASES = None

__all__ = ["njit", "kernel_cache_dir", "cached_kernels"]

_HERE = os.path.dirname(os.path.abspath(__file__))
#: every dispatcher made here that caches (tests and ``cached_kernels`` read it)
_DISPATCHERS: list = []


def njit(fn=None, **options):
    """``numba.njit`` with gradflow's disk cache when ``cache=True`` (see the module docstring)."""
    cache = bool(options.pop("cache", False))

    def wrap(f):
        disp = numba.njit(**options)(f)
        if cache:
            _enable_cache(disp)
        return disp

    return wrap if fn is None else wrap(fn)


def _enable_cache(disp) -> None:
    _DISPATCHERS.append(disp)
    if _BASES is not None:
        try:
            disp._cache = _KernelCache(disp.py_func)
            return
        except Exception:  # noqa: BLE001 - any failure of the custom cache: Numba's own instead
            pass
    try:
        disp.enable_caching()
    except RuntimeError:  # no writable place at all: run uncached rather than fail to import
        pass


def cached_kernels() -> list:
    """The kernels decorated with ``cache=True`` so far (their ``stats`` show cache hits and misses)."""
    return list(_DISPATCHERS)


@functools.lru_cache(maxsize=1)
def _sources_hash() -> str:
    h = hashlib.sha256()
    for name in sorted(os.listdir(_HERE)):
        if name.endswith(".py"):
            h.update(name.encode())
            with open(os.path.join(_HERE, name), "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()[:16]


def _version(pkg: str) -> str:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return "0"


def kernel_cache_dir() -> str | None:
    """Where the kernels' machine code is kept, or None where Numba's own rule applies
    (``NUMBA_CACHE_DIR`` set, or ``GRADFLOW_CACHE_DIR=off``)."""
    if numba.config.CACHE_DIR:
        return None
    root = cache_dir()
    if root is None:
        return None
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    key = f"gradflow-{_version('gradflow-keras')}-numba-{numba.__version__}-{py}-{_sources_hash()}"
    return os.path.join(root, "numba", key)


if _BASES is not None:
    _FunctionCache, _CompileResultCacheImpl, _SourceMixin, _Locator = _BASES

    class _KernelLocator(_SourceMixin, _Locator):
        """Puts every kernel of this package in :func:`kernel_cache_dir` (no absolute path in the
        key, so a reinstall or a new virtualenv finds the same files)."""

        def __init__(self, py_func, py_file, root):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = root

        def get_cache_path(self):
            return self._cache_path

        @classmethod
        def from_function(cls, py_func, py_file):
            root = kernel_cache_dir()
            if root is None or not os.path.exists(py_file):
                return None  # NUMBA_CACHE_DIR set or GRADFLOW_CACHE_DIR=off: Numba's own locators
            self = cls(py_func, py_file, root)
            try:
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    class _KernelCacheImpl(_CompileResultCacheImpl):
        _locator_classes = [_KernelLocator, *_CompileResultCacheImpl._locator_classes]

    class _KernelCache(_FunctionCache):
        _impl_class = _KernelCacheImpl

        def _index_key(self, sig, codegen):
            """Numba's key with the closure cells hashed stably (see the module docstring)."""
            closure = self._py_func.__closure__
            cells = b"" if closure is None else _dumps(tuple(_stable(c.cell_contents) for c in closure))
            code = self._py_func.__code__.co_code
            return sig, codegen.magic_tuple(), (hashlib.sha256(code).hexdigest(), hashlib.sha256(cells).hexdigest())

    def _stable(value):
        """A picklable stand-in for a closure cell that is the same in every process."""
        if isinstance(value, Dispatcher):
            f = value.py_func
            cells = tuple(_stable(c.cell_contents) for c in (f.__closure__ or ()))
            opts = tuple(sorted((k, repr(v)) for k, v in value.targetoptions.items()))
            return ("dispatcher", f.__module__, f.__qualname__, f.__code__.co_code, cells, opts)
        return value
