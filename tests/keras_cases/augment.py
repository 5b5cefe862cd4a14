"""Differential cases for ``keras.ops.image`` and the image preprocessing/augmentation layers against
real Keras (torch backend): values, dtypes, shapes, gradients of the differentiable ops (Keras
through torch autograd), and for layers get_config/from_config and the deterministic settings (factor
0 or fixed ranges, inference mode); random draws cannot match Keras's, so those are checked by
invariants in tests/layers/test_augmentation_keras.py.

Loaded by path by tests/keras_coverage.py (``load_cases``)."""
import numpy as np
from keras_coverage import case

RNG = np.random.default_rng(23)
IMG = RNG.uniform(0, 1, size=(2, 7, 9, 3)).astype(np.float32)
IMG1 = RNG.uniform(0, 1, size=(6, 5, 3)).astype(np.float32)
U8 = RNG.integers(0, 256, size=(2, 6, 8, 3)).astype(np.uint8)
VOL = RNG.uniform(0, 1, size=(2, 6, 6, 6, 2)).astype(np.float32)
CF = {"data_format": "channels_first"}
CL = {"data_format": "channels_last"}
T_SHIFT = np.array([[1, 0.1, -1.3, 0.05, 1, 0.7, 0, 0]] * 2, np.float32)  # Keras needs one per image
T_NEAR = np.array([[0.93, -0.31, 1.17, 0.29, 0.87, -0.83, 0, 0]] * 2, np.float32)  # no .5 ties
T_ROT = np.array([[0.9, -0.3, 1.2, 0.3, 0.9, -0.8, 0, 0], [1.1, 0.0, -0.6, 0.0, 0.8, 0.4, 0, 0]], np.float32)
START = np.array([[0, 0], [8, 0], [0, 6], [8, 6]], np.float32)
END = np.array([[0.5, 0.3], [7.6, 0.8], [0.2, 5.4], [8.3, 5.7]], np.float32)
COORDS = RNG.uniform(-1.5, 7.5, size=(2, 4, 5)).astype(np.float32)

