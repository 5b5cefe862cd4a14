"""``keras.ops.image``: Keras 3's image operations (``resize``, crops and pads, colour spaces, patches,
blurs and edges, SSIM, ``scale_and_translate``, and the coordinate warps of ``_image_sampling``).

Each is differentiable where Keras's is (composed from gradflow's ops, or a weighted gather), runs on
the batch's own array module, and works on KerasTensors through ``_wrap``. The layers call these;
ops never import layers.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import array_module, image_data_format
from ._image_sampling import affine_transform, elastic_transform, map_coordinates, perspective_transform
from .elementwise import abs as abs_
from .elementwise import cast, clip, maximum, minimum
from .elementwise import where as select
from .keras_names import convert_to_tensor, mod, tensordot
from .linalg import matmul
from .nn import conv, depthwise_conv
from .reduction import mean
from .shape import getitem, pad, reshape, stack, transpose

__all__ = ["resize", "affine_transform", "crop_images", "pad_images", "elastic_transform", "extract_patches",
           "extract_patches_3d", "gaussian_blur", "hsv_to_rgb", "rgb_to_hsv", "rgb_to_grayscale", "map_coordinates",
           "perspective_transform", "scale_and_translate", "sobel_edges", "ssim"]

_METHODS = ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5", "area")


def resize(images, size, interpolation="bilinear", antialias=False, crop_to_aspect_ratio=False,
           pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0, data_format=None):
    """Resample ``images`` (N, H, W, C) or (H, W, C) to ``size = (height, width)`` as Keras on torch
    does (``torch.nn.functional.interpolate``, half-pixel centres): 'bilinear', 'nearest' or
    'bicubic' (a = -0.75), with ``antialias`` the area-aware filters used when shrinking. Each axis
    is one matrix of interpolation weights, applied by matmul, so the result is differentiable.
    ``crop_to_aspect_ratio`` / ``pad_to_aspect_ratio`` first crop or pad (``fill_value``) to the
    target's aspect ratio."""
    height, width = size
    where = "ops.image.resize"
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
            raise ValueError(f"{where}: {name} must be a positive integer, got {name}={value!r}")
    if interpolation not in _METHODS:
        raise ValueError(f"{where}: interpolation must be one of {_METHODS}, got {interpolation!r}")
    if fill_mode != "constant":
        raise ValueError(f"{where}: only fill_mode='constant' is supported, got {fill_mode!r}")
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError(f"{where}: only one of pad_to_aspect_ratio and crop_to_aspect_ratio can be True")
    fmt = image_data_format() if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', "
                         f"got data_format={data_format!r}")
    images = convert_to_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: expected a rank-3 image or a rank-4 batch, got shape {images.shape}")
    out_dtype = images.dtype
    x = images if out_dtype.kind == "f" else cast(images, "float32")
    single = x.ndim == 3
    if single:
        x = x.reshape((1, *x.shape))
    # work channels-first (N, C, H, W): the weights multiply H from the left and W from the right
    x = transpose(x, (0, 3, 1, 2)) if fmt == "channels_last" else x
    H, W = x.shape[2], x.shape[3]
    if crop_to_aspect_ratio:
        ch = max(min(H, int(float(W * height) / width)), 1)
        cw = max(min(W, int(float(H * width) / height)), 1)
        top, left = int(float(H - ch) / 2), int(float(W - cw) / 2)
        x = getitem(x, (slice(None), slice(None), slice(top, top + ch), slice(left, left + cw)))
    elif pad_to_aspect_ratio:
        ph = max(H, int(float(W * height) / width))
        pw = max(W, int(float(H * width) / height))
        top, left = int(float(ph - H) / 2), int(float(pw - W) / 2)
        x = pad(x, ((0, 0), (0, 0), (top, top), (left, left)), constant_values=fill_value)
    H, W = x.shape[2], x.shape[3]
    dtype = x.dtype
    if interpolation.startswith("lanczos"):  # Keras's NumPy/JAX resize: scale_and_translate's kernel
        wr = _scale_weights(H, int(height), int(height) / H, 0.0, interpolation, antialias, np.float32).T
        wc = _scale_weights(W, int(width), int(width) / W, 0.0, interpolation, antialias, np.float32).T
    else:
        wr = _weights(H, int(height), interpolation, antialias)
        wc = _weights(W, int(width), interpolation, antialias)
    rows = Tensor._wrap(_as(x, wr, dtype))
    cols = Tensor._wrap(_as(x, wc.T, dtype))
    y = matmul(matmul(rows, x), cols)
    y = transpose(y, (0, 2, 3, 1)) if fmt == "channels_last" else y
    if single:
        y = y.reshape(tuple(y.shape[1:]))
    if out_dtype.kind != "f":
        data = y.data
        xp = array_module(data)
        if interpolation == "bicubic" and out_dtype == np.uint8:
            data = xp.round(xp.clip(data, 0, 255))
        return Tensor._wrap(data.astype(out_dtype))
    return y


