"""Neural-network ops: softmax family, fused cross-entropy, conv2d, pooling, batch norm, dropout.

Geometry ('same'/'valid'/explicit padding, strides, dilation) is resolved here; the array
work goes to the hot-path kernels chosen by ``gradflow.dispatch`` (contracts in kernels/README.md).
"""
from __future__ import annotations

import functools

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.tensor import Tensor
from ..backend import array_module, backend_for
from . import elementwise, keras_names
from ._kernel import kernel
from .elementwise import relu
from .keras_names import convert_to_tensor
from .shape import pad as keras_pad

__all__ = [
    "softmax", "log_softmax", "softmax_cross_entropy", "sparse_softmax_cross_entropy",
    "sigmoid_binary_cross_entropy", "conv2d", "conv2d_transpose", "depthwise_conv2d", "conv_transpose_output_size",
    "conv2d_relu_max_pool", "conv2d_inference", "fold_batch_norm", "batch_norm_affine", "sync_batch_norm",
    "max_pool2d", "avg_pool2d", "batch_norm",
    "batch_norm_relu_max_pool",
    "dropout", "conv", "depthwise_conv", "max_pool", "average_pool",
    "pair", "conv_padding", "pool_padding", "conv_output_size",
]


# -- Keras's ops.nn spellings of ops that live elsewhere (keras.ops.nn.relu, ...) ------------
def __getattr__(name):
    for module in (elementwise, keras_names):
        if name in module.__all__:
            return getattr(module, name)
    raise AttributeError(f"module 'gradflow.ops.nn' has no attribute {name!r}")


# -- Keras's ops.conv / ops.max_pool ... spellings: ranks 3, 4 and 5, either data format ----------
def _tuple(value, n: int, name: str) -> tuple:
    out = (int(value),) * n if isinstance(value, (int, np.integer)) else tuple(int(v) for v in value)
    if len(out) != n:
        raise ValueError(f"{name} must be an int or {n} ints, got {value!r}")
    return out


def _format(data_format, where: str) -> bool:
    """True for channels-first (Keras's ``data_format``; None means channels-last)."""
    fmt = "channels_last" if data_format is None else str(data_format).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{where}: data_format must be 'channels_last' or 'channels_first', got {data_format!r}")
    return fmt == "channels_first"


def _to_last(x, first: bool):
    return x.transpose((0, *range(2, x.ndim), 1)) if first else x


def _to_first(y, first: bool):
    return y.transpose((0, y.ndim - 1, *range(1, y.ndim - 1))) if first else y


def conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras's ``ops.conv``: 1-D ``(N, steps, C)``, 2-D ``(N, H, W, C)`` or 3-D ``(N, D, H, W, C)``
    inputs (channels first with ``data_format='channels_first'``); the kernel ``(*spatial, C, F)``."""
    first = _format(data_format, "ops.conv")
    inputs, kernel = convert_to_tensor(inputs), convert_to_tensor(kernel)
    rank = inputs.ndim - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"ops.conv: inputs must have rank 3, 4 or 5 (1-D, 2-D or 3-D), got shape {inputs.shape}")
    if kernel.ndim != rank + 2:
        raise ValueError(f"ops.conv: a {rank}-D convolution needs a kernel of rank {rank + 2}, got {kernel.shape}")
    s, d = _tuple(strides, rank, "strides"), _tuple(dilation_rate, rank, "dilation_rate")
    x = _to_last(inputs, first)
    if rank == 1:
        n, steps, c = x.shape
        y = conv2d(x.reshape((n, 1, steps, c)), kernel.reshape((1, *kernel.shape)), None, (1, s[0]), padding,
                   (1, d[0]))
        y = y.reshape((n, y.shape[2], y.shape[3]))
    elif rank == 2:
        y = conv2d(x, kernel, None, s, padding, d)
    else:
        y = _conv3d(x, kernel, s, padding, d)
    return _to_first(y, first)


def _conv3d(x, kernel, strides, padding, dilation):
    """(N, D, H, W, C) by a (kd, kh, kw, C, F) kernel: one batched conv2d per kernel depth tap (the
    output depths folded into the batch), summed."""
    n, depth, height, width, c = x.shape
    (kd, kh, kw), (sd, sh, sw), (dd, dh, dw) = kernel.shape[:3], strides, dilation
    (lo, hi), _ = conv_padding(padding, (depth, depth), (kd, kd), (sd, sd), (dd, dd))
    if lo or hi:
        x = keras_pad(x, ((0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)))
    out_d = conv_output_size(depth, kd, sd, lo, hi, dd)
    hw_pads = conv_padding(padding, (height, width), (kh, kw), (sh, sw), (dh, dw))
    y = None
    for i in range(kd):
        taps = x[:, i * dd: i * dd + sd * (out_d - 1) + 1: sd]
        part = conv2d(taps.reshape((n * out_d, height, width, c)), kernel[i], None, (sh, sw), hw_pads, (dh, dw))
        y = part if y is None else y + part
    return y.reshape((n, out_d, y.shape[1], y.shape[2], y.shape[3]))


def depthwise_conv(inputs, kernel, strides=1, padding="valid", data_format=None, dilation_rate=1):
    """Keras's ``ops.depthwise_conv`` (2-D; channels first with ``data_format='channels_first'``)."""
    first = _format(data_format, "ops.depthwise_conv")
    x = _to_last(convert_to_tensor(inputs), first)
    return _to_first(depthwise_conv2d(x, convert_to_tensor(kernel), strides, padding, dilation_rate), first)


