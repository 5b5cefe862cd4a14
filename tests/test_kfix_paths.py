"""Variable paths as Keras 3 gives them (parents' names included: ``seq/dense/kernel``,
``outer/inner_dense/kernel``), while weight names and files keep Keras's layer-based layout."""
import numpy as np
from keras_coverage import case_module

import gradflow as gf

KFIX = case_module("kfix")


def test_variable_paths_match_keras(real_keras):
    KFIX.variable_paths(real_keras, gf)


def test_paths_do_not_change_names_or_files(real_keras, tmp_path):
    """A nested model's weights keep their layer-based names; its .keras and .weights.h5 files load in
    Keras and back in gradflow with the same values."""
    k = real_keras
    model = KFIX._path_models(gf)["nested models"]
    assert [w.path for w in model.weights][0] == "inner/inner_dense/kernel"
    assert [w.name for w in model.weights][0] == "inner_dense/kernel"
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    want = model.predict(x, verbose=0)
    model.save(tmp_path / "m.keras")
    model.save_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(k.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), want, rtol=1e-6)
    np.testing.assert_allclose(gf.models.load_model(tmp_path / "m.keras").predict(x, verbose=0), want, rtol=1e-6)
    theirs = KFIX._path_models(k)["nested models"]
    theirs.load_weights(tmp_path / "m.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), want, rtol=1e-6)
    theirs.save_weights(tmp_path / "k.weights.h5")
    again = KFIX._path_models(gf)["nested models"]
    again.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(again.predict(x, verbose=0), want, rtol=1e-6)
