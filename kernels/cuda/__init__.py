"""The ``cuda`` kernels: hand-written CUDA C (``*.cu`` here) compiled lazily with ``cupy.RawModule``
and launched from thin Python wrappers; ``vendor`` holds the cuBLAS/cuDNN yardsticks.

Importing this package needs neither CuPy nor a GPU; calling an op without CuPy raises a
RuntimeError that says how to install it. Every function takes and returns CuPy arrays and
follows the contracts in kernels/README.md (``out=`` included). See README.md here for the
kernel designs.
"""
from .. import _composed
from .batch_norm import batch_norm_backward, batch_norm_forward, batch_norm_inference
from .conv import conv2d_backward_filter, conv2d_backward_input, conv2d_forward
from .gemm import matmul
from .pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward

# vendor.py: bias_act_backward is a CuPy expression (memory-bound, no custom kernel needed yet),
# bn_relu_max_pool_* are composed of vendor kernels
from .vendor import bias_act_backward, bn_relu_max_pool_backward, bn_relu_max_pool_forward

__all__ = [
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward", "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul", "bias_act_backward", "bn_relu_max_pool_forward", "bn_relu_max_pool_backward", "conv2d_pool_forward",
]


def conv2d_pool_forward(x, w, b, stride, padding, dilation, pool, out=None, activation=None, scale=None):
    """Inference conv (+ bias, activation) -> max-pool (stride = pool), composed of this package's conv and pool."""
    import sys  # noqa: PLC0415

    return _composed.conv2d_pool_forward(sys.modules[__name__], x, w, b, stride, padding, dilation, pool, out,
                                         activation, scale)
