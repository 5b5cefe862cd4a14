"""What imdb and reuters share: Keras's index shifting, long-sequence removal and vocabulary cut."""
from __future__ import annotations

import json

import numpy as np

__all__ = ["shift", "remove_long", "cut_vocabulary", "object_array", "read_word_index"]


def shift(xs, start_char, index_from):
    """Each sequence with ``index_from`` added and ``start_char`` (unless None) in front, as lists."""
    if start_char is not None:
        return [[start_char] + [int(w) + index_from for w in x] for x in xs]
    if index_from:
        return [[int(w) + index_from for w in x] for x in xs]
    return [[int(w) for w in x] for x in xs]


def remove_long(maxlen, xs, labels):
    """Keep the sequences shorter than ``maxlen`` (Keras's ``remove_long_seq``)."""
    kept = [(x, y) for x, y in zip(xs, labels) if len(x) < maxlen]
    return [x for x, _ in kept], [y for _, y in kept]


def cut_vocabulary(xs, num_words, skip_top, oov_char):
    """Words outside ``[skip_top, num_words)`` become ``oov_char`` (or are dropped when it is None)."""
    if not num_words:
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        return [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    return [[w for w in x if skip_top <= w < num_words] for x in xs]


def object_array(seqs) -> np.ndarray:
    """``np.array(seqs, dtype="object")``, exactly as Keras builds its x arrays."""
    return np.array(seqs, dtype="object")


def read_word_index(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)
