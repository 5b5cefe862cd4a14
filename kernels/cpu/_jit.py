"""The one ``njit`` every Numba kernel in this package is decorated with: Numba's, plus a disk cache
that lives in the user's cache directory and is found again by the next process.

Numba's own ``cache=True`` has two problems for gradflow's kernels:

* it writes beside the sources (``__pycache__``), so a ``pip install`` into a read-only
  site-packages falls back to a per-path directory and a reinstall (or a new virtualenv) loses
  every compiled kernel; and it keys a kernel by its own file's timestamp only, so an edit to a helper
  it inlines from another file (``_simd.tile_rows``, ``_fpenv.enter``) is missed. Here the machine
  code goes to ``<cache>/numba/<env>/<module>-<hash>/``, where ``<cache>`` is
  :func:`gradflow.dispatch.cache_dir` (``$GRADFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradflow``
  or ``~/.cache/gradflow``), ``<env>`` names the Numba, NumPy and Python versions and the machine,
  and ``<hash>`` (:func:`source_key`) hashes the kernel's own source file and every file of this
  package it imports from, followed through their imports in turn. An edit to ``attention.py``
  recompiles the attention kernels only; an edit to ``_simd.py`` recompiles every module that
  imports it; a reinstall of the same sources (new paths, new timestamps) finds every kernel again.
  A user-set ``NUMBA_CACHE_DIR`` still wins (Numba's own rule); ``GRADFLOW_CACHE_DIR=off``
  leaves Numba's default (beside the sources).
* a closure kernel (``conv2d._simd_kernels(nr).forward``, which calls the closure ``conv_row``) is
  looked up by a hash of its pickled closure cells, and a pickled dispatcher carries a fresh
  random id in every process: such a kernel never hits the cache and recompiles in every run.
  Here a dispatcher in a closure cell is hashed by what defines it (its code, its own closure
  cells and its options), so the second process loads it from disk.

Each process that opens an ``<env>`` or ``<module>-<hash>`` folder marks it used (its modification
time) and removes its siblings of the same kind (other ``<env>`` folders; the same module's folders
for other sources) that no process has used for ``STALE_AFTER`` seconds: the cache directory does
not grow forever, and two checkouts with different sources sharing one cache keep both.

``ready(kernel, *args)`` says whether a kernel can run ``args`` without compiling (compiled in this
process, or on disk: then it is loaded), so a caller can prefer a kernel that is already there over
one that would cost seconds to compile. ``opaque(value)`` drops the literal type of a constant
argument, so a helper called with ``1`` at one site and a run-time value at another compiles once.
``serial_or_parallel`` builds a kernel serial and ``parallel=True`` (three times the compile) and runs
the parallel build only once it is compiled, on disk, or repaid by the work done.
A kernel that may run on Numba's worker threads (``parallel=True``, or calling such a kernel) runs
the callables queued in ``BEFORE_THREADS`` first: ``_fpenv.Flushed`` sets flush-to-zero on the workers
there, only when something is about to run on them.

Anything Numba-internal that this needs and cannot find (a newer Numba) falls back to Numba's
own ``cache=True``: slower first runs, never a failure to import.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import os
import platform
import re
import shutil
import sys
import tempfile
import time

import numba
import numpy as np
from numba.core import types
from numba.core.compiler_lock import global_compiler_lock
from numba.core.dispatcher import Dispatcher
from numba.core.registry import CPUDispatcher
from numba.extending import intrinsic

from gradflow.dispatch import cache_dir

try:  # Numba's cache machinery (not public API: guarded, see the module docstring)
    from numba.core import caching as _caching
    from numba.core.serialize import dumps as _dumps

    _BASES: tuple | None = (_caching.FunctionCache, _caching.CompileResultCacheImpl,
                            _caching._SourceFileBackedLocatorMixin, _caching._CacheLocator)
except (ImportError, AttributeError):  # pragma: no cover - another Numba layout
    _BASES = None

__all__ = ["njit", "BEFORE_THREADS", "refresh_threaded", "kernel_cache_dir", "module_cache_dir", "source_key",
           "source_files", "cached_kernels", "ready", "opaque", "prune_stale", "STALE_AFTER", "SerialOrParallel",
           "serial_or_parallel"]

#: a sibling key folder unused for this many seconds is removed (another Numba, NumPy or Python version,
#: or a module's sources since edited); a folder in use is touched by every process that opens it
STALE_AFTER = 24 * 3600
#: environment folders are named ``<_KEY_PREFIX><versions>``; nothing else in the directory is touched
_KEY_PREFIX = "gradflow-"

#: every dispatcher made here that caches (tests and ``cached_kernels`` read it)
_DISPATCHERS: list = []


def njit(fn=None, **options):
    """``numba.njit`` with gradflow's disk cache when ``cache=True`` (see the module docstring); a kernel
    that may start Numba's worker threads runs ``BEFORE_THREADS`` first."""
    cache = bool(options.pop("cache", False))

    def wrap(f):
        disp = numba.njit(**options)(f)
        if type(disp) is CPUDispatcher:
            _MADE[0] += 1
            if _threaded(disp):
                disp.__class__ = _ThreadedDispatcher
            else:
                _PLAIN.append(disp)
        if cache:
            _enable_cache(disp)
        return disp

    return wrap if fn is None else wrap(fn)


