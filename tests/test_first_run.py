"""A new user's first run: which Numba kernels compile, where their machine code goes, and that the
second process compiles nothing. No timings: compiles are counted with Numba's event API."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from _first_run import ROOT, gradflow_compiles, run_fresh

pytest.importorskip("numba")

from gradflow.kernels.cpu import _jit  # noqa: E402
from gradflow.kernels.cpu import conv2d as nb_conv2d  # noqa: E402

#: a tiny fit through the numba kernels of one op family (max pooling), reporting every compile
SCRIPT = """
    import numpy as np
    import gradflow
    from gradflow import layers, models
    from gradflow.kernels.cpu import _jit

    gradflow.config.deterministic = True
    # pooling large enough for Numba; a Dense small enough that its matmul runs NumPy (dispatch.SMALL_WORK)
    x = np.random.default_rng(0).random((8, 64, 64, 4), dtype=np.float32)
    y = np.zeros((8, 32, 32, 2), np.float32)
    model = models.Sequential([layers.Input((64, 64, 4)), layers.MaxPooling2D(2), layers.Dense(2, use_bias=False)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    json.dump({"compiled": compiled, "cache_dir": _jit.kernel_cache_dir(),
               "cached": sorted(d.py_func.__qualname__ for d in _jit.cached_kernels() if d.signatures)},
              sys.stdout)
"""


def _run(env_extra: dict, tmp_path: Path) -> dict:
    run = run_fresh(SCRIPT, tmp_path, timeout=600, **env_extra)
    run["compiled"] = gradflow_compiles(run)  # not Numba's own helpers compiled on the way
    return run


@pytest.mark.slow
def test_first_run_compiles_only_what_runs_and_second_run_nothing(tmp_path):
    xdg = tmp_path / "xdg"
    first = _run({"XDG_CACHE_HOME": str(xdg)}, tmp_path)
    assert first["cache_dir"].startswith(str(xdg / "gradflow" / "numba")), first["cache_dir"]
    names = {(mod, name) for mod, name, _ in first["compiled"]}
    assert names, "the numba pooling kernels should have compiled"
    # only the kernels of the op that ran on Numba (pooling) and the thread setup: nothing compiled
    # ahead, nothing for the op that ran on NumPy (Dense's small matmul)
    allowed = ("gradflow.kernels.cpu.pooling", "gradflow.kernels.cpu._fpenv")
    assert all(mod.startswith(allowed) for mod, _ in names), sorted(names)
    # one float32 specialization: nothing compiled for float64 (or any dtype the run never used)
    assert not [c for c in first["compiled"] if "float64" in c[2] or "int32" in c[2]], first["compiled"]
    # every signature compiled once (no signature compiled twice, e.g. for a second tuning candidate)
    sigs = [tuple(c) for c in first["compiled"]]
    assert len(sigs) == len(set(sigs))
    files = list(Path(first["cache_dir"]).glob("*/*.nbi"))  # <env>/<module>-<hash>/
    assert files, "the machine code should be in the user cache dir"

    second = _run({"XDG_CACHE_HOME": str(xdg)}, tmp_path)
    assert second["compiled"] == [], second["compiled"]  # everything comes from the disk cache
    # the entry kernels were loaded (callees inlined into them need not even be loaded)
    assert second["cached"] and set(second["cached"]) <= set(first["cached"])


def test_cache_dir_follows_gradflow_and_numba_settings(monkeypatch, tmp_path):
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path / "gf"))
    root = _jit.kernel_cache_dir()
    assert root is not None and root.startswith(str(tmp_path / "gf" / "numba"))
    assert numba.__version__ in os.path.basename(root)
    monkeypatch.delenv("GRADFLOW_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert _jit.kernel_cache_dir().startswith(str(tmp_path / "xdg" / "gradflow" / "numba"))
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", "off")
    assert _jit.kernel_cache_dir() is None  # Numba's own default
    monkeypatch.delenv("GRADFLOW_CACHE_DIR")
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path / "nb"))
    assert _jit.kernel_cache_dir() is None  # a user-set NUMBA_CACHE_DIR wins


def test_closure_kernels_have_a_cache_key_that_survives_the_process():
    """conv2d's SIMD forward calls the closure conv_row: its key must not depend on the dispatcher's
    per-process identity (two fresh closures with the same constants share one key), or it recompiles
    in every run."""
    if _jit._BASES is None:
        pytest.skip("this Numba's cache internals differ: the kernels use Numba's own cache")
    from numba.core.registry import cpu_target

    codegen = cpu_target.target_context.codegen()
    a, b, other = nb_conv2d._simd_kernels(16), nb_conv2d._simd_kernels(16), nb_conv2d._simd_kernels(32)
    sig = ("float32",)
    key = a.forward.parallel._cache._index_key(sig, codegen)
    assert isinstance(a.forward.parallel._cache, _jit._KernelCache)
    assert key == b.forward.parallel._cache._index_key(sig, codegen)
    assert key != other.forward.parallel._cache._index_key(sig, codegen)


def test_every_kernel_file_uses_the_shared_njit():
    """A kernel decorated with numba.njit directly would cache beside the sources again."""
    for path in sorted((ROOT / "kernels" / "cpu").glob("*.py")):
        text = path.read_text()
        assert "from numba import njit" not in text and "numba.njit(" not in text.replace(
            "disp = numba.njit(", ""), path.name


def test_small_calls_run_numpy_under_deterministic_auto(monkeypatch):
    """Deterministic auto sends calls below dispatch.SMALL_WORK's limit to NumPy (no Numba compile
    for a tiny Dense layer), decided by shapes alone; an explicit choice or autotuning is untouched."""
    import numpy as np

    from gradflow import config, dispatch
    from gradflow.kernels import cpu, vectorized

    monkeypatch.setattr(config, "kernels", "auto")
    monkeypatch.setattr(config, "op_kernels", {})
    monkeypatch.setattr(config, "deterministic", True)
    dispatch.reset()
    fn = dispatch.get("matmul", "cpu", "numpy")
    assert isinstance(fn, dispatch._BySize) and fn.small_fn is vectorized.matmul and fn.fn is cpu.matmul
    a = np.ones((4, 3), np.float32)
    np.testing.assert_array_equal(fn(a, a.T), np.full((4, 4), 3, np.float32))
    assert "numpy" in dispatch.explain(print_fn=None).split("matmul", 1)[1].splitlines()[0]
    work, limit = dispatch.SMALL_WORK["matmul"]
    assert work(np.empty((256, 256)), np.empty((256, 10))) == 256 * 256 * 10 < limit
    assert work(np.empty((2, 64, 128)), np.empty((128, 256))) == 2 * 64 * 128 * 256 >= limit
    monkeypatch.setattr(config, "op_kernels", {"matmul": "numba"})
    assert dispatch.get("matmul", "cpu", "numpy") is cpu.matmul
    monkeypatch.setattr(config, "op_kernels", {})
    monkeypatch.setattr(config, "deterministic", False)
    assert not isinstance(dispatch.get("matmul", "cpu", "numpy"), dispatch._BySize)
    dispatch.reset()
