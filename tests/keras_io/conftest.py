"""Shared setup for the keras-io ports.

Each test file in this folder is a keras-io program (guide or example) ported to gradflow by
changing only its imports (``import gradflow as keras``, ``from gradflow import layers, ops``).
Downloads (MNIST, CIFAR-10, ...) are replaced by the small synthetic, separable data made here.
"""
import re

import numpy as np
import pytest

import gradflow as keras


@pytest.fixture(autouse=True)
def _fresh_keras_session(tmp_path, monkeypatch):
    """Each program runs in its own empty directory (the guides save to relative paths) and
    starts from a fresh Keras session, so auto-generated layer names start again at ``dense``."""
    monkeypatch.chdir(tmp_path)
    backend = getattr(keras, "backend", None)
    clear = getattr(backend, "clear_session", None)
    if clear is not None:
        clear()
    yield


def class_images(n, shape=(28, 28, 1), num_classes=10, seed=0):
    """An MNIST/CIFAR stand-in: image of class ``k`` = a bright square in cell ``k`` of a grid over
    the image, on a dim noisy background whose level also grows with ``k`` (so both models that keep
    positions, e.g. Flatten -> Dense, and models that pool globally can separate the classes).

    Returns ``(x, y)``: float32 images in [0, 1] of shape ``(n, *shape)`` and int64 labels.
    """
    rng = np.random.default_rng(seed)
    h, w, c = shape
    grid = int(np.ceil(np.sqrt(num_classes)))
    ch, cw = h // grid, w // grid
    y = rng.integers(0, num_classes, size=n)
    x = rng.uniform(0.0, 0.15, size=(n, h, w, c)).astype("float32")
    x += (0.25 * y / max(num_classes - 1, 1)).reshape(-1, 1, 1, 1).astype("float32")
    for i, k in enumerate(y):
        r, q = divmod(int(k), grid)
        x[i, r * ch:(r + 1) * ch, q * cw:(q + 1) * cw, :] = rng.uniform(0.8, 1.0)
    return np.clip(x, 0.0, 1.0).astype("float32"), y.astype("int64")


@pytest.fixture
def make_images():
    """``make_images(n, shape=(28, 28, 1), num_classes=10, seed=0) -> (x, y)``; see ``class_images``."""
    return class_images


@pytest.fixture
def mnist_vectors():
    """``mnist_vectors(n, seed=0) -> (x, y)``: flattened 28x28 class images, like
    ``x_train.reshape(-1, 784).astype("float32") / 255`` in the guides."""

    def make(n, seed=0, num_classes=10):
        x, y = class_images(n, (28, 28, 1), num_classes, seed)
        return x.reshape(n, 784), y

    return make


def parse_summary_params(text):
    """``{"total": int, "trainable": int, "non_trainable": int}`` from a ``model.summary()`` text."""
    out = {}
    for key, label in (("total", "Total"), ("trainable", "Trainable"), ("non_trainable", "Non-trainable")):
        m = re.search(r"(?<![\w-])" + label + r" params: ([\d,]+)", text)
        out[key] = int(m.group(1).replace(",", "")) if m else None
    return out


@pytest.fixture
def summary_params():
    """``summary_params(model, **summary_kwargs) -> (params_dict, text)``: runs ``model.summary`` with a
    ``print_fn`` (Keras 3 passes ``line_break=`` to it, hence ``**kwargs``) and parses its footer."""

    def run(model, **kwargs):
        lines = []
        model.summary(print_fn=lambda line, *args, **kw: lines.append(str(line)), **kwargs)
        text = "\n".join(lines)
        return parse_summary_params(text), text

    return run


# Keras on PyTorch 2.13 warns about torch's own __array__ on every conversion; the files that also run
# their program on real Keras put this in their ``pytestmark``.
IGNORE_TORCH_ARRAY_WARNING = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