#: callables each run once, and dropped, just before the next call from Python of a kernel that may
#: run on Numba's worker threads (``parallel=True``, or calling such a kernel). ``_fpenv.Flushed`` puts
#: its worker flush here: a fit whose kernels all run serial never launches it (nor, on a first run,
#: compiles its ``parallel=True`` kernel, ~0.3 CPU-s).
BEFORE_THREADS: list = []


def _run_before_threads() -> None:
    while BEFORE_THREADS:
        BEFORE_THREADS.pop(0)()  # dropped first: the callable may itself run a threaded kernel


class _ThreadedDispatcher(CPUDispatcher):
    """A kernel that may run on Numba's worker threads: ``BEFORE_THREADS`` runs before it (one list
    check per call when empty)."""

    def __call__(self, *args, **kwargs):
        if BEFORE_THREADS:
            _run_before_threads()
        return super().__call__(*args, **kwargs)


#: the kernels made here not (yet) known to start worker threads
_PLAIN: list = []
#: kernels made here so far, and (len(sys.modules), that count) at the last full check
_MADE = [0]
_CHECKED: list = [None]


def _mark_threaded() -> None:
    """Give every kernel that may start worker threads the ``_ThreadedDispatcher`` class, to a fixed
    point (a kernel calling one defined later in its module is found once that one exists)."""
    changed = True
    while changed:
        changed = False
        for disp in list(_PLAIN):
            if _threaded(disp):
                disp.__class__ = _ThreadedDispatcher
                _PLAIN.remove(disp)
                changed = True


def refresh_threaded() -> None:
    """Check the kernels again for threaded callees defined after them (cheap; ``_fpenv.Flushed``
    calls it on entry, when every kernel module a fit uses has been imported)."""
    state = (len(sys.modules), _MADE[0])
    if _PLAIN and _CHECKED[0] != state:
        _CHECKED[0] = state
        _mark_threaded()


def _threaded(disp) -> bool:
    """Whether ``disp`` may start worker threads: ``parallel=True``, or it calls (a global or closure
    name it uses is) a kernel that may."""
    if disp.targetoptions.get("parallel"):
        return True
    f = disp.py_func
    refs = [f.__globals__.get(name) for name in f.__code__.co_names]
    for cell in f.__closure__ or ():
        try:
            refs.append(cell.cell_contents)
        except ValueError:  # an empty cell (a name assigned later in the enclosing function)
            continue
    return any(isinstance(r, _ThreadedDispatcher) for r in refs)


def _enable_cache(disp) -> None:
    _DISPATCHERS.append(disp)
    if _BASES is not None:
        try:
            disp._cache = _KernelCache(disp.py_func, disp.targetoptions)
            return
        except Exception:  # noqa: BLE001 - any failure of the custom cache: Numba's own instead
            pass
    try:
        disp.enable_caching()
    except RuntimeError:  # no writable place at all: run uncached rather than fail to import
        pass


#: set once any split kernel has gone parallel in this process (see ``SerialOrParallel._switch``)
PARALLEL_PAYS = [False]


