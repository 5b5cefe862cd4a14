"""Run the real kernels/cuda/*.cu sources on the CPU, for tests on machines without a GPU.

``EmuRuntime`` has the interface of ``gradflow.kernels.cuda._module.CupyRuntime``; under
``_module.using_runtime(EmuRuntime())`` the public cuda launchers take NumPy arrays and launch
the kernels compiled with g++ against ``_cuda_emu.h`` (fibers for threads, real barriers and
warp shuffles). Each kernel is called through a function pointer of the exact C type that
``launch.SIGNATURES`` promises, so a Python/CUDA signature mismatch fails to compile. Arrays
from ``xp.empty`` (outputs, workspaces) and ``device()`` copies carry guard bytes on both sides
(checked after every launch; they read as huge values) and start as NaN, so out-of-bounds
writes, out-of-bounds reads that reach a result, and unwritten outputs all fail a test.

Every typed access is checked for alignment (-fsanitize=alignment, reported by the header's
handlers): a 16-byte vector load from an address a GPU would fault on fails the launch. By
default the runtime reports 132 SMs (an H100 SXM), so launch plans are the device's.

The TF32 kernel runs on a functional WMMA model (whole tiles per lane, TF32 rounding as
cvt.rna), which checks its tiling and epilogue but not the hardware fragment layout. Timing and
anything about real GPU memory (coalescing, bank conflicts) wait for a GPU.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from gradflow.kernels.cuda import _module, launch

__all__ = ["EmuRuntime", "compiler", "build"]

HEADER = Path(__file__).with_name("_cuda_emu.h")
GUARD = 256          # guard bytes on each side of an emulated device array (keeps 16-byte alignment)
GUARD_BYTE = 0x7F    # guards read as huge finite floats (~1e38 / 1e306) or a huge int64 index
POISON = 0xFF        # array contents start as NaN (float32/float64) or -1 (int64)
CXXFLAGS = ("-std=c++17", "-O1", "-shared", "-fPIC", "-w")
# alignment checks on every typed access (the 16-byte vector loads among them), reported through the
# header's handlers: compiled in, with UBSan's runtime library left out of the link
SANITIZE = ("-fsanitize=alignment",)
SMS = 132  # an H100 SXM's streaming multiprocessors: launch plans as on the device

_CTYPE = {"i32": "int", "i64": "long long", "ci64*": "const long long*", "i64*": "long long*"}


def compiler() -> str | None:
    return shutil.which(os.environ.get("CXX", "g++"))


def _ctype(kind: str, suffix: str) -> str:
    t = "float" if suffix == "f32" else "double"
    return {"cT*": f"const {t}*", "T*": f"{t}*", "T": t}.get(kind) or _CTYPE[kind]


def _arg(kind: str, suffix: str, i: int) -> str:
    c = _ctype(kind, suffix)
    if kind.endswith("*"):
        return f"({c})(uintptr_t)a[{i}]"
    if kind == "i32":
        return f"(int)(int64_t)a[{i}]"
    if kind == "i64":
        return f"(long long)a[{i}]"
    return f"emu_bits<{c}>(a[{i}])"


def _wrappers(refs) -> str:
    out = ["template <typename T> static T emu_bits(uint64_t b) { T v; std::memcpy(&v, &b, sizeof(T)); return v; }",
           'extern "C" const char* emu_error() { return emu::g_error; }']
    for ref in refs:
        kinds = launch.SIGNATURES[ref.family]
        types = ", ".join(_ctype(k, ref.suffix) for k in kinds)
        args = ", ".join(_arg(k, ref.suffix, i) for i, k in enumerate(kinds))
        out.append(
            f'extern "C" int emu_launch_{ref.name}(const unsigned* g, const unsigned* b, const uint64_t* a) {{\n'
            f"    void (*fp)({types}) = &{ref.name};\n"
            f"    std::function<void()> body = [=]() {{ fp({args}); }};\n"
            f"    return emu::launch(g, b, body);\n}}")
    return "\n".join(out) + "\n"


def build(filename: str, defines: tuple[str, ...] = (), cache_dir: str | os.PathLike | None = None) -> ctypes.CDLL:
    """Compile kernels/cuda/<filename> (with ``defines``) for the emulator, cached by content hash.
    A GRADFLOW_WMMA build also defines __CUDA_ARCH__=800 and uses the header's WMMA model."""
    cxx = compiler()
    if cxx is None:
        raise RuntimeError("the CUDA emulator needs a C++17 compiler (g++)")
    refs = [r for r in launch.all_kernels() if r.file == filename and set(r.defines) <= set(defines)]
    src = _module.source(filename)
    macros = "".join(f"#define {d} 1\n" for d in defines)
    if "GRADFLOW_WMMA" in defines:
        macros += "#define __CUDA_ARCH__ 800\n"
    code = (f'{macros}#include "{HEADER}"\n#line 1 "{filename}"\n{src}\n#line 1 "emu_wrappers"\n{_wrappers(refs)}')
    key = hashlib.sha256("\0".join([code, HEADER.read_text(), cxx, *CXXFLAGS, *SANITIZE]).encode()).hexdigest()[:20]
    cache = Path(cache_dir or Path(tempfile.gettempdir()) / "gradflow-cuda-emu")
    cache.mkdir(parents=True, exist_ok=True)
    lib = cache / f"{Path(filename).stem}{''.join('-' + d for d in defines)}-{key}.so"
    if not lib.exists():
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cpp = Path(tmp) / "emu.cpp"
            cpp.write_text(code)
            (Path(tmp) / "mma.h").write_text("// emulated: see _cuda_emu.h\n")
            obj = Path(tmp) / "k.o"
            r = subprocess.run([cxx, *CXXFLAGS, *SANITIZE, "-c", f"-I{tmp}", "-o", str(obj), str(cpp)],
                               capture_output=True, text=True)
            if r.returncode == 0:  # linked without -fsanitize: the handlers are the header's
                r = subprocess.run([cxx, *CXXFLAGS, "-o", str(Path(tmp) / "k.so"), str(obj)],
                                   capture_output=True, text=True)
            if r.returncode != 0:
                raise RuntimeError(f"emulator build of {filename} failed:\n{r.stderr[-4000:]}")
            os.replace(Path(tmp) / "k.so", lib)
    return ctypes.CDLL(str(lib))


