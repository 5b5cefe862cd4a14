"""The NumPy-native preprocessing layers against Keras 3.15's documented behaviour, without TensorFlow.

Each row of DOCSTRING_EXAMPLES is an example of the layer's docstring in Keras's source
(keras/src/layers/preprocessing/*.py) with the output written there; the dtype is the one Keras really
returns (TensorFlow's int64 for lookups and their counts: some docstrings print float32). The
comparison against a live Keras is tests/layers/test_preproc_keras_diff.py (it needs TensorFlow).
"""
import zipfile

import numpy as np
import pytest
from keras_coverage import load_cases

import gradflow as gf

L = gf.layers


def _adapted(layer, data):
    layer.adapt(data)
    return layer


def _set_vocab(layer, vocab, idf):
    layer.set_vocabulary(vocab, idf_weights=idf)
    return layer


V = ["a", "b", "c", "d"]
S = [["a", "c", "d"], ["d", "z", "b"]]
S4 = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
IV = [12, 36, 1138, 42]
I4 = np.array([[12, 1138, 42, 42], [42, 7, 36, 7]])

#: (name, thunk giving the output, expected values, expected dtype)
DOCSTRING_EXAMPLES = [
    ("string_vocab", lambda: L.StringLookup(vocabulary=V)(S), [[1, 3, 4], [4, 0, 2]], "int64"),
    ("string_adapt_call", lambda: _adapted(L.StringLookup(), S)(S), [[5, 3, 1], [1, 2, 4]], "int64"),
    ("string_two_oov", lambda: L.StringLookup(vocabulary=V, num_oov_indices=2)([["a", "c", "d"], ["m", "z", "b"]]),
     [[2, 4, 5], [0, 1, 3]], "int64"),
    ("string_one_hot", lambda: L.StringLookup(vocabulary=V, output_mode="one_hot")(["a", "b", "c", "d", "z"]),
     np.eye(5)[[1, 2, 3, 4, 0]], "int64"),
    ("string_multi_hot", lambda: L.StringLookup(vocabulary=V, output_mode="multi_hot")(S4),
     [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]], "int64"),
    ("string_count", lambda: L.StringLookup(vocabulary=V, output_mode="count")(S4),
     [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]], "int64"),
    ("string_tf_idf", lambda: _set_vocab(L.StringLookup(output_mode="tf_idf"), V, [0.25, 0.75, 0.6, 0.4])(S4),
     [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], "float32"),
    ("string_tf_idf_oov", lambda: _set_vocab(L.StringLookup(output_mode="tf_idf"), ["[UNK]"] + V,
                                             [0.9, 0.25, 0.75, 0.6, 0.4])(S4),
     [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], "float32"),
    ("string_invert", lambda: L.StringLookup(vocabulary=V, invert=True)([[1, 3, 4], [4, 0, 2]]),
     [["a", "c", "d"], ["d", "[UNK]", "b"]], None),
    ("string_round_trip", lambda: L.StringLookup(vocabulary=V, invert=True)(L.StringLookup(vocabulary=V)(S)),
     [["a", "c", "d"], ["d", "[UNK]", "b"]], None),
    ("integer_vocab", lambda: L.IntegerLookup(vocabulary=IV)(np.array([[12, 1138, 42], [42, 1000, 36]])),
     [[1, 3, 4], [4, 0, 2]], "int64"),
    ("integer_adapt_call", lambda: _adapted(L.IntegerLookup(), np.array([[12, 1138, 42], [42, 1000, 36]]))(
        np.array([[12, 1138, 42], [42, 1000, 36]])), [[5, 2, 1], [1, 3, 4]], "int64"),
    ("integer_two_oov", lambda: L.IntegerLookup(vocabulary=IV, num_oov_indices=2)(
        np.array([[12, 1138, 42], [37, 1000, 36]])), [[2, 4, 5], [1, 0, 3]], "int64"),
    ("integer_floormod", lambda: L.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4)(
        np.array([100, 300, 700, 1100, 1700, 2000])), [0, 0, 0, 0, 0, 0], "int64"),
    ("integer_farmhash", lambda: L.IntegerLookup(vocabulary=[10, 20, 30], num_oov_indices=4, oov_method="farmhash")(
        np.array([100, 300, 700, 1100, 1700, 2000])), [3, 3, 2, 2, 0, 1], "int64"),
    ("integer_one_hot", lambda: L.IntegerLookup(vocabulary=IV, output_mode="one_hot")(np.array([12, 36, 1138, 42, 7])),
     np.eye(5)[[1, 2, 3, 4, 0]], "int64"),
    ("integer_multi_hot", lambda: L.IntegerLookup(vocabulary=IV, output_mode="multi_hot")(I4),
     [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]], "int64"),
    ("integer_count", lambda: L.IntegerLookup(vocabulary=IV, output_mode="count")(I4),
     [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]], "int64"),
    ("integer_tf_idf", lambda: L.IntegerLookup(output_mode="tf_idf", vocabulary=IV, idf_weights=[0.25, 0.75, 0.6, 0.4])(
        I4), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], "float32"),
    ("integer_tf_idf_oov", lambda: L.IntegerLookup(output_mode="tf_idf", vocabulary=[-1] + IV,
                                                   idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])(I4),
     [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], "float32"),
    ("integer_invert", lambda: L.IntegerLookup(vocabulary=IV, invert=True)(np.array([[1, 3, 4], [4, 0, 2]])),
     [[12, 1138, 42], [42, -1, 36]], "int64"),
    ("text_adapt", lambda: _adapted(L.TextVectorization(max_tokens=5000, output_sequence_length=4),
                                    ["foo bar", "bar baz", "baz bada boom"])([["foo qux bar"], ["qux baz"]]),
     [[4, 1, 3, 0], [1, 2, 0, 0]], "int64"),
    ("hashing", lambda: L.Hashing(num_bins=3)([["A"], ["B"], ["C"], ["D"], ["E"]]), [[1], [0], [1], [1], [2]], "int64"),
    ("hashing_mask", lambda: L.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]]),
     [[1], [1], [0], [2], [2]], "int64"),
    ("hashing_salt_pair", lambda: L.Hashing(num_bins=3, salt=[133, 137])([["A"], ["B"], ["C"], ["D"], ["E"]]),
     [[1], [2], [1], [0], [2]], "int64"),
    ("hashing_salt", lambda: L.Hashing(num_bins=3, salt=133)([["A"], ["B"], ["C"], ["D"], ["E"]]),
     [[0], [0], [2], [1], [0]], "int64"),
    ("hashed_crossing", lambda: L.HashedCrossing(num_bins=5)((np.array(["A", "B", "A", "B", "A"]),
                                                               np.array([101, 101, 101, 102, 102]))),
     [1, 4, 1, 1, 3], "int64"),
    ("hashed_crossing_one_hot", lambda: L.HashedCrossing(num_bins=5, output_mode="one_hot")(
        (np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102]))),
     np.eye(5)[[1, 4, 1, 1, 3]], "float32"),
    ("category_one_hot", lambda: L.CategoryEncoding(num_tokens=4, output_mode="one_hot")([3, 2, 0, 1]),
     np.eye(4)[[3, 2, 0, 1]], "float32"),
    ("category_multi_hot", lambda: L.CategoryEncoding(num_tokens=4, output_mode="multi_hot")(
        [[0, 1], [0, 0], [1, 2], [3, 1]]), [[1, 1, 0, 0], [1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 1]], "float32"),
    ("category_count", lambda: L.CategoryEncoding(num_tokens=4, output_mode="count")(
        [[0, 1], [0, 0], [1, 2], [3, 1]], count_weights=np.array([[.1, .2], [.1, .1], [.2, .3], [.4, .2]])),
     [[.1, .2, 0, 0], [.2, 0, 0, 0], [0, .2, .3, 0], [0, .2, 0, .4]], "float32"),
    ("discretization", lambda: L.Discretization(bin_boundaries=[0.0, 1.0, 2.0])(
        np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])), [[0, 2, 3, 1], [1, 3, 2, 1]], "int32"),
    ("discretization_adapt", lambda: _adapted(L.Discretization(num_bins=4, epsilon=0.01),
                                              np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]]))(
        np.array([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])), [[0, 2, 3, 2], [1, 3, 3, 1]], "int32"),
]


