"""BatchNormalization: parameter counts, training vs inference, moving statistics, any axis, gradients."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import initializers
from gradflow import layers as L


def bn_train_numpy(x, gamma, beta, axis, eps, g):
    """Batch-statistics forward (biased variance) and its gradients."""
    red = tuple(i for i in range(x.ndim) if i != axis % x.ndim)
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]
    m = x.size // x.shape[axis]
    mean, var = x.mean(red), x.var(red)
    inv = 1 / np.sqrt(var + eps)
    xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
    y = gamma.reshape(shape) * xhat + beta.reshape(shape)
    dxhat = g * gamma.reshape(shape)
    dx = inv.reshape(shape) / m * (m * dxhat - dxhat.sum(red, keepdims=True)
                                   - xhat * (dxhat * xhat).sum(red, keepdims=True))
    return y, mean, var, dx, (g * xhat).sum(red), g.sum(red)


def test_param_counts_and_weight_order():
    layer = L.BatchNormalization()
    layer.build_from_shape((None, 8))
    assert layer.count_params() == 32
    assert sum(p.size for p in layer.non_trainable_weights) == 16
    assert [p.name.split("/")[1] for p in layer.weights] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert [p.name.split("/")[1] for p in layer.trainable_weights] == ["gamma", "beta"]
    np.testing.assert_array_equal(layer.gamma.numpy(), 1)
    np.testing.assert_array_equal(layer.moving_variance.numpy(), 1)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), 0)
    bare = L.BatchNormalization(center=False, scale=False)
    bare.build_from_shape((None, 4, 4, 3))
    assert bare.count_params() == 6 and bare.trainable_weights == []
    conv_bn = L.BatchNormalization()
    assert conv_bn.build_from_shape((None, 5, 5, 16)) == (None, 5, 5, 16)
    assert conv_bn.count_params() == 64


@pytest.mark.parametrize("shape,axis", [((5, 3), -1), ((2, 3, 4, 5), -1), ((2, 3, 4, 5), 1), ((4, 1, 32), 1),
                                        ((1, 6, 2), 2)])
def test_training_forward_backward_vs_numpy(helpers, rng, shape, axis):
    x = rng.standard_normal(shape) * 2 + 0.5
    make = lambda: L.BatchNormalization(axis=axis, gamma_initializer="random_normal",  # noqa: E731
                                        beta_initializer="random_normal")
    layer, y, dx, grads = helpers.run_layer("reference", make, x, training=True)
    gamma, beta, mm, mv = layer.get_weights()
    g = np.random.default_rng(9876).standard_normal(shape)
    y_ref, mean, var, dx_ref, dgamma, dbeta = bn_train_numpy(x, gamma, beta, axis, 1e-3, g)
    np.testing.assert_allclose(y, y_ref, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(dx, dx_ref, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(grads["gamma"], dgamma, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(grads["beta"], dbeta, rtol=1e-9, atol=1e-10)
    # Keras update: moving = moving * momentum + batch * (1 - momentum), biased batch variance
    np.testing.assert_allclose(mm, 0.0 * 0.99 + mean * 0.01, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mv, 1.0 * 0.99 + var * 0.01, rtol=1e-9, atol=1e-12)


def test_moving_stats_recurrence_and_inference(rng):
    xs = [rng.standard_normal((6, 4)) * s + s for s in (1.0, 2.0, 3.0)]
    with gf.use_backend("reference"):
        layer = L.BatchNormalization(momentum=0.9, epsilon=1e-5)
        mm, mv = np.zeros(4), np.ones(4)
        for x in xs:
            layer(x, training=True)
            mm = mm * 0.9 + x.mean(0) * 0.1
            mv = mv * 0.9 + x.var(0) * 0.1
        np.testing.assert_allclose(layer.moving_mean.numpy(), mm, rtol=1e-10)
        np.testing.assert_allclose(layer.moving_variance.numpy(), mv, rtol=1e-10)
        xt = gf.Tensor(xs[0], requires_grad=True)
        y = layer(xt, training=False)
        gamma, beta = layer.gamma.numpy(), layer.beta.numpy()
        np.testing.assert_allclose(y.numpy(), gamma * (xs[0] - mm) / np.sqrt(mv + 1e-5) + beta, rtol=1e-10)
        y.sum().backward()
        np.testing.assert_allclose(xt.grad.numpy(), np.broadcast_to(gamma / np.sqrt(mv + 1e-5), xs[0].shape), rtol=1e-10)
        before = layer.moving_mean.numpy().copy()
        layer(xs[1])  # inference leaves the moving statistics alone
        np.testing.assert_array_equal(layer.moving_mean.numpy(), before)


def test_frozen_layer_runs_in_inference_mode(rng):
    x = rng.standard_normal((8, 3)) * 3 + 1
    with gf.use_backend("reference"):
        layer = L.BatchNormalization()
        layer.build_from_shape((None, 3))
        layer.set_weights([np.full(3, 2.0), np.full(3, 0.5), np.full(3, 0.25), np.full(3, 4.0)])
        layer.trainable = False
        assert layer.trainable_weights == [] and len(layer.non_trainable_weights) == 4
        y = layer(x, training=True).numpy()
        np.testing.assert_allclose(y, 2.0 * (x - 0.25) / np.sqrt(4.0 + 1e-3) + 0.5, rtol=1e-12)
        np.testing.assert_array_equal(layer.moving_mean.numpy(), 0.25)
        layer.trainable = True
        assert not np.allclose(layer(x, training=True).numpy(), y)


@pytest.mark.parametrize("shape,axis", [((6, 4), -1), ((2, 3, 3, 4), -1), ((2, 3, 2, 2), 1)])
def test_numpy_backend_matches_reference(helpers, rng, shape, axis):
    for training in (True, False):
        helpers.check_parity(lambda: L.BatchNormalization(axis=axis, gamma_initializer=initializers.RandomNormal(1.0, 0.3),
                                                          beta_initializer="random_normal",
                                                          moving_variance_initializer=initializers.RandomUniform(0.5, 1.5),
                                                          moving_mean_initializer="random_normal"),
                             rng.standard_normal(shape) + 1.0, training=training, tol=2e-5)


def test_gradcheck_training_and_inference(helpers, rng):
    make = lambda: L.BatchNormalization(axis=1, gamma_initializer="random_normal")  # noqa: E731
    helpers.gradcheck_layer(make, rng.standard_normal((3, 2, 2)), training=True)
    helpers.gradcheck_layer(make, rng.standard_normal((3, 2, 2)), training=False)


def test_regularized_gamma():
    layer = L.BatchNormalization(gamma_regularizer="l2")
    layer.build_from_shape((None, 5))
    (loss,) = layer.regularization_losses()
    np.testing.assert_allclose(loss.item(), 0.01 * 5, rtol=1e-6)


def test_masked_training_statistics_equal_keras(real_keras, rng):
    """``mask`` (Keras's signature): in training only the kept entries count in the statistics."""
    x = rng.normal(size=(3, 5, 4)).astype(np.float32)
    mask = rng.random((3, 5)) > 0.4
    theirs = real_keras.layers.BatchNormalization(momentum=0.5)
    theirs.build(x.shape)
    ours = L.BatchNormalization(momentum=0.5)
    ours.build((None, 5, 4))
    want = theirs(x, training=True, mask=mask).detach().numpy()
    xt = gf.Tensor(x, requires_grad=True)
    got = ours(xt, training=True, mask=mask)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    (got * got).sum().backward()
    assert xt.grad.shape == x.shape and np.isfinite(xt.grad.numpy()).all()
    np.testing.assert_allclose(ours(x, mask=mask).numpy(), theirs(x, mask=mask).detach().numpy(), rtol=1e-5,
                               atol=1e-5)  # inference: the moving statistics, mask or not
    with pytest.raises(ValueError, match="one dimension less"):
        ours(x, training=True, mask=mask[..., None])


def test_renorm_fit_equals_keras_over_several_steps(real_keras, rng):
    """Batch renormalization inside a trained model (Conv2D -> BN(renorm) -> ReLU -> MaxPool, the chain
    gradflow fuses without renorm): after several Adam steps the weights, the moving and the renorm
    statistics, and the predictions equal Keras's on the same weights and batches. (No conv bias: under
    BN its gradient is zero up to rounding, which Adam would amplify into noise on both sides.)"""
    k = real_keras
    x = rng.normal(size=(32, 6, 6, 2)).astype(np.float32)
    y = rng.integers(0, 3, 32)

    def build(lib):
        return lib.Sequential([
            lib.Input((6, 6, 2)), lib.layers.Conv2D(4, 3, padding="same", use_bias=False),
            lib.layers.BatchNormalization(renorm=True, renorm_clipping={"rmax": 1.3, "rmin": 0.7, "dmax": 0.5},
                                          renorm_momentum=0.6, momentum=0.5),
            lib.layers.Activation("relu"), lib.layers.MaxPooling2D(2), lib.layers.Flatten(), lib.layers.Dense(3)])

    theirs, ours = build(k), build(gf)
    ours.set_weights(theirs.get_weights())
    for model, lib in ((theirs, k), (ours, gf)):
        model.compile(optimizer=lib.optimizers.Adam(0.01),
                      loss=lib.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    bn_k, bn_g = theirs.layers[1], ours.layers[1]
    assert [w.name for w in bn_k.weights] == [w.name.rsplit("/", 1)[-1] for w in bn_g.weights]
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_renorm_argument_errors_name_the_layer():
    with pytest.raises(ValueError, match="invalid keys for `renorm_clipping`"):
        L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 2, "r": 1})
    with pytest.raises(ValueError, match="rmax should be greater than rmin.*rmax=1, rmin=2"):
        L.BatchNormalization(renorm=True, renorm_clipping={"rmax": 1, "rmin": 2})
    with pytest.raises(ValueError, match="dmax should be non-negative.*dmax=-1"):
        L.BatchNormalization(renorm=True, renorm_clipping={"dmax": -1})
    layer = L.BatchNormalization(renorm=True)
    layer.build_from_shape((None, 5))
    assert [w.name.rsplit("/", 1)[-1] for w in layer.weights] == [
        "gamma", "beta", "moving_mean", "moving_variance", "moving_stddev", "renorm_mean", "renorm_stddev"]
    assert layer.count_params() == 35 and len(layer.trainable_weights) == 2