def _pool(pool2d, inputs, pool_size, strides, padding, data_format, where):
    first = _format(data_format, where)
    x = _to_last(convert_to_tensor(inputs), first)
    rank = x.ndim - 2
    if rank not in (1, 2, 3):
        raise ValueError(f"{where}: inputs must have rank 3, 4 or 5 (1-D, 2-D or 3-D), got shape {x.shape}")
    pool = _tuple(pool_size, rank, "pool_size")
    stride = pool if strides is None else _tuple(strides, rank, "strides")
    if rank == 1:
        n, steps, c = x.shape
        y = pool2d(x.reshape((n, 1, steps, c)), (1, pool[0]), (1, stride[0]), padding)
        y = y.reshape((n, y.shape[2], c))
    elif rank == 2:
        y = pool2d(x, pool, stride, padding)
    else:  # height and width per depth, then depth: max and mean (padded cells not counted) both separate
        n, depth, height, width, c = x.shape
        y = pool2d(x.reshape((n * depth, height, width, c)), pool[1:], stride[1:], padding)
        oh, ow = y.shape[1], y.shape[2]
        y = pool2d(y.reshape((n, depth, oh * ow, c)), (pool[0], 1), (stride[0], 1), padding)
        y = y.reshape((n, y.shape[1], oh, ow, c))
    return _to_first(y, first)


def max_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Keras's ``ops.max_pool`` over 1-D, 2-D or 3-D windows."""
    return _pool(max_pool2d, inputs, pool_size, strides, padding, data_format, "ops.max_pool")


def average_pool(inputs, pool_size, strides=None, padding="valid", data_format=None):
    """Keras's ``ops.average_pool`` over 1-D, 2-D or 3-D windows ('same': padded cells not counted)."""
    return _pool(avg_pool2d, inputs, pool_size, strides, padding, data_format, "ops.average_pool")


# -- softmax family -------------------------------------------------------------------------
class Softmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        xp = array_module(a)
        e = xp.exp(a - a.max(axis=axis, keepdims=True))
        out = e / e.sum(axis=axis, keepdims=True)
        ctx.out, ctx.axis = out, axis
        return out

    @staticmethod
    def backward(ctx, g):
        s = ctx.out
        return s * (g - (g * s).sum(axis=ctx.axis, keepdims=True)), None


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, a, axis):
        xp = array_module(a)
        shifted = a - a.max(axis=axis, keepdims=True)
        out = shifted - xp.log(xp.exp(shifted).sum(axis=axis, keepdims=True))
        ctx.out, ctx.axis = out, axis
        return out

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        return g - xp.exp(ctx.out) * g.sum(axis=ctx.axis, keepdims=True), None


def softmax(a, axis=-1):
    """Numerically stable softmax along ``axis``."""
    return Softmax.apply(a, axis)


def log_softmax(a, axis=-1):
    """Numerically stable log-softmax along ``axis``."""
    return LogSoftmax.apply(a, axis)


class SoftmaxXent(Function):
    """Per-sample cross-entropy of softmax(logits) against target distributions, fused."""

    @staticmethod
    def forward(ctx, logits, target, axis):
        xp = array_module(logits)
        shifted = logits - logits.max(axis=axis, keepdims=True)
        e = xp.exp(shifted)
        s = e.sum(axis=axis, keepdims=True)
        logp = shifted - xp.log(s)
        ctx.p, ctx.target, ctx.axis = e / s, target, axis
        return -(target * logp).sum(axis=axis)

    @staticmethod
    def backward(ctx, g):
        g = array_module(g).expand_dims(g, ctx.axis)
        tsum = ctx.target.sum(axis=ctx.axis, keepdims=True)
        return g * (ctx.p * tsum - ctx.target), None, None


class SparseSoftmaxXent(Function):
    """Per-sample cross-entropy of softmax(logits) (last axis) against integer labels, fused."""

    @staticmethod
    def forward(ctx, logits, labels):
        xp = array_module(logits)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        e = xp.exp(shifted)
        s = e.sum(axis=-1, keepdims=True)
        lab = labels[..., None]
        picked = xp.take_along_axis(shifted, lab, axis=-1)[..., 0]
        ctx.p, ctx.lab = e / s, lab
        return xp.log(s[..., 0]) - picked

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        d = ctx.p * g[..., None]
        flat = d.reshape(-1, d.shape[-1])
        flat[xp.arange(flat.shape[0]), ctx.lab.reshape(-1)] -= g.reshape(-1)
        return d, None


class SigmoidBCE(Function):
    """Elementwise binary cross-entropy of sigmoid(logits), in the overflow-free form."""

    @staticmethod
    def forward(ctx, logits, target):
        xp = array_module(logits)
        ctx.logits, ctx.target = logits, target
        return xp.maximum(logits, 0) - logits * target + xp.log1p(xp.exp(-xp.abs(logits)))

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        p = 0.5 * (1 + xp.tanh(0.5 * ctx.logits))
        return g * (p - ctx.target), None


def softmax_cross_entropy(logits, target, axis=-1):
    """-sum(target * log_softmax(logits)) per sample; stable for any logits."""
    return SoftmaxXent.apply(logits, target.data if isinstance(target, Tensor) else target, axis)


def sparse_softmax_cross_entropy(logits, labels):
    """-log_softmax(logits)[label] per sample; ``labels`` are integer class ids."""
    lab = labels.data if isinstance(labels, Tensor) else labels
    xp = array_module(logits.data if isinstance(logits, Tensor) else logits)
    lab = xp.asarray(lab).astype(np.int64, copy=False)
    return SparseSoftmaxXent.apply(logits, lab)


def sigmoid_binary_cross_entropy(logits, target):
    """Elementwise BCE of sigmoid(logits) against ``target`` in [0, 1]; never overflows."""
    return SigmoidBCE.apply(logits, target.data if isinstance(target, Tensor) else target)