@pytest.mark.parametrize("name,make,expected,dtype", DOCSTRING_EXAMPLES, ids=[r[0] for r in DOCSTRING_EXAMPLES])
def test_keras_docstring_examples(name, make, expected, dtype):
    out = make()
    assert isinstance(out, gf.Tensor)
    got = out.numpy()
    if dtype is None:
        assert got.tolist() == expected
        return
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    np.testing.assert_allclose(got, np.asarray(expected, dtype=np.float64), rtol=1e-6, atol=1e-6)


def test_vocabularies_learned_as_keras_documents():
    layer = _adapted(L.StringLookup(), S)
    assert layer.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    assert layer.get_vocabulary(include_special_tokens=False) == ["d", "z", "c", "b", "a"]
    assert layer.vocabulary_size() == 6
    assert _adapted(L.IntegerLookup(), np.array([[12, 1138, 42], [42, 1000, 36]])).get_vocabulary() == \
        [-1, 42, 1138, 1000, 36, 12]
    text = L.TextVectorization(max_tokens=5000, output_sequence_length=4,
                               vocabulary=["earth", "wind", "and", "fire"])
    assert text.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    masked = L.StringLookup(vocabulary=V, mask_token="")
    assert masked.get_vocabulary()[:2] == ["", "[UNK]"]
    np.testing.assert_array_equal(masked([["", "a", "q"]]).numpy(), [[0, 2, 1]])