class SerialOrParallel:
    """One kernel built two ways, each compiled on first use and cached on disk: serial, and with
    ``parallel=True`` (its ``prange`` threaded; that build compiles about three times as long).

    ``kernel(work, *args)`` runs the parallel build when it needs no compiling (compiled in this
    process, or on disk: checked once per dtype of the first argument), or once this process's serial
    calls for that dtype have done ``budget`` units of ``work`` (a long run repays the compile, a first
    run of a small model never waits for it), or once any split kernel of the process went parallel
    (``PARALLEL_PAYS``); otherwise the serial build. The kernel's ``prange``
    must run independent tasks (each writing its own part of the outputs, the usual rule), so both
    builds give the same numbers and the choice never changes a result. With Numba's own cache (no
    options in its key) there is only the parallel build."""

    def __init__(self, fn, budget: int, options: dict):
        options = {"nogil": True, **options}  # the serial build then lets other Python threads run too
        self.parallel = njit(fn, parallel=True, **options)
        self.split = not options.get("cache") or isinstance(getattr(self.parallel, "_cache", None),
                                                            _KernelCache if _BASES is not None else ())
        self.serial = njit(fn, **options) if self.split else self.parallel
        self.budget = budget
        self.__doc__ = fn.__doc__
        self._work: dict = {}
        self._checked: set = set()
        self._parallel_for: set = set()

    def __repr__(self) -> str:
        return f"<SerialOrParallel {self.parallel.py_func.__qualname__}>"

    def __call__(self, work: int, *args):
        key = getattr(args[0], "dtype", None) if args else None
        if key in self._parallel_for:
            return self.parallel(*args)
        if PARALLEL_PAYS[0] or not self.split:
            self._parallel_for.add(key)
            return self.parallel(*args)
        if key not in self._checked:
            self._checked.add(key)
            if ready(self.parallel, *args):
                return self._switch(key, args)
        done = self._work.get(key, 0) + work
        self._work[key] = done
        if done >= self.budget:
            return self._switch(key, args)
        return self.serial(*args)

    def _switch(self, key, args):
        """This kernel's parallel build from now on, and every split kernel's: a process whose work
        has repaid (or no longer needs) one parallel compile is a long run, and its small
        memory-bound passes (pooling, batch-norm) would otherwise stay serial for good."""
        self._parallel_for.add(key)
        PARALLEL_PAYS[0] = True
        return self.parallel(*args)


def serial_or_parallel(budget: int, **options):
    """Decorator: the function as a :class:`SerialOrParallel` kernel (``options`` as for ``njit``,
    without ``parallel``)."""
    return lambda fn: SerialOrParallel(fn, budget, options)


def ready(disp, *args) -> bool:
    """Whether ``disp(*args)`` runs without compiling: the signature is compiled in this process, or
    it is in the disk cache (then it is loaded now, in milliseconds). Never compiles; False when unsure."""
    try:
        sig = tuple(disp.typeof_pyval(a) for a in args)
        if sig in disp.overloads:
            return True
        cache = disp._cache
        if not isinstance(cache, _caching.FunctionCache):
            return False
        if cache._index_key(sig, disp.targetctx.codegen()) not in cache._cache_file._load_index():
            return False
        with global_compiler_lock:  # Dispatcher.compile's cache-hit branch, without its fall-back compile
            cres = cache.load_overload(sig, disp.targetctx)
            if cres is None:  # an index entry whose data file is gone
                return False
            disp._cache_hits[sig] += 1
            if not cres.objectmode:
                disp.targetctx.insert_user_function(cres.entry_point, cres.fndesc, [cres.library])
            disp.add_overload(cres)
        return sig in disp.overloads
    except Exception:  # noqa: BLE001 - Numba internals moved, unhashable args...: say "not ready"
        return False


@intrinsic
def opaque(typingctx, value):
    """``value`` typed as its non-literal type (``1`` as int64, ``False`` as boolean): a jitted helper
    called with a constant here and a run-time value elsewhere then compiles one signature, not two."""
    ty = types.unliteral(value)

    def codegen(context, builder, signature, args):
        return context.cast(builder, args[0], signature.args[0], signature.return_type)

    return ty(value), codegen


def cached_kernels() -> list:
    """The kernels decorated with ``cache=True`` so far (their ``stats`` show cache hits and misses)."""
    return list(_DISPATCHERS)


#: a relative import statement (``from .x import y``, ``from .. import (a,\n b)``), at any indentation
_RELATIVE_IMPORT = re.compile(rb"^[ \t]*from[ \t]+\.[\w. \t]*import[ \t]*(?:\([^)]*\)|[^\n]*)", re.M)


