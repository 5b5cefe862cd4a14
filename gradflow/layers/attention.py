"""MultiHeadAttention (Keras 3's arguments and weight layout).

Weights, in Keras's order: ``query/kernel [d_q, heads, key_dim]``, ``query/bias [heads, key_dim]``, the
same for ``key`` and ``value`` (``value_dim``), then ``attention_output/kernel [heads, value_dim, d_out]``
and ``attention_output/bias [d_out]``. The projections and both attention products are matmuls on
the dispatched kernel (batched over batch and heads).
"""
from __future__ import annotations

import math

import numpy as np

from .. import initializers, ops, regularizers
from .._naming import unique_name
from ..autograd.tensor import Tensor
from ..ops.attention import fused_attention, projected_self_attention
from ._args import describe, positive_int, resolve, unsupported
from .base import Layer, get_keras_mask, register_alias, set_keras_mask

__all__ = ["MultiHeadAttention", "GroupQueryAttention"]

_LARGE_NEGATIVE = -1e9  # what Keras adds to masked-out scores before the softmax (float32)


class MultiHeadAttention(Layer):
    """``mha(query, value, key=None, attention_mask=None, return_attention_scores=False,
    use_causal_mask=False)`` over ``(batch, steps, features)`` tensors.

    Masks as in Keras: the query's, value's and key's masks (``_keras_mask``, from an Embedding
    with ``mask_zero`` say) are ANDed with ``attention_mask`` and the causal mask; the output
    carries the query's mask, and the inputs' masks are taken off them (Keras does the same)."""

    supports_masking = True
    _min_rank = 3  # (batch, <attention and batch-like axes>, features): Keras's projections take any rank

    def __init__(self, num_heads, key_dim, value_dim=None, dropout=0.0, use_bias=True, output_shape=None,
                 attention_axes=None, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, seed=None, flash_attention=None, use_gate=False, sliding_window=None,
                 **kwargs):
        super().__init__(**kwargs)
        unsupported(self, activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint, use_gate=use_gate, sliding_window=sliding_window)
        if isinstance(attention_axes, (int, np.integer)):
            attention_axes = (int(attention_axes),)
        elif attention_axes and not isinstance(attention_axes, (list, tuple)):
            raise ValueError(f"{describe(self)}: `attention_axes` must be an int, list, or tuple. Received: "
                             f"attention_axes={attention_axes}")
        self._attention_axes = attention_axes  # as Keras: as given until built, then normalised
        self.num_heads = positive_int(self, "num_heads", num_heads)
        self.key_dim = positive_int(self, "key_dim", key_dim)
        self.value_dim = positive_int(self, "value_dim", value_dim) if value_dim is not None else self.key_dim
        self.dropout = float(dropout)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{describe(self)}: dropout must be in [0, 1), got dropout={dropout!r}")
        self.use_bias = bool(use_bias)
        self._output_dim = None if output_shape is None else (
            int(output_shape) if np.ndim(output_shape) == 0 else int(tuple(output_shape)[-1]))
        self.kernel_initializer = resolve(self, "kernel_initializer", initializers.get, kernel_initializer)
        self.bias_initializer = resolve(self, "bias_initializer", initializers.get, bias_initializer)
        self.kernel_regularizer = resolve(self, "kernel_regularizer", regularizers.get, kernel_regularizer)
        self.bias_regularizer = resolve(self, "bias_regularizer", regularizers.get, bias_regularizer)
        self.seed = seed

    # -- shapes and weights ------------------------------------------------------------------
    def _shapes(self, input_shape):
        """(query, value, key) shapes from what build/check receive (one shape or a list of them)."""
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            shapes = list(input_shape)
        else:
            shapes = [input_shape]
        q = tuple(shapes[0])
        v = tuple(shapes[1]) if len(shapes) > 1 else q
        k = tuple(shapes[2]) if len(shapes) > 2 else v
        return q, v, k

    def check_input_shape(self, input_shape) -> None:
        for what, s in zip(("query", "value", "key"), self._shapes(input_shape)):
            if len(s) < self._min_rank or s[-1] is None:
                raise ValueError(f"{describe(self)}: {what} must be (batch, steps, features) with known features, "
                                 f"got shape {s}")
        q, v, k = self._shapes(input_shape)
        if any(a is not None and b is not None and a != b for a, b in zip(v[1:-1], k[1:-1])) or len(v) != len(k):
            raise ValueError(f"{describe(self)}: key and value need the same number of steps, got {k} and {v}")

    def build(self, input_shape) -> None:
        """Weights need the value's and key's features too, so a call on (query, value) creates them;
        ``build([query_shape, value_shape(, key_shape)])`` does it at once."""
        if isinstance(input_shape, (list, tuple)) and input_shape and isinstance(input_shape[0], (list, tuple)):
            self._build_weights(*self._shapes(input_shape))

    def _build_weights(self, q, v, k) -> None:
        self._attention_axes = _normalized_axes(self._attention_axes, len(v) + 1)  # Keras's _build_attention
        h = self.num_heads
        for part, features, depth in (("query", q[-1], self.key_dim), ("key", k[-1], self.key_dim),
                                      ("value", v[-1], self.value_dim)):
            self.add_weight(name=f"{part}/kernel", shape=(features, h, depth), initializer=self.kernel_initializer,
                            regularizer=self.kernel_regularizer)
            if self.use_bias:
                self.add_weight(name=f"{part}/bias", shape=(h, depth), initializer=self.bias_initializer,
                                regularizer=self.bias_regularizer)
        out = self._output_dim or q[-1]
        self.add_weight(name="attention_output/kernel", shape=(h, self.value_dim, out),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight(name="attention_output/bias", shape=(out,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer)

    # -- running -----------------------------------------------------------------------------
    def _project(self, x, part, depth, heads_first=True):
        """``(B, T, F) -> (B, heads, T, depth)`` (``heads_first=False``: ``(B, T, heads, depth)``)."""
        b, t, f = x.shape
        w = self._params[f"{part}/kernel"]
        heads = w.shape[1]
        y = ops.matmul(x.reshape((b * t, f)), w.reshape((f, heads * depth)))
        if self.use_bias:
            y = y + self._params[f"{part}/bias"].reshape((heads * depth,))
        y = y.reshape((b, t, heads, depth))
        return y.transpose(0, 2, 1, 3) if heads_first else y

    def _output(self, context, b, tq):
        """``context (B, Tq, heads, value_dim)`` through the output projection: ``(B, Tq, d_out)``."""
        wo = self._params["attention_output/kernel"]
        hv = wo.shape[0] * wo.shape[1]
        out = ops.matmul(context.reshape((b * tq, hv)), wo.reshape((hv, wo.shape[-1])))
        if self.use_bias:
            out = out + self._params["attention_output/bias"]
        return out.reshape((b, tq, wo.shape[-1]))

    def _dropout_seed(self):
        """The seed of this call's dropout keep mask: from the layer's own generator when it has a
        ``seed``, else None (the op draws one from the backend's generator)."""
        if self.seed is None:
            return None
        rng = self.__dict__.get("_seed_rng")
        if rng is None:
            rng = self.__dict__["_seed_rng"] = np.random.default_rng(self.seed)
        return int(rng.integers(0, 2**62))

    def _fused(self, q, k, v, mask, causal, training, scale):
        """Attention on the fused kernel: ``(B, T, heads, depth)`` in, ``(B, Tq, heads, value_dim)`` out."""
        if mask is not None:
            mask = mask[:, None] if mask.ndim == 3 else mask
        rate = self.dropout if training else 0.0
        return fused_attention(q, k, v, mask=mask, scale=scale, is_causal=causal, dropout_rate=rate,
                               seed=self._dropout_seed() if rate else None)

    def _self_attention(self, query, value, key):
        """Whether this call attends a tensor to itself with every weight in its float32/float64 dtype:
        then the projections and the attention run as one graph node (``projected_self_attention``)."""
        if query is not value or key is not value or not isinstance(query, Tensor) or query.ndim != 3:
            return False
        dtype = query.dtype
        return dtype in (np.float32, np.float64) and all(w.dtype == dtype for w in self._params.values())

    def _fused_self(self, x, mask, causal, training, scale):
        """``x`` attended to itself through the projections: ``(B, T, d_out)``."""
        p = self._params
        if mask is not None:
            mask = mask[:, None] if mask.ndim == 3 else mask
        rate = self.dropout if training else 0.0
        biases = [p.get(f"{part}/bias") if self.use_bias else None
                  for part in ("query", "key", "value", "attention_output")]
        return projected_self_attention(x, p["query/kernel"], biases[0], p["key/kernel"], biases[1],
                                        p["value/kernel"], biases[2], p["attention_output/kernel"], biases[3],
                                        mask=mask, scale=scale, is_causal=causal, dropout_rate=rate,
                                        seed=self._dropout_seed() if rate else None)

    def call(self, query, value, key=None, attention_mask=None, return_attention_scores=False, training=None,
             use_causal_mask=False, query_mask=None, value_mask=None, key_mask=None):
        key = value if key is None else key
        query_mask = get_keras_mask(query)  # Keras: the query's own mask, whatever was passed
        for t in (query, value, key):
            set_keras_mask(t, None)
        if not self._params:
            self.check_input_shape([query.shape, value.shape, key.shape])
            self._build_weights(tuple(query.shape), tuple(value.shape), tuple(key.shape))
        if query.ndim != 3 or self._attention_axes != (1,):  # Keras's einsum path over any attention axes
            return self._call_general(query, value, key, query_mask, value_mask, key_mask, attention_mask,
                                      return_attention_scores, training, use_causal_mask)
        b, tq, _ = query.shape
        tk = key.shape[1]
        scale = 1.0 / math.sqrt(self.key_dim)  # a Python float: no float64 promotion
        bool_mask = self._attention_mask(query_mask, value_mask, key_mask, attention_mask, query)
        if not return_attention_scores and self._self_attention(query, value, key):
            out = self._fused_self(query, bool_mask, use_causal_mask, training, scale)
            if query_mask is not None:
                set_keras_mask(out, query_mask)
            return out
        if not return_attention_scores:  # the fused kernel: no (B, heads, Tq, Tk) tensor
            context = self._fused(self._project(query, "query", self.key_dim, False),
                                  self._project(key, "key", self.key_dim, False),
                                  self._project(value, "value", self.value_dim, False),
                                  bool_mask, use_causal_mask, training, scale)
            out = self._output(context, b, tq)
            if query_mask is not None:
                set_keras_mask(out, query_mask)
            return out
        q = self._project(query, "query", self.key_dim) * scale
        k = self._project(key, "key", self.key_dim)
        v = self._project(value, "value", self.value_dim)
        scores = ops.matmul(q, k.transpose(0, 1, 3, 2))  # (B, heads, Tq, Tk)
        mask = self._mask(bool_mask, use_causal_mask, b, tq, tk, query)
        if mask is not None:
            scores = scores + Tensor._wrap(((1.0 - mask) * _LARGE_NEGATIVE).astype(scores.dtype))
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0.0:
            rng = None if self.seed is None else query.xp.random.default_rng(self.seed)
            weights_used = ops.dropout(weights, self.dropout, training=True, rng=rng)
        else:
            weights_used = weights
        context = ops.matmul(weights_used, v).transpose(0, 2, 1, 3)  # (B, Tq, heads, value_dim)
        out = self._output(context, b, tq)
        if query_mask is not None:
            set_keras_mask(out, query_mask)
        return out, weights

    # -- any attention axes (Keras's einsum equations); rank-3 steps attention never comes here --
    def _call_general(self, query, value, key, query_mask, value_mask, key_mask, attention_mask, return_scores,
                      training, causal):
        xp = query.xp
        mask = self._attention_mask(query_mask, value_mask, key_mask, attention_mask, query)
        if causal:  # Keras's _compute_causal_mask: (1, T, S) lower triangle over axis 1 of query and value
            tri = xp.tril(xp.ones((query.shape[1], value.shape[1]), dtype=bool))[None]
            mask = tri if mask is None else mask & tri
        axes = self._attention_axes
        dot, combine, scores_rank = _attention_equations(query.ndim + 1, axes)
        q = _project_any(self, query, "query") * (1.0 / math.sqrt(self.key_dim))  # Python float: no promotion
        k, v = _project_any(self, key, "key"), _project_any(self, value, "value")
        scores = ops.einsum(dot, k, q)
        norm_axes = tuple(range(scores_rank - len(axes), scores_rank))
        if mask is not None:  # Keras's _masked_softmax then its Softmax layer (where, not add)
            while mask.ndim < scores_rank:
                mask = xp.expand_dims(mask, -len(axes) * 2 - 1)
            mask = xp.broadcast_to(mask, scores.shape)
            scores = ops.where(mask, scores, _LARGE_NEGATIVE)
        if len(norm_axes) > 1:
            weights = ops.exp(scores - ops.logsumexp(scores, axis=norm_axes, keepdims=True))
        else:
            weights = ops.softmax(scores, axis=norm_axes[0])
        if mask is not None:
            weights = ops.where(mask, weights, 0.0)
        used = weights
        if training and self.dropout > 0.0:
            rng = None if self.seed is None else xp.random.default_rng(self.seed)
            used = ops.dropout(weights, self.dropout, training=True, rng=rng)
        context = ops.einsum(combine, used, v)  # (..., heads, value_dim)
        wo = self._params["attention_output/kernel"]
        lead = tuple(context.shape[:-2])
        hv = wo.shape[0] * wo.shape[1]
        out = ops.matmul(context.reshape((math.prod(lead), hv)), wo.reshape((hv, wo.shape[-1])))
        if self.use_bias:
            out = out + self._params["attention_output/bias"]
        out = out.reshape(lead + (wo.shape[-1],))
        if query_mask is not None:
            set_keras_mask(out, query_mask)
        return (out, weights) if return_scores else out

    @staticmethod
    def _attention_mask(query_mask, value_mask, key_mask, attention_mask, like):
        """Keras's ``_compute_attention_mask`` without the causal part: query mask ``[B, T, 1]``,
        value and key masks ``[B, 1, S]`` and ``attention_mask`` ANDed (booleans), or None."""
        xp = like.xp

        def arr(m):
            return xp.asarray(m.data if isinstance(m, Tensor) else m).astype(bool)

        auto = None
        if query_mask is not None:
            auto = arr(query_mask)[..., None]
        for m in (value_mask, key_mask):
            if m is not None:
                m = xp.expand_dims(arr(m), -2)
                auto = m if auto is None else auto & m
        if attention_mask is not None:
            attention_mask = arr(attention_mask)
        if auto is not None:
            attention_mask = auto if attention_mask is None else attention_mask & auto
        return attention_mask

    def _mask(self, attention_mask, causal, b, tq, tk, like):
        """``(B, 1, Tq, Tk)`` float mask (1 keeps, 0 masks) or None."""
        xp = like.xp
        mask = None
        if attention_mask is not None:
            data = attention_mask.data if isinstance(attention_mask, Tensor) else xp.asarray(attention_mask)
            mask = xp.asarray(data).astype(like.dtype)
            if mask.ndim == 3:
                mask = mask[:, None]
        if causal:
            tri = xp.tril(xp.ones((tq, tk), dtype=like.dtype))[None, None]
            mask = tri if mask is None else mask * tri
        return mask

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        """Keras's signature ``(query_shape, value_shape, key_shape=None)``; one list of the shapes (what
        the functional engine passes) works too."""
        q, v, k = self._shapes_of(query_shape, value_shape, key_shape)
        if tuple(v[1:-1]) != tuple(k[1:-1]):
            raise ValueError(f"{describe(self)}: all dimensions of `value` and `key`, except the last one, must be "
                             f"equal. Received: value_shape={v} and key_shape={k}")
        return q[:-1] + (self._output_dim or q[-1],)

    def _shapes_of(self, query_shape, value_shape, key_shape):
        if value_shape is None:
            return self._shapes(query_shape)
        v = tuple(value_shape)
        return tuple(query_shape), v, v if key_shape is None else tuple(key_shape)

    def get_config(self) -> dict:
        ser, reg = initializers.serialize, regularizers.serialize
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout, "use_bias": self.use_bias,
                "output_shape": self._output_dim, "attention_axes": self._attention_axes, "seed": self.seed,
                "kernel_initializer": ser(self.kernel_initializer), "bias_initializer": ser(self.bias_initializer),
                "kernel_regularizer": reg(self.kernel_regularizer), "bias_regularizer": reg(self.bias_regularizer),
                "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None, "use_gate": False,
                "sliding_window": None}


class GroupQueryAttention(MultiHeadAttention):
    """Keras's ``GroupQueryAttention``: ``num_query_heads`` query heads share ``num_key_value_heads``
    key/value heads (each kv head serves ``num_query_heads // num_key_value_heads`` query heads).

    Weights, in Keras's order: ``query/kernel [d_q, query_heads, head_dim]`` (and bias), ``key`` and
    ``value`` ``[d_kv, kv_heads, head_dim]``, ``attention_output/kernel [query_heads, head_dim, d_q]``.
    ``call(query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
    return_attention_scores=False, training=None, use_causal_mask=False)``. Without attention scores
    it runs on the fused kernel, which reads the shared heads in place (no repeat)."""

    def __init__(self, head_dim, num_query_heads, num_key_value_heads, dropout=0.0, use_bias=True,
                 sliding_window=None, flash_attention=None, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, use_gate=False, seed=None, **kwargs):
        if kwargs.get("name") is None and type(self) is GroupQueryAttention:
            kwargs["name"] = unique_name("grouped_query_attention")  # Keras's class is GroupedQueryAttention
        super().__init__(num_heads=num_query_heads, key_dim=head_dim, dropout=dropout, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, seed=seed, flash_attention=flash_attention, **kwargs)
        self.num_key_value_heads = positive_int(self, "num_key_value_heads", num_key_value_heads)
        if self.num_heads % self.num_key_value_heads:
            raise ValueError("`num_query_heads` must be divisible by `num_key_value_heads`.")
        self.head_dim = self.key_dim
        self.num_query_heads = self.num_heads
        if sliding_window is not None and (not isinstance(sliding_window, int) or sliding_window <= 0):
            raise ValueError("`sliding_window` must be `None` or a positive integer. "
                             f"Received: sliding_window={sliding_window}")
        self.sliding_window = sliding_window
        self.use_gate = bool(use_gate)  # a sigmoid gate on the attention output, per query head (Keras's)
        if flash_attention and self.dropout > 0.0:
            raise ValueError("Dropout is not supported when flash attention is enabled. Please set dropout to 0.0 "
                             "to use flash attention.")

    def check_input_shape(self, input_shape) -> None:
        for what, s in zip(("query", "value", "key"), self._shapes(input_shape)):
            if len(s) != 3:
                raise ValueError(f"{describe(self)}: {what} must be (batch, steps, features), got shape {s}")
        super().check_input_shape(input_shape)

    def _build_weights(self, q, v, k) -> None:
        kv = self.num_key_value_heads
        parts = [("query", q[-1], self.num_heads), ("key", k[-1], kv), ("value", v[-1], kv)]
        if self.use_gate:  # Keras builds it between the key and the value projections
            parts.insert(2, ("gate", q[-1], self.num_heads))
        for part, features, heads in parts:
            self.add_weight(name=f"{part}/kernel", shape=(features, heads, self.head_dim),
                            initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
            if self.use_bias:
                self.add_weight(name=f"{part}/bias", shape=(heads, self.head_dim), initializer=self.bias_initializer,
                                regularizer=self.bias_regularizer)
        self.add_weight(name="attention_output/kernel", shape=(self.num_heads, self.head_dim, q[-1]),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight(name="attention_output/bias", shape=(q[-1],), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer)

    def call(self, query, value, key=None, query_mask=None, value_mask=None, key_mask=None, attention_mask=None,
             return_attention_scores=False, training=None, use_causal_mask=False):
        key = value if key is None else key  # Keras's GQA leaves the inputs' masks on them (MHA takes them off)
        if not self._params:
            self.check_input_shape([query.shape, value.shape, key.shape])
            self._build_weights(tuple(query.shape), tuple(value.shape), tuple(key.shape))
        b, tq, _ = query.shape
        tk = key.shape[1]
        scale = 1.0 / math.sqrt(self.head_dim)
        bool_mask = self._attention_mask(query_mask, value_mask, key_mask, attention_mask, query)
        if self.sliding_window is not None:  # Keras's band: |query position - key position| < sliding_window
            xp = query.xp
            band = xp.abs(xp.arange(tq)[:, None] - xp.arange(tk)[None, :]) < self.sliding_window
            bool_mask = band[None] if bool_mask is None else bool_mask & band[None]
        if not return_attention_scores and not self.use_gate and self._self_attention(query, value, key):
            return self._fused_self(query, bool_mask, use_causal_mask, training, scale)
        q = self._project(query, "query", self.head_dim, False)
        k = self._project(key, "key", self.head_dim, False)
        v = self._project(value, "value", self.head_dim, False)
        gate = ops.sigmoid(self._project(query, "gate", self.head_dim, False)) if self.use_gate else None
        if not return_attention_scores:
            context = self._fused(q, k, v, bool_mask, use_causal_mask, training, scale)
            return self._output(context if gate is None else context * gate, b, tq)
        groups = self.num_heads // self.num_key_value_heads
        k = ops.repeat(k, groups, axis=2).transpose(0, 2, 3, 1)  # (B, heads, head_dim, Tk)
        v = ops.repeat(v, groups, axis=2).transpose(0, 2, 1, 3)
        scores = ops.matmul(q.transpose(0, 2, 1, 3) * scale, k)
        mask = self._mask(bool_mask, use_causal_mask, b, tq, tk, query)
        keep = None if mask is None else mask > 0.5
        if keep is not None:  # Keras's Softmax(mask): -1e9 where masked, and a fully masked row gives zeros
            scores = ops.where(keep, scores, _LARGE_NEGATIVE)
        weights = ops.softmax(scores, axis=-1)
        if keep is not None:
            weights = ops.where(keep, weights, 0.0)
        used = ops.dropout(weights, self.dropout, training=True) if training and self.dropout > 0.0 else weights
        context = ops.matmul(used, v).transpose(0, 2, 1, 3)
        return self._output(context if gate is None else context * gate, b, tq), weights

    def compute_output_shape(self, query_shape, value_shape=None, key_shape=None):
        q, v, k = self._shapes_of(query_shape, value_shape, key_shape)
        if q[-1] != v[-1]:
            raise ValueError(f"{describe(self)}: the last dimension of `query_shape` and `value_shape` must be "
                             f"equal, but are {q[-1]}, {v[-1]}. Received: query_shape={q}, value_shape={v}")
        if tuple(v[1:-1]) != tuple(k[1:-1]):
            raise ValueError(f"{describe(self)}: all dimensions of `value` and `key`, except the last one, must be "
                             f"equal. Received: value_shape={v} and key_shape={k}")
        return q

    def get_config(self) -> dict:
        base = super().get_config()
        for name in ("num_heads", "key_dim", "value_dim", "output_shape", "attention_axes"):
            base.pop(name, None)
        return {**base, "head_dim": self.head_dim, "num_query_heads": self.num_heads,
                "num_key_value_heads": self.num_key_value_heads, "use_gate": self.use_gate,
                "sliding_window": self.sliding_window}


register_alias("GroupedQueryAttention", GroupQueryAttention)  # Keras's class name in saved configs


def _normalized_axes(axes, rank):
    """Keras's ``_build_attention``: ``axes`` over the projected ``(batch, ..., heads, depth)`` of ``rank``:
    None -> every axis between batch and heads; a negative axis counts from ``rank - 1``."""
    if axes is None:
        return tuple(range(1, rank - 2))
    return tuple(int(a) if a >= 0 else rank - 1 + int(a) for a in axes)


def _attention_equations(rank, axes):
    """(query-key equation, combine equation, scores rank), as Keras's ``_build_attention_equation``:
    scores are ``(<batch dims incl. heads>, <query attention dims>, <key attention dims>)``."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    target = letters[:rank]
    batch = [i for i in range(rank) if i not in axes and i != rank - 1]
    source, nxt = "", rank
    for i in range(rank):
        if i in batch or i == rank - 1:
            source += target[i]
        else:
            source += letters[nxt]
            nxt += 1
    product = "".join([target[i] for i in batch] + [target[i] for i in axes] + [source[i] for i in axes])
    return f"{source},{target}->{product}", f"{product},{source}->{target}", len(product)


def _project_any(layer, x, part):
    """``(..., F) @ kernel (F, heads, depth) (+ bias)`` -> ``(..., heads, depth)``, any leading rank."""
    w = layer._params[f"{part}/kernel"]
    f, heads, depth = w.shape
    lead = tuple(x.shape[:-1])
    y = ops.matmul(x.reshape((math.prod(lead), f)), w.reshape((f, heads * depth)))
    if layer.use_bias:
        y = y + layer._params[f"{part}/bias"].reshape((heads * depth,))
    return y.reshape(lead + (heads, depth))
