"""The kernel registry: (op, implementation) -> function, and how one is chosen.

Implementations are registered by dotted path (``"gradflow.kernels.cpu.conv2d:conv2d_forward"``)
and imported on first use, so ``import gradflow`` compiles and imports nothing heavy.

How an implementation is chosen (``choose``/``get``/``call``), first rule that applies wins:

1. the ``reference`` backend always gets the ``reference`` implementation;
2. ``config.op_kernels[op]`` or, failing that, ``config.kernels`` when it is not ``"auto"``: that
   name, or :class:`KernelUnavailable` naming what is registered;
3. ``auto`` under ``config.deterministic`` (the default): the first loadable name in ``AUTO_ORDER``
   for the device, never a choice made by timing, so the same seed and inputs give bit-identical
   results in every process whatever the machine's load (what still changes results: the kernel
   set, the backend, and for some BLAS calls the thread count). One rule by size, not by time:
   a call of an op in ``SMALL_WORK`` whose work is below its limit (a Dense layer of a few
   thousand weights, a pooling of a few thousand values) runs ``numpy`` instead of ``numba``,
   where both take microseconds, so a first run never waits seconds for that Numba kernel to
   compile;
4. ``auto`` with a winner already timed for this (op, device, shape key): the winner;
5. ``auto`` with ``config.autotune`` on and two or more loadable candidates (``AUTO_ORDER`` for
   the device minus ``reference``): the call itself is timed, with the arguments it really has
   (activation, fusion, batch). Each candidate runs once untimed (Numba compiles then), then
   ``TUNE_REPEATS`` rounds run every candidate in turn; each one's lowest time counts, and the
   fastest wins unless the preferred candidate is within ``PREFER_MARGIN`` of it. The winner is
   remembered for the key and its result returned. A candidate that raises is skipped (all
   raise: the first error propagates);
6. otherwise the first loadable name in ``AUTO_ORDER`` for the device.

The shape key (:func:`shape_key`) is built from every argument but ``out``: arrays give
(shape, dtype), geometry tuples and scalars give themselves; the first array's batch dimension
is bucketed (:func:`batch_bucket`), so a new batch size is timed again only when it differs
enough to matter (up to 8 exactly, then by powers of two). ``call(op, *args, **kw)`` computes it
and dispatches in one step; ``get(op, ...)`` without a key returns a callable that computes it per
call. Winners are kept in ``autotune.json`` in the cache directory (``$GRADFLOW_CACHE_DIR``, else
``$XDG_CACHE_HOME/gradflow`` or ``~/.cache/gradflow``; ``GRADFLOW_CACHE_DIR=off`` keeps nothing),
written atomically and ignored when the machine, Python, NumPy, Numba, CuPy or gradflow differ; a
tuning timed while the machine was busy (load average above ``BUSY_LOAD`` per core) is used by
that process but not saved. ``explain()`` reports the implementation each op used last and why.
"""
from __future__ import annotations

import importlib
import json
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata

from . import config
from .backend import cupy_status

__all__ = [
    "HOT_OPS", "register", "get", "call", "implementations", "available", "choose", "explain",
    "KernelUnavailable", "reset", "record_tuned", "shape_key", "batch_bucket", "tuned", "TUNE_REPEATS",
    "PREFER_MARGIN", "BUSY_LOAD", "cache_dir", "SMALL_WORK",
]

HOT_OPS = config.KERNEL_OPS

#: preference order for ``auto`` when nothing has been timed, per device
AUTO_ORDER = {"cpu": ("numba", "numpy", "reference"), "cuda": ("cuda", "vendor")}
#: timed runs per candidate when autotuning (after one untimed warm-up run)
TUNE_REPEATS = 2
#: the preferred implementation (first in AUTO_ORDER) keeps the op unless another is this much faster
PREFER_MARGIN = 0.05
#: 1-minute load average per core above which timings are not trusted enough to be saved
BUSY_LOAD = 1.5


