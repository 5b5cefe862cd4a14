"""``Lambda(fn, mask=...)`` (Keras 3, layers/core/lambda_layer.py): a callable ``mask(inputs, previous_mask)``
or a fixed mask tensor gives the output mask; a function that takes ``mask`` receives the incoming one;
without ``mask`` the layer drops masks. Compared with Keras through an LSTM that reads the masks."""
import warnings

import numpy as np
import pytest

import gradflow as gf

X = np.random.default_rng(5).random((2, 5, 3)).astype(np.float32)
X[0, 3:] = 0
FIXED = np.array([[True] * 5, [True, False, True, False, True]])


def _model(lib):
    inp = lib.Input((5, 3))
    masked = lib.layers.Masking()(inp)
    passed_on = lib.layers.Lambda(lambda t: t * 2, mask=lambda t, m: m)(masked)
    computed = lib.layers.Lambda(
        lambda t: t + 1, mask=lambda t, m: lib.ops.not_equal(lib.ops.sum(lib.ops.abs(t), axis=-1), 0))(inp)
    fixed = lib.layers.Lambda(lambda t: t, mask=FIXED)(inp)

    def zero_masked(t, mask=None):
        return t * lib.ops.cast(lib.ops.expand_dims(mask, -1), "float32")

    reads_mask = lib.layers.Lambda(zero_masked, output_shape=(5, 3), mask=lambda t, m: m)(masked)
    outs = [lib.layers.LSTM(2, kernel_initializer="ones", recurrent_initializer="ones")(t)
            for t in (passed_on, computed, fixed, reads_mask)]
    return lib.Model(inp, outs)


def test_lambda_masks_match_keras(real_keras):
    want = _model(real_keras).predict(X, verbose=0)
    got = _model(gf).predict(X, verbose=0)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_compute_mask_matches_keras(real_keras):
    prev = np.array([[True, False, True, True, False]] * 2)
    for lib in (real_keras, gf):
        fixed = lib.layers.Lambda(lambda t: t, mask=FIXED)
        np.testing.assert_array_equal(np.asarray(fixed.compute_mask(X, prev)), FIXED)
        called = lib.layers.Lambda(lambda t: t, mask=lambda t, m: m)
        np.testing.assert_array_equal(np.asarray(called.compute_mask(X, prev)), prev)
        assert lib.layers.Lambda(lambda t: t).compute_mask(X, prev) is None
        assert lib.layers.Lambda(lambda t: t, mask=FIXED).supports_masking
        assert not lib.layers.Lambda(lambda t: t).supports_masking


def test_lambda_without_mask_drops_the_mask():
    inp = gf.Input((5, 3))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = gf.layers.Lambda(lambda t: t * 2)(gf.layers.Masking()(inp))
    assert getattr(out, "_keras_mask", None) is None
    assert any("does not support masking" in str(w.message) for w in caught)


@gf.saving.register_keras_serializable(package="test_lambda_mask")
def _keep_mask(inputs, mask):
    return mask


@gf.saving.register_keras_serializable(package="test_lambda_mask")
def _double(inputs):
    return inputs * 2


@pytest.mark.parametrize("mask", [_keep_mask, FIXED], ids=["function", "tensor"])
def test_lambda_mask_config_round_trip(mask):
    layer = gf.layers.Lambda(_double, mask=mask)
    clone = gf.layers.Lambda.from_config(layer.get_config())
    prev = np.array([[True, False, True, True, False]] * 2)
    want = prev if callable(mask) else FIXED
    np.testing.assert_array_equal(np.asarray(clone.compute_mask(X, prev)), want)


def test_a_lambda_mask_function_cannot_be_saved():
    with pytest.raises(ValueError, match="lambda expression cannot be saved"):
        gf.layers.Lambda(_double, mask=lambda t, m: m).get_config()
