"""Weight constraints with Keras 3 semantics: projections applied to a weight after each optimizer step.

A constraint is called on a weight and returns its projected value (``MaxNorm(2)(w)``). Layers take
them as ``kernel_constraint=``/``bias_constraint=``/...; ``Layer.add_weight(constraint=)`` keeps the
constraint on the Parameter (``param.constraint``) and the optimizer assigns ``constraint(param)`` to
it after each update, as Keras's ``BaseOptimizer.apply`` does. Keras 3 defaults: ``MaxNorm(max_value=2,
axis=0)``, ``UnitNorm(axis=0)``, ``MinMaxNorm(min_value=0.0, max_value=1.0, rate=1.0, axis=0)``.
"""
from __future__ import annotations

from . import ops
from ._registry import NameRegistry, registered
from .autograd.tensor import Tensor
from .backend import epsilon

__all__ = ["Constraint", "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm", "max_norm", "non_neg", "unit_norm",
           "min_max_norm", "get", "serialize", "deserialize"]


def _as_tensor(w) -> Tensor:
    return w if isinstance(w, Tensor) else Tensor(w)


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def _norms(w: Tensor, axis) -> Tensor:
    return ops.sqrt(ops.sum(w * w, axis=_axis(axis), keepdims=True))


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (the base returns ``w`` unchanged)."""

    def __call__(self, w):
        return w

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class MaxNorm(Constraint):
    """Rescale the slices along ``axis`` whose L2 norm exceeds ``max_value`` back to it:
    ``w * clip(n, 0, max_value) / (epsilon + n)`` with ``n`` the norms over ``axis``."""

    def __init__(self, max_value=2, axis=0):
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w):
        w = _as_tensor(w)
        norms = _norms(w, self.axis)
        desired = ops.clip(norms, 0.0, float(self.max_value))
        return w * (desired / (epsilon() + norms))

    def get_config(self) -> dict:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """``max(w, 0)``."""

    def __call__(self, w):
        return ops.relu(_as_tensor(w))


class UnitNorm(Constraint):
    """``w / (epsilon + n)``: unit L2 norm along ``axis``."""

    def __init__(self, axis=0):
        self.axis = axis

    def __call__(self, w):
        w = _as_tensor(w)
        return w / (epsilon() + _norms(w, self.axis))

    def get_config(self) -> dict:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Norms along ``axis`` moved into [min_value, max_value] at ``rate``:
    ``desired = rate * clip(n, min_value, max_value) + (1 - rate) * n``; ``w * desired / (epsilon + n)``."""

    def __init__(self, min_value=0.0, max_value=1.0, rate=1.0, axis=0):
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w):
        w = _as_tensor(w)
        norms = _norms(w, self.axis)
        desired = float(self.rate) * ops.clip(norms, float(self.min_value), float(self.max_value)) \
            + (1.0 - float(self.rate)) * norms
        return w * (desired / (epsilon() + norms))

    def get_config(self) -> dict:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate, "axis": self.axis}


max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

#: accepted names: Keras 3 class names and their snake_case forms
NAMES = registered("constraints")
NAMES.update({"Constraint": Constraint, "MaxNorm": MaxNorm, "NonNeg": NonNeg, "UnitNorm": UnitNorm,
              "MinMaxNorm": MinMaxNorm, "constraint": Constraint, "max_norm": MaxNorm, "non_neg": NonNeg,
              "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm})

_LOOKUP = NameRegistry("constraint", Constraint, "constraints",
                       expects="a config dict or a callable (weight) -> weight",
                       allow_none=True)
serialize = _LOOKUP.serialize
deserialize = _LOOKUP.deserialize
get = _LOOKUP.get
