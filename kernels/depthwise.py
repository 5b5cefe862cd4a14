"""Depthwise 2-D convolution (channels-last): the ``reference`` and ``numpy`` implementations.

Contract (the ``numba`` implementation in ``cpu/depthwise.py`` follows it too): x[N,H,W,C],
w[KH,KW,C,M], geometry as conv2d's (``stride`` and ``dilation`` pairs, ``padding`` as
((top, bottom), (left, right))); y[N,OH,OW,C*M] with output channel ``c * M + k`` input channel c
with its k-th filter (Keras's layout). ``out=`` receives the result when given.

* ``depthwise_conv2d_forward(x, w, stride, padding, dilation, out=None) -> y``
* ``depthwise_conv2d_backward_input(dy, w, x_shape, stride, padding, dilation, out=None) -> dx``
* ``depthwise_conv2d_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None) -> dw``

``reference_*``: float64, one einsum per kernel tap and output position row, cast back to the input
dtype. ``numpy_*``: one vectorised multiply-add per kernel tap over the whole batch; written on the
array's own module, so the same functions serve CuPy arrays.
"""
from __future__ import annotations

import sys

import numpy as np

from ._geometry import check_float, check_shape, conv_geometry

__all__ = [
    "OPS",
    "reference_forward", "reference_backward_input", "reference_backward_filter",
    "numpy_forward", "numpy_backward_input", "numpy_backward_filter",
]

#: the dispatch op names, in (forward, backward_input, backward_filter) order
OPS = ("depthwise_conv2d_forward", "depthwise_conv2d_backward_input", "depthwise_conv2d_backward_filter")


def _xp(a):
    if type(a).__module__.startswith("cupy"):
        return sys.modules["cupy"]
    return np


def _emit(op, xp, value, out):
    if out is None:
        return value
    if tuple(out.shape) != tuple(value.shape) or out.dtype != value.dtype:
        raise ValueError(f"{op}: out must have shape {tuple(value.shape)} and dtype {value.dtype}, got "
                         f"{tuple(out.shape)} and {out.dtype}")
    out[...] = value
    return out


def _geom(op, x_shape, w_shape, stride, padding, dilation):
    return conv_geometry(op, x_shape, w_shape, stride, padding, dilation)


def _taps(g):
    """(i, j, row slice, column slice) of each kernel tap inside the zero-padded input."""
    for i in range(g.KH):
        rows = slice(i * g.dh, i * g.dh + g.sh * (g.OH - 1) + 1, g.sh)
        for j in range(g.KW):
            yield i, j, rows, slice(j * g.dw, j * g.dw + g.sw * (g.OW - 1) + 1, g.sw)


def _pad(xp, x, g, dtype=None):
    xpad = xp.zeros((g.N, g.H + g.top + g.bottom, g.W + g.left + g.right, g.C), dtype or x.dtype)
    xpad[:, g.top:g.top + g.H, g.left:g.left + g.W] = x
    return xpad


# -- reference (float64) ------------------------------------------------------------------------
def reference_forward(x, w, stride, padding, dilation, out=None):
    op = OPS[0]
    g = _geom(op, x.shape, w.shape, stride, padding, dilation)
    xpad, w64 = _pad(np, np.asarray(x, np.float64), g, np.float64), np.asarray(w, np.float64)
    y = np.zeros((g.N, g.OH, g.OW, g.C, g.F))
    for i, j, rows, cols in _taps(g):
        y += np.einsum("nhwc,cm->nhwcm", xpad[:, rows, cols], w64[i, j])
    return _emit(op, np, y.reshape(g.N, g.OH, g.OW, g.C * g.F).astype(x.dtype), out)


def reference_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    op = OPS[1]
    g = _geom(op, x_shape, w.shape, stride, padding, dilation)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C * g.F))
    d5, w64 = np.asarray(dy, np.float64).reshape(g.N, g.OH, g.OW, g.C, g.F), np.asarray(w, np.float64)
    dxpad = np.zeros((g.N, g.H + g.top + g.bottom, g.W + g.left + g.right, g.C))
    for i, j, rows, cols in _taps(g):
        dxpad[:, rows, cols] += np.einsum("nhwcm,cm->nhwc", d5, w64[i, j])
    dx = dxpad[:, g.top:g.top + g.H, g.left:g.left + g.W]
    return _emit(op, np, dx.astype(dy.dtype), out)


