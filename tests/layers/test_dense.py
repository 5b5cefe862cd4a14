"""Dense and Activation: shapes, parameter counts, forward/backward vs NumPy and the reference backend."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L
from gradflow import regularizers


def test_dense_on_rank4_input_shape_and_params():
    layer = L.Dense(16)
    assert layer.build_from_shape((None, 20, 20, 3)) == (None, 20, 20, 16)
    assert layer.count_params() == 64
    assert layer.kernel.shape == (3, 16) and layer.bias.shape == (16,)
    assert [p.name for p in layer.weights] == ["dense/kernel", "dense/bias"]
    y = layer(np.ones((2, 20, 20, 3), np.float32))
    assert y.shape == (2, 20, 20, 16)


def test_dense_no_bias_params():
    layer = L.Dense(5, use_bias=False)
    layer.build_from_shape((None, 7))
    assert layer.count_params() == 35 and len(layer.weights) == 1


@pytest.mark.parametrize("shape", [(1, 4), (3, 5), (2, 3, 4), (2, 1, 3, 5)])
def test_dense_forward_backward_vs_numpy(helpers, shape, rng):
    x = rng.standard_normal(shape)
    layer, y, dx, grads = helpers.run_layer("reference", lambda: L.Dense(3, activation="tanh"), x,
                                            grad_out=np.ones(shape[:-1] + (3,)))
    k, b = layer.get_weights()
    pre = x @ k + b
    np.testing.assert_allclose(y, np.tanh(pre), rtol=1e-12, atol=1e-12)
    dpre = 1 - np.tanh(pre) ** 2
    np.testing.assert_allclose(dx, dpre @ k.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["kernel"], x.reshape(-1, shape[-1]).T @ dpre.reshape(-1, 3), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["bias"], dpre.reshape(-1, 3).sum(0), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", [(1, 7), (5, 4, 6)])
def test_dense_numpy_backend_matches_reference(helpers, shape, rng):
    helpers.check_parity(lambda: L.Dense(9, activation="relu"), rng.standard_normal(shape))


def test_dense_gradcheck(helpers, rng):
    helpers.gradcheck_layer(lambda: L.Dense(3, activation="sigmoid"), rng.standard_normal((2, 2, 4)))


def test_dense_pre_activation_and_name(rng):
    layer = L.Dense(4, activation="softmax")
    assert layer.activation_name == "softmax"
    x = rng.standard_normal((3, 5)).astype(np.float32)
    logits = layer.call_pre_activation(x)
    np.testing.assert_allclose(layer(x).numpy(), gf.softmax(logits).numpy(), rtol=1e-6)
    assert L.Dense(2).activation_name == "linear"
    assert L.Dense(2, activation="sigmoid").activation_name == "sigmoid"
    assert L.Dense(2, activation=gf.relu).activation_name == "relu"


def test_dense_pre_activation_builds_lazily(rng):
    layer = L.Dense(2, activation="sigmoid")
    out = layer.call_pre_activation(rng.standard_normal((4, 3)).astype(np.float32))
    assert layer.built and out.shape == (4, 2)


def test_dense_regularization_losses(rng):
    layer = L.Dense(3, kernel_regularizer="l2", bias_regularizer=regularizers.L1(0.5), bias_initializer="ones")
    layer.build_from_shape((None, 4))
    losses = layer.regularization_losses()
    k = layer.kernel.numpy().astype(np.float64)
    assert len(losses) == 2
    np.testing.assert_allclose(losses[1].item(), 0.5 * 3, rtol=1e-6)
    np.testing.assert_allclose(losses[0].item(), 0.01 * (k ** 2).sum(), rtol=1e-5)
    losses[0].backward()
    np.testing.assert_allclose(layer.kernel.grad.numpy(), 0.02 * k, rtol=1e-5)


def test_dense_trainable_flag():
    layer = L.Dense(2)
    layer.build_from_shape((None, 3))
    layer.trainable = False
    assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 2
    assert not layer.kernel.requires_grad
    layer.trainable = True
    assert layer.kernel.requires_grad


def test_dense_set_get_weights_keras_layout(rng):
    layer = L.Dense(4)
    layer.build_from_shape((None, 3))
    k, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    layer.set_weights([k, b])
    np.testing.assert_allclose(layer.get_weights()[0], k, rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(3, 4\)"):
        layer.set_weights([k.T, b])


def test_activation_layer(rng):
    x = rng.standard_normal((2, 3)).astype(np.float32)
    layer = L.Activation("relu")
    np.testing.assert_array_equal(layer(x).numpy(), np.maximum(x, 0))
    assert layer.compute_output_shape((None, 3)) == (None, 3)
    assert layer.activation_name == "relu"
    np.testing.assert_array_equal(layer.call_pre_activation(x).numpy(), x)
    assert L.Activation("softmax").activation_name == "softmax"


def test_dense_channels_change_after_build_fails():
    layer = L.Dense(4)
    layer(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"dense.*last dimension 3.*\(None, 5\)"):
        layer(np.ones((2, 5), np.float32))
