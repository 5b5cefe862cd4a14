"""Wraps every public op of gradflow.ops' modules with the symbolic dispatch (``_symbolic``), in
place, before ``ops/__init__`` exports the names: importing this module is the one step."""
from __future__ import annotations

from . import attention, elementwise, image, keras_names, linalg, nn, nn_table, numpy_table, recurrent, reduction, shape
from ._symbolic import export

# isort: split
# wt-ops
from . import control_flow, core_ops, fft, numpy_more, segment

__all__: list[str] = []

#: functions that take no tensors or act outside the graph (geometry helpers, in-place scatter,
#: device moves, Python-side shape and NumPy conversion)
_NOT_OPS = {"pair", "batch_norm_affine", "fold_batch_norm", "conv_padding", "pool_padding", "conv_output_size",
            "conv_transpose_output_size", "scatter_add", "to_device", "shape", "convert_to_numpy"}

for _module, _prefix in ((elementwise, ""), (reduction, ""), (shape, ""), (linalg, ""), (nn, ""),
                         (keras_names, ""), (numpy_table, ""), (nn_table, ""), (image, "image.")):
    export(vars(_module), _module.__all__, _prefix, _NOT_OPS)
export(vars(recurrent), ("lstm_sequence", "gru_sequence"))
# wt-ops
for _module in (numpy_more, control_flow, core_ops, fft, segment):
    export(vars(_module), _module.__all__, "", _NOT_OPS | set(getattr(_module, "PYTHON_SIDE", ())))
# attn
export(vars(attention), attention.__all__)