@functools.cache
def _imported_files(path: str) -> tuple[str, ...]:
    """The files of this package that the source at ``path`` imports from: its relative imports
    (``from ._simd import tile_rows``, ``from .._geometry import ...``, ``from . import _gemm``),
    anywhere in the file, resolved against its own folder; what does not resolve to a file (Numba,
    NumPy, gradflow outside the kernels) is left out. Only the import statements are parsed (a
    whole-file parse of every kernel module would cost a cold import ~50 ms)."""
    with open(path, "rb") as fh:
        text = fh.read()
    found = []
    for match in _RELATIVE_IMPORT.finditer(text):
        try:
            node = ast.parse(match.group(0).strip()).body[0]
        except (SyntaxError, IndexError):  # an import-like line inside a string: not an import
            continue
        if not isinstance(node, ast.ImportFrom) or node.level == 0:
            continue
        base = os.path.dirname(path)
        for _ in range(node.level - 1):
            base = os.path.dirname(base)
        if node.module:
            base = os.path.join(base, *node.module.split("."))
            if os.path.isfile(base + ".py"):
                found.append(base + ".py")
                continue
        init = os.path.join(base, "__init__.py")
        if node.module and os.path.isfile(init):
            found.append(init)
        for alias in node.names:  # from . import _gemm: a module, not a name
            sub = os.path.join(base, alias.name + ".py")
            if os.path.isfile(sub):
                found.append(sub)
    return tuple(found)


def source_files(path: str) -> list[str]:
    """``path`` and every file it imports from in this package, followed through their imports in turn
    (sorted, absolute): what a kernel defined in ``path`` may inline."""
    seen = {os.path.abspath(path)}
    todo = list(seen)
    while todo:
        for dep in _imported_files(todo.pop()):
            dep = os.path.abspath(dep)
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return sorted(seen)


@functools.cache
def source_key(path: str) -> str:
    """A hash of the contents of :func:`source_files` of ``path`` (named relative to its folder, so a
    reinstall elsewhere gives the same key): the part of a kernel's cache key its sources make."""
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(path))
    for dep in source_files(path):
        h.update(os.path.relpath(dep, here).replace(os.sep, "/").encode())
        with open(dep, "rb") as fh:
            h.update(hashlib.sha256(fh.read()).digest())
    return h.hexdigest()[:16]


def kernel_cache_dir() -> str | None:
    """The environment folder the kernels' machine code is kept under (one ``<module>-<hash>`` folder
    per source file in it), or None where Numba's own rule applies (``NUMBA_CACHE_DIR`` set, or
    ``GRADFLOW_CACHE_DIR=off``)."""
    if numba.config.CACHE_DIR:
        return None
    root = cache_dir()
    if root is None:
        return None
    py = f"py{sys.version_info[0]}{sys.version_info[1]}"
    env = f"{_KEY_PREFIX}numba-{numba.__version__}-numpy-{np.__version__}-{py}-{platform.machine() or 'cpu'}"
    return os.path.join(root, "numba", env)


def _module_name(path: str, module: str | None = None) -> str:
    """The folder name's module part: the file's name, or the whole dotted ``module`` when it was
    imported other than as ``gradflow.kernels...`` (``kernels.cpu.x`` from a checkout's root): the
    machine code Numba caches refers to its module by that name, so another import name must not
    load it (it fails with "No module named 'kernels'")."""
    if module and not module.startswith("gradflow."):
        return module
    return os.path.splitext(os.path.basename(path))[0]


def module_cache_dir(path: str, module: str | None = None) -> str | None:
    """Where the kernels defined in the source file ``path`` (imported as ``module``) keep their
    machine code: ``<kernel_cache_dir()>/<module>-<source_key(path)>``, or None as for
    :func:`kernel_cache_dir`."""
    env = kernel_cache_dir()
    return None if env is None else os.path.join(env, f"{_module_name(path, module)}-{source_key(path)}")


