"""Keras's spatial ops beyond conv/pool: ``conv_transpose`` (1/2/3-D, ``output_padding``, dilation),
``separable_conv``, ``depthwise_conv`` (1-D and 2-D), ``adaptive_average_pool``/``adaptive_max_pool``
(1/2/3-D), ``depth_to_space``/``space_to_depth`` and ``fold``/``unfold`` (im2col and col2im).

Each is differentiable: composed of differentiable ops (``conv``, ``pad``, reshapes), or a small
``Function`` below whose forward and backward are plain array code (``array_module``), so the same
code runs on the numpy, cupy and float64 ``reference`` backends. Geometry follows Keras 3's source
(``keras/src/ops/nn.py`` and the JAX/torch backends it defines the results by).
"""
from __future__ import annotations

from ..autograd.function import Function
from ..backend import array_module
from ._symbolic import export
from .keras_names import convert_to_tensor
from .nn import Conv2DTranspose, _format, _to_first, _to_last, _tuple, conv, depthwise_conv2d
from .shape import pad

__all__ = ["conv_transpose", "separable_conv", "depthwise_conv", "adaptive_average_pool", "adaptive_max_pool",
           "depth_to_space", "space_to_depth", "fold", "unfold"]


# -- conv_transpose ------------------------------------------------------------------------------
class _Dilate(Function):
    """Zeros between the entries of ``x`` along ``axes`` (``stride - 1`` of them): the input of a
    strided transposed convolution ("lhs dilation")."""

    @staticmethod
    def forward(ctx, x, axes, strides):
        xp = array_module(x)
        shape = list(x.shape)
        index = [slice(None)] * x.ndim
        for a, s in zip(axes, strides):
            shape[a] = (x.shape[a] - 1) * s + 1
            index[a] = slice(None, None, s)
        out = xp.zeros(tuple(shape), dtype=x.dtype)
        out[tuple(index)] = x
        ctx.index = tuple(index)
        return out

    @staticmethod
    def backward(ctx, g):
        return g[ctx.index], None, None


def _pad_or_crop(x, widths):
    """``pad`` with per-axis ``(before, after)`` that may be negative (a negative width crops)."""
    grow = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    if any(lo or hi for lo, hi in grow):
        x = pad(x, grow)
    if any(lo < 0 or hi < 0 for lo, hi in widths):
        x = x[tuple(slice(-min(lo, 0), x.shape[i] + min(hi, 0)) for i, (lo, hi) in enumerate(widths))]
    return x


