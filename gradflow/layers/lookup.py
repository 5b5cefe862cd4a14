"""StringLookup and IntegerLookup (Keras 3) on NumPy, over one IndexLookup core.

A vocabulary (given as a list, an array or a text file with one token a line, or learned by ``adapt``:
tokens by count, ties broken by the token, high to low) maps tokens to indices after the reserved ones
(the mask token's 0 in ``int`` mode, then ``num_oov_indices`` out-of-vocabulary buckets). ``invert=True``
maps back. ``output_mode`` ``int`` gives int64 indices; ``one_hot``/``multi_hot``/``count`` int64
vectors and ``tf_idf`` float32 ones, as Keras (TensorFlow) returns them. An adapted vocabulary is saved
as the asset ``vocabulary.txt`` and idf weights as the variable ``idf_weights``, Keras's layout.
"""
from __future__ import annotations

import collections
import os

import numpy as np

from ..autograd.tensor import Tensor
from ._args import describe
from ._data_layer import DataLayer, as_output, encode_categorical, host_array, string_array
from .hashing import hash_buckets

__all__ = ["IndexLookup", "StringLookup", "IntegerLookup"]

_INT64_MAX = np.iinfo(np.int64).max


def _listify(value):
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return list(value) if isinstance(value, tuple) else value


