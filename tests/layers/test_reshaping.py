"""Flatten, Reshape and UpSampling2D: shapes, values and gradients."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L


def test_flatten(helpers, rng):
    x = rng.standard_normal((2, 3, 4, 5))
    layer, y, dx, _ = helpers.run_layer("reference", L.Flatten, x, grad_out=np.arange(120.0).reshape(2, 60))
    np.testing.assert_array_equal(y, x.reshape(2, -1))
    np.testing.assert_array_equal(dx, np.arange(120.0).reshape(x.shape))
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 60)
    assert layer.compute_output_shape((None, None, 4)) == (None, None)
    with gf.use_backend("reference"):
        first = L.Flatten(data_format="channels_first")(x).numpy()
    np.testing.assert_array_equal(first, np.transpose(x, (0, 2, 3, 1)).reshape(2, -1))
    helpers.check_parity(L.Flatten, x)


def test_reshape(helpers, rng):
    x = rng.standard_normal((2, 12))
    layer, y, dx, _ = helpers.run_layer("reference", lambda: L.Reshape((3, -1)), x, grad_out=np.ones((2, 3, 4)))
    np.testing.assert_array_equal(y, x.reshape(2, 3, 4))
    np.testing.assert_array_equal(dx, np.ones_like(x))
    assert layer.compute_output_shape((None, 12)) == (None, 3, 4)
    assert L.Reshape((2, 2, 3)).compute_output_shape((None, 3, 4)) == (None, 2, 2, 3)
    assert L.Reshape((-1, 2)).compute_output_shape((None, None)) == (None, None, 2)


def test_upsampling_nearest(helpers, rng):
    x = rng.standard_normal((2, 3, 2, 4))
    layer, y, dx, _ = helpers.run_layer("reference", lambda: L.UpSampling2D((2, 3)), x)
    np.testing.assert_array_equal(y, x.repeat(2, axis=1).repeat(3, axis=2))
    g = np.random.default_rng(9876).standard_normal(y.shape)
    np.testing.assert_allclose(dx, g.reshape(2, 3, 2, 2, 3, 4).sum((2, 4)), rtol=1e-12)
    assert layer.compute_output_shape((None, 3, None, 4)) == (None, 6, None, 4)
    assert L.UpSampling2D(data_format="channels_first").compute_output_shape((None, 4, 3, 2)) == (None, 4, 6, 4)
    helpers.check_parity(lambda: L.UpSampling2D(2), x)


def test_upsampling_bilinear_half_pixel():
    """Half-pixel centres with edge clamping (TF/Keras resize): [0, 1] -> [0, .25, .75, 1]."""
    x = np.array([0.0, 1.0]).reshape(1, 2, 1, 1)
    with gf.use_backend("reference"):
        y = L.UpSampling2D((2, 1), interpolation="bilinear")(x).numpy()
    np.testing.assert_allclose(y.reshape(-1), [0.0, 0.25, 0.75, 1.0])


def test_upsampling_bilinear_vs_torch(helpers, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 3, 4, 2))
    layer, y, dx, _ = helpers.run_layer("reference", lambda: L.UpSampling2D((2, 3), interpolation="bilinear"), x)
    xt = torch.tensor(np.transpose(x, (0, 3, 1, 2)), requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, scale_factor=(2, 3), mode="bilinear", align_corners=False)
    g = np.random.default_rng(9876).standard_normal(y.shape)
    (yt * torch.tensor(np.transpose(g, (0, 3, 1, 2)))).sum().backward()
    np.testing.assert_allclose(y, np.transpose(yt.detach().numpy(), (0, 2, 3, 1)), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dx, np.transpose(xt.grad.numpy(), (0, 2, 3, 1)), rtol=1e-10, atol=1e-12)


def test_upsampling_gradcheck(helpers, rng):
    helpers.gradcheck_layer(lambda: L.UpSampling2D(2, interpolation="bilinear"), rng.standard_normal((1, 2, 3, 2)))
    helpers.gradcheck_layer(lambda: L.UpSampling2D((1, 2)), rng.standard_normal((1, 2, 2, 1)))
