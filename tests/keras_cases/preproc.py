"""Differential cases: the NumPy-native preprocessing layers (lookup, text, hashing, encoding, Pipeline).

Keras runs StringLookup, IntegerLookup, TextVectorization, Hashing and HashedCrossing only through
TensorFlow, which the test machine lacks: their cases check the examples of Keras's docstrings (the
outputs printed there, Keras's real dtypes) and the config round trip. CategoryEncoding, Discretization
and Pipeline run in Keras on torch, so their cases compare with the live Keras on the same inputs.
tests/layers/test_preproc_keras_diff.py compares all of them with Keras where TensorFlow imports.
"""
import numpy as np
from keras_coverage import case


def _np(out):
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    return out.numpy() if hasattr(out, "numpy") else np.asarray(out)


def _check(out, expected, dtype):
    got = _np(out)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=1e-6, atol=1e-6)


def _round_trip(layer):
    config = layer.get_config()
    assert type(layer).from_config(config).get_config() == config


def _same(ours, theirs):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape and a.dtype == b.dtype, (a.shape, a.dtype, b.shape, b.dtype)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


V = ["a", "b", "c", "d"]
S4 = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]


@case("layers", "StringLookup")
def string_lookup(k, gf):
    L = gf.layers
    _check(L.StringLookup(vocabulary=V)([["a", "c", "d"], ["d", "z", "b"]]), [[1, 3, 4], [4, 0, 2]], "int64")
    adapted = L.StringLookup()
    adapted.adapt([["a", "c", "d"], ["d", "z", "b"]])
    assert adapted.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    _check(L.StringLookup(vocabulary=V, num_oov_indices=2)([["a", "c", "d"], ["m", "z", "b"]]),
           [[2, 4, 5], [0, 1, 3]], "int64")
    _check(L.StringLookup(vocabulary=V, output_mode="count")(S4), [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]], "int64")
    tfidf = L.StringLookup(output_mode="tf_idf")
    tfidf.set_vocabulary(V, idf_weights=[0.25, 0.75, 0.6, 0.4])
    _check(tfidf(S4), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], "float32")
    inverse = L.StringLookup(vocabulary=V, invert=True)([[1, 3, 4], [4, 0, 2]])
    assert inverse.numpy().tolist() == [["a", "c", "d"], ["d", "[UNK]", "b"]]
    _round_trip(L.StringLookup(vocabulary=V, mask_token="", output_mode="multi_hot"))


@case("layers", "IntegerLookup")
def integer_lookup(k, gf):
    L = gf.layers
    data = np.array([[12, 1138, 42], [42, 1000, 36]])
    _check(L.IntegerLookup(vocabulary=[12, 36, 1138, 42])(data), [[1, 3, 4], [4, 0, 2]], "int64")
    adapted = L.IntegerLookup()
    adapted.adapt(data)
    assert adapted.get_vocabulary() == [-1, 42, 1138, 1000, 36, 12]
    _check(adapted(data), [[5, 2, 1], [1, 3, 4]], "int64")
    _check(L.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4, oov_method="farmhash")(
        np.array([100, 300, 700, 1100, 1700, 2000])), [3, 3, 2, 2, 0, 1], "int64")
    _check(L.IntegerLookup(vocabulary=[12, 36, 1138, 42], invert=True)(np.array([[1, 3, 4], [4, 0, 2]])),
           [[12, 1138, 42], [42, -1, 36]], "int64")
    _round_trip(L.IntegerLookup(vocabulary=[12, 36], mask_token=0, output_mode="count"))