class IndexLookup(DataLayer):
    """The shared core of StringLookup and IntegerLookup (Keras's ``IndexLookup``)."""

    #: Keras's config holds ``vocabulary_size`` (the frozen size), taken through ``**kwargs``
    _COMMON = DataLayer._COMMON + ("vocabulary_size",)

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary_dtype, vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", name=None, salt=None, **kwargs):
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"If set, `max_tokens` must be greater than 1. Received: max_tokens={max_tokens}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"If pad_to_max_tokens is True, must set `max_tokens`. Received: max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError(f"`num_oov_indices` must be greater than or equal to 0. Received: "
                             f"num_oov_indices={num_oov_indices}")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"The `oov_method` argument value of the {type(self).__name__} layer must be one of "
                             f"('floormod', 'farmhash'). Received: oov_method={oov_method!r}")
        is_int = vocabulary_dtype != "string"
        if salt is not None:
            if is_int and oov_method != "farmhash":
                raise ValueError(f"`salt` can only be used when `oov_method='farmhash'`. Received: "
                                 f"oov_method={oov_method}")
            if isinstance(salt, (tuple, list)) and len(salt) == 2:
                salt = list(salt)
            elif isinstance(salt, int):
                salt = [salt, salt]
            else:
                raise ValueError(f"The `salt` argument for `IndexLookup` can only be a tuple of 2 integers, or a "
                                 f"single integer. Received: salt={salt}.")
        if output_mode == "binary":
            output_mode = "multi_hot"
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        if output_mode not in ("int", "one_hot", "multi_hot", "count", "tf_idf"):
            raise ValueError(f"The `output_mode` argument value of the {type(self).__name__} layer must be one of "
                             f"('int', 'one_hot', 'multi_hot', 'count', 'tf_idf'). Received: "
                             f"output_mode={output_mode!r}")
        if invert and output_mode != "int":
            raise ValueError(f"`output_mode` must be `'int'` when `invert` is true. Received: "
                             f"output_mode={output_mode}")
        if sparse:
            raise ValueError(f"{type(self).__name__}: sparse=True is not supported by gradflow (its outputs are "
                             f"dense Tensors); pass sparse=False")
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"`idf_weights` should only be set if `output_mode` is `'tf_idf'`. Received: "
                             f"idf_weights={idf_weights} and output_mode={output_mode}")
        frozen = kwargs.pop("vocabulary_size", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        super().__init__(name=name, **kwargs)
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = int(num_oov_indices)
        self.mask_token = mask_token
        self.oov_token = oov_token
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        self.salt = salt
        self._frozen_vocab_size = frozen
        self.input_vocabulary = None if isinstance(vocabulary, str) else vocabulary
        self.input_idf_weights = idf_weights
        self._has_input_vocabulary = has_input_vocabulary
        self._tokens: list = []  # the learned or given tokens, without the reserved ones
        self._table: dict = {}
        self.idf_weights = None
        if output_mode == "tf_idf":
            if self._has_input_vocabulary and idf_weights is None:
                raise ValueError("When specifying the `vocabulary` argument, in TF-IDF output mode, the "
                                 "`idf_weights` argument must also be provided.")
            if idf_weights is not None:
                self.idf_weights = np.asarray(host_array(idf_weights), dtype=self.floatx())
        self.reset_state()
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # -- reserved indices ----------------------------------------------------------------------
    def _oov_start_index(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self) -> int:
        return self._oov_start_index() + self.num_oov_indices

    def _is_string(self) -> bool:
        return self.vocabulary_dtype == "string"

    def _keys(self, data) -> np.ndarray:
        """``data`` as an array of the vocabulary's kind (``str`` or int64)."""
        if self._is_string():
            return string_array(data, getattr(self, "encoding", "utf-8"))
        arr = host_array(data)
        if arr.dtype.kind not in "iub":
            if arr.dtype.kind == "f" and np.all(arr == np.round(arr)):
                return arr.astype(np.int64)
            raise TypeError(f"{describe(self)}: expects integers, got an array of dtype {arr.dtype}")
        return arr.astype(np.int64)

    def _token(self, value):
        return str(value) if self._is_string() else int(value)

    # -- vocabulary ----------------------------------------------------------------------------
    def vocabulary_size(self) -> int:
        """The vocabulary's size, with the mask and OOV indices."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True) -> list:
        """The vocabulary, index ``i`` at position ``i`` (with the reserved tokens unless told otherwise)."""
        start = self._token_start_index()
        vocab = [self.oov_token] * start + list(self._tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocab[0] = self.mask_token
        if not include_special_tokens:
            vocab = vocab[start:]
        return vocab

    def _record_vocabulary_size(self) -> None:
        self._ensure_vocab_size_unchanged()
        self._frozen_vocab_size = self.vocabulary_size()

    def _ensure_vocab_size_unchanged(self) -> None:
        if self.output_mode == "int" or self.pad_to_max_tokens:
            return
        new = self.vocabulary_size()
        if self._frozen_vocab_size is not None and new != self._frozen_vocab_size:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, the "
                               f"vocabulary size cannot be changed after the layer is called. Old vocab size is "
                               f"{self._frozen_vocab_size}, new vocab size is {new}")

    def _ensure_known_vocab_size(self) -> None:
        if self.output_mode == "int" or self.pad_to_max_tokens:
            return
        if self._frozen_vocab_size is None:
            raise RuntimeError(f"When using `output_mode={self.output_mode}` and `pad_to_max_tokens=False`, you must "
                               f"set the layer's vocabulary before calling it. Either pass a `vocabulary` argument to "
                               f"the layer, or call `adapt` with some sample data.")

    def _set_tokens(self, tokens) -> None:
        start = self._token_start_index()
        self._tokens = [self._token(t) for t in tokens]
        self._table = {t: start + i for i, t in enumerate(self._tokens)}

    def _read_vocabulary_file(self, path: str) -> list:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        return [line if self._is_string() else int(line) for line in lines]

    def set_vocabulary(self, vocabulary, idf_weights=None) -> None:
        """Set the vocabulary (a list, an array or a file path) and, in ``tf_idf`` mode, its idf weights."""
        if self.output_mode == "tf_idf":
            if idf_weights is None:
                raise ValueError("`idf_weights` must be set if output_mode is 'tf_idf'.")
        elif idf_weights is not None:
            raise ValueError(f"`idf_weights` should only be set if output_mode is `'tf_idf'`. Received: "
                             f"output_mode={self.output_mode} and idf_weights={idf_weights}")
        if isinstance(vocabulary, (str, os.PathLike)):
            if not os.path.exists(vocabulary):
                raise ValueError(f"Vocabulary file {vocabulary} does not exist.")
            if self.output_mode == "tf_idf":
                raise ValueError("output_mode `'tf_idf'` does not support loading a vocabulary from file.")
            tokens = self._read_vocabulary_file(os.fspath(vocabulary))
            if self.max_tokens is not None and self._token_start_index() + len(tokens) > self.max_tokens:
                raise ValueError(f"Attempted to set a vocabulary larger than the maximum vocab size. Received "
                                 f"vocabulary size is {self._token_start_index() + len(tokens)}; `max_tokens` is "
                                 f"{self.max_tokens}.")
            self._set_tokens(tokens)
            self._record_vocabulary_size()
            return
        values = self._keys(vocabulary).ravel().tolist() if not isinstance(vocabulary, (list, tuple)) else \
            [self._token(v.decode("utf-8") if isinstance(v, bytes) else v) for v in
             (np.asarray(vocabulary).ravel().tolist() if len(vocabulary) else [])]
        if idf_weights is not None:
            idf_weights = np.asarray(host_array(idf_weights))
        if not values:
            raise ValueError(f"Cannot set an empty vocabulary. Received: vocabulary={vocabulary}")
        oov_start = self._oov_start_index()
        token_start = self._token_start_index()
        special = [self.mask_token] * oov_start + [self.oov_token] * self.num_oov_indices
        found_special = (len(values) >= token_start
                         and [self._token(v) if v is not None else v for v in special] == values[:token_start])
        tokens = values[token_start:] if found_special else values
        repeated = [t for t, c in collections.Counter(tokens).items() if c > 1]
        if repeated:
            raise ValueError(f"The passed vocabulary has at least one repeated term. Please uniquify your dataset. "
                             f"The repeated terms are: {repeated}")
        if self.mask_token is not None and self._token(self.mask_token) in tokens:
            index = len(values) - 1 - values[::-1].index(self._token(self.mask_token))
            raise ValueError(f"Found reserved mask token at unexpected location in `vocabulary`. Note that passed "
                             f"`vocabulary` does not need to include the OOV and mask tokens. Either remove all mask "
                             f"and OOV tokens, or include them only at the start of the vocabulary in precisely this "
                             f"order: {special}. Received: mask_token={self.mask_token} at vocabulary index {index}")
        if self.oov_token is not None and self.invert and self._token(self.oov_token) in tokens:
            index = len(values) - 1 - values[::-1].index(self._token(self.oov_token))
            raise ValueError(f"Found reserved OOV token at unexpected location in `vocabulary`. Note that passed "
                             f"`vocabulary` does not need to include the OOV and mask tokens. Either remove all mask "
                             f"and OOV tokens, or include them only at the start of the vocabulary in precisely this "
                             f"order: {special}. Received: oov_token={self.oov_token} at vocabulary index {index}")
        new_size = token_start + len(tokens)
        if self.max_tokens is not None and new_size > self.max_tokens:
            raise ValueError(f"Attempted to set a vocabulary larger than the maximum vocab size. Received vocabulary "
                             f"size is {new_size}; `max_tokens` is {self.max_tokens}.")
        self._set_tokens(tokens)
        self._record_vocabulary_size()
        if self.output_mode == "tf_idf" and idf_weights is not None:
            if len(values) != len(idf_weights):
                raise ValueError(f"`idf_weights` must be the same length as vocabulary. len(idf_weights) is "
                                 f"{len(idf_weights)}; len(vocabulary) is {len(values)}")
            if idf_weights.ndim != 1:
                raise ValueError(f"TF-IDF data must be a 1-index array. Received: type(idf_weights)="
                                 f"{type(idf_weights)}")
            front, front_value = (0, 0.0) if found_special else (token_start, float(np.average(idf_weights)))
            back = (self.max_tokens - front - len(idf_weights)
                    if self.pad_to_max_tokens and self.max_tokens is not None else 0)
            self.idf_weights = np.pad(idf_weights, (front, back), "constant",
                                      constant_values=(front_value, 0)).astype(self.floatx())

    # -- adapt ---------------------------------------------------------------------------------
    def reset_state(self) -> None:
        if self._has_input_vocabulary:
            return
        self._token_counts: collections.Counter = collections.Counter()
        self._document_counts: collections.Counter = collections.Counter()
        self._num_documents = 0

    def adapt(self, data, steps=None) -> None:
        """Learn the vocabulary (and idf weights) from ``data``: an array or list, or an iterable of batches."""
        self.reset_state()
        if hasattr(data, "__iter__") and not isinstance(data, (list, tuple, np.ndarray, Tensor)):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        else:
            arr = self._keys(data)
            if arr.ndim == 1:
                arr = arr[:, None]
            self.update_state(arr)
        self.finalize_state()

    def update_state(self, data) -> None:
        if self._has_input_vocabulary:
            raise ValueError(f"Cannot adapt layer '{self.name}' after setting a static vocabulary via `vocabulary` "
                             f"argument or `set_vocabulary()` method.")
        if isinstance(data, list) and data and isinstance(data[0], list):  # ragged rows (TextVectorization's)
            rows = [[self._token(t.decode(getattr(self, "encoding", "utf-8")) if isinstance(t, bytes) else t)
                     for t in r] for r in data]
        else:
            arr = self._keys(data)
            if arr.ndim == 0:
                arr = arr[None]
            if arr.ndim == 1:
                arr = arr[None]
            rows = arr.reshape(arr.shape[0], -1).tolist()
        for row in rows:
            self._token_counts.update(row)
        if self.output_mode == "tf_idf":
            for row in rows:
                self._document_counts.update(set(row))
            self._num_documents += len(rows)

    def finalize_state(self) -> None:
        if self._has_input_vocabulary or not self._token_counts:
            self._record_vocabulary_size()
            return
        counts = dict(self._token_counts)
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                counts.pop(self._token(special), None)
        items = sorted(counts.items(), key=lambda kv: (kv[1], kv[0].encode("utf-8") if isinstance(kv[0], str)
                                                       else kv[0]), reverse=True)
        if self.max_tokens:
            items = items[:self.max_tokens - self._token_start_index()]
        tokens = [t for t, _ in items]
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            doc = np.array([self._document_counts[t] for t in tokens], dtype=np.float64)
            idf = np.log(1 + self._num_documents / (1 + doc)).astype(self.floatx())
            idf = np.pad(idf, (self._token_start_index(), 0), constant_values=float(np.mean(idf)) if idf.size else 0.0)
            if self.pad_to_max_tokens and self.max_tokens is not None:
                idf = np.pad(idf, (0, self.max_tokens - idf.size), constant_values=0.0)
            self.idf_weights = idf.astype(self.floatx())
        self.reset_state()
        self._record_vocabulary_size()

    # -- call ----------------------------------------------------------------------------------
    def output_dtype(self) -> str:
        if self.invert:
            return "string" if self._is_string() else "int64"
        return "int64" if self.output_mode != "tf_idf" else self.floatx()

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        input_shape = tuple(input_shape)
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    def _oov_indices(self, keys: np.ndarray) -> np.ndarray:
        n = self.num_oov_indices
        if not self._is_string() and self.oov_method != "farmhash":
            return np.mod(keys, n)
        return hash_buckets(keys, n, self.salt)

    def _lookup(self, keys: np.ndarray) -> np.ndarray:
        """Indices of ``keys`` (an array of the vocabulary's kind), with the mask and OOV rules."""
        flat = keys.ravel()
        if flat.size:
            uniq, inverse = np.unique(flat, return_inverse=True)
        else:
            uniq, inverse = flat, np.zeros(0, np.int64)
        if self.invert:
            vocab = self.get_vocabulary()
            size = len(vocab)
            mapped = [vocab[i] if 0 <= i < size and i >= self._token_start_index() else self.oov_token
                      for i in uniq.tolist()]
            if self.mask_token is not None:
                mapped = [self.mask_token if i == 0 else m for i, m in zip(uniq.tolist(), mapped)]
            table = np.array(mapped, dtype=object if self._is_string() else np.int64)
            out = table[inverse.ravel()].reshape(keys.shape) if flat.size else np.zeros(keys.shape, table.dtype)
            return out.astype(str) if self._is_string() and out.size else out
        default = -1 if self.num_oov_indices != 1 else self._oov_start_index()
        table = np.array([self._table.get(u, default) for u in uniq.tolist()], dtype=np.int64)
        if self.mask_token is not None:
            mask_value = 0 if self.output_mode == "int" else _INT64_MAX
            table[np.array([u == self._token(self.mask_token) for u in uniq.tolist()], dtype=bool)] = mask_value
        out = table[inverse.ravel()].reshape(keys.shape) if flat.size else np.zeros(keys.shape, np.int64)
        if self.num_oov_indices == 0:
            missing = out == -1
            if missing.any():
                raise ValueError(f"When `num_oov_indices=0` all inputs should be in vocabulary, found OOV values "
                                 f"{keys[missing].tolist()}, consider setting `num_oov_indices=1`.")
        elif self.num_oov_indices > 1:
            missing = out == -1
            if missing.any():
                out = np.where(missing, self._oov_indices(keys) + self._oov_start_index(), out)
        return out

    def _encode(self, lookups: np.ndarray) -> np.ndarray:
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        mode = "count" if self.output_mode == "tf_idf" else self.output_mode
        out = encode_categorical(lookups, mode, depth, np.int64)
        if self.output_mode == "tf_idf":
            if self.idf_weights is None:
                raise ValueError("When `output_mode` is `'tf_idf'`, `idf_weights` must be provided.")
            out = out.astype(self.idf_weights.dtype) * self.idf_weights
        return out

    def call(self, inputs):
        self._ensure_known_vocab_size()
        keys = self._keys(inputs) if not self.invert else host_array(inputs).astype(np.int64)
        scalar = keys.ndim == 0
        if scalar:
            keys = keys[None]
        lookups = self._lookup(keys)
        if self.output_mode == "int":
            return as_output(lookups[0] if scalar else lookups)
        return as_output(self._encode(lookups))

    # -- config and saving ---------------------------------------------------------------------
    def get_config(self) -> dict:
        return {**super().get_config(), "invert": self.invert, "max_tokens": self.max_tokens,
                "num_oov_indices": self.num_oov_indices, "oov_token": self.oov_token, "mask_token": self.mask_token,
                "output_mode": self.output_mode, "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
                "vocabulary_dtype": self.vocabulary_dtype, "idf_weights": _listify(self.input_idf_weights),
                "vocabulary": _listify(self.input_vocabulary), "vocabulary_size": self._frozen_vocab_size,
                "oov_method": self.oov_method, "salt": self.salt}

    def get_build_config(self):
        return {}

    def build_from_config(self, config) -> None:
        self.built = True

    def save_own_variables(self, store) -> None:
        if self.output_mode == "tf_idf":
            store["idf_weights"] = np.asarray(self.idf_weights)

    def load_own_variables(self, store) -> None:
        if self.output_mode == "tf_idf" and "idf_weights" in store:
            self.idf_weights = np.asarray(store["idf_weights"]).astype(self.floatx())

    def save_assets(self, dir_path) -> None:
        if self.input_vocabulary is not None:
            return
        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(str(w) for w in self.get_vocabulary(include_special_tokens=True)))

    def load_assets(self, dir_path) -> None:
        if self.input_vocabulary is not None:
            return
        path = os.path.join(dir_path, "vocabulary.txt")
        if not os.path.exists(path):
            return
        values = self._read_vocabulary_file(path)
        was = self._has_input_vocabulary
        if self.output_mode == "tf_idf":
            self.set_vocabulary(values, idf_weights=self.idf_weights)
        else:
            self.set_vocabulary(values)
        self._has_input_vocabulary = was


class StringLookup(IndexLookup):
    """Map strings to integer indices through a vocabulary (Keras 3's StringLookup). Inputs are NumPy
    ``str``/bytes/object arrays, lists or Tensors of strings; ``invert=True`` maps indices back to strings."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", name=None, salt=None, **kwargs):
        self.encoding = encoding
        kwargs.pop("vocabulary_dtype", None)
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, name=name,
                         salt=salt, vocabulary_dtype="string", **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        del config["vocabulary_dtype"]
        return {**config, "encoding": self.encoding}


class IntegerLookup(IndexLookup):
    """Map integers to contiguous indices through a vocabulary (Keras 3's IntegerLookup); ``invert=True``
    maps indices back to the integers."""

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, name=None, **kwargs):
        if max_tokens is not None and max_tokens <= 1:
            raise ValueError(f"If `max_tokens` is set for `IntegerLookup`, it must be greater than 1. Received: "
                             f"max_tokens={max_tokens}")
        if num_oov_indices < 0:
            raise ValueError(f"The value of `num_oov_indices` argument for `IntegerLookup` must >= 0. Received: "
                             f"num_oov_indices={num_oov_indices}")
        if vocabulary_dtype != "int64":
            raise ValueError(f"Only `vocabulary_dtype='int64'` is supported at this time. Received: "
                             f"vocabulary_dtype={vocabulary_dtype}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, vocabulary=vocabulary, vocabulary_dtype=vocabulary_dtype,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method, salt=salt, name=name, **kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        if config["oov_token"] is not None:
            config["oov_token"] = int(config["oov_token"])
        if config["mask_token"] is not None:
            config["mask_token"] = int(config["mask_token"])
        if config["vocabulary"] is not None:
            config["vocabulary"] = [int(v) for v in config["vocabulary"]]
        return config
