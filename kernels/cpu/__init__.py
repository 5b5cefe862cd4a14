"""The ``numba`` implementations of every hot-path op (contracts: kernels/README.md).

Importing this package imports Numba but compiles nothing: each kernel compiles on its first call
(``cache=True`` keeps the machine code on disk for the next process). A first run compiles as little
as it can (``_jit``): one float32 signature per kernel it uses, the serial build of a threaded kernel
until the parallel one is on disk or repaid by the work done, and no fused inference conv + pool for
a few validation batches; each choice leaves the numbers unchanged.
"""
from .attention import attention_backward, attention_forward
from .batchnorm import batch_norm_backward, batch_norm_forward, batch_norm_inference
from .bn_pool import bn_relu_max_pool_backward, bn_relu_max_pool_forward
from .conv2d import conv2d_backward_filter, conv2d_backward_input, conv2d_forward, conv2d_pool_forward
from .dropout import dropout_apply
from .epilogue import bias_act_backward
from .layernorm import layer_norm_backward, layer_norm_forward
from .matmul import matmul
from .pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward

__all__ = [
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul", "bias_act_backward", "bn_relu_max_pool_forward", "bn_relu_max_pool_backward",
    "conv2d_pool_forward",
    # attn
    "attention_forward", "attention_backward", "layer_norm_forward", "layer_norm_backward",
    # tfm
    "dropout_apply",
]