def _as(like, weights, dtype):
    xp = array_module(like.data)
    return xp.asarray(weights.astype(dtype))


def _cubic(t, a):
    t = np.abs(t)
    return np.where(t <= 1, ((a + 2) * t - (a + 3)) * t * t + 1,
                    np.where(t < 2, (((t - 5) * t + 8) * t - 4) * a, 0.0))


def _weights(n_in: int, n_out: int, method: str, antialias: bool) -> np.ndarray:
    """The ``(n_out, n_in)`` interpolation matrix of one axis, as PyTorch's ``interpolate`` with
    ``align_corners=False`` computes it (float64)."""
    scale = n_in / n_out
    out = np.zeros((n_out, n_in))
    i = np.arange(n_out)
    if method == "area":  # TensorFlow's area resize: each output pixel averages the input it covers
        for o in range(n_out):
            lo, hi = o * scale, (o + 1) * scale
            for j in range(int(np.floor(lo)), min(int(np.ceil(hi)), n_in)):
                out[o, j] = (min(hi, j + 1) - max(lo, j)) / scale
        return out
    if method == "nearest":  # 'nearest-exact'
        out[i, np.minimum(np.floor((i + 0.5) * scale).astype(np.int64), n_in - 1)] = 1.0
        return out
    if antialias:  # separable filter whose support grows with the shrink factor; taps renormalised
        size = 2 if method == "bilinear" else 4
        support = size / 2 * scale if scale >= 1.0 else size / 2
        invscale = 1.0 / scale if scale >= 1.0 else 1.0
        for o in range(n_out):
            center = scale * (o + 0.5)
            lo, hi = max(int(center - support + 0.5), 0), min(int(center + support + 0.5), n_in)
            taps = (np.arange(lo, hi) - center + 0.5) * invscale
            w = np.maximum(0.0, 1.0 - np.abs(taps)) if method == "bilinear" else _cubic(taps, -0.5)
            total = w.sum()
            out[o, lo:hi] = w / total if total != 0 else w
        return out
    src = (i + 0.5) * scale - 0.5
    if method == "bilinear":
        src = np.maximum(src, 0.0)
        x0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
        x1 = np.minimum(x0 + 1, n_in - 1)
        lam = src - x0
        np.add.at(out, (i, x0), 1.0 - lam)
        np.add.at(out, (i, x1), lam)
        return out
    x0 = np.floor(src).astype(np.int64)
    t = src - x0
    for k in (-1, 0, 1, 2):
        np.add.at(out, (i, np.clip(x0 + k, 0, n_in - 1)), _cubic(t - k, -0.75))
    return out


# -- scale_and_translate (Keras's JAX-style resampling kernels) ------------------------------------
def _triangle(x):
    return np.maximum(0.0, 1.0 - np.abs(x))


def _keys_cubic(x):
    out = ((1.5 * x - 2.5) * x) * x + 1.0
    out = np.where(x >= 1.0, ((-0.5 * x + 2.5) * x - 4.0) * x + 2.0, out)
    return np.where(x >= 2.0, 0.0, out)


def _lanczos(radius, x):
    y = radius * np.sin(np.pi * x) * np.sin(np.pi * x / radius)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x > 1e-3, np.divide(y, np.where(x != 0, np.pi ** 2 * x ** 2, 1)), 1)
    return np.where(x > radius, 0.0, out)


