"""Keras 3 ``.keras`` files both ways: a model saved by Keras loads in gradflow with the same
predictions (and compile settings), and a model gradflow saves loads in Keras with the same
predictions. Skips where Keras (on its torch backend) or h5py is not installed."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")
pytest.importorskip("h5py")
pytest.importorskip("torch")
keras = pytest.importorskip("keras")
if keras.backend.backend() != "torch":  # pragma: no cover
    pytest.skip("these comparisons use Keras's torch backend", allow_module_level=True)

import gradflow  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning",
                                        "ignore:Skipping variable loading for optimizer:UserWarning")


def cnn(k):
    inputs = k.Input(shape=(12, 12, 1))
    x = k.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = k.layers.BatchNormalization()(x)
    x = k.layers.MaxPooling2D(2)(x)
    x = k.layers.Conv2D(6, 3, padding="same")(x)
    x = k.layers.GlobalAveragePooling2D()(x)
    x = k.layers.Dropout(0.2)(x)
    return k.Model(inputs, k.layers.Dense(3, activation="softmax")(x))


def recurrent(k):
    inputs = k.Input(shape=(7, 4))
    x = k.layers.Bidirectional(k.layers.LSTM(5, return_sequences=True))(inputs)
    x = k.layers.GRU(3)(x)
    return k.Model(inputs, k.layers.Dense(2)(x))


def transformer(k):
    inputs = k.Input(shape=(6,), dtype="int32")
    h = k.layers.Embedding(20, 8)(inputs)
    attn = k.layers.MultiHeadAttention(num_heads=2, key_dim=4)(h, h)
    h = k.layers.LayerNormalization()(k.layers.add([h, attn]))
    h = k.layers.Conv1D(4, 2, padding="causal")(h)
    return k.Model(inputs, k.layers.Dense(2)(k.layers.GlobalMaxPooling1D()(h)))


def sequential(k):
    return k.Sequential([k.Input(shape=(5,)), k.layers.Dense(4, activation="relu"),
                         k.layers.Dense(2, activation="softmax")], name="seq")


def reshaping(k):
    inputs = k.Input(shape=(5,))
    x = k.layers.RepeatVector(4)(k.layers.Dense(3)(inputs))
    x = k.layers.UpSampling1D(2)(k.layers.Permute((2, 1))(x))
    x = k.layers.GroupNormalization(groups=2, gamma_initializer="random_normal")(x)
    return k.Model(inputs, k.layers.Identity()(k.layers.UnitNormalization()(k.layers.Flatten()(x))))


MODELS = {"cnn": (cnn, (12, 12, 1), None), "recurrent": (recurrent, (7, 4), None),
          "transformer": (transformer, (6,), 20), "sequential": (sequential, (5,), None),
          "reshaping": (reshaping, (5,), None)}


def _data(shape, int_bound, n=8):
    rng = np.random.default_rng(0)
    if int_bound:
        return rng.integers(0, int_bound, (n, *shape)).astype("int32")
    return rng.normal(size=(n, *shape)).astype("float32")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_file_loads_in_gradflow(name, tmp_path):
    build, shape, bound = MODELS[name]
    model = build(keras)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    x = _data(shape, bound)
    y = model.predict(x, verbose=0)
    model.fit(x, np.zeros_like(y), epochs=1, verbose=0)  # moves weights and batch-norm statistics
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = gradflow.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    assert isinstance(loaded.optimizer, gradflow.optimizers.Adam) and loaded.loss == "mse"
    assert loaded.optimizer.iterations == 1  # Keras's optimizer state came along


@pytest.mark.parametrize("name", sorted(MODELS))
def test_gradflow_file_loads_in_keras(name, tmp_path):
    build, shape, bound = MODELS[name]
    model = build(gradflow)
    model.compile(optimizer=gradflow.optimizers.Adam(1e-3), loss="mse")
    x = _data(shape, bound)
    model.fit(x, np.zeros_like(model.predict(x, verbose=0)), epochs=1, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    again = gradflow.models.load_model(path)  # and back: a gradflow .keras file reads in gradflow too
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


def test_resnet50_both_ways(tmp_path):
    x = np.random.default_rng(0).random((2, 224, 224, 3), dtype=np.float32)
    k_model = keras.applications.ResNet50(weights=None, classes=10)
    k_model.save(tmp_path / "k.keras")
    g_model = gradflow.models.load_model(tmp_path / "k.keras")
    expected = k_model.predict(x, verbose=0)
    np.testing.assert_allclose(g_model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    g_model.save(tmp_path / "g.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "g.keras").predict(x, verbose=0), expected,
                               rtol=1e-5, atol=1e-5)


def test_unsupported_keras_layer_is_named(tmp_path):
    inputs = keras.Input(shape=(4, 4, 4))
    model = keras.Model(inputs, keras.layers.GaussianNoise(0.1)(inputs))
    model.save(tmp_path / "noise.keras")
    with pytest.raises(gradflow.models.ModelFileError, match="GaussianNoise"):
        gradflow.models.load_model(tmp_path / "noise.keras")
