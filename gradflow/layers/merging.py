"""Merge layers (Keras 3): Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate,
and their functional forms ``add([a, b])``, ``concatenate([a, b], axis=-1)``..."""
from __future__ import annotations

import functools

from .. import ops
from ..autograd.tensor import Tensor
from ._args import describe
from .base import Layer, get_keras_mask, set_keras_mask

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


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


def _array(mask):
    return mask.data if isinstance(mask, Tensor) else mask


class _Merge(Layer):
    """Elementwise merge of a list of tensors (the batch axis too, so shapes must agree). Masks
    (Keras's base_merge): the output's mask is the OR of the inputs' masks, None if one has none."""

    min_inputs = 2
    supports_masking = True
    _mask_needs_input = True

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(f"{describe(self)}: `inputs` and `mask` should be lists of the same length; got "
                             f"mask={mask!r}")
        if any(m is None for m in mask):
            return None
        out = _array(mask[0])
        for m in mask[1:]:
            out = out | _array(m)
        return Tensor._wrap(out)

    def _merge_or_masks(self, inputs):
        """Keras's ``_apply_merge_op_and_or_mask`` (Maximum, Minimum): a masked entry takes the
        other input's value, and the output's mask is the OR of the masks (None if one has none)."""
        output = output_mask = None
        for x in inputs:
            mask = get_keras_mask(x)
            if mask is not None:
                mask = Tensor._wrap(x.xp.broadcast_to(_array(mask)[..., None], x.shape))
            if output is None:
                output, output_mask = x, mask
                continue
            if mask is not None:
                x = ops.where(mask, x, output)
            if output_mask is not None:
                output = ops.where(output_mask, output, x)
            output_mask = (Tensor._wrap(_array(output_mask) | _array(mask))
                           if mask is not None and output_mask is not None else None)
            output = self._merge(output, x)
        if output_mask is not None:
            set_keras_mask(output, Tensor._wrap(_array(output_mask).any(axis=-1)))
        return output

    def _check_list(self, input_shape):
        if (not isinstance(input_shape, (list, tuple)) or not input_shape
                or not isinstance(input_shape[0], (list, tuple))):
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

    def call(self, inputs):
        return self._merge_or_masks(inputs)


class Minimum(_Merge):
    """Elementwise minimum of the inputs."""

    _merge = staticmethod(ops.minimum)

    def call(self, inputs):
        return self._merge_or_masks(inputs)


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

    def compute_mask(self, inputs, mask=None):
        """Keras: the inputs' masks (all-True for an unmasked one), each widened to its input's
        rank, joined along ``axis`` and reduced with ``any`` over the last axis."""
        if mask is None:
            return None
        if not isinstance(mask, (list, tuple)) or not isinstance(inputs, (list, tuple)) or len(mask) != len(inputs):
            raise ValueError(f"{describe(self)}: `inputs` and `mask` should be lists of the same length; got "
                             f"mask={mask!r}")
        if all(m is None for m in mask):
            return None
        xp = inputs[0].xp
        masks = []
        for x, m in zip(inputs, mask):
            if m is None:
                masks.append(xp.ones(x.shape, dtype=bool))
            elif _array(m).ndim < x.ndim:
                masks.append(xp.broadcast_to(_array(m)[..., None], x.shape))
            else:
                masks.append(_array(m))
        return Tensor._wrap(xp.concatenate(masks, axis=self.axis).any(axis=-1))

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot product of two samples' tensors along ``axes`` (Keras's batch_dot): ``(N, d) . (N, d) ->
    (N, 1)``; ``(N, a, d) . (N, b, d)`` with ``axes=2`` -> ``(N, a, b)``. ``normalize`` L2-normalises
    both along their axes first (the cosine proximity)."""

    def __init__(self, axes, normalize=False, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2:
                raise ValueError(f"{describe(self)}: axes must be an int or a pair of ints, got axes={axes!r}")
            self.axes = [int(axes[0]), int(axes[1])]
        else:
            self.axes = int(axes)
        self.normalize = bool(normalize)

    def _pair(self, shapes):
        axes = self.axes if isinstance(self.axes, list) else [self.axes, self.axes]
        out = []
        for a, s in zip(axes, shapes):
            r = len(s)
            if not -r <= a < r or a % r == 0:
                raise ValueError(f"{describe(self)}: axis {a} is out of range for an input of shape {tuple(s)}")
            out.append(a % r)
        return out

    def check_input_shape(self, input_shape) -> None:
        self._check_list(input_shape)
        if len(input_shape) != 2:
            raise ValueError(f"{describe(self)} expects exactly 2 inputs, got {len(input_shape)}")
        a, b = input_shape
        if len(a) > 3 or len(b) > 3:
            raise ValueError(f"{describe(self)} supports inputs of rank 2 or 3, got shapes {tuple(a)} and {tuple(b)}")
        ia, ib = self._pair(input_shape)
        if a[ia] is not None and b[ib] is not None and a[ia] != b[ib]:
            raise ValueError(f"{describe(self)}: the dot axes must have the same size, got {a[ia]} (axis {ia} of "
                             f"{tuple(a)}) and {b[ib]} (axis {ib} of {tuple(b)})")

    def compute_output_shape(self, input_shape):
        a, b = input_shape
        ia, ib = self._pair(input_shape)
        rest = [d for i, d in enumerate(a) if i not in (0, ia)] + [d for i, d in enumerate(b) if i not in (0, ib)]
        return (a[0], *rest) if rest else (a[0], 1)

    def call(self, inputs):
        a, b = inputs
        ia, ib = self._pair([a.shape, b.shape])
        if self.normalize:
            a = a / ops.sqrt(ops.maximum((a * a).sum(axis=ia, keepdims=True), 1e-12))
            b = b / ops.sqrt(ops.maximum((b * b).sum(axis=ib, keepdims=True), 1e-12))
        if a.ndim == 2 and b.ndim == 2:
            return (a * b).sum(axis=1, keepdims=True)
        # move the contracted axis last in a and first (after the batch) in b, then a batched matmul
        if a.ndim == 2:
            a = a.reshape((a.shape[0], 1, a.shape[1]))
        elif ia == 1:
            a = a.transpose(0, 2, 1)
        if b.ndim == 2:
            b = b.reshape((b.shape[0], b.shape[1], 1))
        elif ib == 2:
            b = b.transpose(0, 2, 1)
        y = ops.matmul(a, b)
        return y.reshape(self.compute_output_shape([inputs[0].shape, inputs[1].shape]))

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self) -> dict:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def dot(inputs, axes=-1, normalize=False, **kwargs):
    """``Dot(axes, normalize, **kwargs)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)


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
