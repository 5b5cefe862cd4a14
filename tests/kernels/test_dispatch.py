"""gradflow.dispatch: how an implementation is chosen (config, per-op override, reference backend,
autotuning and its on-disk cache, explain(), errors) and the call()/shape_key() helpers."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from gradflow import config, dispatch
from gradflow.kernels import cpu, reference, vectorized

TEST_OP = "_test_dispatch_op"


@pytest.fixture(autouse=True)
def clean_dispatch(monkeypatch):
    """Each test starts from auto, autotune on (so not deterministic), no overrides, nothing timed or
    saved; all restored after."""
    monkeypatch.setattr(config, "kernels", "auto")
    monkeypatch.setattr(config, "op_kernels", {})
    monkeypatch.setattr(config, "autotune", True)
    monkeypatch.setattr(config, "deterministic", False)
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", "off")
    monkeypatch.setattr(dispatch, "_busy", lambda: False)  # a quiet machine, whatever the real load
    dispatch.reset()
    yield
    dispatch.reset()
    dispatch._registry.pop(TEST_OP, None)


def _register_fake(slow_name="numba", fast_name="numpy", delay=0.02, calls=None):
    """A test op with a slow and a fast implementation that record their calls."""
    calls = calls if calls is not None else []

    def make(name, pause):
        def impl(a, scale=1.0, out=None):
            calls.append(name)
            time.sleep(pause)
            return a * scale

        return impl

    dispatch.register(TEST_OP, slow_name, make(slow_name, delay), device="cpu")
    dispatch.register(TEST_OP, fast_name, make(fast_name, 0.0), device="cpu")
    return calls


def test_explicit_config_and_per_op_override():
    config.kernels = "numpy"
    assert dispatch.get("conv2d_forward") is vectorized.conv2d_forward
    name, reason = dispatch.choose("conv2d_forward")
    assert name == "numpy" and "kernels='numpy'" in reason
    config.op_kernels["conv2d_forward"] = "numba"
    assert dispatch.get("conv2d_forward") is cpu.conv2d_forward
    assert "op_kernels='numba'" in dispatch.choose("conv2d_forward")[1]
    assert dispatch.get("matmul") is vectorized.matmul  # other ops keep the global choice


def test_reference_backend_forces_reference():
    config.kernels = "numba"
    assert dispatch.get("max_pool2d_forward", "cpu", "reference") is reference.max_pool2d_forward
    assert "reference backend" in dispatch.choose("matmul", "cpu", "reference")[1]


def test_unknown_or_unregistered_implementation_is_a_clear_error():
    config.kernels = "cuda"  # registered, but for the cuda device only
    with pytest.raises(dispatch.KernelUnavailable, match=r"conv2d_forward: implementation 'cuda' is not registered "
                                                         r"for device 'cpu'; registered: numba, numpy, reference"):
        dispatch.get("conv2d_forward", "cpu")
    config.kernels = "auto"
    with pytest.raises(dispatch.KernelUnavailable, match="no implementation of 'no_such_op'"):
        dispatch.get("no_such_op")


def test_auto_without_autotune_takes_preference_order():
    config.autotune = False
    assert dispatch.get("batch_norm_forward") is cpu.batch_norm_forward
    assert "preference order" in dispatch.choose("batch_norm_forward")[1]


def test_autotune_times_candidates_once_and_records_the_winner():
    calls = _register_fake()
    a = np.arange(6.0)
    key = dispatch.shape_key((a,), {"scale": 2.0})
    fn = dispatch.get(TEST_OP, "cpu", "numpy", key)
    assert "autotuning" in repr(fn)
    np.testing.assert_array_equal(fn(a, scale=2.0), a * 2.0)
    # one warm-up plus TUNE_REPEATS timed runs for each candidate (plus maybe one to return the winner's result)
    assert calls.count("numba") == 1 + dispatch.TUNE_REPEATS
    assert calls.count("numpy") >= 1 + dispatch.TUNE_REPEATS
    tuned = dispatch.tuned()[(TEST_OP, "cpu", key)]
    assert tuned["name"] == "numpy" and set(tuned["timings"]) == {"numba", "numpy"}
    assert tuned["timings"]["numba"] > tuned["timings"]["numpy"]
    calls.clear()
    name, reason = dispatch.choose(TEST_OP, "cpu", "numpy", key)
    assert name == "numpy" and "autotuned" in reason
    np.testing.assert_array_equal(dispatch.call(TEST_OP, a, scale=2.0), a * 2.0)
    assert calls == ["numpy"]  # tuned: no more timing


def test_autotune_key_separates_shapes_and_ignores_out():
    calls = _register_fake()
    dispatch.call(TEST_OP, np.zeros(3))
    dispatch.call(TEST_OP, np.zeros(3), out=np.empty(3))
    n_after_first = len(calls)
    dispatch.call(TEST_OP, np.zeros(4))  # new shape: timed again
    assert len(calls) > n_after_first + 1
    assert dispatch.shape_key((np.zeros((2, 3), np.float32), (1, 1), None), {"out": 1}) == \
        (((2, 3), "float32"), (1, 1), None)


def test_get_without_key_tunes_per_shape_at_call_time():
    calls = _register_fake()
    fn = dispatch.get(TEST_OP)
    fn(np.ones(5))
    fn = dispatch.get(TEST_OP)
    calls.clear()
    fn(np.ones(5))
    assert calls == ["numpy"]


def test_autotune_skips_a_failing_candidate_and_reraises_when_all_fail():
    def broken(a, scale=1.0, out=None):
        raise RuntimeError("cannot run here")

    dispatch.register(TEST_OP, "numba", broken)
    dispatch.register(TEST_OP, "numpy", lambda a, scale=1.0, out=None: a + 1)
    assert dispatch.call(TEST_OP, np.zeros(2)).tolist() == [1.0, 1.0]
    timings = next(iter(dispatch.tuned().values()))["timings"]
    assert "cannot run here" in timings["numba"]
    dispatch.register(TEST_OP, "numpy", broken)
    with pytest.raises(RuntimeError, match="cannot run here"):
        dispatch.call(TEST_OP, np.zeros(7))


def test_explicit_choice_and_reference_backend_never_tune():
    calls = _register_fake()
    config.kernels = "numba"
    dispatch.call(TEST_OP, np.zeros(2))
    assert calls == ["numba"]
    config.kernels = "auto"
    calls.clear()
    dispatch.register(TEST_OP, "reference", lambda a, scale=1.0, out=None: calls.append("reference") or a)
    dispatch.call(TEST_OP, np.zeros(2), backend_name="reference")
    assert calls == ["reference"] and not dispatch.tuned()


def test_real_kernel_autotune_and_explain():
    a = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    c = dispatch.call("matmul", a, a)
    np.testing.assert_allclose(c, a @ a, rtol=1e-5)
    text = dispatch.explain(print_fn=None)
    line = next(ln for ln in text.splitlines() if ln.startswith("matmul"))
    assert "[cpu]" in line and "autotuned for shape" in line and "numba" in line and "numpy" in line
    assert "not called yet" in next(ln for ln in text.splitlines() if ln.startswith("conv2d_forward"))
    config.kernels = "numpy"
    dispatch.get("matmul")
    assert "kernels='numpy'" in dispatch.explain(print_fn=None)


def test_winners_persist_in_the_cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path))
    calls = _register_fake()
    dispatch.call(TEST_OP, np.zeros(3))
    path = tmp_path / "autotune.json"
    data = json.loads(path.read_text())
    assert data["fingerprint"]["numpy"] == np.__version__
    (entry,) = [v for k, v in data["entries"].items() if TEST_OP in k]
    assert entry["name"] == "numpy"
    assert not list(tmp_path.glob(".autotune-*"))  # the temporary file was renamed over
    dispatch.reset()  # a new process, as far as dispatch is concerned
    calls.clear()
    dispatch.call(TEST_OP, np.zeros(3))
    assert calls == ["numpy"]  # winner read back from disk, nothing timed
    assert "autotuned" in dispatch.choose(TEST_OP, "cpu", None, dispatch.shape_key((np.zeros(3),)))[1]


def test_cache_file_from_another_machine_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path))
    calls = _register_fake()
    key = dispatch._disk_key(TEST_OP, "cpu", dispatch.shape_key((np.zeros(3),)))
    (tmp_path / "autotune.json").write_text(json.dumps(
        {"fingerprint": {"cpu": "elsewhere"}, "entries": {key: {"name": "numba", "timings": {}}}}))
    dispatch.call(TEST_OP, np.zeros(3))
    assert "numba" in calls and "numpy" in calls  # timed afresh


def test_call_infers_device_and_passes_arguments_through():
    x = np.random.default_rng(1).standard_normal((1, 6, 6, 2)).astype(np.float32)
    config.kernels = "numpy"
    y, arg = dispatch.call("max_pool2d_forward", x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    y_ref, arg_ref = reference.max_pool2d_forward(x, (2, 2), (2, 2), ((0, 0), (0, 0)))
    np.testing.assert_array_equal(y, y_ref)
    np.testing.assert_array_equal(arg, arg_ref)
    assert dispatch._device_of((x,)) == "cpu"


def test_get_is_cached_until_config_changes_and_fast_path_uses_winner(monkeypatch):
    """The per-call path answers from a cache; changing config or registering invalidates it."""
    import numpy as np

    from gradflow import config, dispatch

    dispatch.reset()
    monkeypatch.setattr(config, "kernels", "auto")
    monkeypatch.setattr(config, "autotune", True)
    f1 = dispatch.get("matmul", "cpu", "numpy")
    assert dispatch.get("matmul", "cpu", "numpy") is f1
    a, b = np.ones((3, 4), np.float32), np.ones((4, 2), np.float32)
    np.testing.assert_allclose(f1(a, b), a @ b)  # times the candidates, records a winner
    np.testing.assert_allclose(f1(a, b), a @ b)  # winner looked up, remembered for the fast path
    np.testing.assert_allclose(f1(a, b), a @ b)  # fast path
    assert getattr(f1, "_fast", None), "the winner should be remembered per shape"
    monkeypatch.setattr(config, "kernels", "numpy")
    f2 = dispatch.get("matmul", "cpu", "numpy")
    assert f2 is not f1 and "requested by config" in dispatch.explain(print_fn=None)
    dispatch.reset()


def test_settings_are_checked_when_set(monkeypatch):
    """A typo in a setting is a clear error at once, not a failure (or silence) at the first op."""
    monkeypatch.setattr(config, "kernels", "auto")
    monkeypatch.setattr(config, "op_kernels", {})
    with pytest.raises(ValueError, match=r"config.kernels='gpu' is not a kernel choice; use one of auto, numpy"):
        config.kernels = "gpu"
    assert config.kernels == "auto"
    with pytest.raises(ValueError, match=r"'conv2d_fwd' is not an op .*did you mean 'conv2d_forward'"):
        config.op_kernels["conv2d_fwd"] = "numpy"
    with pytest.raises(ValueError, match=r"op_kernels\['matmul'\]='blas' is not a kernel choice"):
        config.op_kernels.update(matmul="blas")
    with pytest.raises(ValueError, match="not an op"):
        config.op_kernels = {"matmull": "numpy"}
    with pytest.raises(ValueError, match="must be True or False"):
        config.autotune = "yes"
    assert config.op_kernels == {}
    config.kernels = " NumPy "
    assert config.kernels == "numpy"
    config.op_kernels = {"matmul": "numba"}
    assert dispatch.choose("matmul")[0] == "numba"


def test_unknown_kernel_in_environment_fails_at_import():
    r = subprocess.run([sys.executable, "-c", "import gradflow"], capture_output=True, text=True, timeout=120,
                       env={**os.environ, "GRADFLOW_KERNELS": "gpu"})
    assert r.returncode != 0 and "GRADFLOW_KERNELS='gpu' is not a kernel choice" in r.stderr


def test_explain_lists_only_what_can_run_here(monkeypatch):
    monkeypatch.setattr(dispatch, "cupy_status", lambda: (False, "no CuPy"))
    dispatch.reset()
    text = dispatch.explain(print_fn=None)
    assert text.startswith("GPU: none usable here")
    assert "usable here: cpu: numba, numpy, reference)" in text and "vendor" not in text.split("\n", 1)[1]
    monkeypatch.setattr(dispatch, "cupy_status", lambda: (True, "CuPy 14 with 1 CUDA device(s)"))
    text = dispatch.explain(print_fn=None)
    assert "cuda: cuda, vendor" in text and text.startswith("GPU: CuPy 14")


def _register_fast_and_slow():
    calls = []

    def slow(x):
        calls.append("slow")
        time.sleep(0.002)
        return x + 1

    def fast(x):
        calls.append("fast")
        return x + 1

    dispatch.register(TEST_OP, "numba", slow)
    dispatch.register(TEST_OP, "numpy", fast)
    return calls


def test_deterministic_mode_never_times_and_ignores_saved_tunings(monkeypatch, tmp_path):
    """The default: the same choice in every process, whatever the load or the tuning history."""
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path))
    calls = _register_fast_and_slow()
    x = np.zeros(3)
    assert dispatch.call(TEST_OP, x)[0] == 1 and calls == ["slow", "fast"] * 3  # warm-up + 2 timed rounds
    assert dispatch.choose(TEST_OP, "cpu", None, dispatch.shape_key((x,)))[0] == "numpy"  # the tuned winner
    config.deterministic = True
    calls.clear()
    dispatch.call(TEST_OP, x)
    name, reason = dispatch.choose(TEST_OP, "cpu", None, dispatch.shape_key((x,)))
    assert calls == ["slow"] and name == "numba" and "deterministic" in reason
    dispatch.reset()
    dispatch.call(TEST_OP, x)  # a fresh process: still no timing, still the preferred one
    assert calls == ["slow", "slow"]


def test_a_tuning_timed_on_a_busy_machine_is_used_but_not_saved(monkeypatch, tmp_path):
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(dispatch, "_busy", lambda: True)
    _register_fast_and_slow()
    x = np.zeros(3)
    dispatch.call(TEST_OP, x)
    name, reason = dispatch.choose(TEST_OP, "cpu", None, dispatch.shape_key((x,)))
    assert name == "numpy" and "busy machine, so not saved" in reason
    assert not (tmp_path / "autotune.json").exists()


def test_cache_dir_defaults_to_xdg_and_can_be_turned_off(monkeypatch, tmp_path):
    monkeypatch.delenv("GRADFLOW_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert dispatch.cache_dir() == str(tmp_path / "xdg" / "gradflow")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert dispatch.cache_dir() == str(tmp_path / "home" / ".cache" / "gradflow")
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", "off")
    assert dispatch.cache_dir() is None
