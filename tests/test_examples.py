"""Every example runs for one short epoch, so none rots; `--help` works for each."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SCRIPTS = ["mnist_cnn", "cifar10_cnn", "autoencoder", "transfer_learning", "tabular_mlp"]


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("name", SCRIPTS + ["benchmark_kernels"])
def test_help(name):
    r = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--epochs" in r.stdout or name == "benchmark_kernels"


@pytest.mark.slow
def test_mnist_cnn_one_epoch(capsys):
    acc = load("mnist_cnn").main(["--epochs", "1", "--limit", "300", "--verbose", "0"])
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "Total params: 21,386" in out
    assert 0.0 <= acc <= 1.0


@pytest.mark.slow
def test_cifar10_cnn_one_epoch(capsys):
    acc = load("cifar10_cnn").main(["--epochs", "1", "--limit", "128", "--verbose", "0"])
    assert "test accuracy:" in capsys.readouterr().out and 0.0 <= acc <= 1.0


@pytest.mark.slow
def test_autoencoder_writes_png(tmp_path, capsys):
    out = tmp_path / "grid.png"
    noisy, recon = load("autoencoder").main(["--epochs", "1", "--limit", "200", "--verbose", "0", "--out", str(out)])
    assert np.isfinite(noisy) and np.isfinite(recon)
    if "matplotlib is missing" not in capsys.readouterr().out:
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_transfer_learning_keeps_base_frozen(capsys):
    acc_a, acc_b, n_train, n_frozen, unchanged = load("transfer_learning").main(
        ["--epochs", "1", "--limit", "400", "--verbose", "0"])
    assert unchanged
    assert n_train == 256 * 5 + 5 and n_frozen == 320 + 18496
    assert "trainable params" in capsys.readouterr().out


@pytest.mark.slow
def test_tabular_mlp_predicts_probabilities(capsys):
    acc = load("tabular_mlp").main(["--epochs", "2", "--limit", "300", "--verbose", "0"])
    assert "test accuracy:" in capsys.readouterr().out and acc > 0.5
