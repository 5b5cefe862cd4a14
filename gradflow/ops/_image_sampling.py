"""Coordinate sampling for ``keras.ops.image``: ``map_coordinates`` and the warps built on it
(``affine_transform``, ``perspective_transform``, ``elastic_transform``), as Keras 3 computes them.

Every sample is a weighted sum of gathered pixels, so one differentiable op (``_WeightedGather``)
carries all of them: its backward scatters the weighted gradient back (linear in the image; the
coordinates get no gradient). Indices and weights are computed with the batch's array module.
"""
from __future__ import annotations

import itertools

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend, image_data_format
from .keras_names import convert_to_tensor
from .shape import scatter_add

__all__ = ["map_coordinates", "affine_transform", "perspective_transform", "elastic_transform"]

_ORDERS = {"nearest": 0, "bilinear": 1}
FILL_MODES = ("constant", "nearest", "wrap", "mirror", "reflect")


class _WeightedGather(Function):
    """``sum_k weight[k] * x.ravel()[index[k]] + const``; the gradient scatters back to ``x``."""

    @staticmethod
    def forward(ctx, x, index, weight, const):
        ctx.shape, ctx.index, ctx.weight = x.shape, index, weight
        out = (weight * x.reshape(-1)[index]).sum(axis=0)
        if const is not None:
            out = out + const
        return out.astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        grad = xp.zeros(int(np.prod(ctx.shape)), dtype=g.dtype)
        scatter_add(grad, ctx.index.reshape(-1), (ctx.weight * g[None]).astype(g.dtype).reshape(-1))
        return grad.reshape(ctx.shape), None, None, None


def _mirror(index, size):
    s = size - 1
    if s == 0:
        return index * 0
    return abs((index + s) % (2 * s) - s)


_FIXERS = {
    "constant": lambda i, n: i.clip(0, n - 1),
    "nearest": lambda i, n: i.clip(0, n - 1),
    "wrap": lambda i, n: i % n,
    "mirror": _mirror,
    "reflect": lambda i, n: (_mirror(2 * i + 1, 2 * n + 1) - 1) // 2,
}


def _sample(x: Tensor, coords, order: int, fill_mode: str, fill_value, exact=()) -> Tensor:
    """``x`` (rank R) sampled at ``coords`` (R arrays of one shape) as Keras's ``map_coordinates``;
    the axes in ``exact`` hold integer coordinates inside the array (batch, channel) and are
    gathered directly."""
    xp = array_module(x.data)
    integer = x.dtype.kind in "iub"
    wdtype = np.dtype(np.float64) if integer else x.dtype
    per_axis = []
    for axis, (c, size) in enumerate(zip(coords, x.shape)):
        c = xp.asarray(c)
        if axis in exact:
            per_axis.append([(c.astype(np.int64), None, None)])
            continue
        if order == 0:
            nodes = [((c if c.dtype.kind in "iu" else xp.round(c)).astype(np.int64), None)]
        else:
            c = c.astype(np.float64) if c.dtype.kind in "iub" else c
            lower = xp.floor(c)
            upper_w = (c - lower).astype(np.float64)
            lower = lower.astype(np.int64)
            nodes = [(lower, 1.0 - upper_w), (lower + 1, upper_w)]
        items = []
        for index, w in nodes:
            valid = ((index >= 0) & (index < size)) if fill_mode == "constant" else None
            items.append((_FIXERS[fill_mode](index, size), valid, w))
        per_axis.append(items)
    strides = np.cumprod((x.shape[1:] + (1,))[::-1])[::-1] if x.ndim > 1 else np.array([1])
    shape = np.broadcast_shapes(*[xp.asarray(c).shape for c in coords])
    indices, weights = [], []
    const = None
    for combo in itertools.product(*per_axis):
        flat = sum(int(s) * idx for s, (idx, _, _) in zip(strides, combo))
        w = xp.ones(shape, dtype=np.float64)
        valid = None
        for _, v, wk in combo:
            if wk is not None:
                w = w * wk
            if v is not None:
                valid = v if valid is None else valid & v
        if valid is not None:
            if float(fill_value) != 0.0:
                miss = xp.where(valid, 0.0, w * float(fill_value))
                const = miss if const is None else const + miss
            w = xp.where(valid, w, 0.0)
        indices.append(xp.broadcast_to(flat, shape))
        weights.append(w)
    index = xp.stack(indices).astype(np.int64)
    weight = xp.stack(weights).astype(wdtype)
    if const is not None:
        const = const.astype(wdtype)
    if integer:
        data = (weight * x.data.reshape(-1)[index].astype(np.float64)).sum(axis=0)
        if const is not None:
            data = data + const
        return Tensor._wrap(xp.round(data).astype(x.dtype))
    return _WeightedGather.apply(x, index, weight, const)


