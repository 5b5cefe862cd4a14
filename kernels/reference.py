"""The oracle: every hot-path op written the plainest way from its definition, in float64.

Loops run over output positions (and window cells), with einsum or slicing over the batch and
channel axes only. Nothing here is shared with the fast paths, so a bug there cannot hide here.
Slow by design; results are cast back to the dtype of ``x`` (or ``a`` for matmul).
Contracts: kernels/README.md.
"""
from __future__ import annotations

import sys

import numpy as np

from . import _composed

__all__ = [
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul", "bias_act_backward", "bn_relu_max_pool_forward", "bn_relu_max_pool_backward",
    "conv2d_pool_forward",
]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _emit(op, value, dtype, out):
    """Cast the float64 result to ``dtype`` and write it into ``out`` when one is given."""
    value = np.asarray(value).astype(dtype)
    if out is None:
        return value
    if out.shape != value.shape or out.dtype != value.dtype:
        raise ValueError(f"{op}: out must have shape {value.shape} and dtype {value.dtype}, "
                         f"got {out.shape} and {out.dtype}")
    out[...] = value
    return out


def _conv_sizes(x_shape, w_shape, stride, padding, dilation):
    (_, H, W, _), (KH, KW, _, _) = x_shape, w_shape
    (sh, sw), ((top, bottom), (left, right)), (dh, dw) = stride, padding, dilation
    OH = (H + top + bottom - dh * (KH - 1) - 1) // sh + 1
    OW = (W + left + right - dw * (KW - 1) - 1) // sw + 1
    return OH, OW


def _zero_padded(x, padding):
    (top, bottom), (left, right) = padding
    N, H, W, C = x.shape
    xp = np.zeros((N, H + top + bottom, W + left + right, C))
    xp[:, top:top + H, left:left + W, :] = x
    return xp


def _window(oh, ow, stride, dilation, kernel):
    """Index of the receptive field of output (oh, ow) inside the zero-padded input."""
    (sh, sw), (dh, dw), (KH, KW) = stride, dilation, kernel
    return (slice(None), slice(oh * sh, oh * sh + dh * (KH - 1) + 1, dh),
            slice(ow * sw, ow * sw + dw * (KW - 1) + 1, dw), slice(None))


def conv2d_forward(x, w, b, stride, padding, dilation, out=None, activation=None):
    """y[n,oh,ow,f] = act(sum_{i,j,c} xpad[n, oh*sh+i*dh, ow*sw+j*dw, c] * w[i,j,c,f] + b[f])."""
    if activation not in (None, "relu"):
        raise ValueError(f"conv2d_forward: activation must be None or 'relu', got {activation!r}")
    xd, wd = _f64(x), _f64(w)
    if xd.shape[3] != wd.shape[2]:
        raise ValueError(f"conv2d_forward: x {xd.shape} has {xd.shape[3]} channels, w {wd.shape} expects {wd.shape[2]}")
    OH, OW = _conv_sizes(xd.shape, wd.shape, stride, padding, dilation)
    xp = _zero_padded(xd, padding)
    y = np.zeros((xd.shape[0], OH, OW, wd.shape[3]))
    for oh in range(OH):
        for ow in range(OW):
            patch = xp[_window(oh, ow, stride, dilation, wd.shape[:2])]
            y[:, oh, ow, :] = np.einsum("nijc,ijcf->nf", patch, wd)
    if b is not None:
        y += _f64(b)
    if activation == "relu":
        y = np.where(y > 0, y, 0.0)
    return _emit("conv2d_forward", y, x.dtype, out)