_KERNELS = {"linear": _triangle, "cubic": _keys_cubic, "lanczos3": lambda x: _lanczos(3.0, x),
            "lanczos5": lambda x: _lanczos(5.0, x)}
_SCALE_METHODS = {"linear": "linear", "bilinear": "linear", "trilinear": "linear", "triangle": "linear",
                  "cubic": "cubic", "bicubic": "cubic", "tricubic": "cubic", "lanczos3": "lanczos3",
                  "lanczos5": "lanczos5"}


def _scale_weights(n_in, n_out, scale, translation, method, antialias, dtype):
    """The ``(n_in, n_out)`` weights of one axis (Keras's ``_compute_weight_mat``), computed in ``dtype``."""
    dtype = np.dtype(dtype)
    scale, translation = dtype.type(scale), dtype.type(translation)
    inv_scale = dtype.type(1.0) / scale
    kernel_scale = max(inv_scale, dtype.type(1.0)) if antialias else dtype.type(1.0)
    sample_f = (np.arange(n_out, dtype=dtype) + dtype.type(0.5)) * inv_scale - translation * inv_scale \
        - dtype.type(0.5)
    x = np.abs(sample_f[None, :] - np.arange(n_in, dtype=dtype)[:, None]) / kernel_scale
    weights = _KERNELS[_SCALE_METHODS.get(method, method)](x).astype(dtype)
    total = weights.sum(axis=0, keepdims=True)
    weights = np.where(np.abs(total) > 1000.0 * float(np.finfo(np.float32).eps),
                       weights / np.where(total != 0, total, 1), 0)
    inside = (sample_f >= -0.5) & (sample_f <= n_in - 0.5)
    return np.where(inside[None, :], weights, 0).astype(dtype)


def scale_and_translate(images, output_shape, scale, translation, spatial_dims, method, antialias=True):
    """Keras's ``ops.image.scale_and_translate``: resample ``spatial_dims`` so that input location x maps
    to ``x * scale + translation`` (half-pixel centres), with a linear, Keys cubic or Lanczos kernel."""
    if method not in _SCALE_METHODS or method == "triangle":
        raise ValueError("ops.image.scale_and_translate: invalid value for argument `method`, expected one of "
                         f"{sorted(set(_SCALE_METHODS) - {'triangle'})}, got method={method!r}")
    x = convert_to_tensor(images)
    sc = np.asarray(scale.numpy() if isinstance(scale, Tensor) else scale)
    tr = np.asarray(translation.numpy() if isinstance(translation, Tensor) else translation)
    wdtype = np.result_type(sc.dtype if sc.dtype.kind == "f" else np.float32,
                            tr.dtype if tr.dtype.kind == "f" else np.float32)
    integer = x.dtype.kind in "iub"
    out = cast(x, "float32") if integer else x
    xp = array_module(x.data)
    for i, d in enumerate(spatial_dims):
        d = d % x.ndim
        w = _scale_weights(x.shape[d], int(output_shape[d]), sc.reshape(-1)[i], tr.reshape(-1)[i], method,
                           antialias, wdtype)
        out = moveaxis(tensordot(out, Tensor._wrap(xp.asarray(w.astype(out.dtype))), axes=([d], [0])), -1, d)
    if integer:
        data = out.data
        data = xp.clip(xp.round(data), x.data.min(), x.data.max())
        return Tensor._wrap(data.astype(x.dtype))
    return out


# -- crops and pads --------------------------------------------------------------------------------
def _three_of(values, names, where):
    if list(values).count(None) != 1:
        raise ValueError(f"{where}: must specify exactly two of {', '.join(names)}. Received: "
                         + ", ".join(f"{n}={v}" for n, v in zip(names, values)))
    for n, v in zip(names, values):
        if v is not None and v < 0:
            raise ValueError(f"{where}: {n} must be >= 0. Received: {n}={v}")


def _hw(images, first, where):
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: invalid images rank: expected rank 3 (single image) or rank 4 (batch of images). "
                         f"Received: images.shape={images.shape}")
    return (images.ndim - 2, images.ndim - 1) if first else (images.ndim - 3, images.ndim - 2)


