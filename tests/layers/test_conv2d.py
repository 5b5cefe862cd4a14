"""Conv2D against a plain NumPy convolution (forward and backward), the reference backend, gradcheck."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L


def _geometry(h, w, kh, kw, strides, padding, dilation):
    (sh, sw), (dh, dw) = strides, dilation
    if padding == "same":
        oh, ow = -(-h // sh), -(-w // sw)
        ph = max((oh - 1) * sh + dh * (kh - 1) + 1 - h, 0)
        pw = max((ow - 1) * sw + dw * (kw - 1) + 1 - w, 0)
        return oh, ow, (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2)
    return (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1, (0, 0), (0, 0)


def conv_numpy(x, k, b, strides, padding, dilation, g):
    """Keras/TF conv2d (channels-last) and its gradients, one kernel tap at a time."""
    n, h, w, c = x.shape
    kh, kw, _, f = k.shape
    (sh, sw), (dh, dw) = strides, dilation
    oh, ow, pad_h, pad_w = _geometry(h, w, kh, kw, strides, padding, dilation)
    xp = np.pad(x, ((0, 0), pad_h, pad_w, (0, 0)))
    y = np.zeros((n, oh, ow, f))
    dxp, dk = np.zeros_like(xp), np.zeros_like(k)
    for i in range(kh):
        for j in range(kw):
            rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
            cols = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
            patch = xp[:, rows, cols, :]
            y += patch @ k[i, j]
            dk[i, j] = np.einsum("nhwc,nhwf->cf", patch, g)
            dxp[:, rows, cols, :] += g @ k[i, j].T
    dx = dxp[:, pad_h[0]:pad_h[0] + h, pad_w[0]:pad_w[0] + w, :]
    return y + b, dx, dk, g.sum((0, 1, 2))


CASES = [  # x shape, filters, kernel, strides, padding, dilation
    ((1, 7, 7, 2), 3, (3, 3), (1, 1), "valid", (1, 1)),   # batch of 1
    ((2, 6, 7, 3), 2, (2, 3), (1, 2), "valid", (1, 1)),   # non-square kernel and strides
    ((2, 8, 9, 2), 3, (2, 2), (3, 3), "valid", (1, 1)),   # stride > kernel
    ((2, 8, 9, 2), 3, (2, 2), (3, 3), "same", (1, 1)),
    ((2, 5, 6, 2), 2, (4, 2), (1, 1), "same", (1, 1)),    # 'same' with even kernels
    ((2, 7, 8, 3), 4, (3, 3), (2, 2), "same", (1, 1)),    # stride 2 'same': extra pad bottom/right
    ((2, 9, 8, 2), 2, (3, 3), (1, 1), "valid", (2, 2)),   # dilation 2
    ((1, 9, 8, 2), 2, (3, 2), (1, 1), "same", (2, 2)),
    ((3, 4, 5, 3), 5, (1, 1), (1, 1), "valid", (1, 1)),   # 1x1
]


@pytest.mark.parametrize("shape,filters,kernel,strides,padding,dilation", CASES)
def test_conv2d_vs_numpy(helpers, rng, shape, filters, kernel, strides, padding, dilation):
    x = rng.standard_normal(shape)
    make = lambda: L.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,  # noqa: E731
                            bias_initializer="random_normal")
    layer, y, dx, grads = helpers.run_layer("reference", make, x)
    k, b = layer.get_weights()
    g = np.random.default_rng(9876).standard_normal(y.shape)
    y_ref, dx_ref, dk_ref, db_ref = conv_numpy(x, k, b, strides, padding, dilation, g)
    assert layer.compute_output_shape((None,) + shape[1:]) == (None,) + y_ref.shape[1:]
    np.testing.assert_allclose(y, y_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grads["kernel"], dk_ref, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(grads["bias"], db_ref, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("shape,filters,kernel,strides,padding,dilation", CASES[1:7])
def test_conv2d_numpy_backend_matches_reference(helpers, rng, shape, filters, kernel, strides, padding, dilation):
    make = lambda: L.Conv2D(filters, kernel, strides=strides, padding=padding, dilation_rate=dilation,  # noqa: E731
                            activation="tanh", bias_initializer="random_normal")
    helpers.check_parity(make, rng.standard_normal(shape))


def test_conv2d_gradcheck(helpers, rng):
    make = lambda: L.Conv2D(2, (2, 3), strides=2, padding="same", activation="tanh",  # noqa: E731
                            bias_initializer="random_normal")
    helpers.gradcheck_layer(make, rng.standard_normal((1, 4, 5, 2)))


def test_same_padding_stride2_pads_bottom_right():
    """Keras 'same' puts the odd padding cell at the bottom/right: 4x4, k3, s2 pads (0, 1)."""
    x = np.arange(16, dtype=np.float64).reshape(1, 4, 4, 1)
    with gf.use_backend("reference"):
        for tap, expected in (((0, 0), [[0, 2], [8, 10]]), ((2, 2), [[10, 0], [0, 0]])):
            layer = L.Conv2D(1, 3, strides=2, padding="same", use_bias=False)
            layer.build_from_shape((None, 4, 4, 1))
            k = np.zeros((3, 3, 1, 1))
            k[tap] = 1.0
            layer.set_weights([k])
            np.testing.assert_array_equal(layer(x).numpy()[0, :, :, 0], expected)


def test_conv2d_shapes_and_params():
    layer = L.Conv2D(8, (3, 5), strides=(2, 1), padding="same")
    assert layer.build_from_shape((None, 9, 10, 3)) == (None, 5, 10, 8)
    assert layer.kernel.shape == (3, 5, 3, 8) and layer.count_params() == 3 * 5 * 3 * 8 + 8
    assert L.Conv2D(4, 3).compute_output_shape((None, None, 7, 2)) == (None, None, 5, 4)
    assert L.Conv2D(4, 3, data_format="channels_first").compute_output_shape((None, 2, 7, 6)) == (None, 4, 5, 4)
    assert L.Conv2D(1, 3, dilation_rate=2).compute_output_shape((None, 9, 9, 1)) == (None, 5, 5, 1)


def test_conv2d_channels_first_matches_channels_last(rng):
    x = rng.standard_normal((2, 6, 5, 3))
    with gf.use_backend("reference"):
        last = L.Conv2D(4, (3, 2), strides=(2, 1), padding="same", bias_initializer="random_normal")
        y_last = last(x).numpy()
        first = L.Conv2D(4, (3, 2), strides=(2, 1), padding="same", data_format="channels_first")
        first.build_from_shape((None, 3, 6, 5))
        first.set_weights(last.get_weights())
        y_first = first(np.transpose(x, (0, 3, 1, 2))).numpy()
    np.testing.assert_allclose(np.transpose(y_first, (0, 2, 3, 1)), y_last, rtol=1e-12)


def test_conv2d_activation_fusion_api(rng):
    layer = L.Conv2D(3, 2, activation="sigmoid")
    x = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    assert layer.activation_name == "sigmoid"
    np.testing.assert_allclose(layer(x).numpy(), gf.sigmoid(layer.call_pre_activation(x)).numpy(), rtol=1e-6)


def _fused_vs_separate(kernels, x, params, fused_fn, separate_fn):
    """Forward output and gradients (input, then each of ``params``) of ``fused_fn(xt)`` and of
    ``separate_fn(xt)`` under GRADFLOW kernels ``kernels``; the loss weights every output differently."""
    old = gf.config.kernels
    gf.config.kernels = kernels
    try:
        results = []
        for fn in (fused_fn, separate_fn):
            xt = gf.Tensor(x, requires_grad=True)
            y = fn(xt)
            (y * gf.Tensor(np.linspace(-1, 1, y.size, dtype=np.float32).reshape(y.shape))).sum().backward()
            results.append([y.numpy(), xt.grad.numpy()] + [p.grad.numpy() for p in params])
            for p in params:
                p.grad = None
    finally:
        gf.config.kernels = old
    return results


@pytest.mark.parametrize("kernels", ["numba", "numpy", "reference"])
def test_conv2d_fused_relu_matches_separate_relu(rng, kernels):
    """Conv2D(activation='relu') runs ReLU in the conv epilogue; forward and every gradient equal
    relu(call_pre_activation(x)) computed as two ops."""
    x = rng.standard_normal((3, 9, 8, 4)).astype(np.float32)
    layer = L.Conv2D(32, 3, padding="same", activation="relu", bias_initializer="random_normal")
    layer.build_from_shape((None, 9, 8, 4))
    results = _fused_vs_separate(kernels, x, [layer.kernel, layer.bias], layer,
                                 lambda xt: gf.relu(layer.call_pre_activation(xt)))
    assert (results[0][0] == 0).mean() > 0.2
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kernels", ["numba", "numpy", "reference"])
def test_conv2d_relu_max_pool_matches_the_separate_ops(rng, kernels):
    """ops.conv2d_relu_max_pool (what Sequential runs for Conv2D(relu) -> MaxPooling2D) gives the
    forward and every gradient of max_pool2d(relu(conv2d(...))), odd sizes leaving cells unpooled."""
    x = rng.standard_normal((3, 9, 8, 4)).astype(np.float32)
    w = gf.Tensor(rng.standard_normal((3, 3, 4, 16)).astype(np.float32), requires_grad=True)
    b = gf.Tensor(rng.standard_normal(16).astype(np.float32) * 0.1, requires_grad=True)
    results = _fused_vs_separate(kernels, x, [w, b],
                                 lambda xt: gf.ops.conv2d_relu_max_pool(xt, w, b, 1, "valid", 1, pool_size=2),
                                 lambda xt: gf.ops.max_pool2d(gf.relu(gf.ops.conv2d(xt, w, b, 1, "valid", 1)), 2))
    assert results[0][0].shape == (3, 3, 3, 16) and (results[0][0] == 0).mean() > 0.05
    for a, c in zip(*results):
        np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-5)
