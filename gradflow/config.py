"""Global settings: which kernel implementations to use, TF32, determinism, finiteness checks.

``GRADFLOW_KERNELS`` (auto|numpy|numba|cuda|vendor|reference) sets the default at import;
``gradflow.config.kernels`` changes it at run time and ``gradflow.config.op_kernels`` pins
one op (``config.op_kernels["conv2d_forward"] = "numpy"``). Every setting is checked when it is
set: a kernel name that does not exist, an op that has no kernels or a non-boolean switch is a
``ValueError`` naming the valid choices, not a failure at the first op.
"""
from __future__ import annotations

import difflib
import os
import sys
import types
from collections.abc import Mapping

__all__ = ["kernels", "op_kernels", "allow_tf32", "deterministic", "autotune", "check_finite", "VALID_KERNELS",
           "KERNEL_OPS"]

VALID_KERNELS = ("auto", "numpy", "numba", "cuda", "vendor", "reference")
#: the hot-path ops whose implementation can be chosen (gradflow.dispatch.HOT_OPS)
KERNEL_OPS = (
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul", "bias_act_backward", "bn_relu_max_pool_forward", "bn_relu_max_pool_backward",
    "conv2d_pool_forward",
)
_SWITCHES = ("allow_tf32", "deterministic", "autotune", "check_finite")


def _kernel_name(value, where: str) -> str:
    name = value.strip().lower() if isinstance(value, str) else value
    if name not in VALID_KERNELS:
        raise ValueError(f"{where}={value!r} is not a kernel choice; use one of {', '.join(VALID_KERNELS)}")
    return name


def _op_name(op) -> str:
    if op not in KERNEL_OPS:
        close = difflib.get_close_matches(str(op), KERNEL_OPS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"config.op_kernels: {op!r} is not an op with selectable kernels{hint}; the ops are "
                         f"{', '.join(KERNEL_OPS)}")
    return op


class OpKernels(dict):
    """``{op: kernel name}`` overrides, each key and value checked as it is set."""

    def __init__(self, *args, **kwargs):
        super().__init__()
        self.update(*args, **kwargs)

    def __setitem__(self, op, name) -> None:
        super().__setitem__(_op_name(op), _kernel_name(name, f"config.op_kernels[{op!r}]"))

    def update(self, *args, **kwargs) -> None:  # type: ignore[override]
        for op, name in dict(*args, **kwargs).items():
            self[op] = name

    def setdefault(self, op, name=None):  # type: ignore[override]
        if op not in self:
            self[op] = name
        return self[op]


class _Settings(types.ModuleType):
    """This module's type: assignments to its settings are checked."""

    def __setattr__(self, name: str, value) -> None:
        if name == "kernels":
            value = _kernel_name(value, "config.kernels")
        elif name == "op_kernels":
            if not isinstance(value, Mapping):
                raise ValueError(f"config.op_kernels must be a dict {{op: kernel name}}, got {value!r}")
            value = OpKernels(value)
        elif name in _SWITCHES and not isinstance(value, bool):
            raise ValueError(f"config.{name} must be True or False, got {value!r}")
        super().__setattr__(name, value)


def _env_switch(name: str, default: str = "1") -> bool:
    return os.environ.get(name, default).strip().lower() not in ("0", "false", "no", "off")


#: default implementation name for every hot-path op ("auto" picks per device and shape)
kernels: str = _kernel_name(os.environ.get("GRADFLOW_KERNELS", "auto").strip().lower() or "auto", "GRADFLOW_KERNELS")
#: per-op overrides, e.g. {"matmul": "numpy"}
op_kernels: dict[str, str] = OpKernels()
#: allow TF32 tensor-core math in the CUDA matmul/conv paths (off by default: float32 results)
allow_tf32: bool = False
#: bit-identical results for the same seed and inputs in every process, whatever the machine's load:
#: ``auto`` takes the preferred implementation instead of timing candidates, and the CUDA vendor
#: paths use deterministic algorithms (``GRADFLOW_DETERMINISTIC=0`` at import, or False, to trade
#: that for autotuning)
deterministic: bool = _env_switch("GRADFLOW_DETERMINISTIC")
#: when not ``deterministic``: let ``auto`` time the candidates once per shape and remember (and
#: persist) the winner
autotune: bool = _env_switch("GRADFLOW_AUTOTUNE")
#: ``fit``/``evaluate`` refuse data holding NaN or Inf (x, y, sample_weight, validation data) before
#: the first step, and ``fit`` stops at a batch whose loss is not finite without applying its update.
#: ``False`` trains on regardless, as Keras does (``GRADFLOW_CHECK_FINITE=0`` at import)
check_finite: bool = _env_switch("GRADFLOW_CHECK_FINITE")

sys.modules[__name__].__class__ = _Settings