class _GuardedArrays:
    """numpy, except that ``empty`` returns NaN-filled arrays with guard bytes around them."""

    def __init__(self) -> None:
        self.buffers: list[tuple[np.ndarray, int]] = []

    def __getattr__(self, name):
        return getattr(np, name)

    def empty(self, shape, dtype=float, order="C"):
        shape = (shape,) if np.isscalar(shape) else tuple(shape)
        dt = np.dtype(dtype)
        nbytes = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
        buf = np.full(nbytes + 2 * GUARD, GUARD_BYTE, dtype=np.uint8)
        buf[GUARD:GUARD + nbytes] = POISON
        self.buffers.append((buf, nbytes))
        return buf[GUARD:GUARD + nbytes].view(dt).reshape(shape)

    def check_guards(self, what: str) -> None:
        for buf, nbytes in self.buffers:
            if (buf[:GUARD] != GUARD_BYTE).any() or (buf[GUARD + nbytes:] != GUARD_BYTE).any():
                raise AssertionError(f"{what} wrote outside an array of {nbytes} bytes")


class EmuRuntime:
    """Launch the .cu kernels on the CPU (see module docstring). ``launches`` records
    ``(kernel name, grid, block)`` of every launch."""

    name = "emulator"

    def __init__(self, sm_count: int = SMS, tf32: bool = False) -> None:
        self.xp = _GuardedArrays()
        self._sms = sm_count
        self._tf32 = tf32  # offer the TF32 WMMA kernel (on the header's functional WMMA model)
        self._libs: dict[tuple, ctypes.CDLL] = {}
        self.launches: list[tuple[str, tuple, tuple]] = []

    def is_device_array(self, arr) -> bool:
        return isinstance(arr, np.ndarray)

    def pointer(self, arr) -> int:
        return arr.ctypes.data

    def sm_count(self) -> int:
        return self._sms

    def compute_capability(self) -> int:
        return 80 if self._tf32 else 0  # without tf32=True the TF32 kernel is never chosen

    def has_tf32(self) -> bool:
        return self._tf32

    def device(self, host: np.ndarray) -> np.ndarray:
        """A guarded copy of ``host`` (as an input would sit in GPU memory)."""
        host = np.asarray(host)
        out = self.xp.empty(host.shape, host.dtype)
        out[...] = host
        return out

    def kernel(self, ref):
        key = (ref.file, ref.defines)
        if key not in self._libs:
            self._libs[key] = build(ref.file, ref.defines)
        return _EmuKernel(self, self._libs[key], ref)


_SLOT_OF = {
    np.dtype(np.int32): lambda v: int(v) & 0xFFFFFFFFFFFFFFFF,
    np.dtype(np.int64): lambda v: int(v) & 0xFFFFFFFFFFFFFFFF,
    np.dtype(np.float32): lambda v: int(np.array(v, np.float32).view(np.uint32)),
    np.dtype(np.float64): lambda v: int(np.array(v, np.float64).view(np.uint64)),
}


class _EmuKernel:
    def __init__(self, rt: EmuRuntime, lib: ctypes.CDLL, ref) -> None:
        self.rt, self.ref = rt, ref
        self.fn = getattr(lib, f"emu_launch_{ref.name}")
        self.fn.restype = ctypes.c_int
        self.error = lib.emu_error
        self.error.restype = ctypes.c_char_p

    def __call__(self, grid, block, args, shared_mem=0):
        grid = tuple(int(g) for g in grid) + (1,) * (3 - len(grid))
        block = tuple(int(b) for b in block) + (1,) * (3 - len(block))
        if shared_mem:
            raise AssertionError(f"{self.ref.name}: the kernels use static shared memory only")
        slots = []
        for v in args:
            if isinstance(v, np.ndarray):
                slots.append(v.ctypes.data)
            else:  # pack_args made every scalar an exact numpy type
                slots.append(_SLOT_OF[np.dtype(type(v))](v))
        self.rt.launches.append((self.ref.name, grid, block))
        rc = self.fn((ctypes.c_uint * 3)(*grid), (ctypes.c_uint * 3)(*block),
                     (ctypes.c_uint64 * max(1, len(slots)))(*slots))
        if rc != 0:
            raise RuntimeError(f"{self.ref.name}: {self.error().decode()}")
        self.rt.xp.check_guards(f"{self.ref.name} grid {grid}")

