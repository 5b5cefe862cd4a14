"""Targets Keras accepts (issue 22): shapes that fill the output's ``None`` axes, and targets that
broadcast where Keras's elementwise losses broadcast them. fit/evaluate give Keras's losses on the same
weights; targets that truly do not fit still fail with the expected and the actual shape."""
import numpy as np
import pytest

import gradflow as gf
from gradflow.autograd.tensor import Tensor

RNG = np.random.default_rng(3)


def _both(real_keras, build, x, y, loss, metrics=()):
    """History and evaluate() of Keras and of gradflow for the same model, weights and data."""
    out = []
    weights = None
    for lib in (real_keras, gf):
        model = build(lib)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss, metrics=list(metrics))
        if weights is None:
            weights = model.get_weights()
        else:
            model.set_weights(weights)
        hist = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history
        out.append((hist, np.atleast_1d(model.evaluate(x, y, verbose=0))))
    (kh, ke), (gh, ge) = out
    assert sorted(kh) == sorted(gh)
    for key in kh:
        np.testing.assert_allclose(gh[key], kh[key], rtol=2e-5, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(ge, ke, rtol=2e-5, atol=1e-6)


def test_variable_time_axis_targets(real_keras):
    x = RNG.normal(size=(8, 42, 3)).astype(np.float32)
    y = RNG.normal(size=(8, 42, 40)).astype(np.float32)
    _both(real_keras, lambda k: k.Sequential([k.Input((None, 3)), k.layers.Dense(40)]), x, y, "mse", ["mae"])


def test_video_shaped_targets(real_keras):
    x = RNG.normal(size=(4, 19, 16, 16, 1)).astype(np.float32)
    y = RNG.normal(size=(4, 19, 16, 16, 1)).astype(np.float32)
    _both(real_keras, lambda k: k.Sequential([k.Input((None, 16, 16, 1)), k.layers.Dense(1)]), x, y,
          "mse")


def test_sparse_labels_for_a_variable_time_axis(real_keras):
    x = RNG.normal(size=(8, 7, 3)).astype(np.float32)
    y = RNG.integers(0, 5, (8, 7))
    _both(real_keras, lambda k: k.Sequential([k.Input((None, 3)), k.layers.Dense(5, activation="softmax")]),
          x, y, "sparse_categorical_crossentropy", ["accuracy"])


def test_functional_two_none_axes(real_keras):
    def build(k):
        inp = k.Input((None, None, 2))
        return k.Model(inp, k.layers.Dense(3)(inp))

    x = RNG.normal(size=(4, 5, 6, 2)).astype(np.float32)
    y = RNG.normal(size=(4, 5, 6, 3)).astype(np.float32)
    _both(real_keras, build, x, y, "mae")


@pytest.mark.parametrize("loss", ["mse", "mae", "huber", "log_cosh"])
def test_broadcasting_targets(real_keras, loss):
    x = RNG.normal(size=(8, 6)).astype(np.float32)
    y = RNG.normal(size=(8, 1)).astype(np.float32)
    _both(real_keras, lambda k: k.Sequential([k.Input((6,)), k.layers.Dense(5)]), x, y, loss)


def test_mean_squared_error_function_broadcasts_like_keras(real_keras):
    import torch

    p = RNG.normal(size=(4, 3, 5)).astype(np.float32)
    for t in (RNG.normal(size=(4, 3, 1)), RNG.normal(size=(4, 1, 5)), RNG.normal(size=(3, 5)), RNG.normal(size=(5,))):
        t = t.astype(np.float32)
        want = real_keras.losses.mean_squared_error(torch.tensor(t), torch.tensor(p)).numpy()
        got = gf.losses.mean_squared_error(t, Tensor(p)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)
        want = real_keras.losses.MeanSquaredError()(torch.tensor(t), torch.tensor(p)).numpy()
        np.testing.assert_allclose(gf.losses.MeanSquaredError()(t, Tensor(p)).numpy(), want, rtol=1e-6)
    with pytest.raises(ValueError, match=r"mean_squared_error: y_true of shape \(4, 2\).*y_pred of shape \(4, 3, 5\)"):
        gf.losses.mean_squared_error(np.zeros((4, 2)), Tensor(p))


def test_incompatible_targets_name_both_shapes():
    model = gf.Sequential([gf.Input((None, 3)), gf.layers.Dense(40)])
    model.compile("sgd", "mse")
    x = np.zeros((4, 42, 3), np.float32)
    with pytest.raises(ValueError, match=r"\(N, None, 40\).*\(None, None, 40\); got \(4, 42, 39\)"):
        model.fit(x, np.zeros((4, 42, 39), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"got \(4, 42\)"):
        model.evaluate(x, np.zeros((4, 42), np.float32), verbose=0)
    model = gf.Sequential([gf.Input((6,)), gf.layers.Dense(5)])
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match=r"\(N, 5\) for a model output of shape \(None, 5\); got \(4, 2\)"):
        model.fit(np.zeros((4, 6), np.float32), np.zeros((4, 2), np.float32), verbose=0)
