"""Image augmentation on NHWC arrays in pure NumPy, vectorised over the batch (no SciPy, no loops).

Deterministic transforms (``flip``, ``translate``, ``rotate``, ``zoom``, ``affine_transform``)
take per-image parameters; the ``random_*`` functions draw those parameters from a
``numpy.random.Generator`` and call them. ``ImageDataGenerator`` and the augmentation layers
build on these.

Geometry: a transform is a 3x3 matrix per image that maps an OUTPUT pixel's ``(row, col, 1)``,
measured from the image centre ``((H-1)/2, (W-1)/2)``, to the INPUT position it samples.
Sampling is ``"nearest"`` or ``"bilinear"``; positions outside the image follow ``fill_mode``:
``"constant"`` (kkkk|abcd|kkkk, k = ``cval``), ``"nearest"`` (aaaa|abcd|dddd),
``"reflect"`` (dcba|abcd|dcba) or ``"wrap"`` (abcd|abcd|abcd).
A single image ``(H, W, C)`` is accepted too and comes back with the same shape.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "FILL_MODES", "INTERPOLATIONS", "FLIP_MODES", "parse_range",
    "affine_transform", "flip", "translate", "rotate", "zoom", "adjust_brightness",
    "rotation_matrices", "translation_matrices", "zoom_matrices", "shear_matrices",
    "random_flip", "random_translation", "random_rotation", "random_zoom", "random_brightness",
]

FILL_MODES = ("constant", "nearest", "reflect", "wrap")
INTERPOLATIONS = ("nearest", "bilinear")
FLIP_MODES = ("horizontal", "vertical", "horizontal_and_vertical")


# ---------------------------------------------------------------- matrices (centre-relative, out -> in)

def _per_image(value, n: int, name: str) -> np.ndarray:
    """A scalar or length-n parameter as a float64 vector of length n."""
    v = np.asarray(value, dtype=np.float64)
    if v.ndim == 0:
        return np.full(n, float(v))
    if v.shape != (n,):
        raise ValueError(f"{name}: expected a scalar or {n} per-image values, got shape {v.shape}")
    return v


def _stack(a00, a01, a02, a10, a11, a12) -> np.ndarray:
    """(N, 3, 3) homogeneous matrices from their six per-image entries."""
    n = len(a00)
    m = np.zeros((n, 3, 3))
    m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = a00, a01, a02
    m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = a10, a11, a12
    m[:, 2, 2] = 1.0
    return m


def rotation_matrices(degrees) -> np.ndarray:
    """Matrices rotating the content counter-clockwise (as displayed) by ``degrees``."""
    t = np.deg2rad(np.atleast_1d(np.asarray(degrees, dtype=np.float64)))
    c, s, z = np.cos(t), np.sin(t), np.zeros_like(t)
    return _stack(c, s, z, -s, c, z)


def translation_matrices(dy, dx) -> np.ndarray:
    """Matrices moving the content ``dy`` pixels down and ``dx`` pixels right."""
    dy, dx = np.broadcast_arrays(np.atleast_1d(np.asarray(dy, np.float64)), np.atleast_1d(np.asarray(dx, np.float64)))
    one, z = np.ones_like(dy), np.zeros_like(dy)
    return _stack(one, z, -dy, z, one, -dx)


def zoom_matrices(zy, zx=None) -> np.ndarray:
    """Matrices sampling the input at ``z`` times the distance from the centre:
    ``z < 1`` zooms in (magnifies), ``z > 1`` zooms out (Keras ImageDataGenerator convention)."""
    zy = np.atleast_1d(np.asarray(zy, np.float64))
    zx = zy if zx is None else np.atleast_1d(np.asarray(zx, np.float64))
    zy, zx = np.broadcast_arrays(zy, zx)
    z = np.zeros_like(zy)
    return _stack(zy, z, z, z, zx, z)


def shear_matrices(degrees) -> np.ndarray:
    """Shear matrices (Keras ImageDataGenerator convention, angle in degrees)."""
    t = np.deg2rad(np.atleast_1d(np.asarray(degrees, dtype=np.float64)))
    one, z = np.ones_like(t), np.zeros_like(t)
    return _stack(one, -np.sin(t), z, z, np.cos(t), z)


# ---------------------------------------------------------------- sampling

def _as_batch(x):
    """(batch view, was_single) for an NHWC batch or a single HWC image."""
    x = np.asarray(x)
    if x.ndim == 3:
        return x[None], True
    if x.ndim != 4:
        raise ValueError(f"expected an image batch (N, H, W, C) or one image (H, W, C), got shape {x.shape}")
    return x, False


def _restore(out: np.ndarray, like: np.ndarray, single: bool) -> np.ndarray:
    """Cast back to the input dtype (rounding and clipping for integer images)."""
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    out = out.astype(like.dtype, copy=False)
    return out[0] if single else out


def _work_dtype(dtype) -> np.dtype:
    return np.dtype(dtype) if np.issubdtype(dtype, np.floating) else np.dtype(np.float32)


def _fill_index(idx: np.ndarray, size: int, fill_mode: str):
    """Map integer positions into ``[0, size)`` per ``fill_mode``; also the in-bounds mask for constant."""
    if fill_mode == "nearest":
        return np.clip(idx, 0, size - 1), None
    if fill_mode == "wrap":
        return np.mod(idx, size), None
    if fill_mode == "reflect":
        m = np.mod(idx, 2 * size)
        return np.where(m >= size, 2 * size - 1 - m, m), None
    inside = (idx >= 0) & (idx < size)
    return np.clip(idx, 0, size - 1), inside


def _gather(flat: np.ndarray, rows, cols, width: int, rmask, cmask, cval):
    """Pixels ``flat[n, rows*W + cols, :]`` with out-of-bounds ones (constant mode) set to ``cval``."""
    n = flat.shape[0]
    values = flat[np.arange(n)[:, None], rows * width + cols]  # (N, HW, C)
    if rmask is None:
        return values
    inside = rmask & cmask
    return np.where(inside[..., None], values, np.asarray(cval, dtype=values.dtype))


def affine_transform(x, matrices, interpolation: str = "bilinear", fill_mode: str = "nearest",
                     cval: float = 0.0) -> np.ndarray:
    """Resample each image through its (3, 3) centre-relative output->input matrix.

    ``matrices`` is ``(3, 3)`` (shared) or ``(N, 3, 3)``; shape and dtype of ``x`` are kept.
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation: expected one of {INTERPOLATIONS}, got {interpolation!r}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"fill_mode: expected one of {FILL_MODES}, got {fill_mode!r}")
    batch, single = _as_batch(x)
    n, h, w, ch = batch.shape
    m = np.asarray(matrices, dtype=np.float64)
    if m.shape == (3, 3):
        m = np.broadcast_to(m, (n, 3, 3))
    if m.shape != (n, 3, 3):
        raise ValueError(f"affine_transform: expected matrices of shape (3, 3) or ({n}, 3, 3), got {m.shape}")
    if n == 0 or h == 0 or w == 0:
        return _restore(batch.astype(_work_dtype(batch.dtype)), batch, single)

    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    rr, cc = np.meshgrid(np.arange(h) - cy, np.arange(w) - cx, indexing="ij")
    grid = np.stack([rr.ravel(), cc.ravel(), np.ones(h * w)])       # (3, HW)
    src = m[:, :2, :] @ grid                                         # (N, 2, HW)
    src_r, src_c = src[:, 0] + cy, src[:, 1] + cx

    dtype = _work_dtype(batch.dtype)
    flat = batch.reshape(n, h * w, ch).astype(dtype, copy=False)
    if interpolation == "nearest":
        r, rmask = _fill_index(np.floor(src_r + 0.5).astype(np.int64), h, fill_mode)
        c, cmask = _fill_index(np.floor(src_c + 0.5).astype(np.int64), w, fill_mode)
        out = _gather(flat, r, c, w, rmask, cmask, cval)
    else:
        r0f, c0f = np.floor(src_r), np.floor(src_c)
        fr = (src_r - r0f).astype(dtype)[..., None]
        fc = (src_c - c0f).astype(dtype)[..., None]
        r0, c0 = r0f.astype(np.int64), c0f.astype(np.int64)
        ra, ram = _fill_index(r0, h, fill_mode)
        rb, rbm = _fill_index(r0 + 1, h, fill_mode)
        ca, cam = _fill_index(c0, w, fill_mode)
        cb, cbm = _fill_index(c0 + 1, w, fill_mode)
        top = _gather(flat, ra, ca, w, ram, cam, cval) * (1 - fc) + _gather(flat, ra, cb, w, ram, cbm, cval) * fc
        bottom = _gather(flat, rb, ca, w, rbm, cam, cval) * (1 - fc) + _gather(flat, rb, cb, w, rbm, cbm, cval) * fc
        out = top * (1 - fr) + bottom * fr
    return _restore(out.reshape(n, h, w, ch), batch, single)


