"""Differential cases (worktree convt, issue 24): the stride-phase transposed-conv kernel (filters a
multiple of 8, strides 2 and 3, 'same'/'valid', dilation, output_padding, both data formats) through
Conv2DTranspose / Conv1DTranspose and ``ops.conv_transpose`` (1-D and 2-D), against real Keras (torch
backend): values, dtypes, shapes, input and kernel gradients, and the layers' configs (layer harness).

The layer cases also run tests/keras_cases/bnconv.py's rows for the same names, so whichever module
registers last, both sets run. Loaded by path by tests/keras_coverage.py; tests/layers/
test_convt_keras_cases.py runs the same functions directly."""
import importlib.util
import sys

import numpy as np
from keras_coverage import CASES_DIR, case, case_module

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


def _harness():
    module = sys.modules.get("_layer_harness")
    if module is None:
        spec = importlib.util.spec_from_file_location("_layer_harness", CASES_DIR / "_layer_harness.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["_layer_harness"] = module
        spec.loader.exec_module(module)
    return module


@case("layers", "Conv2DTranspose", "Conv1DTranspose")
def transpose_layers(k, gf, name):
    for row_name, kwargs, shape in LAYER_ROWS:
        if row_name == name:
            _harness().run_layer_case(k, gf, name, kwargs, shape, rtol=1e-4, atol=1e-4)
    case_module("bnconv").transpose_relu_layers(k, gf, name)


def _ops_conv_transpose(k, gf, keras_fn, gf_fn):
    import torch  # noqa: PLC0415 - Keras's gradient (torch backend), only when a case runs

    for xs, ws, kw in OP_ROWS:
        x, w = RNG.normal(size=xs).astype(np.float32), RNG.normal(size=ws).astype(np.float32)
        gx, gw = gf.Tensor(x, requires_grad=True), gf.Tensor(w, requires_grad=True)
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        got, want = gf_fn(gx, gw, **kw), keras_fn(tx, tw, **kw)
        want_np = k.ops.convert_to_numpy(want)
        assert got.shape == want_np.shape and got.dtype == want_np.dtype, (got.shape, want_np.shape, kw)
        np.testing.assert_allclose(got.numpy(), want_np, rtol=1e-4, atol=1e-4)
        g = RNG.normal(size=want_np.shape).astype(np.float32)
        (got * gf.Tensor(g)).sum().backward()
        (want * torch.tensor(g)).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(gw.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)


@case("ops", "conv_transpose")
def ops_conv_transpose(k, gf):
    _ops_conv_transpose(k, gf, k.ops.conv_transpose, gf.ops.conv_transpose)


@case("ops.nn", "conv_transpose")
def ops_nn_conv_transpose(k, gf):
    _ops_conv_transpose(k, gf, k.ops.nn.conv_transpose, gf.ops.nn.conv_transpose)