def _first(data_format, where) -> bool:
    fmt = str(image_data_format() if data_format is None else data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return fmt == "channels_first"


def pad_images(images, top_padding=None, left_padding=None, bottom_padding=None, right_padding=None,
               target_height=None, target_width=None, data_format=None):
    """Keras's ``ops.image.pad_images``: zero rows/columns around the images; two of (top, bottom,
    target_height) and two of (left, right, target_width) given."""
    where = "ops.image.pad_images"
    images = convert_to_tensor(images)
    ha, wa = _hw(images, _first(data_format, where), where)
    _three_of((top_padding, bottom_padding, target_height), ("top_padding", "bottom_padding", "target_height"),
              where)
    _three_of((left_padding, right_padding, target_width), ("left_padding", "right_padding", "target_width"), where)
    h, w = images.shape[ha], images.shape[wa]
    top = target_height - bottom_padding - h if top_padding is None else top_padding
    bottom = target_height - top - h if bottom_padding is None else bottom_padding
    left = target_width - right_padding - w if left_padding is None else left_padding
    right = target_width - left - w if right_padding is None else right_padding
    for n, v in (("top_padding", top), ("left_padding", left), ("bottom_padding", bottom),
                 ("right_padding", right)):
        if v < 0:
            raise ValueError(f"{where}: {n} must be >= 0. Received: {n}={v}")
    widths = [(0, 0)] * images.ndim
    widths[ha], widths[wa] = (int(top), int(bottom)), (int(left), int(right))
    return pad(images, tuple(widths))


def crop_images(images, top_cropping=None, left_cropping=None, bottom_cropping=None, right_cropping=None,
                target_height=None, target_width=None, data_format=None):
    """Keras's ``ops.image.crop_images``: a window of the images; two of (top, bottom, target_height)
    and two of (left, right, target_width) given."""
    where = "ops.image.crop_images"
    images = convert_to_tensor(images)
    ha, wa = _hw(images, _first(data_format, where), where)
    _three_of((top_cropping, bottom_cropping, target_height), ("top_cropping", "bottom_cropping", "target_height"),
              where)
    _three_of((left_cropping, right_cropping, target_width), ("left_cropping", "right_cropping", "target_width"),
              where)
    h, w = images.shape[ha], images.shape[wa]
    top = h - target_height - bottom_cropping if top_cropping is None else top_cropping
    th = h - bottom_cropping - top if target_height is None else target_height
    left = w - target_width - right_cropping if left_cropping is None else left_cropping
    tw = w - right_cropping - left if target_width is None else target_width
    for n, v in (("top_cropping", top), ("target_height", th), ("left_cropping", left), ("target_width", tw)):
        if v < 0:
            raise ValueError(f"{where}: {n} must be >= 0. Received: {n}={v}")
    index = [slice(None)] * images.ndim
    index[ha], index[wa] = slice(int(top), int(top + th)), slice(int(left), int(left + tw))
    return getitem(images, tuple(index))


# -- colour spaces ---------------------------------------------------------------------------------
def _channel_axis(images, data_format, where):
    images = convert_to_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: invalid images rank: expected rank 3 (single image) or rank 4 (batch of images). "
                         f"Received input with shape: images.shape={images.shape}")
    return images, (-3 if _first(data_format, where) else -1)


def _planes(images, axis):
    n = images.shape[axis]
    index = [slice(None)] * images.ndim
    out = []
    for i in range(n):
        index[axis] = i
        out.append(getitem(images, tuple(index)))
    return out


