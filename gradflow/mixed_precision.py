"""``keras.mixed_precision``: dtype policies and dynamic loss scaling.

``set_global_policy("mixed_float16")`` makes the layers created afterwards keep float32 variables and
compute in float16; ``Model.compile`` then wraps the optimizer in a ``LossScaleOptimizer``, as Keras does.
"""
from __future__ import annotations

from .dtype_policies import DTypePolicy, Policy, dtype_policy, global_policy, set_dtype_policy, set_global_policy
from .optimizers import LossScaleOptimizer

__all__ = ["DTypePolicy", "Policy", "LossScaleOptimizer", "dtype_policy", "global_policy", "set_dtype_policy",
           "set_global_policy"]
