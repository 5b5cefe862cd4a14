"""Conv1D with strides > 1 runs as a height-1 Conv2D, so its backward-input is conv2d's strided
backward-input kernel (the numba col2im path, as Conv2D's): input, kernel and bias gradients against
the float64-checked ``reference`` kernels, with dilation, 'valid'/'same'/'causal' padding, SIMD-width
(8) and odd channel counts, both data formats."""
from __future__ import annotations

import numpy as np
import pytest

import gradflow as gf
from gradflow import config, dispatch

# (input shape, Conv1D kwargs)
ROWS = [
    ((2, 11, 8), {"filters": 5, "kernel_size": 3, "strides": 2, "padding": "same"}),
    ((1, 12, 3), {"filters": 8, "kernel_size": 4, "strides": 3, "padding": "valid"}),
    ((2, 13, 8), {"filters": 16, "kernel_size": 3, "strides": 2, "padding": "causal", "activation": "relu"}),
    ((2, 14, 8), {"filters": 4, "kernel_size": 3, "strides": 2, "dilation_rate": 2, "padding": "same"}),
    ((1, 15, 5), {"filters": 8, "kernel_size": 2, "strides": 4, "dilation_rate": 3, "padding": "valid"}),
    ((2, 8, 10), {"filters": 8, "kernel_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"}),
]


def _grads(kwargs, x, weights, g):
    layer = gf.layers.Conv1D(**kwargs, bias_initializer="random_normal")
    layer.build(x.shape)
    layer.set_weights(weights)
    tx = gf.Tensor(x, requires_grad=True)
    y = layer(tx)
    (y * gf.Tensor(g)).sum().backward()
    return [y.numpy(), tx.grad.numpy()] + [w.grad.numpy() for w in layer.trainable_weights]


@pytest.mark.parametrize("shape, kwargs", ROWS)
def test_strided_conv1d_gradients_match_reference(shape, kwargs, monkeypatch):
    rng = np.random.default_rng(len(shape) + shape[1])
    x = rng.standard_normal(shape).astype(np.float32)
    probe = gf.layers.Conv1D(**kwargs)
    out = probe.compute_output_shape(shape)
    probe.build(shape)
    weights = [rng.standard_normal(w.shape).astype(np.float32) for w in probe.get_weights()]
    g = rng.standard_normal(out).astype(np.float32)
    results = {}
    for impl in ("numba", "reference"):
        monkeypatch.setattr(config, "kernels", impl)
        dispatch.reset()
        results[impl] = _grads(kwargs, x, weights, g)
        assert dispatch.choose("conv2d_backward_input")[0] == impl
    for got, want in zip(results["numba"], results["reference"]):
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
