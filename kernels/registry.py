"""Registers every built-in implementation of the hot-path ops with gradflow.dispatch (lazily, by path)."""
from gradflow.dispatch import register

_P = "gradflow.kernels"

_OPS = (
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul", "bias_act_backward", "bn_relu_max_pool_forward", "bn_relu_max_pool_backward",
    "conv2d_pool_forward",
)

for _op in _OPS:
    register(_op, "reference", f"{_P}.reference:{_op}", device="cpu")
    register(_op, "numpy", f"{_P}.vectorized:{_op}", device="cpu")
    register(_op, "numba", f"{_P}.cpu:{_op}", device="cpu")
    register(_op, "cuda", f"{_P}.cuda:{_op}", device="cuda")
    register(_op, "vendor", f"{_P}.cuda.vendor:{_op}", device="cuda")