# -- geometry -------------------------------------------------------------------------------
def pair(value, name: str = "value") -> tuple[int, int]:
    """``3 -> (3, 3)``; ``(2, 3) -> (2, 3)``."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    vals = tuple(int(v) for v in value)
    if len(vals) != 2:
        raise ValueError(f"{name} must be an int or a pair of ints, got {value!r}")
    return vals


def conv_output_size(n, k, stride, pad_lo, pad_hi, dilation=1):
    return (n + pad_lo + pad_hi - dilation * (k - 1) - 1) // stride + 1


def _same_pad(n, k_eff, stride):
    out = -(-n // stride)
    total = max((out - 1) * stride + k_eff - n, 0)
    return total // 2, total - total // 2  # the extra one goes bottom/right, like Keras/TF


def conv_padding(padding, hw, kernel_size, strides, dilation):
    """Explicit ((top, bottom), (left, right)) for 'valid', 'same', an int, pairs, or explicit."""
    if isinstance(padding, str):
        mode = padding.lower()
        if mode == "valid":
            return (0, 0), (0, 0)
        if mode == "same":
            return tuple(_same_pad(n, d * (k - 1) + 1, s) for n, k, s, d in zip(hw, kernel_size, strides, dilation))
        raise ValueError(f"padding must be 'valid', 'same' or explicit ints, got {padding!r}")
    if isinstance(padding, (int, np.integer)):
        return (int(padding),) * 2, (int(padding),) * 2
    p = tuple(padding)
    if len(p) == 2 and all(isinstance(v, (int, np.integer)) for v in p):
        return (int(p[0]),) * 2, (int(p[1]),) * 2
    return tuple(int(v) for v in p[0]), tuple(int(v) for v in p[1])


def pool_padding(padding, hw, pool, strides):
    return conv_padding(padding, hw, pool, strides, (1, 1))


# -- conv2d ---------------------------------------------------------------------------------
class Conv2D(Function):
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, activation):
        ctx.x, ctx.w, ctx.geom, ctx.has_b = x, w, (stride, padding, dilation), b is not None
        y = kernel("conv2d_forward", x)(x, w, b, stride, padding, dilation, activation=activation)
        ctx.y = y if activation == "relu" else None  # the ReLU mask is y > 0
        return y

    @staticmethod
    def backward(ctx, g):
        nx, nw, nb = ctx.needs_input_grad[:3]
        x, w, y = ctx.x, ctx.w, ctx.y
        xp = array_module(g)
        g = xp.ascontiguousarray(g)
        need_db = nb and ctx.has_b
        db = None
        if y is not None or (need_db and not nw):  # ReLU mask and bias sum in one pass over g
            F = g.shape[-1]
            g2, db = kernel("bias_act_backward", g)(g.reshape(-1, F), None if y is None else y.reshape(-1, F))
            g = g2.reshape(g.shape)
        elif need_db:  # the bias sum rides along with backward_filter's pass over g
            db = xp.empty(g.shape[-1], dtype=g.dtype)
        dx = kernel("conv2d_backward_input", g)(g, w, x.shape, *ctx.geom) if nx else None
        dw = None
        if nw:
            fused_db = db if (need_db and y is None) else None
            dw = kernel("conv2d_backward_filter", g)(g, x, w.shape, *ctx.geom, bias_out=fused_db)
        return dx, dw, db if need_db else None, None, None, None, None


def conv2d(x, w, b=None, strides=1, padding="valid", dilation=1, activation=None):
    """2-D convolution, channels-last: x[N,H,W,C] * w[KH,KW,C,F] (+ b[F]) -> y[N,OH,OW,F].

    ``activation='relu'`` applies ReLU in the kernel's epilogue (and masks the gradient in one pass
    with the bias sum), the same result as ``relu(conv2d(...))`` without the extra passes.
    """
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d: activation must be None or 'relu', got {activation!r}")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d expects x of rank 4 (N,H,W,C) and w of rank 4 (KH,KW,C,F), got shapes {x.shape} and "
                         f"{w.shape}")
    if x.shape[3] != w.shape[2]:
        raise ValueError(f"conv2d: input has {x.shape[3]} channels but the kernel expects {w.shape[2]} (shapes "
                         f"{x.shape} and {w.shape})")
    stride, dil = pair(strides, "strides"), pair(dilation, "dilation")
    pads = conv_padding(padding, x.shape[1:3], w.shape[:2], stride, dil)
    for n, k, s, d, (lo, hi), axis in zip(x.shape[1:3], w.shape[:2], stride, dil, pads, "HW"):
        if conv_output_size(n, k, s, lo, hi, d) < 1:
            raise ValueError(f"conv2d: kernel {tuple(w.shape[:2])} (dilation {dil}) is larger than the padded input "
                             f"{tuple(x.shape[1:3])} along {axis}")
    return Conv2D.apply(x, w, b, stride, pads, dil, activation)


_VALID = ((0, 0), (0, 0))


class DepthwiseConv2D(Function):
    """Each input channel convolved with its own ``multiplier`` filters, on the depthwise kernels
    (``depthwise_conv2d_forward`` / ``_backward_input`` / ``_backward_filter``, chosen by dispatch)."""

    @staticmethod
    def forward(ctx, x, w, stride, pads, dilation, out_hw):
        xp = array_module(x)
        ctx.dtypes = (x.dtype, w.dtype)
        if x.dtype.kind == "f" and x.dtype.itemsize < 4:  # float16 & co: the kernels compute in float32
            x, w = x.astype(np.float32), w.astype(np.float32)
        x = xp.ascontiguousarray(x)
        ctx.x, ctx.w, ctx.geom = x, w, (stride, pads, dilation)
        y = kernel("depthwise_conv2d_forward", x)(x, w, stride, pads, dilation)
        return y.astype(ctx.dtypes[0], copy=False)

    @staticmethod
    def backward(ctx, g):
        need_x, need_w = ctx.needs_input_grad[:2]
        g = array_module(g).ascontiguousarray(g, dtype=ctx.x.dtype)
        dx = kernel("depthwise_conv2d_backward_input", g)(g, ctx.w, ctx.x.shape, *ctx.geom) if need_x else None
        dw = kernel("depthwise_conv2d_backward_filter", g)(g, ctx.x, ctx.w.shape, *ctx.geom) if need_w else None
        return (None if dx is None else dx.astype(ctx.dtypes[0], copy=False),
                None if dw is None else dw.astype(ctx.dtypes[1], copy=False), None, None, None, None)


def depthwise_conv2d(x, w, strides=1, padding="valid", dilation=1):
    """Depthwise 2-D convolution, channels-last: x[N,H,W,C], w[KH,KW,C,M] -> y[N,OH,OW,C*M]; output
    channel ``c * M + k`` is input channel c with its k-th filter (Keras's layout)."""
    if x.ndim != 4 or w.ndim != 4 or x.shape[3] != w.shape[2]:
        raise ValueError(f"depthwise_conv2d expects x (N,H,W,C) and w (KH,KW,C,M) with the same C, got shapes "
                         f"{x.shape} and {w.shape}")
    stride, dil = pair(strides, "strides"), pair(dilation, "dilation")
    pads = conv_padding(padding, x.shape[1:3], w.shape[:2], stride, dil)
    out_hw = tuple(conv_output_size(n, k, s, lo, hi, d)
                   for n, k, s, (lo, hi), d in zip(x.shape[1:3], w.shape[:2], stride, pads, dil))
    if min(out_hw) < 1:
        raise ValueError(f"depthwise_conv2d: kernel {tuple(w.shape[:2])} (dilation {dil}) is larger than the padded "
                         f"input {tuple(x.shape[1:3])}")
    return DepthwiseConv2D.apply(x, w, stride, pads, dil, out_hw)


def conv_transpose_output_size(n, k, stride, padding: str, dilation=1):
    """Keras's output length of a transposed convolution without output_padding: 'same' n * stride,
    'valid' n * stride + max(k_eff - stride, 0), k_eff the dilated kernel size."""
    k_eff = dilation * (k - 1) + 1
    return n * stride if padding == "same" else n * stride + max(k_eff - stride, 0)


class Conv2DTranspose(Function):
    """The transpose (adjoint) of conv2d, on the conv kernels: forward is conv2d's backward-input with
    the bias and ReLU in its epilogue (``conv2d_transpose_forward``); backward masks the gradient and
    sums the bias in one pass (``bias_act_backward``), then conv2d's forward (for dx) and
    backward-filter (for dw)."""

    @staticmethod
    def forward(ctx, x, w, b, out_hw, stride, padding, dilation, activation=None):
        xp = array_module(x)
        x = xp.ascontiguousarray(x)
        ctx.x, ctx.w, ctx.geom, ctx.has_b = x, w, (stride, padding, dilation), b is not None
        y_shape = (x.shape[0], *out_hw, w.shape[2])
        y = kernel("conv2d_transpose_forward", x)(x, w, b, y_shape, stride, padding, dilation, activation=activation)
        ctx.y = y if activation == "relu" else None  # the ReLU mask is y > 0
        return y

    @staticmethod
    def backward(ctx, g):
        nx, nw, nb = ctx.needs_input_grad[:3]
        xp = array_module(g)
        g = xp.ascontiguousarray(g)
        need_db = nb and ctx.has_b
        db = None
        if ctx.y is not None or need_db:  # ReLU mask and bias sum in one pass over g
            F = g.shape[-1]
            g2, db = kernel("bias_act_backward", g)(g.reshape(-1, F), None if ctx.y is None else ctx.y.reshape(-1, F))
            g = g2.reshape(g.shape)
        geom = ctx.geom
        stride, pads, dilation = geom
        if nx and nw and any(pads[0] + pads[1]):  # both read g zero-padded: pad it once, not in each kernel
            g = xp.pad(g, ((0, 0), pads[0], pads[1], (0, 0)))
            geom = (stride, _VALID, dilation)
        dx = kernel("conv2d_forward", g)(g, ctx.w, None, *geom) if nx else None
        # conv2d's backward-filter on the adjoint problem: x plays the output gradient, g the input
        dw = kernel("conv2d_backward_filter", g)(ctx.x, g, ctx.w.shape, *geom) if nw else None
        return dx, dw, db if need_db else None, None, None, None, None, None


def conv2d_transpose(x, w, b=None, strides=1, padding="valid", dilation=1, activation=None):
    """Transposed 2-D convolution, channels-last: x[N,H,W,C] with w[KH,KW,F,C] (Keras's layout) (+ b[F])
    -> y[N,OH,OW,F], OH = H * stride ('same') or H * stride + max(k - stride, 0) ('valid').
    ``activation='relu'`` applies ReLU in the kernel's epilogue, as ``conv2d``'s does."""
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d_transpose: activation must be None or 'relu', got {activation!r}")
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d_transpose expects x of rank 4 (N,H,W,C) and w of rank 4 (KH,KW,F,C), got shapes "
                         f"{x.shape} and {w.shape}")
    if x.shape[3] != w.shape[3]:
        raise ValueError(f"conv2d_transpose: input has {x.shape[3]} channels but the kernel expects {w.shape[3]} "
                         f"(shapes {x.shape} and {w.shape})")
    if padding not in ("valid", "same"):
        raise ValueError(f"conv2d_transpose: padding must be 'valid' or 'same', got {padding!r}")
    stride, dil = pair(strides, "strides"), pair(dilation, "dilation")
    out_hw = tuple(conv_transpose_output_size(n, k, s, padding, d)
                   for n, k, s, d in zip(x.shape[1:3], w.shape[:2], stride, dil))
    pads = conv_padding(padding, out_hw, w.shape[:2], stride, dil)
    return Conv2DTranspose.apply(x, w, b, out_hw, stride, pads, dil, activation)