def test_adapt_from_batches_and_files(tmp_path):
    batches = iter([np.array([["a", "b"]]), np.array([["a", "c"]])])
    layer = _adapted(L.StringLookup(max_tokens=3), batches)
    assert layer.get_vocabulary() == ["[UNK]", "a", "c"]  # max_tokens counts the OOV index; ties high to low
    path = tmp_path / "vocab.txt"
    path.write_text("earth\nwind\nfire\n")
    from_file = L.StringLookup(vocabulary=str(path))
    np.testing.assert_array_equal(from_file(["wind", "air"]).numpy(), [2, 0])
    assert from_file.get_config()["vocabulary"] is None  # a file's vocabulary is saved as an asset, as in Keras
    idf = _adapted(L.StringLookup(output_mode="tf_idf"), [["a", "a", "b"], ["a", "c", "c"]])
    want = np.log(1 + 2 / (1 + np.array([2.0, 1.0, 1.0])))  # "a" in two documents, "c" and "b" in one
    np.testing.assert_allclose(idf.idf_weights[1:], want, rtol=1e-6)
    np.testing.assert_allclose(idf.idf_weights[0], want.mean(), rtol=1e-6)


def test_text_vectorization_modes():
    corpus = ["The cat sat.", "The dog, the cat!"]
    tv = _adapted(L.TextVectorization(), corpus)
    assert tv.get_vocabulary() == ["", "[UNK]", "the", "cat", "sat", "dog"]
    np.testing.assert_array_equal(tv(["the bird sat"]).numpy(), [[2, 1, 4]])
    bigrams = _adapted(L.TextVectorization(ngrams=2, output_mode="count"), corpus)
    assert "the cat" in bigrams.get_vocabulary()
    assert bigrams(["the cat"]).numpy().dtype == np.int64
    chars = _adapted(L.TextVectorization(split="character", standardize=None), ["abba"])
    np.testing.assert_array_equal(chars(["ab"]).numpy(), [[3, 2]])  # b (twice... ties high to low) then a
    custom = L.TextVectorization(standardize=lambda x: np.char.upper(x), split=lambda x: [s.split("-") for s in x],
                                 vocabulary=["A", "B"])
    np.testing.assert_array_equal(custom(["a-b-c"]).numpy(), [[2, 3, 1]])
    tfidf = _adapted(L.TextVectorization(output_mode="tf_idf"), corpus)
    assert tfidf(["the"]).numpy().dtype == np.float32 and tfidf(["the"]).shape == (1, tfidf.vocabulary_size())


@pytest.mark.parametrize("cls,kwargs", [
    (L.StringLookup, {"vocabulary": V, "mask_token": "", "num_oov_indices": 2}),
    (L.IntegerLookup, {"vocabulary": IV, "output_mode": "multi_hot"}),
    (L.TextVectorization, {"vocabulary": V, "ngrams": 2, "output_sequence_length": 3}),
    (L.Hashing, {"num_bins": 4, "salt": 3, "mask_value": "x"}),
    (L.HashedCrossing, {"num_bins": 4, "output_mode": "one_hot"}),
    (L.CategoryEncoding, {"num_tokens": 4, "output_mode": "count"}),
    (L.Discretization, {"bin_boundaries": [0.0, 1.0], "output_mode": "one_hot"}),
])
def test_config_round_trip(cls, kwargs):
    layer = cls(**kwargs)
    config = layer.get_config()
    again = cls.from_config(config)
    assert again.get_config() == config


