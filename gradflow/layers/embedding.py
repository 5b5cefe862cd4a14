"""Embedding: integer ids -> rows of a learned ``[input_dim, output_dim]`` table (Keras 3)."""
from __future__ import annotations

import numpy as np

from .. import constraints, initializers, ops, regularizers
from ..autograd.tensor import Tensor
from ._args import describe, positive_int, resolve, unsupported
from .base import Layer

__all__ = ["Embedding"]


class Embedding(Layer):
    """``Embedding(input_dim, output_dim)``: ids of any shape ``(N, ...)`` -> ``(N, ..., output_dim)``.

    Float ids are cast to integers (Keras does the same); an id outside ``[0, input_dim)`` is a clear
    error. ``mask_zero=True`` gives the output the mask ``ids != 0`` (``_keras_mask``), which the
    layers after it honour as in Keras. The gradient reaches the table through a scatter-add over the ids.
    """

    def __init__(self, input_dim, output_dim, embeddings_initializer="uniform", embeddings_regularizer=None,
                 embeddings_constraint=None, mask_zero=False, weights=None, lora_rank=None, input_length=None,
                 quantization_config=None, **kwargs):
        super().__init__(**kwargs)
        unsupported(self, lora_rank=lora_rank, quantization_config=quantization_config)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.input_dim = positive_int(self, "input_dim", input_dim)
        self.output_dim = positive_int(self, "output_dim", output_dim)
        self.embeddings_initializer = resolve(self, "embeddings_initializer", initializers.get,
                                              embeddings_initializer)
        self.embeddings_regularizer = resolve(self, "embeddings_regularizer", regularizers.get,
                                              embeddings_regularizer)
        self.mask_zero = bool(mask_zero)
        self.supports_masking = self.mask_zero  # Keras: only a mask-making Embedding passes masks on
        self._initial_weights = weights

    def build(self, input_shape) -> None:
        self.add_weight(name="embeddings", shape=(self.input_dim, self.output_dim),
                        initializer=self.embeddings_initializer, regularizer=self.embeddings_regularizer,
                        constraint=self.embeddings_constraint)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def _output_dtype(self, flat_inputs) -> str:
        return self.dtype.name

    def call(self, inputs):
        data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        ids = data if data.dtype.kind in "iu" else data.astype(np.int64)
        if ids.size:
            low, high = int(ids.min()), int(ids.max())
            if low < 0 or high >= self.input_dim:
                bad = low if low < 0 else high
                raise ValueError(f"{describe(self)}: ids must be in [0, {self.input_dim}) (input_dim), got {bad}")
        return ops.getitem(self.embeddings, ids)

    def compute_mask(self, inputs, mask=None):
        """``ids != 0`` where ``mask_zero`` (Keras), else None."""
        if not self.mask_zero:
            return None
        data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return Tensor._wrap(data != 0)

    def get_config(self) -> dict:
        return {**super().get_config(), "input_dim": self.input_dim, "output_dim": self.output_dim,
                "embeddings_initializer": initializers.serialize(self.embeddings_initializer),
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer),
                "embeddings_constraint": constraints.serialize(self.embeddings_constraint), "mask_zero": self.mask_zero,
                "activity_regularizer": regularizers.serialize(self.activity_regularizer), "quantization_config": None}
