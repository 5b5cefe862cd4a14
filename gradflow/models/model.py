"""``Model``: a Layer with the training API, in the three Keras 3 forms.

* ``Model(inputs, outputs)`` builds a :class:`~gradflow.models.functional.Functional` graph;
* ``class M(Model)`` with layers as attributes and a ``call`` is a subclassed model, built on
  its first call (or ``build(input_shape)``);
* :class:`~gradflow.models.sequential.Sequential` is the one-chain case.

All three share one trainer (:class:`gradflow.trainers.trainer.Trainer`), one summary and one
saving path. A subclass of ``Model`` constructed with ``inputs``/``outputs`` (Keras's pattern
for a functional model with a custom ``train_step``) becomes functional too.
"""
from __future__ import annotations

import inspect
import json
import os

import numpy as np

from ..layers.base import Layer, _is_shape
from ..layers.symbolic import KerasTensor, flatten, map_structure, pack_as
from ..saving import api
from ..saving.saving_lib import _json_default
from ..saving.serialization import serialize_keras_object
from ..summary import print_summary
from ..trainers.trainer import Trainer

__all__ = ["Model", "functional_init_arguments"]



def _inject_functional(cls, functional):
    """Put Functional where Model is in a user's class hierarchy (as Keras 3 does), so
    ``CustomModel(inputs, outputs)`` is a graph model whose type is still ``CustomModel``."""
    if cls is Model:
        return functional
    if not issubclass(cls, Model) or issubclass(cls, functional):
        return cls
    cls.__bases__ = tuple(_inject_functional(base, functional) for base in cls.__bases__)
    return cls


def functional_init_arguments(args, kwargs) -> bool:
    """Whether a Model constructor call names a graph: ``Model(inputs, outputs)``."""
    return (len(args) == 2 or (len(args) == 1 and "outputs" in kwargs)
            or ("inputs" in kwargs and "outputs" in kwargs))


