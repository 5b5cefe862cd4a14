"""Reverse-mode automatic differentiation: Tensor, Function, the backward engine, no_grad, gradcheck."""
from .function import Context, DeviceMismatchError, Function
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .gradcheck import GradcheckError, gradcheck
from .tensor import Parameter, Tensor, tensor, unbroadcast

__all__ = [
    "Tensor", "Parameter", "tensor", "Function", "Context", "DeviceMismatchError", "no_grad",
    "enable_grad", "is_grad_enabled", "set_grad_enabled", "gradcheck", "GradcheckError", "unbroadcast",
]
