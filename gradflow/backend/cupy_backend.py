"""The CUDA backend on CuPy, imported and initialised lazily (fork-safe ``import gradflow``)."""
from __future__ import annotations

import numpy as np

from .base import Backend, BackendUnavailableError

__all__ = ["CupyBackend", "cupy_status", "import_cupy"]

_FIX = 'install CuPy for your CUDA version with pip install "gradflow-keras[cuda12]" or "gradflow-keras[cuda13]"'


def import_cupy():
    """Import CuPy or raise BackendUnavailableError naming the fix."""
    try:
        import cupy  # noqa: PLC0415
    except Exception as exc:  # ImportError, or a broken install raising anything
        raise BackendUnavailableError(
            f"GRADFLOW_BACKEND=cupy needs CuPy, which is not importable ({type(exc).__name__}); "
            f"{_FIX}, or use GRADFLOW_BACKEND=numpy"
        ) from None
    return cupy


def cupy_status() -> tuple[bool, str]:
    """(usable, reason): whether CuPy imports and sees a working CUDA device."""
    try:
        cupy = import_cupy()
    except BackendUnavailableError as exc:
        return False, str(exc)
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as exc:  # cudaErrorInsufficientDriver, cudaErrorNoDevice, missing libcuda...
        text = str(exc)
        if "Driver" in text or "driver" in text or "libcuda" in text:
            cause = "no usable NVIDIA driver was found (or it is older than this CuPy build needs)"
            fix = "install or update the NVIDIA driver, or install the CuPy wheel matching your driver's CUDA version"
        else:
            cause = "CUDA reports no usable GPU"
            fix = "check nvidia-smi and CUDA_VISIBLE_DEVICES"
        return False, f"GRADFLOW_BACKEND=cupy: CuPy is installed but {cause}; {fix}, or use GRADFLOW_BACKEND=numpy"
    if count < 1:
        return False, ("GRADFLOW_BACKEND=cupy: CuPy is installed but no CUDA device is visible; "
                       "check nvidia-smi and CUDA_VISIBLE_DEVICES, or use GRADFLOW_BACKEND=numpy")
    return True, f"CuPy {cupy.__version__} with {count} CUDA device(s)"


class CupyBackend(Backend):
    name = "cupy"
    device = "cuda"
    default_dtype = np.float32

    def __init__(self, check: bool = True) -> None:
        super().__init__()
        if check:
            ok, why = cupy_status()
            if not ok:
                raise BackendUnavailableError(why)
        self._cp = import_cupy()

    @property
    def xp(self):
        return self._cp

    def asarray(self, data, dtype=None):
        return self._cp.asarray(data, dtype=dtype)

    def to_numpy(self, arr) -> np.ndarray:
        if isinstance(arr, self._cp.ndarray):
            return self._cp.asnumpy(arr)
        return np.asarray(arr)

    def synchronize(self) -> None:
        self._cp.cuda.Stream.null.synchronize()
        self._cp.cuda.get_current_stream().synchronize()

    def memory_stats(self) -> dict:
        pool = self._cp.get_default_memory_pool()
        pinned = self._cp.get_default_pinned_memory_pool()
        free, total = self._cp.cuda.runtime.memGetInfo()
        return {
            "pool_used_bytes": int(pool.used_bytes()),
            "pool_total_bytes": int(pool.total_bytes()),
            "pinned_free_blocks": int(pinned.n_free_blocks()),
            "device_free_bytes": int(free),
            "device_total_bytes": int(total),
        }

    def free_memory(self) -> None:
        self._cp.get_default_memory_pool().free_all_blocks()
        self._cp.get_default_pinned_memory_pool().free_all_blocks()
