"""Keras 3's saving hooks (save_own_variables/load_own_variables, save_assets/load_assets,
get_build_config/build_from_config, get_compile_config/compile_from_config) through save/load_model
and save_weights/load_weights, in gradflow's format and in Keras's (.keras, .weights.h5)."""
import json
import os
import sys
import zipfile

import numpy as np
import pytest

import gradflow as keras
from gradflow.saving import ModelFileError

h5py = pytest.importorskip("h5py")


@keras.saving.register_keras_serializable(package="hooks_test")
class Counter(keras.layers.Layer):
    """A Dense-like layer that also saves a plain array (``calls``) and a vocabulary file."""

    def __init__(self, units=3, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.calls = np.zeros((), dtype="int64")
        self.vocab = []
        self.built_with = None

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal")

    def call(self, x):
        return keras.ops.matmul(x, self.kernel)

    def get_config(self):
        return {**super().get_config(), "units": self.units}

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store["calls"] = np.asarray(self.calls)

    def load_own_variables(self, store):
        self.calls = np.asarray(store["calls"])
        self.kernel.assign(store["0"])

    def save_assets(self, dir_path):
        with open(os.path.join(dir_path, "vocab.txt"), "w") as f:
            f.write("\n".join(self.vocab))

    def load_assets(self, dir_path):
        with open(os.path.join(dir_path, "vocab.txt")) as f:
            self.vocab = f.read().split("\n")

    def get_build_config(self):
        if not self.built:
            return None
        return {"input_shape": list(self.input_shape), "note": "mine"}

    def build_from_config(self, config):
        self.built_with = config
        super().build_from_config(config)


def _model():
    inputs = keras.Input(shape=(4,))
    layer = Counter(3, name="counter")
    model = keras.Model(inputs, keras.layers.Dense(2)(layer(inputs)))
    layer.calls = np.asarray(7, dtype="int64")
    layer.vocab = ["a", "b", "c"]
    return model, layer


X = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")


@pytest.mark.parametrize("suffix", [".keras", ".gflow"])
def test_custom_hooks_round_trip(tmp_path, suffix):
    model, _ = _model()
    path = tmp_path / f"m{suffix}"
    model.save(path)
    loaded = keras.models.load_model(path)
    layer = loaded.get_layer("counter")
    assert int(layer.calls) == 7 and layer.vocab == ["a", "b", "c"]
    np.testing.assert_array_equal(loaded.predict(X, verbose=0), model.predict(X, verbose=0))
    assert layer.built_with == {"input_shape": [None, 4], "note": "mine"}


@pytest.mark.parametrize("suffix", [".keras", ".gflow", ".weights.h5"])
def test_hooks_run_in_load_weights(tmp_path, suffix):
    model, _ = _model()
    path = tmp_path / f"m{suffix}"
    model.save_weights(path) if suffix == ".weights.h5" else model.save(path)
    fresh, layer = _model()
    layer.calls, layer.vocab = np.asarray(0), []
    fresh.load_weights(path)
    assert int(layer.calls) == 7
    assert layer.vocab == ([] if suffix == ".weights.h5" else ["a", "b", "c"])  # weights files carry no assets
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_keras_paths_and_store_keys(tmp_path):
    model, _ = _model()
    model.save_weights(tmp_path / "w.weights.h5")
    with h5py.File(tmp_path / "w.weights.h5", "r") as f:
        assert sorted(f["layers/counter/vars"].keys()) == ["0", "calls"]
        assert f["layers/counter/vars"].attrs["name"] == "counter"
        assert sorted(f["layers/dense/vars"].keys()) == ["0", "1"]
    model.save(tmp_path / "m.keras")
    assert "assets/layers/counter/vocab.txt" in zipfile.ZipFile(tmp_path / "m.keras").namelist()


@pytest.mark.parametrize("suffix", [".keras", ".gflow", ".weights.h5"])
def test_failed_hook_leaves_the_model_unchanged(tmp_path, suffix):
    model, _ = _model()
    path = tmp_path / f"m{suffix}"
    model.save_weights(path) if suffix == ".weights.h5" else model.save(path)
    fresh, layer = _model()
    before = [w.copy() for w in fresh.get_weights()]

    def broken(store):
        layer.kernel.assign(np.zeros(layer.kernel.shape))
        raise RuntimeError("disk on fire")

    layer.load_own_variables = broken  # instance attribute: the class still overrides the hook
    with pytest.raises(ModelFileError, match="disk on fire"):
        fresh.load_weights(path)
    for a, b in zip(fresh.get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_wrong_variable_count_is_refused_before_any_change(tmp_path):
    a = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    b = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(4), keras.layers.Dense(2, use_bias=False)])
    a.save_weights(tmp_path / "a.weights.h5")
    before = [w.copy() for w in b.get_weights()]
    with pytest.raises(ModelFileError):
        b.load_weights(tmp_path / "a.weights.h5")
    for x, y in zip(b.get_weights(), before):
        np.testing.assert_array_equal(x, y)


