"""Transposed 2-D convolution (channels-last) with its bias + ReLU epilogue: the ``reference``,
``numpy``, ``cuda`` and ``vendor`` implementations, each composed from that implementation's own
``conv2d_backward_input`` (a transposed convolution IS conv2d's backward-input, on the adjoint problem).

Contract (the ``numba`` implementation in ``cpu/conv_transpose.py`` follows it too):

* ``conv2d_transpose_forward(x, w, b, y_shape, stride, padding, dilation, out=None, activation=None)
  -> y``: x[N,H,W,C], w[KH,KW,F,C] (Keras's Conv2DTranspose layout, conv2d's [KH,KW,C_in,C_out] read
  with the roles of input and output swapped), b[F] or None, y_shape (N,OH,OW,F) the shape of the
  conv2d input whose output x is; stride, padding ((top, bottom), (left, right)) and dilation are
  that conv2d's. y = act(conv2d_backward_input(x, w, y_shape, ...) + b), ``activation`` None or 'relu'.

Its backward needs no kernel of its own: ReLU's mask and the bias sum are ``bias_act_backward``, dx is
``conv2d_forward`` and dw ``conv2d_backward_filter`` of the (masked) gradient.
"""
from __future__ import annotations

import importlib
import sys

import numpy as np

from . import reference, vectorized
from ._geometry import check_activation, check_shape

__all__ = ["OP", "reference_forward", "numpy_forward", "cuda_forward", "vendor_forward"]

#: the dispatch op name
OP = "conv2d_transpose_forward"


def _compose(impl, x, w, b, y_shape, stride, padding, dilation, out, activation):
    relu = check_activation(OP, activation)
    if b is not None:
        check_shape(OP, "b", tuple(b.shape), (y_shape[3],))
    y = impl.conv2d_backward_input(x, w, tuple(y_shape), stride, padding, dilation, out=out)
    if b is not None:
        y += b.astype(y.dtype, copy=False)
    if relu:
        xp = sys.modules["cupy"] if type(y).__module__.startswith("cupy") else np
        xp.maximum(y, 0, out=y)
    return y


def reference_forward(x, w, b, y_shape, stride, padding, dilation, out=None, activation=None):
    return _compose(reference, x, w, b, y_shape, stride, padding, dilation, out, activation)


def numpy_forward(x, w, b, y_shape, stride, padding, dilation, out=None, activation=None):
    return _compose(vectorized, x, w, b, y_shape, stride, padding, dilation, out, activation)


def cuda_forward(x, w, b, y_shape, stride, padding, dilation, out=None, activation=None):
    impl = importlib.import_module(f"{__package__}.cuda")  # CuPy only when a GPU call needs it
    return _compose(impl, x, w, b, y_shape, stride, padding, dilation, out, activation)


def vendor_forward(x, w, b, y_shape, stride, padding, dilation, out=None, activation=None):
    impl = importlib.import_module(f"{__package__}.cuda.vendor")
    return _compose(impl, x, w, b, y_shape, stride, padding, dilation, out, activation)
