"""The kernels' disk cache is keyed per source file: a module's own source and every source of the
package it imports from (derived from its imports), so an edit recompiles only the kernels that can
see it, and a reinstall of the same sources (new paths, new timestamps) recompiles nothing."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("numba")

from gradflow.kernels.cpu import _jit  # noqa: E402

KERNELS = Path(_jit.__file__).resolve().parents[1]


@pytest.fixture
def fresh_keys():
    """source_key and the import scan are cached per path: forget them before and after a test."""
    _jit.source_key.cache_clear()
    _jit._imported_files.cache_clear()
    yield
    _jit.source_key.cache_clear()
    _jit._imported_files.cache_clear()


def _copy(dest: Path) -> Path:
    shutil.copytree(KERNELS, dest, ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.ptx"))
    return dest


def _keys(root: Path) -> dict[str, str]:
    _jit.source_key.cache_clear()
    _jit._imported_files.cache_clear()
    return {p.name: _jit.source_key(str(p)) for p in sorted((root / "cpu").glob("*.py"))}


def _edit(path: Path) -> None:
    path.write_text(path.read_text() + "\n# edited\n")


def test_dependencies_come_from_the_imports(fresh_keys):
    cpu = KERNELS / "cpu"
    names = {os.path.relpath(p, KERNELS) for p in _jit.source_files(str(cpu / "conv2d.py"))}
    # its own file, what it imports (relative, at either level) and what those import in turn
    assert {"cpu/conv2d.py", "cpu/_simd.py", "cpu/_gemm.py", "cpu/_jit.py", "_geometry.py"} <= names
    assert "cpu/recurrent.py" not in names and "cpu/attention.py" not in names
    rec = {os.path.relpath(p, KERNELS) for p in _jit.source_files(str(cpu / "recurrent.py"))}
    assert "cpu/_fpenv.py" in rec and "cpu/_simd.py" in rec and "cpu/conv2d.py" not in rec


def test_an_edit_changes_the_keys_of_that_module_and_its_importers_only(tmp_path, fresh_keys):
    root = _copy(tmp_path / "kernels")
    before = _keys(root)
    _edit(root / "cpu" / "attention.py")
    after = _keys(root)
    changed = {name for name in before if before[name] != after[name]}
    importers = {name for name in before
                 if str((root / "cpu" / "attention.py").resolve()) in _jit.source_files(str(root / "cpu" / name))}
    assert changed == importers and "attention.py" in changed
    assert after["conv2d.py"] == before["conv2d.py"] and after["recurrent.py"] == before["recurrent.py"]

    # a shared helper: every module that imports it (directly or through another) gets a new key
    _edit(root / "cpu" / "_simd.py")
    simd = _keys(root)
    users = {name for name in after
             if str((root / "cpu" / "_simd.py").resolve()) in _jit.source_files(str(root / "cpu" / name))}
    assert {"conv2d.py", "matmul.py", "recurrent.py", "attention.py"} <= users
    assert {name for name in after if after[name] != simd[name]} == users
    assert simd["dropout.py"] == after["dropout.py"]  # it imports nothing of _simd's


def test_the_same_sources_elsewhere_give_the_same_keys(tmp_path, fresh_keys):
    """A reinstall or a new virtualenv: other paths, other timestamps, the same key."""
    a, b = _copy(tmp_path / "a" / "kernels"), _copy(tmp_path / "b" / "kernels")
    later = time.time() + 100
    for p in (b / "cpu").glob("*.py"):
        os.utime(p, (later, later))
    assert _keys(a) == _keys(b)


def test_module_folders_and_pruning(tmp_path, monkeypatch, fresh_keys):
    import numba

    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path / "gf"))
    conv = str(KERNELS / "cpu" / "conv2d.py")
    folder = Path(_jit.module_cache_dir(conv))
    assert folder.parent == Path(_jit.kernel_cache_dir())
    assert folder.name == f"conv2d-{_jit.source_key(conv)}"
    assert _jit.module_cache_dir(conv, "gradflow.kernels.cpu.conv2d") == str(folder)
    # imported from a checkout's root as kernels.cpu.conv2d: its machine code names that module, so
    # it must not land where gradflow.kernels.cpu.conv2d looks (loading it there fails to import)
    other = Path(_jit.module_cache_dir(conv, "kernels.cpu.conv2d"))
    assert other.parent == folder.parent and other.name == f"kernels.cpu.conv2d-{_jit.source_key(conv)}"
    # the same module's folders for other sources go once unused for STALE_AFTER; other modules' stay
    old = time.time() - 2 * _jit.STALE_AFTER
    for name in ("conv2d-0123456789abcdef", "pooling-0123456789abcdef", folder.name):
        (folder.parent / name).mkdir(parents=True)
        os.utime(folder.parent / name, (old, old))
    removed = _jit.prune_stale(str(folder), prefix="conv2d-")
    assert removed == [str(folder.parent / "conv2d-0123456789abcdef")]
    assert folder.is_dir() and (folder.parent / "pooling-0123456789abcdef").is_dir()


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        del sys.modules[name]
    return mod


SOURCE = """
from gradflow.kernels.cpu._jit import njit


@njit(cache=True)
def triple(a):
    for i in range(a.shape[0]):
        a[i] *= 3
"""


def test_a_touched_file_still_loads_and_an_edited_one_compiles(tmp_path, monkeypatch, fresh_keys):
    """The index's freshness stamp is the source key, not the file's timestamp (Numba's rule)."""
    import numba

    if _jit._BASES is None:
        pytest.skip("this Numba's cache internals differ: the kernels use Numba's own cache")
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path / "gf"))
    src = tmp_path / "src" / "tiny_kernels.py"
    src.parent.mkdir()
    src.write_text(SOURCE)
    a = np.ones(3, np.float32)
    first = _load(src, "tiny_kernels")
    first.triple(a)
    later = time.time() + 100
    os.utime(src, (later, later))  # reinstalled: same content, new timestamp
    _jit.source_key.cache_clear()
    second = _load(src, "tiny_kernels")
    assert _jit.ready(second.triple, a)  # loaded from disk
    src.write_text(SOURCE + "\n# edited\n")
    _jit.source_key.cache_clear()
    _jit._imported_files.cache_clear()
    third = _load(src, "tiny_kernels")
    assert not _jit.ready(third.triple, a) and not third.triple.signatures
