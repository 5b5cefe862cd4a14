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
