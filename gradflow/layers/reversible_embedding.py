"""ReversibleEmbedding: an Embedding that also maps hidden states back to logits over its vocabulary (Keras 3,
keras/src/layers/core/reversible_embedding.py): a language model's tied input and output embeddings."""
from __future__ import annotations

from .. import ops
from .base import set_keras_mask
from .embedding import Embedding

__all__ = ["ReversibleEmbedding"]


class ReversibleEmbedding(Embedding):
    """``layer(ids)`` embeds as :class:`Embedding`; ``layer(hidden, reverse=True)`` gives ``hidden @ embeddings.T``
    (``tie_weights=True``) or ``hidden @ reverse_embeddings`` (an own ``[output_dim, input_dim]`` weight), in
    ``reverse_dtype`` where given, soft-capped as ``tanh(logits / cap) * cap`` where ``logit_soft_cap`` is."""

    def __init__(self, input_dim, output_dim, tie_weights=True, embeddings_initializer="uniform",
                 embeddings_regularizer=None, embeddings_constraint=None, mask_zero=False, reverse_dtype=None,
                 logit_soft_cap=None, **kwargs):
        super().__init__(input_dim, output_dim, embeddings_initializer=embeddings_initializer,
                         embeddings_regularizer=embeddings_regularizer, embeddings_constraint=embeddings_constraint,
                         mask_zero=mask_zero, **kwargs)
        self.tie_weights = tie_weights
        self.reverse_dtype = reverse_dtype
        self.logit_soft_cap = logit_soft_cap
        self._symbolic_reverse = False

    def build(self, input_shape=None) -> None:
        super().build(input_shape)
        if not self.tie_weights:
            self.add_weight(name="reverse_embeddings", shape=(self.output_dim, self.input_dim),
                            initializer=self.embeddings_initializer)

    def check_input_shape(self, input_shape) -> None:
        if self._symbolic_reverse and input_shape[-1] != self.output_dim:
            raise ValueError(f"ReversibleEmbedding {self.name!r}: reverse=True takes inputs whose last axis is "
                             f"output_dim={self.output_dim}, got shape {tuple(input_shape)}")

    def call(self, inputs, reverse=False):
        if not reverse:
            result = super().call(inputs)
            mask = super().compute_mask(inputs)
            if mask is not None:
                set_keras_mask(result, mask)
            return result
        kernel = ops.transpose(self.embeddings) if self.tie_weights else self.reverse_embeddings
        if self.reverse_dtype is not None:
            inputs, kernel = ops.cast(inputs, self.reverse_dtype), ops.cast(kernel, self.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if self.logit_soft_cap is not None:
            cap = float(self.logit_soft_cap)
            logits = ops.tanh(logits / cap) * cap
        return logits

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape, reverse=False):
        shape = list(input_shape)
        if reverse or self._symbolic_reverse:
            shape[-1] = self.input_dim
        else:
            shape.append(self.output_dim)
        return tuple(shape)

    def _output_dtype(self, flat_inputs) -> str:
        if self._symbolic_reverse and self.reverse_dtype is not None:
            return str(self.reverse_dtype)
        return super()._output_dtype(flat_inputs)

    def _symbolic_call(self, inputs, args, kwargs):
        self._symbolic_reverse = bool(kwargs.get("reverse"))
        try:
            return super()._symbolic_call(inputs, args, kwargs)
        finally:
            self._symbolic_reverse = False

    def get_config(self) -> dict:
        return {**super().get_config(), "tie_weights": self.tie_weights, "reverse_dtype": self.reverse_dtype,
                "logit_soft_cap": self.logit_soft_cap}