# (name, args, kwargs, differentiate the first argument)
IMAGE_OPS = [
    ("rgb_to_grayscale", (IMG,), {}, 1), ("rgb_to_grayscale", (np.moveaxis(IMG, -1, 1).copy(),), CF, 1),
    ("rgb_to_grayscale", (U8,), {}, 0), ("rgb_to_grayscale", (IMG[..., :1],), {}, 1),
    ("rgb_to_hsv", (IMG,), {}, 1), ("rgb_to_hsv", (np.moveaxis(IMG, -1, 1).copy(),), CF, 1),
    ("hsv_to_rgb", (IMG,), {}, 1), ("hsv_to_rgb", (IMG1 * 3 - 1,), {}, 1),
    ("crop_images", (IMG, 1, 2), {"target_height": 4, "target_width": 5}, 1),
    ("crop_images", (IMG1,), {"bottom_cropping": 2, "right_cropping": 1, "top_cropping": 1, "left_cropping": 0}, 1),
    ("pad_images", (IMG, 1, 2), {"target_height": 10, "target_width": 12}, 1),
    ("pad_images", (np.moveaxis(IMG, -1, 1).copy(),), {"bottom_padding": 2, "right_padding": 1, "top_padding": 0,
                                                        "left_padding": 3, **CF}, 1),
    ("extract_patches", (IMG, 3), {}, 1), ("extract_patches", (IMG, (2, 3)), {"strides": (1, 2), "padding": "same"}, 1),
    ("extract_patches", (IMG1, 2), {"strides": 1, "dilation_rate": 2}, 1),
    ("extract_patches", (np.moveaxis(IMG, -1, 1).copy(), 3), CF, 1),
    ("extract_patches_3d", (VOL, 2), {}, 1), ("extract_patches_3d", (VOL[0], (2, 3, 3)), {"strides": 2}, 1),
    ("gaussian_blur", (IMG,), CL, 1), ("gaussian_blur", (IMG,), {"kernel_size": (5, 5), "sigma": (1.5, 1.5), **CL}, 1),
    ("gaussian_blur", (np.moveaxis(IMG, -1, 1).copy(),), {"kernel_size": (3, 3), "sigma": (0.7, 0.7), **CF}, 1),
    ("sobel_edges", (IMG,), CL, 1), ("sobel_edges", (np.moveaxis(IMG, -1, 1).copy(),), CF, 1),
    ("ssim", (IMG, IMG[::-1] * 0.9), {"filter_size": 5}, 1), ("ssim", (IMG1, IMG1 ** 2), {"filter_size": 3}, 1),
    ("affine_transform", (IMG, T_SHIFT), {}, 1), ("affine_transform", (IMG, T_ROT), {"fill_mode": "reflect"}, 1),
    ("affine_transform", (IMG, T_NEAR), {"fill_mode": "wrap", "interpolation": "nearest"}, 1),
    ("affine_transform", (IMG, T_ROT), {"fill_mode": "mirror"}, 1),
    ("affine_transform", (IMG, T_ROT), {"fill_mode": "nearest", "fill_value": 0.5}, 1),
    ("affine_transform", (IMG, T_ROT), {"fill_value": 0.5}, 1),
    ("affine_transform", (np.moveaxis(IMG, -1, 1).copy(), T_SHIFT), CF, 1),
    ("perspective_transform", (IMG, START, END), {}, 1),
    ("perspective_transform", (IMG1, END, START), {"interpolation": "nearest", "fill_value": 0.25}, 1),
    ("map_coordinates", (IMG[0, :, :, 0], COORDS, 1), {}, 1),
    ("map_coordinates", (IMG[0, :, :, 0], COORDS, 0), {"fill_mode": "reflect"}, 1),
    ("map_coordinates", (IMG[0, :, :, 0], COORDS, 1), {"fill_mode": "mirror"}, 1),
    ("map_coordinates", (IMG[0, :, :, 0], COORDS, 1), {"fill_mode": "wrap", "fill_value": 2.0}, 1),
    ("map_coordinates", (IMG[0, :, :, 0], COORDS, 1), {"fill_value": 2.0}, 1),
    ("scale_and_translate", (IMG, (2, 4, 13, 3), np.array([0.6, 1.5], np.float32), np.array([0.3, -0.4], np.float32),
                             (1, 2), "bilinear"), {}, 1),
    ("scale_and_translate", (IMG, (2, 11, 5, 3), np.array([1.6, 0.55], np.float32), np.array([0.0, 0.5], np.float32),
                             (1, 2), "bicubic"), {"antialias": False}, 1),
    ("scale_and_translate", (IMG, (2, 5, 6, 3), np.array([0.7, 0.7], np.float32), np.array([0.0, 0.0], np.float32),
                             (1, 2), "lanczos3"), {}, 1),
    ("scale_and_translate", (U8, (2, 9, 6, 3), np.array([1.5, 0.75], np.float32), np.array([0.0, 0.0], np.float32),
                             (1, 2), "lanczos5"), {}, 0),
    ("elastic_transform", (IMG,), {"alpha": 0.0, "sigma": 1.0}, 1),
    ("elastic_transform", (IMG,), {"alpha": 0.0, "sigma": 1.0, "interpolation": "nearest"}, 1),
    ("resize", (IMG, (4, 5)), {}, 1), ("resize", (IMG, (13, 17)), {"interpolation": "bicubic", "antialias": True}, 1),
    ("resize", (IMG, (5, 6)), {"pad_to_aspect_ratio": True, "fill_value": 0.5}, 1),
]


def _torch_in(torch, a, grad):
    return torch.tensor(a, requires_grad=grad) if isinstance(a, np.ndarray) else a


