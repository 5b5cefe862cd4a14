"""Write cupy_api.json: the public names of the real CuPy wheel, for the NumPy-backed stand-in.

Run it with the real CuPy importable; it needs no GPU (nothing here touches a device):

    python3 -m venv /tmp/cupy-venv
    pip download --no-deps "cupy-cuda13x==14.*" -d /tmp/wheels
    /tmp/cupy-venv/bin/pip install /tmp/wheels/cupy_cuda13x-*.whl
    /tmp/cupy-venv/bin/python tests/cupy_standin/make_api.py

For each module or class below it records the public attribute names, and for the methods of
``cupy.random.Generator`` (Cython, no inspect signature) the signature line of their docstrings.
"""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

MODULES = ("cupy", "cupy.random", "cupy.linalg", "cupy.fft", "cupy.cuda", "cupy.cuda.runtime", "cupy.cuda.memory",
           "cupy.cuda.nccl", "cupyx", "cupyx.scipy.special", "cupyx.cudnn")
CLASSES = ("cupy.ndarray", "cupy.random.Generator", "cupy.random.RandomState", "cupy.cuda.Device",
           "cupy.cuda.Stream", "cupy.cuda.Event", "cupy.RawModule", "cupy.RawKernel", "cupy.cuda.MemoryPointer",
           "cupy.cuda.MemoryPool", "cupy.cuda.PinnedMemoryPool")


def _public(obj) -> list[str]:
    return sorted(n for n in dir(obj) if not n.startswith("_") or n in ("__version__", "__cuda_array_interface__"))


def _resolve(dotted: str):
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for p in parts[i:]:
            obj = getattr(obj, p)
        return obj
    raise ImportError(dotted)


def main() -> None:
    here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if str(Path(p or ".").resolve()) != here]  # the real CuPy, not ours
    import cupy

    if hasattr(cupy, "_standin"):
        raise SystemExit("this imported the stand-in; run it with the real CuPy wheel installed")

    api: dict = {"version": cupy.__version__, "modules": {}, "classes": {}, "signatures": {}}
    # classes first: cupy.random.Generator is a lazy module attribute, listed once touched
    for name in CLASSES:
        try:
            api["classes"][name] = _public(_resolve(name))
        except Exception as exc:  # noqa: BLE001
            api["classes"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    for name in MODULES:
        try:
            api["modules"][name] = _public(_resolve(name))
        except Exception as exc:  # noqa: BLE001 - e.g. nccl without its library
            api["modules"][name] = {"error": f"{type(exc).__name__}: {exc}"}
    gen = cupy.random.Generator
    for meth in api["classes"]["cupy.random.Generator"]:
        doc = (getattr(gen, meth).__doc__ or "").strip().splitlines()
        if doc:
            api["signatures"][f"cupy.random.Generator.{meth}"] = doc[0]
    out = Path(__file__).with_name("cupy_api.json")
    out.write_text(json.dumps(api, indent=0, sort_keys=True) + "\n")
    print(f"wrote {out} for CuPy {cupy.__version__}", file=sys.stderr)


if __name__ == "__main__":
    main()