class Conv2DReluMaxPool(Function):
    """relu(conv2d) then max-pool with non-overlapping 'valid' windows. Backward masks the small pooled
    gradient (ReLU's mask at a window's argmax is pooled y > 0), sums it for the bias, and scatters
    it once for the conv: no full-size mask pass, and the full-size activation is not kept."""

    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, pool):
        y = kernel("conv2d_forward", x)(x, w, b, stride, padding, dilation, activation="relu")
        yp, argmax = kernel("max_pool2d_forward", y)(y, pool, pool, _VALID)
        ctx.x, ctx.w, ctx.geom, ctx.has_b = x, w, (stride, padding, dilation), b is not None
        ctx.yp, ctx.argmax, ctx.y_shape, ctx.pool = yp, argmax, y.shape, pool
        return yp

    @staticmethod
    def backward(ctx, g):
        nx, nw, nb = ctx.needs_input_grad[:3]
        xp = array_module(g)
        gm = xp.multiply(g, ctx.yp > 0)
        g_full = kernel("max_pool2d_backward", gm)(gm, ctx.argmax, ctx.y_shape, ctx.pool, ctx.pool, _VALID)
        db = gm.reshape(-1, gm.shape[-1]).sum(axis=0) if (nb and ctx.has_b) else None
        dx = kernel("conv2d_backward_input", g_full)(g_full, ctx.w, ctx.x.shape, *ctx.geom) if nx else None
        dw = kernel("conv2d_backward_filter", g_full)(g_full, ctx.x, ctx.w.shape, *ctx.geom) if nw else None
        return dx, dw, db, None, None, None, None


