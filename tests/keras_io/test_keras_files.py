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


def wrapped_rnns(k):
    """RNN(cell), StackedRNNCells, TimeDistributed and Bidirectional over them: Keras nests their variables
    (``rnn/cell/vars``, ``rnn_1/cell/cells/gru_cell/vars``, ``time_distributed/layer/vars``,
    ``bidirectional/forward_layer/cell/vars``)."""
    layers = k.layers
    inputs = k.Input(shape=(5, 3))
    x = layers.RNN(layers.LSTMCell(4), return_sequences=True)(inputs)
    x = layers.RNN(layers.StackedRNNCells([layers.SimpleRNNCell(3), layers.GRUCell(2), layers.GRUCell(3)]),
                   return_sequences=True)(x)
    x = layers.TimeDistributed(layers.Dense(3))(x)
    x = layers.Bidirectional(layers.RNN(layers.GRUCell(2), return_sequences=True))(x)
    x = layers.Bidirectional(layers.RNN(layers.StackedRNNCells([layers.LSTMCell(2), layers.SimpleRNNCell(2)])))(x)
    return k.Model(inputs, layers.Dense(2)(x))


def with_ops(k):
    """Ops called on symbolic tensors (gradflow's OpLayer nodes): Keras records ``keras.src.ops.numpy.Reshape``
    and the like, the op's arguments in the node's config and constants in its call arguments."""
    inputs = k.Input(shape=(6,))
    x = k.layers.Dense(6)(inputs)
    y = k.ops.transpose(k.ops.reshape(x, (-1, 2, 3)), (0, 2, 1))
    z = 1.0 - x * 2.0 + inputs
    w = k.ops.concatenate([k.ops.reshape(y, (-1, 6)), k.ops.tanh(z)], axis=-1)
    w = k.ops.squeeze(k.ops.expand_dims(k.ops.softmax(w, axis=-1), 1), axis=1)
    return k.Model(inputs, k.ops.mean(k.layers.Dense(4)(w), axis=-1, keepdims=True))


MODELS = {"cnn": (cnn, (12, 12, 1), None), "recurrent": (recurrent, (7, 4), None), "with_ops": (with_ops, (6,), None),
          "wrapped_rnns": (wrapped_rnns, (5, 3), None),
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
    @keras.saving.register_keras_serializable(package="elsewhere")
    class Doubling(keras.layers.Layer):  # a custom layer only the Keras side has
        def call(self, x):
            return x * 2.0

    inputs = keras.Input(shape=(4, 4, 4))
    model = keras.Model(inputs, Doubling()(inputs))
    model.save(tmp_path / "doubling.keras")
    with pytest.raises(gradflow.models.ModelFileError, match="Doubling"):
        gradflow.models.load_model(tmp_path / "doubling.keras")


# -- weights files both ways, input_shape= models, subclassed models, custom hooks ---------------
@pytest.mark.parametrize("name", sorted(MODELS))
def test_weights_h5_both_ways(name, tmp_path):
    build, shape, bound = MODELS[name]
    x = _data(shape, bound)
    ours, theirs = build(gradflow), build(keras)
    ours.save_weights(tmp_path / "g.weights.h5")
    theirs.load_weights(tmp_path / "g.weights.h5")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    again_theirs, again_ours = build(keras), build(gradflow)
    again_theirs.save_weights(tmp_path / "k.weights.h5")
    again_ours.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(again_ours.predict(x, verbose=0), again_theirs.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-5)
    again_theirs.save(tmp_path / "k.keras")  # and the weights of a whole-model file
    ours.load_weights(tmp_path / "k.keras")
    np.testing.assert_allclose(ours.predict(x, verbose=0), again_theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def _input_shape_model(k):
    return k.Sequential([k.layers.Dense(4, activation="relu", input_shape=(3,)), k.layers.Dense(2)])


def test_input_shape_model_both_ways(tmp_path):
    x = _data((3,), None)
    ours = _input_shape_model(gradflow)
    ours.save(tmp_path / "g.keras")
    np.testing.assert_allclose(keras.models.load_model(tmp_path / "g.keras").predict(x, verbose=0),
                               ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    theirs = _input_shape_model(keras)
    theirs.save(tmp_path / "k.keras")
    np.testing.assert_allclose(gradflow.models.load_model(tmp_path / "k.keras").predict(x, verbose=0),
                               theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


_CLASSES: dict = {}


def _subclassed(k):
    """The same subclassed model (get_config, registered as 'io_files>MLP') in Keras and in gradflow."""
    if k not in _CLASSES:
        @k.saving.register_keras_serializable(package="io_files")
        class MLP(k.Model):
            def __init__(self, units=4, **kwargs):
                super().__init__(**kwargs)
                self.units = units
                self.hidden = k.layers.Dense(units, activation="relu")
                self.out = k.layers.Dense(2)

            def call(self, x):
                return self.out(self.hidden(x))

            def get_config(self):
                return {"units": self.units, "name": self.name}

        @k.saving.register_keras_serializable(package="io_files")
        class Scaled(k.layers.Layer):
            """A layer with its own save_own_variables: a scale kept outside its variables."""

            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.scale = np.float32(1.0)

            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

            def call(self, x):
                return x * self.w * self.scale

            def save_own_variables(self, store):
                store["w"] = np.asarray(self.w.numpy())
                store["scale"] = np.asarray(self.scale)

            def load_own_variables(self, store):
                self.w.assign(np.asarray(store["w"]))
                self.scale = np.float32(np.asarray(store["scale"]))

        _CLASSES[k] = MLP, Scaled
    return _CLASSES[k]


def _hooked(k):
    inputs = k.Input(shape=(5,))
    return k.Model(inputs, k.layers.Dense(2)(_subclassed(k)[1](name="scaled")(inputs)))


def test_subclassed_model_both_ways(tmp_path):
    x = _data((5,), None)
    _subclassed(keras)  # the program defines (and registers) its classes before loading
    ours = _subclassed(gradflow)[0](units=3)
    ours(x)
    ours.save(tmp_path / "g.keras")
    ours.save_weights(tmp_path / "g.weights.h5")
    theirs = keras.models.load_model(tmp_path / "g.keras")
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    fresh = _subclassed(keras)[0](units=3)
    fresh(x)
    fresh.load_weights(tmp_path / "g.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)

    theirs = _subclassed(keras)[0](units=3)
    theirs(x)
    theirs.save(tmp_path / "k.keras")
    theirs.save_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(gradflow.models.load_model(tmp_path / "k.keras").predict(x, verbose=0),
                               theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    fresh = _subclassed(gradflow)[0](units=3)
    fresh(x)
    fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(fresh.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def test_custom_save_own_variables_both_ways(tmp_path):
    x = _data((5,), None)
    _subclassed(keras)
    ours = _hooked(gradflow)
    ours.get_layer("scaled").scale = np.float32(3.0)
    ours.save(tmp_path / "g.keras")
    theirs = keras.models.load_model(tmp_path / "g.keras")
    assert float(theirs.get_layer("scaled").scale) == 3.0
    np.testing.assert_allclose(theirs.predict(x, verbose=0), ours.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
    theirs.get_layer("scaled").scale = np.float32(0.5)
    theirs.save(tmp_path / "k.keras")
    back = gradflow.models.load_model(tmp_path / "k.keras")
    assert float(back.get_layer("scaled").scale) == 0.5
    np.testing.assert_allclose(back.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=1e-5, atol=1e-5)
