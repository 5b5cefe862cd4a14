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


# -- layers ------------------------------------------------------------------------------------------
# (class name, constructor kwargs, input shape)
LAYERS = [
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 2, "strides": 2, "bias_initializer": "random_normal"},
     (1, 2, 3, 2, 3)),
    ("Conv3DTranspose", {"filters": 3, "kernel_size": (3, 2, 2), "strides": (1, 2, 1), "padding": "same",
                         "activation": "relu"}, (2, 3, 2, 3, 2)),
    ("Conv3DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1,
                         "data_format": "channels_first"}, (1, 2, 2, 3, 2)),
    ("Convolution3DTranspose", {"filters": 2, "kernel_size": 2, "dilation_rate": 2}, (1, 2, 3, 3, 2)),
    ("DepthwiseConv1D", {"kernel_size": 3, "depth_multiplier": 2, "bias_initializer": "random_normal"}, (2, 7, 3)),
    ("DepthwiseConv1D", {"kernel_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"},
     (2, 3, 8)),
    ("SeparableConv1D", {"filters": 4, "kernel_size": 3, "padding": "same", "bias_initializer": "random_normal"},
     (2, 7, 3)),
    ("SeparableConvolution1D", {"filters": 2, "kernel_size": 2, "depth_multiplier": 2, "dilation_rate": 2,
                                "data_format": "channels_first", "activation": "tanh"}, (2, 3, 8)),
    ("Cropping1D", {}, (2, 6, 3)), ("Cropping1D", {"cropping": (2, 0)}, (2, 6, 3)),
    ("Cropping3D", {}, (1, 4, 5, 4, 2)),
    ("Cropping3D", {"cropping": ((0, 1), 2, (1, 0)), "data_format": "channels_first"}, (1, 2, 4, 5, 4)),
    ("ZeroPadding1D", {}, (2, 4, 3)), ("ZeroPadding1D", {"padding": (0, 2), "data_format": "channels_first"},
                                       (2, 3, 4)),
    ("ZeroPadding3D", {"padding": (1, 0, 2)}, (1, 2, 3, 2, 2)),
    ("ZeroPadding3D", {"padding": ((1, 0), (0, 2), (1, 1)), "data_format": "channels_first"}, (1, 2, 2, 3, 2)),
    ("UpSampling3D", {}, (1, 2, 3, 2, 2)),
    ("UpSampling3D", {"size": (1, 2, 3), "data_format": "channels_first"}, (1, 2, 2, 3, 2)),
    ("MaxPool3D", {"pool_size": 2, "strides": 1}, (1, 3, 4, 3, 2)),
    ("AvgPool3D", {"pool_size": (1, 2, 2), "data_format": "channels_first"}, (1, 2, 3, 4, 4)),
    ("GlobalAvgPool3D", {"keepdims": True}, (2, 3, 2, 3, 2)),
    ("GlobalMaxPool3D", {"data_format": "channels_first"}, (2, 3, 2, 3, 2)),
    ("Convolution3D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first"}, (1, 2, 3, 3, 3)),
    ("AdaptiveAveragePooling1D", {"output_size": 3}, (2, 7, 3)),
    ("AdaptiveAveragePooling2D", {"output_size": (3, 2)}, (2, 7, 5, 3)),
    ("AdaptiveAveragePooling2D", {"output_size": 4, "data_format": "channels_first"}, (2, 3, 7, 6)),
    ("AdaptiveAveragePooling3D", {"output_size": (2, 3, 2)}, (1, 5, 4, 3, 2)),
    ("AdaptiveMaxPooling1D", {"output_size": 4, "data_format": "channels_first"}, (2, 3, 7)),
    ("AdaptiveMaxPooling2D", {"output_size": (3, 2)}, (2, 7, 5, 3)),
    ("AdaptiveMaxPooling3D", {"output_size": 2}, (1, 5, 4, 3, 2)),
]


