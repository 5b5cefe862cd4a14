"""``registered_name`` in ``.keras`` files: a user's class registered with
``register_keras_serializable(package=...)`` loads by ``"package>name"`` in gradflow from files Keras wrote
and from files gradflow wrote (also when its class name is a built-in's, or shared by two packages), and
gradflow writes the entries Keras writes. Classes: tests/keras_cases/kfix.py."""
import json
import zipfile

import numpy as np
from keras_coverage import case_module

import gradflow as gf

KFIX = case_module("kfix")
X = np.arange(6, dtype=np.float32).reshape(2, 3)


def _model(m):
    inp = m.Input((3,))
    x = inp
    for units, cls in zip((3, 4, 2, 3), KFIX.registered_layers(m)):
        x = cls(units)(x)
    return m.Model(inp, x)


def _entries(path):
    layers = json.loads(zipfile.ZipFile(path).read("config.json"))["config"]["layers"]
    return [KFIX._envelope(entry) for entry in layers]


def test_registered_names_in_keras_files(real_keras, tmp_path):
    k = real_keras
    theirs, ours = _model(k), _model(gf)
    kpath, gpath = tmp_path / "k.keras", tmp_path / "g.keras"
    theirs.save(kpath)
    ours.save(gpath)
    assert _entries(gpath) == _entries(kpath)
    want = theirs.predict(X, verbose=0)
    for path in (kpath, gpath):
        loaded = gf.models.load_model(path)
        assert [type(layer) for layer in loaded.layers[1:]] == KFIX.registered_layers(gf), path
        np.testing.assert_allclose(loaded.predict(X, verbose=0), want, rtol=1e-6)
    back = k.models.load_model(gpath)
    assert [type(layer) for layer in back.layers[1:]] == KFIX.registered_layers(k)
    np.testing.assert_allclose(back.predict(X, verbose=0), want, rtol=1e-6)


def test_registered_names_in_gradflow_files(tmp_path):
    path = tmp_path / "model.gradflow"
    model = _model(gf)
    model.save(path)
    loaded = gf.models.load_model(path)
    assert [type(layer) for layer in loaded.layers[1:]] == KFIX.registered_layers(gf)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0))


def test_registration_case(real_keras):
    KFIX.registration(real_keras, gf)
