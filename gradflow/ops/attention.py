"""Fused attention and normalisation ops: Keras's ``dot_product_attention``, ``layer_normalization``
and ``rms_normalization``, on the ``attention_*`` and ``layer_norm_*`` kernels of the registry.

``dot_product_attention`` never builds the ``(B, N, T, S)`` scores on the Numba path (the kernel is
blocked over keys with a running max and sum), stays in the inputs' dtype, and recomputes the
probabilities in backward from the saved row log-sum-exp. ``fused_attention`` is the same op with
dropout on the probabilities (MultiHeadAttention and GroupQueryAttention call it). CuPy arrays run
the ``numpy`` implementation, written with their array module.
"""
from __future__ import annotations

import math

import numpy as np

from .. import config, dispatch
from ..autograd.function import Function
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend, is_cupy_array
from ._kernel import kernel
from .dtypes import result_type
from .keras_names import convert_to_tensor

__all__ = ["dot_product_attention", "layer_normalization", "rms_normalization"]


def _impl(op: str, like):
    if is_cupy_array(like):
        return dispatch.implementations(op, "cpu")["numpy"].load()
    return kernel(op, like)


def _data(x):
    return x.data if isinstance(x, Tensor) else x


class _Attention(Function):
    @staticmethod
    def forward(ctx, q, k, v, bias, mask, scale, is_causal, rate, seed):
        o, lse = _impl("attention_forward", q)(q, k, v, bias=bias, mask=mask, scale=scale, is_causal=is_causal,
                                               dropout_rate=rate, dropout_seed=seed)
        ctx.saved = (q, k, v, o, lse, bias, mask)
        ctx.args = (scale, is_causal, rate, seed)
        return o

    @staticmethod
    def backward(ctx, g):
        q, k, v, o, lse, bias, mask = ctx.saved
        scale, is_causal, rate, seed = ctx.args
        need_dbias = bias is not None and ctx.needs_input_grad[3]
        dq, dk, dv, dbias = _impl("attention_backward", q)(
            g, q, k, v, o, lse, bias=bias, mask=mask, scale=scale, is_causal=is_causal, dropout_rate=rate,
            dropout_seed=seed, need_dbias=need_dbias)
        return dq, dk, dv, dbias, None, None, None, None, None


def _mm(a, b):
    return kernel("matmul", a)(a, b)


def _col_sum(g):
    """``g`` (rows, cols) summed over its rows as one BLAS product (a bias gradient)."""
    return array_module(g).ones(g.shape[0], g.dtype) @ g


