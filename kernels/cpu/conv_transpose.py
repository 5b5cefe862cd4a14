"""Transposed 2-D convolution in Numba (contract: ``kernels/conv_transpose.py``): conv2d's
backward-input kernel on the adjoint problem, then the bias + ReLU epilogue in one parallel pass
over the output, in place (instead of an ``y + b`` copy and a ReLU's mask and multiply)."""
from __future__ import annotations

import numpy as np
from numba import prange

from .._geometry import check_activation, check_float, check_shape
from ..conv_transpose import OP
from ._jit import njit
from .conv2d import conv2d_backward_input

__all__ = ["conv2d_transpose_forward"]

_OPTS = dict(cache=True, error_model="numpy")


@njit(parallel=True, **_OPTS)
def _bias_act(y2, bias, has_bias, relu):
    """y2[r] = act(y2[r] + bias), in place, one task per row block."""
    M, F = y2.shape
    zero = y2.dtype.type(0)
    for r in prange(M):
        row = y2[r]
        if has_bias and relu:  # branches hoisted out of the channel loop so each one vectorises
            for f in range(F):
                row[f] = max(row[f] + bias[f], zero)
        elif has_bias:
            for f in range(F):
                row[f] += bias[f]
        elif relu:
            for f in range(F):
                row[f] = max(row[f], zero)


def conv2d_transpose_forward(x, w, b, y_shape, stride, padding, dilation, out=None, activation=None):
    relu = check_activation(OP, activation)
    check_float(OP, x, w, b)
    y_shape = tuple(y_shape)
    if b is not None:
        check_shape(OP, "b", tuple(b.shape), (y_shape[3],))
    y = conv2d_backward_input(x, w, y_shape, stride, padding, dilation, out=out)
    if b is not None or relu:
        bias = np.ascontiguousarray(b, dtype=y.dtype) if b is not None else np.zeros(1, y.dtype)
        _bias_act(y.reshape(-1, y_shape[3]), bias, b is not None, relu)
    return y
