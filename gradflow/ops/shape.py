"""Shape ops: reshape, transpose, flatten, expand/squeeze, concatenate, stack, pad, indexing, device moves."""
from __future__ import annotations

import numpy as np

from .. import config
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import _instance, array_module, get_backend, is_cupy_array
from ._kernel import optional_kernels

__all__ = [
    "reshape", "transpose", "permute", "flatten", "expand_dims", "squeeze", "concatenate",
    "stack", "pad", "getitem", "to_device", "scatter_add",
]


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape):
        ctx.shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise ValueError(
                f"cannot reshape a tensor of shape {a.shape} ({a.size} elements) to {tuple(shape)}") from None

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


class Transpose(Function):
    @staticmethod
    def forward(ctx, a, axes):
        if axes is None:
            axes = tuple(reversed(range(a.ndim)))
        axes = tuple(int(x) % a.ndim for x in axes)
        if sorted(axes) != list(range(a.ndim)):
            raise ValueError(f"transpose: axes {axes} are not a permutation of a rank-{a.ndim} tensor's axes")
        ctx.inv = tuple(np.argsort(axes))
        return a.transpose(axes)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(ctx.inv), None


class Concatenate(Function):
    verb = "concatenate"

    @staticmethod
    def forward(ctx, axis, *arrays):
        xp = array_module(arrays[0])
        ctx.axis = axis
        ctx.sizes = [a.shape[axis] for a in arrays]
        return xp.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        splits = np.cumsum(ctx.sizes)[:-1].tolist()
        return (None, *xp.split(g, splits, axis=ctx.axis))


class Stack(Function):
    verb = "stack"

    @staticmethod
    def forward(ctx, axis, *arrays):
        xp = array_module(arrays[0])
        ctx.axis = axis
        return xp.stack(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        n = g.shape[ctx.axis]
        return (None, *(xp.take(g, i, axis=ctx.axis) for i in range(n)))


class Pad(Function):
    """``numpy.pad``; 'constant' slices the gradient back out, the modes that copy input elements
    ('edge', 'reflect', 'symmetric', 'wrap') add each copy's gradient to its source, axis by axis."""

    @staticmethod
    def forward(ctx, a, pad_width, value, mode):
        xp = array_module(a)
        pw = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (a.ndim, 2))
        rows = [tuple(int(v) for v in row) for row in pw]
        ctx.mode, ctx.shape = mode, a.shape
        if mode == "constant":
            ctx.slices = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(pw, a.shape))
            return xp.pad(a, rows, mode="constant", constant_values=value)
        # the source index of every output position, per axis
        ctx.sources = [np.pad(np.arange(n), row, mode=mode) for n, row in zip(a.shape, rows)]
        return xp.pad(a, rows, mode=mode)

    @staticmethod
    def backward(ctx, g):
        if ctx.mode == "constant":
            return g[ctx.slices], None, None, None
        xp = array_module(g)
        for axis, (n, src) in enumerate(zip(ctx.shape, ctx.sources)):
            shape = list(g.shape)
            shape[axis] = n
            out = xp.zeros(shape, dtype=g.dtype)
            scatter_add(out, (slice(None),) * axis + (xp.asarray(src),), g)
            g = out
        return g, None, None, None


_SCATTER_MODULE = "gradflow.kernels.cpu.scatter"


def _row_scatter(target, index):
    """The Numba row scatter-add (``kernels/cpu/scatter.py``) when it applies: a C-contiguous NumPy
    float32/float64 target indexed along its first axis by one integer NumPy array, kernels
    ``auto``/``numba``, not the reference backend; else None (``np.add.at``)."""
    if (type(target) is not np.ndarray or type(index) is not np.ndarray or index.dtype.kind not in "iu"
            or target.ndim == 0 or target.dtype not in (np.float32, np.float64) or not target.flags.c_contiguous
            or config.kernels not in ("auto", "numba") or get_backend().name == "reference"):
        return None
    return optional_kernels(_SCATTER_MODULE)


def scatter_add(target, index, values):
    """``target[index] += values`` with repeated indices accumulating (NumPy or CuPy)."""
    if is_cupy_array(target):
        import cupyx  # noqa: PLC0415

        cupyx.scatter_add(target, index, values)
    elif (kern := _row_scatter(target, index)) is not None:
        kern.scatter_rows(target, index, values)
    else:
        np.add.at(target, index, values)
    return target


def _is_fancy(idx) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    for it in items:
        if isinstance(it, (list, Tensor)) or (
                hasattr(it, "shape") and hasattr(it, "dtype") and getattr(it, "ndim", 0) > 0):
            return True
        if hasattr(it, "dtype") and getattr(it, "dtype", None) == bool:  # noqa: E721 - a NumPy dtype equals bool
            return True
    return False