def conv2d_relu_max_pool(x, w, b=None, strides=1, padding="valid", dilation=1, pool_size=2):
    """max_pool2d(conv2d(x, w, b, ..., activation='relu'), pool_size) with strides = pool_size and
    'valid' pooling, as one differentiable op (same result; the backward skips a full-size pass)."""
    data = x.data if isinstance(x, Tensor) else x
    wd = w.data if isinstance(w, Tensor) else w
    if data.ndim != 4 or wd.ndim != 4 or data.shape[3] != wd.shape[2]:
        return max_pool2d(conv2d(x, w, b, strides, padding, dilation, activation="relu"), pool_size)  # its errors
    stride, dil = pair(strides, "strides"), pair(dilation, "dilation")
    pads = conv_padding(padding, data.shape[1:3], wd.shape[:2], stride, dil)
    out_hw = [conv_output_size(n, k, s, lo, hi, d)
              for n, k, s, d, (lo, hi) in zip(data.shape[1:3], wd.shape[:2], stride, dil, pads)]
    pool = pair(pool_size, "pool_size")
    if min(out_hw) < 1 or min(pool) < 1 or out_hw[0] < pool[0] or out_hw[1] < pool[1]:
        return max_pool2d(conv2d(x, w, b, strides, padding, dilation, activation="relu"), pool_size)  # its errors
    return Conv2DReluMaxPool.apply(x, w, b, stride, pads, dil, pool)


def batch_norm_affine(b, gamma, beta, mean, var, eps):
    """``(scale, shift)`` with ``batch_norm(y + b) = y * scale + shift`` on moving statistics:
    ``scale = gamma / sqrt(var + eps)``, ``shift = (b - mean) * scale + beta``. Vectors (NumPy or
    CuPy); ``b``/``gamma``/``beta`` may be None. Computed in float64, returned in ``mean``'s dtype."""
    xp = array_module(mean)
    scale = 1.0 / xp.sqrt(var.astype(xp.float64) + eps)
    if gamma is not None:
        scale *= gamma
    shift = (b - mean) * scale if b is not None else -mean * scale
    if beta is not None:
        shift += beta
    return scale.astype(mean.dtype), shift.astype(mean.dtype)


def fold_batch_norm(w, b, gamma, beta, mean, var, eps):
    """The kernel and bias of ``batch_norm(conv(x, w, b))`` with moving statistics as one conv:
    ``w * scale`` over the filters and ``shift`` (:func:`batch_norm_affine`), in ``w``'s dtype
    (one rounding per weight)."""
    scale, shift = batch_norm_affine(b, gamma, beta, mean, var, eps)
    return w * scale.astype(w.dtype), shift.astype(w.dtype)


def conv2d_inference(x, w, b=None, strides=1, padding="valid", dilation=1, activation=None, pool_size=None,
                     scale=None):
    """``conv2d`` (+ bias, ReLU) and, with ``pool_size``, max-pooling with strides = pool_size and
    'valid' windows, for inference: one kernel (``conv2d_pool_forward``) that writes only the
    pooled output, and no graph. ``scale`` (with ``pool_size``; per filter) multiplies the conv
    before the bias: a batch norm's :func:`batch_norm_affine`. Arrays or Tensors in, a Tensor out.
    While gradients are being recorded it runs the differentiable ops instead (same result)."""
    data = x.data if isinstance(x, Tensor) else x
    wd = w.data if isinstance(w, Tensor) else w
    geom = None
    if not is_grad_enabled() and activation in (None, "relu"):
        try:
            geom = _inference_geometry(data.shape, wd.shape, strides, padding, dilation, pool_size)
        except TypeError:  # unhashable arguments (lists)
            geom = _inference_geometry.__wrapped__(data.shape, wd.shape, strides, padding, dilation, pool_size)
    if geom is None or (scale is not None and geom[3] is None):
        return _conv2d_inference_unfused(x, w, b, strides, padding, dilation, activation, pool_size, scale)
    stride, pads, dil, pool = geom
    bd = b.data if isinstance(b, Tensor) else b
    if pool is None:
        y = kernel("conv2d_forward", data)(data, wd, bd, stride, pads, dil, activation=activation)
    else:
        y = kernel("conv2d_pool_forward", data)(data, wd, bd, stride, pads, dil, pool, activation=activation,
                                                scale=scale)
    return Tensor._wrap(y)


