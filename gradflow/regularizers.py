"""Weight regularizers with Keras 3 semantics: ``L2(0.01)(w) == 0.01 * sum(w ** 2)``.

A regularizer is called on a weight (a Parameter or Tensor) and returns a differentiable scalar
Tensor that the model adds to the loss. Keras 3 defaults: ``L1(l1=0.01)``, ``L2(l2=0.01)``,
``L1L2(l1=0.0, l2=0.0)``; the lower-case names are the same classes (``l2(0.001)``), so the string
``"l1_l2"`` gives a zero penalty exactly as in Keras 3 (Keras 2's ``l1_l2()`` defaulted to 0.01 each).
"""
from __future__ import annotations

import math

from ._registry import NameRegistry, registered
from .autograd.tensor import Tensor

__all__ = ["Regularizer", "L1", "L2", "L1L2", "l1", "l2", "l1_l2", "get", "serialize", "deserialize"]


def _factor(value, name: str) -> float:
    """A finite, non-negative penalty factor (None means 0, as in Keras)."""
    if value is None:
        return 0.0
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"regularizer argument {name} must be a non-negative float, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"regularizer argument {name} must be a non-negative float, got {name}={value!r}")
    return v


def _as_tensor(x) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


class Regularizer:
    """Base class: ``__call__(weight) -> scalar Tensor`` plus ``get_config``/``from_config``."""

    def __call__(self, x):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Regularizer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w ** 2)``; Keras 3 defaults l1=0.0, l2=0.0."""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1 = _factor(l1, "l1")
        self.l2 = _factor(l2, "l2")

    def __call__(self, x):
        x = _as_tensor(x)
        total = None
        if self.l1:
            total = self.l1 * x.abs().sum()
        if self.l2:
            sq = self.l2 * (x * x).sum()
            total = sq if total is None else total + sq
        if total is None:  # a zero penalty still is a scalar Tensor of the weight's dtype
            total = (x * 0.0).sum()
        return total

    def get_config(self) -> dict:
        return {"l1": self.l1, "l2": self.l2}


class L1(L1L2):
    """``l1 * sum(|w|)``; Keras default l1=0.01."""

    def __init__(self, l1=0.01):
        super().__init__(l1=l1, l2=0.0)

    def get_config(self) -> dict:
        return {"l1": self.l1}


class L2(L1L2):
    """``l2 * sum(w ** 2)``; Keras default l2=0.01 (no factor 1/2)."""

    def __init__(self, l2=0.01):
        super().__init__(l1=0.0, l2=l2)

    def get_config(self) -> dict:
        return {"l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2

#: accepted names: Keras 3 class names and their snake_case forms
NAMES = registered("regularizers")
NAMES.update({"L1": L1, "L2": L2, "L1L2": L1L2, "l1": L1, "l2": L2, "l1_l2": L1L2})


_LOOKUP = NameRegistry("regularizer", Regularizer, "regularizers",
                       expects="a config dict or a callable (weight) -> scalar Tensor", allow_none=True)
_unknown = _LOOKUP.unknown
serialize = _LOOKUP.serialize
deserialize = _LOOKUP.deserialize
get = _LOOKUP.get