class Model(Trainer, Layer):
    """A model: layers plus compile/fit/evaluate/predict/summary/save (Keras 3 ``keras.Model``)."""

    _checks_batch_shape = True
    #: weight names survive a rebuild from config (graph configs carry layer names; a subclassed model
    #: names its layers afresh, so its files match weights by position and shape)
    _stable_weight_names = False

    def __new__(cls, *args, **kwargs):
        from .functional import Functional  # noqa: PLC0415 - functional imports this module

        # As Keras 3: only ``Model(inputs, outputs)`` itself is redirected here. A subclass becomes a graph
        # model when *its* ``Model.__init__`` receives inputs and outputs (below), not when its own
        # constructor happens to take two positional arguments (``VAE(encoder, decoder)``).
        if cls is Model and functional_init_arguments(args, kwargs):
            cls = Functional
        return Layer.__new__(cls, *args, **kwargs)

    def __init__(self, *args, **kwargs):
        from .functional import Functional  # noqa: PLC0415 - functional imports this module

        if functional_init_arguments(args, kwargs) and not isinstance(self, Functional):
            _inject_functional(type(self), Functional)  # a subclass called super().__init__(inputs, outputs)
            Functional.__init__(self, *args, **kwargs)
            return
        if args or not set(kwargs) <= {"name", "trainable", "dtype"}:
            bad = list(kwargs) if not args else [repr(a) for a in args]
            raise TypeError(f"Model() takes inputs and outputs (the functional API) or, in a subclass, only "
                            f"name/trainable/dtype; got {', '.join(map(str, bad))}")
        super().__init__(**kwargs)
        self._init_trainer()
        self._output_structure = None

    # -- structure ----------------------------------------------------------------------------
    @property
    def layers(self) -> list[Layer]:
        """The model's layers (for a subclassed model, those assigned as attributes, in order)."""
        return self._sublayers()

    def get_layer(self, name: str | None = None, index: int | None = None) -> Layer:
        """A layer by name or by position (Keras semantics: give one of the two)."""
        layers = self.layers
        if (name is None) == (index is None):
            raise ValueError("get_layer: pass exactly one of name= or index=")
        if index is not None:
            if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
                raise TypeError(f"get_layer: index must be an int, got {index!r}")
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"get_layer: asked for the layer at index {index} but model {self.name!r} "
                                 f"has only {len(layers)} layer(s)")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"get_layer: no layer named {name!r} in model {self.name!r}; layers: "
                         f"{[l.name for l in layers]}")

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"model {self.name!r} is not built yet, so it has no weights to count; call "
                             f"build(input_shape), call it on data, or give it an Input / input_shape=")
        return super().count_params()

    # -- building (subclassed models) ----------------------------------------------------------
    def build(self, input_shape=None) -> None:
        """Build a subclassed model by running ``call`` once on zeros of ``input_shape``."""
        if input_shape is None:
            raise ValueError(f"model {self.name!r}: build() needs an input shape, e.g. model.build((None, 784))")
        self.build_from_shape(_as_shape_structure(input_shape))

    def build_from_shape(self, input_shape):
        if not self.built:
            if type(self).call is Model.call:
                raise NotImplementedError(f"model {self.name!r} ({type(self).__name__}) has no call(); a subclassed "
                                          f"Model must define call(self, inputs, training=None)")
            self.check_input_shape(input_shape)
            self._built_from(self._probe_outputs(input_shape, {}), input_shape)
            return self.output_shape
        self.check_input_shape(input_shape)
        return self.output_shape

    def _built_from(self, outputs, input_shape) -> None:
        """Mark a subclassed model built from one run's ``outputs`` (Tensors or symbolic): their
        structure and shapes, batch axis unknown, become the model's outputs."""
        self._output_structure = map_structure(lambda t: KerasTensor((None,) + tuple(t.shape[1:]), t.dtype), outputs)
        self.output_shape = map_structure(lambda t: t.shape, self._output_structure)
        self.input_shape = input_shape
        self.built = True

    def call(self, inputs, training=None):
        raise NotImplementedError(f"model {self.name!r} ({type(self).__name__}) does not define call(self, inputs, "
                                  f"training=None)")

    def _dtype(self):
        for w in self.weights:
            if w.dtype.kind == "f":
                return w.dtype
        return self.dtype

    # -- what the trainer needs (overridden by Functional and Sequential) ---------------------
    def _output_names(self) -> list[str]:
        s = self._output_structure
        if isinstance(s, dict):
            return sorted(s)
        if isinstance(s, (list, tuple)):
            return [f"output_{i}" for i in range(len(flatten(s)))]
        return ["output"]

    def _pack_outputs(self, flat: list):
        s = self._output_structure
        if s is None or not isinstance(s, (list, tuple, dict)):
            return flat[0]
        return pack_as(s, flat)

    def _input_names(self):
        return None  # a subclassed model takes whatever structure its call() does

    def _head_layers(self) -> list:
        return [None] * len(self._output_names())

    def _make_forward(self, heads=frozenset()):
        """``f(x, training) -> list of output Tensors`` (``heads``: outputs returned as logits)."""
        def forward(x, training):
            return flatten(self(x, training=training))

        return forward

    # -- summary and saving -------------------------------------------------------------------
    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False, show_trainable=False,
                layer_range=None, **kwargs) -> None:
        """Print the Keras table of layers, output shapes and parameter counts."""
        print_summary(self, line_length=line_length, positions=positions, print_fn=print_fn)

    def get_config(self) -> dict:
        """A subclassed model's config: the constructor's plain arguments (override for others)."""
        cfg = {"name": self.name, "trainable": self._trainable}
        if type(self).get_config is Model.get_config and not type(self).__module__.startswith("gradflow."):
            from ..layers.base import _auto_config  # noqa: PLC0415

            cfg.update(_auto_config(self))
        return cfg

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        """``cls(**config)``; ``name``/``trainable`` are set afterwards when the constructor does not take them."""
        config = dict(config)
        if {"layers", "input_layers", "output_layers"} <= set(config):
            from .functional import functional_from_config  # noqa: PLC0415

            return functional_from_config(cls, config, custom_objects)
        params = inspect.signature(cls.__init__).parameters
        open_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        later = {k: config.pop(k) for k in ("name", "trainable") if k in config and not open_kwargs and k not in params}
        try:
            model = cls(**config)
        except TypeError as exc:
            raise TypeError(f"cannot rebuild {cls.__name__} from its config {sorted(config)}: {exc}. Give the "
                            "class a get_config() that returns its constructor's arguments (and from_config if "
                            "needed)") from exc
        if "name" in later:
            model.name = later["name"]
        if later.get("trainable") is False:
            model.trainable = False
        return model

    def get_build_config(self):
        """``{"input_shape": ...}`` of a built model (Keras 3's hook), else None."""
        if not self.built or self.input_shape is None:
            return None
        return {"input_shape": _jsonable_shape(self.input_shape)}

    def build_from_config(self, build_config) -> None:
        """Build for the input shape ``get_build_config()`` saved (Keras 3's hook)."""
        if build_config and not self.built:
            self.build(_as_shape_structure(build_config["input_shape"]))

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (``model_from_json`` rebuilds it, without weights)."""
        return json.dumps(serialize_keras_object(self), default=_json_default, **kwargs)

    def save(self, filepath, overwrite: bool = True, **kwargs) -> None:
        """Save architecture, weights, compile settings and optimizer state (a zip, never pickle): a ``.keras``
        path gets Keras 3's format (Keras loads it), any other gradflow's own (config + safetensors)."""
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"save: {os.fspath(filepath)!r} exists and overwrite=False")
        api.save_model(self, filepath)

    def save_weights(self, filepath, overwrite: bool = True, **kwargs) -> None:
        """Save the weights alone: Keras 3's h5 layout for ``*.weights.h5`` (Keras loads it, needs h5py),
        safetensors (keys = weight names) for any other name such as ``*.weights.safetensors``."""
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"save_weights: {os.fspath(filepath)!r} exists and overwrite=False")
        api.save_weights(self, filepath)

    def load_weights(self, filepath, **kwargs) -> None:
        """Load weights from ``save_weights`` or ``save`` output (gradflow's or Keras's: ``.weights.h5``,
        ``.keras``, safetensors, gradflow model files); nothing changes unless all fit."""
        api.load_weights(self, filepath)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _as_shape_structure(shape):
    """``[None, 4]`` -> ``(None, 4)``; lists/dicts of shapes keep their nesting."""
    if _is_shape(shape):
        return tuple(None if d is None else int(d) for d in shape)
    if isinstance(shape, dict):
        return {k: _as_shape_structure(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return [_as_shape_structure(s) for s in shape]
    raise ValueError(f"expected an input shape such as (None, 784), got {shape!r}")


def _jsonable_shape(shape):
    if _is_shape(shape):
        return list(shape)
    if isinstance(shape, dict):
        return {k: _jsonable_shape(v) for k, v in shape.items()}
    return [_jsonable_shape(s) for s in shape]