class _ProjectedSelfAttention(Function):
    """Self-attention with its projections in one node: ``x (B, T, F)`` times the query, key and value
    kernels side by side (one GEMM), the fused attention kernel on views of that product, and the output
    projection. Backward is four GEMMs (the output projection's two, the joined input projection's two)
    around the attention kernel, where the separate projections took twelve and their graph nodes."""

    @staticmethod
    def forward(ctx, x, wq, bq, wk, bk, wv, bv, wo, bo, mask, scale, is_causal, rate, seed):
        xp = array_module(x)
        B, T, F = x.shape
        heads = (wq.shape[1], wk.shape[1], wv.shape[1])
        widths = (wq.shape[1] * wq.shape[2], wk.shape[1] * wk.shape[2], wv.shape[1] * wv.shape[2])
        x2 = x.reshape(B * T, F)
        w = xp.concatenate([wq.reshape(F, widths[0]), wk.reshape(F, widths[1]), wv.reshape(F, widths[2])], axis=1)
        y = _mm(x2, w)
        if bq is not None:
            y += xp.concatenate([bq.reshape(-1), bk.reshape(-1), bv.reshape(-1)])
        c1, c2 = widths[0], widths[0] + widths[1]
        # contiguous copies once, kept for backward (the kernels would copy the strided views on each call)
        q = xp.ascontiguousarray(y[:, :c1]).reshape(B, T, heads[0], wq.shape[2])
        k = xp.ascontiguousarray(y[:, c1:c2]).reshape(B, T, heads[1], wk.shape[2])
        v = xp.ascontiguousarray(y[:, c2:]).reshape(B, T, heads[2], wv.shape[2])
        o, lse = _impl("attention_forward", q)(q, k, v, mask=mask, scale=scale, is_causal=is_causal,
                                               dropout_rate=rate, dropout_seed=seed)
        o2 = o.reshape(B * T, -1)
        wo2 = wo.reshape(o2.shape[1], wo.shape[-1])
        out = _mm(o2, wo2)
        if bo is not None:
            out += bo
        ctx.saved = (x2, w, q, k, v, o, lse, wo2, mask)
        ctx.args = (scale, is_causal, rate, seed, widths)
        return out.reshape(B, T, wo.shape[-1])

    @staticmethod
    def backward(ctx, g):
        x2, w, q, k, v, o, lse, wo2, mask = ctx.saved
        scale, is_causal, rate, seed, widths = ctx.args
        need = ctx.needs_input_grad
        xp = array_module(g)
        B, T = q.shape[:2]
        g2 = xp.ascontiguousarray(g).reshape(B * T, -1)
        o2 = o.reshape(B * T, -1)
        dwo = _mm(o2.T, g2).reshape(o.shape[2], o.shape[3], wo2.shape[1]) if need[7] else None
        dbo = _col_sum(g2) if need[8] else None
        do = _mm(g2, wo2.T).reshape(o.shape)
        dq, dk, dv, _ = _impl("attention_backward", q)(do, q, k, v, o, lse, mask=mask, scale=scale,
                                                       is_causal=is_causal, dropout_rate=rate, dropout_seed=seed)
        dy = xp.concatenate([dq.reshape(B * T, -1), dk.reshape(B * T, -1), dv.reshape(B * T, -1)], axis=1)
        dx = _mm(dy, w.T).reshape(B, T, -1) if need[0] else None
        dw = _mm(x2.T, dy)
        db = _col_sum(dy) if need[2] or need[4] or need[6] else None
        c1, c2 = widths[0], widths[0] + widths[1]
        parts = ((0, c1, q), (c1, c2, k), (c2, dy.shape[1], v))
        grads = [dx]
        for (lo, hi, t), nw, nb in zip(parts, (need[1], need[3], need[5]), (need[2], need[4], need[6])):
            grads.append(dw[:, lo:hi].reshape(x2.shape[1], t.shape[2], t.shape[3]) if nw else None)
            grads.append(db[lo:hi].reshape(t.shape[2], t.shape[3]) if nb else None)
        return (*grads, dwo, dbo, None, None, None, None, None)


def projected_self_attention(x, wq, bq, wk, bk, wv, bv, wo, bo, mask=None, scale=None, is_causal=False,
                             dropout_rate=0.0, seed=None):
    """MultiHeadAttention's self-attention call in one graph node: ``x (B, T, F)``, kernels in Keras's
    layout (``wq (F, heads, key_dim)``, ``wo (heads, value_dim, d_out)``), biases or None (all or none of
    the three input biases). ``mask``: booleans broadcastable to ``(B, heads, T, T)``. The caller checks
    that every array shares ``x``'s float32/float64 dtype. Returns ``(B, T, d_out)``."""
    scale = 1.0 / math.sqrt(wq.shape[-1]) if scale is None else float(scale)
    if mask is not None:
        mask = x.xp.asarray(_data(mask)).astype(bool)
    rate = float(dropout_rate or 0.0)
    if rate and seed is None:
        seed = int(get_backend().generator().integers(0, 2**62))
    return _ProjectedSelfAttention.apply(x, wq, bq, wk, bk, wv, bv, wo, bo, mask, scale, bool(is_causal), rate,
                                         int(seed or 0))


