"""Every example runs in a quick mode (a few seconds each), so none rots: each asserts the figure the
example is about (accuracy, error ratio, activation increase) and that the PNGs it writes are valid
images of the expected size; `--help` works for each. Full-size figures: examples/README.md."""
import importlib.util
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TRAINING = ["mnist_cnn", "cifar10_cnn", "autoencoder", "transfer_learning", "tabular_mlp", "visualize_filters",
            "functional_two_outputs", "custom_train_step"]
SCRIPTS = TRAINING + ["benchmark_kernels"]


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def have_matplotlib():
    return importlib.util.find_spec("matplotlib") is not None


def assert_png(path, size):
    """A complete PNG (signature, IHDR, every chunk's CRC, IEND) of ``size`` = (width, height) pixels."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"{path}: bad CRC in chunk {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    assert struct.unpack(">II", chunks[0][1][:8]) == tuple(size)
    pixels = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    assert len(pixels) > size[1] * size[0]  # every row decodes (filter byte + at least one byte per pixel)


def check_curves(out, path, panels):
    """--plot wrote the training curves: one 500x400 panel per metric, at most three to a row."""
    if "matplotlib is missing" in out:
        return
    assert f"wrote training curves to {path}" in out
    assert_png(path, (500 * min(panels, 3), 400 * -(-panels // 3)))


@pytest.mark.parametrize("name", SCRIPTS)
def test_help(name):
    r = subprocess.run([sys.executable, str(EXAMPLES / f"{name}.py"), "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    description = r.stdout.split("\n\n")[1]  # after the usage lines
    assert description.rstrip().endswith((".", ")")), f"{name}: --help stops mid-sentence: {description!r}"
    if name in TRAINING:
        for option in ("--epochs", "--backend", "--dataset", "--data-dir", "--plot"):
            assert option in r.stdout, (name, option)


def test_unavailable_backend_is_one_line():
    """GRADFLOW_BACKEND=cupy where CuPy or a GPU is missing: one line saying why and how to fix it."""
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here: the backend may well work")
    env = dict(os.environ, GRADFLOW_BACKEND="cupy")
    r = subprocess.run([sys.executable, str(EXAMPLES / "mnist_cnn.py"), "--epochs", "1"], capture_output=True,
                       text=True, timeout=120, env=env)
    assert r.returncode == 1
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error: GRADFLOW_BACKEND=cupy needs CuPy"), r.stderr
    assert "pip install" in r.stderr


def test_visualize_filters_model_choice():
    r = subprocess.run([sys.executable, str(EXAMPLES / "visualize_filters.py"), "--help"], capture_output=True,
                       text=True, timeout=120)
    assert "small_cnn" in r.stdout and "vgg16" in r.stdout
    r = subprocess.run([sys.executable, str(EXAMPLES / "visualize_filters.py"), "--model", "resnet"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and "invalid choice" in r.stderr


@pytest.mark.slow
def test_visualize_filters_inside_vgg16(tmp_path, capsys):
    png = tmp_path / "vgg.png"
    before, after, _ = load("visualize_filters").main(
        ["--model", "vgg16", "--layer", "block1_conv2", "--size", "32", "--filters", "8", "--steps", "8",
         "--out", str(png)])
    out = capsys.readouterr().out
    assert "VGG16 (untrained)" in out and "block1_conv2 output (None, 32, 32, 64)" in out
    assert len(after) == 8 and np.mean(after - before) > 0, (before, after)
    if "matplotlib is missing" not in out:
        assert png.stat().st_size > 1000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_examples_readme_lists_every_example():
    text = (EXAMPLES / "README.md").read_text()
    for name in SCRIPTS:
        assert f"{name}.py" in text, name


@pytest.mark.slow
def test_mnist_cnn(tmp_path, capsys):
    acc = load("mnist_cnn").main(["--epochs", "3", "--limit", "600", "--verbose", "0",
                                  "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "Total params: 21,386" in out
    assert acc > 0.75
    check_curves(out, tmp_path / "c.png", 2)


@pytest.mark.slow
def test_cifar10_cnn(tmp_path, capsys):
    # 4 epochs keep the augmentation on; batch norm's moving statistics must be usable (issue 13: 0.16)
    acc = load("cifar10_cnn").main(["--epochs", "4", "--limit", "800", "--verbose", "0",
                                    "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert "test accuracy:" in out and acc > 0.9
    check_curves(out, tmp_path / "c.png", 2)


@pytest.mark.slow
def test_autoencoder_denoises_and_writes_png(tmp_path, capsys):
    grid = tmp_path / "grid.png"
    noisy, recon = load("autoencoder").main(["--epochs", "4", "--copies", "1", "--verbose", "0", "--out", str(grid),
                                             "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert np.isfinite(noisy) and np.isfinite(recon)
    assert recon < 0.6 * noisy, (noisy, recon)  # the full run halves it (ratio ~0.35)
    if "matplotlib is missing" not in out:
        assert_png(grid, (800, 276))  # 3 rows x 10 digits
        check_curves(out, tmp_path / "c.png", 1)


@pytest.mark.slow
def test_transfer_learning_keeps_base_frozen(tmp_path, capsys):
    acc_a, acc_b, n_train, n_frozen, unchanged = load("transfer_learning").main(
        ["--epochs", "1", "--limit", "400", "--verbose", "0", "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert unchanged
    assert n_train == 256 * 5 + 5 and n_frozen == 320 + 18496
    assert "trainable params" in out
    check_curves(out, tmp_path / "c.png", 4)  # loss and accuracy of both stages


@pytest.mark.slow
def test_tabular_mlp_predicts_probabilities(tmp_path, capsys):
    acc = load("tabular_mlp").main(["--epochs", "2", "--limit", "300", "--verbose", "0",
                                    "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert "test accuracy:" in out and acc > 0.5
    check_curves(out, tmp_path / "c.png", 2)


@pytest.mark.slow
def test_visualize_filters_raises_every_activation(tmp_path, capsys):
    png = tmp_path / "filters.png"
    before, after, acc = load("visualize_filters").main(
        ["--epochs", "4", "--limit", "800", "--steps", "20", "--verbose", "0", "--out", str(png),
         "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert len(before) == len(after) == 32 and acc > 0.5
    assert np.all(after > before) and np.mean(after - before) > 0.1, (before, after)
    assert "conv2 output (None, 4, 4, 32)" in out and "filter 31:" in out
    if "matplotlib is missing" not in out:
        assert_png(png, (1380, 337))  # 32 preferred inputs | the digit | 32 activation maps
        check_curves(out, tmp_path / "c.png", 2)


@pytest.mark.slow
def test_functional_two_outputs(tmp_path, capsys):
    digit_acc, even_acc = load("functional_two_outputs").main(
        ["--epochs", "3", "--limit", "600", "--verbose", "0", "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert digit_acc > 0.75 and even_acc > 0.75
    check_curves(out, tmp_path / "c.png", 5)  # loss, digit_accuracy, even_accuracy, digit_loss, even_loss


@pytest.mark.slow
def test_custom_train_step(tmp_path, capsys):
    acc, norms = load("custom_train_step").main(
        ["--epochs", "3", "--limit", "600", "--verbose", "0", "--plot", str(tmp_path / "c.png")])
    out = capsys.readouterr().out
    assert acc > 0.75 and len(norms) == 3 and all(n > 0 for n in norms)
    check_curves(out, tmp_path / "c.png", 3)  # loss, accuracy, grad_norm


def test_examples_readme_shows_a_picture_of_every_png_an_example_writes():
    text = (EXAMPLES / "README.md").read_text()
    for name in TRAINING:
        if name in ("visualize_filters",):
            assert "images/filters.png" in text
            continue
        assert f"images/{name}_curves.png" in text, name
    assert "images/autoencoder.png" in text
    for link in re.findall(r"\]\((images/[^)]+)\)", text):
        assert (EXAMPLES / link).is_file(), link