def _matmul_work(a, b, *_, **__) -> int:
    """Multiply-adds of ``a @ b`` (batch dimensions broadcast: one of them is 1 or both agree)."""
    if a.ndim < 2 or b.ndim < 2:
        return int(a.size * b.size)
    batch = max(a.size // max(1, a.shape[-2] * a.shape[-1]), b.size // max(1, b.shape[-2] * b.shape[-1]))
    return int(batch * a.shape[-2] * a.shape[-1] * b.shape[-1])


def _first_size(x, *_, **__) -> int:
    return int(x.size)


def _shape_size(dy, argmax, x_shape, *_, **__) -> int:
    size = 1
    for d in x_shape:
        size *= int(d)
    return size


#: op -> (work of a call, limit): deterministic ``auto`` runs ``numpy`` for calls with less work (rule 3)
SMALL_WORK: dict[str, tuple[Callable, int]] = {
    "matmul": (_matmul_work, 1 << 20),
    "max_pool2d_forward": (_first_size, 1 << 17),
    "max_pool2d_backward": (_shape_size, 1 << 17),
}


class KernelUnavailable(RuntimeError):
    """An implementation was asked for that is not registered or cannot load here."""


@dataclass
class Impl:
    op: str
    name: str
    device: str
    target: str | Callable
    _fn: Callable | None = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)

    def load(self) -> Callable:
        if self._fn is not None:
            return self._fn
        if self._error is not None:
            raise KernelUnavailable(self._error)
        if callable(self.target):
            self._fn = self.target
            return self._fn
        module, _, attr = self.target.partition(":")
        try:
            self._fn = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # missing numba/cupy, compile error...
            self._error = f"{self.op}/{self.name} cannot load from {self.target}: {type(exc).__name__}: {exc}"
            raise KernelUnavailable(self._error) from exc
        return self._fn


_lock = threading.Lock()
_registry: dict[str, dict[str, Impl]] = {}
#: get() answers for key=None, keyed by (op, device, backend, config state); cleared on any change
_get_cache: dict[tuple, tuple] = {}
#: (op, device, shape key) -> implementation name chosen by timing
_tuned: dict[tuple, str] = {}
#: (op, device, shape key) -> {name: seconds or error text} measured when tuning
_timings: dict[tuple, dict[str, float | str]] = {}
#: tunings timed while the machine was busy: used by this process, never saved
_busy_keys: set = set()
#: last choice per (op, device): (name, reason) for explain()
_last: dict[tuple[str, str], tuple[str, str]] = {}


def register(op: str, name: str, target: str | Callable, device: str = "cpu") -> None:
    """Register ``target`` (a callable or ``"module:attr"``) as implementation ``name`` of ``op``."""
    with _lock:
        _registry.setdefault(op, {})[name] = Impl(op, name, device, target)
        _get_cache.clear()


def implementations(op: str, device: str | None = None) -> dict[str, Impl]:
    """All registered implementations of ``op`` (on ``device`` when given)."""
    _ensure_builtin()
    impls = _registry.get(op, {})
    return {n: i for n, i in impls.items() if device is None or i.device == device}


def available(op: str, device: str = "cpu") -> list[str]:
    """Names of the implementations of ``op`` that load on ``device``, in preference order."""
    out = []
    for name, impl in implementations(op, device).items():
        try:
            impl.load()
            out.append(name)
        except KernelUnavailable:
            pass
    order = AUTO_ORDER.get(device, ())
    return sorted(out, key=lambda n: order.index(n) if n in order else len(order))


def _requested(op: str) -> str:
    return config.op_kernels.get(op, config.kernels)


def _candidates(op: str, device: str, impls: dict[str, Impl]) -> list[str]:
    """Loadable implementations ``auto`` may time, in preference order (never ``reference``)."""
    out = []
    for name in AUTO_ORDER.get(device, ()):
        if name != "reference" and name in impls:
            try:
                impls[name].load()
                out.append(name)
            except KernelUnavailable:
                continue
    return out


