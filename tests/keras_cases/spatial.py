"""Differential cases of the spatial families (gradflow/ops/spatial.py, layers/spatial1d3d.py,
layers/conv_lstm.py, layers/spectrogram.py): ops and layers against real Keras (torch backend) on the
same inputs and weights: values, dtypes, shapes, input and weight gradients (Keras through torch
autograd), symbolic output shapes and get_config/from_config round trips.

Loaded by path by tests/keras_coverage.py; tests/layers/test_spatial_layers.py runs every row too."""
import numpy as np
from keras_coverage import case

RNG = np.random.default_rng(23)


def _x(*shape):
    return RNG.normal(size=shape).astype(np.float32)


# -- ops ---------------------------------------------------------------------------------------------
# (name, args, kwargs, indices of the differentiated array arguments)
OPS = [
    ("conv_transpose", (_x(2, 5, 3), _x(3, 4, 3)), {"strides": 2}, (0, 1)),
    ("conv_transpose", (_x(2, 5, 3), _x(3, 4, 3)), {"strides": 2, "padding": "same"}, (0, 1)),
    ("conv_transpose", (_x(1, 4, 5, 2), _x(3, 2, 3, 2)), {"strides": (2, 1), "padding": "same"}, (0, 1)),
    ("conv_transpose", (_x(1, 4, 5, 2), _x(3, 3, 3, 2)), {"strides": 2, "output_padding": 1}, (0, 1)),
    ("conv_transpose", (_x(1, 4, 5, 2), _x(3, 3, 3, 2)), {"strides": 3, "padding": "same", "output_padding": 2},
     (0, 1)),
    ("conv_transpose", (_x(1, 4, 4, 2), _x(2, 3, 3, 2)), {"dilation_rate": 2}, (0, 1)),
    ("conv_transpose", (_x(1, 2, 5, 4), _x(3, 3, 3, 2)), {"strides": 2, "data_format": "channels_first"}, (0, 1)),
    ("conv_transpose", (_x(1, 3, 4, 3, 2), _x(2, 3, 2, 3, 2)), {"strides": (1, 2, 2), "padding": "same"}, (0, 1)),
    ("conv_transpose", (_x(1, 2, 3, 3, 2), _x(2, 2, 2, 2, 2)), {"strides": 2, "data_format": "channels_first"},
     (0, 1)),
    ("depthwise_conv", (_x(2, 7, 3), _x(3, 3, 2)), {"strides": 2, "padding": "same"}, (0, 1)),
    ("depthwise_conv", (_x(2, 3, 7), _x(3, 3, 1)), {"data_format": "channels_first", "dilation_rate": 2}, (0, 1)),
    ("depthwise_conv", (_x(1, 5, 6, 2), _x(3, 3, 2, 2)), {"padding": "same"}, (0, 1)),
    ("separable_conv", (_x(2, 7, 3), _x(3, 3, 2), _x(1, 6, 4)), {"padding": "same"}, (0, 1, 2)),
    ("separable_conv", (_x(1, 6, 5, 2), _x(3, 3, 2, 1), _x(1, 1, 2, 3)), {"strides": 2}, (0, 1, 2)),
    ("separable_conv", (_x(1, 2, 6, 5), _x(3, 2, 2, 2), _x(1, 1, 4, 3)), {"data_format": "channels_first"},
     (0, 1, 2)),
    ("adaptive_average_pool", (_x(2, 7, 3), 3), {}, (0,)),
    ("adaptive_average_pool", (_x(2, 7, 5, 3), (3, 2)), {}, (0,)),
    ("adaptive_average_pool", (_x(2, 3, 7, 5), 4), {"data_format": "channels_first"}, (0,)),
    ("adaptive_average_pool", (_x(1, 5, 4, 6, 2), (2, 3, 4)), {}, (0,)),
    ("adaptive_max_pool", (_x(2, 7, 3), 3), {}, (0,)),
    ("adaptive_max_pool", (_x(2, 7, 5, 3), (3, 2)), {}, (0,)),
    ("adaptive_max_pool", (_x(2, 3, 7, 5), (5, 3)), {"data_format": "channels_first"}, (0,)),
    ("adaptive_max_pool", (_x(1, 2, 5, 4, 6), 3), {"data_format": "channels_first"}, (0,)),
    ("depth_to_space", (_x(2, 3, 4, 8), 2), {}, (0,)),
    ("depth_to_space", (_x(2, 18, 2, 3), 3), {"data_format": "channels_first"}, (0,)),
    ("space_to_depth", (_x(2, 4, 6, 3), 2), {}, (0,)),
    ("space_to_depth", (_x(2, 3, 6, 3), 3), {"data_format": "channels_first"}, (0,)),
    ("unfold", (_x(2, 3, 5, 6), 2), {}, (0,)),
    ("unfold", (_x(1, 2, 7, 6), (3, 2)), {"dilation": (2, 1), "padding": 1, "stride": (2, 3)}, (0,)),
    ("fold", (_x(2, 12, 20), (5, 6), 2), {}, (0,)),
    ("fold", (_x(1, 12, 12), (7, 6)), {"kernel_size": (3, 2), "dilation": (2, 1), "padding": 1, "stride": (2, 2)},
     (0,)),
    ("max_pool", (_x(2, 7, 3), 2), {"strides": 1, "padding": "same"}, (0,)),
    ("max_pool", (_x(1, 2, 5, 4, 6), (2, 2, 3)), {"data_format": "channels_first"}, (0,)),
    ("average_pool", (_x(2, 3, 8), 3), {"strides": 2, "data_format": "channels_first"}, (0,)),
    ("average_pool", (_x(1, 4, 5, 6, 2), 2), {"strides": (1, 2, 2)}, (0,)),
    ("conv", (_x(1, 5, 4, 6, 2), _x(2, 3, 2, 2, 3)), {"strides": (1, 2, 1), "padding": "same"}, (0, 1)),
    ("conv", (_x(1, 2, 5, 4, 6), _x(2, 2, 2, 2, 3)), {"data_format": "channels_first", "dilation_rate": (1, 1, 2)},
     (0, 1)),
    ("conv", (_x(2, 3, 9), _x(3, 3, 4)), {"data_format": "channels_first", "strides": 2}, (0, 1)),
]
OP_NAMES = sorted({row[0] for row in OPS})