def check_image_op(k, gf, row, rtol=1e-5, atol=1e-5):
    """One row: gradflow's ``ops.image.<name>`` equals Keras's in values, dtype and shape, and in the
    gradient of a weighted sum of the output with respect to the first argument."""
    import torch  # noqa: PLC0415 - Keras's gradient (torch backend)

    name, args, kwargs, grad = row
    got_in = [gf.Tensor(a, requires_grad=bool(grad) and i == 0) if isinstance(a, np.ndarray) and i == 0 else a
              for i, a in enumerate(args)]
    k_in = [_torch_in(torch, a, bool(grad) and i == 0) if i == 0 else a for i, a in enumerate(args)]
    got = getattr(gf.ops.image, name)(*got_in, **kwargs)
    want = getattr(k.ops.image, name)(*k_in, **kwargs)
    w_np = k.ops.convert_to_numpy(want)
    assert isinstance(got, gf.Tensor), type(got)
    assert got.shape == w_np.shape and got.dtype == w_np.dtype, (name, got.shape, w_np.shape, got.dtype, w_np.dtype)
    tol = 1 if w_np.dtype.kind in "iu" else atol
    np.testing.assert_allclose(got.numpy().astype(np.float64), w_np.astype(np.float64), rtol=rtol, atol=tol,
                               err_msg=f"{name} {kwargs}")
    if not grad:
        return
    weights = RNG.normal(size=w_np.shape).astype(np.float32)
    (got * gf.Tensor(weights)).sum().backward()
    (want * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(got_in[0].grad.numpy(), k_in[0].grad.numpy(), rtol=1e-4, atol=1e-4,
                               err_msg=f"gradient of {name} {kwargs}")


IMAGE_NAMES = sorted({row[0] for row in IMAGE_OPS})


@case("ops.image", *IMAGE_NAMES)
def image_op(k, gf, name):
    for row in IMAGE_OPS:
        if row[0] == name:
            check_image_op(k, gf, row)


# -- layers ----------------------------------------------------------------------------------------
IMG255 = (IMG * 255).astype(np.float32)
BIG = RNG.uniform(0, 255, size=(2, 16, 12, 3)).astype(np.float32)
_SKIP = {"name", "dtype", "trainable"}


def _plain(v):
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {a: _plain(b) for a, b in v.items()}
    return v


def check_layer(k, gf, name, kwargs, runs, seeded_config=True):
    """Configs equal Keras's (less name/dtype; ``seed`` too when Keras draws a default one), from_config
    round-trips, and each ``(inputs, training)`` of ``runs`` gives Keras's values, dtype and shape."""
    kl, gl = getattr(k.layers, name)(**kwargs), getattr(gf.layers, name)(**kwargs)
    kc, gc = kl.get_config(), gl.get_config()
    skip = _SKIP | (set() if seeded_config else {"seed"})
    assert set(kc) - _SKIP == set(gc) - _SKIP, (name, sorted(set(kc) ^ set(gc)))
    for key in set(kc) - skip:
        assert _plain(kc[key]) == _plain(gc[key]), (name, key, kc[key], gc[key])
    again = type(gl).from_config(gc).get_config()
    assert _plain({a: b for a, b in again.items() if a != "name"}) == _plain({a: b for a, b in gc.items()
                                                                             if a != "name"})
    for x, training in runs:
        want = kl(x, training=training)
        got = gl(x, training=training)
        if isinstance(want, dict):
            for key in want:
                _same(k, got[key], want[key], f"{name}[{key}]")
        else:
            _same(k, got, want, name)


def _same(k, got, want, what, atol=2e-4):
    if isinstance(want, dict):
        for key in want:
            _same(k, got[key], want[key], f"{what}.{key}")
        return
    w = k.ops.convert_to_numpy(want)
    g = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
    assert g.shape == w.shape, (what, g.shape, w.shape)
    assert g.dtype == w.dtype, (what, g.dtype, w.dtype)
    np.testing.assert_allclose(g.astype(np.float64), w.astype(np.float64), rtol=1e-4, atol=atol, err_msg=what)


CF_IMG = np.moveaxis(IMG255, -1, 1).copy()
# (layer, kwargs, [(inputs, training)]): deterministic settings (fixed factor ranges, inference)
LAYERS = [
    ("AutoContrast", {"value_range": (0, 1)}, [(IMG, True), (IMG, False), (IMG1, True)]),
    ("AutoContrast", {}, [(IMG255, True), (CF_IMG, True)]),
    ("Equalization", {}, [(IMG255, True), (IMG255, False)]),
    ("Equalization", {"value_range": (0, 1), "bins": 32}, [(IMG, True)]),
    ("ContrastLimitedAdaptiveHistogramEqualization", {"tile_grid_size": (2, 3)}, [(BIG, True), (BIG, False)]),
    ("ContrastLimitedAdaptiveHistogramEqualization", {"value_range": (0, 1), "clip_limit": 2.0,
                                                      "tile_grid_size": (3, 2)}, [(IMG, True)]),
    ("Solarization", {"value_range": (0, 1)}, [(IMG, True), (IMG, False)]),
    ("Solarization", {"addition_factor": 0.5, "threshold_factor": (0.2, 0.6), "seed": 1}, [(IMG255, False)]),
    ("RandomInvert", {"factor": (1.0, 1.0), "value_range": (0, 1)}, [(IMG, True), (IMG, False)]),
    ("RandomInvert", {"factor": 0.0, "seed": 3}, [(IMG255, True)]),
    ("RandomGrayscale", {"factor": 1.0}, [(IMG, True), (IMG, False)]),
    ("RandomGrayscale", {"factor": 0.0, "seed": 2}, [(IMG, True)]),
    ("RandomColorDegeneration", {"factor": (0.3, 0.3)}, [(IMG255, True), (IMG255, False)]),
    ("RandomHue", {"factor": (0.0, 0.0), "value_range": (0, 1)}, [(IMG, True), (IMG, False)]),
    ("RandomSaturation", {"factor": (0.7, 0.7), "value_range": (0, 1)}, [(IMG, True), (IMG, False)]),
    ("RandomPosterization", {"factor": (3, 3)}, [(IMG255, True), (IMG255, False)]),
    ("RandomPosterization", {"factor": (5, 5), "value_range": (0, 1)}, [(IMG, True)]),
    ("RandomSharpness", {"factor": (0.2, 0.2)}, [(IMG255, True), (IMG255, False)]),
    ("RandomSharpness", {"factor": (0.7, 0.7), "value_range": (0, 1), "data_format": "channels_first"},
     [(np.moveaxis(IMG, -1, 1).copy(), True)]),
    ("RandomColorJitter", {"saturation_factor": (0.7, 0.7), "hue_factor": (0.0, 0.0)}, [(IMG255, True)]),
    ("RandomCrop", {"height": 10, "width": 12, "seed": 3}, [(IMG255, True), (IMG255, False)]),
    ("RandomCrop", {"height": 4, "width": 5, "seed": 3}, [(IMG255, False)]),
    ("RandomErasing", {"factor": 0.0, "seed": 3}, [(IMG255, True), (IMG255, False)]),
    ("RandomErasing", {"fill_value": 7.0, "scale": (0.1, 0.2), "seed": 3}, [(IMG255, False)]),
    ("RandomGaussianBlur", {"factor": (1.0, 1.0), "sigma": (0.6, 0.6)}, [(IMG255, True), (IMG255, False)]),
    ("RandomGaussianBlur", {"factor": (1.0, 1.0), "kernel_size": 5, "sigma": (0.8, 0.8), "value_range": (0, 1)},
     [(IMG, True)]),
    ("RandomPerspective", {"factor": 0.0, "seed": 4}, [(IMG255, True), (IMG255, False)]),
    ("RandomPerspective", {"factor": (1.0, 1.0), "scale": 0.0}, [(IMG255, True)]),
    ("RandomShear", {}, [(IMG255, True), (IMG255, False)]),
    ("RandomShear", {"x_factor": 0.3, "y_factor": (0.1, 0.2), "fill_mode": "constant", "seed": 1}, [(IMG, False)]),
    ("RandomElasticTransform", {"scale": 0.0}, [(IMG255, True), (IMG255, False)]),
    ("RandomElasticTransform", {"factor": 0.0, "scale": 0.5, "value_range": (0, 1), "seed": 1}, [(IMG, False)]),
    ("MixUp", {"alpha": 0.4, "seed": 1}, [(IMG255, False)]),
    ("CutMix", {"factor": 0.5, "seed": 1}, [(IMG255, False), (IMG1, True)]),
    ("RandAugment", {"num_ops": 3, "factor": 0.3, "seed": 1}, [(IMG255, False)]),
    ("AugMix", {"num_chains": 2, "chain_depth": 2, "all_ops": False, "seed": 1}, [(IMG255, False)]),
    ("MaxNumBoundingBoxes", {"max_number": 3, "bounding_box_format": "xyxy"},
     [({"images": IMG255, "bounding_boxes": {"boxes": RNG.uniform(0, 5, (2, 5, 4)).astype(np.float32),
                                             "labels": np.arange(10, dtype=np.float32).reshape(2, 5)}}, False)]),
    # the layers gradflow had: deterministic settings against Keras
    ("RandomFlip", {"mode": "horizontal", "seed": 1}, [(IMG255, False)]),
    ("RandomRotation", {"factor": 0.0}, [(IMG255, True), (IMG255, False)]),
    ("RandomTranslation", {"height_factor": 0.0, "width_factor": 0.0}, [(IMG255, True)]),
    ("RandomZoom", {"height_factor": 0.0}, [(IMG255, True), (IMG255, False)]),
    ("RandomContrast", {"factor": 0.0}, [(IMG255, True), (IMG255, False)]),
    ("RandomContrast", {"factor": (-0.3, 0.3)}, [(IMG255, True)]),  # U(1.3, 1.3)
    ("RandomContrast", {"factor": 0.4, "seed": 2}, [(IMG255, False)]),
    ("RandomRotation", {"factor": (0.05, 0.05), "fill_mode": "constant"}, [(IMG255, True)]),
    ("RandomRotation", {"factor": (-0.1, -0.1), "fill_mode": "reflect", "interpolation": "nearest"}, [(IMG255, True)]),
    ("RandomTranslation", {"height_factor": (0.2, 0.2), "width_factor": (-0.1, -0.1), "fill_mode": "wrap"},
     [(IMG255, True)]),
    ("RandomZoom", {"height_factor": (0.3, 0.3), "fill_mode": "nearest"}, [(IMG255, True)]),
    ("RandomZoom", {"height_factor": (-0.2, -0.2), "width_factor": (0.1, 0.1), "fill_mode": "constant"},
     [(IMG255, True)]),
    ("RandomBrightness", {"factor": 0.0}, [(IMG255, True), (IMG255, False)]),
    ("RandomBrightness", {"factor": (0.1, 0.1), "value_range": (0, 1)}, [(IMG, True)]),
    ("Resizing", {"height": 5, "width": 11}, [(IMG255, True)]),
    ("Resizing", {"height": 12, "width": 6, "interpolation": "bicubic", "antialias": True}, [(IMG255, True)]),
    ("Resizing", {"height": 6, "width": 6, "pad_to_aspect_ratio": True, "fill_value": 3.0}, [(IMG255, True)]),
    ("Resizing", {"height": 6, "width": 6, "crop_to_aspect_ratio": True, "interpolation": "nearest"},
     [(IMG255, True)]),
    ("CenterCrop", {"height": 5, "width": 4}, [(IMG255, True), (IMG1, True)]),
    ("CenterCrop", {"height": 9, "width": 12}, [(IMG255, True)]),
    ("Rescaling", {"scale": 1 / 255, "offset": -0.5}, [(IMG255, True)]),
]
# Keras draws a default seed for RandomCrop when none is given; every other seed is compared
LAYER_NAMES = sorted({row[0] for row in LAYERS})


@case("layers", *LAYER_NAMES)
def image_layer(k, gf, name):
    for row in LAYERS:
        if row[0] == name:
            check_layer(k, gf, *row)
