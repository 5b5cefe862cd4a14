"""IMDB movie reviews (25,000 train + 25,000 test, sentiment 0/1) as word-index sequences: Keras's
``imdb.npz`` (SHA-256 checked; its ragged arrays are read without general unpickling) and
``imdb_word_index.json``."""
from __future__ import annotations

import numpy as np

from ._keras_files import keras_file, load_npz
from ._sequences import cut_vocabulary, object_array, read_word_index, remove_long, shift

__all__ = ["load_data", "get_word_index"]

SHA256 = "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"
WORD_INDEX_MD5 = "bfafd718b763782e994055a2d397834f"


def load_data(path="imdb.npz", num_words=None, skip_top=0, maxlen=None, seed=113, start_char=1, oov_char=2,
              index_from=3, verify=None, **kwargs):
    """``(x_train, y_train), (x_test, y_test)``: x object arrays of int lists, y int labels, as Keras.

    Both splits are shuffled with ``seed``; indices shift by ``index_from``, ``start_char`` marks each
    start, sequences of ``maxlen`` or more are dropped, words outside ``[skip_top, num_words)`` become
    ``oov_char`` (or are removed when it is None)."""
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {kwargs}")
    f = load_npz(keras_file("imdb", "imdb.npz", SHA256, path, verify))
    x_train, labels_train = f["x_train"], f["y_train"]
    x_test, labels_test = f["x_test"], f["y_test"]
    rng = np.random.RandomState(seed)
    indices = np.arange(len(x_train))
    rng.shuffle(indices)
    x_train, labels_train = x_train[indices], labels_train[indices]
    indices = np.arange(len(x_test))
    rng.shuffle(indices)
    x_test, labels_test = x_test[indices], labels_test[indices]
    x_train, x_test = shift(x_train, start_char, index_from), shift(x_test, start_char, index_from)
    if maxlen:
        x_train, labels_train = remove_long(maxlen, x_train, labels_train)
        x_test, labels_test = remove_long(maxlen, x_test, labels_test)
        if not x_train or not x_test:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was kept. "
                             f"Increase maxlen.")
    xs = cut_vocabulary(x_train + x_test, num_words, skip_top, oov_char)
    labels = np.concatenate([labels_train, labels_test])
    idx = len(x_train)
    return (object_array(xs[:idx]), labels[:idx]), (object_array(xs[idx:]), labels[idx:])


def get_word_index(path="imdb_word_index.json", verify=None):
    """The word -> index dict (index 1 is the most frequent word; shift by ``index_from`` to match data)."""
    return read_word_index(keras_file("imdb", "imdb_word_index.json", WORD_INDEX_MD5, path, verify))
