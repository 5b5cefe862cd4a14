"""The ``cupy_standin`` fixture: the NumPy-backed CuPy 14 stand-in imported as ``cupy`` (and
``cupyx``) for one test, gradflow's CuPy backend and CUDA runtime made afresh on it, the CUDA
kernels chosen without timing (autotune off: the ``cuda`` kernels, run on the CPU emulator), and
everything put back afterwards so later tests see the machine as it is."""
import sys
from pathlib import Path

import pytest

from gradflow import backend as gf_backend
from gradflow import config, dispatch
from gradflow.kernels.cuda import _module

STANDIN = str(Path(__file__).resolve().parent)


def _cupy_modules() -> dict:
    return {k: v for k, v in sys.modules.items() if k in ("cupy", "cupyx") or k.startswith(("cupy.", "cupyx."))}


def _fresh_backend() -> None:
    gf_backend._instances.pop("cupy", None)
    _module._default = None
    dispatch.reset()


@pytest.fixture
def cupy_standin(monkeypatch):
    # resolve the global backend first, without the stand-in ("auto" would otherwise pick it and
    # keep it after the test); the test reaches the stand-in through use_backend("cupy")
    monkeypatch.setattr(gf_backend, "_current", gf_backend.get_backend())
    saved = _cupy_modules()
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, STANDIN)
    monkeypatch.setattr(config, "autotune", False)
    _fresh_backend()
    try:
        import cupy

        assert hasattr(cupy, "_standin"), "a real CuPy was imported instead of the stand-in"
        cupy._standin.reset()
        yield cupy
    finally:
        sys.path.remove(STANDIN)
        for name in _cupy_modules():
            del sys.modules[name]
        sys.modules.update(saved)
        _fresh_backend()
