"""The noise and spatial-dropout layers (Keras 3 regularization layers): what their random training calls
draw (tests/keras_cases/layers.py compares everything else with Keras, where only shapes and dtypes of a
random call can be compared)."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_gaussian_noise_and_dropout_statistics():
    x = np.ones((200, 100), "float32")
    noisy = L.GaussianNoise(0.5, seed=1)(x, training=True).numpy()
    assert noisy.dtype == np.float32 and abs(noisy.mean() - 1) < 0.02 and abs(noisy.std() - 0.5) < 0.02
    dropped = L.GaussianDropout(0.2, seed=1)(x, training=True).numpy()
    assert abs(dropped.mean() - 1) < 0.02 and abs(dropped.std() - np.sqrt(0.2 / 0.8)) < 0.02
    for layer in (L.GaussianNoise(0.5), L.GaussianDropout(0.2), L.AlphaDropout(0.2), L.SpatialDropout1D(0.5)):
        np.testing.assert_array_equal(layer(_x((2, 3, 4))).numpy(), _x((2, 3, 4)))  # inference: identity


def test_alpha_dropout_keeps_mean_and_variance():
    x = _x((400, 200))
    y = L.AlphaDropout(0.3, seed=2)(x, training=True).numpy()
    assert abs(y.mean()) < 0.05 and abs(y.std() - 1) < 0.05
    shared = L.AlphaDropout(0.3, noise_shape=(None, 1), seed=2)(x, training=True).numpy()
    alpha_p = -1.6732632423543772 * 1.0507009873554805
    a = ((1 - 0.3) * (1 + 0.3 * alpha_p ** 2)) ** -0.5
    dropped = np.isclose(shared, a * alpha_p - a * alpha_p * 0.3)  # a dropped unit's value
    assert np.all(dropped == dropped[:, :1]) and 0.1 < dropped.mean() < 0.5  # one draw per row
    assert L.AlphaDropout(0.3, seed=5)(x, training=True).numpy().tolist() == \
        L.AlphaDropout(0.3, seed=5)(x, training=True).numpy().tolist()


@pytest.mark.parametrize("cls,shape,spatial,fmt", [
    (L.SpatialDropout1D, (4, 6, 8), (1,), None),
    (L.SpatialDropout2D, (4, 5, 6, 8), (1, 2), "channels_last"),
    (L.SpatialDropout2D, (4, 8, 5, 6), (2, 3), "channels_first"),
    (L.SpatialDropout3D, (4, 3, 4, 5, 8), (1, 2, 3), None),
])
def test_spatial_dropout_drops_whole_channels(cls, shape, spatial, fmt):
    x = np.abs(_x(shape)) + 0.1
    layer = cls(0.5, seed=3) if fmt is None else cls(0.5, data_format=fmt, seed=3)
    y = layer(x, training=True).numpy()
    kept = y != 0
    assert np.all(kept == kept.max(axis=spatial, keepdims=True))  # a channel is kept or dropped whole
    assert 0.2 < kept.mean() < 0.8
    np.testing.assert_allclose(y[kept], x[kept] * 2, rtol=1e-6)
    with pytest.raises(ValueError, match="expected ndim"):
        layer(np.zeros((2,) * (len(shape) + 1), "float32"))


def test_activity_regularization_adds_its_loss_in_a_model():
    x = _x((4, 3))
    inp = gf.Input((3,))
    model = gf.Model(inp, L.ActivityRegularization(l1=0.1, l2=0.01)(L.Dense(2, kernel_initializer="ones")(inp)))
    out = model(x)
    expected = (0.1 * np.abs(out.numpy()).sum() + 0.01 * (out.numpy() ** 2).sum()) / 4
    assert len(model.losses) == 1
    np.testing.assert_allclose(float(model.losses[0].numpy()), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        L.GaussianNoise(1.5)


def test_attention_in_a_functional_model_takes_the_embedding_mask():
    ids = np.array([[3, 4, 0, 0], [1, 2, 5, 0]])
    inp = gf.Input((4,), dtype="int64")
    h = L.Embedding(6, 3, mask_zero=True)(inp)
    out, scores = L.Attention()([h, h], return_attention_scores=True)
    model = gf.Model(inp, [out, scores])
    o, s = model(ids)
    assert o.shape == (2, 4, 3) and s.shape == (2, 4, 4)
    np.testing.assert_allclose(s.numpy()[0, :, 2:], 0, atol=1e-7)  # padded keys get no weight
    np.testing.assert_allclose(o.numpy()[0, 2:], 0)  # padded queries give zeros