# ---------------------------------------------------------------- deterministic transforms

def flip(x, horizontal=False, vertical=False) -> np.ndarray:
    """Mirror images left-right and/or top-bottom; each flag is a bool or a per-image bool array."""
    batch, single = _as_batch(x)
    n = batch.shape[0]
    out = batch
    for flag, axis in ((horizontal, 2), (vertical, 1)):
        mask = np.broadcast_to(np.asarray(flag, dtype=bool), (n,))
        if mask.any():
            out = np.where(mask[:, None, None, None], np.flip(out, axis=axis), out)
    out = out.copy() if out is batch else out
    return out[0] if single else out


def translate(x, dy, dx, interpolation="bilinear", fill_mode="nearest", cval=0.0) -> np.ndarray:
    """Move content ``dy`` pixels down and ``dx`` right (scalars or per-image arrays)."""
    n = _as_batch(x)[0].shape[0]
    m = translation_matrices(_per_image(dy, n, "dy"), _per_image(dx, n, "dx"))
    return affine_transform(x, m, interpolation, fill_mode, cval)


def rotate(x, degrees, interpolation="bilinear", fill_mode="nearest", cval=0.0) -> np.ndarray:
    """Rotate content counter-clockwise by ``degrees`` about the image centre."""
    n = _as_batch(x)[0].shape[0]
    return affine_transform(x, rotation_matrices(_per_image(degrees, n, "degrees")), interpolation, fill_mode, cval)


