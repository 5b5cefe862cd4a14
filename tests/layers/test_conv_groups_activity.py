"""Issue 23's layer arguments against Keras 3 on the same weights: ``groups`` on Conv1D/2D/3D,
``Conv2DTranspose(output_padding=)`` and ``activity_regularizer`` (a loss on the layer's output,
divided by the batch size, that fit and evaluate add)."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import ops as F
from gradflow.autograd.tensor import Tensor

RNG = np.random.default_rng(11)


def _same_weights(real_keras, make, x):
    """(Keras output, gradflow layer, gradflow output) for one layer made by ``make(lib)``."""
    k, g = make(real_keras), make(gf)
    want = k(x)
    g(x)
    g.set_weights(k.get_weights())
    return k, want, g, g(x)


CONV_CASES = [
    ("conv2d_same", lambda L: L.layers.Conv2D(6, 3, groups=2, padding="same"), (2, 7, 6, 4)),
    ("conv2d_depthwise_like", lambda L: L.layers.Conv2D(4, 3, groups=4, strides=2, activation="relu"), (2, 7, 6, 4)),
    ("conv2d_channels_first", lambda L: L.layers.Conv2D(6, 3, groups=2, data_format="channels_first"), (2, 4, 7, 6)),
    ("conv2d_dilated", lambda L: L.layers.Conv2D(6, 2, groups=3, dilation_rate=2, use_bias=False), (2, 7, 7, 6)),
    ("conv1d_causal", lambda L: L.layers.Conv1D(6, 3, groups=2, padding="causal"), (2, 9, 4)),
    ("conv3d", lambda L: L.layers.Conv3D(4, 2, groups=2), (2, 4, 5, 5, 4)),
]


@pytest.mark.parametrize("name,make,shape", CONV_CASES, ids=[c[0] for c in CONV_CASES])
def test_grouped_convolutions_match_keras(real_keras, name, make, shape):
    import torch

    x = RNG.normal(size=shape).astype(np.float32)
    k, want, g, got = _same_weights(real_keras, make, x)
    assert [w.shape for w in g.get_weights()] == [tuple(w.shape) for w in k.get_weights()]
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert g.get_config()["groups"] == k.get_config()["groups"]
    # the gradient of the input and of the kernel, as torch's grouped convolution
    xt = torch.tensor(x, requires_grad=True)
    (k(xt) ** 2).sum().backward()
    xg = Tensor(x, requires_grad=True)
    F.sum(g(xg) ** 2).backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    kt = k.kernel.value.grad.numpy()
    np.testing.assert_allclose(g.kernel.grad.numpy(), kt, rtol=1e-4, atol=1e-4)


def test_grouped_conv_errors_and_fit():
    with pytest.raises(ValueError, match="filters must be evenly divisible by the number of groups"):
        gf.layers.Conv2D(5, 3, groups=2)
    with pytest.raises(ValueError, match="input channels must be evenly divisible.*groups=2.*3 channels"):
        gf.layers.Conv2D(4, 3, groups=2)(np.zeros((1, 5, 5, 3), np.float32))
    model = gf.Sequential([gf.Input((6, 6, 4)), gf.layers.Conv2D(4, 3, groups=2, activation="relu"),
                           gf.layers.Flatten(), gf.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = RNG.normal(size=(8, 6, 6, 4)).astype(np.float32)
    model.fit(x, np.zeros((8, 1), np.float32), verbose=0)
    np.testing.assert_allclose(model.predict(x, verbose=0), model(x).numpy(), rtol=1e-5, atol=1e-6)


TRANSPOSE_CASES = [(3, 2, "same", 1), (3, 2, "valid", 1), (4, 2, "same", 1), (3, 3, "same", 2), (5, 2, "same", 0),
                   (1, 2, "same", 1), (2, 3, "valid", 2), ((3, 2), (2, 3), "same", (1, 2))]


@pytest.mark.parametrize("kernel,strides,padding,output_padding", TRANSPOSE_CASES)
def test_conv2d_transpose_output_padding_matches_keras(real_keras, kernel, strides, padding, output_padding):
    x = RNG.normal(size=(2, 5, 4, 3)).astype(np.float32)
    k, want, g, got = _same_weights(real_keras, lambda L: L.layers.Conv2DTranspose(
        2, kernel, strides=strides, padding=padding, output_padding=output_padding), x)
    assert got.shape == tuple(want.shape)
    assert tuple(g.compute_output_shape((None, 5, 4, 3))) == tuple(k.compute_output_shape((None, 5, 4, 3)))
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert g.get_config()["output_padding"] == list(k.get_config()["output_padding"])
    again = gf.layers.Conv2DTranspose.from_config(g.get_config())
    assert again.output_padding == g.output_padding


def test_output_padding_must_be_less_than_strides():
    with pytest.raises(ValueError, match="output_padding must be strictly less than strides"):
        gf.layers.Conv2DTranspose(2, 3, strides=2, output_padding=2)


def test_activity_regularizer_fit_matches_keras(real_keras):
    x = RNG.normal(size=(12, 6)).astype(np.float32)
    y = RNG.normal(size=(12, 3)).astype(np.float32)
    results, weights = [], None
    for lib in (real_keras, gf):
        model = lib.Sequential([
            lib.Input((6,)),
            lib.layers.Dense(5, activation="relu", activity_regularizer=lib.regularizers.L2(0.05)),
            lib.layers.Dense(3, activity_regularizer="l1"),
        ])
        model.compile(lib.optimizers.SGD(0.1), "mse")
        if weights is None:
            weights = model.get_weights()
        else:
            model.set_weights(weights)
        hist = model.fit(x, y, batch_size=5, epochs=2, verbose=0, shuffle=False).history
        results.append((hist["loss"], model.evaluate(x, y, verbose=0), model.get_weights()))
    (kl, ke, kw), (gl, ge, gw) = results
    np.testing.assert_allclose(gl, kl, rtol=2e-5)
    np.testing.assert_allclose(ge, ke, rtol=2e-5)
    for a, b in zip(gw, kw):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_activity_regularizer_on_a_layer_call_and_config(real_keras):
    import torch

    x = RNG.normal(size=(4, 3)).astype(np.float32)
    k, _, g, out = _same_weights(real_keras, lambda L: L.layers.Dense(2, activity_regularizer=L.regularizers.L1L2(
        l1=0.01, l2=0.1)), x)
    k(torch.tensor(x))
    assert len(g.losses) == 1
    np.testing.assert_allclose(g.losses[0].item(), float(k.losses[0]), rtol=1e-5)
    cfg = g.get_config()
    assert cfg["activity_regularizer"]["class_name"] == "L1L2"
    again = gf.layers.Dense.from_config(cfg)
    assert type(again.activity_regularizer).__name__ == "L1L2"
    assert "activity_regularizer" not in gf.layers.Dense(2).get_config()  # as Keras: only when set
    conv = gf.layers.Conv2D(2, 3, activity_regularizer="l2")
    conv(np.ones((2, 5, 5, 1), np.float32))
    assert len(conv.losses) == 1
    conv.activity_regularizer = None
    conv(np.ones((2, 5, 5, 1), np.float32))
    assert "call" not in vars(conv)