def _check_rank(images, where):
    if images.ndim not in (3, 4):
        raise ValueError(f"{where}: invalid images rank: expected rank 3 (single image) or rank 4 (batch of "
                         f"images), got images.shape={images.shape}")


def _check_interp(interpolation, where):
    if interpolation not in _ORDERS:
        raise ValueError(f"{where}: interpolation must be one of {set(_ORDERS)}, got interpolation={interpolation!r}")
    return _ORDERS[interpolation]


def _check_fill(fill_mode, where):
    if fill_mode not in FILL_MODES:
        raise ValueError(f"{where}: fill_mode must be one of {set(FILL_MODES)}, got fill_mode={fill_mode!r}")


def _channels_first(data_format, where) -> bool:
    fmt = str(image_data_format() if data_format is None else data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return fmt == "channels_first"


def _batched(images, first):
    """(N, H, W, C) view of ``images``, and how to undo it."""
    single = images.ndim == 3
    x = images.reshape((1, *images.shape)) if single else images
    if first:
        x = x.transpose((0, 2, 3, 1))

    def undo(y):
        if first:
            y = y.transpose((0, 3, 1, 2))
        return y.reshape(tuple(y.shape[1:])) if single else y
    return x, undo


def map_coordinates(inputs, coordinates, order, fill_mode="constant", fill_value=0):
    """Keras's ``ops.image.map_coordinates``: ``inputs`` sampled at ``coordinates`` (one array of
    positions per input axis) with ``order`` 0 (nearest) or 1 (linear); out-of-range positions
    follow ``fill_mode`` ('constant' fills ``fill_value``)."""
    x = convert_to_tensor(inputs)
    coords = [c.data if isinstance(c, Tensor) else np.asarray(c) for c in coordinates]
    if len(coords) != x.ndim:
        raise ValueError("ops.image.map_coordinates: first dim of `coordinates` must be the same as the rank of "
                         f"`inputs`; got inputs of shape {x.shape} and {len(coords)} coordinate arrays")
    if np.ndim(coords[0]) < 1:
        raise ValueError("ops.image.map_coordinates: invalid coordinates rank: expected at least rank 2, got shape "
                         f"{(len(coords), *np.shape(coords[0]))}")
    if fill_mode not in FILL_MODES:
        raise ValueError(f"ops.image.map_coordinates: fill_mode must be one of {set(FILL_MODES)}, got {fill_mode!r}")
    if order not in (0, 1):
        raise NotImplementedError("map_coordinates currently requires order<=1")
    xp = array_module(x.data)
    return _sample(x, [xp.asarray(c) for c in coords], order, fill_mode, fill_value)


def affine_transform(images, transform, interpolation="bilinear", fill_mode="constant", fill_value=0,
                     data_format=None):
    """Keras's ``ops.image.affine_transform``: each output pixel (x, y) samples the input at
    ``(a0 x + a1 y + a2, b0 x + b1 y + b2)`` of ``transform = [a0, a1, a2, b0, b1, b2, c0, c1]`` (Keras on
    torch adds ``c0 * channel`` / ``c1 * channel`` and does not divide by the projective term)."""
    where = "ops.image.affine_transform"
    order = _check_interp(interpolation, where)
    _check_fill(fill_mode, where)
    images = convert_to_tensor(images)
    _check_rank(images, where)
    t = transform.numpy() if isinstance(transform, Tensor) else np.asarray(transform)
    if t.ndim not in (1, 2):
        raise ValueError(f"{where}: invalid transform rank: expected rank 1 (single transform) or rank 2 (batch of "
                         f"transforms), got transform.shape={t.shape}")
    x, undo = _batched(images, _channels_first(data_format, where))
    n, h, w, c = x.shape
    tdtype = t.dtype if t.dtype.kind == "f" else np.dtype(np.float32)
    t = np.broadcast_to(t.reshape(-1, 8).astype(np.float64), (n, 8))
    yy, xx, cc = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    a0, a1, a2, b0, b1, b2, c0, c1 = (t[:, i].reshape(n, 1, 1, 1) for i in range(8))
    cy = (yy * b1 + xx * b0 + cc * c0 + b2).astype(tdtype)
    cx = (yy * a1 + xx * a0 + cc * c1 + a2).astype(tdtype)
    xp = array_module(x.data)
    nn = np.broadcast_to(np.arange(n).reshape(n, 1, 1, 1), cy.shape)
    coords = [xp.asarray(a) for a in (nn, cy, cx, np.broadcast_to(cc, cy.shape))]
    return undo(_sample(x, coords, order, fill_mode, fill_value, exact=(0, 3)))


def compute_homography_matrix(start_points, end_points):
    """The (N, 8) homographies mapping ``end_points`` to ``start_points`` (4 corners (x, y) each)."""
    s, e = np.asarray(start_points), np.asarray(end_points)
    dtype = np.result_type(s.dtype, e.dtype, np.float32) if s.dtype.kind == "f" else np.dtype(np.float32)
    s, e = s.astype(dtype), e.astype(dtype)
    rows = []
    for k in range(4):
        ex, ey, sx, sy = e[:, k, 0], e[:, k, 1], s[:, k, 0], s[:, k, 1]
        one, zero = np.ones_like(ex), np.zeros_like(ex)
        rows.append(np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1))
        rows.append(np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1))
    a = np.stack(rows, 1)
    b = s.reshape(-1, 8)[..., None]
    return np.linalg.solve(a, b).reshape(-1, 8).astype(dtype)


