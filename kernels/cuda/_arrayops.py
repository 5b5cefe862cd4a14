"""conv2d, pooling and batch norm as whole-array expressions over an array module (CuPy on the
GPU, NumPy in tests): the library-backed `vendor` paths that have no cuDNN call.

No custom kernels: convolution is im2col + one GEMM (``gemm`` is passed in, cuBLAS through
``cupy.matmul`` in vendor.py); pooling walks the window taps as strided slices of the padded
input. Everything follows kernels/README.md (channels-last; argmax h*W + w, first maximum wins;
average pooling counts in-bounds cells only).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "im2col", "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward", "bias_act_backward",
]


def _pad(xp, x, g, value=0.0):
    if not (g.pt or g.pb or g.pl or g.pr):
        return x
    return xp.pad(x, ((0, 0), (g.pt, g.pb), (g.pl, g.pr), (0, 0)), constant_values=value)


def _tap(xpad, i0: int, j0: int, OH: int, OW: int, sh: int, sw: int):
    """View of the cells window (oh, ow) sees at offset (i0, j0): shape [N, OH, OW, C]."""
    return xpad[:, i0:i0 + sh * (OH - 1) + 1:sh, j0:j0 + sw * (OW - 1) + 1:sw, :]


# ---------------------------------------------------------------------------------------------
# convolution (g: launch.ConvGeom)

def im2col(xp, x, g):
    """cols[N*OH*OW, KH*KW*C], column order (kh, kw, c) = the row order of w.reshape(-1, F)."""
    xpad = _pad(xp, x, g)
    cols = xp.empty((g.N, g.OH, g.OW, g.KH, g.KW, g.C), dtype=x.dtype)
    for kh in range(g.KH):
        for kw in range(g.KW):
            cols[:, :, :, kh, kw, :] = _tap(xpad, kh * g.dh, kw * g.dw, g.OH, g.OW, g.sh, g.sw)
    return cols.reshape(g.N * g.OH * g.OW, g.KH * g.KW * g.C)


def conv2d_forward(xp, gemm, x, w, b, g, out):
    y = gemm(im2col(xp, x, g), w.reshape(-1, g.F))
    if b is not None:
        y += b
    out[...] = y.reshape(g.y_shape)
    return out


def conv2d_backward_input(xp, gemm, dy, w, g, out):
    dcols = gemm(dy.reshape(-1, g.F), w.reshape(-1, g.F).T).reshape(g.N, g.OH, g.OW, g.KH, g.KW, g.C)
    dxpad = xp.zeros((g.N, g.H + g.pt + g.pb, g.W + g.pl + g.pr, g.C), dtype=dy.dtype)
    for kh in range(g.KH):
        for kw in range(g.KW):
            view = _tap(dxpad, kh * g.dh, kw * g.dw, g.OH, g.OW, g.sh, g.sw)
            view += dcols[:, :, :, kh, kw, :]
    out[...] = dxpad[:, g.pt:g.pt + g.H, g.pl:g.pl + g.W, :]
    return out


def conv2d_backward_filter(xp, gemm, dy, x, g, out):
    out[...] = gemm(im2col(xp, x, g).T, dy.reshape(-1, g.F)).reshape(g.w_shape)
    return out


# ---------------------------------------------------------------------------------------------
# pooling (g: launch.PoolGeom)

def _inside(xp, n_out: int, stride: int, pad: int, offset: int, size: int):
    """(coordinate, in-bounds mask) of tap ``offset`` for each of the ``n_out`` windows."""
    r = xp.arange(n_out) * stride - pad + offset
    return r, (r >= 0) & (r < size)


def _taps(xp, g):
    for i in range(g.ph):
        h, vh = _inside(xp, g.OH, g.sh, g.pt, i, g.H)
        for j in range(g.pw):
            w, vw = _inside(xp, g.OW, g.sw, g.pl, j, g.W)
            yield i, j, h, w, vh[:, None] & vw[None, :]


def max_pool2d_forward(xp, x, g, out):
    """(out, argmax): first in-bounds maximum of each window in row-major tap order."""
    xpad = _pad(xp, x, g)
    best = xp.full(g.y_shape, -np.inf, dtype=x.dtype)
    idx = xp.full(g.y_shape, -1, dtype=np.int64)
    seen = xp.zeros((g.OH, g.OW), dtype=bool)
    for i, j, h, w, valid in _taps(xp, g):
        vals = _tap(xpad, i, j, g.OH, g.OW, g.sh, g.sw)
        take = valid[None, :, :, None] & (~seen[None, :, :, None] | (vals > best))
        best = xp.where(take, vals, best)
        idx = xp.where(take, (h[:, None] * g.W + w[None, :])[None, :, :, None], idx)
        seen |= valid
    out[...] = best
    return out, idx


def max_pool2d_backward(xp, scatter_add, dy, argmax, g, out):
    """dy scatter-added at argmax (``scatter_add(flat, index, values)`` as numpy.add.at)."""
    n = xp.arange(g.N, dtype=np.int64)[:, None, None, None]
    c = xp.arange(g.C, dtype=np.int64)[None, None, None, :]
    flat = (n * (g.H * g.W) + argmax) * g.C + c
    keep = argmax >= 0  # windows with no valid tap (argmax -1) add nothing
    out[...] = 0
    # no boolean-mask gather (its result size is read back to the host): masked-out entries add 0 at index 0
    scatter_add(out.reshape(-1), xp.where(keep, flat, 0), xp.where(keep, dy, dy.dtype.type(0)))
    return out


def _counts(xp, g):
    cnt = xp.zeros((g.OH, g.OW), dtype=np.int64)
    for *_, valid in _taps(xp, g):
        cnt += valid
    return cnt


def avg_pool2d_forward(xp, x, g, out):
    xpad = _pad(xp, x, g)
    total = xp.zeros(g.y_shape, dtype=x.dtype)
    for i, j, _h, _w, valid in _taps(xp, g):
        total += xp.where(valid[None, :, :, None], _tap(xpad, i, j, g.OH, g.OW, g.sh, g.sw), 0)
    cnt = _counts(xp, g)
    out[...] = total / xp.maximum(cnt, 1)[None, :, :, None].astype(x.dtype)
    return out


def avg_pool2d_backward(xp, dy, g, out):
    share = dy / xp.maximum(_counts(xp, g), 1)[None, :, :, None].astype(dy.dtype)
    dxpad = xp.zeros((g.N, g.H + g.pt + g.pb, g.W + g.pl + g.pr, g.C), dtype=dy.dtype)
    for i in range(g.ph):
        for j in range(g.pw):
            view = _tap(dxpad, i, j, g.OH, g.OW, g.sh, g.sw)
            view += share  # taps in the padding land outside the slice kept below
    out[...] = dxpad[:, g.pt:g.pt + g.H, g.pl:g.pl + g.W, :]
    return out


# ---------------------------------------------------------------------------------------------
# batch norm over x[M, C]

def batch_norm_forward(xp, x, gamma, beta, eps, out):
    mean = x.mean(axis=0)
    inv_std = 1.0 / xp.sqrt(((x - mean) ** 2).mean(axis=0) + eps)
    out[...] = (x - mean) * inv_std * gamma + beta
    return out, mean, inv_std.astype(x.dtype)


def batch_norm_inference(xp, x, gamma, beta, mean, var, eps, out):
    out[...] = (x - mean) * (gamma / xp.sqrt(var + eps)) + beta
    return out


def batch_norm_backward(xp, dy, x, gamma, mean, inv_std, out):
    m = x.shape[0]
    xhat = (x - mean) * inv_std
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    out[...] = gamma * inv_std / m * (m * dy - dbeta - xhat * dgamma)
    return out, dgamma, dbeta


# ---------------------------------------------------------------------------------------------
# bias + activation epilogue

def bias_act_backward(xp, dy, y, out):
    """(dy_eff, db): dy masked where the ReLU output y is 0 (dy itself when y is None), column sums."""
    if y is None:
        eff = dy if out is None else out
        if out is not None:
            out[...] = dy
    else:
        eff = xp.multiply(dy, y > 0, out=out)
    return eff, eff.sum(axis=0)