@keras.saving.register_keras_serializable(package="hooks_test")
class CompiledModel(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = keras.layers.Dense(2)
        self.restored = None

    def call(self, x):
        return self.dense(x)

    def get_compile_config(self):
        return {"my_lr": 0.25}

    def compile_from_config(self, config):
        self.restored = config
        self.compile(optimizer=keras.optimizers.SGD(config["my_lr"]), loss="mse")


@pytest.mark.parametrize("suffix", [".keras", ".gflow"])
def test_compile_config_hooks(tmp_path, suffix):
    model = CompiledModel()
    model.compile(optimizer="sgd", loss="mse")
    model.fit(X, np.zeros((5, 2), "float32"), epochs=1, verbose=0)
    model.save(tmp_path / f"m{suffix}")
    loaded = keras.models.load_model(tmp_path / f"m{suffix}")
    assert loaded.restored == {"my_lr": 0.25}
    assert isinstance(loaded.optimizer, keras.optimizers.SGD)  # its saved state (learning rate too) then loads
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-6)


def test_default_hooks_match_keras_semantics():
    layer = keras.layers.BatchNormalization()
    layer.build_from_config({"input_shape": [None, 3]})
    store = {}
    layer.save_own_variables(store)
    assert sorted(store) == ["0", "1", "2", "3"]  # gamma, beta, then moving mean and variance
    assert layer.get_build_config() == {"input_shape": [None, 3]}
    other = keras.layers.BatchNormalization()
    other.build_from_config(layer.get_build_config())
    assert other.built
    store["0"] = np.full(3, 2.0)
    other.load_own_variables(store)
    np.testing.assert_array_equal(other.gamma.numpy(), np.full(3, 2.0, "float32"))
    with pytest.raises(ValueError, match="expected 4 variables, but received 3"):
        other.load_own_variables({k: store[k] for k in "012"})


