"""Attention (Luong, dot-product or concat scores) and AdditiveAttention (Bahdanau): Keras 3's
keras/src/layers/attention/attention.py and additive_attention.py, on ``[query, value(, key)]`` lists."""
from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from .base import Layer
from .regularization import Dropout

__all__ = ["Attention", "AdditiveAttention"]


def _as_float_mask(mask, dtype) -> Tensor:
    data = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    return Tensor._wrap(data.astype(dtype))


class Attention(Layer):
    """``softmax(scores(query, key)) @ value`` with Keras's masks (``mask=[query_mask, value_mask]``), causal
    masking, dropout on the attention weights in training, and ``return_attention_scores``.

    ``score_mode='dot'``: ``query @ key^T`` (times a learned ``scale`` where ``use_scale``); ``'concat'``:
    ``concat_score_weight * sum(tanh(scale * (query + key)))`` over the features."""

    supports_masking = True

    def __init__(self, use_scale=False, score_mode="dot", dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        self._rng = None
        if self.score_mode not in ["dot", "concat"]:
            raise ValueError("Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. "
                             f"Received: score_mode={score_mode}")
        self._symbolic_scores = False

    _generator = Dropout._generator

    def _validate_inputs(self, inputs, mask=None) -> None:
        name = type(self).__name__
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{name} layer must be called on a list of inputs, namely [query, value] or "
                             f"[query, value, key]. Received: inputs={inputs}.")
        if len(inputs) < 2 or len(inputs) > 3:
            raise ValueError(f"{name} layer accepts inputs list of length 2 or 3, namely [query, value] or "
                             f"[query, value, key]. Received length: {len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, (list, tuple)):
                raise ValueError(f"{name} layer mask must be a list, namely [query_mask, value_mask]. "
                                 f"Received: mask={mask}.")
            if len(mask) < 2 or len(mask) > 3:
                raise ValueError(f"{name} layer accepts mask list of length 2 or 3. Received: inputs={inputs}, "
                                 f"mask={mask}.")

    def build(self, input_shape) -> None:
        self._validate_inputs(input_shape)
        if self.use_scale:
            self.add_weight(name="scale", shape=(), initializer="ones")
        if self.score_mode == "concat":
            self.add_weight(name="concat_score_weight", shape=(), initializer="ones")

    def _calculate_scores(self, query, key):
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            if self.use_scale:
                scores = scores * self.scale
            return scores
        summed = ops.expand_dims(query, -2) + ops.expand_dims(key, -3)
        if self.use_scale:
            summed = self.scale * summed
        return self.concat_score_weight * ops.sum(ops.tanh(summed), axis=-1)

    def _apply_scores(self, scores, value, scores_mask, training):
        if scores_mask is not None:
            padding = 1.0 - scores_mask  # 1 where a position must not be attended to
            if padding.ndim == 2:
                padding = ops.expand_dims(padding, -2)
            max_value = 65504.0 if scores.dtype == np.float16 else 1.0e9
            scores = scores - padding * max_value
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = ops.dropout(weights, float(self.dropout), training=True, rng=self._generator(weights.data))
        return ops.matmul(weights, value), weights

    def _score_mask(self, scores, v_mask, use_causal_mask):
        if not use_causal_mask:
            return v_mask
        tq, tv = scores.shape[-2], scores.shape[-1]
        causal = Tensor._wrap(np.tril(np.ones((1, tq, tv), dtype=scores.dtype)))
        if v_mask is not None:
            return ops.expand_dims(v_mask, -2) * causal
        return causal

    def call(self, inputs, mask=None, training=False, return_attention_scores=False, use_causal_mask=False):
        self._validate_inputs(inputs, mask)
        q, v = inputs[0], inputs[1]
        k = inputs[2] if len(inputs) > 2 else v
        q_mask = mask[0] if mask else None
        v_mask = mask[1] if mask else None
        dtype = q.dtype
        v_mask = None if v_mask is None else _as_float_mask(v_mask, dtype)
        scores = self._calculate_scores(q, k)
        scores_mask = self._score_mask(scores, v_mask, use_causal_mask)
        output, weights = self._apply_scores(scores, v, scores_mask, training)
        if q_mask is not None:
            output = output * ops.expand_dims(_as_float_mask(q_mask, dtype), -1)
        if return_attention_scores:
            return output, weights
        return output

    def compute_mask(self, inputs, previous_mask=None):
        self._validate_inputs(inputs, previous_mask)
        if previous_mask is None or previous_mask[0] is None:
            return None
        return previous_mask[0]

    def compute_output_shape(self, input_shape):
        query_shape, value_shape = tuple(input_shape[0]), tuple(input_shape[1])
        out = (*query_shape[:-1], value_shape[-1])
        if self._symbolic_scores:  # a symbolic call with return_attention_scores=True
            key_shape = tuple(input_shape[2]) if len(input_shape) > 2 else value_shape
            return out, (*query_shape[:-1], key_shape[-2])
        return out

    def _symbolic_call(self, inputs, args, kwargs):
        self._symbolic_scores = bool(kwargs.get("return_attention_scores"))
        try:
            return super()._symbolic_call(inputs, args, kwargs)
        finally:
            self._symbolic_scores = False

    def get_config(self) -> dict:
        return {**super().get_config(), "use_scale": self.use_scale, "score_mode": self.score_mode,
                "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Bahdanau-style attention: scores ``sum(scale * tanh(query + key))`` over the features, with a learned
    ``scale`` of the query's feature size where ``use_scale`` (Keras 3)."""

    def __init__(self, use_scale=True, dropout=0.0, **kwargs):
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape) -> None:
        self._validate_inputs(input_shape)
        if self.use_scale:
            self.add_weight(name="scale", shape=(input_shape[0][-1],), initializer="glorot_uniform")

    def _calculate_scores(self, query, key):
        summed = ops.tanh(ops.expand_dims(query, -2) + ops.expand_dims(key, -3))
        if self.use_scale:
            summed = self.scale * summed
        return ops.sum(summed, axis=-1)

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["score_mode"]
        return cfg
