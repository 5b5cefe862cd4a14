"""The same programs on real Keras 3 and on gradflow give the same results.

Each model below is written once against a ``k`` module and built twice: ``k = keras`` (Keras 3 on
its PyTorch backend) and ``k = gradflow``, which is what "only the imports change" means. gradflow
takes Keras's initial weights with ``set_weights``, so the weight layouts must agree. Both then train
on the same data in the same order, and the histories (keys and values), the final weights and the
predictions are compared. The whole module skips where Keras or PyTorch is not installed.
"""
import os
import re

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is first imported
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover - a process that imported Keras with another backend
    pytest.skip(f"Keras runs on {keras.backend.backend()!r} here; these comparisons use its torch backend",
                allow_module_level=True)

import gradflow  # noqa: E402

from .conftest import class_images  # noqa: E402

# Keras on PyTorch 2.13 warns about torch's own __array__ on every conversion
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


def _twins(build, compile_kwargs, *args, optimizer=lambda k: k.optimizers.SGD(0.05, momentum=0.9)):
    """The Keras model and the gradflow model built by the same code, with Keras's initial weights.

    SGD by default: Adam's step is ``lr * m / sqrt(v)``, so on weights whose gradient is ~0 (a conv
    bias before batch norm) it turns float rounding into steps of ``lr``; SGD keeps rounding small."""
    km, gm = build(keras, *args), build(gradflow, *args)
    assert [tuple(w.shape) for w in gm.weights] == [tuple(w.shape) for w in km.weights]
    assert gm.count_params() == km.count_params()
    gm.set_weights(km.get_weights())
    for model, k in ((km, keras), (gm, gradflow)):
        model.compile(optimizer=optimizer(k), **compile_kwargs(k))
    return km, gm


def _close_histories(hk, hg, rtol):
    assert set(hg) == set(hk), (sorted(hg), sorted(hk))
    for key in hk:
        np.testing.assert_allclose(hg[key], hk[key], rtol=rtol, atol=1e-6, err_msg=key)


def _close_weights(km, gm, atol):
    for wk, wg, var in zip(km.get_weights(), gm.get_weights(), km.weights):
        np.testing.assert_allclose(wg, wk, atol=atol, err_msg=var.path)


def _footer(model) -> dict:
    """The parameter counts (and sizes) of ``summary()``'s footer lines."""
    lines = []
    model.summary(print_fn=lambda text, **kwargs: lines.append(text))
    found = re.findall(r"(Total|Trainable|Non-trainable|Optimizer) params: ([\d,]+) \(([\d.]+ \w+)\)", "\n".join(lines))
    return {label: (int(n.replace(",", "")), size) for label, n, size in found}


def mnist_convnet(k):
    """examples/vision/mnist_convnet.py (without its Dropout, whose masks the frameworks draw differently)."""
    return k.Sequential([
        k.Input(shape=(28, 28, 1)),
        k.layers.Conv2D(8, kernel_size=(3, 3), activation="relu"),
        k.layers.MaxPooling2D(pool_size=(2, 2)),
        k.layers.Conv2D(16, kernel_size=(3, 3), activation="relu"),
        k.layers.MaxPooling2D(pool_size=(2, 2)),
        k.layers.Flatten(),
        k.layers.Dense(10, activation="softmax"),
    ])


def test_mnist_convnet_trains_like_keras():
    x, y = class_images(256, seed=0)
    km, gm = _twins(mnist_convnet, lambda k: {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]},
                    optimizer=lambda k: k.optimizers.Adam(1e-3))  # the example's optimizer; no BN here
    fit = {"batch_size": 32, "epochs": 2, "shuffle": False, "verbose": 0, "validation_split": 0.25}
    _close_histories(km.fit(x, y, **fit).history, gm.fit(x, y, **fit).history, rtol=1e-4)
    _close_weights(km, gm, atol=1e-3)  # Adam: weights with ~0 gradient move by rounding (steps of lr=1e-3)
    assert _footer(gm) == _footer(km)  # with "Optimizer params" now that Adam is built
    xt, yt = class_images(64, seed=1)
    np.testing.assert_allclose(gm.predict(xt, verbose=0), km.predict(xt, verbose=0), atol=1e-5)
    ek, eg = km.evaluate(xt, yt, verbose=0, return_dict=True), gm.evaluate(xt, yt, verbose=0, return_dict=True)
    assert set(eg) == set(ek) and abs(eg["accuracy"] - ek["accuracy"]) < 1e-9


def ticket_model(k):
    """guides/functional_api.py, "Models with multiple inputs and outputs" (its Embedding/LSTM text
    branches as Dense, which gradflow does not have yet): two inputs, two named outputs."""
    title = k.Input(shape=(12,), name="title")
    body = k.Input(shape=(20,), name="body")
    tags = k.Input(shape=(6,), name="tags")
    x = k.layers.concatenate([k.layers.Dense(8, activation="relu")(title),
                              k.layers.Dense(8, activation="relu")(body), tags])
    priority = k.layers.Dense(1, name="priority")(x)
    department = k.layers.Dense(4, activation="softmax", name="department")(x)
    return k.Model(inputs=[title, body, tags], outputs={"priority": priority, "department": department})


