"""Keras 3's image augmentation layers and ``ops.image``: the differential cases of
tests/keras_cases/augment.py (deterministic settings against real Keras), and for the random draws,
which cannot match Keras's, invariants: shape, dtype, range, identity in inference, same seed -> same
output, and the rates the factors promise."""

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf
from gradflow.autograd import gradcheck

CASES = case_module("augment")


@pytest.mark.parametrize("name", CASES.IMAGE_NAMES)
def test_image_op_equals_keras(name, real_keras):
    CASES.image_op(real_keras, gf, name)


@pytest.mark.parametrize("name", CASES.LAYER_NAMES)
def test_image_layer_equals_keras(name, real_keras):
    CASES.image_layer(real_keras, gf, name)


X = np.random.default_rng(0).uniform(0, 255, size=(6, 12, 10, 3)).astype(np.float32)
RANDOM = [
    ("RandomColorDegeneration", {"factor": 0.8}), ("RandomGrayscale", {}), ("RandomHue", {"factor": 0.8}),
    ("RandomInvert", {}), ("RandomSaturation", {"factor": 0.8}), ("RandomPosterization", {"factor": (1, 8)}),
    ("RandomSharpness", {"factor": 0.9}), ("Solarization", {"addition_factor": 0.5, "threshold_factor": 0.5}),
    ("RandomColorJitter", {"brightness_factor": 0.3, "contrast_factor": 0.3, "saturation_factor": 0.5,
                           "hue_factor": 0.3}),
    ("RandomCrop", {"height": 7, "width": 8}), ("RandomErasing", {}), ("RandomGaussianBlur", {"sigma": (0.2, 1.0)}),
    ("RandomPerspective", {"scale": 0.5}), ("RandomShear", {"x_factor": 0.4, "y_factor": 0.4}),
    ("RandomElasticTransform", {"scale": 1.0}), ("MixUp", {}), ("CutMix", {}), ("RandAugment", {}),
    ("AugMix", {"num_chains": 2, "chain_depth": 2}),
    ("RandomFlip", {}), ("RandomRotation", {"factor": 0.2}), ("RandomZoom", {"height_factor": 0.3}),
    ("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.2}), ("RandomContrast", {"factor": 0.5}),
    ("RandomBrightness", {"factor": 0.3}),
]


@pytest.mark.parametrize("name,kwargs", RANDOM, ids=[r[0] for r in RANDOM])
def test_random_layer_invariants(name, kwargs):
    cls = getattr(gf.layers, name)
    a, b = cls(seed=11, **kwargs), cls(seed=11, **kwargs)
    ya, yb = a(X).numpy(), b(X).numpy()
    np.testing.assert_array_equal(ya, yb)  # same seed, same draws
    assert ya.dtype == np.float32
    if name == "RandomCrop":
        assert ya.shape == (6, 7, 8, 3)
    else:
        assert ya.shape == X.shape
        assert not np.allclose(ya, X)  # it did augment
    assert np.isfinite(ya).all()
    if name != "RandomSaturation":  # Keras clips its saturation to value_range, not to [0, 1]: RGB may leave it
        assert ya.min() >= -1e-3 and ya.max() <= 255 + 1e-3
    np.testing.assert_array_equal(a(X, training=False).numpy(), X)  # inference: the identity
    assert not np.array_equal(a(X).numpy(), ya)  # the generator advanced
    single = a(X[0]).numpy()
    assert single.shape == (ya.shape[1:] if name != "CutMix" else X.shape[1:])
    first = cls(seed=11, data_format="channels_first", **kwargs)(np.moveaxis(X, -1, 1)).numpy()
    assert first.shape[1] == 3 and np.isfinite(first).all()


def test_probabilities_follow_the_factor():
    x = np.random.default_rng(1).uniform(0, 255, size=(400, 4, 4, 3)).astype(np.float32)
    gray = gf.layers.RandomGrayscale(factor=0.3, seed=1)(x).numpy()
    rate = np.mean(np.all(np.isclose(gray[..., :1], gray), axis=(1, 2, 3)))
    assert abs(rate - 0.3) < 0.08
    inv = gf.layers.RandomInvert(seed=2)(x).numpy()  # factor (0, 1): P = E[U(0, 1)] = 1/2
    assert abs(np.mean(np.all(np.isclose(inv, 255 - x), axis=(1, 2, 3))) - 0.5) < 0.08
    erased = gf.layers.RandomErasing(factor=(0.5, 0.5), fill_value=0.0, seed=3)(x).numpy()
    assert abs(np.mean(np.any(erased != x, axis=(1, 2, 3))) - 0.5) < 0.1


def test_mixup_and_cutmix_mix_labels_by_the_image_weights():
    x = np.random.default_rng(4).uniform(0, 1, size=(8, 6, 6, 3)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
    for layer in (gf.layers.MixUp(alpha=0.5, seed=1), gf.layers.CutMix(seed=1)):
        out = layer({"images": x, "labels": labels})
        y = out["labels"].numpy()
        np.testing.assert_allclose(y.sum(-1), 1.0, rtol=1e-5)
        assert out["images"].shape == x.shape and (y >= 0).all()
        again = layer({"images": x, "labels": labels}, training=False)
        np.testing.assert_array_equal(again["labels"].numpy(), labels)


def test_layers_run_in_a_functional_model_and_save(tmp_path):
    inputs = gf.layers.Input((12, 10, 3))
    y = gf.layers.RandomShear(x_factor=0.2, seed=1)(inputs)
    y = gf.layers.RandomHue(0.2, seed=1)(y)
    y = gf.layers.Equalization()(y)
    model = gf.Model(inputs, gf.layers.GlobalAveragePooling2D()(y))
    np.testing.assert_allclose(model.predict(X, verbose=0), X.mean(axis=(1, 2)), rtol=1e-5)  # inference: identity
    path = tmp_path / "m.keras"
    model.save(path)
    again = gf.models.load_model(path)
    assert [type(layer).__name__ for layer in again.layers] == [type(layer).__name__ for layer in model.layers]


# -- ops.image: gradients against finite differences (float64) ------------------------------------
IMG = np.random.default_rng(5).uniform(0, 1, size=(2, 5, 6, 3))


@pytest.mark.parametrize("fn", [
    lambda t: gf.ops.image.affine_transform(t, np.array([[0.9, -0.2, 0.7, 0.25, 1.1, -0.3, 0, 0]] * 2),
                                            fill_mode="reflect"),
    lambda t: gf.ops.image.perspective_transform(t, np.array([[0, 0], [5, 0], [0, 4], [5, 4]], np.float64),
                                                 np.array([[0.3, 0.2], [4.6, 0.4], [0.1, 3.7], [5.2, 4.1]])),
    lambda t: gf.ops.image.map_coordinates(t[0, :, :, 0], np.random.default_rng(2).uniform(-1, 6, (2, 3, 4)), 1),
    lambda t: gf.ops.image.gaussian_blur(t, (3, 3), (0.8, 0.8)),
    lambda t: gf.ops.image.sobel_edges(t),
    lambda t: gf.ops.image.rgb_to_hsv(t + 0.01),
    lambda t: gf.ops.image.hsv_to_rgb(t),
    lambda t: gf.ops.image.rgb_to_grayscale(t),
    lambda t: gf.ops.image.extract_patches(t, 2, strides=1),
    lambda t: gf.ops.image.crop_images(gf.ops.image.pad_images(t, 1, 2, 0, 1), 1, 0, 2, 1),
], ids=["affine", "perspective", "map_coordinates", "gaussian_blur", "sobel", "rgb_to_hsv", "hsv_to_rgb",
        "grayscale", "extract_patches", "pad_crop"])
def test_image_ops_are_differentiable(fn):
    """(ssim's and scale_and_translate's gradients are compared with Keras's in the differential cases.)"""
    x = gf.Tensor(IMG, dtype=np.float64, requires_grad=True)
    assert gradcheck(fn, (x,))


def test_lanczos_resize_is_scale_and_translate():
    x = IMG.astype(np.float32)
    for method in ("lanczos3", "lanczos5"):
        for antialias in (False, True):
            got = gf.ops.image.resize(x, (3, 9), interpolation=method, antialias=antialias).numpy()
            want = gf.ops.image.scale_and_translate(x, (2, 3, 9, 3), np.array([3 / 5, 9 / 6], np.float32),
                                                    np.zeros(2, np.float32), (1, 2), method,
                                                    antialias=antialias).numpy()
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_elastic_transform_follows_its_seed():
    a = gf.ops.image.elastic_transform(IMG.astype(np.float32), alpha=3.0, sigma=1.0, seed=4).numpy()
    b = gf.ops.image.elastic_transform(IMG.astype(np.float32), alpha=3.0, sigma=1.0, seed=4).numpy()
    c = gf.ops.image.elastic_transform(IMG.astype(np.float32), alpha=3.0, sigma=1.0, seed=5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c) and a.dtype == np.float32


def test_area_resize_averages_the_covered_pixels():
    x = np.random.default_rng(3).normal(size=(2, 6, 9, 2)).astype(np.float32)
    got = gf.ops.image.resize(x, (3, 3), interpolation="area").numpy()
    np.testing.assert_allclose(got, x.reshape(2, 3, 2, 3, 3, 2).mean(axis=(2, 4)), rtol=1e-5, atol=1e-6)
    y = gf.layers.Resizing(4, 5, interpolation="area")(x)
    assert y.shape == (2, 4, 5, 2) and y.dtype == np.float32
