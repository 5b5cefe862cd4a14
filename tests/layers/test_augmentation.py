"""Augmentation layers: identity in inference, Keras factor conventions in training, seeding."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L

LAYERS = [
    lambda **kw: L.RandomFlip(**kw),
    lambda **kw: L.RandomTranslation(0.2, 0.3, **kw),
    lambda **kw: L.RandomRotation(0.1, **kw),
    lambda **kw: L.RandomZoom(0.2, **kw),
    lambda **kw: L.RandomZoom((-0.3, 0.1), (0.1, 0.2), fill_mode="constant", interpolation="nearest", **kw),
    lambda **kw: L.RandomContrast(0.5, value_range=(0, 1), **kw),
    lambda **kw: L.RandomBrightness(0.3, value_range=(0, 1), **kw),
]


@pytest.mark.parametrize("make", LAYERS)
def test_identity_in_inference_and_shape_kept(make, rng):
    x = rng.random((3, 8, 6, 2)).astype(np.float32)
    layer = make()
    xt = gf.Tensor(x)
    assert layer(xt, training=False) is xt
    assert not np.allclose(layer(xt).numpy(), x)  # Keras 3: called on its own, an augmentation layer augments
    y = layer(x, training=True)
    assert y.shape == x.shape and y.dtype == x.dtype and not y.requires_grad
    assert layer.compute_output_shape((None, 8, 6, 2)) == (None, 8, 6, 2)


@pytest.mark.parametrize("make", LAYERS)
def test_seeded_layers_repeat(make, rng):
    x = rng.random((4, 7, 7, 1)).astype(np.float32)
    a, b = make(seed=11), make(seed=11)
    np.testing.assert_array_equal(a(x, training=True).numpy(), b(x, training=True).numpy())


def test_flip_content():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4, 1)
    y = L.RandomFlip("horizontal", seed=0)(np.repeat(x, 8, axis=0), training=True).numpy()
    for img, src in zip(y, np.repeat(x, 8, axis=0)):
        assert np.array_equal(img, src) or np.array_equal(img, src[:, ::-1])
    flipped = [not np.array_equal(img, src) for img, src in zip(y, np.repeat(x, 8, axis=0))]
    assert any(flipped) and not all(flipped)


def test_rotation_and_translation_change_content(rng):
    x = rng.random((2, 9, 9, 3)).astype(np.float32)
    assert not np.allclose(L.RandomRotation(0.25, seed=1)(x, training=True).numpy(), x)
    assert not np.allclose(L.RandomTranslation(0.3, 0.3, seed=1)(x, training=True).numpy(), x)


def test_zoom_out_shrinks_content():
    """A positive factor zooms out (Keras): a centred square gets smaller."""
    x = np.zeros((1, 21, 21, 1), np.float32)
    x[0, 5:16, 5:16] = 1.0
    y = L.RandomZoom((0.9, 0.9), fill_mode="constant", seed=0)(x, training=True).numpy()
    assert 0 < y.sum() < x.sum() / 2


def test_channels_first(rng):
    x = rng.random((2, 3, 5, 5)).astype(np.float32)
    y = L.RandomFlip("vertical", seed=4, data_format="channels_first")(x, training=True).numpy()
    ref = L.RandomFlip("vertical", seed=4)(np.transpose(x, (0, 2, 3, 1)), training=True).numpy()
    np.testing.assert_array_equal(y, np.transpose(ref, (0, 3, 1, 2)))


def test_random_contrast_and_brightness_follow_keras_rules(rng):
    x = rng.random((6, 5, 4, 3)).astype(np.float32) * 255
    y = L.RandomContrast(0.5, seed=3)(x).numpy()
    assert np.allclose(y.mean(axis=(1, 2)), np.clip(y, 0, 255).mean(axis=(1, 2)))
    ratio = (y - x.mean(axis=(1, 2), keepdims=True)).std(axis=(1, 2)) / x.std(axis=(1, 2))
    assert np.all(ratio > 0.49) and np.all(ratio < 1.51) and ratio.std() > 0.01  # one factor in [0.5, 1.5] per image
    b = L.RandomBrightness((0.1, 0.2), seed=1)(np.full((4, 3, 3, 1), 100.0, np.float32)).numpy()
    shifts = b[:, 0, 0, 0] - 100.0
    assert np.all(shifts >= 0.1 * 255 - 1e-3) and np.all(shifts <= 0.2 * 255 + 1e-3)
    assert L.RandomBrightness(0.9, seed=0)(np.full((2, 2, 2, 1), 250.0, np.float32)).numpy().max() <= 255.0