def zoom(x, zy, zx=None, interpolation="bilinear", fill_mode="nearest", cval=0.0) -> np.ndarray:
    """Zoom about the centre: factor ``< 1`` magnifies, ``> 1`` shrinks (``zx`` defaults to ``zy``)."""
    n = _as_batch(x)[0].shape[0]
    zy = _per_image(zy, n, "zy")
    zx = zy if zx is None else _per_image(zx, n, "zx")
    if np.any(zy <= 0) or np.any(zx <= 0):
        raise ValueError(f"zoom: expected positive factors, got zy={zy.min()}, zx={zx.min()}")
    return affine_transform(x, zoom_matrices(zy, zx), interpolation, fill_mode, cval)


def adjust_brightness(x, factor, value_range=None) -> np.ndarray:
    """Multiply each image by its ``factor``; clip to ``value_range=(lo, hi)`` when given."""
    batch, single = _as_batch(x)
    f = _per_image(factor, batch.shape[0], "factor").astype(_work_dtype(batch.dtype))
    out = batch.astype(f.dtype, copy=False) * f[:, None, None, None]
    if value_range is not None:
        out = np.clip(out, value_range[0], value_range[1])
    return _restore(out, batch, single)


# ---------------------------------------------------------------- random transforms

def parse_range(value, name: str, centre: float = 0.0) -> tuple[float, float]:
    """``f`` -> ``(centre - f, centre + f)``; a pair ``(lo, hi)`` as given."""
    if np.ndim(value) == 0:
        f = float(value)
        if f < 0:
            raise ValueError(f"{name}: expected a non-negative number or a (lo, hi) pair, got {value!r}")
        return centre - f, centre + f
    lo, hi = (float(v) for v in value)
    if lo > hi:
        raise ValueError(f"{name}: expected lo <= hi, got ({lo}, {hi})")
    return lo, hi