def prune_stale(current: str, now: float | None = None, prefix: str = _KEY_PREFIX) -> list[str]:
    """Mark the key folder ``current`` used now and remove its sibling folders named ``prefix...``
    (environment folders by default; ``"<module>-"`` for a module's source-key folders) unused for
    ``STALE_AFTER`` seconds; returns the removed paths. Errors are ignored (a folder another process
    holds open, a read-only directory): pruning never fails a run."""
    now = time.time() if now is None else now
    parent, name = os.path.split(current)
    removed: list[str] = []
    try:
        os.utime(current, (now, now))
        entries = list(os.scandir(parent))
    except OSError:
        return removed
    for entry in entries:
        if entry.name == name or not entry.name.startswith(prefix):
            continue
        try:
            used = entry.stat(follow_symlinks=False).st_mtime
            if not entry.is_dir(follow_symlinks=False) or used > now - STALE_AFTER:
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        if not os.path.exists(entry.path):
            removed.append(entry.path)
    return removed


@functools.cache
def _opened(path: str, prefix: str = _KEY_PREFIX) -> bool:
    """Create the key folder and prune its stale siblings, once per process and folder (an OSError,
    a read-only cache say, is raised again on every call: functools.cache keeps only returns)."""
    os.makedirs(path, exist_ok=True)
    prune_stale(path, prefix=prefix)
    return True


@functools.cache
def _writable(path: str) -> bool:
    """Numba's ``ensure_cache_path`` (create, then write a temporary file), once per process and folder
    rather than once per kernel."""
    os.makedirs(path, exist_ok=True)
    tempfile.TemporaryFile(dir=path).close()
    return True


if _BASES is not None:
    _FunctionCache, _CompileResultCacheImpl, _SourceMixin, _Locator = _BASES

    class _KernelLocator(_SourceMixin, _Locator):
        """Puts every kernel of this package in :func:`module_cache_dir` of its source file, with
        :func:`source_key` as the index's freshness stamp instead of the file's timestamp (no absolute
        path, no timestamp: a reinstall or a new virtualenv of the same sources finds the same files)."""

        def __init__(self, py_func, py_file, root):
            self._py_file = py_file
            self._lineno = py_func.__code__.co_firstlineno
            self._cache_path = root
            self._stamp = source_key(py_file)

        def get_cache_path(self):
            return self._cache_path

        def get_source_stamp(self):
            return self._stamp

        def ensure_cache_path(self):
            _writable(self._cache_path)

        @classmethod
        def from_function(cls, py_func, py_file):
            if not os.path.exists(py_file):
                return None
            module = getattr(py_func, "__module__", None)
            root = module_cache_dir(py_file, module)
            if root is None:
                return None  # NUMBA_CACHE_DIR set or GRADFLOW_CACHE_DIR=off: Numba's own locators
            self = cls(py_func, py_file, root)
            try:
                _opened(os.path.dirname(root))
                _opened(root, _module_name(py_file, module) + "-")
                self.ensure_cache_path()
            except OSError:
                return None
            return self

    class _KernelCacheImpl(_CompileResultCacheImpl):
        _locator_classes = [_KernelLocator, *_CompileResultCacheImpl._locator_classes]

    class _KernelCache(_FunctionCache):
        _impl_class = _KernelCacheImpl

        def __init__(self, py_func, options=None):
            super().__init__(py_func)
            #: the compile options are part of the key: a serial and a parallel build of one function
            #: (SerialOrParallel) share an index file, and must not load each other's machine code
            self._options = repr(sorted((k, repr(v)) for k, v in (options or {}).items())).encode()

        def save_overload(self, sig, data):
            """Numba's save, except that a key folder removed meanwhile (pruned by another
            process, deleted by the user) costs the saved copy, never the run."""
            try:
                super().save_overload(sig, data)
            except OSError:
                pass

        def _index_key(self, sig, codegen):
            """Numba's key with the closure cells hashed stably (see the module docstring)."""
            closure = self._py_func.__closure__
            cells = b"" if closure is None else _dumps(tuple(_stable(c.cell_contents) for c in closure))
            code = self._py_func.__code__.co_code + self._options
            return sig, codegen.magic_tuple(), (hashlib.sha256(code).hexdigest(), hashlib.sha256(cells).hexdigest())

    def _stable(value):
        """A picklable stand-in for a closure cell that is the same in every process."""
        if isinstance(value, Dispatcher):
            f = value.py_func
            cells = tuple(_stable(c.cell_contents) for c in (f.__closure__ or ()))
            opts = tuple(sorted((k, repr(v)) for k, v in value.targetoptions.items()))
            return ("dispatcher", f.__module__, f.__qualname__, f.__code__.co_code, cells, opts)
        return value
