"""``keras.ops.nn``'s activation functions, from one table: each row names the activation that
computes it (``gradflow.activations``, whose functions carry the gradients and the reference
tests) and Keras's ``ops.nn`` defaults where they differ from ``keras.activations``' (``gelu`` is
approximate in ``ops``, exact in ``activations``).

Ops never import ``gradflow.activations`` (it imports ops): a row finds its function in the
registry, where ``activations`` registers every built-in, at call time.
"""
from __future__ import annotations

from .._registry import find
from ..autograd.tensor import Tensor

#: ops.nn name -> (activations name, Keras ops.nn defaults)
ACTIVATIONS: dict[str, tuple[str, dict]] = {
    "elu": ("elu", {"alpha": 1.0}), "selu": ("selu", {}), "softplus": ("softplus", {}),
    "softsign": ("softsign", {}), "leaky_relu": ("leaky_relu", {"negative_slope": 0.2}),
    "hard_sigmoid": ("hard_sigmoid", {}), "hard_silu": ("hard_silu", {}), "hard_swish": ("hard_silu", {}),
    "gelu": ("gelu", {"approximate": True}), "celu": ("celu", {"alpha": 1.0}), "glu": ("glu", {"axis": -1}),
    "hard_shrink": ("hard_shrink", {"threshold": 0.5}), "hard_tanh": ("hard_tanh", {}),
    "log_sigmoid": ("log_sigmoid", {}), "soft_shrink": ("soft_shrink", {"threshold": 0.5}),
    "sparse_plus": ("sparse_plus", {}), "sparse_sigmoid": ("sparse_sigmoid", {}),
    "sparsemax": ("sparsemax", {"axis": -1}), "squareplus": ("squareplus", {"b": 4}),
    "tanh_shrink": ("tanh_shrink", {}), "threshold": ("threshold", {"threshold": None, "default_value": None}),
}


def _row(name):
    target, defaults = ACTIVATIONS[name]
    params = list(defaults)

    def op(x, *args, **kwargs):
        bound = dict(defaults)
        bound.update(zip(params, args))
        bound.update(kwargs)
        out = find("activations", target)(x, **bound)
        return out if isinstance(out, Tensor) else Tensor(out)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.nn.{name}``: ``keras.activations.{target}`` with Keras's ops defaults {defaults}."
    return op


for _name in ACTIVATIONS:
    globals()[_name] = _row(_name)

__all__ = list(ACTIVATIONS)