def _as_tensor(x, dtype):
    t = x if isinstance(x, Tensor) else convert_to_tensor(x)
    return t if t.dtype == np.dtype(dtype) else t.astype(dtype)


def fused_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False, dropout_rate=0.0,
                    seed=None):
    """Scaled-dot-product attention over ``(B, T, N, H)`` tensors with dropout ``dropout_rate`` on the
    probabilities (its keep mask drawn from ``seed``, a non-negative int; None draws one from the
    backend's generator). ``mask``: booleans broadcastable to ``(B, N, T, S)``, True attends."""
    dtype = result_type(query, key, value)
    if np.dtype(dtype).kind != "f":
        dtype = config.floatx()
    work = np.dtype(dtype) if np.dtype(dtype) in (np.float32, np.float64) else np.dtype(np.float32)  # float16: in 32
    q, k, v = (_as_tensor(t, work) for t in (query, key, value))
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"dot_product_attention only supports 4D inputs. Received: query.shape={tuple(q.shape)}, "
                         f"key.shape={tuple(k.shape)}, value.shape={tuple(v.shape)}.")
    if k.shape[:3] != v.shape[:3] or q.shape[-1] != k.shape[-1] or q.shape[0] != k.shape[0] \
            or q.shape[2] % k.shape[2]:
        raise ValueError(f"dot_product_attention: expected query (B, T, N, H), key (B, S, K, H) and value (B, S, K, "
                         f"Hv) with N a multiple of K, got shapes {tuple(q.shape)}, {tuple(k.shape)}, "
                         f"{tuple(v.shape)}")
    if bias is not None:
        bias = _as_tensor(bias, work)
    if mask is not None:
        xp = q.xp
        mask = xp.asarray(_data(mask)).astype(bool)
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(_data(scale))
    rate = float(dropout_rate or 0.0)
    if rate and seed is None:
        seed = int(get_backend().generator().integers(0, 2**62))
    out = _Attention.apply(q, k, v, bias, mask, scale, bool(is_causal), rate, int(seed or 0))
    return out if out.dtype == np.dtype(dtype) else out.astype(dtype)


def dot_product_attention(query, key, value, bias=None, mask=None, scale=None, is_causal=False, flash_attention=None,
                          attn_logits_soft_cap=None):
    """Keras's ``ops.dot_product_attention``: ``softmax(query key^T * scale + bias, masked) value`` with
    query ``(B, T, N, H)``, key and value ``(B, S, K, H)`` (grouped heads when ``K < N``). ``mask``:
    booleans, True attends (masked logits become a large negative number); ``is_causal``: query ``t``
    sees keys ``<= t``. ``flash_attention`` is accepted for Keras's signature: on the CPU the fused
    kernel is always the flash-style one. As on Keras's torch backend, ``bias`` and ``mask`` are
    exclusive and ``attn_logits_soft_cap`` is refused."""
    del flash_attention
    if attn_logits_soft_cap is not None:
        raise ValueError("attn_logits_soft_cap is only supported for JAX on TPU. Set attn_logits_soft_cap=None "
                         "when not using JAX on TPU.")
    if bias is not None and mask is not None:
        raise ValueError("Only one of `bias` and `mask` can be provided. Received both.")
    return fused_attention(query, key, value, bias=bias, mask=mask, scale=scale, is_causal=is_causal)


# -- layer and RMS normalisation ------------------------------------------------------------------
class _LayerNorm(Function):
    """Layer norm over the last ``c`` elements of each row of ``x`` (any rank: flattened to ``(-1, c)``
    inside the node, so the graph holds no reshapes around it)."""

    @staticmethod
    def forward(ctx, x, gamma, beta, eps, rms, c):
        x2 = x.reshape(-1, c)
        y, mean, inv = _impl("layer_norm_forward", x2)(x2, gamma, beta, eps, rms=rms)
        ctx.saved = (x2, gamma, mean, inv)
        ctx.rms, ctx.shape = rms, x.shape
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, gamma, mean, inv = ctx.saved
        g2 = g.reshape(x2.shape)
        dx, dgamma, dbeta = _impl("layer_norm_backward", x2)(g2, x2, gamma, mean, inv, rms=ctx.rms)
        return (dx.reshape(ctx.shape), dgamma if gamma is not None else None,
                dbeta if ctx.needs_input_grad[2] else None, None, None, None)