@functools.lru_cache(maxsize=1024)
def _inference_geometry(x_shape, w_shape, strides, padding, dilation, pool_size):
    """(stride, pads, dilation, pool) of a fusable inference conv, or None where the ops must run
    one by one (to raise their errors)."""
    if len(x_shape) != 4 or len(w_shape) != 4 or x_shape[3] != w_shape[2]:
        return None
    try:
        stride, dil = pair(strides, "strides"), pair(dilation, "dilation")
        pads = conv_padding(padding, x_shape[1:3], w_shape[:2], stride, dil)
        pool = None if pool_size is None else pair(pool_size, "pool_size")
    except (TypeError, ValueError):
        return None
    out_hw = [conv_output_size(n, k, st, lo, hi, d) for n, k, st, d, (lo, hi) in zip(x_shape[1:3], w_shape[:2],
                                                                                       stride, dil, pads)]
    if min(out_hw) < 1 or (pool is not None and (min(pool) < 1 or out_hw[0] < pool[0] or out_hw[1] < pool[1])):
        return None
    return stride, tuple(tuple(p) for p in pads), dil, pool


def _conv2d_inference_unfused(x, w, b, strides, padding, dilation, activation, pool_size, scale=None):
    """The ops one by one (their argument errors, or shapes the fused kernel does not take)."""
    if scale is None:
        y = conv2d(x, w, b, strides, padding, dilation, activation=activation)
    else:
        y = conv2d(x, w, None, strides, padding, dilation) * scale
        y = y + b if b is not None else y
        y = relu(y) if activation == "relu" else y
    return y if pool_size is None else max_pool2d(y, pool_size)



# -- pooling --------------------------------------------------------------------------------
class MaxPool2D(Function):
    @staticmethod
    def forward(ctx, x, pool, stride, padding):
        y, argmax = kernel("max_pool2d_forward", x)(x, pool, stride, padding)
        ctx.argmax, ctx.shape, ctx.geom = argmax, x.shape, (pool, stride, padding)
        return y

    @staticmethod
    def backward(ctx, g):
        g = array_module(g).ascontiguousarray(g)
        return kernel("max_pool2d_backward", g)(g, ctx.argmax, ctx.shape, *ctx.geom), None, None, None


class AvgPool2D(Function):
    @staticmethod
    def forward(ctx, x, pool, stride, padding):
        ctx.shape, ctx.geom = x.shape, (pool, stride, padding)
        return kernel("avg_pool2d_forward", x)(x, pool, stride, padding)

    @staticmethod
    def backward(ctx, g):
        g = array_module(g).ascontiguousarray(g)
        return kernel("avg_pool2d_backward", g)(g, ctx.shape, *ctx.geom), None, None, None


def _pool_args(x, pool_size, strides, padding, name):
    if x.ndim != 4:
        raise ValueError(f"{name} expects a rank-4 input (N,H,W,C), got shape {x.shape}")
    pool = pair(pool_size, "pool_size")
    stride = pool if strides is None else pair(strides, "strides")
    if min(pool) < 1 or min(stride) < 1:
        raise ValueError(f"{name}: pool_size and strides must be >= 1, got {pool} and {stride}")
    pads = pool_padding(padding, x.shape[1:3], pool, stride)
    for n, k, s, (lo, hi) in zip(x.shape[1:3], pool, stride, pads):
        if (n + lo + hi - k) // s + 1 < 1:
            raise ValueError(f"{name}: pool {pool} is larger than the input {tuple(x.shape[1:3])}")
    return pool, stride, pads