def transpose_padding(kernel_size, stride, dilation, padding, output_padding):
    """``(left, right)`` padding of the stride-dilated input (Keras's JAX rule, which its torch backend
    reproduces): the output is ``(n - 1) * stride + k`` with 'valid' (plus ``output_padding``, by
    default ``max(k, stride) - k``), ``n * stride`` with 'same' and no ``output_padding``."""
    k = (kernel_size - 1) * dilation + 1
    if padding == "valid":
        extra = max(k, stride) - k if output_padding is None else output_padding
        return k - 1, k - 1 + extra
    pad_len = stride + k - 2 if output_padding is None else k + k % 2 - 2 + output_padding
    left = min(pad_len // 2 + pad_len % 2, k - 1)
    return left, pad_len - left


def _padding_mode(padding, where):
    mode = str(padding).lower()
    if mode not in ("valid", "same"):
        raise ValueError(f"{where}: padding must be 'valid' or 'same', got {padding!r}")
    return mode


def conv_transpose(inputs, kernel, strides=1, padding="valid", output_padding=None, data_format=None,
                   dilation_rate=1):
    """Keras's ``ops.conv_transpose``: 1-D, 2-D or 3-D; ``kernel`` ``(*spatial, out_channels,
    in_channels)``. The stride-dilated input, padded by Keras's rule, convolved with the flipped kernel."""
    first = _format(data_format, "ops.conv_transpose")
    mode = _padding_mode(padding, "ops.conv_transpose")
    inputs, kernel = convert_to_tensor(inputs), convert_to_tensor(kernel)
    rank = inputs.ndim - 2
    if rank not in (1, 2, 3) or kernel.ndim != rank + 2:
        raise ValueError(f"ops.conv_transpose: inputs of rank 3, 4 or 5 and a kernel of the same rank, got shapes "
                         f"{inputs.shape} and {kernel.shape}")
    s, d = _tuple(strides, rank, "strides"), _tuple(dilation_rate, rank, "dilation_rate")
    op = [None] * rank if output_padding is None else list(_tuple(output_padding, rank, "output_padding"))
    x = _to_last(inputs, first)
    if x.shape[-1] != kernel.shape[-1]:
        raise ValueError(f"ops.conv_transpose: the input has {x.shape[-1]} channels but the kernel expects "
                         f"{kernel.shape[-1]} (kernel shape {kernel.shape}, (*spatial, out, in))")
    widths = [(0, 0)] + [transpose_padding(k, st, dl, mode, o)
                         for k, st, dl, o in zip(kernel.shape[:rank], s, d, op)] + [(0, 0)]
    if rank <= 2:  # on the transposed-conv kernel (stride phases, no zero-dilated input) where it fits
        y = _conv2d_transpose(x, kernel, s, d, widths[1:-1])
        if y is not None:
            return _to_first(y, first)
    axes = tuple(range(1, rank + 1))
    if max(s) > 1:
        x = _Dilate.apply(x, axes, s)
    x = _pad_or_crop(x, widths)
    flipped = kernel[tuple([slice(None, None, -1)] * rank)]
    w = flipped.transpose((*range(rank), rank + 1, rank))  # (*k, in, out)
    return _to_first(conv(x, w, 1, "valid", None, d), first)


def _conv2d_transpose(x, kernel, strides, dilation, widths):
    """``conv_transpose`` of a 1-D or 2-D channels-last x as ``Conv2DTranspose`` (conv2d's adjoint):
    Keras's padding (lo, hi) of the stride-dilated input is the adjoint's conv padding
    (k_eff - 1 - lo, k_eff - 1 - hi); None where that is negative (output_padding past the kernel)."""
    ks = tuple(kernel.shape[:len(strides)])
    pads = tuple((dl * (k - 1) - lo, dl * (k - 1) - hi) for k, dl, (lo, hi) in zip(ks, dilation, widths))
    if min(min(p) for p in pads) < 0:
        return None
    out = tuple((n - 1) * st + dl * (k - 1) + 1 - lo - hi
                for n, k, st, dl, (lo, hi) in zip(x.shape[1:-1], ks, strides, dilation, pads))
    if len(strides) == 2:
        return Conv2DTranspose.apply(x, kernel, None, out, tuple(strides), pads, tuple(dilation))
    n, steps, c = x.shape
    y = Conv2DTranspose.apply(x.reshape((n, 1, steps, c)), kernel.reshape((1, *kernel.shape)), None, (1, *out),
                              (1, strides[0]), ((0, 0), pads[0]), (1, dilation[0]))
    return y.reshape((n, out[0], kernel.shape[-2]))


# -- depthwise and separable ------------------------------------------------------------------------
def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras's ``ops.depthwise_conv``, 1-D ``(N, steps, C)`` (a 2-D one of height 1) or 2-D; the kernel
    ``(*spatial, C, multiplier)``; channels first with ``data_format='channels_first'``."""
    first = _format(data_format, "ops.depthwise_conv")
    x, kernel = _to_last(convert_to_tensor(inputs), first), convert_to_tensor(kernel)
    rank = x.ndim - 2
    if rank == 1:
        (st,), (dl,) = _tuple(strides, 1, "strides"), _tuple(dilation_rate, 1, "dilation_rate")
        n, steps, c = x.shape
        y = depthwise_conv2d(x.reshape((n, 1, steps, c)), kernel.reshape((1, *kernel.shape)), (1, st), padding,
                             (1, dl))
        y = y.reshape((n, y.shape[2], y.shape[3]))
    elif rank == 2:
        y = depthwise_conv2d(x, kernel, strides, padding, dilation_rate)
    else:
        raise ValueError(f"ops.depthwise_conv: inputs must have rank 3 or 4 (1-D or 2-D), got shape {x.shape}")
    return _to_first(y, first)


def separable_conv(inputs, depthwise_kernel, pointwise_kernel, strides=1, padding="valid", data_format=None,
                   dilation_rate=1):
    """Keras's ``ops.separable_conv`` (1-D and 2-D): a depthwise convolution, then a pointwise one
    (``pointwise_kernel`` ``(1, ..., C * multiplier, filters)``)."""
    first = _format(data_format, "ops.separable_conv")
    y = depthwise_conv(_to_last(convert_to_tensor(inputs), first), depthwise_kernel, strides, padding, None,
                       dilation_rate)
    return _to_first(conv(y, convert_to_tensor(pointwise_kernel), 1, "valid"), first)


# -- adaptive pooling -------------------------------------------------------------------------------
def _bins(n: int, out: int):
    """PyTorch's adaptive bins (what Keras's torch backend runs): ``[floor(i n / out), ceil((i+1) n / out))``."""
    return [((i * n) // out, -((-(i + 1) * n) // out)) for i in range(out)]


class _AdaptivePool1Axis(Function):
    """Adaptive mean or max along one axis: output entry ``i`` reduces its bin of the input."""

    @staticmethod
    def forward(ctx, x, axis, out, mode):
        xp = array_module(x)
        bins = _bins(x.shape[axis], out)
        moved = xp.moveaxis(x, axis, 0)
        parts, picks = [], []
        for lo, hi in bins:
            window = moved[lo:hi]
            if mode == "average":
                parts.append(window.mean(axis=0))
            else:
                arg = window.argmax(axis=0)
                picks.append(arg + lo)
                parts.append(xp.take_along_axis(window, arg[None], axis=0)[0])
        ctx.shape, ctx.axis, ctx.bins, ctx.mode, ctx.picks = moved.shape, axis, bins, mode, picks
        return xp.moveaxis(xp.stack(parts), 0, axis)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        gm = xp.moveaxis(g, ctx.axis, 0)
        dx = xp.zeros(ctx.shape, dtype=g.dtype)
        for i, (lo, hi) in enumerate(ctx.bins):
            if ctx.mode == "average":
                dx[lo:hi] += gm[i] / g.dtype.type(hi - lo)
            else:
                flat = dx.reshape(ctx.shape[0], -1)
                cols = xp.arange(flat.shape[1])
                flat[ctx.picks[i].reshape(-1), cols] += gm[i].reshape(-1)
        return xp.moveaxis(dx, 0, ctx.axis), None, None, None


def _adaptive(inputs, output_size, data_format, mode, where):
    first = _format(data_format, where)
    x = _to_last(convert_to_tensor(inputs), first)
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"{where}: inputs must have rank 3, 4 or 5 (1-D, 2-D or 3-D), got shape {x.shape}")
    sizes = _tuple(output_size, rank, "output_size")
    if min(sizes) < 1:
        raise ValueError(f"{where}: output_size must be positive, got {output_size!r}")
    for axis, size in enumerate(sizes, start=1):  # mean and max over a box are both separable
        x = _AdaptivePool1Axis.apply(x, axis, size, mode)
    return _to_first(x, first)


def adaptive_average_pool(inputs, output_size, data_format=None):
    """Keras's ``ops.adaptive_average_pool``: the mean of each of ``output_size`` bins per spatial axis."""
    return _adaptive(inputs, output_size, data_format, "average", "ops.adaptive_average_pool")


