"""Multi-output models where only some outputs have a loss (Keras 3's CompileLoss): ``loss=["mse", None]``
or a dict of losses that leaves outputs out. ``fit``/``evaluate`` then take targets for the outputs with a
loss only (one array, a shorter list, or a dict of those keys); losses and metrics match Keras on the same
weights, and a y that fits neither layout is refused with a message naming both."""
import numpy as np
import pytest

import gradflow as gf

RNG = np.random.default_rng(11)
X = RNG.normal(size=(12, 4)).astype(np.float32)
Y3 = RNG.normal(size=(12, 3)).astype(np.float32)
Y2 = RNG.normal(size=(12, 2)).astype(np.float32)


def _two_outputs(k, as_dict=False):
    inp = k.Input((4,))
    hidden = k.layers.Dense(5, activation="tanh", name="hidden")(inp)
    first, second = k.layers.Dense(3, name="first")(hidden), k.layers.Dense(2, name="second")(hidden)
    return k.Model(inp, {"first": first, "second": second} if as_dict else [first, second])


def _both(real_keras, loss, y, metrics=None, fit_y=None, as_dict=False):
    out = []
    weights = None
    for lib in (real_keras, gf):
        model = _two_outputs(lib, as_dict)
        model.compile(optimizer=lib.optimizers.SGD(0.1), loss=loss, metrics=metrics)
        if weights is None:
            weights = model.get_weights()
        else:
            model.set_weights(weights)
        hist = model.fit(X, y if fit_y is None else fit_y, batch_size=4, epochs=2, verbose=0,
                         shuffle=False).history
        out.append((hist, model.evaluate(X, y, verbose=0, return_dict=True)))
    (kh, ke), (gh, ge) = out
    assert sorted(kh) == sorted(gh)
    for key in kh:
        np.testing.assert_allclose(gh[key], kh[key], rtol=2e-5, atol=1e-6, err_msg=key)
    assert sorted(ke) == sorted(ge)
    for key in ke:
        np.testing.assert_allclose(ge[key], ke[key], rtol=2e-5, atol=1e-6, err_msg=key)


def test_list_loss_with_none_takes_one_array(real_keras):
    _both(real_keras, ["mse", None], Y3, metrics=[["mae"], None])


def test_list_loss_with_none_takes_a_shorter_list(real_keras):
    _both(real_keras, [None, "mae"], [Y2])


def test_dict_loss_with_a_missing_key_takes_one_array(real_keras):
    _both(real_keras, {"first": "mse"}, Y3, metrics={"first": ["mae"]}, as_dict=True)


def test_dict_loss_with_a_missing_key_takes_a_dict_of_its_keys():
    # Keras 3.15 raises KeyError here (it looks up every output in y); gradflow accepts it
    model = _two_outputs(gf, as_dict=True)
    model.compile(optimizer="sgd", loss={"first": "mse", "second": None})
    hist = model.fit(X, {"first": Y3}, epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][0])


def test_full_list_with_a_none_entry_still_works():
    model = _two_outputs(gf)
    model.compile(optimizer="sgd", loss=["mse", None])
    hist = model.fit(X, [Y3, None], epochs=1, verbose=0).history
    assert np.isfinite(hist["loss"][0])


def test_wrong_number_of_targets_is_refused():
    model = _two_outputs(gf)
    model.compile(optimizer="sgd", loss=["mse", None])
    with pytest.raises(ValueError, match=r"list of 2 arrays.*1 outputs with a loss: \['first'\]"):
        model.fit(X, [Y3, Y2, Y2], epochs=1, verbose=0)
    model.compile(optimizer="sgd", loss=["mse", "mse"])
    with pytest.raises(ValueError, match="list of 2 arrays or a dict keyed by output name$"):
        model.fit(X, Y3, epochs=1, verbose=0)