def random_flip(x, rng: np.random.Generator, mode: str = "horizontal", p: float = 0.5) -> np.ndarray:
    """Flip each image with probability ``p``: mode ``horizontal``, ``vertical`` or both (independently)."""
    if mode not in FLIP_MODES:
        raise ValueError(f"random_flip: expected mode in {FLIP_MODES}, got {mode!r}")
    n = _as_batch(x)[0].shape[0]
    horizontal = rng.random(n) < p if mode in ("horizontal", "horizontal_and_vertical") else False
    vertical = rng.random(n) < p if mode in ("vertical", "horizontal_and_vertical") else False
    return flip(x, horizontal, vertical)


def random_translation(x, rng: np.random.Generator, height_range=0.0, width_range=0.0,
                       interpolation="bilinear", fill_mode="nearest", cval=0.0) -> np.ndarray:
    """Shift each image by a fraction of its size: ``f`` draws from ``U(-f, f)``, ``(lo, hi)`` from ``U(lo, hi)``."""
    batch, _ = _as_batch(x)
    n, h, w = batch.shape[:3]
    dy = rng.uniform(*parse_range(height_range, "height_range"), size=n) * h
    dx = rng.uniform(*parse_range(width_range, "width_range"), size=n) * w
    return translate(x, dy, dx, interpolation, fill_mode, cval)


def random_rotation(x, rng: np.random.Generator, degrees=0.0,
                    interpolation="bilinear", fill_mode="nearest", cval=0.0) -> np.ndarray:
    """Rotate each image by an angle from ``U(-d, d)`` (or ``U(lo, hi)``) degrees, counter-clockwise."""
    n = _as_batch(x)[0].shape[0]
    angles = rng.uniform(*parse_range(degrees, "degrees"), size=n)
    return rotate(x, angles, interpolation, fill_mode, cval)


def random_zoom(x, rng: np.random.Generator, zoom_range=0.0, keep_aspect: bool = True,
                interpolation="bilinear", fill_mode="nearest", cval=0.0) -> np.ndarray:
    """Zoom each image by a factor from ``U(1-z, 1+z)`` (or ``U(lo, hi)``); ``< 1`` magnifies.

    ``keep_aspect=False`` draws the height and width factors independently (as Keras's
    ImageDataGenerator does).
    """
    n = _as_batch(x)[0].shape[0]
    lo, hi = parse_range(zoom_range, "zoom_range", centre=1.0)
    if lo <= 0:
        raise ValueError(f"random_zoom: expected zoom factors > 0, got range ({lo}, {hi})")
    zy = rng.uniform(lo, hi, size=n)
    zx = zy if keep_aspect else rng.uniform(lo, hi, size=n)
    return zoom(x, zy, zx, interpolation, fill_mode, cval)


def random_brightness(x, rng: np.random.Generator, brightness_range=(0.8, 1.2), value_range=None) -> np.ndarray:
    """Multiply each image by a factor from ``U(lo, hi)``; clip to ``value_range`` when given."""
    lo, hi = parse_range(brightness_range, "brightness_range", centre=1.0)
    if lo < 0:
        raise ValueError(f"random_brightness: expected factors >= 0, got range ({lo}, {hi})")
    n = _as_batch(x)[0].shape[0]
    return adjust_brightness(x, rng.uniform(lo, hi, size=n), value_range)