def _plain(value):
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def check_layer(k, gf, row, call_kwargs=None):
    """One row: the same outputs and gradients (input and weights) as Keras on Keras's weights, the
    same weight shapes, output shape, symbolic shape and config, and a config round trip."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    name, kwargs, shape = row
    x = RNG.normal(size=shape).astype(np.float32)
    k_layer, g_layer = getattr(k.layers, name)(**kwargs), getattr(gf.layers, name)(**kwargs)
    k_layer(x)
    g_layer(x)
    weights = [k.ops.convert_to_numpy(w) for w in k_layer.weights]
    assert [tuple(w.shape) for w in g_layer.weights] == [w.shape for w in weights], name
    g_layer.set_weights(weights)
    xt, gx = torch.tensor(x, requires_grad=True), gf.Tensor(x, requires_grad=True)
    want, got = k_layer(xt, **(call_kwargs or {})), g_layer(gx, **(call_kwargs or {}))
    want, got = (list(want), list(got)) if isinstance(want, (list, tuple)) else ([want], [got])
    rs = []
    for g, w in zip(got, want):
        w_np = w.detach().numpy()
        assert g.shape == w_np.shape and g.dtype == w_np.dtype, (name, g.shape, w_np.shape, g.dtype)
        np.testing.assert_allclose(g.numpy(), w_np, rtol=1e-4, atol=1e-5, err_msg=f"{name} {kwargs}")
        rs.append(RNG.normal(size=w_np.shape).astype(np.float32))
    sum((g * gf.Tensor(r)).sum() for g, r in zip(got, rs)).backward()
    torch.stack([(w * torch.tensor(r)).sum() for w, r in zip(want, rs)]).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=f"d{name}/dx")
    for gw, kw in zip(g_layer.trainable_weights, k_layer.trainable_weights):
        np.testing.assert_allclose(gw.grad.numpy(), kw.value.grad.numpy(), rtol=1e-4, atol=1e-4,
                                   err_msg=f"d{name}/d{kw.path}")
    batchless = (None, *shape[1:])
    k_shape = k_layer.compute_output_shape(batchless)
    assert _plain(g_layer.compute_output_shape(batchless)) == _plain(k_shape), name
    sym = g_layer(gf.Input(shape=shape[1:]))
    sym = sym if isinstance(sym, (list, tuple)) else [sym]
    k_shapes = list(k_shape) if isinstance(k_shape[0], (tuple, list)) else [k_shape]
    assert [tuple(s.shape) for s in sym] == [tuple(w) for w in k_shapes], name
    k_cfg, g_cfg = k_layer.get_config(), g_layer.get_config()
    for key, value in k_cfg.items():
        if key == "activity_regularizer" and value is None:
            continue  # gradflow's Layer.get_config lists it only when set
        assert key in g_cfg, f"{name}.get_config() lacks {key!r}"
        if key not in ("name", "dtype") and not isinstance(value, dict):
            assert _plain(g_cfg[key]) == _plain(value), (name, key, g_cfg[key], value)
    clone = type(g_layer).from_config(g_cfg)
    clone(x)
    clone.set_weights(g_layer.get_weights())
    out = clone(x, **(call_kwargs or {}))
    np.testing.assert_allclose((out[0] if isinstance(out, (list, tuple)) else out).numpy(), got[0].numpy(),
                               rtol=1e-6, atol=1e-6)


def _layer_case(k, gf, name):
    for row in LAYERS:
        if row[0] == name:
            check_layer(k, gf, row)


case("layers", *sorted({row[0] for row in LAYERS}))(_layer_case)


# -- convolutional LSTMs ----------------------------------------------------------------------------
CONV_LSTM = [
    ("ConvLSTM1D", {"filters": 3, "kernel_size": 3, "bias_initializer": "random_normal"}, (2, 3, 7, 2)),
    ("ConvLSTM1D", {"filters": 2, "kernel_size": 2, "padding": "same", "return_sequences": True,
                    "data_format": "channels_first", "go_backwards": True}, (2, 3, 2, 6)),
    ("ConvLSTM2D", {"filters": 3, "kernel_size": 3}, (2, 3, 6, 5, 2)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": (3, 2), "padding": "same", "return_sequences": True,
                    "return_state": True, "strides": (2, 1)}, (1, 3, 5, 4, 2)),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": 2, "data_format": "channels_first", "dilation_rate": 2,
                    "activation": "relu", "recurrent_activation": "hard_sigmoid"}, (1, 2, 2, 5, 5)),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": 2, "return_state": True}, (1, 2, 3, 3, 4, 2)),
    ("ConvLSTM3D", {"filters": 2, "kernel_size": (2, 1, 2), "padding": "same", "return_sequences": True,
                    "data_format": "channels_first"}, (1, 2, 2, 3, 2, 3)),
]
LAYERS += CONV_LSTM
case("layers", *sorted({row[0] for row in CONV_LSTM}))(_layer_case)


# -- spectrograms -----------------------------------------------------------------------------------
SPECTROGRAMS = [
    ("STFTSpectrogram", {"frame_length": 16, "frame_step": 8}, (2, 64, 1)),
    ("STFTSpectrogram", {"mode": "magnitude", "frame_length": 12, "fft_length": 16, "window": "hamming",
                         "padding": "same", "expand_dims": True}, (2, 50, 2)),
    ("STFTSpectrogram", {"mode": "psd", "frame_length": 16, "scaling": "spectrum", "periodic": True,
                         "data_format": "channels_first"}, (2, 2, 48)),
    ("STFTSpectrogram", {"mode": "stft", "frame_length": 8, "frame_step": 4, "window": None}, (1, 40, 1)),
    ("STFTSpectrogram", {"mode": "angle", "frame_length": 8, "frame_step": 3}, (1, 30, 1)),
    ("STFTSpectrogram", {"mode": "real", "frame_length": 8, "data_format": "channels_first",
                         "expand_dims": True}, (1, 2, 30)),
    ("STFTSpectrogram", {"mode": "imag", "frame_length": 8, "window": "blackman"}, (1, 30, 2)),
]
LAYERS += SPECTROGRAMS
case("layers", "STFTSpectrogram")(_layer_case)

MEL = [({"fft_length": 64, "sequence_stride": 16, "num_mel_bins": 12, "sampling_rate": 8000}, (2, 400)),
       ({"fft_length": 64, "sequence_stride": 20, "sequence_length": 48, "num_mel_bins": 10, "power_to_db": False,
         "window": "hamming", "mag_exp": 1.0, "min_freq": 100.0, "max_freq": 3000}, (300,))]


@case("layers", "MelSpectrogram")
def mel_spectrogram(k, gf):
    """Values, dtype, shape, symbolic shape and config (Keras computes it outside autograd)."""
    for kwargs, shape in MEL:
        x = RNG.normal(size=shape).astype(np.float32)
        k_layer, g_layer = k.layers.MelSpectrogram(**kwargs), gf.layers.MelSpectrogram(**kwargs)
        want, got = k.ops.convert_to_numpy(k_layer(x)), g_layer(x)
        assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, want.shape)
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-3, atol=2e-3 if kwargs.get("power_to_db", True)
                                   else 1e-4)
        assert _plain(g_layer.compute_output_shape(shape)) == _plain(k_layer.compute_output_shape(shape))
        k_cfg, g_cfg = k_layer.get_config(), g_layer.get_config()
        for key, value in k_cfg.items():
            if key not in ("name", "dtype"):
                assert _plain(g_cfg[key]) == _plain(value), (key, g_cfg[key], value)
        np.testing.assert_allclose(type(g_layer).from_config(g_cfg)(x).numpy(), got.numpy())


# -- initializers.STFT ------------------------------------------------------------------------------
STFT_ROWS = [{}, {"side": "imag"}, {"window": "hamming", "periodic": True, "scaling": "spectrum"},
             {"window": None, "scaling": None}, {"window": "blackman"}, {"window": "bartlett", "side": "imag"}]


@case("initializers", "STFT", "STFTInitializer", "stft")
def stft_initializer(k, gf, name):
    for kwargs in STFT_ROWS:
        g_init, k_init = getattr(gf.initializers, name)(**kwargs), getattr(k.initializers, name)(**kwargs)
        for shape in ((16, 1, 9), (10, 1, 5)):  # Keras ignores input_channels > 1 (gradflow broadcasts)
            got, want = g_init(shape), k.ops.convert_to_numpy(k_init(shape))
            assert got.shape == want.shape and got.dtype == want.dtype
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
        assert g_init.get_config() == k_init.get_config()
        assert gf.initializers.get(gf.initializers.serialize(g_init)).get_config() == g_init.get_config()


# -- the family members gradflow had before (same harness) ------------------------------------------
EXISTING = [
    ("Conv1D", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same", "bias_initializer": "random_normal"},
     (2, 9, 2)),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2,
                "data_format": "channels_first"}, (2, 3, 8)),
    ("Conv2D", {"filters": 3, "kernel_size": (3, 2), "strides": (2, 1), "padding": "same", "activation": "relu"},
     (2, 6, 5, 2)),
    ("Conv2D", {"filters": 4, "kernel_size": 2, "groups": 2, "data_format": "channels_first"}, (1, 4, 5, 5)),
    ("Conv3D", {"filters": 2, "kernel_size": 2, "strides": (1, 2, 1), "padding": "same"}, (1, 3, 4, 3, 2)),
    ("Conv1DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "output_padding": 1}, (2, 5, 3)),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 3, "strides": 2, "padding": "same",
                         "data_format": "channels_first"}, (1, 3, 4, 5)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "data_format": "channels_first"}, (1, 2, 5, 6)),
    ("SeparableConv2D", {"filters": 3, "kernel_size": 2, "strides": 2, "data_format": "channels_first"},
     (1, 2, 6, 6)),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same", "data_format": "channels_first"},
     (2, 3, 8)),
    ("AveragePooling1D", {"pool_size": 2}, (2, 8, 3)),
    ("MaxPooling2D", {"pool_size": (2, 3), "strides": 1, "data_format": "channels_first"}, (1, 2, 5, 6)),
    ("AveragePooling2D", {"pool_size": 2, "strides": 2}, (2, 6, 5, 3)),
    ("MaxPooling3D", {"pool_size": 2, "data_format": "channels_first"}, (1, 2, 4, 4, 4)),
    ("AveragePooling3D", {"pool_size": (2, 1, 2), "strides": 1}, (1, 3, 4, 4, 2)),
    ("GlobalAveragePooling1D", {"data_format": "channels_first", "keepdims": True}, (2, 3, 5)),
    ("GlobalMaxPooling1D", {}, (2, 5, 3)),
    ("GlobalAveragePooling2D", {"keepdims": True}, (2, 4, 5, 3)),
    ("GlobalMaxPooling2D", {"data_format": "channels_first"}, (2, 3, 4, 5)),
    ("GlobalAveragePooling3D", {}, (1, 2, 3, 4, 2)),
    ("GlobalMaxPooling3D", {"keepdims": True}, (1, 2, 3, 4, 2)),
    ("Cropping2D", {"cropping": ((1, 0), (2, 1)), "data_format": "channels_first"}, (1, 2, 5, 6)),
    ("ZeroPadding2D", {"padding": (1, 2)}, (1, 3, 4, 2)),
    ("UpSampling1D", {"size": 3}, (2, 4, 3)),
    ("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, (1, 3, 4, 2)),
    ("UpSampling2D", {"data_format": "channels_first"}, (1, 2, 3, 4)),
]
_START = len(LAYERS)
LAYERS += EXISTING
case("layers", *sorted({row[0] for row in EXISTING}))(_layer_case)
