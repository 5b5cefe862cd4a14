"""Image transforms: exact identities, np.roll/np.pad equivalences, and a loop-based oracle."""
import math

import numpy as np
import pytest

from gradflow.utils import image


@pytest.fixture
def batch():
    return np.random.default_rng(0).random((3, 6, 7, 2)).astype(np.float32)


# ------------------------------------------------------------------ a plain loop oracle

def _oracle(img, matrix, interpolation, fill_mode, cval):
    """Sample one HWC image through a centre-relative out->in matrix, one pixel at a time."""
    h, w, ch = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2

    def pixel(i, j):
        if fill_mode == "constant" and not (0 <= i < h and 0 <= j < w):
            return np.full(ch, cval)
        if fill_mode == "nearest":
            i, j = min(max(i, 0), h - 1), min(max(j, 0), w - 1)
        elif fill_mode == "wrap":
            i, j = i % h, j % w
        elif fill_mode == "reflect":
            i, j = i % (2 * h), j % (2 * w)
            i = 2 * h - 1 - i if i >= h else i
            j = 2 * w - 1 - j if j >= w else j
        return img[i, j].astype(np.float64)

    out = np.zeros((h, w, ch))
    for r in range(h):
        for c in range(w):
            sr, sc, _ = matrix @ np.array([r - cy, c - cx, 1.0])
            sr, sc = sr + cy, sc + cx
            if interpolation == "nearest":
                out[r, c] = pixel(math.floor(sr + 0.5), math.floor(sc + 0.5))
            else:
                i, j = math.floor(sr), math.floor(sc)
                a, b = sr - i, sc - j
                out[r, c] = ((1 - a) * (1 - b) * pixel(i, j) + (1 - a) * b * pixel(i, j + 1)
                             + a * (1 - b) * pixel(i + 1, j) + a * b * pixel(i + 1, j + 1))
    return out


@pytest.mark.parametrize("interpolation", image.INTERPOLATIONS)
@pytest.mark.parametrize("fill_mode", image.FILL_MODES)
def test_affine_matches_loop_oracle(batch, interpolation, fill_mode):
    rng = np.random.default_rng(1)
    m = (image.rotation_matrices(rng.uniform(-40, 40, 3)) @ image.zoom_matrices(rng.uniform(0.6, 1.5, 3))
         @ image.translation_matrices(rng.uniform(-3, 3, 3), rng.uniform(-3, 3, 3))
         @ image.shear_matrices(rng.uniform(-20, 20, 3)))
    got = image.affine_transform(batch.astype(np.float64), m, interpolation, fill_mode, cval=-0.5)
    for n in range(3):
        np.testing.assert_allclose(got[n], _oracle(batch[n], m[n], interpolation, fill_mode, -0.5), atol=1e-12)


# ------------------------------------------------------------------ flips

def test_flip_exact(batch):
    np.testing.assert_array_equal(image.flip(batch, horizontal=True), batch[:, :, ::-1])
    np.testing.assert_array_equal(image.flip(batch, vertical=True), batch[:, ::-1])
    np.testing.assert_array_equal(image.flip(batch, True, True), batch[:, ::-1, ::-1])
    out = image.flip(batch, horizontal=[True, False, True])
    np.testing.assert_array_equal(out[1], batch[1])
    np.testing.assert_array_equal(out[2], batch[2, :, ::-1])
    assert image.flip(batch) is not batch


def test_random_flip_probabilities(batch):
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(image.random_flip(batch, rng, "horizontal", p=1.0), batch[:, :, ::-1])
    np.testing.assert_array_equal(image.random_flip(batch, rng, "vertical", p=0.0), batch)
    np.testing.assert_array_equal(image.random_flip(batch, rng, "horizontal_and_vertical", p=1.0), batch[:, ::-1, ::-1])
    with pytest.raises(ValueError, match="expected mode in"):
        image.random_flip(batch, rng, "diagonal")


# ------------------------------------------------------------------ translation

@pytest.mark.parametrize("interpolation", image.INTERPOLATIONS)
@pytest.mark.parametrize("dy, dx", [(2, -3), (0, 1), (-1, 0), (5, 6)])
def test_integer_translation_is_roll_with_fill(batch, interpolation, dy, dx):
    rolled = np.roll(batch, (dy, dx), axis=(1, 2))
    np.testing.assert_array_equal(image.translate(batch, dy, dx, interpolation, "wrap"), rolled)
    out = image.translate(batch, dy, dx, interpolation, "constant", cval=7.0)
    expected = rolled.copy()
    rows, cols = slice(0, dy) if dy > 0 else slice(batch.shape[1] + dy, None), \
        slice(0, dx) if dx > 0 else slice(batch.shape[2] + dx, None)
    expected[:, rows] = 7.0
    expected[:, :, cols] = 7.0
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("fill_mode, pad_mode", [("nearest", "edge"), ("reflect", "symmetric")])
def test_integer_translation_matches_np_pad(batch, fill_mode, pad_mode):
    dy, dx = 3, -2
    padded = np.pad(batch, ((0, 0), (8, 8), (8, 8), (0, 0)), mode=pad_mode)
    h, w = batch.shape[1:3]
    expected = padded[:, 8 - dy: 8 - dy + h, 8 - dx: 8 - dx + w]
    np.testing.assert_array_equal(image.translate(batch, dy, dx, "nearest", fill_mode), expected)