def _axes(axis, ndim: int) -> list[int]:
    axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
    out = sorted({int(a) % ndim for a in axes}) if ndim else []
    if len(out) != len(axes) or any(not -ndim <= int(a) < ndim for a in axes):
        raise ValueError(f"normalization: axis {axis!r} is out of range for an input of rank {ndim}")
    return out


def _flat(t, c: int):
    """``t`` as a ``(c,)`` vector (no graph node when it already is one)."""
    return t if t.shape == (c,) else t.reshape((c,))


def normalize_last(x, gamma, beta, axis, epsilon, rms: bool):
    """``x`` normalised over ``axis`` on the fused kernel: the axes are moved last and flattened, then
    put back. ``gamma``/``beta`` (Tensors or None) have the normalised axes' sizes."""
    x = x if isinstance(x, Tensor) else convert_to_tensor(x)
    dtype = x.dtype if x.dtype.kind == "f" else np.dtype(config.floatx())
    if dtype not in (np.float32, np.float64):  # float16: computed in float32, as Keras does
        return normalize_last(x.astype("float32"), gamma, beta, axis, epsilon, rms).astype(dtype)
    x = x if x.dtype == dtype else x.astype(dtype)
    ndim = x.ndim
    if ndim == 0:
        return normalize_last(x.reshape((1,)), gamma, beta, -1, epsilon, rms).reshape(())
    axes = _axes(axis, ndim)
    rest = [a for a in range(ndim) if a not in axes]
    perm = rest + axes
    moved = x if perm == list(range(ndim)) else x.transpose(perm)
    c = 1
    for a in axes:
        c *= int(x.shape[a])
    g = None if gamma is None else _flat(_as_tensor(gamma, dtype), c)
    b = None if beta is None else _flat(_as_tensor(beta, dtype), c)
    eps = float(config.epsilon() if epsilon is None else epsilon)
    y = _LayerNorm.apply(moved, g, b, eps, rms, c)
    if perm == list(range(ndim)):
        return y
    return y.transpose(tuple(int(i) for i in np.argsort(perm)))


def layer_normalization(x, gamma=None, beta=None, axis=-1, epsilon=None, **kwargs):
    """Keras's ``ops.layer_normalization``: ``(x - mean) / sqrt(var + epsilon) * gamma + beta`` over
    ``axis`` (``epsilon`` defaults to ``config.epsilon()``). ``rms_scaling=True`` is Keras's deprecated
    variant, computed as Keras does: ``x / sqrt(var + epsilon) * gamma``."""
    rms_scaling = kwargs.pop("rms_scaling", False)
    if kwargs:
        raise TypeError(f"layer_normalization got unexpected keyword arguments {sorted(kwargs)}")
    if rms_scaling:
        x = x if isinstance(x, Tensor) else convert_to_tensor(x)
        axes = tuple(_axes(axis, x.ndim))
        eps = float(config.epsilon() if epsilon is None else epsilon)
        centred = x - x.mean(axis=axes, keepdims=True)
        y = x * ((centred * centred).mean(axis=axes, keepdims=True) + eps) ** -0.5
        if gamma is not None:
            shape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
            y = y * _as_tensor(gamma, y.dtype).reshape(shape)
        return y
    return normalize_last(x, gamma, beta, axis, epsilon, rms=False)


def rms_normalization(x, scale=None, axis=-1, epsilon=None):
    """Keras's ``ops.rms_normalization``: ``x / sqrt(mean(x**2) + epsilon) * scale`` over ``axis``."""
    return normalize_last(x, scale, None, axis, epsilon, rms=True)