def reference_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None):
    op = OPS[2]
    g = _geom(op, x.shape, w_shape, stride, padding, dilation)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C * g.F))
    d5 = np.asarray(dy, np.float64).reshape(g.N, g.OH, g.OW, g.C, g.F)
    xpad = _pad(np, np.asarray(x, np.float64), g, np.float64)
    dw = np.zeros((g.KH, g.KW, g.C, g.F))
    for i, j, rows, cols in _taps(g):
        dw[i, j] = np.einsum("nhwc,nhwcm->cm", xpad[:, rows, cols], d5)
    return _emit(op, np, dw.astype(dy.dtype), out)


# -- numpy (and CuPy): one multiply-add per tap over the whole batch ---------------------------
def numpy_forward(x, w, stride, padding, dilation, out=None):
    op = OPS[0]
    g = _geom(op, x.shape, w.shape, stride, padding, dilation)
    check_float(op, x, w)
    xp = _xp(x)
    xpad = _pad(xp, x, g) if (g.top or g.bottom or g.left or g.right) else x
    w = w.astype(x.dtype, copy=False)
    y = xp.zeros((g.N, g.OH, g.OW, g.C, g.F), dtype=x.dtype)
    y4 = y.reshape(g.N, g.OH, g.OW, g.C * g.F)
    tmp = xp.empty_like(y4) if g.F == 1 else None
    for i, j, rows, cols in _taps(g):
        window = xpad[:, rows, cols]
        if g.F == 1:  # one filter per channel: a multiply into a reused buffer, then an add
            xp.multiply(window, w[i, j, :, 0], out=tmp)
            y4 += tmp
        else:
            y += window[..., None] * w[i, j]
    return _emit(op, xp, y4, out)


def numpy_backward_input(dy, w, x_shape, stride, padding, dilation, out=None):
    op = OPS[1]
    g = _geom(op, x_shape, w.shape, stride, padding, dilation)
    check_float(op, dy, w)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C * g.F))
    xp = _xp(dy)
    w = w.astype(dy.dtype, copy=False)
    d5 = dy.reshape(g.N, g.OH, g.OW, g.C, g.F)
    dxpad = xp.zeros((g.N, g.H + g.top + g.bottom, g.W + g.left + g.right, g.C), dtype=dy.dtype)
    g4 = d5[..., 0] if g.F == 1 else None
    tmp = xp.empty_like(g4) if g.F == 1 else None
    for i, j, rows, cols in _taps(g):
        if g.F == 1:
            xp.multiply(g4, w[i, j, :, 0], out=tmp)
            dxpad[:, rows, cols] += tmp
        else:
            dxpad[:, rows, cols] += xp.einsum("nhwcm,cm->nhwc", d5, w[i, j])
    return _emit(op, xp, dxpad[:, g.top:g.top + g.H, g.left:g.left + g.W], out)


def numpy_backward_filter(dy, x, w_shape, stride, padding, dilation, out=None):
    op = OPS[2]
    g = _geom(op, x.shape, w_shape, stride, padding, dilation)
    check_float(op, dy, x)
    check_shape(op, "dy", dy.shape, (g.N, g.OH, g.OW, g.C * g.F))
    xp = _xp(dy)
    xpad = _pad(xp, x, g, dy.dtype) if (g.top or g.bottom or g.left or g.right) else x.astype(dy.dtype, copy=False)
    d5 = dy.reshape(g.N, g.OH, g.OW, g.C, g.F)
    dw = xp.empty((g.KH, g.KW, g.C, g.F), dtype=dy.dtype)
    for i, j, rows, cols in _taps(g):  # one contraction per tap, no (N, OH, OW, C, M) temporary
        dw[i, j] = xp.einsum("nhwc,nhwcm->cm", xpad[:, rows, cols], d5)
    return _emit(op, xp, dw, out)
