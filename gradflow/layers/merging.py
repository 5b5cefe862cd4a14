"""Merge layers (Keras 3): Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate,
and their functional forms ``add([a, b])``, ``concatenate([a, b], axis=-1)``..."""
from __future__ import annotations

import functools

from .. import ops
from ._args import describe
from .base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate"]


def _broadcast(layer, shapes) -> tuple:
    """The broadcast shape of ``shapes`` (batch axis included), or a clear error naming them."""
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for dims in zip(*padded):
        known = {d for d in dims if d is not None and d != 1}
        if len(known) > 1:
            raise ValueError(f"{describe(layer)}: inputs must have the same shape (or shapes that broadcast), "
                             f"got shapes {[tuple(s) for s in shapes]}")
        if known:
            out.append(known.pop())
        elif any(d is None for d in dims):
            out.append(None)
        else:
            out.append(1)
    return tuple(out)


class _Merge(Layer):
    """Elementwise merge of a list of tensors (the batch axis too, so shapes must agree)."""

    min_inputs = 2

    def _check_list(self, input_shape):
        if not isinstance(input_shape, (list, tuple)) or not input_shape or not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"{describe(self)} expects a list of at least {self.min_inputs} inputs, got input shape "
                             f"{input_shape}")
        if len(input_shape) < self.min_inputs:
            raise ValueError(f"{describe(self)} expects at least {self.min_inputs} inputs, got {len(input_shape)}")

    def check_input_shape(self, input_shape) -> None:
        self._check_list(input_shape)
        _broadcast(self, input_shape)

    def compute_output_shape(self, input_shape):
        return _broadcast(self, input_shape)

    def call(self, inputs):
        return functools.reduce(self._merge, inputs)


class Add(_Merge):
    """Sum of the inputs: ``Add()([a, b])`` or ``add([a, b])``."""

    _merge = staticmethod(ops.add)


class Subtract(_Merge):
    """``a - b`` of exactly two inputs."""

    def check_input_shape(self, input_shape) -> None:
        super().check_input_shape(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{describe(self)} expects exactly 2 inputs, got {len(input_shape)}")

    def call(self, inputs):
        return ops.sub(inputs[0], inputs[1])


class Multiply(_Merge):
    """Elementwise product of the inputs."""

    _merge = staticmethod(ops.mul)


class Average(_Merge):
    """Elementwise mean of the inputs."""

    def call(self, inputs):
        return functools.reduce(ops.add, inputs) * (1.0 / len(inputs))


class Maximum(_Merge):
    """Elementwise maximum of the inputs."""

    _merge = staticmethod(ops.maximum)


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    _merge = staticmethod(ops.minimum)


class Concatenate(_Merge):
    """Join the inputs along ``axis`` (default -1, the channels); every other size must agree."""

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = int(axis)

    def _out(self, input_shape):
        self._check_list(input_shape)
        ranks = {len(s) for s in input_shape}
        if len(ranks) != 1:
            raise ValueError(f"{describe(self)}: inputs must have the same rank, got shapes "
                             f"{[tuple(s) for s in input_shape]}")
        rank = ranks.pop()
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{describe(self)}: axis {self.axis} is out of range for inputs of rank {rank} "
                             f"(or is the batch axis)")
        axis = self.axis % rank
        out = []
        for i, dims in enumerate(zip(*input_shape)):
            if i == axis:
                out.append(None if any(d is None for d in dims) else sum(dims))
                continue
            known = {d for d in dims if d is not None}
            if len(known) > 1:
                raise ValueError(f"{describe(self)}: inputs must match on every axis except the concatenation axis "
                                 f"{self.axis}; got shapes {[tuple(s) for s in input_shape]}")
            out.append(known.pop() if known else None)
        return tuple(out)

    def check_input_shape(self, input_shape) -> None:
        self._out(input_shape)

    def compute_output_shape(self, input_shape):
        return self._out(input_shape)

    def call(self, inputs):
        return ops.concatenate(list(inputs), axis=self.axis)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


def _functional(cls):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = f"``{cls.__name__}(**kwargs)(inputs)``."
    return merge


add, subtract, multiply, average, maximum, minimum = (
    _functional(c) for c in (Add, Subtract, Multiply, Average, Maximum, Minimum))


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
