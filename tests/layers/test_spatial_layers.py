"""The spatial layer families (gradflow/layers/spatial1d3d.py, conv_lstm.py, spectrogram.py): every
row of tests/keras_cases/spatial.py against real Keras (values, input and weight gradients, shapes,
configs), gradients against finite differences on the float64 reference backend, and use in a
functional model that trains and saves."""
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import gradflow as gf
from gradflow.autograd import gradcheck

_CASES = Path(__file__).resolve().parents[1] / "keras_cases" / "spatial.py"


def _cases():
    if "keras_coverage" not in sys.modules:
        spec = importlib.util.spec_from_file_location("keras_coverage", _CASES.parents[1] / "keras_coverage.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["keras_coverage"] = module
        spec.loader.exec_module(module)
    spec = importlib.util.spec_from_file_location("_spatial_layer_cases", _CASES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CASES = _cases()
IDS = [f"{row[0]}-{i}" for i, row in enumerate(CASES.LAYERS)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("row", CASES.LAYERS, ids=IDS)
def test_same_as_keras(real_keras, row):
    CASES.check_layer(real_keras, gf, row)


@pytest.mark.parametrize("row", CASES.LAYERS, ids=IDS)
def test_gradients_against_finite_differences(row):
    name, kwargs, shape = row
    x = np.random.default_rng(0).normal(size=shape)
    with gf.use_backend("reference"):
        layer = getattr(gf.layers, name)(**kwargs)
        xt = gf.Tensor(x, requires_grad=True)
        layer(xt)
        assert gradcheck(lambda inp, *ps: layer(inp), [xt, *layer.trainable_weights])


def test_spatial_layers_train_and_save_in_a_functional_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 9, 3)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("int64")
    inp = gf.Input(shape=(9, 3))
    h = gf.layers.ZeroPadding1D(1)(inp)
    h = gf.layers.SeparableConv1D(6, 3, activation="relu")(h)
    h = gf.layers.DepthwiseConv1D(3, padding="same")(h)
    h = gf.layers.Cropping1D((1, 0))(h)
    h = gf.layers.AdaptiveAveragePooling1D(4)(h)
    out = gf.layers.Dense(2, activation="softmax")(gf.layers.Flatten()(h))
    model = gf.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "spatial.gflow")
    loaded = gf.models.load_model(tmp_path / "spatial.gflow")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("make,match", [
    (lambda: gf.layers.Cropping3D(((1, 1), (1, 1))), "3 elements"),
    (lambda: gf.layers.ZeroPadding1D((1, 2, 3)), "padding"),
    (lambda: gf.layers.AdaptiveMaxPooling2D((2, 2, 2)), "output_size"),
    (lambda: gf.layers.Conv3DTranspose(2, 3, strides=2, output_padding=2), "output_padding"),
])
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_cropping_too_much_names_the_layer():
    with pytest.raises(ValueError, match="cropping"):
        gf.layers.Cropping1D((3, 3))(np.ones((1, 6, 2), "float32"))