@case("layers", "TextVectorization")
def text_vectorization(k, gf):
    tv = gf.layers.TextVectorization(max_tokens=5000, output_sequence_length=4)
    tv.adapt(["foo bar", "bar baz", "baz bada boom"])
    _check(tv([["foo qux bar"], ["qux baz"]]), [[4, 1, 3, 0], [1, 2, 0, 0]], "int64")
    given = gf.layers.TextVectorization(max_tokens=5000, output_sequence_length=4,
                                        vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    _round_trip(given)


@case("layers", "Hashing")
def hashing(k, gf):
    inp = [["A"], ["B"], ["C"], ["D"], ["E"]]
    _check(gf.layers.Hashing(num_bins=3)(inp), [[1], [0], [1], [1], [2]], "int64")
    _check(gf.layers.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]]),
           [[1], [1], [0], [2], [2]], "int64")
    _check(gf.layers.Hashing(num_bins=3, salt=[133, 137])(inp), [[1], [2], [1], [0], [2]], "int64")
    _check(gf.layers.Hashing(num_bins=3, salt=133)(inp), [[0], [0], [2], [1], [0]], "int64")
    _round_trip(gf.layers.Hashing(num_bins=3, salt=133, output_mode="one_hot"))


@case("layers", "HashedCrossing")
def hashed_crossing(k, gf):
    feats = (np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102]))
    _check(gf.layers.HashedCrossing(num_bins=5)(feats), [1, 4, 1, 1, 3], "int64")
    _check(gf.layers.HashedCrossing(num_bins=5, output_mode="one_hot")(feats), np.eye(5)[[1, 4, 1, 1, 3]], "float32")
    _round_trip(gf.layers.HashedCrossing(num_bins=5))


@case("layers", "CategoryEncoding")
def category_encoding(k, gf):
    weights = np.array([[.1, .2], [.1, .1], [.2, .3], [.4, .2]], "float32")
    for mode, x in (("one_hot", np.array([3, 2, 0, 1])), ("one_hot", np.array([[3], [1]])),
                    ("multi_hot", np.array([[0, 1], [0, 0], [1, 2], [3, 1]])), ("multi_hot", np.array([0, 3, 3])),
                    ("count", np.array([[0, 1], [0, 0], [1, 2], [3, 1]]))):
        ours, theirs = gf.layers.CategoryEncoding(4, output_mode=mode), k.layers.CategoryEncoding(4, output_mode=mode)
        _same(ours(x), theirs(x))
        assert ours.compute_output_shape((None,) + x.shape[1:]) == theirs.compute_output_shape((None,) + x.shape[1:])
    x = np.array([[0, 1], [0, 0], [1, 2], [3, 1]])
    _same(gf.layers.CategoryEncoding(4, output_mode="count")(x, count_weights=weights),
          k.layers.CategoryEncoding(4, output_mode="count")(x, count_weights=weights))
    _round_trip(gf.layers.CategoryEncoding(4, output_mode="count"))


@case("layers", "Discretization")
def discretization(k, gf):
    x = np.random.default_rng(3).normal(size=(32, 3)).astype("float32")
    for kwargs in ({"bin_boundaries": [-0.5, 0.0, 1.0]}, {"num_bins": 4}, {"num_bins": 5, "epsilon": 0.1},
                   {"num_bins": 3, "output_mode": "one_hot"}, {"num_bins": 3, "output_mode": "count"},
                   {"bin_boundaries": [0.0], "output_mode": "multi_hot"}):
        ours, theirs = gf.layers.Discretization(**kwargs), k.layers.Discretization(**kwargs)
        if "num_bins" in kwargs:
            ours.adapt(x)
            theirs.update_state(x)  # what Keras's adapt does with an array (adapt itself checks for tf.data)
            theirs.finalize_state()
            np.testing.assert_allclose(ours.bin_boundaries, theirs.bin_boundaries, rtol=1e-6)
        probe = x[:, :1] if kwargs.get("output_mode") == "one_hot" else x
        _same(ours(probe), theirs(probe))
    _round_trip(gf.layers.Discretization(bin_boundaries=[0.0, 1.0]))


@case("layers", "Pipeline")
def pipeline(k, gf):
    x = np.array([[0.2, 1.7], [-3.0, 0.9]], "float32")

    def make(L):
        return L.Pipeline([L.Discretization(bin_boundaries=[0.0, 1.0]), L.CategoryEncoding(3, output_mode="count")])

    ours, theirs = make(gf.layers), make(k.layers)
    _same(ours(x), theirs(x))
    again = gf.layers.Pipeline.from_config(ours.get_config())
    _same(again(x), theirs(x))