def max_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Max pooling over windows of x[N,H,W,C]; ``strides`` default to ``pool_size``."""
    return MaxPool2D.apply(x, *_pool_args(x, pool_size, strides, padding, "max_pool2d"))


def avg_pool2d(x, pool_size=2, strides=None, padding="valid"):
    """Average pooling; padded cells are not counted (as Keras/TF 'same')."""
    return AvgPool2D.apply(x, *_pool_args(x, pool_size, strides, padding, "avg_pool2d"))


# -- batch norm -----------------------------------------------------------------------------
def _to_2d(x, axis):
    xp = array_module(x)
    moved = xp.moveaxis(x, axis, -1) if axis != x.ndim - 1 else x
    return xp.ascontiguousarray(moved).reshape(-1, x.shape[axis]), moved.shape


def _from_2d(y2, moved_shape, axis, ndim):
    xp = array_module(y2)
    y = y2.reshape(moved_shape)
    return xp.moveaxis(y, -1, axis) if axis != ndim - 1 else y


class BatchNormTrain(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, axis, eps, activation):
        x2, moved = _to_2d(x, axis)
        y2, mean, inv_std = kernel("batch_norm_forward", x2)(x2, gamma, beta, eps, activation=activation)
        ctx.x2, ctx.gamma, ctx.mean, ctx.inv_std = x2, gamma, mean, inv_std
        ctx.y2 = y2 if activation == "relu" else None  # the ReLU mask is y > 0
        ctx.moved, ctx.axis, ctx.ndim = moved, axis, x.ndim
        return _from_2d(y2, moved, axis, x.ndim)

    @staticmethod
    def backward(ctx, g):
        g2, _ = _to_2d(g, ctx.axis)
        dx2, dgamma, dbeta = kernel("batch_norm_backward", g2)(g2, ctx.x2, ctx.gamma, ctx.mean, ctx.inv_std,
                                                                y=ctx.y2)
        return _from_2d(dx2, ctx.moved, ctx.axis, ctx.ndim), dgamma, dbeta, None, None, None


class BatchNormInfer(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, mean, var, axis, eps, activation):
        xp = array_module(x)
        x2, moved = _to_2d(x, axis)
        y2 = kernel("batch_norm_inference", x2)(x2, gamma, beta, mean, var, eps, activation=activation)
        ctx.y2 = y2 if activation == "relu" else None
        ctx.x2, ctx.gamma, ctx.mean = x2, gamma, mean
        ctx.inv_std = 1.0 / xp.sqrt(var + eps)
        ctx.moved, ctx.axis, ctx.ndim = moved, axis, x.ndim
        return _from_2d(y2, moved, axis, x.ndim)

    @staticmethod
    def backward(ctx, g):
        g2, _ = _to_2d(g, ctx.axis)
        if ctx.y2 is not None:
            g2 = g2 * (ctx.y2 > 0)
        xhat = (ctx.x2 - ctx.mean) * ctx.inv_std
        dx2 = g2 * (ctx.gamma * ctx.inv_std)
        return (_from_2d(dx2, ctx.moved, ctx.axis, ctx.ndim), (g2 * xhat).sum(0), g2.sum(0),
                None, None, None, None, None)


def _affine_or_identity(data, c: int, gamma, beta):
    """``gamma``/``beta``, with ones/zeros of ``data``'s dtype and device for a missing one
    (batch norm with ``scale``/``center`` off)."""
    xp = array_module(data)
    gamma = Tensor._wrap(xp.ones(c, dtype=data.dtype)) if gamma is None else gamma
    beta = Tensor._wrap(xp.zeros(c, dtype=data.dtype)) if beta is None else beta
    return gamma, beta


def batch_norm(x, gamma=None, beta=None, moving_mean=None, moving_var=None, axis=-1, eps=1e-3, training=True,
               activation=None):
    """Normalise over every axis but ``axis``.

    Training: batch statistics; returns ``(y, mean, var)`` with the biased batch variance so the
    caller can update moving statistics. Inference: ``moving_mean``/``moving_var``; returns ``y``.
    ``gamma``/``beta`` may be None (scale/center off). ``activation='relu'`` applies ReLU in the
    same pass (and its gradient inside the batch-norm backward).
    """
    if activation not in (None, "relu"):
        raise ValueError(f"batch_norm: activation must be None or 'relu', got {activation!r}")
    data = x.data if isinstance(x, Tensor) else x
    ndim = data.ndim
    if not -ndim <= axis < ndim:
        raise ValueError(f"batch_norm: axis {axis} is out of range for an input of rank {ndim} (shape {data.shape})")
    axis %= ndim
    c = data.shape[axis]
    gamma, beta = _affine_or_identity(data, c, gamma, beta)
    if training:
        y, ctx = BatchNormTrain.apply_ctx(x, gamma, beta, axis, eps, activation)
        inv = ctx.inv_std
        return y, ctx.mean, 1.0 / (inv * inv) - eps
    mm = moving_mean.data if isinstance(moving_mean, Tensor) else moving_mean
    mv = moving_var.data if isinstance(moving_var, Tensor) else moving_var
    return BatchNormInfer.apply(x, gamma, beta, mm, mv, axis, eps, activation)


def _allreduce_sum(comm, arr):
    """``arr`` summed over the ranks: in place on the device when the communicator sums device
    arrays (NCCL), else through a host copy (MPI takes NumPy arrays)."""
    if isinstance(arr, np.ndarray) or getattr(comm, "device_arrays", False):
        comm.allreduce_(arr)
        return arr
    backend = backend_for(arr)
    host = backend.to_numpy(arr)
    comm.allreduce_(host)
    return backend.asarray(host)


class SyncBatchNormTrain(Function):
    """Batch norm whose statistics are those of the global batch across data-parallel ranks:
    per-channel sums, sums of squares and the row count are all-reduced (float64) forward, and
    the two per-channel sums the input gradient needs (of dy and of dy * xhat) backward, so each
    rank's dx is its rows of one process's gradient over the whole batch. dgamma/dbeta stay
    local sums: the trainer's gradient all-reduce adds them up. The statistics stay on the
    input's device (no host read) unless the communicator needs host arrays."""

    @staticmethod
    def forward(ctx, x, gamma, beta, axis, eps, activation, comm):
        xp = array_module(x)
        x2, moved = _to_2d(x, axis)
        C = x2.shape[1]
        x64 = x2.astype(xp.float64)
        stats = xp.concatenate([x64.sum(0), (x64 * x64).sum(0), xp.full(1, float(x2.shape[0]), dtype=xp.float64)])
        stats = _allreduce_sum(comm, stats)
        count = stats[2 * C:]  # shape (1,): broadcasts against the per-channel vectors
        mean = stats[:C] / count
        var = xp.maximum(stats[C:2 * C] / count - mean * mean, 0.0)
        inv = 1.0 / xp.sqrt(var + float(eps))
        dt = x2.dtype
        xhat = (x2 - mean.astype(dt)) * inv.astype(dt)
        y2 = xhat * gamma + beta
        if activation == "relu":
            y2 = xp.maximum(y2, 0)
        ctx.xhat, ctx.gamma, ctx.inv, ctx.count, ctx.comm = xhat, gamma, inv, count, comm
        ctx.y2 = y2 if activation == "relu" else None
        ctx.moved, ctx.axis, ctx.ndim = moved, axis, x.ndim
        ctx.mean, ctx.var = mean.astype(dt), var.astype(dt)
        return _from_2d(y2, moved, axis, x.ndim)

    @staticmethod
    def backward(ctx, g):
        xp = array_module(g)
        g2, _ = _to_2d(g, ctx.axis)
        if ctx.y2 is not None:
            g2 = g2 * (ctx.y2 > 0)
        dbeta = g2.sum(0)
        dgamma = (g2 * ctx.xhat).sum(0)
        C = g2.shape[1]
        sums = _allreduce_sum(ctx.comm, xp.concatenate([dbeta.astype(xp.float64), dgamma.astype(xp.float64)]))
        dt = g2.dtype  # every factor below in dt: a float64 one would promote dx to float64
        s_g, s_gx = sums[:C].astype(dt), sums[C:].astype(dt)
        scale = (ctx.inv / ctx.count).astype(dt) * ctx.gamma
        dx2 = scale * (ctx.count.astype(dt) * g2 - s_g - ctx.xhat * s_gx)
        return _from_2d(dx2, ctx.moved, ctx.axis, ctx.ndim), dgamma, dbeta, None, None, None, None