def bias_act_backward(dy, y=None, out=None):
    """(dy_eff, db): dy_eff = dy where y > 0 else 0 (dy itself when y is None); db = column sums of dy_eff."""
    dyd = _f64(dy)
    if dyd.ndim != 2 or (y is not None and np.shape(y) != dyd.shape):
        raise ValueError(f"bias_act_backward: dy must be 2-D [M, F] and y None or of its shape, got "
                         f"{dyd.shape} and {None if y is None else np.shape(y)}")
    eff = dyd if y is None else np.where(_f64(y) > 0, dyd, 0.0)
    db = np.zeros(dyd.shape[1])
    for row in eff:
        db += row
    return _emit("bias_act_backward", eff, dy.dtype, out), db.astype(dy.dtype)


def conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    """dx = d(sum y*dy)/dx: every dy[n,oh,ow,:] spreads through w onto its receptive field."""
    dyd, wd = _f64(dy), _f64(w)
    (top, _), (left, _) = padding
    N, H, W, C = x_shape
    OH, OW = _conv_sizes(x_shape, wd.shape, stride, padding, dilation)
    if dyd.shape != (N, OH, OW, wd.shape[3]):
        raise ValueError(f"conv2d_backward_input: dy must have shape {(N, OH, OW, wd.shape[3])}, got {dyd.shape}")
    dxp = _zero_padded(np.zeros(x_shape), padding)
    for oh in range(OH):
        for ow in range(OW):
            dxp[_window(oh, ow, stride, dilation, wd.shape[:2])] += np.einsum("nf,ijcf->nijc", dyd[:, oh, ow, :], wd)
    return _emit("conv2d_backward_input", dxp[:, top:top + H, left:left + W, :], dy.dtype, out)


def conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None, bias_out=None):
    """dw[i,j,c,f] = sum_{n,oh,ow} xpad[n, oh*sh+i*dh, ow*sw+j*dw, c] * dy[n,oh,ow,f].
    With ``bias_out`` ([F]), also db[f] = sum_{n,oh,ow} dy[n,oh,ow,f] written into it."""
    dyd, xd = _f64(dy), _f64(x)
    OH, OW = _conv_sizes(xd.shape, w_shape, stride, padding, dilation)
    if dyd.shape != (xd.shape[0], OH, OW, w_shape[3]):
        raise ValueError(f"conv2d_backward_filter: dy must have shape {(xd.shape[0], OH, OW, w_shape[3])}, got "
                         f"{dyd.shape}")
    xp = _zero_padded(xd, padding)
    dw = np.zeros(w_shape)
    for oh in range(OH):
        for ow in range(OW):
            patch = xp[_window(oh, ow, stride, dilation, w_shape[:2])]
            dw += np.einsum("nijc,nf->ijcf", patch, dyd[:, oh, ow, :])
    if bias_out is not None:
        if np.shape(bias_out) != (w_shape[3],):
            raise ValueError(f"conv2d_backward_filter: bias_out must have shape {(w_shape[3],)}, got "
                             f"{np.shape(bias_out)}")
        bias_out[...] = dyd.sum(axis=(0, 1, 2))
    return _emit("conv2d_backward_filter", dw, x.dtype, out)


def _pool_sizes(x_shape, pool, stride, padding):
    (_, H, W, _), (ph, pw), (sh, sw), ((top, bottom), (left, right)) = x_shape, pool, stride, padding
    return (H + top + bottom - ph) // sh + 1, (W + left + right - pw) // sw + 1


def _in_bounds_cells(oh, ow, x_shape, pool, stride, padding):
    """The input cells (h, w) of window (oh, ow) that are not padding, in row-major order."""
    (_, H, W, _), (ph, pw), (sh, sw), ((top, _), (left, _)) = x_shape, pool, stride, padding
    for i in range(ph):
        for j in range(pw):
            h, w = oh * sh - top + i, ow * sw - left + j
            if 0 <= h < H and 0 <= w < W:
                yield h, w


