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

from .backend import (  # noqa: F401 - keras.config's names for the backend's settings
    backend,
    epsilon,
    floatx,
    image_data_format,
    set_backend,
    set_epsilon,
    set_floatx,
    set_image_data_format,
)
from .dtype_policies import dtype_policy, set_dtype_policy  # noqa: F401 - keras.config's names

__all__ = ["kernels", "op_kernels", "allow_tf32", "deterministic", "autotune", "check_finite", "VALID_KERNELS",
           "KERNEL_OPS",
           # keras.config's names
           "backend", "set_backend", "floatx", "set_floatx", "epsilon", "set_epsilon", "image_data_format",
           "set_image_data_format", "enable_unsafe_deserialization", "enable_interactive_logging",
           "disable_interactive_logging", "is_interactive_logging_enabled", "enable_traceback_filtering",
           "disable_traceback_filtering", "is_traceback_filtering_enabled", "enable_flash_attention",
           "disable_flash_attention", "is_flash_attention_enabled", "is_nnx_enabled", "max_epochs", "set_max_epochs",
           "max_steps_per_epoch", "set_max_steps_per_epoch",
           # rnn
           "flush_denormals", "set_flush_denormals", "is_flush_denormals_enabled",
           # metrics
           "dtype_policy", "set_dtype_policy"]

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
_SWITCHES = ("allow_tf32", "deterministic", "autotune", "check_finite", "flush_denormals")


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
#: flush denormal floats to zero (x86 MXCSR flush-to-zero and denormals-are-zero, as PyTorch) in the
#: threads that run gradflow's CPU kernels, while gradflow runs them: inside fit/evaluate/predict and
#: model calls (the main thread and Numba's workers, restored after) and inside the fused recurrent
#: kernels. Arithmetic on denormals runs ~100x slower; gradients through long recurrences reach them.
#: Code of yours that runs inside those calls (callbacks, custom layers) sees the flushed mode too; your
#: code outside them never does. ``GRADFLOW_FLUSH_DENORMALS=0`` at import, or False, turns it off
flush_denormals: bool = _env_switch("GRADFLOW_FLUSH_DENORMALS")


def set_flush_denormals(flag: bool) -> None:
    """Turn flushing denormals to zero inside gradflow's CPU work on (the default) or off."""
    sys.modules[__name__].flush_denormals = flag


def is_flush_denormals_enabled() -> bool:
    return bool(sys.modules[__name__].flush_denormals)



# -- keras.config's switches ----------------------------------------------------------------------
def _env_int(name: str):
    value = os.environ.get(name)
    return int(value) if value else None


_UNSAFE_DESERIALIZATION = [False]
_INTERACTIVE_LOGGING = [True]
_TRACEBACK_FILTERING = [True]
_FLASH_ATTENTION: list[bool | None] = [None]
_MAX_EPOCHS = [_env_int("KERAS_MAX_EPOCHS")]
_MAX_STEPS_PER_EPOCH = [_env_int("KERAS_MAX_STEPS_PER_EPOCH")]


def enable_unsafe_deserialization() -> None:
    """Keras's switch for loading code (lambdas) from files. gradflow never runs code read from a file,
    whatever this says: a saved Lambda names a registered function instead."""
    _UNSAFE_DESERIALIZATION[0] = True


def enable_interactive_logging() -> None:
    """Progress bars and ``summary()`` print to stdout (the default)."""
    _INTERACTIVE_LOGGING[0] = True


def disable_interactive_logging() -> None:
    """Progress output goes to the ``gradflow`` logger at INFO level instead of stdout (Keras: absl logging)."""
    _INTERACTIVE_LOGGING[0] = False


def is_interactive_logging_enabled() -> bool:
    return _INTERACTIVE_LOGGING[0]


def enable_traceback_filtering() -> None:
    """Kept for Keras scripts: gradflow shows whole tracebacks (it has no internal frames to hide)."""
    _TRACEBACK_FILTERING[0] = True


def disable_traceback_filtering() -> None:
    _TRACEBACK_FILTERING[0] = False


def is_traceback_filtering_enabled() -> bool:
    return _TRACEBACK_FILTERING[0]


def enable_flash_attention() -> None:
    """Back to the automatic choice (None), as Keras; gradflow's attention has one implementation, whose results
    are the same either way."""
    _FLASH_ATTENTION[0] = None


def disable_flash_attention() -> None:
    _FLASH_ATTENTION[0] = False


def is_flash_attention_enabled():
    """None (the default: automatic, also after enable_flash_attention) or False (disable_flash_attention)."""
    return _FLASH_ATTENTION[0]


def is_nnx_enabled() -> bool:
    """Flax NNX integration is a JAX backend feature: always False."""
    return False


def _limit(value, name: str):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{name} must be an integer >= 1 or None, got {value!r}")
    return value


def max_epochs():
    """The cap on ``epochs`` of every ``fit`` (None: none), from set_max_epochs or ``KERAS_MAX_EPOCHS``."""
    return _MAX_EPOCHS[0]


def set_max_epochs(max_epochs) -> None:
    """Cap the epochs of every ``fit`` call (for quick debugging runs); None removes the cap."""
    _MAX_EPOCHS[0] = _limit(max_epochs, "max_epochs")


def max_steps_per_epoch():
    """The cap on the steps of each epoch of fit/evaluate/predict (None: none), from set_max_steps_per_epoch
    or ``KERAS_MAX_STEPS_PER_EPOCH``."""
    return _MAX_STEPS_PER_EPOCH[0]


def set_max_steps_per_epoch(max_steps_per_epoch) -> None:
    """Cap the steps of each epoch of fit/evaluate/predict; None removes the cap."""
    _MAX_STEPS_PER_EPOCH[0] = _limit(max_steps_per_epoch, "max_steps_per_epoch")


sys.modules[__name__].__class__ = _Settings