def choose(op: str, device: str = "cpu", backend_name: str | None = None, key=None) -> tuple[str, str]:
    """Pick the implementation name for ``op``; returns ``(name, reason)``.

    With autotuning pending for ``key`` (rule 4 above) this returns the preferred candidate and
    says that timing is pending; :func:`get` is what actually times.
    """
    impls = implementations(op, device)
    if not impls:
        raise KernelUnavailable(f"no implementation of {op!r} is registered for device {device!r}")
    if backend_name == "reference":
        return "reference", "the reference backend always uses the reference implementation"
    want = _requested(op)
    if want != "auto":
        if want not in impls:
            raise KernelUnavailable(
                f"{op}: implementation {want!r} is not registered for device {device!r}; "
                f"registered: {', '.join(sorted(impls))}"
            )
        return want, f"requested by config ({'op_kernels' if op in config.op_kernels else 'kernels'}={want!r})"
    if config.deterministic:
        return _first_loadable(op, device, impls, "auto (deterministic: no timing)")
    if key is not None:
        winner = _lookup_tuned(op, device, key)
        if winner is not None and winner in impls:
            return winner, _tuned_reason(op, device, key, winner)
    cands = _candidates(op, device, impls)
    if config.autotune and len(cands) > 1:
        return cands[0], f"auto: timing {', '.join(cands)} on the first call for shape {key}"
    return _first_loadable(op, device, impls, "auto")


def _first_loadable(op: str, device: str, impls: dict[str, Impl], why: str) -> tuple[str, str]:
    for name in AUTO_ORDER.get(device, ()):
        if name in impls:
            try:
                impls[name].load()
                return name, f"{why}: first loadable in preference order {AUTO_ORDER[device]}"
            except KernelUnavailable:
                continue
    raise KernelUnavailable(f"no loadable implementation of {op!r} on {device!r}")


def get(op: str, device: str = "cpu", backend_name: str | None = None, key=None) -> Callable:
    """The function implementing ``op`` on ``device`` under the current configuration.

    Under ``auto`` with autotuning on and no winner known for ``key`` yet, the result is a
    callable that times the candidates on its first call (``key=None``: on every new shape).
    """
    if key is None:  # the per-call path of every op: answer from the cache when config is unchanged
        ck = (op, device, backend_name, config.kernels, config.op_kernels.get(op), config.autotune,
              config.deterministic)
        hit = _get_cache.get(ck)
        if hit is not None:
            fn, last = hit
            if last is not None:
                _last[(op, device)] = last
            return fn
    name, reason = choose(op, device, backend_name, key)
    impls = implementations(op, device)
    fn, last = None, (name, reason)
    if (backend_name != "reference" and _requested(op) == "auto" and config.autotune and not config.deterministic
            and (key is None or _lookup_tuned(op, device, key) is None)):
        cands = _candidates(op, device, impls)
        if len(cands) > 1:
            fn, last = _Tuner(op, device, key, tuple(cands)), None
    if fn is None:
        _last[(op, device)] = last
        fn = impls[name].load()
        small = _small_path(op, device, backend_name, name, impls)
        if small is not None:
            fn, last = _BySize(op, device, small, fn, last), None
    if key is None:
        _get_cache[ck] = (fn, last)
    return fn


def call(op: str, *args, device: str | None = None, backend_name: str | None = None, **kwargs):
    """Run ``op`` on ``args`` with the implementation chosen for their shapes (autotuning if due).

    ``device`` defaults to ``"cuda"`` when any argument is a CuPy array, else ``"cpu"``.
    """
    device = device or _device_of(args)
    return get(op, device, backend_name, shape_key(args, kwargs))(*args, **kwargs)


def record_tuned(op: str, device: str, key, name: str) -> None:
    """Remember that ``name`` was fastest for ``op`` at shape ``key``."""
    with _lock:
        _tuned[(op, device, key)] = name
        _get_cache.clear()


