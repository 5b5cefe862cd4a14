"""gradflow.utils.FeatureSpace: Keras's structured-data utility on NumPy (no tf.data)."""
import numpy as np
import pytest
from keras_coverage import case_module

import gradflow
from gradflow.utils import FeatureSpace, PyDataset

RAW = {"float_values": [0.0, 0.1, 0.2, 0.3], "string_values": ["zero", "one", "two", "three"],
       "int_values": [0, 1, 2, 3]}


def _cases():
    return case_module("fspace")


def _space(output_mode="concat", **kwargs):
    return FeatureSpace(features={"float_values": "float_normalized", "string_values": "string_categorical",
                                  "int_values": "integer_categorical"},
                        crosses=[("string_values", "int_values")], output_mode=output_mode, **kwargs)


def test_same_as_keras_composition_and_tutorial(real_keras):
    _cases().feature_space(real_keras, gradflow)


def test_tutorial_hand_computed():
    space, expected = _cases().tutorial_expected(gradflow)
    got = space(_cases().TABLE)
    assert got.dtype.name == "float32" and got.shape == expected.shape
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)
    # keras-io: a model on the encoded features trains, and its graph computes the eager encoding
    inputs, encoded = space.get_inputs(), space.get_encoded_features()
    assert list(encoded.shape) == [None, expected.shape[1]]
    x = {name: np.asarray(v)[:, None] for name, v in _cases().TABLE.items()}
    x["age"], x["chol"] = x["age"].astype("float32"), x["chol"].astype("float32")
    np.testing.assert_allclose(gradflow.Model(inputs, encoded)(x).numpy(), expected, rtol=1e-5, atol=1e-5)
    # keras-io: train on the encoded features, then serve raw dicts through an inference model
    training_model = gradflow.Model(encoded, gradflow.layers.Dense(1, activation="sigmoid")(encoded))
    training_model.compile(optimizer="adam", loss="binary_crossentropy")
    history = training_model.fit(got.numpy(), np.array([1, 0, 1, 0, 0, 1.0]), epochs=1, batch_size=3, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    inference_model = gradflow.Model(inputs, training_model(encoded))
    np.testing.assert_allclose(inference_model.predict(x, verbose=0), training_model.predict(got.numpy(), verbose=0),
                               rtol=1e-5, atol=1e-6)


def test_docstring_example_concat_dict_and_scalars():
    space = _space()
    space.adapt(RAW)
    out = space(RAW)
    assert out.shape == (4, 1 + 5 + 5 + 32) and out.dtype.name == "float32"
    # sorted names, then crosses: float_values, int_values, string_values, string_values_X_int_values
    np.testing.assert_allclose(out.numpy()[:, 0], (np.array(RAW["float_values"]) - 0.15) / np.std(RAW["float_values"]),
                               rtol=1e-5)
    assert out.numpy()[:, 1:].sum(axis=1).tolist() == [3.0] * 4
    single = space({"float_values": 0.1, "string_values": "one", "int_values": 1})
    np.testing.assert_allclose(single.numpy(), out.numpy()[1], rtol=1e-6)
    assert set(space.preprocessors) == set(RAW) and "string_values_X_int_values" in space.crossers

    fs = FeatureSpace
    ints = FeatureSpace(features={"string_values": fs.string_categorical(output_mode="int"),
                                  "int_values": fs.integer_categorical(output_mode="int")},
                        crosses=[fs.cross(feature_names=("string_values", "int_values"), crossing_dim=32,
                                          output_mode="int")], output_mode="dict")
    ints_data = {k: RAW[k] for k in ("string_values", "int_values")}
    ints.adapt(ints_data)
    got = ints(ints_data)
    assert sorted(got) == ["int_values", "string_values", "string_values_X_int_values"]
    assert got["int_values"].numpy()[:, 0].tolist() == [4, 3, 2, 1]  # ties: larger value first
    assert got["string_values"].numpy().dtype.kind == "i" and got["string_values"].shape == (4, 1)
    crossed = gradflow.layers.HashedCrossing(32)((got["string_values"].numpy(), got["int_values"].numpy()))
    np.testing.assert_array_equal(got["string_values_X_int_values"].numpy(), crossed.numpy())


class _Batches(PyDataset):
    def __init__(self):
        super().__init__()
        self.cols = {k: np.asarray(v) for k, v in RAW.items()}

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return {k: v[2 * i:2 * i + 2] for k, v in self.cols.items()}, np.zeros(2)


@pytest.mark.parametrize("source", ["tuples", "pydataset", "generator", "unbatched"])
def test_adapt_from_batches_matches_dict(source):
    ref = _space()
    ref.adapt(RAW)
    cols = {k: np.asarray(v) for k, v in RAW.items()}
    data = {"tuples": [({k: v[i:i + 2] for k, v in cols.items()}, np.zeros(2)) for i in (0, 2)],
            "pydataset": _Batches(),
            "generator": ({k: v[i:i + 2] for k, v in cols.items()} for i in (0, 2)),
            "unbatched": [{k: v[i] for k, v in cols.items()} for i in range(4)]}[source]
    space = _space()
    space.adapt(data)
    np.testing.assert_allclose(space(RAW).numpy(), ref(RAW).numpy(), rtol=1e-6)
    assert space.preprocessors["string_values"].get_vocabulary() == \
        ref.preprocessors["string_values"].get_vocabulary()


def test_hashed_custom_and_discretized_features():
    fs = FeatureSpace
    text = gradflow.layers.TextVectorization(output_mode="tf_idf")
    space = FeatureSpace(features={"s": fs.string_hashed(num_bins=4), "i": fs.integer_hashed(num_bins=3),
                                   "t": fs.feature(dtype="string", preprocessor=text, output_mode="float"),
                                   "d": fs.float_discretized(num_bins=None, bin_boundaries=[0.0, 1.0])},
                         output_mode="dict")
    data = {"s": ["a", "b", "c"], "i": [5, 6, 7], "t": ["1st string", "2nd string", "3rd string"],
            "d": [-1.0, 0.5, 2.0]}
    space.adapt(data)
    out = space(data)
    hashed = gradflow.layers.Hashing(num_bins=4)(np.array(data["s"])[:, None]).numpy()[:, 0]
    np.testing.assert_array_equal(out["s"].numpy(), np.eye(4)[hashed])
    assert out["i"].shape == (3, 3) and out["t"].shape[0] == 3 and out["t"].dtype.name == "float32"
    np.testing.assert_array_equal(out["d"].numpy(), np.eye(3))  # Keras leaves these unencoded and fails


def test_errors_and_config_round_trip():
    with pytest.raises(ValueError, match="cannot be None or empty"):
        FeatureSpace(features={})
    with pytest.raises(ValueError, match="output_mode"):
        _space(output_mode="stack")
    with pytest.raises(ValueError, match="unknown features"):
        FeatureSpace(features={"a": "float"}, crosses=[("a", "b")])
    with pytest.raises(ValueError, match="Invalid feature type"):
        FeatureSpace(features={"a": "double"})
    space = _space()
    with pytest.raises(ValueError, match="adapt"):
        space(RAW)
    space.adapt(RAW)
    with pytest.raises(ValueError, match="only be called with a dict"):
        space([1, 2])
    with pytest.raises(ValueError, match="Cannot concatenate"):
        FeatureSpace(features={"i": FeatureSpace.integer_hashed(4, output_mode="int")}).get_encoded_features()
    config = space.get_config()
    again = FeatureSpace.from_config(config)
    assert again.get_config() == config and again.crosses[0].name == "string_values_X_int_values"
    assert isinstance(again.preprocessors["string_values"], gradflow.layers.StringLookup)
    entry = gradflow.saving.serialize_keras_object(space)
    assert isinstance(gradflow.saving.deserialize_keras_object(entry), FeatureSpace)


def test_model_on_encoded_features_saves(tmp_path):
    space = _space()
    space.adapt(RAW)
    model = gradflow.Model(space.get_inputs(), gradflow.layers.Dense(1)(space.get_encoded_features()))
    x = {"float_values": np.array(RAW["float_values"], "float32")[:, None],
         "string_values": np.array(RAW["string_values"])[:, None], "int_values": np.array(RAW["int_values"])[:, None]}
    path = tmp_path / "fs_model.keras"
    model.save(path)
    again = gradflow.models.load_model(path)
    np.testing.assert_allclose(again(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_feature_space_saves_and_loads(tmp_path):
    data = dict(RAW, d=[1.0, 5.0, 2.0, 7.0], f=[1.0, 2.0, 3.0, 4.0])
    space = FeatureSpace(features={"float_values": "float_normalized", "string_values": "string_categorical",
                                   "int_values": "integer_categorical", "f": "float",
                                   "d": FeatureSpace.float_discretized(3)},
                         crosses=[("string_values", "int_values")])
    space.adapt(data)
    space.save(tmp_path / "featurespace.keras")
    again = gradflow.models.load_model(tmp_path / "featurespace.keras")
    assert isinstance(again, FeatureSpace)
    np.testing.assert_array_equal(again(data).numpy(), space(data).numpy())
    assert again.preprocessors["string_values"].get_vocabulary() == \
        space.preprocessors["string_values"].get_vocabulary()
