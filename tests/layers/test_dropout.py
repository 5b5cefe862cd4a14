"""Dropout: inverted-dropout statistics in training, identity in inference, seeding, noise_shape."""
import numpy as np

import gradflow as gf
from gradflow import layers as L


def test_inference_is_identity(rng):
    x = rng.standard_normal((4, 5)).astype(np.float32)
    layer = L.Dropout(0.5)
    xt = gf.Tensor(x)
    assert layer(xt) is xt
    assert layer(xt, training=False) is xt
    assert L.Dropout(0.0)(xt, training=True) is xt


def test_training_statistics():
    rate = 0.3
    x = np.ones((200, 500), np.float32)
    y = L.Dropout(rate)(x, training=True).numpy()
    dropped = (y == 0).mean()
    assert abs(dropped - rate) < 0.01
    np.testing.assert_allclose(y[y != 0], 1 / (1 - rate), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.02  # expectation preserved


def test_gradient_is_the_mask(rng):
    x = gf.Tensor(rng.standard_normal((6, 7)).astype(np.float32), requires_grad=True)
    y = L.Dropout(0.4)(x, training=True)
    y.sum().backward()
    mask = y.numpy() / x.numpy()
    np.testing.assert_allclose(x.grad.numpy(), mask, rtol=1e-5)
    kept = np.isclose(mask, 1 / 0.6, rtol=1e-5)
    assert (kept | (mask == 0)).all()


def test_seeding_repeats():
    x = np.ones((10, 10), np.float32)
    gf.random.seed(7)
    a = L.Dropout(0.5)(x, training=True).numpy()
    gf.random.seed(7)
    b = L.Dropout(0.5)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    c1, c2 = L.Dropout(0.5, seed=3), L.Dropout(0.5, seed=3)
    np.testing.assert_array_equal(c1(x, training=True).numpy(), c2(x, training=True).numpy())
    assert not np.array_equal(c1(x, training=True).numpy(), c1(x, training=True).numpy())


def test_noise_shape_shares_mask():
    x = np.ones((4, 6, 3), np.float32)
    layer = L.Dropout(0.5, noise_shape=(None, 1, 3))
    y = layer(x, training=True).numpy()
    assert (y == y[:, :1, :]).all()
    assert layer.compute_output_shape((None, 6, 3)) == (None, 6, 3)


def test_dropout_on_reference_backend():
    with gf.use_backend("reference"):
        y = L.Dropout(0.25)(np.ones((50, 40)), training=True)
        assert y.dtype == np.float64
        assert abs((y.numpy() == 0).mean() - 0.25) < 0.03
