"""``ops.image`` and the image augmentation layers run on the CuPy backend (the stand-in limited to
CuPy 14's API) and agree with NumPy: values, and the gradient of the differentiable ops."""
import numpy as np
import pytest

import gradflow as gf

IMG = np.random.default_rng(0).uniform(0, 1, size=(2, 6, 7, 3)).astype(np.float32)
T = np.array([[0.9, -0.2, 0.7, 0.25, 1.1, -0.3, 0, 0]] * 2, np.float32)
OPS = [
    ("affine_transform", lambda o, x: o.affine_transform(x, T, fill_mode="reflect")),
    ("perspective_transform", lambda o, x: o.perspective_transform(
        x, np.array([[0, 0], [6, 0], [0, 5], [6, 5]], np.float32),
        np.array([[0.3, 0.2], [5.6, 0.4], [0.1, 4.7], [6.2, 5.1]], np.float32))),
    ("gaussian_blur", lambda o, x: o.gaussian_blur(x, (3, 3), (0.8, 0.8))),
    ("sobel_edges", lambda o, x: o.sobel_edges(x)),
    ("rgb_to_hsv", lambda o, x: o.rgb_to_hsv(x)), ("hsv_to_rgb", lambda o, x: o.hsv_to_rgb(x)),
    ("rgb_to_grayscale", lambda o, x: o.rgb_to_grayscale(x)),
    ("extract_patches", lambda o, x: o.extract_patches(x, 2, strides=1, padding="same")),
    ("scale_and_translate", lambda o, x: o.scale_and_translate(x, (2, 4, 9, 3), np.array([0.7, 1.3], np.float32),
                                                              np.zeros(2, np.float32), (1, 2), "lanczos3")),
    ("ssim", lambda o, x: o.ssim(x, x[::-1], filter_size=3)),
    ("resize", lambda o, x: o.resize(x, (4, 9), interpolation="area")),
    ("pad_crop", lambda o, x: o.crop_images(o.pad_images(x, 1, 2, 0, 1), 1, 0, 2, 1)),
]


@pytest.mark.parametrize("name,fn", OPS, ids=[o[0] for o in OPS])
def test_image_ops_on_the_cupy_backend(cupy_standin, name, fn):
    ref = gf.Tensor(IMG, requires_grad=True)
    y_ref = fn(gf.ops.image, ref)
    y_ref.sum().backward()
    with gf.use_backend("cupy"):
        import cupy

        t = gf.Tensor(cupy.asarray(IMG), requires_grad=True)
        y = fn(gf.ops.image, t)
        y.sum().backward()
        np.testing.assert_allclose(cupy.asnumpy(y.data), y_ref.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(cupy.asnumpy(t.grad.data), ref.grad.numpy(), rtol=1e-4, atol=1e-4)


LAYERS = [("RandomShear", {"x_factor": 0.3}), ("RandomHue", {"factor": 0.3}), ("Equalization", {}),
          ("ContrastLimitedAdaptiveHistogramEqualization", {"tile_grid_size": (2, 2)}), ("RandAugment", {}),
          ("CutMix", {}), ("RandomElasticTransform", {})]


@pytest.mark.parametrize("name,kwargs", LAYERS, ids=[r[0] for r in LAYERS])
def test_image_layers_on_the_cupy_backend(cupy_standin, name, kwargs):
    x = IMG * 255
    cls = getattr(gf.layers, name)
    seed = {} if name in ("Equalization", "ContrastLimitedAdaptiveHistogramEqualization") else {"seed": 3}
    want = cls(**seed, **kwargs)(x).numpy()
    with gf.use_backend("cupy"):
        import cupy

        got = cls(**seed, **kwargs)(gf.Tensor(cupy.asarray(x)))
        assert isinstance(got.data, cupy.ndarray)
        np.testing.assert_allclose(cupy.asnumpy(got.data), want, rtol=1e-4, atol=1e-3)
