"""Keras 3's ``FeatureSpace``: one object that preprocesses and encodes a dict of structured features.

Keras builds it on ``tf.data``; gradflow's runs on NumPy. Each feature is one of gradflow's NumPy-native
preprocessing layers (Normalization, Rescaling, Discretization, StringLookup, IntegerLookup, Hashing),
crosses are HashedCrossing layers, and one-hot outputs are CategoryEncoding(multi_hot) layers, composed
exactly as Keras's ``keras/src/layers/preprocessing/feature_space.py`` composes them: features are
sorted by name, then the crosses by name, and concatenated (``output_mode="concat"``) or returned as
a dict (``"dict"``). ``adapt`` takes a dict of arrays or lists, or an iterable of dict batches (a
PyDataset, a generator, a list; ``(features, labels)`` tuples too). ``get_inputs`` and
``get_encoded_features`` give the functional API's KerasTensors so a model can be built on them.
"""
from __future__ import annotations

import numpy as np

from .._naming import unique_name
from .._registry import register_keras_serializable
from ..layers._data_layer import DataLayer, as_output, host_array
from ..layers.base import Layer
from ..layers.category_encoding import CategoryEncoding
from ..layers.discretization import Discretization
from ..layers.hashing import HashedCrossing, Hashing
from ..layers.input_layer import Input
from ..layers.lookup import IntegerLookup, StringLookup
from ..layers.merging import Concatenate
from ..layers.preprocessing import Normalization, Rescaling
from ..saving.api import save_model
from ..saving.serialization import deserialize_keras_object, serialize_keras_object

__all__ = ["FeatureSpace", "Feature", "Cross"]

#: batch size Keras uses to adapt on unbatched (scalar) elements
_ADAPT_BATCH = 32


