"""gradflow: a Keras-style deep-learning framework on NumPy (CPU) or CuPy (CUDA GPUs).

``GRADFLOW_BACKEND=numpy|cupy|reference|auto`` picks where arrays live; see README.md.
"""
import importlib

from . import _registry, backend, config, dispatch, ops, random
from ._version import __version__  # noqa: F401 - gradflow.__version__
from .autograd import GradcheckError, Parameter, Tensor, enable_grad, gradcheck, no_grad, tensor
from .backend import free_memory, get_backend, memory_stats, set_backend, use_backend
from .creation import arange, eye, from_dlpack, full, ones, ones_like, rand, randn, zeros, zeros_like
from .ops import (  # noqa: F401  - the common ops at top level, like numpy/torch
    abs,
    clip,
    concatenate,
    exp,
    expand_dims,
    flatten,
    log,
    log_softmax,
    matmul,
    maximum,
    mean,
    minimum,
    pad,
    relu,
    reshape,
    sigmoid,
    softmax,
    sqrt,
    squeeze,
    stack,
    sum,
    tanh,
    transpose,
    where,
)

ops.install_tensor_methods()

_LAZY = {"layers", "models", "losses", "metrics", "optimizers", "callbacks", "schedules", "activations",
         "initializers", "regularizers", "datasets", "utils", "saving", "kernels", "applications", "trainers",
         "preprocessing", "distribution", "variables", "constraints", "tree",
         # metrics
         "mixed_precision", "dtype_policies"}
#: Keras 3's top-level names (``import gradflow as keras; keras.Sequential(...)``), imported on first use
_KERAS_NAMES = {"Sequential": "models", "Model": "models", "Functional": "models", "Input": "layers",
                "InputLayer": "layers", "Layer": "layers", "KerasTensor": "layers",
                "Loss": "losses", "Metric": "metrics", "Optimizer": "optimizers", "Initializer": "initializers",
                "Regularizer": "regularizers", "Variable": "variables"}


#: the submodules that register built-ins in the one registry (gradflow._registry)
_REGISTERING = ("layers", "models", "losses", "metrics", "optimizers", "schedules", "initializers", "regularizers",
                "activations", "constraints")


def __getattr__(name):
    """Import the Keras-style submodules on first use (``gradflow.layers.Dense``) to keep import fast."""
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _KERAS_NAMES:
        return getattr(importlib.import_module(f"{__name__}.{_KERAS_NAMES[name]}"), name)
    raise AttributeError(f"module 'gradflow' has no attribute {name!r}")


def _import_registering() -> None:
    """Import every submodule that registers built-ins, so a registry lookup sees them all."""
    for module in _REGISTERING:
        importlib.import_module(f"{__name__}.{module}")


_registry.set_loader(_import_registering)

__all__ = [
    "Tensor", "Parameter", "tensor", "zeros", "ones", "full", "arange", "randn", "rand", "eye",
    "zeros_like", "ones_like", "from_dlpack", "no_grad", "enable_grad", "gradcheck", "GradcheckError",
    "get_backend", "set_backend", "use_backend", "memory_stats", "free_memory", "backend", "config",
    "dispatch", "random", "ops", "Sequential", "Model", "Input", "Layer", "Variable",
]
