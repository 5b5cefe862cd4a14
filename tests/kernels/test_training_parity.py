"""Whole training runs agree across kernel implementations: the MNIST-style CNN (model A of the
CPU-kernel issue) and a batch-norm CNN (model B's blocks, with the fused BN + ReLU), five steps each
with GRADFLOW_KERNELS=numba, numpy and reference, end with the same weights within tolerance."""
import numpy as np
import pytest

import gradflow as gf
from gradflow.layers import Activation, BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from gradflow.models import Sequential
from gradflow.optimizers import SGD, Adam

KERNELS = ("numba", "numpy", "reference")


def _model_a():
    m = Sequential([Conv2D(32, 3, activation="relu", input_shape=(28, 28, 1)), MaxPooling2D(2),
                    Conv2D(64, 3, activation="relu"), MaxPooling2D(2), Flatten(), Dropout(0.5),
                    Dense(10, activation="softmax")])
    m.compile(optimizer=Adam(1e-3), loss="sparse_categorical_crossentropy")
    return m


def _model_b():
    layers = []
    for i, f in enumerate((32, 64)):
        kw = {"input_shape": (16, 16, 3)} if i == 0 else {}
        layers += [Conv2D(f, 3, padding="same", **kw), BatchNormalization(), Activation("relu"), MaxPooling2D(2)]
    m = Sequential(layers + [Flatten(), Dense(10, activation="softmax")])
    m.compile(optimizer=SGD(0.05, momentum=0.9), loss="sparse_categorical_crossentropy")
    return m


def _train(make, x, y, kernels):
    old = gf.config.kernels
    gf.config.kernels = kernels
    try:
        gf.utils.set_random_seed(7)  # same initial weights and dropout masks for every run
        model = make()
        init = [w.copy() for w in model.get_weights()]
        model.fit(x, y, batch_size=len(x) // 5, epochs=1, shuffle=False, verbose=0)  # five steps
        return init, model.get_weights()
    finally:
        gf.config.kernels = old


@pytest.mark.parametrize("make,shape", [(_model_a, (28, 28, 1)), (_model_b, (16, 16, 3))], ids=["A", "B"])
def test_five_training_steps_agree_across_kernel_implementations(make, shape):
    rng = np.random.default_rng(0)
    x = rng.random((5 * 24, *shape), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    runs = {k: _train(make, x, y, k) for k in KERNELS}
    init, ref = runs["reference"]
    for w0, w1 in zip(init, ref):
        if w0.ndim > 1:  # training moved every kernel: the comparison means something (a conv bias
            assert np.abs(w1 - w0).max() > 1e-3  # before batch norm gets a zero gradient, rightly)
    for name in ("numba", "numpy"):
        start, got = runs[name]
        for w0, a in zip(init, start):
            np.testing.assert_array_equal(w0, a)
        for a, b in zip(got, ref):
            scale = max(1.0, float(np.abs(b).max()))
            assert np.abs(a - b).max() < 2e-5 * scale, (name, float(np.abs(a - b).max()))