@register_keras_serializable(package="keras", name="Cross")
class Cross:
    """A feature cross: ``feature_names`` hashed together into ``crossing_dim`` bins."""

    def __init__(self, feature_names, crossing_dim, output_mode="one_hot"):
        if output_mode not in {"int", "one_hot"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of {'int', 'one_hot'}. "
                             f"Received: output_mode={output_mode}")
        self.feature_names = tuple(feature_names)
        self.crossing_dim = crossing_dim
        self.output_mode = output_mode

    @property
    def name(self) -> str:
        return "_X_".join(self.feature_names)

    def get_config(self) -> dict:
        return {"feature_names": self.feature_names, "crossing_dim": self.crossing_dim,
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


@register_keras_serializable(package="keras", name="Feature")
class Feature:
    """A feature: its input ``dtype``, its ``preprocessor`` layer and its ``output_mode``."""

    def __init__(self, dtype, preprocessor, output_mode):
        if output_mode not in {"int", "one_hot", "float"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of {'int', 'one_hot', "
                             f"'float'}}. Received: output_mode={output_mode}")
        self.dtype = dtype
        if isinstance(preprocessor, dict):
            preprocessor = deserialize_keras_object(preprocessor)
        self.preprocessor = preprocessor
        self.output_mode = output_mode

    def get_config(self) -> dict:
        return {"dtype": self.dtype, "preprocessor": serialize_keras_object(self.preprocessor),
                "output_mode": self.output_mode}

    @classmethod
    def from_config(cls, config):
        return cls(**config)


class TFDIdentity(DataLayer):
    """The preprocessor of ``FeatureSpace.float``: its input, unchanged."""

    def call(self, inputs):
        return inputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)


def _spec_from_config(entry: dict):
    """A serialized ``Feature`` or ``Cross`` (the .keras reader drops ``registered_name``: match the class)."""
    spec = {"Feature": Feature, "Cross": Cross}.get(entry.get("class_name", ""))
    if spec is not None and isinstance(entry.get("config"), dict):
        return spec.from_config(dict(entry["config"]))
    return deserialize_keras_object(entry)


def _auto_name(base: str) -> str:
    return unique_name(base)


def _to_numpy(x) -> np.ndarray:
    """Keras's ``_convert_input`` without TensorFlow: Python lists and scalars take TF's default dtypes
    (float32, int32, strings); arrays and tensors keep theirs; bytes become ``str``."""
    if isinstance(x, (list, tuple, int, float, str, bytes)):
        arr = np.asarray(x)
        if arr.dtype == np.float64:
            arr = arr.astype(np.float32)
        elif arr.dtype == np.int64:
            arr = arr.astype(np.int32)
    else:
        arr = host_array(x)
    if arr.dtype.kind == "S":
        arr = np.char.decode(arr, "utf-8")
    elif arr.dtype.kind == "O":
        flat = [v.decode("utf-8") if isinstance(v, bytes) else v for v in arr.ravel().tolist()]
        arr = np.array(flat).reshape(arr.shape)
    return arr


def _dtype_name(arr: np.ndarray) -> str:
    return "string" if arr.dtype.kind in "USO" else arr.dtype.name


class FeatureSpace(Layer):
    """One-stop utility for preprocessing and encoding structured data (Keras's ``keras.utils.FeatureSpace``).

    Arguments:
        features: dict mapping each feature's name to its type, a string (``"float"``,
            ``"float_normalized"``, ``"float_rescaled"``, ``"float_discretized"``, ``"integer_categorical"``,
            ``"string_categorical"``, ``"integer_hashed"``, ``"string_hashed"``) or a ``Feature`` from the
            constructors below.
        output_mode: ``"concat"`` (one vector) or ``"dict"`` (one encoded feature per name).
        crosses: features to cross, tuples of names or ``FeatureSpace.cross(...)``.
        crossing_dim, hashing_dim, num_discretization_bins: defaults of the string-named types.
    """

    # -- the feature constructors --------------------------------------------------------------
    @classmethod
    def cross(cls, feature_names, crossing_dim, output_mode="one_hot"):
        return Cross(feature_names, crossing_dim, output_mode=output_mode)

    @classmethod
    def feature(cls, dtype, preprocessor, output_mode):
        return Feature(dtype, preprocessor, output_mode)

    @classmethod
    def float(cls, name=None):
        name = name or _auto_name("float")
        return Feature(dtype="float32", preprocessor=TFDIdentity(dtype="float32", name=f"{name}_preprocessor"),
                       output_mode="float")

    @classmethod
    def float_rescaled(cls, scale=1.0, offset=0.0, name=None):
        name = name or _auto_name("float_rescaled")
        return Feature(dtype="float32",
                       preprocessor=Rescaling(scale=scale, offset=offset, name=f"{name}_preprocessor"),
                       output_mode="float")

    @classmethod
    def float_normalized(cls, name=None):
        name = name or _auto_name("float_normalized")
        return Feature(dtype="float32", preprocessor=Normalization(axis=-1, name=f"{name}_preprocessor"),
                       output_mode="float")

    @classmethod
    def float_discretized(cls, num_bins, bin_boundaries=None, output_mode="one_hot", name=None):
        name = name or _auto_name("float_discretized")
        return Feature(dtype="float32",
                       preprocessor=Discretization(num_bins=num_bins, bin_boundaries=bin_boundaries,
                                                   name=f"{name}_preprocessor"),
                       output_mode=output_mode)

    @classmethod
    def integer_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        name = name or _auto_name("integer_categorical")
        return Feature(dtype="int32",
                       preprocessor=IntegerLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                                  num_oov_indices=num_oov_indices),
                       output_mode=output_mode)

    @classmethod
    def string_categorical(cls, max_tokens=None, num_oov_indices=1, output_mode="one_hot", name=None):
        name = name or _auto_name("string_categorical")
        return Feature(dtype="string",
                       preprocessor=StringLookup(name=f"{name}_preprocessor", max_tokens=max_tokens,
                                                 num_oov_indices=num_oov_indices),
                       output_mode=output_mode)

    @classmethod
    def string_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or _auto_name("string_hashed")
        return Feature(dtype="string", preprocessor=Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode=output_mode)

    @classmethod
    def integer_hashed(cls, num_bins, output_mode="one_hot", name=None):
        name = name or _auto_name("integer_hashed")
        return Feature(dtype="int32", preprocessor=Hashing(name=f"{name}_preprocessor", num_bins=num_bins),
                       output_mode=output_mode)

    # -- construction ----------------------------------------------------------------------------
    def __init__(self, features, output_mode="concat", crosses=None, crossing_dim=32, hashing_dim=32,
                 num_discretization_bins=32, name=None):
        super().__init__(name=name)
        if not features:
            raise ValueError("The `features` argument cannot be None or empty.")
        self.crossing_dim = crossing_dim
        self.hashing_dim = hashing_dim
        self.num_discretization_bins = num_discretization_bins
        self.features = {key: self._standardize_feature(key, value) for key, value in features.items()}
        self.crosses: list[Cross] = []
        for cross in crosses or ():
            if isinstance(cross, dict):
                cross = _spec_from_config(cross)
            if isinstance(cross, Cross):
                self.crosses.append(cross)
                continue
            if not crossing_dim:
                raise ValueError("When specifying `crosses`, the argument `crossing_dim` (dimensionality of the "
                                 "crossing space) should be specified as well.")
            for key in cross:
                if key not in features:
                    raise ValueError("All features referenced in the `crosses` argument should be present in the "
                                     f"`features` dict. Received unknown features: {cross}")
            self.crosses.append(Cross(cross, crossing_dim=crossing_dim))
        self.crosses_by_name = {cross.name: cross for cross in self.crosses}
        if output_mode not in {"dict", "concat"}:
            raise ValueError("Invalid value for argument `output_mode`. Expected one of {'dict', 'concat'}. "
                             f"Received: output_mode={output_mode}")
        self.output_mode = output_mode
        self.inputs = {key: Input(shape=(1,), dtype=value.dtype, name=key) for key, value in self.features.items()}
        self.preprocessors = {key: value.preprocessor for key, value in self.features.items()}
        self.encoded_features = None
        self.crossers = {cross.name: HashedCrossing(cross.crossing_dim, name=cross.name) for cross in self.crosses}
        self.one_hot_encoders: dict[str, CategoryEncoding] = {}
        self._is_adapted = False
        self.concat = None
        self._preprocessed_features_names: list[str] | None = None
        self._crossed_features_names: list[str] = []
        self._sublayers_built = False

    def _standardize_feature(self, name, feature):
        if isinstance(feature, Feature):
            return feature
        if isinstance(feature, dict):
            return _spec_from_config(feature)
        makers = {
            "float": lambda: self.float(name=name),
            "float_normalized": lambda: self.float_normalized(name=name),
            "float_rescaled": lambda: self.float_rescaled(name=name),
            "float_discretized": lambda: self.float_discretized(name=name, num_bins=self.num_discretization_bins),
            "integer_categorical": lambda: self.integer_categorical(name=name),
            "string_categorical": lambda: self.string_categorical(name=name),
            "integer_hashed": lambda: self.integer_hashed(self.hashing_dim, name=name),
            "string_hashed": lambda: self.string_hashed(self.hashing_dim, name=name),
        }
        if not isinstance(feature, str) or feature not in makers:
            raise ValueError(f"Invalid feature type: {feature}")
        return makers[feature]()

    # -- adapt -------------------------------------------------------------------------------------
    def _list_adaptable_preprocessors(self) -> list[str]:
        names = []
        for name in self.features:
            preprocessor = self.preprocessors[name]
            if isinstance(preprocessor, Normalization) and preprocessor.input_mean is not None:
                continue
            if isinstance(preprocessor, Discretization) and preprocessor.num_bins is None:
                continue  # given bin_boundaries: nothing to learn (Keras's adapt raises here)
            if getattr(preprocessor, "_has_input_vocabulary", False) and type(preprocessor).__name__ == \
                    "TextVectorization":
                continue
            if hasattr(preprocessor, "adapt"):
                names.append(name)
        return names

    @staticmethod
    def _feature_batches(dataset, name) -> list[np.ndarray]:
        """The batches Keras's ``adapt`` feeds the preprocessor of ``name``: a rank-0 element stream is
        batched by 32, and rank-0/1 elements get a trailing axis."""
        if isinstance(dataset, dict):  # Keras: Dataset.from_tensor_slices(dataset): elements are rows
            column = _to_numpy(dataset[name])
            if column.ndim <= 1:
                column = column.reshape(-1)
                return [column[i:i + _ADAPT_BATCH][:, None] for i in range(0, len(column), _ADAPT_BATCH)]
            return [row[:, None] if row.ndim == 1 else row for row in column]
        batches: list[np.ndarray] = []
        pending: list[np.ndarray] = []
        for element in dataset:
            if isinstance(element, (tuple, list)) and not isinstance(element, dict):
                element = element[0]  # (features, labels[, sample_weight])
            if not isinstance(element, dict):
                raise ValueError("`adapt()` takes a dict of arrays/lists or an iterable of dicts (or of "
                                 f"(dict, labels) tuples). Received an element of type {type(element)}")
            x = _to_numpy(element[name])
            if x.ndim == 0:
                pending.append(x)
                if len(pending) == _ADAPT_BATCH:
                    batches.append(np.stack(pending)[:, None])
                    pending = []
                continue
            batches.append(x[:, None] if x.ndim == 1 else x)
        if pending:
            batches.append(np.stack(pending)[:, None])
        return batches

    def adapt(self, dataset) -> None:
        """Learn each adaptable preprocessor's state (vocabularies, means, bins) from ``dataset``."""
        if not isinstance(dataset, dict) and not hasattr(dataset, "__iter__") and not (
                hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise ValueError("`adapt()` can only be called on a dict of arrays/lists or an iterable of dict "
                             f"batches. Received instead: {dataset} (of type {type(dataset)})")
        if not isinstance(dataset, dict):
            if not hasattr(dataset, "__iter__"):  # a PyDataset: batches by index
                dataset = [dataset[i] for i in range(len(dataset))]
            elif iter(dataset) is dataset:
                dataset = list(dataset)  # a generator: each preprocessor reads it once
        for name in self._list_adaptable_preprocessors():
            self.preprocessors[name].adapt(iter(self._feature_batches(dataset, name)))
        self._is_adapted = True
        self.get_encoded_features()  # finish building the layer
        self.built = True
        self._sublayers_built = True

    # -- the functional API ------------------------------------------------------------------------
    def get_inputs(self) -> dict:
        """The ``Input`` KerasTensor of each feature (shape ``(None, 1)``, the feature's dtype)."""
        self._check_if_built()
        return self.inputs

    def get_encoded_features(self):
        """The encoded features as KerasTensors: one vector (concat) or a dict of them."""
        self._check_if_adapted()
        if self.encoded_features is None:
            preprocessed = self._preprocess_features(self.inputs)
            crossed = self._cross_features(preprocessed)
            self.encoded_features = self._merge_features(preprocessed, crossed, symbolic=True)
        return self.encoded_features

    def _preprocess_features(self, features):
        return {name: self.preprocessors[name](features[name]) for name in features}

    def _cross_features(self, features):
        return {cross.name: self.crossers[cross.name]([features[n] for n in cross.feature_names])
                for cross in self.crosses}

    def _cardinality(self, name):
        preprocessor = self.preprocessors.get(name) or self.crossers.get(name)
        if isinstance(preprocessor, (IntegerLookup, StringLookup)):
            return preprocessor.vocabulary_size()
        if isinstance(preprocessor, CategoryEncoding):
            return preprocessor.num_tokens
        if isinstance(preprocessor, Discretization):
            if preprocessor.num_bins is None and preprocessor.bin_boundaries is not None:
                return len(preprocessor.bin_boundaries) + 1  # Keras leaves these unencoded, then fails
            return preprocessor.num_bins
        if isinstance(preprocessor, (HashedCrossing, Hashing)):
            return preprocessor.num_bins
        raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. However it isn't a standard feature and "
                         "the dimensionality of its output space is not known, thus it cannot be one-hot encoded. "
                         "Try using `output_mode='int'`.")

    def _merge_features(self, preprocessed, crossed, symbolic=False):
        if not self._preprocessed_features_names:
            self._preprocessed_features_names = sorted(preprocessed)
            self._crossed_features_names = sorted(crossed)
        names = self._preprocessed_features_names + self._crossed_features_names
        values = [preprocessed[n] for n in self._preprocessed_features_names] + \
            [crossed[n] for n in self._crossed_features_names]
        if self._sublayers_built:
            encoded = {}
            for name, value in zip(names, values):
                encoder = self.one_hot_encoders.get(name)
                encoded[name] = encoder(value) if encoder is not None else value
            return self._output(encoded, symbolic)
        specs = [self.features[n] for n in self._preprocessed_features_names] + \
            [self.crosses_by_name[n] for n in self._crossed_features_names]
        encoded = {}
        for name, value, spec in zip(names, values, specs):
            dtype = str(value.dtype)
            dtype = "string" if dtype in ("object", "str") or dtype.startswith("<U") else dtype
            if spec.output_mode == "one_hot":
                if not dtype.startswith("int"):
                    raise ValueError(f"Feature '{name}' has `output_mode='one_hot'`. Thus its preprocessor "
                                     f"should return an integer dtype. Instead it returns a {dtype} dtype.")
                cardinality = self._cardinality(name)
                if cardinality is not None:
                    encoder = CategoryEncoding(num_tokens=cardinality, output_mode="multi_hot")
                    self.one_hot_encoders[name] = encoder
                    value = encoder(value)
                    dtype = str(value.dtype)
            if self.output_mode == "concat" and (dtype.startswith("int") or dtype == "string"):
                raise ValueError(f"Cannot concatenate features because feature '{name}' has not been encoded "
                                 f"(it has dtype {dtype}). Consider using `output_mode='dict'`.")
            encoded[name] = value
        if self.output_mode == "concat":
            self.concat = Concatenate(axis=-1)
        return self._output(encoded, symbolic)

    def _output(self, encoded: dict, symbolic: bool):
        if self.output_mode == "dict":
            return encoded
        values = list(encoded.values())
        if symbolic:
            return self.concat(values) if len(values) > 1 else values[0]
        return as_output(np.concatenate([host_array(v) for v in values], axis=-1))

    def _check_if_adapted(self) -> None:
        if not self._is_adapted:
            if not self._list_adaptable_preprocessors():
                self._is_adapted = True
            else:
                raise ValueError("You need to call `.adapt(dataset)` on the FeatureSpace before you can start "
                                 "using it.")

    def _check_if_built(self) -> None:
        if not self._sublayers_built:
            self._check_if_adapted()
            self.get_encoded_features()
            self._sublayers_built = True

    # -- calling on data ---------------------------------------------------------------------------
    def __call__(self, data):
        self._check_if_built()
        if not isinstance(data, dict):
            raise ValueError(f"A FeatureSpace can only be called with a dict. Received: data={data} (of type "
                             f"{type(data)}")
        arrays = {key: _to_numpy(value) for key, value in data.items()}
        rebatched = False
        for name, x in arrays.items():
            if x.ndim == 0:
                arrays[name] = x.reshape(1, 1)
                rebatched = True
            elif x.ndim == 1:
                arrays[name] = x[:, None]
        preprocessed = {k: _to_numpy(v) for k, v in self._preprocess_features(arrays).items()}
        crossed = {k: _to_numpy(v) for k, v in self._cross_features(preprocessed).items()}
        merged = self._merge_features(preprocessed, crossed)
        if self.output_mode == "dict":
            merged = {k: as_output(host_array(v)) for k, v in merged.items()}
        if rebatched:
            if self.output_mode == "concat":
                if merged.shape[0] != 1:
                    raise ValueError(f"Expected rebatched data to have batch size 1. Received: shape={merged.shape}")
                merged = as_output(host_array(merged)[0])
            else:
                merged = {k: as_output(host_array(v)[0]) if len(v.shape) == 2 and v.shape[0] == 1 else v
                          for k, v in merged.items()}
        return merged

    # -- config and saving -----------------------------------------------------------------------
    def get_config(self) -> dict:
        return {"features": serialize_keras_object(self.features), "output_mode": self.output_mode,
                "crosses": serialize_keras_object(self.crosses), "crossing_dim": self.crossing_dim,
                "hashing_dim": self.hashing_dim, "num_discretization_bins": self.num_discretization_bins}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self) -> dict:
        return {name: feature.preprocessor.get_build_config() for name, feature in self.features.items()}

    def build_from_config(self, config) -> None:
        for name, cfg in config.items():
            preprocessor = self.features[name].preprocessor
            if not preprocessor.built and cfg:
                preprocessor.build_from_config(cfg)
        self._is_adapted = True
        self.built = True

    def save(self, filepath) -> None:
        """Write the adapted FeatureSpace to a ``.keras`` file; ``gradflow.models.load_model`` reads it back
        (preprocessor state as weights, vocabularies as assets, bin boundaries in the config)."""
        save_model(self, filepath)

    def save_own_variables(self, store) -> None:
        return

    def load_own_variables(self, store) -> None:
        return