def perspective_transform(images, start_points, end_points, interpolation="bilinear", fill_value=0,
                          data_format=None):
    """Keras's ``ops.image.perspective_transform``: warp so that ``start_points`` (4 corners (x, y), or
    (N, 4, 2)) land on ``end_points``; outside pixels are ``fill_value``."""
    where = "ops.image.perspective_transform"
    order = _check_interp(interpolation, where)
    images = convert_to_tensor(images)
    _check_rank(images, where)
    sp = start_points.numpy() if isinstance(start_points, Tensor) else np.asarray(start_points)
    ep = end_points.numpy() if isinstance(end_points, Tensor) else np.asarray(end_points)
    for name, p in (("start_points", sp), ("end_points", ep)):
        if p.shape[-2:] != (4, 2) or p.ndim not in (2, 3):
            raise ValueError(f"{where}: invalid {name} shape: expected (4,2) for a single image or (N,4,2) for a "
                             f"batch, got shape {p.shape}")
    if sp.shape != ep.shape:
        raise ValueError(f"{where}: start_points and end_points must have the same shape, got {sp.shape} and "
                         f"{ep.shape}")
    dtype = images.dtype if images.dtype.kind == "f" else np.dtype(np.float32)
    x, undo = _batched(images, _channels_first(data_format, where))
    n, h, w, c = x.shape
    hom = compute_homography_matrix(sp.reshape(-1, 4, 2).astype(dtype), ep.reshape(-1, 4, 2).astype(dtype))
    hom = np.broadcast_to(hom, (n, 8))
    gx, gy = np.meshgrid(np.arange(w, dtype=dtype), np.arange(h, dtype=dtype), indexing="xy")
    a = [hom[:, i].astype(dtype).reshape(n, 1, 1) for i in range(8)]
    denom = a[6] * gx + a[7] * gy + dtype.type(1.0)
    x_in = (a[0] * gx + a[1] * gy + a[2]) / denom
    y_in = (a[3] * gx + a[4] * gy + a[5]) / denom
    shape = (n, h, w, c)
    xp = array_module(x.data)
    coords = [np.broadcast_to(np.arange(n).reshape(n, 1, 1, 1), shape), np.broadcast_to(y_in[..., None], shape),
              np.broadcast_to(x_in[..., None], shape), np.broadcast_to(np.arange(c), shape)]
    return undo(_sample(x, [xp.asarray(v) for v in coords], order, "constant", fill_value, exact=(0, 3)))


