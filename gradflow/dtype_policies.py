"""Dtype policies (Keras 3's ``keras.dtype_policies`` and ``keras.mixed_precision``): which dtype a layer's
variables are stored in and which dtype it computes in.

``DTypePolicy("mixed_float16")`` keeps variables in float32 and computes in float16 (``"mixed_bfloat16"``:
bfloat16 compute, through ml_dtypes); any float dtype name gives a policy that stores and computes in it.
A layer's ``dtype=`` takes a policy or a policy name; without one it takes the global policy
(``set_dtype_policy``), which defaults to ``floatx()``. In ``__call__`` a layer casts its floating inputs to
its compute dtype (Keras's autocast) and reads its float variables cast to it, so gradients reach the
float32 variables.
"""
from __future__ import annotations

import functools

import numpy as np

from .backend import floatx

__all__ = ["DTypePolicy", "FloatDTypePolicy", "Policy", "dtype_policy", "set_dtype_policy", "global_policy",
           "set_global_policy", "get", "serialize", "deserialize", "numpy_dtype"]

_MIXED = {"mixed_float16": ("float16", "float32"), "mixed_bfloat16": ("bfloat16", "float32")}


@functools.cache
def numpy_dtype(name: str) -> np.dtype:
    """The NumPy dtype of a policy's dtype name ('bfloat16' through ml_dtypes)."""
    if name == "bfloat16":
        import ml_dtypes  # noqa: PLC0415 - optional: only a bfloat16 policy needs it

        return np.dtype(ml_dtypes.bfloat16)
    return np.dtype(name)


class DTypePolicy:
    """A layer's dtypes: ``variable_dtype`` (its weights) and ``compute_dtype`` (its inputs and math)."""

    def __init__(self, name=None):
        if name is None:
            name = dtype_policy().name
        if not isinstance(name, str):
            raise TypeError(f"'name' must be a string, such as 'mixed_float16'. Received: name={name!r} "
                            f"(of type {type(name)})")
        self._name = name
        self._compute_dtype, self._variable_dtype = self._parse_name(name)
        self._quantization_mode = None

    @staticmethod
    def _parse_name(name):
        if name in _MIXED:
            return _MIXED[name]
        try:
            dtype = "bfloat16" if name == "bfloat16" else np.dtype(name).name
        except TypeError:
            dtype = None
        if name in ("string", "str"):  # Keras's string inputs (lookup/text layers): NumPy object arrays
            dtype = "object"
        if dtype is None or (dtype != "bfloat16" and np.dtype(dtype).kind not in "fiubOUS"):
            raise ValueError(f"Cannot convert {name!r} to a mixed precision DTypePolicy. Valid policies include "
                             "'mixed_float16', 'mixed_bfloat16', and the name of any float dtype such as 'float32'.")
        return dtype, dtype

    @property
    def name(self) -> str:
        return self._name

    @property
    def compute_dtype(self) -> str:
        return self._compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self._variable_dtype

    @property
    def quantization_mode(self):
        return self._quantization_mode

    @property
    def is_mixed(self) -> bool:
        """Whether compute and variable dtypes differ (then a layer casts in ``__call__``)."""
        return self._compute_dtype != self._variable_dtype

    def get_config(self) -> dict:
        return {"name": self._name}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f'<DTypePolicy "{self._name}">'

    def __eq__(self, other):
        return isinstance(other, DTypePolicy) and self._name == other._name

    def __hash__(self):
        return hash(self._name)


FloatDTypePolicy = DTypePolicy
Policy = DTypePolicy  # keras.mixed_precision.Policy

_GLOBAL: list[DTypePolicy | None] = [None]


def dtype_policy() -> DTypePolicy:
    """The global policy: the one ``set_dtype_policy`` set, else ``floatx()``'s."""
    policy = _GLOBAL[0]
    return policy if policy is not None else DTypePolicy(floatx())


def set_dtype_policy(policy) -> None:
    """Set the global policy (a DTypePolicy or its name, e.g. 'mixed_float16'); layers made afterwards
    without ``dtype=`` take it."""
    if not isinstance(policy, DTypePolicy):
        if not isinstance(policy, str):
            raise ValueError(f"Invalid `policy` argument. Expected the string name of a policy (such as "
                             f"'mixed_float16') or a `DTypePolicy` instance. Received: policy={policy!r}")
        policy = DTypePolicy(policy)
    _GLOBAL[0] = policy


global_policy = dtype_policy
set_global_policy = set_dtype_policy


def serialize(policy: DTypePolicy) -> dict:
    return {"module": "keras", "class_name": "DTypePolicy", "config": policy.get_config(), "registered_name": None}


def deserialize(config) -> DTypePolicy:
    if config.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy", "Policy"):
        raise ValueError(f"not a DTypePolicy config: {config!r}")
    return DTypePolicy.from_config(config.get("config", {}))


def get(identifier) -> DTypePolicy:
    """A policy from None (the global one), a policy, its name, a config dict or a NumPy dtype."""
    if identifier is None:
        return dtype_policy()
    if isinstance(identifier, DTypePolicy):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return DTypePolicy(identifier)
    try:
        return DTypePolicy(np.dtype(identifier).name)
    except TypeError:
        raise ValueError(f"Cannot interpret `dtype` argument. Expected a string or an instance of DTypePolicy. "
                         f"Received: dtype={identifier!r}") from None
