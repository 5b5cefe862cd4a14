"""``Sequential``: a linear stack of layers with the Keras training API, and ``load_model``.

Structure lives here (add/pop/build/call, weights, freezing, config, summary, saving hooks);
training (compile/fit/evaluate/predict and the ``*_on_batch`` calls) comes from
:class:`gradflow.trainer.Trainer`. A Sequential is itself a Layer, so it nests inside another.
"""
from __future__ import annotations

import numpy as np

from .autograd.tensor import Tensor
from .backend import is_cupy_array
from .layers.base import Layer, layer_class, to_tensor
from .saving import ModelFileError, load_model
from .summary import print_summary, unique_weights
from .trainer import NotCompiledError, Trainer

__all__ = ["Sequential", "load_model", "model_from_config", "model_from_json", "ModelFileError", "NotCompiledError"]


def _shape_tuple(shape, what: str) -> tuple:
    try:
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        return tuple(None if d is None else int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a tuple of ints (None for the batch axis), got {shape!r}") from None


def _is_input_layer(layer) -> bool:
    from .layers import InputLayer

    return isinstance(layer, InputLayer)


class Sequential(Trainer, Layer):
    """A plain stack of layers, each with one input and one output (Keras ``Sequential``).

    ``Sequential([Dense(16, input_shape=(2,), activation='relu'), Dense(2, activation='softmax')])``
    is built at once (weights exist, ``summary()`` works); without an input shape it builds on
    the first ``build(input_shape)``, call, or ``fit``.
    """

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._layers: list[Layer] = []
        self._build_shape = None
        self._init_trainer()
        if layers is not None:
            if isinstance(layers, Layer):
                layers = [layers]
            for layer in layers:
                self.add(layer, rebuild=False)
        self._maybe_build()

    # -- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The layers in order (an Input/InputLayer is not listed, as in Keras 3)."""
        return list(self._layers)

    def add(self, layer, rebuild: bool = True) -> None:
        """Append a layer; an ``Input``/``InputLayer`` (or a first layer with ``input_shape=``)
        fixes the input shape, and a model with a known input shape builds the layer at once."""
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: only gradflow Layer instances can be added to a Sequential model; "
                            f"got {layer!r} (of type {type(layer).__name__})")
        if layer is self:
            raise ValueError(f"Sequential.add: cannot add model {self.name!r} to itself")
        if _is_input_layer(layer):
            if self._layers:
                raise ValueError(f"Sequential.add: an Input/InputLayer must come first, but model {self.name!r} "
                                 f"already has {len(self._layers)} layer(s)")
            self._build_shape = tuple(layer.batch_shape)
            self.built = False
            if rebuild:
                self._maybe_build()
            return
        if any(existing.name == layer.name for existing in self._layers):
            raise ValueError(f"Sequential.add: a layer named {layer.name!r} is already in model {self.name!r}; "
                             f"all layers need unique names (pass name=...)")
        self._layers.append(layer)
        if not rebuild:
            return
        if self.built:
            try:
                shape = layer.build_from_shape(self.output_shape)
            except Exception:
                self._layers.pop()
                raise
            self.output_shape = shape
        else:
            self._maybe_build()

    def pop(self) -> Layer:
        """Remove and return the last layer (the model is rebuilt for the remaining ones)."""
        if not self._layers:
            raise IndexError(f"Sequential.pop: model {self.name!r} has no layers to remove")
        layer = self._layers.pop()
        self.built = False
        self._maybe_build()
        return layer

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by position (Keras semantics: give one of the two)."""
        if (name is None) == (index is None):
            raise ValueError("get_layer: pass exactly one of name= or index=")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"get_layer: index must be an int, got {index!r}")
            if not -len(self._layers) <= index < len(self._layers):
                raise ValueError(f"get_layer: asked for the layer at index {index} but model {self.name!r} "
                                 f"has only {len(self._layers)} layer(s)")
            return self._layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}; layers: "
                         f"{[l.name for l in self._layers]}")

    def _input_shape_hint(self):
        if self._build_shape is not None:
            return self._build_shape
        if self._layers and getattr(self._layers[0], "_batch_input_shape", None) is not None:
            return tuple(self._layers[0]._batch_input_shape)
        return None

    def _maybe_build(self) -> None:
        shape = self._input_shape_hint()
        if shape is not None and self._layers:
            self.build(shape)
        elif shape is not None:
            self._build_shape = shape

    def build(self, input_shape=None) -> None:
        """Build every layer for ``input_shape`` (with the batch axis, e.g. ``(None, 28, 28, 1)``)."""
        if input_shape is None:
            input_shape = self._input_shape_hint()
            if input_shape is None:
                raise ValueError(f"model {self.name!r}: build() needs an input shape, e.g. "
                                 f"model.build((None, 784)), or give the first layer input_shape=")
        shape = _shape_tuple(input_shape, "build: input_shape")
        if len(shape) < 1:
            raise ValueError(f"model {self.name!r}: input_shape needs at least a batch axis, got {input_shape!r}")
        current = shape
        for layer in self._layers:
            try:
                current = layer.build_from_shape(current)
            except Exception as exc:
                if hasattr(exc, "add_note"):
                    exc.add_note(f"(while building layer {layer.name!r} of model {self.name!r} "
                                 f"for input shape {current})")
                raise
        self._build_shape = shape
        self.input_shape = shape
        self.output_shape = current
        self.built = True

    def build_from_shape(self, input_shape) -> tuple:
        input_shape = tuple(input_shape)
        if not self.built or self._build_shape is None or tuple(self._build_shape[1:]) != input_shape[1:]:
            if self.built:
                self.check_input_shape(input_shape)
            self.build(input_shape)
        return self.output_shape

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for layer in self._layers:
            shape = layer.compute_output_shape(shape)
        return shape

    def check_input_shape(self, input_shape) -> None:
        """Raise the Keras error when the features of ``input_shape`` differ from the built ones."""
        want = self._build_shape
        if want is None:
            return
        got = tuple(input_shape)
        if len(got) != len(want) or any(w is not None and g is not None and w != g
                                         for w, g in zip(want[1:], got[1:])):
            raise ValueError(f'Input 0 of layer "{self.name}" is incompatible with the layer: expected '
                             f"shape={tuple(want)}, found shape={got}")

    # -- calling ------------------------------------------------------------------------------
    def __call__(self, inputs, training: bool = False):
        x = to_tensor(inputs, self._dtype())
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))
        else:
            self.check_input_shape(x.shape)
        return self.call(x, training=bool(training))

    def call(self, inputs, training: bool = False):
        x = inputs
        for layer, fused in fused_layers(self._layers):
            if fused:
                x = layer.call(layer._prepare(x), training=bool(training), **fused)
            else:
                x = layer(x, training=training)
        return x

    def _dtype(self):
        for w in self.weights:
            if w.dtype.kind == "f":
                return w.dtype
        return self._layers[0].dtype if self._layers else self.dtype

    # -- weights ------------------------------------------------------------------------------
    @property
    def weights(self) -> list:
        """Every weight, layer by layer (each layer's trainable ones first: Keras order)."""
        return unique_weights(w for layer in self._layers for w in layer.weights)

    @property
    def trainable_weights(self) -> list:
        if not self._trainable:
            return []
        return unique_weights(w for layer in self._layers for w in layer.trainable_weights)

    @property
    def non_trainable_weights(self) -> list:
        if not self._trainable:
            return self.weights
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (or unfreeze) the whole model: every layer follows, as in Keras."""
        self._trainable = bool(value)
        for layer in self._layers:
            layer.trainable = value

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"model {self.name!r} is not built yet, so it has no weights to count; call "
                             f"build(input_shape) or give the first layer input_shape=")
        return int(sum(w.size for w in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """Copies of every weight as NumPy arrays, in ``weights`` order."""
        return [w.numpy().copy() for w in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight at once; the count and every shape are checked before anything changes."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"set_weights: model {self.name!r} has {len(params)} weight arrays "
                             f"({', '.join(p.name for p in params) or 'none; is it built?'}), got {len(weights)}")
        arrays = []
        for i, (p, w) in enumerate(zip(params, weights)):
            arr = w.numpy() if isinstance(w, Tensor) else (w.get() if is_cupy_array(w) else np.asarray(w))
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"set_weights: weight #{i} ({p.name!r}) expects shape {tuple(p.shape)}, "
                                 f"got {tuple(arr.shape)}")
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"set_weights: weight #{i} ({p.name!r}) needs numbers, got dtype {arr.dtype}")
            arrays.append(arr)
        for p, arr in zip(params, arrays):
            p.assign(arr)

    def regularization_losses(self) -> list:
        return [loss for layer in self._layers for loss in layer.regularization_losses()]

    @property
    def losses(self) -> list:
        return self.regularization_losses()

    def to(self, device: str) -> "Sequential":
        """Move every weight to ``device`` ('cpu' or 'cuda') in place; returns the model."""
        for layer in self._layers:
            layer.to(device)
        return self

    # -- summary and config -------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, **kwargs) -> None:
        """Print the Keras table of layers, output shapes and parameter counts."""
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    def get_config(self) -> dict:
        cfg = {"name": self.name, "trainable": self._trainable, "dtype": np.dtype(self.dtype).name,
               "layers": [{"class_name": type(layer).__name__, "config": layer.get_config()} for layer in self._layers]}
        if self._build_shape is not None:
            cfg["build_input_shape"] = list(self._build_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        """Rebuild from ``get_config`` output; only registered layer classes are instantiated."""
        if not isinstance(config, dict) or not isinstance(config.get("layers", []), list):
            raise ValueError(f"Sequential.from_config: expected a dict with a 'layers' list, got {config!r}")
        layers = []
        for i, item in enumerate(config.get("layers", [])):
            if not isinstance(item, dict) or not isinstance(item.get("class_name"), str):
                raise ValueError(f"Sequential.from_config: layer #{i} must be {{'class_name': ..., 'config': {{...}}}}")
            lcls = layer_class(item["class_name"])
            lcfg = item.get("config") or {}
            if not isinstance(lcfg, dict):
                raise ValueError(f"Sequential.from_config: layer #{i} config must be a dict")
            layers.append(lcls.from_config(dict(lcfg)))
        model = cls(layers=None, name=config.get("name"), trainable=config.get("trainable", True))
        for layer in layers:
            model.add(layer, rebuild=False)
        shape = config.get("build_input_shape")
        if shape is not None:
            model.build(shape)
        else:
            model._maybe_build()
        if not config.get("trainable", True):
            model.trainable = False
        return model

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (``model_from_json`` rebuilds it, without weights)."""
        import json

        from .saving import _json_default

        return json.dumps({"class_name": type(self).__name__, "config": self.get_config()},
                          default=_json_default, **kwargs)

    # -- saving -------------------------------------------------------------------------------
    def save(self, filepath, overwrite: bool = True, **kwargs) -> None:
        """Save architecture, weights, compile settings and optimizer state (``.gflow`` zip)."""
        import os

        from . import saving

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"save: {os.fspath(filepath)!r} exists and overwrite=False")
        saving.save_model(self, filepath)

    def save_weights(self, filepath, overwrite: bool = True, **kwargs) -> None:
        """Save the weights alone as safetensors (keys = weight names)."""
        import os

        from . import saving

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"save_weights: {os.fspath(filepath)!r} exists and overwrite=False")
        saving.save_weights(self, filepath)

    def load_weights(self, filepath, **kwargs) -> None:
        """Load weights from ``save_weights`` or ``save`` output; nothing changes unless all fit."""
        from . import saving

        saving.load_weights(self, filepath)

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self._layers)} built={self.built}>"


