"""Differential cases (worktree convt, issue 24): the stride-phase transposed-conv kernel (filters a
multiple of 8, strides 2 and 3, 'same'/'valid', dilation, output_padding, both data formats) through
Conv2DTranspose / Conv1DTranspose and ``ops.conv_transpose`` (1-D and 2-D), against real Keras (torch
backend): values, dtypes, shapes, input and kernel gradients, and the layers' configs (layer harness).

Loaded by path by tests/keras_coverage.py (which also runs the other modules' cases for these names);
tests/layers/test_convt_keras_cases.py runs the same functions directly."""
import numpy as np
from keras_coverage import case, case_module

HARNESS, DIFF = case_module("_layer_harness"), case_module("_diff")

RNG = np.random.default_rng(2424)

#: (layer name, init kwargs, input shape): filters 8/16 take the stride-phase gather kernel
LAYER_ROWS = [
    ("Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu",
                         "bias_initializer": "random_normal"}, (2, 5, 4, 3)),
    ("Conv2DTranspose", {"filters": 16, "kernel_size": (3, 2), "strides": (3, 2), "padding": "valid"}, (1, 3, 5, 2)),
    ("Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "output_padding": 1,
                         "bias_initializer": "random_normal"}, (2, 3, 3, 4)),
    ("Conv2DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same",
                         "data_format": "channels_first", "activation": "relu"}, (1, 3, 4, 5)),
    ("Conv1DTranspose", {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu",
                         "bias_initializer": "random_normal"}, (2, 7, 3)),
    ("Conv1DTranspose", {"filters": 16, "kernel_size": 4, "strides": 3}, (1, 5, 2)),
]

#: (input shape, kernel shape (*k, out, in), kwargs of ops.conv_transpose)
OP_ROWS = [
    ((2, 5, 4, 3), (3, 3, 8, 3), {"strides": 2, "padding": "same"}),
    ((1, 4, 5, 2), (3, 2, 16, 2), {"strides": (3, 2)}),
    ((1, 4, 4, 2), (3, 3, 8, 2), {"strides": 2, "dilation_rate": 1, "output_padding": 1, "padding": "same"}),
    ((1, 4, 4, 2), (2, 3, 8, 2), {"dilation_rate": 2}),
    ((2, 6, 3), (3, 8, 3), {"strides": 2, "padding": "same"}),
    ((1, 3, 5), (3, 8, 3), {"strides": 3, "data_format": "channels_first"}),
]


@case("layers", "Conv2DTranspose", "Conv1DTranspose")
def transpose_layers(k, gf, name):
    for row_name, kwargs, shape in LAYER_ROWS:
        if row_name == name:
            HARNESS.run_layer_case(k, gf, name, kwargs, shape, rtol=1e-4, atol=1e-4)


@case("ops", "conv_transpose")
def ops_conv_transpose(k, gf):
    DIFF.kernel_op_rows(k, k.ops.conv_transpose, gf.ops.conv_transpose, OP_ROWS, RNG, gf)


@case("ops.nn", "conv_transpose")
def ops_nn_conv_transpose(k, gf):
    DIFF.kernel_op_rows(k, k.ops.nn.conv_transpose, gf.ops.nn.conv_transpose, OP_ROWS, RNG, gf)
