"""benchmarks/device_check.sh cannot rot: in dry mode (no GPU) every step says so and it exits 0;
without a GPU outside dry mode it fails; in forced-GPU mode the CuPy stand-in plays the GPU and
every step runs end to end under the deadline, leaving at most 8 files (what a device run returns).
Its Python steps import and name the layer kinds they will run on a GPU."""
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / "benchmarks" / "device_check.sh")
STEPS = ("gpu-tests", "train-parity", "layers", "bench-gpu", "models")


def _run(tmp_path, timeout=120, **env):
    env = {**os.environ, "OUT": str(tmp_path), "PYTHON": sys.executable, "DEVICE_CHECK_NO_INSTALL": "1", **env}
    env.pop("GRADFLOW_BACKEND", None)
    return subprocess.run(["bash", SCRIPT], capture_output=True, text=True, env=env, timeout=timeout)


def test_dry_run_skips_every_step_and_succeeds(tmp_path):
    r = _run(tmp_path, DEVICE_CHECK_DRY="1")
    assert r.returncode == 0, r.stdout + r.stderr
    for name in STEPS:
        assert f"== {name}: skipped: no GPU" in r.stdout
        assert f"{name}" in r.stdout.split("summary")[-1]
    assert "figures: none" in (tmp_path / "device_check.log").read_text()
    assert (tmp_path / "figures.json").exists()


def test_without_a_gpu_outside_dry_mode_every_step_fails(tmp_path):
    try:
        import cupy  # noqa: F401
        pytest.skip("CuPy is importable here")
    except ImportError:
        pass
    r = _run(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    for name in STEPS:
        assert f"== {name}: FAILED: no usable GPU" in r.stdout


@pytest.mark.slow
def test_forced_gpu_run_on_the_cupy_stand_in_passes_every_step(tmp_path):
    r = _run(tmp_path, timeout=400, DEVICE_CHECK_FORCE_GPU="1", DEVICE_CHECK_BUDGET="300")
    summary = r.stdout.split("summary")[-1]
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    for name in STEPS:
        assert f"{name}" in summary and "ok (" in summary.split(name)[1].splitlines()[0], summary
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["device_check.log", "figures.json", "steps.tar.gz"]  # a device run returns at most 8
    figures = json.loads((tmp_path / "figures.json").read_text())
    assert set(figures) == set(STEPS) - {"gpu-tests"}, figures
    assert figures["layers"]["layers_failed"] == 0 and "rows" in figures["bench-gpu"]
    assert figures["train-parity"]["model_A_max_rel_diff"] < 1e-3
    with tarfile.open(tmp_path / "steps.tar.gz") as tar:
        outs = {Path(m.name).name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    assert {f"{s}.out" for s in STEPS} <= set(outs)
    assert "[layers] Dense ok" in outs["layers.out"]  # the full output, progress lines included


def test_a_step_is_cut_to_the_deadline(tmp_path):
    r = _run(tmp_path, DEVICE_CHECK_FORCE_GPU="1", DEVICE_CHECK_BUDGET="20")
    assert r.returncode == 1
    assert "FAILED: out of time" in r.stdout or "TIMEOUT" in r.stdout
    assert (tmp_path / "figures.json").exists() and len(list(tmp_path.iterdir())) <= 8


def test_the_layer_step_covers_every_layer_kind():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import device_steps
    finally:
        sys.path.pop(0)
    kinds = {type(layer).__name__ for layer, _ in device_steps._layer_cases()}
    assert {"Conv1D", "Conv2DTranspose", "DepthwiseConv2D", "Conv3D", "LSTM", "GRU", "ConvLSTM2D",
            "MultiHeadAttention", "LayerNormalization", "BatchNormalization", "Dense"} <= kinds
    r = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "device_steps.py"), "nope"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode != 0 and "usage" in (r.stdout + r.stderr)


def test_the_layer_step_runs_on_the_cpu_with_the_reference_backend(capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import device_steps
    finally:
        sys.path.pop(0)
    result = device_steps.layers(backend="reference", device="cpu")
    assert result["layers_failed"] == 0 and result["layers_checked"] == len(device_steps._layer_cases())
    assert "[layers] Dense ok" in capsys.readouterr().out  # a progress line per layer, as it goes