def _raw_index(idx):
    if isinstance(idx, Tensor):
        return idx.data
    if isinstance(idx, tuple):
        return tuple(i.data if isinstance(i, Tensor) else i for i in idx)
    return idx


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, idx):
        ctx.shape, ctx.dtype, ctx.idx = a.shape, a.dtype, idx
        ctx.fancy = _is_fancy(idx)
        try:
            return a[idx]
        except IndexError as exc:
            raise IndexError(f"index {idx!r} is invalid for a tensor of shape {a.shape}: {exc}") from None

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        if ctx.fancy and xp is np and (kern := _row_scatter(np.empty((1,), g.dtype), ctx.idx)) is not None:
            # a gather along the first axis (Embedding): the kernel writes every row, no zero fill first
            return kern.scatter_rows(np.empty(ctx.shape, dtype=g.dtype), ctx.idx, g, init=True), None
        out = xp.zeros(ctx.shape, dtype=g.dtype)
        if ctx.fancy:
            scatter_add(out, ctx.idx, g)
        else:
            out[ctx.idx] = g
        return out, None


class ToDevice(Function):
    @staticmethod
    def forward(ctx, a, device):
        ctx.src = "cuda" if is_cupy_array(a) else "cpu"
        if device == ctx.src:
            return a
        if device == "cuda":
            return _instance("cupy").asarray(a)
        return _instance("cupy").to_numpy(a)

    @staticmethod
    def backward(ctx, g):
        return ToDevice.forward(ctx.__class__(), g, ctx.src), None


def reshape(a, shape):
    if isinstance(shape, int):
        shape = (shape,)
    return Reshape.apply(a, tuple(shape))


def transpose(a, axes=None):
    return Transpose.apply(a, None if axes is None else tuple(axes))


def permute(a, *axes):
    return transpose(a, axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes)


def flatten(a, start_axis=0):
    """Collapse the axes from ``start_axis`` on into one (``flatten(x, 1)`` keeps the batch axis)."""
    shape = a.shape
    return reshape(a, tuple(shape[:start_axis]) + (-1,))


def expand_dims(a, axis):
    """Insert size-1 axes at ``axis`` (an int or a tuple: positions in the result, as NumPy)."""
    a = a if isinstance(a, Tensor) else Tensor(a)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    rank = a.ndim + len(axes)
    where = {int(ax) % rank if -rank <= ax < rank else _bad_axis(ax, rank) for ax in axes}
    if len(where) != len(axes):
        raise ValueError(f"expand_dims: repeated axis in {axis!r}")
    dims = iter(a.shape)
    return reshape(a, [1 if i in where else next(dims) for i in range(rank)])


def _bad_axis(axis, rank):
    raise ValueError(f"expand_dims: axis {axis} is out of range for a result of rank {rank}")


def squeeze(a, axis=None):
    shape = a.shape
    if axis is None:
        new = [n for n in shape if n != 1]
    else:
        axes = {ax % len(shape) for ax in ((axis,) if isinstance(axis, int) else axis)}
        for ax in axes:
            if shape[ax] != 1:
                raise ValueError(f"cannot squeeze axis {ax} of size {shape[ax]} (shape {shape})")
        new = [n for i, n in enumerate(shape) if i not in axes]
    return reshape(a, new)


def concatenate(tensors, axis=0):
    return Concatenate.apply(axis, *tensors)


def stack(tensors, axis=0):
    return Stack.apply(axis, *tensors)


_PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def pad(a, pad_width, mode="constant", constant_values=None, value=None):
    """``keras.ops.pad``: ``pad_width`` as in ``numpy.pad`` (int or per-axis (before, after)); ``mode``
    one of 'constant' (``constant_values``, default 0), 'edge', 'reflect', 'symmetric', 'wrap'.
    A number as the third argument is the constant (gradflow's older ``pad(a, pad_width, value)``)."""
    if not isinstance(mode, str):
        mode, value = "constant", mode
    if mode not in _PAD_MODES:
        raise ValueError(f"ops.pad: mode must be one of {_PAD_MODES}, got {mode!r}")
    fill = constant_values if constant_values is not None else (value if value is not None else 0)
    if mode != "constant" and fill != 0:
        raise ValueError(f"ops.pad: constant_values applies only to mode='constant', got mode={mode!r}")
    return Pad.apply(a, pad_width, fill, mode)


def getitem(a, idx):
    return GetItem.apply(a, _raw_index(idx))


def to_device(a, device: str):
    dev = str(device).lower()
    if dev.startswith("cuda") or dev == "gpu":
        dev = "cuda"
    elif dev != "cpu":
        raise ValueError(f"unknown device {device!r}; use 'cpu' or 'cuda'")
    return ToDevice.apply(a, dev)