def adaptive_max_pool(inputs, output_size, data_format=None):
    """Keras's ``ops.adaptive_max_pool``: the maximum of each of ``output_size`` bins per spatial axis."""
    return _adaptive(inputs, output_size, data_format, "max", "ops.adaptive_max_pool")


# -- pixel shuffle ----------------------------------------------------------------------------------
def _block(block_size, where):
    if int(block_size) < 2:
        raise ValueError(f"{where}: `block_size` must be at least 2. Received: block_size={block_size}")
    return int(block_size)


def depth_to_space(x, block_size, data_format="channels_last"):
    """Keras's ``ops.depth_to_space`` (pixel shuffle): ``(N, H, W, C r^2) -> (N, H r, W r, C)``."""
    r = _block(block_size, "ops.depth_to_space")
    x = convert_to_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"`depth_to_space` requires a 4D input tensor. Received: x.shape={x.shape}")
    if _format(data_format, "ops.depth_to_space"):
        n, c, h, w = x.shape
        if c % (r * r):
            raise ValueError(f"ops.depth_to_space: {c} channels are not divisible by block_size**2 ({r * r})")
        y = x.reshape((n, c // (r * r), r, r, h, w)).transpose((0, 1, 4, 2, 5, 3))
        return y.reshape((n, c // (r * r), h * r, w * r))
    n, h, w, c = x.shape
    if c % (r * r):
        raise ValueError(f"ops.depth_to_space: {c} channels are not divisible by block_size**2 ({r * r})")
    y = x.reshape((n, h, w, r, r, c // (r * r))).transpose((0, 1, 3, 2, 4, 5))
    return y.reshape((n, h * r, w * r, c // (r * r)))


def space_to_depth(x, block_size, data_format="channels_last"):
    """Keras's ``ops.space_to_depth`` (pixel unshuffle): ``(N, H r, W r, C) -> (N, H, W, C r^2)``."""
    r = _block(block_size, "ops.space_to_depth")
    x = convert_to_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"`space_to_depth` requires a 4D input tensor. Received: x.shape={x.shape}")
    first = _format(data_format, "ops.space_to_depth")
    n = x.shape[0]
    h, w = (x.shape[2], x.shape[3]) if first else (x.shape[1], x.shape[2])
    if h % r or w % r:
        raise ValueError(f"ops.space_to_depth: height {h} and width {w} must be divisible by block_size ({r})")
    if first:
        c = x.shape[1]
        y = x.reshape((n, c, h // r, r, w // r, r)).transpose((0, 1, 3, 5, 2, 4))
        return y.reshape((n, c * r * r, h // r, w // r))
    c = x.shape[3]
    y = x.reshape((n, h // r, r, w // r, r, c)).transpose((0, 1, 3, 2, 4, 5))
    return y.reshape((n, h // r, w // r, c * r * r))


# -- fold / unfold (col2im / im2col, channels first as torch) ---------------------------------------
def _pair(v, name):
    return _tuple(v, 2, name)


def _unfold_array(x, k, d, p, s, out_hw):
    """``(N, C, H, W) -> (N, C * kh * kw, oh * ow)``, channel-major then kernel row, kernel column."""
    xp = array_module(x)
    xpad = xp.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1]))) if any(p) else x
    (oh, ow), n, c = out_hw, x.shape[0], x.shape[1]
    cols = xp.empty((n, c, k[0], k[1], oh, ow), dtype=x.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            cols[:, :, i, j] = xpad[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
                                    j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]]
    return cols.reshape(n, c * k[0] * k[1], oh * ow)


def _fold_array(cols, size, k, d, p, s, out_hw):
    """The adjoint of ``_unfold_array``: each block added back at its place (overlaps summed)."""
    xp = array_module(cols)
    (oh, ow), n = out_hw, cols.shape[0]
    c = cols.shape[1] // (k[0] * k[1])
    blocks = cols.reshape(n, c, k[0], k[1], oh, ow)
    out = xp.zeros((n, c, size[0] + 2 * p[0], size[1] + 2 * p[1]), dtype=cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            out[:, :, i * d[0]: i * d[0] + s[0] * (oh - 1) + 1: s[0],
                j * d[1]: j * d[1] + s[1] * (ow - 1) + 1: s[1]] += blocks[:, :, i, j]
    return out[:, :, p[0]:p[0] + size[0], p[1]:p[1] + size[1]]


def _blocks(size, k, d, p, s, where):
    out = tuple((n + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for n, kk, dd, pp, ss in zip(size, k, d, p, s))
    if min(out) < 1:
        raise ValueError(f"{where}: kernel_size {k} (dilation {d}, padding {p}) does not fit the spatial size {size}")
    return out


class _Unfold(Function):
    @staticmethod
    def forward(ctx, x, k, d, p, s, out_hw):
        ctx.geom, ctx.size = (k, d, p, s, out_hw), x.shape[2:]
        return _unfold_array(x, k, d, p, s, out_hw)

    @staticmethod
    def backward(ctx, g):
        return _fold_array(g, ctx.size, *ctx.geom), None, None, None, None, None


class _Fold(Function):
    @staticmethod
    def forward(ctx, cols, size, k, d, p, s, out_hw):
        ctx.geom = (k, d, p, s, out_hw)
        return _fold_array(cols, size, k, d, p, s, out_hw)

    @staticmethod
    def backward(ctx, g):
        return _unfold_array(g, *ctx.geom), None, None, None, None, None, None


def unfold(x, kernel_size, dilation=1, padding=0, stride=1):
    """Keras's ``ops.unfold`` (im2col): ``(N, C, H, W) -> (N, C * kh * kw, L)``, the sliding blocks."""
    x = convert_to_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"Input must be a 4D tensor. Received: input.shape={x.shape}")
    k, d, p, s = (_pair(kernel_size, "kernel_size"), _pair(dilation, "dilation"), _pair(padding, "padding"),
                  _pair(stride, "stride"))
    return _Unfold.apply(x, k, d, p, s, _blocks(x.shape[2:], k, d, p, s, "ops.unfold"))


def fold(x, output_size, kernel_size, dilation=1, padding=0, stride=1):
    """Keras's ``ops.fold`` (col2im): ``(N, C * kh * kw, L) -> (N, C, oh, ow)``, overlaps summed."""
    x = convert_to_tensor(x)
    if x.ndim != 3:
        raise ValueError(f"Input must be a 3D tensor. Received: input.shape={x.shape}")
    size, k = _pair(output_size, "output_size"), _pair(kernel_size, "kernel_size")
    d, p, s = _pair(dilation, "dilation"), _pair(padding, "padding"), _pair(stride, "stride")
    if x.shape[1] % (k[0] * k[1]):
        raise ValueError(f"The second dimension of the input ({x.shape[1]}) must be divisible by kernel_size "
                         f"product ({k[0] * k[1]}).")
    out_hw = _blocks(size, k, d, p, s, "ops.fold")
    if out_hw[0] * out_hw[1] != x.shape[2]:
        raise ValueError(f"ops.fold: output_size {size} with kernel_size {k} gives {out_hw[0] * out_hw[1]} blocks, "
                         f"but the input holds {x.shape[2]} (shape {x.shape})")
    return _Fold.apply(x, size, k, d, p, s, out_hw)


export(globals(), __all__)  # each op records a node on symbolic (KerasTensor) inputs
