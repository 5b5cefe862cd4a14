"""Differential cases (worktree convk): depthwise convolution, now on the dispatched depthwise kernels,
against real Keras (torch backend): values, dtypes, shapes and gradients of input and kernel, for
strides 1/2, 'same'/'valid', dilation, multiplier 1/2, both data formats; the layers' outputs, weight
gradients and get_config/from_config round-trip.

Loaded by path by tests/keras_coverage.py (``load_cases``)."""
import numpy as np
from keras_coverage import case, case_module

DIFF = case_module("_diff")
RNG = np.random.default_rng(24)
# (input shape, kernel shape, kwargs of ops.depthwise_conv)
OP_ROWS = [
    ((2, 7, 9, 3), (3, 3, 3, 1), {"strides": 1, "padding": "same"}),
    ((1, 8, 7, 2), (3, 2, 2, 2), {"strides": 2, "padding": "same"}),
    ((2, 9, 8, 3), (3, 3, 3, 2), {"strides": 1, "padding": "valid", "dilation_rate": 2}),
    ((2, 3, 9, 8), (3, 3, 3, 1), {"strides": (2, 1), "padding": "valid", "data_format": "channels_first"}),
]
TOLERANCES = {"rtol": 1e-5, "atol": 1e-5, "grad_atol": 1e-5}


@case("ops", "depthwise_conv")
def ops_depthwise_conv(k, gf):
    DIFF.kernel_op_rows(k, k.ops.depthwise_conv, gf.ops.depthwise_conv, OP_ROWS, RNG, gf, **TOLERANCES)


@case("ops.nn", "depthwise_conv")
def ops_nn_depthwise_conv(k, gf):
    DIFF.kernel_op_rows(k, k.ops.nn.depthwise_conv, gf.ops.nn.depthwise_conv, OP_ROWS, RNG, gf, **TOLERANCES)


# (layer, constructor kwargs, input shape)
LAYER_ROWS = {
    "DepthwiseConv2D": [({"kernel_size": 3, "padding": "same", "depth_multiplier": 2}, (2, 7, 6, 3)),
                        ({"kernel_size": (3, 2), "strides": 2, "activation": "relu"}, (1, 9, 8, 2)),
                        ({"kernel_size": 3, "dilation_rate": 2, "data_format": "channels_first"}, (2, 2, 9, 9))],
    "SeparableConv2D": [({"filters": 4, "kernel_size": 3, "padding": "same", "depth_multiplier": 2}, (2, 7, 6, 3)),
                        ({"filters": 3, "kernel_size": 3, "strides": 2, "use_bias": False}, (1, 9, 8, 2))],
}
CONFIG_KEYS = ("kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate", "data_format", "use_bias",
               "filters")


@case("layers", "DepthwiseConv2D", "SeparableConv2D")
def depthwise_layers(k, gf, name):
    for kwargs, xs in LAYER_ROWS[name]:
        x = RNG.normal(size=xs).astype(np.float32)
        kl, gl = getattr(k.layers, name)(**kwargs), getattr(gf.layers, name)(**kwargs)
        kl.build(xs)
        gl.build(xs)
        for kv in kl.weights:  # random bias too, so that the bias path is compared
            kv.assign(RNG.normal(size=tuple(kv.shape)).astype(np.float32))
        gl.set_weights([k.ops.convert_to_numpy(v) for v in kl.weights])
        DIFF.outputs_and_grads(k, gf, kl, gl, x, RNG, tol=(1e-4, 1e-4), grad_tol=(1e-4, 1e-4), weight_tol=(1e-4, 1e-3))
        cfg = gl.get_config()
        kcfg = kl.get_config()
        for key in CONFIG_KEYS:
            assert (key in cfg) == (key in kcfg), (name, key)
            if key in cfg:
                assert tuple(np.ravel(cfg[key])) == tuple(np.ravel(kcfg[key])), (name, key, cfg[key], kcfg[key])
        assert type(gl).from_config(cfg).get_config() == cfg