def tuned() -> dict[tuple, dict]:
    """Winners known so far: ``{(op, device, key): {"name": ..., "timings": {...}}}``."""
    with _lock:
        return {k: {"name": v, "timings": dict(_timings.get(k, {}))} for k, v in _tuned.items()}


def explain(print_fn=print) -> str:
    """Print (and return) which implementation each hot-path op used last and why."""
    gpu, why = cupy_status()
    lines = [f"GPU: {why}" if gpu else "GPU: none usable here, so the cuda and vendor kernels cannot run"]
    for op in HOT_OPS:
        used = [(dev, _last[(op, dev)]) for dev in ("cpu", "cuda") if (op, dev) in _last]
        if not used:
            devices = ("cpu", "cuda") if gpu else ("cpu",)
            regs = "; ".join(f"{dev}: {', '.join(sorted(implementations(op, dev))) or 'none'}" for dev in devices)
            lines.append(f"{op:24s} not called yet (usable here: {regs})")
        for dev, (name, reason) in used:
            lines.append(f"{op:24s} [{dev}] {name:9s} {reason}")
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text


def reset() -> None:
    """Forget timing results and last choices (tests use this); the cache file is re-read lazily."""
    global _disk_loaded
    with _lock:
        _tuned.clear()
        _timings.clear()
        _last.clear()
        _get_cache.clear()
        _busy_keys.clear()
        _disk_loaded = None


def _small_path(op, device, backend_name, name, impls):
    """The ``numpy`` function that small calls of ``op`` take instead of ``numba`` (rule 3), or None."""
    if (op not in SMALL_WORK or name != "numba" or device != "cpu" or backend_name == "reference"
            or not config.deterministic or _requested(op) != "auto" or "numpy" not in impls):
        return None
    try:
        return impls["numpy"].load()
    except KernelUnavailable:
        return None


class _BySize:
    """Deterministic ``auto`` for an op in ``SMALL_WORK``: ``numpy`` below the work limit, else the
    chosen implementation (the Numba kernel then compiles only when a call is large enough)."""

    def __init__(self, op, device, small_fn, fn, last):
        self.op, self.device, self.small_fn, self.fn, self.last = op, device, small_fn, fn, last
        self.work, self.limit = SMALL_WORK[op]
        self.small_last = ("numpy", f"auto (deterministic): a call below {self.limit} units of work runs numpy, "
                                    f"so the Numba kernel compiles only for larger calls")

    def __repr__(self) -> str:
        return f"<{self.op}: numpy below {self.limit} units of work, else {self.last[0]}>"

    def __call__(self, *args, **kwargs):
        try:
            small = self.work(*args, **kwargs) < self.limit
        except (AttributeError, TypeError, IndexError):  # not arrays: let the implementation say what is wrong
            small = False
        if small:
            _last[(self.op, self.device)] = self.small_last
            return self.small_fn(*args, **kwargs)
        _last[(self.op, self.device)] = self.last
        return self.fn(*args, **kwargs)


# -- shape keys -------------------------------------------------------------------------------
def _key_part(value):
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return (tuple(int(s) for s in value.shape), str(value.dtype))
    if isinstance(value, (tuple, list)):
        return tuple(_key_part(v) for v in value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "item"):  # NumPy scalar
        return value.item()
    return type(value).__name__


def batch_bucket(n: int) -> int:
    """The batch sizes that share a tuning: exact up to 8, then the next power of two (so a last,
    partial batch of 968 reuses the winner for 1000, while 1 and 1000 are timed apart)."""
    return n if n <= 8 else 1 << (n - 1).bit_length()


def shape_key(args, kwargs=None) -> tuple:
    """Hashable key from call arguments: (shape, dtype) for arrays, values for geometry, ``out`` left out.
    The leading (batch) dimension of the first array is bucketed by :func:`batch_bucket`."""
    parts = [_key_part(a) for a in args]
    for i, part in enumerate(parts):
        if hasattr(args[i], "shape") and hasattr(args[i], "dtype"):
            shape, dtype = part
            if shape:
                parts[i] = ((batch_bucket(shape[0]),) + shape[1:], dtype)
            break
    for name in sorted(kwargs or {}):
        if name != "out":
            parts.append((name, _key_part(kwargs[name])))
    return tuple(parts)


