"""The same small CNN trained a few steps with each optimizer on the numpy and the reference backend
(identical initial weights via set_weights) ends with the same weights within float32 tolerance."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import optimizers

OPTIMIZERS = {
    "sgd": ("SGD", dict(learning_rate=0.05)),
    "sgd_nesterov": ("SGD", dict(learning_rate=0.05, momentum=0.9, nesterov=True)),
    "adam": ("Adam", dict(learning_rate=0.01)),
    "adamw": ("AdamW", dict(learning_rate=0.01)),
    "rmsprop": ("RMSprop", dict(learning_rate=0.005)),
    "adagrad": ("Adagrad", dict(learning_rate=0.05)),
    "adadelta": ("Adadelta", dict(learning_rate=1.0)),
    "adamax": ("Adamax", dict(learning_rate=0.01)),
    "nadam": ("Nadam", dict(learning_rate=0.01)),
}


def train(backend, name, mk, initial=None):
    cls, kwargs = OPTIMIZERS[name]
    x, y = mk.images(n=8, size=6, channels=1, classes=3)
    with gf.use_backend(backend):
        model = mk.small_cnn(size=6, channels=1, classes=3, filters=2)
        if initial is not None:
            model.set_weights(initial)
        start = model.get_weights()
        model.compile(optimizer=getattr(optimizers, cls)(**kwargs), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
        return start, model.get_weights(), hist.history


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_numpy_and_reference_backends_agree(mk, name):
    start, ref, ref_hist = train("reference", name, mk)
    assert all(w.dtype == np.float64 for w in ref)
    _, fast, fast_hist = train("numpy", name, mk, initial=start)
    assert all(w.dtype == np.float32 for w in fast)
    moved = np.concatenate([(a - b).ravel() for a, b in zip(ref, start)])
    assert np.abs(moved).max() > 1e-3  # training really changed the weights
    for a, b in zip(fast, ref):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    np.testing.assert_allclose(fast_hist["loss"], ref_hist["loss"], rtol=1e-5)
    assert fast_hist["accuracy"] == ref_hist["accuracy"]
