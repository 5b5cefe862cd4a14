"""``TensorOp``: arithmetic written on symbolic tensors (``x * 2.0``, ``1 - x``) as a graph node."""
from __future__ import annotations

import numbers

from .. import ops
from .base import Layer

__all__ = ["TensorOp"]

_OPS = {"add": ops.add, "subtract": ops.sub, "multiply": ops.mul, "divide": ops.div, "power": ops.pow}


class TensorOp(Layer):
    """``op(x, other)`` with a constant number ``other`` (``reverse``: ``op(other, x)``), or ``-x``."""

    def __init__(self, op, other=None, reverse=False, **kwargs):
        super().__init__(**kwargs)
        if op != "negative" and op not in _OPS:
            raise ValueError(f"TensorOp: unknown op {op!r}; expected one of {sorted(_OPS) + ['negative']}")
        if op != "negative" and (isinstance(other, bool) or not isinstance(other, numbers.Real)):
            raise TypeError(f"symbolic tensors support {op} with a number only, got {type(other).__name__}; "
                            f"wrap other values in a layer")
        self.op, self.other, self.reverse = op, None if other is None else float(other), bool(reverse)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x):
        if self.op == "negative":
            return -x
        fn = _OPS[self.op]
        return fn(self.other, x) if self.reverse else fn(x, self.other)

    def get_config(self) -> dict:
        return {**super().get_config(), "op": self.op, "other": self.other, "reverse": self.reverse}