def _generator(seed):
    """A generator for one draw (``seed``: None, an int, or a SeedGenerator, as ``keras.random``)."""
    backend = get_backend()
    if seed is None:
        return backend.generator()
    pair = [int(v) for v in np.asarray(seed.next().data)] if hasattr(seed, "next") else [int(seed), 0]
    entropy = int(np.random.SeedSequence([v & 0xFFFFFFFFFFFFFFFF for v in pair]).generate_state(1, np.uint64)[0])
    return np.random.default_rng(entropy)


def _blur_field(field, sigma, dtype):
    """Gaussian blur of (N, H, W) fields, kernel ``int(6 sigma) | 1`` wide, zero padded."""
    size = int(6 * sigma) | 1
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k = (k / k.sum()).astype(dtype)
    p = size // 2
    padded = np.pad(field, ((0, 0), (p, p), (p, p)))
    h, w = field.shape[1:]
    rows = sum(k[i] * padded[:, i:i + h, :] for i in range(size))
    return sum(k[j] * rows[:, :, j:j + w] for j in range(size))


def elastic_transform(images, alpha=20.0, sigma=5.0, interpolation="bilinear", fill_mode="reflect", fill_value=0.0,
                      seed=None, data_format=None):
    """Keras's ``ops.image.elastic_transform``: displace each pixel by ``alpha`` times a Gaussian-blurred
    (``sigma``) normal field of stddev ``sigma``, then resample (one field per image, shared by channels)."""
    where = "ops.image.elastic_transform"
    order = _check_interp(interpolation, where)
    _check_fill(fill_mode, where)
    images = convert_to_tensor(images)
    _check_rank(images, where)
    x, undo = _batched(images, _channels_first(data_format, where))
    n, h, w, c = x.shape
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    rng = _generator(seed)
    alpha, sigma = float(alpha), float(sigma)
    fields = []
    for _ in range(2):
        raw = np.asarray(_host(rng.standard_normal((n, h, w)))).astype(dtype) * dtype.type(sigma)
        fields.append(_blur_field(raw, sigma, dtype))
    dx, dy = fields
    gx, gy = np.meshgrid(np.arange(w), np.arange(h), indexing="xy")
    cx = (gx + alpha * dx).astype(dtype)
    cy = (gy + alpha * dy).astype(dtype)
    shape = (n, h, w, c)
    xp = array_module(x.data)
    coords = [np.broadcast_to(np.arange(n).reshape(n, 1, 1, 1), shape), np.broadcast_to(cy[..., None], shape),
              np.broadcast_to(cx[..., None], shape), np.broadcast_to(np.arange(c), shape)]
    return undo(_sample(x, [xp.asarray(v) for v in coords], order, fill_mode, fill_value, exact=(0, 3)))


def _host(arr):
    return arr.get() if hasattr(arr, "get") else arr
