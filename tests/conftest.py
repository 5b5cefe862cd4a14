"""Shared test setup: the `gpu` marker skips cleanly where no CUDA device works."""
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

# Tunings persist in the user's cache directory by default: the tests (and the subprocesses they start)
# keep theirs in a folder of their own instead, so they neither read nor change the user's.
os.environ.setdefault("GRADFLOW_CACHE_DIR", tempfile.mkdtemp(prefix="gradflow-test-cache-"))

# The differential-case registry (tests/keras_coverage.py) is imported by name: ``from keras_coverage import
# case_module`` loads a module of tests/keras_cases/ once for the tests and the coverage report alike.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gradflow  # noqa: E402
from gradflow.backend import cupy_status  # noqa: E402


def gpu_available() -> tuple[bool, str]:
    return cupy_status()


def pytest_collection_modifyitems(config, items):
    ok, why = gpu_available()
    if ok:
        return
    skip = pytest.mark.skip(reason=f"needs a working CUDA GPU: {why}")
    for item in items:
        if item.get_closest_marker("gpu") is not None:  # keywords also hold folder names (a checkout in gpu/)
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seeded():
    """Every test starts from the same seeds and the numpy backend's default kernels."""
    gradflow.random.seed(1234)
    np.random.seed(1234)
    yield


@pytest.fixture
def real_keras():
    """Real Keras 3 on its PyTorch backend, for the tests that compare with it; skips the test where
    Keras or PyTorch is missing (or Keras was imported with another backend).

    Torch runs on one thread meanwhile: its two-thread kernels spin-wait, and on a shared 2-core
    machine that makes these small models several times slower, not faster."""
    os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is first imported
    torch = pytest.importorskip("torch")
    k = pytest.importorskip("keras")
    if k.backend.backend() != "torch":  # pragma: no cover - a process that imported Keras with another backend
        pytest.skip(f"Keras runs on {k.backend.backend()!r} here; these comparisons use its torch backend")
    k.backend.clear_session(free_memory=False)  # no forced gc.collect per test: 0.2-0.4 s each on a large heap
    # Keras draws its initial weights (and dropout masks) from torch's generator: seeded, so a comparison
    # or a Keras-side accuracy threshold does not pass or fail with the draw (unseeded, ports flaked 1 run in 3)
    k.utils.set_random_seed(1234)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield k
    finally:
        torch.set_num_threads(threads)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def rel_err(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    denom = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (denom if denom > 0 else 1.0))
