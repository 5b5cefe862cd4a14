"""Differential cases (worktree bnconv, issue 24): the paths model M and U train on, against real Keras
(torch backend): Conv2DTranspose / Conv1DTranspose with bias and ReLU in the kernel's epilogue (strides
1 and 2, 'same'/'valid', both data formats; weights, outputs, gradients, configs through the layer
harness), and a MobileNet-like block (DepthwiseConv2D -> BatchNormalization -> ReLU() -> 1x1 Conv2D ->
BatchNormalization -> ReLU(), where batch norm and ReLU run fused) in training: outputs, the input and
weight gradients, and the moving statistics after the call.

Loaded by path by tests/keras_coverage.py (``load_cases``); tests/layers/test_bnconv_keras_cases.py runs
the same functions directly."""
import numpy as np
from keras_coverage import case, case_module

HARNESS, DIFF = case_module("_layer_harness"), case_module("_diff")

#: (layer name, init kwargs, input shape), each with bias and ReLU (the fused epilogue)
TRANSPOSE_ROWS = [
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu"},
     (2, 4, 5, 2)),
    ("Conv2DTranspose", {"filters": 4, "kernel_size": (2, 3), "strides": (2, 1), "activation": "relu",
                         "bias_initializer": "random_normal"}, (2, 3, 4, 3)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu",
                         "data_format": "channels_first", "bias_initializer": "random_normal"}, (2, 3, 4, 5)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "activation": "relu",
                         "bias_initializer": "random_normal"}, (2, 5, 2)),
]


@case("layers", "Conv2DTranspose", "Conv1DTranspose")
def transpose_relu_layers(k, gf, name):
    for row_name, kwargs, shape in TRANSPOSE_ROWS:
        if row_name == name:
            HARNESS.run_layer_case(k, gf, name, kwargs, shape)


def _block(L):
    inp = L.Input((6, 6, 3))
    x = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inp)
    x = L.ReLU()(L.BatchNormalization()(L.DepthwiseConv2D(3, padding="same", use_bias=False)(x)))
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(5, 1, use_bias=False)(x)))
    return inp, x


@case("layers", "BatchNormalization", "ReLU")
def mobilenet_block(k, gf):
    rng = np.random.default_rng(24)
    km, gm = k.Model(*_block(k.layers)), gf.Model(*_block(gf.layers))
    weights = [rng.normal(size=tuple(w.shape)).astype(np.float32) if "variance" not in w.path
               else rng.random(tuple(w.shape)).astype(np.float32) + 0.5 for w in km.weights]
    km.set_weights(weights)
    gm.set_weights(weights)
    x = rng.normal(size=(3, 6, 6, 3)).astype(np.float32)
    DIFF.outputs_and_grads(k, gf, km, gm, x, rng, training=True)
    for kv, gv in zip(km.non_trainable_weights, gm.non_trainable_weights):  # moving statistics
        np.testing.assert_allclose(gv.numpy(), k.ops.convert_to_numpy(kv), rtol=1e-5, atol=1e-6, err_msg=kv.path)
