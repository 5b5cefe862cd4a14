"""The runtime the CUDA launchers run on: CuPy, imported on first use, with the ``.cu`` sources
compiled lazily through ``cupy.RawModule`` and cached per (file, defines, device).

Nothing compiles or touches CUDA at import (fork-safe); the first call of an op compiles its
file (CuPy also keeps the binary in its on-disk kernel cache). Tests swap in a CPU emulator
through ``using_runtime`` so the launch logic and the kernels can be checked without a GPU.
"""
from __future__ import annotations

import contextlib
import os
import threading
import warnings
from functools import cache
from pathlib import Path

__all__ = ["SOURCE_DIR", "COMPILE_OPTIONS", "source", "runtime", "using_runtime", "CupyRuntime"]

SOURCE_DIR = Path(__file__).resolve().parent
COMPILE_OPTIONS = ("-std=c++17",)

_FIX = 'install CuPy for your CUDA version (pip install "gradflow-keras[cuda12]" or "gradflow-keras[cuda13]")'


@cache
def source(filename: str) -> str:
    """The text of ``kernels/cuda/<filename>``."""
    return (SOURCE_DIR / filename).read_text()


def _cuda_include_dirs(cp) -> list[str]:
    """Directories holding CUDA's <mma.h>, for the TF32 module (NVRTC has no default search path)."""
    roots = []
    try:
        roots.append(cp.cuda.get_cuda_path())
    except Exception:  # noqa: BLE001 - absent in some CuPy builds
        pass
    roots += [os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"]
    return [str(Path(r) / "include") for r in roots if r and (Path(r) / "include" / "mma.h").is_file()]


class CupyRuntime:
    """Compiles and launches the kernels with CuPy on the current device."""

    name = "cupy"

    def __init__(self, op: str) -> None:
        try:
            import cupy  # noqa: PLC0415 - lazily, never at import
        except Exception as exc:  # ImportError or a broken install
            raise RuntimeError(f"{op}: the cuda kernels need CuPy, which is not importable "
                               f"({type(exc).__name__}); {_FIX}, or use the numpy kernels") from None
        self.cp = cupy
        self.xp = cupy
        self._lock = threading.Lock()
        self._modules: dict[tuple, object] = {}
        self._kernels: dict[tuple, object] = {}  # (file, defines, device, name) -> RawKernel
        self._failed: dict[tuple, str] = {}
        self._props: dict[int, tuple[int, int]] = {}

    # arrays -------------------------------------------------------------------------------
    def is_device_array(self, arr) -> bool:
        return isinstance(arr, self.cp.ndarray)

    def pointer(self, arr) -> int:
        return int(arr.data.ptr)

    # device -------------------------------------------------------------------------------
    def _device_props(self) -> tuple[int, int]:
        dev = self.cp.cuda.Device()
        if dev.id not in self._props:
            sms = int(dev.attributes["MultiProcessorCount"])
            cc = int(dev.compute_capability)
            self._props[dev.id] = (sms, cc)
        return self._props[dev.id]

    def sm_count(self) -> int:
        return self._device_props()[0]

    def compute_capability(self) -> int:
        """e.g. 90 for an H100."""
        return self._device_props()[1]

    # kernels ------------------------------------------------------------------------------
    def kernel(self, ref):
        """The ``cupy.RawKernel`` for ``ref`` (a launch.KernelRef), compiling its file on first use.
        Cached: ``RawModule.get_function`` builds a new RawKernel object each call (10-20 us)."""
        device = self.cp.cuda.Device().id
        kern = self._kernels.get((ref.file, ref.defines, device, ref.name))
        if kern is not None:
            return kern
        key = (ref.file, ref.defines, device)
        with self._lock:
            if key in self._failed:
                raise RuntimeError(self._failed[key])
            mod = self._modules.get(key)
            if mod is None:
                options = COMPILE_OPTIONS + tuple(f"-D{d}" for d in ref.defines)
                if "GRADFLOW_WMMA" in ref.defines:
                    options += tuple(f"-I{d}" for d in _cuda_include_dirs(self.cp))
                try:
                    mod = self.cp.RawModule(code=source(ref.file), options=options)
                    mod.get_function(ref.name)  # compiles the module: errors surface here, with the file name
                except Exception as exc:  # CompileException, missing headers
                    self._failed[key] = f"compiling {ref.file} {list(options)} failed: {exc}"
                    raise RuntimeError(self._failed[key]) from exc
                self._modules[key] = mod
            kern = self._kernels[key + (ref.name,)] = mod.get_function(ref.name)
        return kern

    def has_tf32(self) -> bool:
        """Whether the TF32 WMMA module compiles here (it needs CUDA's mma.h); warns once if not."""
        from . import launch  # noqa: PLC0415

        ref = launch.kernel_ref("matmul_tf32", "f32")
        try:
            self.kernel(ref)
            return True
        except RuntimeError as exc:
            if not getattr(self, "_tf32_warned", False):
                self._tf32_warned = True
                warnings.warn(f"gradflow: the TF32 matmul kernel is unavailable ({exc}); using the float32 "
                              f"kernel. Set CUDA_PATH to a CUDA toolkit with include/mma.h to enable it.",
                              RuntimeWarning, stacklevel=3)
            return False


_lock = threading.Lock()
_default: CupyRuntime | None = None
_override = None


def runtime(op: str):
    """The runtime launchers use: a test's override if set, else the (cached) CuPy runtime.
    Raises RuntimeError naming ``op`` when CuPy is missing."""
    global _default
    if _override is not None:
        return _override
    with _lock:
        if _default is None:
            _default = CupyRuntime(op)
        return _default


@contextlib.contextmanager
def using_runtime(rt):
    """Run launchers on ``rt`` (same interface as CupyRuntime); tests use a CPU emulator."""
    global _override
    previous, _override = _override, rt
    try:
        yield rt
    finally:
        _override = previous