def max_pool2d_forward(x, pool, stride, padding, out=None):
    """y = max over the in-bounds cells of each window; argmax = flat h*W+w of the first maximum."""
    xd = _f64(x)
    N, H, W, C = xd.shape
    OH, OW = _pool_sizes(xd.shape, pool, stride, padding)
    y = np.zeros((N, OH, OW, C))
    arg = np.zeros((N, OH, OW, C), dtype=np.int64)
    for oh in range(OH):
        for ow in range(OW):
            best = np.full((N, C), -np.inf)
            where = np.full((N, C), -1, dtype=np.int64)
            for h, w in _in_bounds_cells(oh, ow, xd.shape, pool, stride, padding):
                v = xd[:, h, w, :]
                take = (v > best) | (where < 0)
                best = np.where(take, v, best)
                where = np.where(take, h * W + w, where)
            y[:, oh, ow, :], arg[:, oh, ow, :] = best, where
    return _emit("max_pool2d_forward", y, x.dtype, out), arg


def max_pool2d_backward(dy, argmax, x_shape, pool, stride, padding, out=None):
    """dx[n, argmax, c] += dy[n, oh, ow, c] for every output cell."""
    dyd = _f64(dy)
    N, H, W, C = x_shape
    OH, OW = _pool_sizes(x_shape, pool, stride, padding)
    if dyd.shape != (N, OH, OW, C) or argmax.shape != dyd.shape:
        raise ValueError(f"max_pool2d_backward: dy and argmax must have shape {(N, OH, OW, C)}, "
                         f"got {dyd.shape} and {argmax.shape}")
    dx = np.zeros((N, H * W, C))
    n_idx, c_idx = np.arange(N)[:, None], np.arange(C)[None, :]
    for oh in range(OH):
        for ow in range(OW):
            dx[n_idx, argmax[:, oh, ow, :], c_idx] += dyd[:, oh, ow, :]  # (n, c) pairs are distinct
    return _emit("max_pool2d_backward", dx.reshape(x_shape), dy.dtype, out)


def avg_pool2d_forward(x, pool, stride, padding, out=None):
    """y = mean over the in-bounds cells of each window (padding not counted)."""
    xd = _f64(x)
    N, H, W, C = xd.shape
    OH, OW = _pool_sizes(xd.shape, pool, stride, padding)
    y = np.zeros((N, OH, OW, C))
    for oh in range(OH):
        for ow in range(OW):
            cells = list(_in_bounds_cells(oh, ow, xd.shape, pool, stride, padding))
            y[:, oh, ow, :] = sum(xd[:, h, w, :] for h, w in cells) / len(cells)
    return _emit("avg_pool2d_forward", y, x.dtype, out)


def avg_pool2d_backward(dy, x_shape, pool, stride, padding, out=None):
    """Each dy[n,oh,ow,c] is shared equally by the in-bounds cells of its window."""
    dyd = _f64(dy)
    OH, OW = _pool_sizes(x_shape, pool, stride, padding)
    if dyd.shape != (x_shape[0], OH, OW, x_shape[3]):
        raise ValueError(f"avg_pool2d_backward: dy must have shape {(x_shape[0], OH, OW, x_shape[3])}, got {dyd.shape}")
    dx = np.zeros(x_shape)
    for oh in range(OH):
        for ow in range(OW):
            cells = list(_in_bounds_cells(oh, ow, x_shape, pool, stride, padding))
            for h, w in cells:
                dx[:, h, w, :] += dyd[:, oh, ow, :] / len(cells)
    return _emit("avg_pool2d_backward", dx, dy.dtype, out)


def _relu_of(y, activation, op):
    if activation not in (None, "relu"):
        raise ValueError(f"{op}: activation must be None or 'relu', got {activation!r}")
    return np.where(y > 0, y, 0.0) if activation == "relu" else y


def batch_norm_forward(x, gamma, beta, eps, out=None, activation=None):
    """y = act((x - mean) / sqrt(var + eps) * gamma + beta) with batch mean and biased variance over rows."""
    xd = _f64(x)
    mean = xd.mean(axis=0)
    var = ((xd - mean) ** 2).mean(axis=0)
    inv_std = 1.0 / np.sqrt(var + eps)
    y = _relu_of((xd - mean) * inv_std * _f64(gamma) + _f64(beta), activation, "batch_norm_forward")
    return _emit("batch_norm_forward", y, x.dtype, out), mean.astype(x.dtype), inv_std.astype(x.dtype)