def test_pipeline_chains_and_round_trips():
    pipe = L.Pipeline([L.StringLookup(vocabulary=V), L.CategoryEncoding(num_tokens=5, output_mode="multi_hot")])
    out = pipe([["a", "b"], ["z", "z"]])
    np.testing.assert_array_equal(out.numpy(), [[0, 1, 1, 0, 0], [1, 0, 0, 0, 0]])
    again = L.Pipeline.from_config(pipe.get_config())
    np.testing.assert_array_equal(again([["a", "b"], ["z", "z"]]).numpy(), out.numpy())
    assert [type(x).__name__ for x in again.layers] == ["StringLookup", "CategoryEncoding"]


@pytest.mark.parametrize("make,match", [
    (lambda: L.StringLookup(sparse=True, output_mode="multi_hot"), "sparse=True is not supported"),
    (lambda: L.Hashing(num_bins=3, sparse=True, output_mode="one_hot"), "sparse=True is not supported"),
    (lambda: L.TextVectorization(ragged=True), "not supported"),
    (lambda: L.StringLookup(invert=True, output_mode="one_hot"), "must be `'int'` when `invert`"),
    (lambda: L.StringLookup(vocabulary=["a", "a"]), "repeated term"),
    (lambda: L.StringLookup(max_tokens=2, vocabulary=["a", "b"]), "larger than the maximum"),
    (lambda: L.StringLookup(output_mode="count")(["a"]), "must set the layer's vocabulary"),
    (lambda: L.Discretization(), "either `num_bins` or `bin_boundaries`"),
    (lambda: L.CategoryEncoding(num_tokens=None), "num_tokens must be set"),
    (lambda: L.StringLookup(vocabulary=V, num_oov_indices=0)(["q"]), "num_oov_indices=0"),
])
def test_keras_errors(make, match):
    with pytest.raises((ValueError, RuntimeError), match=match):
        make()


def _model(layer, head):
    inp = L.Input(shape=(1,), dtype="string")
    return gf.Model(inp, L.Dense(2)(head(layer(inp))))


@pytest.mark.parametrize("ext", [".keras", ".gradflow"])
def test_string_models_train_predict_and_save_vocabularies(tmp_path, ext):
    texts = np.array([["the cat sat"], ["a dog ran"], ["the dog sat on a mat"], ["cats and dogs"]])
    tv = _adapted(L.TextVectorization(output_sequence_length=5), texts[:, 0])
    model = _model(tv, lambda h: L.GlobalAveragePooling1D()(L.Embedding(20, 3)(h)))
    lookup = _adapted(L.StringLookup(output_mode="tf_idf"), [["a", "b"], ["a", "c"]])
    tfidf = _model(lookup, lambda h: h)
    for m, xs in ((model, texts), (tfidf, np.array([["a"], ["c"], ["zz"], ["b"]]))):
        m.compile(optimizer="adam", loss="mse")
        m.fit(xs, np.ones((4, 2), "float32"), epochs=1, verbose=0)
        before = m.predict(xs, verbose=0)
        path = tmp_path / f"m{id(m)}{ext}"
        m.save(path)
        loaded = gf.saving.load_model(path)
        np.testing.assert_allclose(loaded.predict(xs, verbose=0), before, rtol=1e-6)
        first = loaded.layers[1]
        assert first.get_vocabulary() == m.layers[1].get_vocabulary()
    names = zipfile.ZipFile(tmp_path / f"m{id(model)}{ext}").namelist()
    assert "assets/layers/text_vectorization/vocabulary.txt" in names


def test_strings_refused_for_numeric_inputs():
    model = gf.Sequential([L.Input(shape=(1,)), L.Dense(1)])
    with pytest.raises(TypeError, match="must hold numbers"):
        model.predict(np.array([["a"]]), verbose=0)


def test_coverage_cases_pass(real_keras):
    """The cases of tests/keras_cases/preproc.py (docstring examples, and live Keras where it needs no
    TensorFlow) pass: the coverage report counts them."""
    cases = load_cases()
    names = ("StringLookup", "IntegerLookup", "TextVectorization", "Hashing", "HashedCrossing", "CategoryEncoding",
             "Discretization", "Pipeline")
    for name in names:
        cases[("layers", name)](real_keras, gf)
