"""CategoryEncoding (Keras 3): integer category indices as one-hot, multi-hot or count vectors, on NumPy."""
from __future__ import annotations

import numpy as np

from ._args import describe
from ._data_layer import DataLayer, as_output, encode_categorical, host_array

__all__ = ["CategoryEncoding"]


class CategoryEncoding(DataLayer):
    """Encode integer features in ``[0, num_tokens)``: ``one_hot`` (a new last axis, or in place of a trailing
    axis of 1), ``multi_hot`` (one vector per sample) or ``count`` (optionally weighted by ``count_weights``).
    Results are in the layer's dtype (float32 by default), as Keras's."""

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        super().__init__(**kwargs)
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode not in ("count", "one_hot", "multi_hot"):
            raise ValueError(f"Unknown arg for output_mode: {output_mode}")
        if num_tokens is None:
            raise ValueError("num_tokens must be set to use this layer. If the number of tokens is not known "
                             "beforehand, use the IntegerLookup layer instead.")
        if num_tokens < 1:
            raise ValueError(f"`num_tokens` must be >= 1. Received: num_tokens={num_tokens}.")
        if sparse:
            raise ValueError(f"{describe(self)}: sparse=True is not supported by gradflow (its outputs are dense "
                             f"Tensors); pass sparse=False")
        self.num_tokens = int(num_tokens)
        self.output_mode = output_mode
        self.sparse = False

    def compute_output_shape(self, input_shape):
        if input_shape is not None and len(input_shape) == 0:
            return (self.num_tokens,)
        if self.output_mode == "one_hot":
            if input_shape[-1] != 1 or len(input_shape) == 1:
                return tuple(input_shape) + (self.num_tokens,)
            return tuple(input_shape[:-1]) + (self.num_tokens,)
        return tuple(input_shape[:-1]) + (self.num_tokens,)

    def call(self, inputs, count_weights=None):
        if count_weights is not None:
            if self.output_mode != "count":
                raise ValueError(f"`count_weights` is not used when `output_mode` is not `'count'`. Received "
                                 f"`count_weights={count_weights}`.")
            count_weights = host_array(count_weights).astype(self.dtype)
        x = host_array(inputs)
        if x.dtype.kind == "f":
            x = x.astype(np.int64)
        return as_output(encode_categorical(x, self.output_mode, self.num_tokens, self.dtype, count_weights))

    def get_config(self) -> dict:
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}
