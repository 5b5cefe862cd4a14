"""Keep OpenBLAS's idle threads from fighting Numba's kernels for the cores during training.

After every multi-threaded BLAS call OpenBLAS keeps its worker threads spinning for a while;
when a parallel Numba kernel starts next (conv, pooling, batch norm), both thread pools compete
for the same few cores and every kernel runs up to 2x slower. While gradflow trains or predicts
on the CPU it therefore runs BLAS on one thread and lets the Numba kernels use all cores
(measured on the 2-core machines: model A epoch 0.45 s -> 0.20 s). Users' own BLAS calls outside
``fit``/``evaluate``/``predict`` are untouched. ``GRADFLOW_BLAS_THREADS=N`` sets the count used
during training instead (0 leaves BLAS alone).

The same blocks run with denormal floats flushed to zero (``config.flush_denormals``, on by default;
MXCSR FTZ|DAZ through ``gradflow.kernels.cpu._fpenv``, which needs Numba): arithmetic on denormals,
which gradients through long recurrences reach, is ~100x slower. ``fit``/``evaluate``/``predict``
set it on the calling thread, and on every Numba worker just before the first kernel that may run on
them (a fit whose kernels all run serial, as a small model's first run does, never launches the
workers for it); a model call under ``no_grad`` sets it on the calling thread only (the fused
recurrent kernels set it on their workers themselves); each thread gets its own setting back at the
end, so the user's NumPy and Numba code outside these calls keeps IEEE denormals. Code of the user's
that gradflow runs inside them (callbacks, custom layers) sees FTZ on the calling thread, and on the
workers once a gradflow kernel has run threaded.
A custom training loop (``loss.backward()`` outside ``fit``) gets it only in the recurrent kernels.
"""
from __future__ import annotations

import contextlib
import ctypes
import functools
import importlib
import os
import sys

from threadpoolctl import ThreadpoolController

from . import config
from .backend import is_cupy_array

__all__ = ["owned_cpu_threads", "training_threads", "inference_threads", "keep_large_buffers"]

_malloc_tuned = False


def keep_large_buffers() -> bool:
    """Ask glibc to keep freed large buffers instead of unmapping them (once per process).

    A CNN step frees and re-allocates the same multi-MB activations every batch; by default glibc
    hands each one back to the OS and the next allocation page-faults it in again, which on these
    VMs is slow (measured on model B fit: about 8% more samples/s when kept, within noisy runs). Set
    ``GRADFLOW_MALLOC_TUNING=0`` to leave the allocator alone. Returns whether it was applied.
    """
    global _malloc_tuned
    if _malloc_tuned or os.environ.get("GRADFLOW_MALLOC_TUNING", "1") in ("0", "false", "no"):
        return _malloc_tuned
    _malloc_tuned = True
    try:
        if not sys.platform.startswith("linux"):
            return False
        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        ok = libc.mallopt(M_MMAP_THRESHOLD, 32 << 20) == 1  # heap-serve buffers up to 32 MiB (glibc max)
        ok &= libc.mallopt(M_TRIM_THRESHOLD, (1 << 31) - 1) == 1  # and keep the heap, do not trim it
        return bool(ok)
    except Exception:  # not glibc: nothing to tune
        return False


_blas_parsed: list = [None, None]  # [the GRADFLOW_BLAS_THREADS text, its count]


def _blas_threads() -> int | None:
    raw = os.environ.get("GRADFLOW_BLAS_THREADS", "1")
    if raw == _blas_parsed[0]:
        return _blas_parsed[1]
    value = raw.strip()
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"GRADFLOW_BLAS_THREADS must be an integer, got {value!r}") from None
    _blas_parsed[0], _blas_parsed[1] = raw, (n if n > 0 else None)
    return _blas_parsed[1]