def check_op(k, gf, row, keras_ns=None):
    """One row: the op's value, dtype and gradients equal Keras's, and its symbolic output spec."""
    import torch  # noqa: PLC0415 - the gradient of Keras's op (torch backend)

    name, args, kwargs, wrt = row
    g_in = [gf.Tensor(a, requires_grad=i in wrt) if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    k_in = [torch.tensor(a, requires_grad=i in wrt) if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    got = getattr(gf.ops, name)(*g_in, **kwargs)
    want = getattr(keras_ns or k.ops, name)(*k_in, **kwargs)
    w_np = want.detach().numpy()
    assert isinstance(got, gf.Tensor) and got.shape == w_np.shape and got.dtype == w_np.dtype, \
        (name, kwargs, got.shape, w_np.shape, got.dtype)
    np.testing.assert_allclose(got.numpy(), w_np, rtol=1e-4, atol=1e-5, err_msg=f"{name} {kwargs}")
    r = RNG.normal(size=w_np.shape).astype(np.float32)
    (got * gf.Tensor(r)).sum().backward()
    (want * torch.tensor(r)).sum().backward()
    for i in wrt:
        np.testing.assert_allclose(g_in[i].grad.numpy(), k_in[i].grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=f"d{name}/d arg {i} {kwargs}")
    sym = [gf.KerasTensor(a.shape, "float32") if isinstance(a, np.ndarray) else a for a in args]
    assert tuple(getattr(gf.ops, name)(*sym, **kwargs).shape) == w_np.shape


def _op_case(k, gf, name):
    for row in OPS:
        if row[0] == name:
            check_op(k, gf, row)


case("ops", *OP_NAMES)(_op_case)
case("ops.nn", *OP_NAMES)(_op_case)