def _device_of(args) -> str:
    for a in args:
        if type(a).__module__.split(".")[0] == "cupy":
            return "cuda"
    return "cpu"


# -- timing -----------------------------------------------------------------------------------
def _synchronize(device: str) -> None:
    if device == "cuda":
        import cupy  # noqa: PLC0415 - optional dependency (cupy)

        cupy.cuda.Device().synchronize()


class _Tuner:
    """Stands in for an implementation until the candidates have been timed on a real call."""

    def __init__(self, op: str, device: str, key, candidates: tuple[str, ...]):
        self.op, self.device, self.key, self.candidates = op, device, key, candidates
        self._fast: dict = {}  # cheap per-call key -> (winner function, explain entry)

    def __repr__(self) -> str:
        return f"<autotuning {self.op} on {self.device} among {', '.join(self.candidates)}>"

    def __call__(self, *args, **kwargs):
        cheap = tuple((a.shape, a.dtype.char) if hasattr(a, "dtype") else a for a in args)
        if kwargs:
            cheap += tuple((k, (v.shape, v.dtype.char) if hasattr(v, "dtype") else v)
                           for k, v in sorted(kwargs.items()))
        try:
            hit = self._fast.get(cheap)
        except TypeError:  # an unhashable argument: take the slow path every time
            hit = cheap = None
        if hit is not None:
            _last[(self.op, self.device)] = hit[1]
            return hit[0](*args, **kwargs)
        key = self.key if self.key is not None else shape_key(args, kwargs)
        impls = implementations(self.op, self.device)
        winner = _lookup_tuned(self.op, self.device, key)
        if winner is not None and winner in impls:
            last = (winner, _tuned_reason(self.op, self.device, key, winner))
            _last[(self.op, self.device)] = last
            fn = impls[winner].load()
            if cheap is not None:
                self._fast[cheap] = (fn, last)
            return fn(*args, **kwargs)
        return _tune(self.op, self.device, key, self.candidates, args, kwargs)


def _tune(op, device, key, candidates, args, kwargs):
    """Time ``candidates`` on this very call (its arguments: activation, fusion, batch): each one
    once untimed, then TUNE_REPEATS rounds that run every candidate in turn, so that a busy spell
    of the machine hits all of them alike; each one's best time counts. The preferred candidate
    (the first) wins unless another is more than PREFER_MARGIN faster."""
    impls = implementations(op, device)
    busy = _busy()
    times: dict[str, float | str] = {}
    result, first_error = None, None
    runnable = []
    for name in candidates:
        fn = impls[name].load()
        try:
            result = fn(*args, **kwargs)  # warm-up: compiles, faults pages in; not timed
            _synchronize(device)
            runnable.append((name, fn))
            times[name] = float("inf")
        except Exception as exc:  # a candidate that cannot run this call is skipped
            times[name] = f"{type(exc).__name__}: {exc}"
            first_error = first_error or exc
    if not runnable:
        raise first_error
    for _ in range(TUNE_REPEATS):
        for name, fn in runnable:
            t0 = time.perf_counter()
            result = fn(*args, **kwargs)
            _synchronize(device)
            times[name] = min(times[name], time.perf_counter() - t0)
    timed = {n: t for n, t in times.items() if isinstance(t, float)}
    winner = min(timed, key=timed.get)
    preferred = runnable[0][0]
    if winner != preferred and timed[preferred] <= timed[winner] * (1.0 + PREFER_MARGIN):
        winner = preferred  # within timing noise: keep the preference order's choice
    with _lock:
        _tuned[(op, device, key)] = winner
        _timings[(op, device, key)] = times
    busy = busy or _busy()
    if busy:
        _busy_keys.add((op, device, key))
    _last[(op, device)] = (winner, _tuned_reason(op, device, key, winner))
    if not busy:
        _save_disk(op, device, key, winner, times)
    if runnable[-1][0] != winner:
        result = impls[winner].load()(*args, **kwargs)  # hand back the winner's own result
    return result


