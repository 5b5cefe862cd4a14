"""Differential case: ``utils.FeatureSpace`` (worktree fspace).

Keras's FeatureSpace adapts and calls through tf.data, which the test machine lacks, and its lookup and
hashing layers need TensorFlow too. So the case checks gradflow's FeatureSpace three ways:

* the numeric features against the same composition of Keras's own layers on the torch backend
  (Normalization adapted on the same column, Rescaling, Discretization + CategoryEncoding(multi_hot),
  concatenated in sorted-name order), values, dtype and shape, in ``concat`` and ``dict`` modes;
* its config against the config of Keras's FeatureSpace built on torch with the same float features;
* the keras-io tutorial ("Structured data classification with FeatureSpace") on a small synthetic table,
  against outputs computed by hand (lookup vocabularies by frequency, normalization, bins, crosses).

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable.
"""
import numpy as np
from keras_coverage import case

#: a small table in the shape of keras-io's heart-disease data (distinct frequencies: no vocabulary ties)
TABLE = {
    "sex": [1, 0, 1, 1, 0, 1],
    "cp": [3, 3, 3, 1, 1, 2],
    "thal": ["fixed", "normal", "normal", "reversible", "normal", "reversible"],
    "age": [63.0, 41.0, 57.0, 52.0, 45.0, 70.0],
    "chol": [233.0, 204.0, 354.0, 199.0, 250.0, 268.0],
}
NUMERIC = {
    "chol": np.array([233.0, 204.0, 354.0, 199.0, 250.0, 268.0], "float32"),
    "oldpeak": np.array([2.3, 1.4, 0.6, 0.0, 3.1, 1.0], "float32"),
    "age": np.array([63.0, 41.0, 57.0, 52.0, 45.0, 70.0], "float32"),
    "slope": np.array([1.0, 2.0, 0.5, 3.0, 2.5, 1.5], "float32"),
}


def _np(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _same(ours, theirs, rtol=1e-6, atol=1e-6):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _numeric_space(gf, output_mode):
    fs = gf.utils.FeatureSpace
    return fs(features={"chol": "float_normalized", "oldpeak": fs.float_rescaled(scale=0.5, offset=-1.0),
                        "age": fs.float_discretized(num_bins=3), "slope": "float"}, output_mode=output_mode)


def _keras_numeric(k, space):
    """Keras's layers composed as Keras's FeatureSpace composes them, each feature a (n, 1) column."""
    col = {name: v[:, None] for name, v in NUMERIC.items()}
    norm = k.layers.Normalization(axis=-1)
    norm.adapt(col["chol"])
    bins = k.layers.Discretization(bin_boundaries=list(space.preprocessors["age"].bin_boundaries))
    one_hot = k.layers.CategoryEncoding(num_tokens=3, output_mode="multi_hot")
    return {"age": one_hot(bins(col["age"])), "chol": norm(col["chol"]),
            "oldpeak": k.layers.Rescaling(scale=0.5, offset=-1.0)(col["oldpeak"]), "slope": col["slope"]}


def _config_summary(config):
    feats = {name: (entry["config"]["dtype"], entry["config"]["output_mode"],
                    entry["config"]["preprocessor"]["class_name"])
             for name, entry in config["features"].items()}
    rest = {key: value for key, value in config.items() if key not in ("features", "crosses")}
    return feats, rest, len(config["crosses"])


def tutorial_expected(gf):
    """The tutorial's FeatureSpace on TABLE, and its concat output computed by hand."""
    fs = gf.utils.FeatureSpace
    space = fs(features={"sex": "integer_categorical", "cp": "integer_categorical", "thal": "string_categorical",
                         "age": fs.float_discretized(num_bins=3), "chol": "float_normalized"},
               crosses=[fs.cross(feature_names=("sex", "age"), crossing_dim=8),
                        fs.cross(feature_names=("thal", "cp"), crossing_dim=4)],
               output_mode="concat")
    space.adapt(TABLE)
    n = len(TABLE["sex"])
    eye = np.eye
    # vocabularies by descending frequency, index 0 the OOV token
    sex_idx = np.array([{1: 1, 0: 2}[v] for v in TABLE["sex"]])
    cp_idx = np.array([{3: 1, 1: 2, 2: 3}[v] for v in TABLE["cp"]])
    thal_idx = np.array([{"normal": 1, "reversible": 2, "fixed": 3}[v] for v in TABLE["thal"]])
    boundaries = space.preprocessors["age"].bin_boundaries
    age_bin = np.digitize(np.array(TABLE["age"], "float32"), boundaries)
    chol = np.array(TABLE["chol"], np.float64)
    chol_norm = (chol - chol.mean()) / chol.std()
    crossing = gf.layers.HashedCrossing
    sex_x_age = _np(crossing(8)((sex_idx[:, None], age_bin[:, None].astype("int32"))))[:, 0]
    thal_x_cp = _np(crossing(4)((thal_idx[:, None], cp_idx[:, None])))[:, 0]
    expected = np.concatenate([eye(3)[age_bin], chol_norm[:, None], eye(4)[cp_idx], eye(3)[sex_idx],
                               eye(4)[thal_idx], eye(8)[sex_x_age], eye(4)[thal_x_cp]], axis=1)
    assert expected.shape == (n, 3 + 1 + 4 + 3 + 4 + 8 + 4)
    return space, expected.astype("float32")


@case("utils", "FeatureSpace")
def feature_space(k, gf):
    data = {name: v.tolist() for name, v in NUMERIC.items()}
    # concat: the same composition of Keras's layers on torch, sorted by name
    space = _numeric_space(gf, "concat")
    space.adapt(data)
    theirs = _keras_numeric(k, space)
    want = np.concatenate([_np(theirs[name]) for name in sorted(theirs)], axis=-1)
    got = space({name: v for name, v in NUMERIC.items()})
    _same(got, want, rtol=1e-5, atol=1e-5)
    # dict mode: each feature as Keras's layer gives it
    space_d = _numeric_space(gf, "dict")
    space_d.adapt(data)
    got_d = space_d(NUMERIC)
    assert sorted(got_d) == sorted(theirs)
    for name in theirs:
        _same(got_d[name], theirs[name], rtol=1e-5, atol=1e-5)
    # the functional graph computes what the eager call computes
    model = gf.Model(space.get_inputs(), space.get_encoded_features())
    _same(model({name: v[:, None] for name, v in NUMERIC.items()}), got)
    # config: the same features, dtypes, modes and preprocessors as Keras's FeatureSpace's
    kfs = k.utils.FeatureSpace
    keras_space = kfs(features={"chol": "float_normalized", "oldpeak": kfs.float_rescaled(scale=0.5, offset=-1.0),
                                "age": kfs.float_discretized(num_bins=3), "slope": "float"}, output_mode="concat")
    ours_config = space.get_config()
    assert _config_summary(ours_config) == _config_summary(keras_space.get_config())
    assert gf.utils.FeatureSpace.from_config(ours_config).get_config() == ours_config
    # keras-io's tutorial on a small table, against hand-computed outputs
    tutorial, expected = tutorial_expected(gf)
    _same(tutorial(TABLE), expected, rtol=1e-5, atol=1e-5)
