"""Keras's names and paths for every kind of variable (free ones, seed generators, metrics, optimizer
variables), optimizers' automatic names, and GroupQueryAttention as Keras's (tests/keras_cases/kvars.py),
with gradflow's own files written before these changes still loading and Keras's files interchanging."""
from pathlib import Path

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf

KVARS = case_module("kvars")
DATA = Path(__file__).resolve().parent / "data"
X = np.linspace(-1, 1, 2 * 3 * 6, dtype=np.float32).reshape(2, 3, 6)


@pytest.mark.parametrize("check", ["free_variables", "seed_generator_paths", "metric_variable_paths",
                                   "optimizer_variable_names", "adafactor_variable_names", "weight_decay_exclusion",
                                   "group_query_attention_keras"])
def test_matches_keras(real_keras, check):
    getattr(KVARS, check)(real_keras, gf)


def _gqa_model(m, **kwargs):
    inp = m.Input((3, 6))
    y = m.layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1, **kwargs)(inp, inp)
    return m.Model(inp, m.layers.Dense(2)(m.layers.Flatten()(y)))


def test_files_written_with_the_old_names_load():
    """A model file and a weights file written by gradflow before GroupQueryAttention took Keras's
    automatic name (``group_query_attention``) and optimizers took unique names: both load (weights by
    order into a model whose layer is now ``grouped_query_attention``), the optimizer state too."""
    want = np.load(DATA / "kvars_old_names_predict.npy")
    model = gf.models.load_model(DATA / "kvars_old_names.gradflow")
    assert model.layers[1].name == "group_query_attention" and model.optimizer.iterations == 2
    np.testing.assert_allclose(model.predict(X, verbose=0), want, rtol=1e-6, atol=1e-7)
    model.fit(X, np.ones((2, 2), np.float32), epochs=1, verbose=0)  # the restored Adam state steps on
    fresh = _gqa_model(gf)
    assert fresh.layers[1].name.startswith("grouped_query_attention")
    fresh.load_weights(DATA / "kvars_old_names.weights.safetensors")
    np.testing.assert_allclose(fresh.predict(X, verbose=0), want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("kwargs", [{}, {"use_gate": True, "sliding_window": 2}])
def test_keras_files_interchange(real_keras, tmp_path, kwargs):
    """``.weights.h5`` and ``.keras`` files of a model with an automatically named GroupQueryAttention (its
    projections in Keras's ``_query_dense``... groups) and a trained optimizer pass between Keras and gradflow
    both ways."""
    k = real_keras
    ours = _gqa_model(gf, **kwargs)
    ours.compile(optimizer="adam", loss="mse")
    ours.fit(X, np.ones((2, 2), np.float32), epochs=1, verbose=0)
    want = ours.predict(X, verbose=0)
    ours.save_weights(tmp_path / "g.weights.h5")
    ours.save(tmp_path / "g.keras")
    theirs = _gqa_model(k, **kwargs)
    theirs.load_weights(tmp_path / "g.weights.h5")
    np.testing.assert_allclose(theirs.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    loaded = k.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(loaded.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert int(loaded.optimizer.iterations) == 1
    loaded.save(tmp_path / "k.keras")
    loaded.save_weights(tmp_path / "k.weights.h5")
    back = gf.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(back.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)
    assert back.optimizer.iterations == 1
    again = _gqa_model(gf, **kwargs)
    again.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(again.predict(X, verbose=0), want, rtol=1e-5, atol=1e-6)


def test_optimizer_variables_keep_their_state_in_gradflow_files():
    """A build/update_step optimizer's variables (now Keras-named Variables under the optimizer's name)
    go through ``get_state``/``set_state`` (what gradflow's files hold) keyed by index, not by name."""
    Slotted = KVARS._slot_optimizer(gf)
    model = KVARS._model(gf)
    opt = Slotted()
    model.compile(optimizer=opt, loss="mse")
    model.fit(np.ones((4, 4), np.float32), np.zeros((4, 2), np.float32), epochs=2, verbose=0)
    assert all(isinstance(v, gf.Variable) and v.path == f"{opt.name}/{v.name}" for v in opt.variables)
    params = model.trainable_weights
    state = opt.get_state(params)
    assert sorted(k for k in state if k.startswith("variable_")) == [f"variable_{j}" for j in range(6)]
    other = Slotted()
    other.set_state(state, params)
    assert [v.name for v in other.variables][:4] == [v.name for v in opt.variables][:4]
    for a, b in zip(other.variables, opt.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