def _tuned_reason(op, device, key, winner) -> str:
    times = _timings.get((op, device, key))
    if not times:
        return f"fastest when timed for shape {key}"
    desc = ", ".join(f"{n} {t * 1e3:.3g} ms" if isinstance(t, float) else f"{n} failed ({t})"
                     for n, t in times.items())
    timed = {n: t for n, t in times.items() if isinstance(t, float)}
    if timed and winner in timed and timed[winner] > min(timed.values()):
        desc += f"; {winner} kept: the preferred implementation, within {PREFER_MARGIN:.0%} of the fastest"
    if (op, device, key) in _busy_keys:
        desc += "; timed on a busy machine, so not saved"
    return f"autotuned for shape {key}: {desc}"



def _busy() -> bool:
    """Whether the machine is too loaded for timings to be trusted (1-minute load per core > BUSY_LOAD)."""
    try:
        return os.getloadavg()[0] > BUSY_LOAD * (os.cpu_count() or 1)
    except OSError:  # no load average (Windows): trust the timings
        return False


# -- on-disk cache of winners -----------------------------------------------------------------
_disk_loaded: dict | None = None


def cache_dir() -> str | None:
    """Where tunings persist: ``$GRADFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/gradflow``, else
    ``~/.cache/gradflow``; None when ``GRADFLOW_CACHE_DIR`` is ``off`` (or ``0``, ``none``)."""
    root = os.environ.get("GRADFLOW_CACHE_DIR")
    if root is not None and root.strip().lower() in ("off", "0", "none", "no"):
        return None
    if root:
        return os.path.expanduser(root)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(xdg, "gradflow")


def _cache_file() -> str | None:
    root = cache_dir()
    return os.path.join(root, "autotune.json") if root else None


def _fingerprint() -> dict:
    def version(pkg):
        try:
            return metadata.version(pkg)
        except metadata.PackageNotFoundError:
            return None

    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": version("numpy"),
            "numba": version("numba"), "cupy": version("cupy-cuda12x") or version("cupy-cuda13x") or version("cupy"),
            "gradflow": version("gradflow-keras")}


def _disk_key(op, device, key) -> str:
    return f"{device}|{op}|{key!r}"


def _read_disk(path: str) -> dict:
    try:
        with open(path) as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("fingerprint") != _fingerprint():
        return {}
    entries = data.get("entries")
    return entries if isinstance(entries, dict) else {}


def _lookup_tuned(op, device, key):
    name = _tuned.get((op, device, key))
    if name is not None:
        return name
    global _disk_loaded
    path = _cache_file()
    if path is None:
        return None
    if _disk_loaded is None:
        _disk_loaded = _read_disk(path)
    entry = _disk_loaded.get(_disk_key(op, device, key))
    if isinstance(entry, dict) and isinstance(entry.get("name"), str):
        with _lock:
            _tuned[(op, device, key)] = entry["name"]
            _timings[(op, device, key)] = {n: t for n, t in entry.get("timings", {}).items()}
        return entry["name"]
    return None


def _save_disk(op, device, key, winner, times) -> None:
    """Merge one winner into the cache file: write a temporary file, then rename it over."""
    path = _cache_file()
    if path is None:
        return
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        entries = _read_disk(path)
        entries[_disk_key(op, device, key)] = {"name": winner, "timings": times}
        fd, tmp = tempfile.mkstemp(prefix=".autotune-", suffix=".json", dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump({"fingerprint": _fingerprint(), "entries": entries}, fh, indent=1, sort_keys=True)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass  # a read-only or full disk only costs re-tuning next time


_builtin_done = False


def _ensure_builtin() -> None:
    global _builtin_done
    if not _builtin_done:
        _builtin_done = True
        from .kernels import registry  # noqa: F401,PLC0415 - registers the kernels; lazy: no Numba in import gradflow