def batch_norm_inference(x, gamma, beta, mean, var, eps, out=None, activation=None):
    """y = act((x - mean) / sqrt(var + eps) * gamma + beta) with the given (moving) statistics."""
    y = _relu_of((_f64(x) - _f64(mean)) / np.sqrt(_f64(var) + eps) * _f64(gamma) + _f64(beta), activation,
                 "batch_norm_inference")
    return _emit("batch_norm_inference", y, x.dtype, out)


def batch_norm_backward(dy, x, gamma, mean, inv_std, out=None, y=None):
    """Gradients of batch_norm_forward, with mean and inv_std as functions of x (chain rule written out).
    ``y``: the forward's ReLU output, when it had one (dy counts only where y > 0)."""
    dyd, xd, inv = _f64(dy), _f64(x), _f64(inv_std)
    if y is not None:
        if np.shape(y) != dyd.shape:
            raise ValueError(f"batch_norm_backward: y must have the shape of dy {dyd.shape}, got {np.shape(y)}")
        dyd = np.where(_f64(y) > 0, dyd, 0.0)
    M = xd.shape[0]
    xhat = (xd - _f64(mean)) * inv
    dbeta = dyd.sum(axis=0)
    dgamma = (dyd * xhat).sum(axis=0)
    dxhat = dyd * _f64(gamma)
    dvar = (dxhat * (xd - _f64(mean))).sum(axis=0) * -0.5 * inv ** 3
    dmean = -(dxhat * inv).sum(axis=0) + dvar * (-2.0 / M) * (xd - _f64(mean)).sum(axis=0)
    dx = dxhat * inv + dvar * 2.0 * (xd - _f64(mean)) / M + dmean / M
    return _emit("batch_norm_backward", dx, x.dtype, out), dgamma.astype(x.dtype), dbeta.astype(x.dtype)


def matmul(a, b, out=None):
    """c[..., m, n] = sum_k a[..., m, k] * b[..., k, n], batch dims broadcast."""
    ad, bd = _f64(a), _f64(b)
    if ad.ndim < 2 or bd.ndim < 2 or ad.shape[-1] != bd.shape[-2]:
        raise ValueError(f"matmul: expected a[..., M, K] and b[..., K, N], got shapes {ad.shape} and {bd.shape}")
    batch = np.broadcast_shapes(ad.shape[:-2], bd.shape[:-2])
    ad = np.broadcast_to(ad, batch + ad.shape[-2:])
    bd = np.broadcast_to(bd, batch + bd.shape[-2:])
    c = np.einsum("...mk,...kn->...mn", ad, bd)
    return _emit("matmul", c, a.dtype, out)


def bn_relu_max_pool_forward(x, gamma, beta, eps, pool, out=None):
    """Batch norm -> ReLU -> max-pool (stride = pool, no padding), composed from this module's kernels."""
    return _composed.bn_relu_max_pool_forward(_THIS, x, gamma, beta, eps, pool, out)


def bn_relu_max_pool_backward(dy, y, argmax, x, gamma, mean, inv_std, pool, out=None):
    return _composed.bn_relu_max_pool_backward(_THIS, dy, y, argmax, x, gamma, mean, inv_std, pool, out)


def conv2d_pool_forward(x, w, b, stride, padding, dilation, pool, out=None, activation=None, scale=None):
    """Inference conv (+ bias, activation) -> max-pool (stride = pool, no padding), composed from this
    module's kernels."""
    return _composed.conv2d_pool_forward(_THIS, x, w, b, stride, padding, dilation, pool, out, activation, scale)


_THIS = sys.modules[__name__]
