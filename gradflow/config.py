"""Global settings: which kernel implementations to use, TF32, determinism, finiteness checks.

``GRADFLOW_KERNELS`` (auto|numpy|numba|cuda|vendor|reference) sets the default at import;
``gradflow.config.kernels`` changes it at run time and ``gradflow.config.op_kernels`` pins
one op (``config.op_kernels["conv2d_forward"] = "numpy"``).
"""
from __future__ import annotations

import os

__all__ = ["kernels", "op_kernels", "allow_tf32", "deterministic", "autotune", "check_finite", "VALID_KERNELS"]

VALID_KERNELS = ("auto", "numpy", "numba", "cuda", "vendor", "reference")


def _env_kernels() -> str:
    name = os.environ.get("GRADFLOW_KERNELS", "auto").strip().lower() or "auto"
    if name not in VALID_KERNELS:
        raise ValueError(
            f"GRADFLOW_KERNELS={name!r} is not a valid kernel choice; use one of {', '.join(VALID_KERNELS)}"
        )
    return name


#: default implementation name for every hot-path op ("auto" picks per device and shape)
kernels: str = _env_kernels()
#: per-op overrides, e.g. {"matmul": "numpy"}
op_kernels: dict[str, str] = {}
#: allow TF32 tensor-core math in the CUDA matmul/conv paths (off by default: float32 results)
allow_tf32: bool = False
#: prefer deterministic kernels (no atomics in reductions) where a choice exists
deterministic: bool = False
#: let ``auto`` time the candidates once per shape and remember the winner
autotune: bool = os.environ.get("GRADFLOW_AUTOTUNE", "1") not in ("0", "false", "no")
#: ``fit``/``evaluate`` refuse data holding NaN or Inf (x, y, sample_weight, validation data) before
#: the first step, and ``fit`` stops at a batch whose loss is not finite without applying its update.
#: ``False`` trains on regardless, as Keras does (``GRADFLOW_CHECK_FINITE=0`` at import)
check_finite: bool = os.environ.get("GRADFLOW_CHECK_FINITE", "1") not in ("0", "false", "no")
