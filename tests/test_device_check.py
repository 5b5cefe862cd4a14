"""benchmarks/device_check.sh cannot rot: in dry mode (no GPU) every step says so and it exits 0;
its Python steps import and name the layer kinds they will run on a GPU."""
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_skips_every_step_and_succeeds(tmp_path):
    env = {**os.environ, "DEVICE_CHECK_DRY": "1", "OUT": str(tmp_path)}
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "device_check.sh")], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    for name in ("gpu-tests", "cuda-kernels", "train-parity", "layers", "bench-gpu", "models"):
        assert f"== {name}: skipped: no GPU" in r.stdout
        assert f"{name}" in r.stdout.split("summary")[-1]
    assert (tmp_path / "device_check.log").read_text().strip().endswith("figures: none")
    assert (tmp_path / "figures.json").exists()


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
