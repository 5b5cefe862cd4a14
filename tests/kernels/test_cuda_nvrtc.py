"""Every kernels/cuda/*.cu build compiles through NVRTC, the compiler CuPy's RawModule uses, with
the options CuPy 14 adds to ours, and defines every kernel the launchers ask for. Needs libnvrtc
only (no GPU): from $GRADFLOW_NVRTC_LIB, the ``nvidia-cuda-nvrtc`` wheel (pip install
nvidia-cuda-nvrtc), or a CUDA toolkit; skips with the reason otherwise."""
from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
from pathlib import Path

import pytest

from gradflow.kernels.cuda import _module, launch

# what cupy/cuda/compiler.py (14.2) appends to a RawModule's options for NVRTC on an H100:
# _compile_with_cache_cuda adds -ftz=true, _get_arch_for_options_for_nvrtc -arch=sm_90 (a cubin),
# and _compile_using_nvrtc --device-as-default-execution-space
CUPY_OPTIONS = ("-ftz=true", "-arch=sm_90", "--device-as-default-execution-space")


def _candidates():
    if os.environ.get("GRADFLOW_NVRTC_LIB"):
        yield Path(os.environ["GRADFLOW_NVRTC_LIB"])
    spec = importlib.util.find_spec("nvidia")
    for root in (spec.submodule_search_locations or []) if spec else []:
        for sub in ("cu13/lib", "cuda_nvrtc/lib"):
            yield from sorted(Path(root, sub).glob("libnvrtc.so*"))
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda"):
        if root:
            yield from sorted(Path(root, "lib64").glob("libnvrtc.so*"))
    found = ctypes.util.find_library("nvrtc")
    if found:
        yield Path(found)


def _load():
    tried = []
    for path in _candidates():
        if "builtins" in path.name:
            continue
        try:
            return ctypes.CDLL(str(path)), ""
        except OSError as exc:
            tried.append(f"{path}: {exc}")
    return None, ("libnvrtc not found: pip install nvidia-cuda-nvrtc (or set GRADFLOW_NVRTC_LIB); "
                  + ("; ".join(tried) if tried else "no candidate on this machine"))


NVRTC, WHY = _load()
pytestmark = pytest.mark.skipif(NVRTC is None, reason=WHY)


def _cuda_include() -> str | None:
    for root in (os.environ.get("CUDA_PATH"), os.environ.get("CUDA_HOME"), "/usr/local/cuda", "/usr/local/cuda-13.0"):
        if root and Path(root, "include", "mma.h").is_file():
            return str(Path(root, "include"))
    return None


def _variants():
    out = {(r.file, r.defines) for r in launch.all_kernels()}
    return sorted(out)


def _compile(source: str, name: str, options: tuple[str, ...]) -> tuple[int, str, bytes]:
    """(NVRTC result code, log, the cubin: b"" when none came out)."""
    lib = NVRTC
    prog = ctypes.c_void_p()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), source.encode(), name.encode(), 0, None, None)
    assert rc == 0, f"nvrtcCreateProgram: {rc}"
    try:
        opts = (ctypes.c_char_p * len(options))(*[o.encode() for o in options])
        rc = lib.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        cubin = b""
        if rc == 0 and lib.nvrtcGetCUBINSize(prog, ctypes.byref(size)) == 0 and size.value:
            buf = ctypes.create_string_buffer(size.value)
            if lib.nvrtcGetCUBIN(prog, buf) == 0:
                cubin = buf.raw
        return rc, log.value.decode(errors="replace"), cubin
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


@pytest.mark.parametrize("filename,defines", _variants(), ids=lambda v: "-".join(v) if isinstance(v, tuple) else v)
def test_every_build_compiles_through_nvrtc_with_cupys_options(filename, defines):
    options = _module.COMPILE_OPTIONS + tuple(f"-D{d}" for d in defines)
    if "GRADFLOW_WMMA" in defines:
        include = _cuda_include()
        if include is None:
            pytest.skip("the TF32 build needs CUDA's mma.h (set CUDA_PATH)")
        options += (f"-I{include}",)
    rc, log, cubin = _compile(_module.source(filename), filename, options + CUPY_OPTIONS)
    assert rc == 0 and cubin, f"{filename} {list(options)}: NVRTC error {rc}\n{log[-4000:]}"
    names = {r.name for r in launch.all_kernels() if r.file == filename and r.defines == defines}
    missing = sorted(n for n in names if n.encode() + b"\0" not in cubin)  # extern "C": the plain name
    assert not missing, f"{filename}: kernels the launchers ask for are not in the cubin: {missing}"
