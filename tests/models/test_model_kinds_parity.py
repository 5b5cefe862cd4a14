"""The three model kinds are one model: Sequential, functional and subclassed forms of the same
CNN (model A: conv/ReLU/pool fusions and dropout; model B: conv -> BN -> ReLU -> pool blocks), from
the same initial weights, end five training steps with the same weights, under each kernel
implementation (GRADFLOW_KERNELS=numba, numpy, reference)."""
import numpy as np
import pytest

import gradflow as gf
import gradflow as keras
from gradflow import layers
from gradflow.optimizers import SGD, Adam

KERNELS = ("numba", "numpy", "reference")


def _stack_a():
    return [layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2), layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(2), layers.Flatten(), layers.Dropout(0.5), layers.Dense(10, activation="softmax")]


def _stack_b():
    out = []
    for f in (8, 16):
        out += [layers.Conv2D(f, 3, padding="same"), layers.BatchNormalization(), layers.Activation("relu"),
                layers.MaxPooling2D(2)]
    return out + [layers.Flatten(), layers.Dense(10, activation="softmax")]


class _Stack(keras.Model):
    """The subclassed form: the layers in a list attribute, a plain loop in call()."""

    def __init__(self, stack):
        super().__init__()
        self.blocks = stack

    def call(self, x, training=None):
        for layer in self.blocks:
            x = layer(x)  # training reaches Dropout/BatchNormalization through the call context
        return x


def _build(kind, stack, shape):
    if kind == "sequential":
        return keras.Sequential([keras.Input(shape=shape)] + stack)
    if kind == "functional":
        inp = keras.Input(shape=shape)
        x = inp
        for layer in stack:
            x = layer(x)
        return keras.Model(inp, x)
    model = _Stack(stack)
    model.build((None,) + shape)
    return model


def _train(kind, stack, shape, optimizer, init, x, y, kernels):
    old = gf.config.kernels
    gf.config.kernels = kernels
    try:
        model = _build(kind, stack(), shape)
        model.set_weights(init)
        model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy")
        gf.utils.set_random_seed(7)  # the same dropout masks in every run
        model.fit(x, y, batch_size=len(x) // 5, epochs=1, shuffle=False, verbose=0)  # five steps
        return model.get_weights()
    finally:
        gf.config.kernels = old


@pytest.mark.parametrize("stack,shape,optimizer", [
    (_stack_a, (16, 16, 1), lambda: Adam(1e-3)),
    (_stack_b, (12, 12, 3), lambda: SGD(0.05, momentum=0.9)),
], ids=["A", "B"])
def test_sequential_functional_and_subclassed_train_to_the_same_weights(stack, shape, optimizer):
    rng = np.random.default_rng(0)
    x = rng.random((5 * 8, *shape), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    gf.utils.set_random_seed(3)
    init = _build("sequential", stack(), shape).get_weights()
    ref = _train("sequential", stack, shape, optimizer, init, x, y, "reference")
    assert max(float(np.abs(a - b).max()) for a, b in zip(ref, init)) > 1e-3  # training moved the weights
    for kernels in KERNELS:
        for kind in ("sequential", "functional", "subclassed"):
            got = _train(kind, stack, shape, optimizer, init, x, y, kernels)
            assert len(got) == len(ref)
            for a, b in zip(got, ref):
                scale = max(1.0, float(np.abs(b).max()))
                assert np.abs(a - b).max() < 2e-5 * scale, (kernels, kind, float(np.abs(a - b).max()))
