"""TextVectorization (Keras 3) on NumPy and Python strings, without TensorFlow.

Each string is standardized (``lower_and_strip_punctuation`` by default: ASCII lower case, as
``tf.strings.lower``, and Keras's punctuation regex removed), split (on whitespace, into characters,
or not at all), optionally turned into n-grams (joined by a space, widths in order, as
``tf.strings.ngrams``), and looked up in a StringLookup vocabulary whose mask token is ``""``.
``output_mode="int"`` pads the token indices with 0 to the longest row or ``output_sequence_length``.
A callable ``standardize`` gets a NumPy ``str`` array; a callable ``split`` gets a 1-D NumPy ``str``
array and returns one sequence of tokens per string.
"""
from __future__ import annotations

import re

import numpy as np

from ..autograd.tensor import Tensor
from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from ._args import describe
from ._data_layer import DataLayer, as_output, encode_categorical, string_array
from .lookup import StringLookup, _listify

__all__ = ["TextVectorization"]

#: Keras's DEFAULT_STRIP_REGEX (``,-\.`` is the range from ',' to '.')
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def _check_choice(name, value, allowed):
    if value is None or callable(value) or value in allowed:
        return
    raise ValueError(f"Unkown value for `{name}` argument of layer TextVectorization. Allowed values are: "
                     f"{allowed}, None, or a callable. Received: {name}={value!r}")


