"""Matrix multiplication (batched, broadcast) through the kernel registry."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module
from ._kernel import kernel
from .dtypes import result_type
from .elementwise import _dtype_of, _promote

__all__ = ["matmul"]


def _mm(a, b):
    return kernel("matmul", a)(a, b)


class MatMul(Function):
    verb = "matrix-multiply"

    @staticmethod
    def forward(ctx, a, b):
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError("matmul needs operands of rank >= 1")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise ValueError(f"inner dimensions differ: {a.shape[-1]} vs {b.shape[-2 if b.ndim > 1 else 0]}")
        ctx.a, ctx.b = a, b
        if a.ndim == 1 or b.ndim == 1:  # kernels take rank >= 2; promote like numpy.matmul
            out = _mm(a[None, :] if a.ndim == 1 else a, b[:, None] if b.ndim == 1 else b)
            if a.ndim == 1:
                out = out[..., 0, :]
            return out[..., 0] if b.ndim == 1 else out
        return _mm(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.a, ctx.b
        na, nb = ctx.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = array_module(g).asarray(g)
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = g2[..., None, :]
        ga = _mm(g2, b2.swapaxes(-1, -2)) if na else None
        gb = _mm(a2.swapaxes(-1, -2), g2) if nb else None
        if ga is not None and a.ndim == 1:
            ga = ga[..., 0, :]
        if gb is not None and b.ndim == 1:
            gb = gb[..., 0]
        return ga, gb


def matmul(a, b):
    """``a @ b`` with NumPy's batching and broadcasting rules, in Keras's result dtype: integer
    operands multiply exactly in NumPy/CuPy (int8 @ int8 gives int32, as Keras), without a gradient."""
    da, db = _dtype_of(a), _dtype_of(b)
    if da is not None and da == db and da.kind == "f":
        return MatMul.apply(a, b)
    dtype = result_type(a, b)
    if np.dtype(dtype).kind == "f":
        return MatMul.apply(*_promote(a, b))
    if dtype == "int8" and da == db:
        dtype = "int32"
    x, y = (v.data if isinstance(v, Tensor) else array_module(v).asarray(v) for v in (a, b))
    return Tensor._wrap(array_module(x).matmul(x.astype(dtype), y.astype(dtype)))
