"""Activation layers with their own arguments (Keras 3): ReLU, LeakyReLU, PReLU, ELU, Softmax."""
from __future__ import annotations

import numbers

from .. import constraints, initializers, ops, regularizers
from ..autograd.tensor import Tensor
from ._args import describe, resolve
from .base import Layer

__all__ = ["ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax"]


def _number(layer, name, value, low=None):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or (low is not None and value < low):
        bound = f" >= {low}" if low is not None else ""
        raise ValueError(f"{describe(layer)}: {name} must be a number{bound}, got {name}={value!r}")
    return float(value)


class _Elementwise(Layer):
    supports_masking = True  # Keras: a mask passes through unchanged

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


class ReLU(_Elementwise):
    """``x`` above ``threshold``, ``negative_slope * (x - threshold)`` below, capped at ``max_value``."""

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        self.max_value = None if max_value is None else _number(self, "max_value", max_value, 0.0)
        self.negative_slope = _number(self, "negative_slope", negative_slope, 0.0)
        self.threshold = _number(self, "threshold", threshold)

    def call(self, inputs):
        if self.negative_slope == 0.0 and self.threshold == 0.0:
            y = ops.relu(inputs)
        else:
            below = (inputs - self.threshold) * self.negative_slope if self.negative_slope else inputs * 0.0
            y = ops.where(ops.greater_equal(inputs, self.threshold), inputs, below)
        return y if self.max_value is None else ops.minimum(y, self.max_value)

    def get_config(self) -> dict:
        return {**super().get_config(), "max_value": self.max_value, "negative_slope": self.negative_slope,
                "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    """``x`` for ``x >= 0``, ``negative_slope * x`` below (Keras 3 default slope 0.3)."""

    def __init__(self, negative_slope=0.3, **kwargs):
        if "alpha" in kwargs:  # Keras 2's name
            negative_slope = kwargs.pop("alpha")
        super().__init__(**kwargs)
        self.negative_slope = _number(self, "negative_slope", negative_slope, 0.0)

    def call(self, inputs):
        return ops.where(ops.greater_equal(inputs, 0.0), inputs, inputs * self.negative_slope)

    def get_config(self) -> dict:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(_Elementwise):
    """``relu(x) - alpha * relu(-x)`` with a learned ``alpha`` per feature (shared along ``shared_axes``)."""

    def __init__(self, alpha_initializer="Zeros", alpha_regularizer=None, alpha_constraint=None, shared_axes=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.alpha_constraint = constraints.get(alpha_constraint)
        self.alpha_initializer = resolve(self, "alpha_initializer", initializers.get, alpha_initializer)
        self.alpha_regularizer = resolve(self, "alpha_regularizer", regularizers.get, alpha_regularizer)
        if shared_axes is None:
            self.shared_axes = None
        else:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            self.shared_axes = [int(a) for a in axes]

    def build(self, input_shape) -> None:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or ():
            if not 1 <= axis < len(input_shape):
                raise ValueError(f"{describe(self)}: shared_axes entries must be in [1, {len(input_shape) - 1}], "
                                 f"got {self.shared_axes} for input shape {tuple(input_shape)}")
            shape[axis - 1] = 1
        if any(d is None for d in shape):
            raise ValueError(f"{describe(self)}: every non-shared axis needs a known size, got input shape "
                             f"{tuple(input_shape)}")
        self.add_weight(name="alpha", shape=tuple(shape), initializer=self.alpha_initializer,
                        regularizer=self.alpha_regularizer, constraint=self.alpha_constraint)

    def call(self, inputs):
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha_initializer": initializers.serialize(self.alpha_initializer),
                "alpha_regularizer": regularizers.serialize(self.alpha_regularizer),
                "alpha_constraint": constraints.serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


class ELU(_Elementwise):
    """``x`` for ``x > 0``, ``alpha * (exp(x) - 1)`` below."""

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self.alpha = _number(self, "alpha", alpha)

    def call(self, inputs):
        negative = (ops.exp(ops.minimum(inputs, 0.0)) - 1.0) * self.alpha  # exp never overflows
        return ops.where(ops.greater(inputs, 0.0), inputs, negative)

    def get_config(self) -> dict:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """Softmax along ``axis`` (default -1)."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis if isinstance(axis, int) else [int(a) for a in axis]
        if not isinstance(self.axis, int):
            if len(self.axis) != 1:
                raise ValueError(f"{describe(self)}: only one softmax axis is supported, got axis={axis!r}")
            self.axis = self.axis[0]

    def call(self, inputs, mask=None):
        if mask is not None:  # Keras: masked positions (False, or <= 0.5) take -1e9 before the softmax
            data = mask.data if isinstance(mask, Tensor) else inputs.xp.asarray(mask)
            keep = (data > 0.5) if data.dtype.kind != "b" else data
            inputs = inputs * Tensor._wrap(keep.astype(inputs.dtype)) + Tensor._wrap(
                ((~keep) * -1e9).astype(inputs.dtype))
        return ops.softmax(inputs, axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}
