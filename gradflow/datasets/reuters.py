"""Reuters newswire topics (11,228 wires, 46 topics) as word-index sequences: Keras's ``reuters.npz``
(SHA-256 checked) and ``reuters_word_index.json``."""
from __future__ import annotations

import numpy as np

from ._keras_files import keras_file, load_npz
from ._sequences import cut_vocabulary, object_array, read_word_index, remove_long, shift

__all__ = ["load_data", "get_word_index", "get_label_names"]

SHA256 = "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916"
WORD_INDEX_MD5 = "4d44cc38712099c9e383dc6e5f11a921"
LABEL_NAMES = (
    'cocoa', 'grain', 'veg-oil', 'earn', 'acq', 'wheat', 'copper', 'housing', 'money-supply', 'coffee',
    'sugar', 'trade', 'reserves', 'ship', 'cotton', 'carcass', 'crude', 'nat-gas', 'cpi', 'money-fx',
    'interest', 'gnp', 'meal-feed', 'alum', 'oilseed', 'gold', 'tin', 'strategic-metal', 'livestock',
    'retail', 'ipi', 'iron-steel', 'rubber', 'heat', 'jobs', 'lei', 'bop', 'zinc', 'orange', 'pet-chem',
    'dlr', 'gas', 'silver', 'wpi', 'hog', 'lead',
)


def load_data(path="reuters.npz", num_words=None, skip_top=0, maxlen=None, test_split=0.2, seed=113, start_char=1,
              oov_char=2, index_from=3, verify=None):
    """``(x_train, y_train), (x_test, y_test)`` as Keras: shuffled with ``seed``, shifted, filtered by
    ``maxlen``, cut to ``[skip_top, num_words)``, then the last ``test_split`` fraction for test."""
    f = load_npz(keras_file("reuters", "reuters.npz", SHA256, path, verify))
    xs, labels = f["x"], f["y"]
    indices = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(indices)
    xs, labels = xs[indices], labels[indices]
    xs = shift(xs, start_char, index_from)
    if maxlen:
        xs, labels = remove_long(maxlen, xs, labels)
    xs = cut_vocabulary(xs, num_words, skip_top, oov_char)
    idx = int(len(xs) * (1 - test_split))
    return ((object_array(xs[:idx]), np.array(labels[:idx])),
            (object_array(xs[idx:]), np.array(labels[idx:])))


def get_word_index(path="reuters_word_index.json", verify=None):
    """The word -> index dict (shift by ``index_from`` to match the data)."""
    return read_word_index(keras_file("reuters", "reuters_word_index.json", WORD_INDEX_MD5, path, verify))


def get_label_names():
    """The 46 topic names, indexed by label."""
    return LABEL_NAMES
