"""The wheel holds gradflow.kernels with its .cu files and nothing named `kernels` at top level."""
import importlib
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_kernels_import_as_subpackage_in_this_install():
    mod = importlib.import_module("gradflow.kernels")
    assert Path(mod.__file__).resolve().parent == (ROOT / "kernels").resolve()
    assert importlib.util.find_spec("kernels") is None or "site-packages" not in str(importlib.util.find_spec("kernels").origin or "")


@pytest.mark.slow
def test_wheel_contains_kernels_and_cuda_sources(tmp_path):
    cu_files = sorted(p.name for p in (ROOT / "kernels" / "cuda").glob("*.cu"))
    r = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert r.returncode == 0, r.stderr[-2000:]
    wheel = next(tmp_path.glob("gradflow-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "gradflow/kernels/__init__.py" in names
    assert "gradflow/kernels/registry.py" in names
    for cu in cu_files:
        assert f"gradflow/kernels/cuda/{cu}" in names, f"{cu} missing from the wheel"
    top = {n.split("/")[0] for n in names}
    assert "kernels" not in top, "a top-level 'kernels' package would land in site-packages"
    assert not any(n.endswith(".pyc") or "__pycache__" in n for n in names)
    # every .py under kernels/ is packaged (a subpackage missing from pyproject would drop here)
    for py in (ROOT / "kernels").rglob("*.py"):
        rel = py.relative_to(ROOT / "kernels").as_posix()
        assert f"gradflow/kernels/{rel}" in names, f"kernels/{rel} missing from the wheel"
    for py in (ROOT / "gradflow").rglob("*.py"):
        rel = py.relative_to(ROOT).as_posix()
        assert rel in names, f"{rel} missing from the wheel"
