"""Every kernels/cuda/*.cu compiles with nvcc for sm_80 and sm_90, without spills in the GEMMs,
and defines every kernel the launchers can ask for. Needs nvcc only (no GPU); skips without it."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gradflow.kernels.cuda import _module, launch

CUDA_DIR = Path(_module.SOURCE_DIR)
SOURCES = sorted(p.name for p in CUDA_DIR.glob("*.cu"))
ARCHS = ("sm_80", "sm_90")
SMEM_STATIC_LIMIT = 48 * 1024


def _nvcc() -> str | None:
    for cand in (os.environ.get("NVCC"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if cand and Path(cand).is_file():
            return cand
    return None


NVCC = _nvcc()
pytestmark = pytest.mark.skipif(NVCC is None, reason="nvcc not found (set NVCC or put it on PATH)")


def _variants():
    """(file, defines) for every build the launchers use."""
    out = [(f, ()) for f in SOURCES]
    out += sorted({(r.file, r.defines) for r in launch.all_kernels() if r.defines})
    return out


def _compile(tmp: Path, filename: str, defines: tuple[str, ...], arch: str):
    out = tmp / f"{Path(filename).stem}-{'-'.join(defines) or 'plain'}-{arch}.cubin"
    cmd = [NVCC, "-std=c++17", f"-arch={arch}", "-cubin", "-Xptxas", "-v", "-o", str(out),
           *[f"-D{d}" for d in defines], str(CUDA_DIR / filename)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout + r.stderr


def _parse(log: str) -> dict[str, dict]:
    """ptxas -v output -> {entry name: {"spill": bytes, "smem": bytes, "regs": n}}."""
    entries: dict[str, dict] = {}
    current = None
    for line in log.splitlines():
        m = re.search(r"Compiling entry function '(\w+)'", line)
        if m:
            current = entries.setdefault(m.group(1), {"spill": 0, "smem": 0, "regs": 0})
            continue
        if current is None:
            continue
        m = re.search(r"(\d+) bytes spill stores", line)
        if m:
            current["spill"] = int(m.group(1))
        m = re.search(r"Used (\d+) registers", line)
        if m:
            current["regs"] = int(m.group(1))
        m = re.search(r"(\d+) bytes smem", line)
        if m:
            current["smem"] = int(m.group(1))
    return entries


@pytest.fixture(scope="module")
def builds(tmp_path_factory):
    """Compile every (file, defines) x arch once, in parallel: {(file, defines, arch): (rc, log, entries)}."""
    tmp = tmp_path_factory.mktemp("nvcc")
    jobs = [(f, d, a) for f, d in _variants() for a in ARCHS]
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        results = list(pool.map(lambda j: _compile(tmp, *j), jobs))
    return {job: (rc, log, _parse(log)) for job, (rc, log) in zip(jobs, results)}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("variant", _variants(), ids=lambda v: v[0] + "".join(f"+{d}" for d in v[1]))
def test_compiles_without_warnings(builds, variant, arch):
    rc, log, entries = builds[variant + (arch,)]
    assert rc == 0, f"nvcc failed for {variant} on {arch}:\n{log[-4000:]}"
    assert "warning" not in log.lower(), log[-4000:]
    assert entries, "no kernel entry points compiled"


@pytest.mark.parametrize("arch", ARCHS)
def test_every_kernel_the_launchers_use_exists(builds, arch):
    missing = []
    for ref in launch.all_kernels():
        _, _, entries = builds[(ref.file, ref.defines, arch)]
        if ref.name not in entries:
            missing.append(f"{ref.file}{list(ref.defines) or ''}: {ref.name}")
    assert not missing, "kernels the launchers reference but the sources do not define:\n" + "\n".join(missing)


@pytest.mark.parametrize("arch", ARCHS)
def test_gemm_kernels_do_not_spill_and_fit_static_shared_memory(builds, arch):
    for (filename, defines, a), (_, _, entries) in builds.items():
        if a != arch:
            continue
        for name, info in entries.items():
            assert info["smem"] <= SMEM_STATIC_LIMIT, f"{name}: {info['smem']} bytes of static shared memory"
            # register-blocked GEMMs lose their point when they spill; the grid-stride kernels'
            # small stack frames are ABI saves around 64-bit division helpers, not pressure
            if filename in ("conv2d.cu", "matmul.cu") and "reduce" not in name:
                assert info["spill"] == 0, f"{name} ({filename}, {arch}) spills {info['spill']} bytes"


def test_sources_are_self_contained_for_nvrtc():
    """NVRTC has no include path: only CUDA's <mma.h>, inside the opt-in TF32 section."""
    for filename in SOURCES:
        text = (CUDA_DIR / filename).read_text()
        includes = re.findall(r"^\s*#\s*include\s*[<\"]([^>\"]+)[>\"]", text, flags=re.M)
        if filename == "matmul.cu":
            assert includes == ["mma.h"], includes
            assert text.index("#include <mma.h>") > text.index("#if defined(GRADFLOW_WMMA)")
        else:
            assert includes == [], f"{filename} includes {includes}"
