"""Pooling layers against plain NumPy loops (forward and backward), the reference backend, gradcheck."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L


def pool_numpy(x, pool, strides, padding, kind, g):
    """Keras max/average pooling (padded cells neither win nor count) and its input gradient."""
    n, h, w, c = x.shape
    (kh, kw), (sh, sw) = pool, strides
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        top = max((oh - 1) * sh + kh - h, 0) // 2
        left = max((ow - 1) * sw + kw - w, 0) // 2
    else:
        oh, ow, top, left = (h - kh) // sh + 1, (w - kw) // sw + 1, 0, 0
    y, dx = np.zeros((n, oh, ow, c)), np.zeros_like(x)
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * sh - top, j * sw - left
            rs, cs = slice(max(r0, 0), min(r0 + kh, h)), slice(max(c0, 0), min(c0 + kw, w))
            win = x[:, rs, cs, :]
            if kind == "max":
                y[:, i, j] = win.max((1, 2))
                flat = win.reshape(n, -1, c)
                idx = flat.argmax(1)
                onehot = np.zeros_like(flat)
                np.put_along_axis(onehot, idx[:, None, :], 1.0, axis=1)
                dx[:, rs, cs, :] += onehot.reshape(win.shape) * g[:, i, j][:, None, None, :]
            else:
                y[:, i, j] = win.mean((1, 2))
                dx[:, rs, cs, :] += g[:, i, j][:, None, None, :] / (win.shape[1] * win.shape[2])
    return y, dx


CASES = [  # x shape, pool, strides, padding
    ((1, 6, 6, 2), (2, 2), None, "valid"),
    ((2, 7, 5, 3), (3, 2), None, "valid"),       # non-square, leftover rows/cols dropped
    ((2, 7, 5, 3), (2, 2), (3, 3), "valid"),     # stride > pool
    ((2, 7, 5, 1), (2, 2), None, "same"),        # odd sizes, pad bottom/right
    ((1, 6, 7, 2), (3, 3), (2, 2), "same"),
    ((2, 5, 5, 2), (4, 2), (1, 1), "same"),      # even pool, stride 1
]


@pytest.mark.parametrize("cls,kind", [(L.MaxPooling2D, "max"), (L.AveragePooling2D, "avg")])
@pytest.mark.parametrize("shape,pool,strides,padding", CASES)
def test_pooling_vs_numpy(helpers, rng, cls, kind, shape, pool, strides, padding):
    x = rng.standard_normal(shape)
    layer, y, dx, _ = helpers.run_layer("reference", lambda: cls(pool, strides, padding), x)
    g = np.random.default_rng(9876).standard_normal(y.shape)
    y_ref, dx_ref = pool_numpy(x, pool, strides or pool, padding, kind, g)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + y_ref.shape[1:]
    np.testing.assert_allclose(y, y_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [L.MaxPooling2D, L.AveragePooling2D])
@pytest.mark.parametrize("shape,pool,strides,padding", CASES[2:5])
def test_pooling_numpy_backend_matches_reference(helpers, rng, cls, shape, pool, strides, padding):
    helpers.check_parity(lambda: cls(pool, strides, padding), rng.standard_normal(shape))


@pytest.mark.parametrize("cls", [L.MaxPooling2D, L.AveragePooling2D])
def test_pooling_gradcheck(helpers, rng, cls):
    helpers.gradcheck_layer(lambda: cls(2, 2, "same"), rng.standard_normal((1, 3, 5, 2)))


def test_pooling_channels_first(rng):
    x = rng.standard_normal((2, 3, 6, 5))
    with gf.use_backend("reference"):
        y = L.MaxPooling2D(2, data_format="channels_first")(x).numpy()
        y_last = L.MaxPooling2D(2)(np.transpose(x, (0, 2, 3, 1))).numpy()
    assert y.shape == (2, 3, 3, 2)
    np.testing.assert_array_equal(np.transpose(y, (0, 2, 3, 1)), y_last)


def test_pooling_defaults_and_aliases():
    layer = L.MaxPool2D()
    assert isinstance(layer, L.MaxPooling2D) and layer.name == "max_pooling2d"
    assert layer.pool_size == (2, 2) and layer.strides == (2, 2) and layer.padding == "valid"
    assert L.AvgPool2D is L.AveragePooling2D
    assert L.layer_class("MaxPool2D") is L.MaxPooling2D and L.layer_class("AvgPool2D") is L.AveragePooling2D
    assert L.MaxPooling2D(3, strides=1).compute_output_shape((None, 5, None, 4)) == (None, 3, None, 4)
    assert L.AveragePooling2D(2, padding="same").compute_output_shape((None, 5, 5, 1)) == (None, 3, 3, 1)


@pytest.mark.parametrize("cls,reduce", [(L.GlobalAveragePooling2D, np.mean), (L.GlobalMaxPooling2D, np.max)])
def test_global_pooling(helpers, rng, cls, reduce):
    x = rng.standard_normal((2, 3, 4, 5))
    layer, y, dx, _ = helpers.run_layer("reference", cls, x, grad_out=np.ones((2, 5)))
    np.testing.assert_allclose(y, reduce(x, axis=(1, 2)), rtol=1e-12)
    assert layer.compute_output_shape((None, 3, 4, 5)) == (None, 5)
    expected_dx = np.full_like(x, 1 / 12) if reduce is np.mean else (x == x.max((1, 2), keepdims=True)) * 1.0
    np.testing.assert_allclose(dx, expected_dx, rtol=1e-12)
    keep = cls(keepdims=True)
    assert keep.compute_output_shape((None, 3, 4, 5)) == (None, 1, 1, 5)
    with gf.use_backend("reference"):
        assert keep(x).shape == (2, 1, 1, 5)
        first = cls(data_format="channels_first")
        assert first.compute_output_shape((None, 5, 3, 4)) == (None, 5)
        np.testing.assert_allclose(first(np.transpose(x, (0, 3, 1, 2))).numpy(), y, rtol=1e-12)
    helpers.check_parity(cls, x)
    helpers.gradcheck_layer(cls, rng.standard_normal((1, 2, 3, 2)))
