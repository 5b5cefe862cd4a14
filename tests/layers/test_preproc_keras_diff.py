"""The NumPy-native preprocessing layers against live Keras 3 (torch backend), where TensorFlow imports.

Keras runs StringLookup, IntegerLookup, TextVectorization, Hashing and HashedCrossing only with
TensorFlow installed (its lookup tables and hashes are TensorFlow ops); without it this module skips.
CategoryEncoding and Discretization run without TensorFlow and are compared in tests/keras_cases.
Each case runs the same arguments and inputs through both and compares values, dtypes, shapes,
vocabularies and configs; the last ones load each library's .keras file in the other.
"""
import importlib.util

import numpy as np
import pytest

import gradflow as gf

pytestmark = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                reason="Keras's lookup, text and hashing layers need TensorFlow, not installed here")

CORPUS = np.array(["The cat sat on the mat.", "The dog ate my homework!", "Cats, dogs & birds: ALL pets?",
                   "a a a b b c", "Émile était là, à l'école"])
TEXT = np.array([["the cat ate the bird"], ["Unknown words here, mat?"], ["a"], ["École"]])
WORDS = np.array([["a", "c", "d", "d"], ["d", "z", "b", "z"], ["", "b", "q", "a"]])
INTS = np.array([[12, 1138, 42, 42], [42, 7, 36, 7], [0, 36, 1000, 12]])


def _np(out):
    if isinstance(out, gf.Tensor):
        return out.numpy()
    if hasattr(out, "detach"):
        return out.detach().cpu().numpy()
    return np.asarray(out)


def _same(ours, theirs, what):
    a, b = _np(ours), _np(theirs)
    assert a.shape == b.shape, (what, a.shape, b.shape)
    if b.dtype.kind in "OSU":
        b = np.array([v.decode() if isinstance(v, bytes) else v for v in b.ravel().tolist()], dtype=object)
        assert a.ravel().tolist() == b.tolist(), what
        return
    assert a.dtype == b.dtype, (what, a.dtype, b.dtype)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6, err_msg=str(what))


def _config(layer):
    config = dict(layer.get_config())
    config.pop("name", None)
    dtype = config.pop("dtype", None)
    if isinstance(dtype, dict):
        dtype = dtype.get("config", {}).get("name")
    return config, dtype


LOOKUP_CASES = [
    ("StringLookup", {}, WORDS, True),
    ("StringLookup", {"max_tokens": 4}, WORDS, True),
    ("StringLookup", {"mask_token": ""}, WORDS, True),
    ("StringLookup", {"num_oov_indices": 3}, WORDS, True),
    ("StringLookup", {"num_oov_indices": 3, "salt": 7}, WORDS, True),
    ("StringLookup", {"num_oov_indices": 0}, WORDS, True),
    ("StringLookup", {"output_mode": "one_hot"}, WORDS[:, :1], True),
    ("StringLookup", {"output_mode": "multi_hot", "mask_token": ""}, WORDS, True),
    ("StringLookup", {"output_mode": "count"}, WORDS, True),
    ("StringLookup", {"output_mode": "tf_idf"}, WORDS, True),
    ("StringLookup", {"output_mode": "count", "pad_to_max_tokens": True, "max_tokens": 9}, WORDS, True),
    ("StringLookup", {"output_mode": "tf_idf", "pad_to_max_tokens": True, "max_tokens": 9}, WORDS, True),
    ("StringLookup", {"vocabulary": ["a", "b", "c", "d"]}, WORDS, False),
    ("StringLookup", {"vocabulary": ["[UNK]", "a", "b"], "output_mode": "tf_idf", "idf_weights": [.5, .1, .2]},
     WORDS, False),
    ("IntegerLookup", {}, INTS, True),
    ("IntegerLookup", {"mask_token": 0, "max_tokens": 5}, INTS, True),
    ("IntegerLookup", {"num_oov_indices": 3}, INTS, True),
    ("IntegerLookup", {"num_oov_indices": 3, "oov_method": "farmhash"}, INTS, True),
    ("IntegerLookup", {"num_oov_indices": 3, "oov_method": "farmhash", "salt": [1, 2]}, INTS, True),
    ("IntegerLookup", {"output_mode": "multi_hot"}, INTS, True),
    ("IntegerLookup", {"output_mode": "tf_idf"}, INTS, True),
    ("IntegerLookup", {"vocabulary": [12, 36, 1138, 42], "output_mode": "count"}, INTS, False),
]


@pytest.mark.parametrize("name,kwargs,data,adapt", LOOKUP_CASES,
                         ids=[f"{c[0]}-{'-'.join(map(str, c[1].values()))}" for c in LOOKUP_CASES])