def test_half_pixel_bilinear_shift_averages_neighbours():
    x = np.arange(5, dtype=np.float64).reshape(1, 1, 5, 1)
    out = image.translate(x, 0, 0.5, "bilinear", "nearest")
    np.testing.assert_allclose(out[0, 0, :, 0], [0, 0.5, 1.5, 2.5, 3.5])


def test_per_image_shifts(batch):
    out = image.translate(batch, [0, 1, 2], 0, "nearest", "wrap")
    for n, k in enumerate([0, 1, 2]):
        np.testing.assert_array_equal(out[n], np.roll(batch[n], k, axis=0))
    with pytest.raises(ValueError, match="expected a scalar or 3 per-image values, got shape"):
        image.translate(batch, [1, 2], 0)


# ------------------------------------------------------------------ rotation and zoom

@pytest.mark.parametrize("interpolation", image.INTERPOLATIONS)
def test_identities(batch, interpolation):
    np.testing.assert_array_equal(image.rotate(batch, 0.0, interpolation), batch)
    np.testing.assert_array_equal(image.zoom(batch, 1.0, interpolation=interpolation), batch)
    np.testing.assert_allclose(image.rotate(batch, 360.0, interpolation), batch, atol=1e-5)


def test_rotation_by_quarter_turns():
    x = np.random.default_rng(2).random((2, 5, 5, 3))
    np.testing.assert_array_equal(image.rotate(x, 90, "nearest"), np.rot90(x, 1, axes=(1, 2)))
    np.testing.assert_allclose(image.rotate(x, -90, "bilinear"), np.rot90(x, -1, axes=(1, 2)), atol=1e-12)
    y = np.random.default_rng(3).random((1, 4, 6, 1))  # non-square, even sizes
    np.testing.assert_allclose(image.rotate(y, 180, "bilinear"), y[:, ::-1, ::-1], atol=1e-12)


def test_zoom_direction():
    x = np.zeros((1, 9, 9, 1))
    x[0, 3:6, 3:6] = 1.0  # a 3x3 square in the middle
    assert image.zoom(x, 0.5, interpolation="nearest", fill_mode="constant").sum() > x.sum()  # magnified
    assert image.zoom(x, 3.0, interpolation="nearest", fill_mode="constant").sum() == 1.0  # shrunk to a dot
    with pytest.raises(ValueError, match="expected positive factors"):
        image.zoom(x, 0.0)


# ------------------------------------------------------------------ dtypes, shapes, seeds

@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_shapes_and_dtypes_preserved(dtype):
    x = (np.random.default_rng(0).random((2, 8, 5, 3)) * 255).astype(dtype)
    rng = np.random.default_rng(0)
    for out in (image.random_rotation(x, rng, 30), image.random_zoom(x, rng, 0.2),
                image.random_translation(x, rng, 0.2, 0.2), image.random_flip(x, rng),
                image.random_brightness(x, rng, (0.5, 1.5), value_range=(0, 255))):
        assert out.shape == x.shape and out.dtype == x.dtype
    single = image.rotate(x[0], 10)
    assert single.shape == x[0].shape and single.dtype == x.dtype


def test_seeded_repeatability(batch):
    def run(seed):
        rng = np.random.default_rng(seed)
        out = image.random_rotation(batch, rng, 25, fill_mode="reflect")
        out = image.random_zoom(out, rng, (0.8, 1.2), keep_aspect=False)
        out = image.random_translation(out, rng, 0.1, (-0.2, 0.2))
        out = image.random_flip(out, rng, "horizontal_and_vertical")
        return image.random_brightness(out, rng, 0.3)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_brightness():
    x = np.full((2, 2, 2, 1), 100.0)
    np.testing.assert_array_equal(image.adjust_brightness(x, [0.5, 3.0], value_range=(0, 255))[:, 0, 0, 0], [50, 255])
    out = image.random_brightness(x, np.random.default_rng(0), (1.0, 1.0))
    np.testing.assert_array_equal(out, x)


def test_errors(batch):
    with pytest.raises(ValueError, match="fill_mode: expected one of"):
        image.rotate(batch, 10, fill_mode="mirror")
    with pytest.raises(ValueError, match="interpolation: expected one of"):
        image.rotate(batch, 10, interpolation="bicubic")
    with pytest.raises(ValueError, match=r"expected an image batch \(N, H, W, C\) or one image "
                                         r"\(H, W, C\), got shape \(6, 7\)"):
        image.rotate(batch[0, :, :, 0], 10)
    with pytest.raises(ValueError, match=r"expected matrices of shape \(3, 3\) or \(3, 3, 3\), got \(2, 3, 3\)"):
        image.affine_transform(batch, np.stack([np.eye(3)] * 2))
    with pytest.raises(ValueError, match="expected lo <= hi"):
        image.random_rotation(batch, np.random.default_rng(0), (10, -10))
    with pytest.raises(ValueError, match="non-negative"):
        image.random_rotation(batch, np.random.default_rng(0), -10)