def model_from_config(config: dict) -> Layer:
    """A model (or layer) from ``{'class_name': ..., 'config': ...}`` (registered classes only)."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ValueError(f"model_from_config: expected {{'class_name': ..., 'config': {{...}}}}, got {config!r}")
    return layer_class(config["class_name"]).from_config(config.get("config") or {})


def model_from_json(json_string: str) -> Layer:
    """Rebuild a model from ``model.to_json()`` (architecture only; weights are fresh)."""
    import json

    try:
        config = json.loads(json_string)
    except json.JSONDecodeError as exc:
        raise ValueError(f"model_from_json: not valid JSON ({exc})") from None
    return model_from_config(config)


def fused_layers(layers) -> list:
    """``(layer, fused)`` pairs to run in order, ``fused`` the keyword arguments of a fusion:
    ``BatchNormalization -> Activation('relu')`` becomes ``(batch_norm, {'activation': 'relu'})``
    (one pass forward and backward), and when a MaxPooling2D with non-overlapping 'valid' windows
    (channels-last) follows, ``(batch_norm, {'activation': 'relu', 'pool': max_pool})``;
    ``Conv2D(activation='relu') -> MaxPooling2D`` (same pooling) becomes ``(conv, {'pool': max_pool})``.
    The same results as running them one by one. Every other layer is ``(layer, {})``."""
    from .layers import Activation, BatchNormalization, Conv2D, MaxPooling2D  # noqa: PLC0415 - layers imports this module

    def fusable_pool(layer):
        return (isinstance(layer, MaxPooling2D) and layer.strides == layer.pool_size and layer.padding == "valid"
                and layer.data_format == "channels_last")

    out, i = [], 0
    while i < len(layers):
        layer = layers[i]
        nxt = layers[i + 1] if i + 1 < len(layers) else None
        if type(layer) is BatchNormalization and type(nxt) is Activation and nxt.activation_name == "relu":
            pool = layers[i + 2] if i + 2 < len(layers) else None
            if fusable_pool(pool):
                out.append((layer, {"activation": "relu", "pool": pool}))
                i += 3
            else:
                out.append((layer, {"activation": "relu"}))
                i += 2
        elif (type(layer) is Conv2D and layer.activation_name == "relu" and layer.data_format == "channels_last"
              and fusable_pool(nxt)):
            out.append((layer, {"pool": nxt}))
            i += 2
        else:
            out.append((layer, {}))
            i += 1
    return out