def test_lookup_layers_match_keras(real_keras, name, kwargs, data, adapt):
    k = real_keras
    ours, theirs = getattr(gf.layers, name)(**kwargs), getattr(k.layers, name)(**kwargs)
    if adapt:
        ours.adapt(data)
        theirs.adapt(data)
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    assert ours.vocabulary_size() == theirs.vocabulary_size()
    if kwargs.get("num_oov_indices") == 0 and not adapt:
        return
    probe = data if kwargs.get("num_oov_indices") != 0 else data[:1]
    _same(ours(probe), theirs(probe), (name, kwargs))
    assert _config(ours) == _config(theirs)
    if kwargs.get("output_mode", "int") == "int" and kwargs.get("num_oov_indices", 1) == 1:
        inverse = dict(kwargs, invert=True, vocabulary=ours.get_vocabulary(include_special_tokens=False))
        ids = _np(ours(probe))
        got, want = getattr(gf.layers, name)(**inverse)(ids), getattr(k.layers, name)(**inverse)(ids.ravel())
        assert _np(got).ravel().tolist() == [v.decode() if isinstance(v, bytes) else v for v in list(want)]


TEXT_CASES = [
    {}, {"max_tokens": 6}, {"output_sequence_length": 3}, {"output_sequence_length": 9}, {"standardize": "lower"},
    {"standardize": None}, {"standardize": "strip_punctuation"}, {"split": "character"}, {"ngrams": 2},
    {"ngrams": (1, 3)}, {"output_mode": "multi_hot"}, {"output_mode": "count"}, {"output_mode": "tf_idf"},
    {"output_mode": "count", "pad_to_max_tokens": True, "max_tokens": 30},
    {"output_mode": "tf_idf", "max_tokens": 8, "pad_to_max_tokens": True}, {"split": None},
    {"split": None, "output_mode": "multi_hot"}, {"output_mode": "multi_hot", "ngrams": 2},
]


@pytest.mark.parametrize("kwargs", TEXT_CASES, ids=[str(c) for c in TEXT_CASES])
def test_text_vectorization_matches_keras(real_keras, kwargs):
    ours, theirs = gf.layers.TextVectorization(**kwargs), real_keras.layers.TextVectorization(**kwargs)
    ours.adapt(CORPUS)
    theirs.adapt(CORPUS)
    assert ours.get_vocabulary() == theirs.get_vocabulary()
    _same(ours(TEXT), theirs(TEXT), kwargs)
    assert _config(ours) == _config(theirs)


HASH_CASES = [
    ("Hashing", {"num_bins": 3}, [["A"], ["B"], ["C"], ["D"], ["E"]]),
    ("Hashing", {"num_bins": 7, "mask_value": ""}, np.array([["a", ""], ["looooooooooooooooooooooooooooong", "é"]])),
    ("Hashing", {"num_bins": 5, "salt": [3, 9]}, np.array([[1, 2], [300, -4]])),
    ("Hashing", {"num_bins": 5, "output_mode": "count"}, np.array([[1.5, 2.0], [300.9, -4.2]], "float32")),
    ("Hashing", {"num_bins": 4, "output_mode": "one_hot"}, np.array([["x"], ["y"], ["z"]])),
    ("Hashing", {"num_bins": 4, "output_mode": "multi_hot", "mask_value": 0}, np.array([[0, 1, 2], [3, 4, 5]])),
    ("HashedCrossing", {"num_bins": 5}, (np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102]))),
    ("HashedCrossing", {"num_bins": 11, "output_mode": "one_hot"},
     (np.array([[1], [2], [-3]]), np.array([["x"], ["y"], ["z"]]), np.array([[7], [8], [9]]))),
]


@pytest.mark.parametrize("name,kwargs,data", HASH_CASES, ids=[f"{c[0]}-{c[1]}" for c in HASH_CASES])
def test_hashing_matches_keras(real_keras, name, kwargs, data):
    ours, theirs = getattr(gf.layers, name)(**kwargs), getattr(real_keras.layers, name)(**kwargs)
    _same(ours(data), theirs(data), (name, kwargs))
    assert _config(ours) == _config(theirs)


def test_keras_files_load_both_ways(real_keras, tmp_path):
    k = real_keras
    texts = CORPUS[:, None]
    for mode in ("int", "tf_idf"):
        inp = k.Input(shape=(1,), dtype="string")
        tv = k.layers.TextVectorization(output_mode=mode, output_sequence_length=5 if mode == "int" else None)
        tv.adapt(CORPUS)
        k.Model(inp, tv(inp)).save(tmp_path / f"k_{mode}.keras")
        want = _np(tv(texts))
        mine = gf.saving.load_model(tmp_path / f"k_{mode}.keras")
        _same(mine.predict(texts, verbose=0), want, ("keras -> gradflow", mode))
        mine.save(tmp_path / f"g_{mode}.keras")
        back = k.saving.load_model(tmp_path / f"g_{mode}.keras")
        _same(back.layers[1](texts), want, ("gradflow -> keras", mode))