def test_multi_input_multi_output_model_reports_and_trains_like_keras():
    rng = np.random.default_rng(0)
    n = 96
    data = {"title": rng.random((n, 12), dtype=np.float32), "body": rng.random((n, 20), dtype=np.float32),
            "tags": rng.integers(0, 2, (n, 6)).astype("float32")}
    targets = {"priority": rng.random((n, 1), dtype=np.float32),
               "department": rng.integers(0, 4, n).astype("int64")}

    def compiled(k):
        return {"loss": {"priority": k.losses.MeanSquaredError(),
                         "department": k.losses.SparseCategoricalCrossentropy()},
                "loss_weights": {"priority": 1.0, "department": 0.2},
                "metrics": {"priority": ["mae"], "department": ["accuracy"]}}

    km, gm = _twins(ticket_model, compiled)
    fit = {"batch_size": 16, "epochs": 2, "shuffle": False, "verbose": 0}
    hk, hg = km.fit(data, targets, **fit).history, gm.fit(data, targets, **fit).history
    assert {"loss", "priority_loss", "department_loss", "priority_mae", "department_accuracy"} <= set(hg)
    _close_histories(hk, hg, rtol=1e-4)
    _close_weights(km, gm, atol=1e-5)
    pk, pg = km.predict(data, verbose=0), gm.predict(data, verbose=0)
    assert isinstance(pg, dict) and set(pg) == set(pk)
    for name in pk:
        np.testing.assert_allclose(pg[name], pk[name], atol=1e-5)


def toy_resnet(k):
    """guides/functional_api.py, "A toy ResNet model" (BatchNormalization in place of its Dropout)."""
    inputs = k.Input(shape=(16, 16, 3), name="img")
    x = k.layers.Conv2D(8, 3, activation="relu")(inputs)
    x = k.layers.Conv2D(16, 3, activation="relu")(x)
    block_1_output = k.layers.MaxPooling2D(3)(x)
    x = k.layers.Conv2D(16, 3, activation="relu", padding="same")(block_1_output)
    x = k.layers.Conv2D(16, 3, activation="relu", padding="same")(x)
    block_2_output = k.layers.add([x, block_1_output])
    x = k.layers.Conv2D(16, 3, activation="relu")(block_2_output)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    x = k.layers.Dense(16, activation="relu")(x)
    outputs = k.layers.Dense(10)(x)
    return k.Model(inputs, outputs, name="toy_resnet")


def test_toy_resnet_trains_like_keras():
    x, y = class_images(128, shape=(16, 16, 3), seed=2)
    # a gentler step than the default: batch norm on batches of 32 amplifies float rounding (which kernel
    # the autotuner picks) at lr 0.05, and the two runs would drift apart by chance, not by a bug
    km, gm = _twins(toy_resnet, lambda k: {"loss": k.losses.SparseCategoricalCrossentropy(from_logits=True),
                                           "metrics": ["acc"]},
                    optimizer=lambda k: k.optimizers.SGD(0.01, momentum=0.9))
    fit = {"batch_size": 32, "epochs": 2, "shuffle": False, "verbose": 0}
    _close_histories(km.fit(x, y, **fit).history, gm.fit(x, y, **fit).history, rtol=1e-4)
    _close_weights(km, gm, atol=1e-5)  # batch-norm moving statistics included
    assert _footer(gm) == _footer(km)
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0), atol=1e-4)


def subclassed_mlp(k):
    """guides/making_new_layers_and_models_via_subclassing.py style: layers as attributes, one in a list."""

    class MLP(k.Model):
        def __init__(self):
            super().__init__()
            self.hidden = [k.layers.Dense(32, activation="relu"), k.layers.Dense(16, activation="relu")]
            self.norm = k.layers.BatchNormalization()
            self.head = k.layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            x = inputs
            for layer in self.hidden:
                x = layer(x)
            return self.head(self.norm(x, training=training))

    model = MLP()
    model(np.zeros((1, 10), "float32"))  # built by a first call, in both frameworks
    return model


def test_subclassed_model_trains_like_keras():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(120, 10)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0.5).astype("int64")
    km, gm = _twins(subclassed_mlp, lambda k: {"loss": "sparse_categorical_crossentropy",
                                               "metrics": ["accuracy"]})
    fit = {"batch_size": 24, "epochs": 3, "shuffle": False, "verbose": 0}
    _close_histories(km.fit(x, y, **fit).history, gm.fit(x, y, **fit).history, rtol=1e-4)
    _close_weights(km, gm, atol=1e-5)