def training_threads(device: str, workers: bool = True):
    """Context manager: BLAS limited to ``GRADFLOW_BLAS_THREADS`` (default 1) on the CPU, when the
    Numba kernels may run, and denormals flushed (``config.flush_denormals``; on Numba's workers too
    when ``workers``); a no-op on the GPU, and for BLAS with kernels pinned to numpy/reference or
    without threadpoolctl."""
    if _active[0]:  # already inside a limited block (predict -> forward): nothing more to do
        return _NULL
    if device != "cpu":
        return _NULL
    keep_large_buffers()
    n = _blas_threads()
    blas: list = []
    if n is not None and config.kernels not in ("numpy", "reference"):
        try:
            blas = _blas_controllers()
        except Exception:  # threadpoolctl missing or unable to see the BLAS: run as is
            blas = []
    # not on the float64 oracle, nor loading Numba for it when the kernels are pinned to numpy
    wants_flush = config.flush_denormals and config.kernels != "reference" and (
        config.kernels != "numpy" or "numba" in sys.modules)
    flush = _flusher(workers) if wants_flush else None
    if not blas and flush is None:
        return _NULL
    return _Limited(blas, n or 0, flush)


_fpenv_state: list = [None, False]  # [gradflow.kernels.cpu._fpenv, tried to load]


def _flusher(workers: bool):
    """A fresh ``_fpenv.Flushed`` block, or None without Numba or off x86 (nothing flushes then)."""
    if not _fpenv_state[1]:
        _fpenv_state[1] = True
        try:  # Numba is optional and heavy: loaded on the first CPU fit/predict, as the kernels are
            _fpenv_state[0] = importlib.import_module("gradflow.kernels.cpu._fpenv")
        except Exception:
            _fpenv_state[0] = None
    mod = _fpenv_state[0]
    if mod is None or not mod.HAVE_MXCSR:
        return None
    return mod.Flushed(workers)


_NULL = contextlib.nullcontext()
_active = [0]  # nesting depth of _Limited blocks (the BLAS thread count is per process)


class _Limited:
    """Each BLAS library set to ``n`` threads inside, back to its own count after: a few ctypes
    calls (threadpoolctl's ``limit`` re-reads every library's info, ~15 us, most of a one-sample
    predict)."""

    __slots__ = ("blas", "n", "before", "flush")

    def __init__(self, blas, n: int, flush=None):
        self.blas, self.n, self.before, self.flush = blas, n, [], flush

    def __enter__(self):
        _active[0] += 1
        try:
            if self.flush is not None:
                self.flush.__enter__()
            for c in self.blas:
                try:
                    count = c.get_num_threads()
                    if count != self.n:
                        c.set_num_threads(self.n)
                        self.before.append((c, count))
                except Exception:  # a library that cannot be set: leave it
                    continue
        except BaseException:  # a KeyboardInterrupt mid-entry: `with` will not call __exit__, so undo here
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        try:
            if self.flush is not None:  # first: an interrupt here must not leave the caller flushed
                self.flush.__exit__(*exc)
        finally:
            _active[0] -= 1
            for c, count in self.before:
                try:
                    c.set_num_threads(count)
                except Exception:
                    pass
            self.before = []
        return False


def inference_threads(x):
    """``training_threads`` for an inference forward pass on ``x`` (CPU unless ``x`` is a CuPy
    array or Tensor): ``model(x)`` under ``no_grad`` gets the same protection from spinning BLAS
    threads as ``predict`` (measured: a Numba kernel right after a two-thread BLAS call ran ~3 ms
    late on the 2-core machine, against ~10 us)."""
    return training_threads("cuda" if is_cupy_array(getattr(x, "data", x)) else "cpu", workers=False)


#: the BLAS libraries' threadpoolctl controllers, and len(sys.modules) when they were found
_blas_seen: list = [None, -1]


def _blas_controllers() -> list:
    """The BLAS libraries' threadpoolctl controllers, looked up again only when modules were
    imported since the last lookup (a fresh ThreadpoolController costs about 0.5 ms, most of a
    one-sample predict; new BLAS libraries only arrive with new extension modules)."""
    if _blas_seen[0] is None or _blas_seen[1] != len(sys.modules):
        found = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        _blas_seen[0], _blas_seen[1] = found, len(sys.modules)
    return _blas_seen[0]


def owned_cpu_threads(method):
    """Decorator for model methods that run many kernels (fit/evaluate/predict)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with training_threads(self._compute_backend().device):
            return method(self, *args, **kwargs)

    return wrapper