def _ngrams(tokens: list, widths) -> list:
    out = []
    for n in widths:
        out += [" ".join(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]
    return out


class TextVectorization(DataLayer):
    """Turn strings into token indices or bag-of-words vectors (Keras 3's TextVectorization)."""

    #: Keras's config holds ``vocabulary_size``, taken through ``**kwargs``
    _COMMON = DataLayer._COMMON + ("vocabulary_size",)

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, **kwargs):
        _check_choice("standardize", standardize, ("lower_and_strip_punctuation", "lower", "strip_punctuation"))
        _check_choice("split", split, ("whitespace", "character"))
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in ("int", "one_hot", "multi_hot", "count", "tf_idf"):
            raise ValueError(f"The `output_mode` argument value of the TextVectorization layer must be one of "
                             f"('int', 'one_hot', 'multi_hot', 'count', 'tf_idf'). Received: "
                             f"output_mode={output_mode!r}")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        if not (ngrams is None or isinstance(ngrams, int)
                or (isinstance(ngrams, tuple) and all(isinstance(item, int) for item in ngrams))):
            raise ValueError(f"`ngrams` must be None, an integer, or a tuple of integers. Received: ngrams={ngrams}")
        if output_mode == "int" and not (isinstance(output_sequence_length, int) or output_sequence_length is None):
            raise ValueError(f"`output_sequence_length` must be either None or an integer when `output_mode` is 'int'. "
                             f"Received: output_sequence_length={output_sequence_length}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(f"`output_sequence_length` must not be set if `output_mode` is not 'int'. Received "
                             f"output_sequence_length={output_sequence_length}.")
        if sparse or ragged:
            raise ValueError(f"TextVectorization: sparse=True and ragged=True are not supported by gradflow (its "
                             f"outputs are dense Tensors); got sparse={sparse}, ragged={ragged}")
        self._max_tokens = max_tokens
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if isinstance(ngrams, int) else ngrams
        self._ragged = False
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        self._lookup_layer = StringLookup(max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
                                          pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
                                          sparse=False, has_input_vocabulary=self._has_input_vocabulary,
                                          encoding=encoding, vocabulary_size=vocabulary_size)

    # -- shapes and dtypes ---------------------------------------------------------------------
    def output_dtype(self) -> str:
        return "int64" if self._output_mode == "int" else self._lookup_layer.output_dtype()

    def build(self, input_shape=None) -> None:
        pass

    def compute_output_shape(self, input_shape):
        if self._output_mode == "int":
            if self._split is None:
                return tuple(input_shape) if self._output_sequence_length is None else \
                    tuple(input_shape[:-1]) + (self._output_sequence_length,)
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            if len(input_shape) <= 1:
                input_shape = tuple(input_shape) + (1,)
        else:  # one row of tokens per string (a trailing axis of 1 is the strings' own, as call squeezes it)
            input_shape = tuple(input_shape)
            if len(input_shape) > 1 and input_shape[-1] == 1:
                input_shape = input_shape[:-1]
            input_shape = input_shape + (None,)
        return self._lookup_layer.compute_output_shape(input_shape)

    # -- vocabulary ----------------------------------------------------------------------------
    def get_vocabulary(self, include_special_tokens=True) -> list:
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    @property
    def idf_weights(self):
        return self._lookup_layer.idf_weights

    def adapt(self, data, batch_size=None, steps=None) -> None:
        """Learn the vocabulary from ``data``: strings in an array or list, or an iterable of batches."""
        self.reset_state()
        if hasattr(data, "__iter__") and not isinstance(data, (list, tuple, np.ndarray, Tensor, str)):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        else:
            arr = string_array(data, self._encoding)
            if arr.ndim == 1:
                arr = arr[:, None]
            self.update_state(arr)
        self.finalize_state()

    def update_state(self, data) -> None:
        self._lookup_layer.update_state(self._preprocess(data))

    def finalize_state(self) -> None:
        self._lookup_layer.finalize_state()

    def reset_state(self) -> None:
        self._lookup_layer.reset_state()

    # -- the text pipeline ---------------------------------------------------------------------
    def _standardized(self, strings: np.ndarray) -> np.ndarray:
        if callable(self._standardize):
            return string_array(self._standardize(strings), self._encoding)
        flat = strings.ravel().tolist()
        if self._standardize in ("lower", "lower_and_strip_punctuation"):
            flat = [s.translate(_ASCII_LOWER) for s in flat]
        if self._standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            flat = [_PUNCTUATION.sub("", s) for s in flat]
        return np.array(flat, dtype=str).reshape(strings.shape) if flat else strings

    def _preprocess(self, inputs):
        """Standardized, split and n-grammed inputs: a list of token lists (one per string) when split, else
        a ``str`` array of the input's shape."""
        strings = self._standardized(string_array(inputs, self._encoding))
        if self._split is None:
            if self._ngrams is not None:
                raise ValueError(f"{describe(self)}: ngrams need split to be set (got split=None)")
            return strings
        if strings.ndim > 1:
            if strings.shape[-1] != 1:
                raise ValueError(f"When using `TextVectorization` to tokenize strings, the input rank must be 1 or "
                                 f"the last shape dimension must be 1. Received: inputs.shape={strings.shape} with "
                                 f"rank={strings.ndim}")
            strings = strings[..., 0]
        if strings.ndim == 0:
            strings = strings[None]
        if self._split == "whitespace":
            rows = [[t for t in _WHITESPACE.split(s) if t] for s in strings.tolist()]
        elif self._split == "character":
            rows = [list(s) for s in strings.tolist()]
        else:
            rows = [[t.decode(self._encoding) if isinstance(t, bytes) else str(t) for t in np.asarray(r).tolist()]
                    if len(r) else [] for r in self._split(strings)]
        if self._ngrams is not None:
            rows = [_ngrams(r, self._ngrams) for r in rows]
        return rows

    def call(self, inputs):
        tokens = self._preprocess(inputs)
        lookup = self._lookup_layer
        lookup._ensure_known_vocab_size()
        if not isinstance(tokens, list):  # split=None: a dense lookup of the whole strings
            indices = lookup._lookup(tokens)
            if self._output_mode != "int":
                return as_output(lookup._encode(indices))
            if self._output_sequence_length is not None:
                n = self._output_sequence_length
                indices = indices[..., :n]
                pad = [(0, 0)] * (indices.ndim - 1) + [(0, n - indices.shape[-1])]
                indices = np.pad(indices, pad)
            return as_output(indices)
        rows = [lookup._lookup(np.array(r, dtype=str)) if r else np.zeros(0, np.int64) for r in tokens]
        if self._output_mode == "int":
            width = self._output_sequence_length
            if width is None:
                width = max((len(r) for r in rows), default=0)
            out = np.zeros((len(rows), width), dtype=np.int64)
            for i, r in enumerate(rows):
                r = r[:width]
                out[i, :len(r)] = r
            return as_output(out)
        depth = lookup.max_tokens if lookup.pad_to_max_tokens else lookup._frozen_vocab_size
        if self._output_mode == "one_hot":
            if any(len(r) != 1 for r in rows):
                raise ValueError(f"{describe(self)}: output_mode='one_hot' needs exactly one token per string")
            return as_output(lookup._encode(np.array([r[0] for r in rows], dtype=np.int64)))
        mode = "count" if self._output_mode == "tf_idf" else self._output_mode
        out = np.stack([encode_categorical(r, mode, depth, np.int64) for r in rows]) if rows else \
            np.zeros((0, depth), np.int64)
        if self._output_mode == "tf_idf":
            out = out.astype(lookup.idf_weights.dtype) * lookup.idf_weights
        return as_output(out)

    # -- config and saving ---------------------------------------------------------------------
    def get_config(self) -> dict:
        lookup = self._lookup_layer
        standardize = self._standardize if self._standardize is None or isinstance(self._standardize, str) else \
            serialize_keras_object(self._standardize)
        split = self._split if self._split is None or isinstance(self._split, str) else \
            serialize_keras_object(self._split)
        return {**super().get_config(), "max_tokens": lookup.max_tokens, "standardize": standardize, "split": split,
                "ngrams": self._ngrams_arg, "output_mode": self._output_mode,
                "output_sequence_length": self._output_sequence_length, "pad_to_max_tokens": lookup.pad_to_max_tokens,
                "sparse": False, "ragged": self._ragged, "vocabulary": _listify(lookup.input_vocabulary),
                "idf_weights": _listify(lookup.input_idf_weights), "encoding": self._encoding,
                "vocabulary_size": self.vocabulary_size()}

    @classmethod
    def from_config(cls, config: dict):
        config = dict(config)
        if config.get("standardize") is not None and not isinstance(config["standardize"], str):
            config["standardize"] = deserialize_keras_object(config["standardize"])
        if config.get("split") is not None and not isinstance(config["split"], str):
            config["split"] = deserialize_keras_object(config["split"])
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)

    def get_build_config(self):
        return {}

    def build_from_config(self, config) -> None:
        self.built = True

    def save_own_variables(self, store) -> None:
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store) -> None:
        self._lookup_layer.load_own_variables(store)

    def save_assets(self, dir_path) -> None:
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path) -> None:
        self._lookup_layer.load_assets(dir_path)