def rgb_to_grayscale(images, data_format=None):
    """Keras's ``ops.image.rgb_to_grayscale``: ``0.2989 R + 0.587 G + 0.114 B`` (one channel, input dtype)."""
    where = "ops.image.rgb_to_grayscale"
    images, axis = _channel_axis(images, data_format, where)
    if images.shape[axis] not in (1, 3):
        raise ValueError(f"{where}: invalid channel size: expected 3 (RGB) or 1 (Grayscale). Received input with "
                         f"shape: images.shape={images.shape}")
    if images.shape[axis] == 1:
        return images * 1 if images.dtype.kind == "f" else Tensor._wrap(images.data.copy())
    if images.dtype.kind != "f":  # torch: float32 products, truncated back to the integer dtype
        r, g, b = (p.data.astype(np.float32) for p in _planes(images, axis))
        gray = np.float32(0.2989) * r + np.float32(0.587) * g + np.float32(0.114) * b
        xp = array_module(images.data)
        return Tensor._wrap(xp.expand_dims(gray.astype(images.dtype), axis))
    r, g, b = _planes(images, axis)
    gray = r * 0.2989 + g * 0.587 + b * 0.114
    return reshape(gray, _keep(images.shape, axis))


def _keep(shape, axis):
    s = list(shape)
    s[axis] = 1
    return tuple(s)


def _float_images(images, where):
    if images.dtype.kind != "f":
        raise ValueError(f"{where}: invalid images dtype: expected float dtype. Received: images.dtype={images.dtype}")


def rgb_to_hsv(images, data_format=None):
    """Keras's ``ops.image.rgb_to_hsv`` (dm_pix's formulas; hue, saturation, value in [0, 1])."""
    where = "ops.image.rgb_to_hsv"
    images, axis = _channel_axis(images, data_format, where)
    _float_images(images, where)
    eps = float(np.finfo(images.dtype).eps)
    images = select(abs_(images).data < eps, 0.0, images)
    r, g, b = _planes(images, axis)
    value = maximum(maximum(r, g), b)
    range_ = value - minimum(minimum(r, g), b)
    v, rg = value.data, range_.data
    safe_value = select(v > 0, value, 1.0)
    safe_range = select(rg > 0, range_, 1.0)
    saturation = select(v > 0, range_ / safe_value, 0.0)
    norm = 1.0 / (safe_range * 6.0)
    hue = select(v == g.data, norm * (b - r) + 2.0 / 6.0, norm * (r - g) + 4.0 / 6.0)
    hue = select(v == r.data, norm * (g - b), hue)
    hue = select(rg > 0, hue, 0.0)
    hue = hue + Tensor._wrap((hue.data < 0.0).astype(hue.dtype))
    return stack([hue, saturation, value], axis=axis)


def moveaxis(x, source, destination):
    axes = list(range(x.ndim))
    axes.insert(destination % x.ndim, axes.pop(source % x.ndim))
    return transpose(x, tuple(axes))


def hsv_to_rgb(images, data_format=None):
    """Keras's ``ops.image.hsv_to_rgb`` (dm_pix's formulas)."""
    where = "ops.image.hsv_to_rgb"
    images, axis = _channel_axis(images, data_format, where)
    _float_images(images, where)
    hue, saturation, value = _planes(images, axis)
    dh = mod(hue, 1.0) * 6.0
    dr = clip(abs_(dh - 3.0) - 1.0, 0.0, 1.0)
    dg = clip(2.0 - abs_(dh - 2.0), 0.0, 1.0)
    db = clip(2.0 - abs_(dh - 4.0), 0.0, 1.0)
    one_minus_s = 1.0 - saturation
    return stack([value * (one_minus_s + saturation * d) for d in (dr, dg, db)], axis=axis)


