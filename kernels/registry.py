"""Registers every built-in implementation of the hot-path ops with gradflow.dispatch (lazily, by path)."""
from gradflow.config import KERNEL_OPS
from gradflow.dispatch import register

_P = "gradflow.kernels"

_OPS = KERNEL_OPS  # the ops whose implementation can be chosen (one list, in gradflow.config)

for _op in _OPS:
    register(_op, "reference", f"{_P}.reference:{_op}", device="cpu")
    register(_op, "numpy", f"{_P}.vectorized:{_op}", device="cpu")
    register(_op, "numba", f"{_P}.cpu:{_op}", device="cpu")
    register(_op, "cuda", f"{_P}.cuda:{_op}", device="cuda")
    register(_op, "vendor", f"{_P}.cuda.vendor:{_op}", device="cuda")

# attn: fused attention and layer norm (CPU only; their ops run the numpy path on CuPy arrays themselves)
FUSED_OPS = ("attention_forward", "attention_backward", "layer_norm_forward", "layer_norm_backward",
             "dropout_apply")
for _op in FUSED_OPS:
    register(_op, "reference", f"{_P}.reference_fused:{_op}", device="cpu")
    register(_op, "numpy", f"{_P}.vectorized_fused:{_op}", device="cpu")
    register(_op, "numba", f"{_P}.cpu:{_op}", device="cpu")
# convk: depthwise conv2d, outside KERNEL_OPS (no CUDA kernels yet): on CuPy arrays, under either GPU name,
# the per-tap array-module code that serves 'numpy'
_DW = "gradflow.kernels.depthwise"
for _op, _part in zip(("depthwise_conv2d_forward", "depthwise_conv2d_backward_input",
                       "depthwise_conv2d_backward_filter"), ("forward", "backward_input", "backward_filter")):
    register(_op, "reference", f"{_DW}:reference_{_part}", device="cpu")
    register(_op, "numpy", f"{_DW}:numpy_{_part}", device="cpu")
    register(_op, "numba", f"{_P}.cpu.depthwise:{_op}", device="cpu")
    register(_op, "cuda", f"{_DW}:numpy_{_part}", device="cuda")
    register(_op, "vendor", f"{_DW}:numpy_{_part}", device="cuda")
# bnconv: transposed conv2d with its bias + ReLU epilogue (each implementation composes its own
# conv2d_backward_input; the numba one adds the epilogue in one in-place pass)
_CT = "gradflow.kernels.conv_transpose"
register("conv2d_transpose_forward", "reference", f"{_CT}:reference_forward", device="cpu")
register("conv2d_transpose_forward", "numpy", f"{_CT}:numpy_forward", device="cpu")
register("conv2d_transpose_forward", "numba", f"{_P}.cpu.conv_transpose:conv2d_transpose_forward", device="cpu")
register("conv2d_transpose_forward", "cuda", f"{_CT}:cuda_forward", device="cuda")
register("conv2d_transpose_forward", "vendor", f"{_CT}:vendor_forward", device="cuda")
