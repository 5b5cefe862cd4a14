"""Backend selection, errors, devices, DLPack and the fork-safety of import."""
import os
import subprocess
import sys

import numpy as np
import pytest

import gradflow
from gradflow.backend import BackendUnavailableError, cupy_status, get_backend, set_backend, use_backend

HAS_GPU = cupy_status()[0]


def run_py(code, **env):
    full = {**os.environ, **env}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120)


def test_default_backend_on_this_machine_is_numpy_or_cupy():
    assert get_backend().name in ("numpy", "cupy")
    if not HAS_GPU:
        assert get_backend().name == "numpy"


def test_unknown_backend_name_lists_valid_names():
    with pytest.raises(ValueError, match="numpy, cupy, reference"):
        set_backend("tensorflow")
    r = run_py("import gradflow", GRADFLOW_BACKEND="jax")
    assert r.returncode != 0 and "valid names" in r.stderr


@pytest.mark.skipif(HAS_GPU, reason="checks the error raised where no GPU works")
def test_cupy_without_gpu_is_one_clear_line():
    # the explanation is one line of the exception itself (import installs no sys.excepthook)
    r = run_py("import gradflow; gradflow.ones(2)", GRADFLOW_BACKEND="cupy")
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("gradflow.backend.base.BackendUnavailableError: GRADFLOW_BACKEND=cupy"), r.stderr
    assert "pip install" in last or "driver" in last or "device" in last
    with pytest.raises(BackendUnavailableError):
        set_backend("cupy")
    assert issubclass(BackendUnavailableError, RuntimeError)


def test_auto_logs_choice_once_at_info(caplog):

    code = ("import logging, gradflow; logging.basicConfig(level=logging.INFO); "
            "gradflow.ones(1); gradflow.ones(1)")
    r = run_py(code, GRADFLOW_BACKEND="auto")
    assert r.returncode == 0, r.stderr
    assert r.stderr.count("gradflow backend auto ->") == 1


def test_import_does_not_touch_cuda_or_numba():
    code = ("import sys, gradflow; "
            "bad=[m for m in ('cupy','numba','torch') if m in sys.modules]; print(bad)")
    r = run_py(code)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_use_backend_context_and_reference_dtype():
    with use_backend("reference") as be:
        assert get_backend() is be and be.name == "reference"
        assert gradflow.ones(2).dtype == np.float64
        assert gradflow.tensor([1.5]).dtype == np.float64
    assert get_backend().name != "reference"
    assert gradflow.ones(2).dtype == np.float32


def test_set_backend_switches_globally():
    before = get_backend().name
    try:
        set_backend("reference")
        assert gradflow.zeros(3).dtype == np.float64
    finally:
        set_backend(before)


def test_backend_interface_on_cpu():
    be = get_backend()
    assert be.device == "cpu" or HAS_GPU
    a = be.asarray([1, 2, 3], dtype=np.float32)
    assert isinstance(be.to_numpy(a), np.ndarray)
    be.synchronize()
    assert isinstance(be.memory_stats(), dict)
    gradflow.free_memory()


def test_seeded_generator_repeats():
    gradflow.random.seed(7)
    a = gradflow.randn(4, 3).numpy()
    gradflow.random.seed(7)
    b = gradflow.randn(4, 3).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, gradflow.randn(4, 3).numpy())


def test_to_cuda_without_gpu_raises_clear_error():
    if HAS_GPU:
        pytest.skip("GPU present: covered by the gpu tests")
    with pytest.raises(BackendUnavailableError, match="CuPy"):
        gradflow.ones(2).to("cuda")


def test_to_cpu_is_identity_on_cpu_and_unknown_device_errors():
    t = gradflow.ones(3, requires_grad=True)
    u = t.to("cpu")
    np.testing.assert_array_equal(u.numpy(), t.numpy())
    u.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.ones(3))
    with pytest.raises(ValueError, match="unknown device"):
        t.to("tpu")


def test_dlpack_numpy_both_ways_without_copy():
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = gradflow.from_dlpack(arr)
    arr[0, 0] = 42
    assert t.numpy()[0, 0] == 42  # shares memory
    back = np.from_dlpack(t)
    assert np.shares_memory(back, arr)


def test_dlpack_torch_both_ways():
    torch = pytest.importorskip("torch")
    src = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    t = gradflow.from_dlpack(src)
    src[1, 2] = -1
    assert t.numpy()[1, 2] == -1
    out = torch.from_dlpack(t)
    assert out.shape == (2, 3) and float(out[1, 2]) == -1


def test_two_cupy_wheels_warn(monkeypatch):
    from importlib import metadata

    import gradflow.backend as b

    real = metadata.version

    def fake(name):
        if name in ("cupy-cuda12x", "cupy-cuda13x"):
            return "13.0"
        return real(name)

    monkeypatch.setattr(metadata, "version", fake)
    with pytest.warns(RuntimeWarning, match="cupy-cuda12x, cupy-cuda13x"):
        b._warn_two_cupy_wheels()


def test_mixed_devices_raise_clear_error():
    from gradflow.autograd.function import DeviceMismatchError, _devices_clash

    class FakeCupy:  # an array type from a module named cupy...
        pass

    FakeCupy.__module__ = "cupy._core.core"
    assert _devices_clash([np.ones(2), FakeCupy()]) == "cpu and cuda"
    assert _devices_clash([np.ones(2), np.ones(2), 3.0]) is None
    assert issubclass(DeviceMismatchError, RuntimeError)


@pytest.mark.gpu
def test_cuda_tensor_round_trip_and_mixing_error():
    from gradflow.autograd.function import DeviceMismatchError

    a = gradflow.tensor(np.arange(4.0, dtype=np.float32)).to("cuda")
    assert a.device == "cuda"
    b = gradflow.ones(4).to("cpu")
    with pytest.raises(DeviceMismatchError, match="move one"):
        a + b
    np.testing.assert_array_equal(a.to("cpu").numpy(), np.arange(4.0))
