"""Core layers: Dense (a matmul on the last axis, any rank) and Activation."""
from __future__ import annotations

from .. import constraints, initializers, ops, regularizers
from ._activation import WithActivation
from ._args import describe, positive_int, resolve, unsupported
from .base import Layer

__all__ = ["Dense", "Activation", "Identity"]


class Dense(WithActivation, Layer):
    """``activation(x @ kernel + bias)`` on the last axis; kernel ``[in, units]`` (Keras layout).

    Keras defaults: activation=None (linear), use_bias=True, kernel 'glorot_uniform', bias 'zeros'.
    On inputs of rank > 2 the leading axes are kept: Dense(16) maps (N, 20, 20, 3) -> (N, 20, 20, 16).
    """

    supports_masking = True  # Keras: a mask passes through unchanged

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, quantization_config=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        unsupported(self, quantization_config=quantization_config)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.units = positive_int(self, "units", units)
        self._set_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = resolve(self, "kernel_initializer", initializers.get, kernel_initializer)
        self.bias_initializer = resolve(self, "bias_initializer", initializers.get, bias_initializer)
        self.kernel_regularizer = resolve(self, "kernel_regularizer", regularizers.get, kernel_regularizer)
        self.bias_regularizer = resolve(self, "bias_regularizer", regularizers.get, bias_regularizer)

    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) < 2:
            raise ValueError(f"{describe(self)} expects inputs of rank >= 2 (batch, ..., features), "
                             f"got shape {tuple(input_shape)}")
        last = input_shape[-1]
        if last is None:
            raise ValueError(f"{describe(self)}: the last dimension of the input must be known, "
                             f"got shape {tuple(input_shape)}")
        if self.built and last != self.kernel.shape[0]:
            raise ValueError(f"{describe(self)} was built for inputs with last dimension {self.kernel.shape[0]}, "
                             f"got shape {tuple(input_shape)} (last dimension {last})")

    def build(self, input_shape) -> None:
        self.add_weight(name="kernel", shape=(input_shape[-1], self.units), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.units,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def call(self, inputs, training=None):
        """``activation(inputs @ kernel + bias)`` (a model's inference plan runs it on the arrays:
        models.fused_ops)."""
        return self.activation(self._pre_activation(inputs, training))

    def _pre_activation(self, x, training):
        if x.ndim == 2:
            y = ops.matmul(x, self.kernel)
        else:  # one 2-D GEMM over all leading axes, much faster than a batched matmul
            lead = x.shape[:-1]
            y = ops.matmul(x.reshape(-1, x.shape[-1]), self.kernel).reshape(lead + (self.units,))
        if self.use_bias:
            y = y + self.bias
        return y

    def get_config(self) -> dict:
        return {**super().get_config(), "units": self.units, "activation": self.activation_name,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint), "quantization_config": None}


class Activation(WithActivation, Layer):
    """Applies an activation by name or callable: ``Activation('relu')``."""

    supports_masking = True  # Keras: a mask passes through unchanged

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._set_activation(activation)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def _pre_activation(self, x, training):
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "activation": self.activation_name}


class Identity(Layer):
    """Returns its input unchanged (Keras 3: a placeholder, e.g. a model's head switched off)."""

    supports_masking = True  # Keras: a mask passes through unchanged

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training: bool = False):
        return x