# -- patches ---------------------------------------------------------------------------------------
def _patches(images, size, strides, dilation_rate, padding, data_format, rank, where):
    images = convert_to_tensor(images)
    first = _first(data_format, where)
    if images.ndim not in (rank + 1, rank + 2):
        raise ValueError(f"{where}: expected rank {rank + 1} (unbatched) or {rank + 2} (batched) inputs, got shape "
                         f"{images.shape}")
    size = (size,) * rank if isinstance(size, (int, np.integer)) else tuple(size)
    if len(size) != rank:
        raise TypeError(f"{where}: invalid `size` argument. Expected an int or a tuple of length {rank}. "
                        f"Received: size={size}")
    if not strides:
        strides = size
    strides = (strides,) * rank if isinstance(strides, (int, np.integer)) else tuple(strides)
    dilation = (dilation_rate,) * rank if isinstance(dilation_rate, (int, np.integer)) else tuple(dilation_rate)
    single = images.ndim == rank + 1
    x = reshape(images, (1, *images.shape)) if single else images
    if first:
        x = transpose(x, (0, *range(2, x.ndim), 1))
    # the windows as strided slices (what Keras's conv with an identity kernel computes), stacked in the
    # kernel's (offsets..., channel) order
    spatial = x.shape[1:-1]
    if str(padding).lower() == "same":
        outs = [-(-n // s) for n, s in zip(spatial, strides)]
        totals = [max((o - 1) * s + (k - 1) * d + 1 - n, 0)
                  for o, s, k, d, n in zip(outs, strides, size, dilation, spatial)]
        x = pad(x, ((0, 0), *[(t // 2, t - t // 2) for t in totals], (0, 0)))
    elif str(padding).lower() != "valid":
        raise ValueError(f"{where}: padding must be 'valid' or 'same', got {padding!r}")
    spatial = x.shape[1:-1]
    outs = [(n - (k - 1) * d - 1) // s + 1 for n, k, d, s in zip(spatial, size, dilation, strides)]
    windows = []
    for offset in np.ndindex(*size):
        index = [slice(None)]
        for o, d, s, n_out in zip(offset, dilation, strides, outs):
            index.append(slice(o * d, o * d + (n_out - 1) * s + 1, s))
        windows.append(getitem(x, (*index, slice(None))))
    y = stack(windows, axis=-2)
    y = reshape(y, (*y.shape[:-2], y.shape[-2] * y.shape[-1]))
    if first:
        y = transpose(y, (0, y.ndim - 1, *range(1, y.ndim - 1)))
    return reshape(y, tuple(y.shape[1:])) if single else y


def extract_patches(images, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Keras's ``ops.image.extract_patches``: each (patch_h, patch_w) window flattened into the channel
    axis (a 3-tuple ``size`` extracts 3-D patches, as ``extract_patches_3d``)."""
    if not isinstance(size, (int, np.integer)) and len(size) == 3:
        return extract_patches_3d(images, size, strides, dilation_rate, padding, data_format)
    return _patches(images, size, strides, dilation_rate, padding, data_format, 2, "ops.image.extract_patches")


def extract_patches_3d(volumes, size, strides=None, dilation_rate=1, padding="valid", data_format=None):
    """Keras's ``ops.image.extract_patches_3d``: (d, h, w) windows of volumes flattened into channels."""
    if strides is not None and not isinstance(strides, (int, np.integer)) and len(strides) != 3:
        raise ValueError(f"ops.image.extract_patches_3d: invalid `strides` argument. Got: {strides}")
    return _patches(volumes, size, strides, dilation_rate, padding, data_format, 3, "ops.image.extract_patches_3d")


# -- filters ---------------------------------------------------------------------------------------
def _depthwise(images, kernel2d, pads, first, where):
    """Each channel of (N, H, W, C) / (N, C, H, W) (or unbatched) cross-correlated with ``kernel2d``
    (a NumPy array), zero-padded by ``pads`` = (ph, pw)."""
    images = convert_to_tensor(images)
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
                         f"images). Received input with shape: images.shape={images.shape}")
    single = images.ndim == 3
    x = reshape(images, (1, *images.shape)) if single else images
    if first:
        x = transpose(x, (0, 2, 3, 1))
    c = x.shape[-1]
    xp = array_module(x.data)
    k = Tensor._wrap(xp.asarray(np.broadcast_to(kernel2d[:, :, None, None], (*kernel2d.shape, c, 1))
                                .astype(x.dtype)))
    ph, pw = pads
    if ph or pw:
        x = pad(x, ((0, 0), (ph, ph), (pw, pw), (0, 0)))
    y = depthwise_conv(x, k, padding="valid")
    if first:
        y = transpose(y, (0, 3, 1, 2))
    return reshape(y, tuple(y.shape[1:])) if single else y


def _gauss1d(size, sigma, dtype):
    x = np.arange(size, dtype=dtype) - dtype.type((size - 1) / 2)
    k = np.exp(dtype.type(-0.5) * (x / dtype.type(sigma)) ** 2)
    return k / k.sum()


def gaussian_blur(images, kernel_size=(3, 3), sigma=(1.0, 1.0), data_format=None):
    """Keras's ``ops.image.gaussian_blur``: a depthwise Gaussian filter, zero padding of
    ``kernel_size[0] // 2`` (output the input's size for odd kernels)."""
    where = "ops.image.gaussian_blur"
    images = convert_to_tensor(images)
    dtype = images.dtype if images.dtype.kind == "f" else np.dtype(np.float32)
    ks = (int(kernel_size), int(kernel_size)) if np.ndim(kernel_size) == 0 else tuple(int(k) for k in kernel_size)
    sg = (float(sigma), float(sigma)) if np.ndim(sigma) == 0 else tuple(float(s) for s in sigma)
    kernel = np.outer(_gauss1d(ks[1], sg[1], dtype), _gauss1d(ks[0], sg[0], dtype)).reshape(ks[0], ks[1])
    p = ks[0] // 2
    return _depthwise(images, kernel, (p, p), _first(data_format, where), where)


_SOBEL_Y = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], np.float64)


def sobel_edges(images, data_format=None):
    """Keras's ``ops.image.sobel_edges``: the (dy, dx) Sobel responses of each channel, stacked on a new
    last axis ((N, H, W, C, 2) channels-last, (N, C, H, W, 2) channels-first)."""
    where = "ops.image.sobel_edges"
    images = convert_to_tensor(images)
    if images.ndim != 4:
        raise ValueError(f"{where}: invalid images rank: expected rank 4 (batch of images). Received: "
                         f"images.shape={images.shape}")
    first = _first(data_format, where)
    dy = _depthwise(images, _SOBEL_Y, (1, 1), first, where)
    dx = _depthwise(images, _SOBEL_Y.T.copy(), (1, 1), first, where)
    return stack([dy, dx], axis=-1)


def ssim(image1, image2, max_val=1.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03, data_format=None):
    """Keras's ``ops.image.ssim``: the mean structural similarity of each image pair (Gaussian window of
    ``filter_size``, valid padding), averaged over channels; one value per image."""
    where = "ops.image.ssim"
    a, b = convert_to_tensor(image1), convert_to_tensor(image2)
    for name, t in (("image1", a), ("image2", b)):
        if t.ndim not in (3, 4):
            raise ValueError(f"{where}: invalid {name} rank: expected rank 3 (single image) or rank 4 (batch of "
                             f"images). Received input with shape: {name}.shape={t.shape}")
    out_dtype = a.dtype
    compute = a.dtype if a.dtype.kind == "f" else np.dtype(np.float32)
    a, b = cast(a, compute), cast(b, compute)
    single = a.ndim == 3
    if single:
        a, b = reshape(a, (1, *a.shape)), reshape(b, (1, *b.shape))
    if _first(data_format, where):
        a, b = moveaxis(a, 1, -1), moveaxis(b, 1, -1)
    n, h, w, c = a.shape
    g = _gauss1d(int(filter_size), float(filter_sigma), compute)
    xp = array_module(a.data)
    kernel = Tensor._wrap(xp.asarray(np.outer(g, g).reshape(filter_size, filter_size, 1, 1).astype(compute)))
    a1 = reshape(transpose(a, (0, 3, 1, 2)), (-1, h, w, 1))
    b1 = reshape(transpose(b, (0, 3, 1, 2)), (-1, h, w, 1))

    def blur(t):
        return conv(t, kernel, padding="valid")
    mu1, mu2 = blur(a1), blur(b1)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = blur(a1 * a1) - mu1_sq
    s2 = blur(b1 * b1) - mu2_sq
    s12 = blur(a1 * b1) - mu1_mu2
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    ssim_map = ((mu1_mu2 * 2.0 + c1) * (s12 * 2.0 + c2)) / ((mu1_sq + mu2_sq + c1) * (s1 + s2 + c2))
    per_image = mean(reshape(mean(ssim_map, axis=(1, 2, 3)), (n, c)), axis=-1)
    if single:
        per_image = reshape(per_image, ())
    return cast(per_image, out_dtype)
