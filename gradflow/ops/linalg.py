"""Matrix multiplication (batched, broadcast) through the kernel registry."""
from __future__ import annotations

import numpy as np

from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module
from ._kernel import kernel
from .dtypes import float_dtype, result_type
from .elementwise import _dtype_of, _promote
from .numpy_table import TableOp

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


# -- keras.ops.linalg, from a table of (forward, gradient rule) rows run by numpy_table.TableOp ---
def _t(a):
    return a.swapaxes(-1, -2)


def _inv_grad(xp, g, y, a):
    return (-(_t(y) @ g @ _t(y)),)


def _det_grad(xp, g, y, a):
    return ((g * y)[..., None, None] * _t(xp.linalg.inv(a)),)


def _solve_forward(xp, a, b):
    vector = b.ndim == a.ndim - 1
    out = xp.linalg.solve(a, b[..., None] if vector else b)
    return out[..., 0] if vector else out


def _solve_grad(xp, g, y, a, b):
    vector = b.ndim == a.ndim - 1
    g2, y2 = (g[..., None], y[..., None]) if vector else (g, y)
    gb = xp.linalg.solve(_t(a), g2)
    return -(gb @ _t(y2)), (gb[..., 0] if vector else gb)


#: name -> (forward, gradient rule or None for no gradient)
LINALG = {
    "inv": (lambda xp, a: xp.linalg.inv(a), _inv_grad),
    "det": (lambda xp, a: xp.linalg.det(a), _det_grad),
    "solve": (_solve_forward, _solve_grad),
    "cholesky": (lambda xp, a: xp.linalg.cholesky(a), None),
}


def _float(x) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor(x)
    return x if x.dtype.kind == "f" else x.astype(float_dtype())


def _linalg(name, *inputs):
    forward, grad = LINALG[name]
    return TableOp.apply(*(_float(x) for x in inputs), forward=forward, grad=grad, kw={})


def inv(a):
    """``keras.ops.linalg.inv`` (differentiable)."""
    return _linalg("inv", a)


def det(a):
    """``keras.ops.linalg.det`` (differentiable)."""
    return _linalg("det", a)


def solve(a, b):
    """``keras.ops.linalg.solve``: ``x`` with ``a @ x == b`` (differentiable in both)."""
    a, b = _float(a), _float(b)
    dtype = result_type(a, b)
    return _linalg("solve", a.astype(dtype) if a.dtype != dtype else a, b.astype(dtype) if b.dtype != dtype else b)


def cholesky(x, upper=False):
    """``keras.ops.linalg.cholesky`` (no gradient yet)."""
    out = _linalg("cholesky", x)
    return Tensor._wrap(_t(out.data).copy()) if upper else out


def _constant(*arrays):
    return tuple(Tensor._wrap(a) for a in arrays)


def qr(x, mode="reduced"):
    """``keras.ops.linalg.qr``: ``(q, r)`` (no gradient yet)."""
    d = _float(x).data
    return _constant(*array_module(d).linalg.qr(d, mode=mode))


def svd(x, full_matrices=True, compute_uv=True):
    """``keras.ops.linalg.svd``: ``(u, s, vh)``, or ``s`` (no gradient yet)."""
    d = _float(x).data
    out = array_module(d).linalg.svd(d, full_matrices=full_matrices, compute_uv=compute_uv)
    return _constant(*out) if compute_uv else Tensor._wrap(out)


def eigh(x):
    """``keras.ops.linalg.eigh``: ``(eigenvalues, eigenvectors)`` (no gradient yet)."""
    d = _float(x).data
    return _constant(*array_module(d).linalg.eigh(d))


__all__ += ["inv", "det", "solve", "cholesky", "qr", "svd", "eigh"]
for _fn in (inv, solve, cholesky):  # probed on identities for the symbolic output spec (ops._symbolic)
    setattr(_fn, "__probe_identity__", True)  # noqa: B010 - a marker attribute on a function
