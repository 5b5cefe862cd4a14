"""A functional model takes inputs one axis off its Inputs the way Keras's does (``_adjust_input_rank``):
``(N,)`` feeds ``Input(shape=(1,))`` (keras-io's FeatureSpace inference passes such values) and a
trailing axis of 1 is squeezed; other ranks are refused. Checked against Keras on the same weights."""
import numpy as np
import pytest

import gradflow as gf


def _pair(k, shape):
    def build(lib):
        i = lib.Input(shape)
        return lib.Model(i, lib.layers.Dense(2)(i))
    theirs, ours = build(k), build(gf)
    ours.set_weights(theirs.get_weights())
    return theirs, ours


@pytest.mark.parametrize("shape, x_shape", [((1,), (5,)), ((3,), (5, 3, 1)), ((4, 1), (2, 4))])
def test_inputs_one_axis_off_run_as_in_keras(real_keras, shape, x_shape):
    theirs, ours = _pair(real_keras, shape)
    x = np.random.default_rng(0).normal(size=x_shape).astype("float32")
    want = theirs(x).detach().numpy()
    np.testing.assert_allclose(ours(x).numpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ours.predict(x, verbose=0), want, rtol=1e-6, atol=1e-6)
    ours.compile(optimizer="sgd", loss="mse")
    history = ours.fit(x, np.zeros(want.shape, "float32"), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_other_ranks_are_refused_naming_the_input():
    i = gf.Input((3,))
    model = gf.Model(i, gf.layers.Dense(2)(i))
    for bad in ((4, 2), (4, 3, 2), (3,)):
        with pytest.raises(ValueError, match=r"expected shape=\(None, 3\)"):
            model(np.ones(bad, "float32"))