def test_model_checkpoint_keras_file_loads_weights(tmp_path):
    model = keras.Sequential([keras.layers.Dense(4, input_shape=(4,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    path = tmp_path / "best.keras"
    model.fit(X, np.ones((5, 1), "float32"), epochs=1, verbose=0,
              callbacks=[keras.callbacks.ModelCheckpoint(path)])
    fresh = keras.Sequential([keras.layers.Dense(4, input_shape=(4,)), keras.layers.Dense(1)])
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.predict(X, verbose=0), model.predict(X, verbose=0))


def test_weights_file_kinds(tmp_path):
    model = keras.Sequential([keras.layers.Dense(4, input_shape=(4,)), keras.layers.Dense(1)])
    model.save_weights(tmp_path / "w.weights.h5")
    assert (tmp_path / "w.weights.h5").read_bytes()[:8] == b"\x89HDF\r\n\x1a\n"
    model.save_weights(tmp_path / "w.weights.safetensors")
    keys, _, _ = keras.saving.weights_from_bytes((tmp_path / "w.weights.safetensors").read_bytes(), "w")
    assert keys == [w.name for w in model.weights]
    with pytest.raises(ValueError, match="model.save"):
        model.save_weights(tmp_path / "w.keras")


def test_h5_without_h5py_names_the_extra(tmp_path, monkeypatch):
    model = keras.Sequential([keras.layers.Dense(4, input_shape=(4,))])
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(ImportError, match=r"keras-files"):
        model.save_weights(tmp_path / "w.weights.h5")
    assert not (tmp_path / "w.weights.h5").exists()


def test_input_shape_saves_an_input_layer(tmp_path):
    model = keras.Sequential([keras.layers.Dense(4, input_shape=(3,)), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    config = json.loads(zipfile.ZipFile(tmp_path / "m.keras").read("config.json"))
    layers = config["config"]["layers"]
    assert layers[0]["class_name"] == "InputLayer" and layers[0]["config"]["batch_shape"] == [None, 3]
    assert all("batch_input_shape" not in entry["config"] for entry in layers)
    again = keras.models.load_model(tmp_path / "m.keras")
    x = X[:, :3]
    np.testing.assert_array_equal(again.predict(x, verbose=0), model.predict(x, verbose=0))


def test_unsafe_asset_names_are_refused(tmp_path):
    model, _ = _model()
    model.save(tmp_path / "m.gflow")
    with zipfile.ZipFile(tmp_path / "m.gflow", "a") as zf:
        zf.writestr("assets/../evil.txt", b"x")
    with pytest.raises(ModelFileError, match="unsafe name"):
        keras.models.load_model(tmp_path / "m.gflow")


def test_utils_aliases():
    for name in ("register_keras_serializable", "deserialize_keras_object", "serialize_keras_object",
                 "custom_object_scope", "CustomObjectScope", "get_custom_objects", "get_registered_name",
                 "get_registered_object"):
        assert getattr(keras.utils, name) is getattr(keras.saving, name)
    assert keras.utils.get_registered_name(Counter) == "hooks_test>Counter"
    assert keras.utils.get_registered_object("hooks_test>Counter") is Counter
    with keras.utils.custom_object_scope({"Mine": Counter}):
        assert keras.utils.get_registered_object("Mine") is Counter  # Keras: scopes are not the global dict
    entry = keras.utils.serialize_keras_object(Counter(2))
    assert entry["registered_name"] == "hooks_test>Counter"
    assert keras.utils.deserialize_keras_object(entry).units == 2


@keras.saving.register_keras_serializable(package="hooks_test")
def halved_mse(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_pred - y_true), axis=-1) / 2


def test_functions_and_containers_serialize_as_keras():
    """Keras 3: a registered function is ``{"class_name": "function", "config": "package>name"}``; lists and
    dicts are serialized item by item; strings come back as they are unless registered."""
    entry = keras.saving.serialize_keras_object({"loss": halved_mse, "metrics": ["accuracy", halved_mse], "n": 2})
    assert entry["loss"] == {"module": __name__, "class_name": "function", "config": "hooks_test>halved_mse",
                             "registered_name": "hooks_test>halved_mse"}
    json.dumps(entry)
    back = keras.saving.deserialize_keras_object(entry)
    assert back == {"loss": halved_mse, "metrics": ["accuracy", halved_mse], "n": 2}
    assert keras.saving.deserialize_keras_object("SGD") == "SGD"
    with pytest.raises(TypeError, match="register"):
        keras.saving.serialize_keras_object(lambda x: x)


def test_free_variable_is_a_layer_weight():
    """A keras.Variable assigned to a layer attribute is one of its weights (first, when made in __init__);
    a Dense subclass's default save_own_variables still stores only the kernel and bias, as Keras's."""

    class Scaled(keras.layers.Dense):
        def __init__(self, units, **kwargs):
            super().__init__(units, **kwargs)
            self.scale = keras.Variable(np.ones((units,)), name="scale", dtype="float32")

    class Plain(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.v = keras.Variable(np.zeros((2,)), name="v", dtype="float32")

    layer = Scaled(3)
    layer.build((None, 4))
    assert [w.name for w in layer.weights][0] == "scale" and len(layer.weights) == 3
    store = {}
    layer.save_own_variables(store)
    assert sorted(store) == ["0", "1"] and store["0"].shape == (4, 3)
    plain = Plain()
    assert plain.weights == [plain.v]
    store = {}
    plain.save_own_variables(store)
    assert list(store) == ["0"]