def sync_batch_norm(x, gamma=None, beta=None, axis=-1, eps=1e-3, activation=None, comm=None):
    """Training-mode batch norm over the global batch of a data-parallel job (``comm``: the
    job's communicator; its ``allreduce_`` sums NumPy arrays in place across the ranks).
    Returns ``(y, mean, var)`` like ``batch_norm(training=True)``, with the global statistics."""
    if activation not in (None, "relu"):
        raise ValueError(f"sync_batch_norm: activation must be None or 'relu', got {activation!r}")
    data = x.data if isinstance(x, Tensor) else x
    axis %= data.ndim
    c = data.shape[axis]
    gamma, beta = _affine_or_identity(data, c, gamma, beta)
    y, ctx = SyncBatchNormTrain.apply_ctx(x, gamma, beta, axis, eps, activation, comm)
    return y, ctx.mean, ctx.var


class BatchNormReluMaxPool(Function):
    @staticmethod
    def forward(ctx, x, gamma, beta, eps, pool):
        y, argmax, mean, inv_std = kernel("bn_relu_max_pool_forward", x)(x, gamma, beta, eps, pool)
        ctx.x, ctx.gamma, ctx.mean, ctx.inv_std, ctx.y, ctx.argmax, ctx.pool = x, gamma, mean, inv_std, y, argmax, pool
        return y

    @staticmethod
    def backward(ctx, g):
        g = array_module(g).ascontiguousarray(g)
        dx, dgamma, dbeta = kernel("bn_relu_max_pool_backward", g)(g, ctx.y, ctx.argmax, ctx.x, ctx.gamma, ctx.mean,
                                                                   ctx.inv_std, ctx.pool)
        return dx, dgamma, dbeta, None, None


def batch_norm_relu_max_pool(x, gamma=None, beta=None, eps=1e-3, pool_size=2):
    """Training-mode batch norm over the channels of x[N,H,W,C], ReLU, then max-pool with windows of
    ``pool_size`` that do not overlap (strides = pool_size, 'valid' padding): the result of the three
    ops in a row, computed without writing the full-size activation. Returns ``(y, mean, var)`` like
    ``batch_norm(training=True)`` (biased batch variance, for the moving statistics)."""
    data = x.data if isinstance(x, Tensor) else x
    if data.ndim != 4:
        raise ValueError(f"batch_norm_relu_max_pool expects x of rank 4 (N,H,W,C), got shape {data.shape}")
    pool = pair(pool_size, "pool_size")
    if min(pool) < 1 or data.shape[1] < pool[0] or data.shape[2] < pool[1]:
        raise ValueError(f"batch_norm_relu_max_pool: pool {pool} does not fit the input {tuple(data.shape[1:3])}")
    c = data.shape[3]
    gamma, beta = _affine_or_identity(data, c, gamma, beta)
    y, ctx = BatchNormReluMaxPool.apply_ctx(x, gamma, beta, eps, pool)
    inv = ctx.inv_std
    return y, ctx.mean, 1.0 / (inv * inv) - eps


# -- dropout --------------------------------------------------------------------------------
#: dtypes whose dropout runs on the ``dropout_apply`` kernel (NumPy arrays; float16 through float32)
_HASHED_DROPOUT = frozenset({np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)})


class Dropout(Function):
    """NumPy arrays: the ``dropout_apply`` kernel, its keep mask a hash of one seed drawn from ``rng`` and
    the element's index (no uniforms drawn, no mask stored: backward applies the same seed to the
    gradient). CuPy arrays: a float mask from ``rng``'s uniforms, kept for backward."""

    @staticmethod
    def forward(ctx, x, rate, rng):
        if type(x) is np.ndarray and x.dtype in _HASHED_DROPOUT:
            ctx.mask, ctx.rate, ctx.seed = None, rate, int(rng.integers(0, 2**63 - 1))
            return kernel("dropout_apply", x)(x, rate, ctx.seed)
        keep = rng.random(x.shape, dtype=np.float32) >= rate
        scale = x.dtype.type(1.0 / (1.0 - rate))
        ctx.mask = keep * scale
        return x * ctx.mask

    @staticmethod
    def backward(ctx, g):
        if ctx.mask is None:
            return kernel("dropout_apply", g)(g, ctx.rate, ctx.seed), None, None
        return g * ctx.mask, None, None


def dropout(x, rate: float, training: bool = True, rng=None):
    """Inverted dropout: zero each element with probability ``rate``, scale the rest by 1/(1-rate)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    if not training or rate == 0.0:
        return x
    data = x.data if isinstance(x, Tensor) else x
    rng = rng if rng is not None else backend_for(data).generator()
    return Dropout.apply(x, rate, rng)
