"""Port of keras-io ``examples/keras_recipes/endpoint_layer_pattern.py`` ("Endpoint layer pattern",
Keras 3 edition): a layer that receives the targets and sample weights as inputs, adds its loss with
``add_loss`` and owns a ``BinaryAccuracy`` metric it updates in ``call``; a functional model trained with
``fit(data)`` (no ``y``), an inference model without the targets sharing its weights, and a subclassed
model that calls the layer with its first input by keyword (``logits=...``).

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). Substitutions: ``tf.nn.softmax`` -> ``ops.softmax``; ``add_metric(...)`` ->
the Keras 3 spelling ``self.accuracy_fn.update_state(...)``; 1000 samples of 764 features -> 256 of 32;
the random targets -> learnable ones (the sign of a fixed projection) from a seeded generator; ``fit``
runs silently with ``shuffle=False`` where the two frameworks are compared.

Compared with Keras on the same weights: the histories of both models (``loss`` and the layer's
``accuracy``) and the inference model's predictions.
"""
import numpy as np
import pytest

import gradflow as keras

from .conftest import IGNORE_TORCH_ARRAY_WARNING

# the example's softmax over a single logit is always 1, and Keras says so on every batch
pytestmark = [IGNORE_TORCH_ARRAY_WARNING, pytest.mark.filterwarnings("ignore:You are using a softmax over axis -1")]

n, features = 256, 32  # the example: 1000, 764


def layer_classes(k):
    class LogisticEndpoint(k.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = k.losses.BinaryCrossentropy(from_logits=True)
            self.accuracy_fn = k.metrics.BinaryAccuracy(name="accuracy")

        def call(self, logits, targets=None, sample_weight=None):
            if targets is not None:
                # Compute the training-time loss value and add it to the layer using `self.add_loss()`.
                loss = self.loss_fn(targets, logits, sample_weight)
                self.add_loss(loss)
                # Log the accuracy as a metric (there could be different ones for training and inference).
                self.accuracy_fn.update_state(targets, logits, sample_weight)
            # Return the inference-time prediction tensor (for `.predict()`).
            return k.ops.softmax(logits)

    class LogReg(k.Model):
        def __init__(self):
            super().__init__()
            self.dense = k.layers.Dense(1)
            self.logistic_endpoint = LogisticEndpoint()

        def call(self, inputs):
            # All inputs are in the first argument, so that `model.fit(inputs)` works.
            logits = self.dense(inputs["inputs"])
            preds = self.logistic_endpoint(
                logits=logits,
                targets=inputs["targets"],
                sample_weight=inputs["sample_weight"],
            )
            return preds

    return LogisticEndpoint, LogReg


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, features)).astype("float32")
    w = rng.normal(size=(features, 1)).astype("float32")
    return {
        "inputs": x,
        "targets": ((x - 0.5) @ w > 0).astype("float32"),
        "sample_weight": rng.random((n, 1)).astype("float32"),
    }


def functional_models(k):
    LogisticEndpoint, _ = layer_classes(k)
    inputs = k.Input((features,), name="inputs")
    logits = k.layers.Dense(1)(inputs)
    targets = k.Input((1,), name="targets")
    sample_weight = k.Input((1,), name="sample_weight")
    preds = LogisticEndpoint()(logits, targets, sample_weight)
    model = k.Model([inputs, targets, sample_weight], preds)

    # An inference-only model: no `targets`; the weights stay the same.
    inputs = k.Input((features,), name="inputs")
    logits = k.layers.Dense(1)(inputs)
    preds = LogisticEndpoint()(logits, targets=None, sample_weight=None)
    inference_model = k.Model(inputs, preds)
    return model, inference_model


def run_program(k, shuffle=True, weights=None):
    data = make_data()
    model, inference_model = functional_models(k)
    if weights is not None:
        model.set_weights(weights[0])
    start = model.get_weights()
    model.compile(k.optimizers.Adam(1e-2))
    h1 = model.fit(data, epochs=2, verbose=0, shuffle=shuffle).history

    inference_model.set_weights(model.get_weights())
    preds = inference_model.predict(make_data(seed=1)["inputs"], verbose=0)
    assert preds.shape == (n, 1)
    np.testing.assert_allclose(preds, 1.0, rtol=1e-6)  # a softmax over one logit

    _, LogReg = layer_classes(k)
    model = LogReg()
    if weights is not None:
        model(data)
        model.set_weights(weights[1])
    model(data)
    start_sub = model.get_weights()
    model.compile(k.optimizers.Adam(1e-2))
    h2 = model.fit(data, epochs=2, verbose=0, shuffle=shuffle).history
    return (start, start_sub), h1, h2


def test_endpoint_layer_pattern():
    _, h1, h2 = run_program(keras)
    for h in (h1, h2):
        assert set(h) == {"loss", "accuracy"}
        assert h["loss"][1] < h["loss"][0]
        assert 0.0 <= h["accuracy"][1] <= 1.0


def test_the_program_runs_on_real_keras(real_keras):
    _, h1, h2 = run_program(real_keras)
    for h in (h1, h2):
        assert set(h) == {"loss", "accuracy"}
        assert h["loss"][1] < h["loss"][0]


def test_same_as_keras(real_keras):
    weights, hk1, hk2 = run_program(real_keras, shuffle=False)
    _, hg1, hg2 = run_program(keras, shuffle=False, weights=weights)
    for hk, hg in ((hk1, hg1), (hk2, hg2)):
        assert set(hg) == set(hk)
        for key in hk:
            np.testing.assert_allclose(hg[key], hk[key], rtol=1e-4, atol=1e-6, err_msg=key)
