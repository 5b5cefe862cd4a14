"""``Sequential``: a linear stack of layers, the one-chain case of a Keras model.

Structure lives here (add/pop/build, config); weights, training, summary and saving come from
:class:`~gradflow.models.model.Model`. Once the input shape is known the stack is also a
symbolic graph (``model.inputs``, ``model.outputs``, ``layer.output``), so
``Model(seq.inputs, [l.output for l in seq.layers])`` extracts features as in Keras.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..layers.base import Layer, set_keras_mask, to_tensor
from ..layers.input_layer import InputLayer
from ..layers.symbolic import KerasTensor
from .functional import masked_nodes
from .fusion import fused_layers, head_fusable, plan_step
from .model import Model
from .plan import training_or_inference

__all__ = ["Sequential"]


def _shape_tuple(shape, what: str) -> tuple:
    try:
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        return tuple(None if d is None else int(d) for d in dims)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a tuple of ints (None for the batch axis), got {shape!r}") from None


class Sequential(Model):
    """A plain stack of layers, each with one input and one output (Keras ``Sequential``).

    ``Sequential([Dense(16, input_shape=(2,), activation='relu'), Dense(2, activation='softmax')])``
    is built at once (weights exist, ``summary()`` works); without an input shape it builds on
    the first ``build(input_shape)``, call, or ``fit``.
    """

    _stable_weight_names = True

    def __init__(self, layers=None, name=None, trainable=True, **kwargs):
        Layer.__init__(self, name=name, trainable=trainable, **kwargs)
        self._init_trainer()
        self._output_structure = None
        self._layers: list[Layer] = []
        self._build_shape = None
        self._input_layer = None
        self._graph_nodes: list = []
        self.inputs = self.outputs = None
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
        if isinstance(layer, KerasTensor) and isinstance(getattr(layer._node, "layer", None), InputLayer):
            layer = layer._node.layer  # Sequential([keras.Input(shape), ...])
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential.add: only gradflow Layer instances can be added to a Sequential model; "
                            f"got {layer!r} (of type {type(layer).__name__})")
        if layer is self:
            raise ValueError(f"Sequential.add: cannot add model {self.name!r} to itself")
        if isinstance(layer, InputLayer):
            if self._layers:
                raise ValueError(f"Sequential.add: an Input/InputLayer must come first, but model {self.name!r} "
                                 f"already has {len(self._layers)} layer(s)")
            self._input_layer = layer
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
                out = layer(self.outputs[0])
            except Exception:
                self._layers.pop()
                raise
            self._graph_nodes.append(layer._inbound_nodes[-1])
            self.outputs = [out]
            self.output_shape = out.shape
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
        self._drop_graph()
        if self._input_layer is None or tuple(self._input_layer.batch_shape[1:]) != shape[1:]:
            self._input_layer = InputLayer(batch_shape=shape, dtype=self._layers[0].dtype if self._layers else None)
        x = self._input_layer.output
        for layer in self._layers:
            try:
                x = layer(x)
            except Exception as exc:
                self._drop_graph()
                if hasattr(exc, "add_note"):
                    exc.add_note(f"(while building layer {layer.name!r} of model {self.name!r} "
                                 f"for input shape {x.shape})")
                raise
            self._graph_nodes.append(layer._inbound_nodes[-1])
        self.inputs, self.outputs = [self._input_layer.output], [x]
        self._build_shape = shape
        self.input_shape = shape
        self.output_shape = x.shape
        self.built = True

    def _drop_graph(self) -> None:
        """Forget the symbolic calls of an earlier build (so ``layer.output`` is the current one)."""
        for node in self._graph_nodes:
            nodes = node.layer._inbound_nodes
            if node in nodes:
                nodes.remove(node)
        self._graph_nodes = []
        self.inputs = self.outputs = None

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
    @property
    def input(self):
        return self.inputs[0] if self.inputs else super().input

    @property
    def output(self):
        return self.outputs[0] if self.outputs else super().output

    def call(self, inputs, training=None, mask=None):
        """The planned chain (models.fusion's fused runs; the inference plan when not training and
        no graph is recorded), as ``fit`` and ``predict`` run it. ``mask`` (Keras) is attached to
        the input and followed through every layer."""
        if not self._layers:
            return inputs
        x = inputs if isinstance(inputs, Tensor) else to_tensor(inputs, self._layers[0].dtype)
        if not self.built:
            self.build_from_shape((None,) + tuple(x.shape[1:]))
        if mask is not None:
            set_keras_mask(x, mask)
            return self._make_forward(masked=True)([x], training)[0]
        return self._make_forward()([x], training)[0]

    def _dtype(self):
        for w in self._iter_weights():  # stops at the first float weight
            if w.dtype.kind == "f":
                return w.dtype
        return self._layers[0].dtype if self._layers else self.dtype

    def _sublayers(self) -> list:
        return list(self._layers)

    # -- what the trainer needs -----------------------------------------------------------
    def _output_names(self) -> list[str]:
        return [self._layers[-1].name] if self._layers else ["output"]

    def _pack_outputs(self, flat: list):
        return flat[0]

    def _input_names(self):
        return [self._input_layer.name] if self._input_layer is not None else ["input"]

    def _head_layers(self) -> list:
        last = self._layers[-1] if self._layers else None
        return [last if head_fusable(last) else None]

    def _make_forward(self, heads=frozenset(), masked=False):
        """The chain as one function; fused runs (models.fusion) and, for ``heads={0}``, the last
        layer's logits. ``masked``: every layer follows masks (the input carries one)."""
        if not self._layers:
            raise ValueError(f"model {self.name!r} has no layers; add some before training or predicting")
        heads, ids = frozenset(heads), tuple(map(id, self._layers))
        key = (heads, True) if masked else heads
        cache = self.__dict__.setdefault("_forward_cache", {})  # heads -> (the layers it was built for, forward)
        hit = cache.get(key)
        if hit is not None and hit[0] == ids:
            return hit[1]
        forward = self._build_forward(heads, masked)
        cache[key] = (ids, forward)
        return forward

    def _masked_layers(self, masked: bool) -> list:
        """Per layer, whether a mask reaches or leaves it (the symbolic graph's masks), or all True."""
        nodes = self._graph_nodes
        if masked:
            return [True] * len(self._layers)
        if len(nodes) != len(self._layers):
            return [False] * len(self._layers)
        ids = masked_nodes(nodes)
        return [id(n) in ids for n in nodes]

    def _build_forward(self, heads, masked=False):
        body = self._layers[:-1] if heads else self._layers
        with_masks = self._masked_layers(masked)
        if any(with_masks):  # masks: each layer through its mask rules where they reach it, nothing fused
            return self._build_masked_forward(heads, with_masks)
        head = self._layers[-1].call_pre_activation if heads else None

        def chain(runners):
            def forward(x, training):
                h = x[0]
                for f in runners:
                    h = f(h, training=training)
                if head is not None:
                    h = head(h, training=training)
                return [h]

            return forward

        plans = [[plan_step(layer, spec) for layer, spec in fused_layers(body, inference=inference)]
                 for inference in (False, True)]
        return training_or_inference(chain(plans[0]), chain(plans[1]))

    def _build_masked_forward(self, heads, with_masks):
        """The chain when masks flow through it (Keras's Sequential runs its layers' ``__call__``)."""
        runners = []
        for i, layer in enumerate(self._layers):
            last = i == len(self._layers) - 1
            if last and heads:
                runners.append(_masked_head(layer))
            elif with_masks[i]:
                runners.append(lambda h, training, layer=layer: layer._call_with_masks(h, (), {}, training))
            else:
                runners.append(plan_step(layer, {}))

        def forward(x, training):
            h = x[0]
            for f in runners:
                h = f(h, training=training)
            return [h]

        return training_or_inference(forward, forward)

    # -- config -------------------------------------------------------------------------------
    def get_config(self) -> dict:
        from ..saving.serialization import serialize_keras_object  # noqa: PLC0415

        cfg = {"name": self.name, "trainable": self._trainable, "dtype": np.dtype(self.dtype).name,
               "layers": [serialize_keras_object(layer) for layer in self._layers]}
        if self._build_shape is not None:
            cfg["build_input_shape"] = list(self._build_shape)
        return cfg

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Sequential":
        """Rebuild from ``get_config`` output; only registered layer classes are instantiated."""
        if not isinstance(config, dict) or not isinstance(config.get("layers", []), list):
            raise ValueError(f"Sequential.from_config: expected a dict with a 'layers' list, got {config!r}")
        layers = []
        for i, item in enumerate(config.get("layers", [])):
            if not isinstance(item, dict) or not isinstance(item.get("class_name"), str):
                raise ValueError(f"Sequential.from_config: layer #{i} must be {{'class_name': ..., 'config': {{...}}}}")
            if not isinstance(item.get("config") or {}, dict):
                raise ValueError(f"Sequential.from_config: layer #{i} config must be a dict")
            from ..saving.serialization import deserialize_keras_object  # noqa: PLC0415

            layers.append(deserialize_keras_object(item, custom_objects=custom_objects))
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

    def __repr__(self) -> str:
        return f"<Sequential name={self.name!r} layers={len(self._layers)} built={self.built}>"


def _masked_head(layer):
    """The last layer's logits (fused loss), carrying the mask its output would carry."""
    def head(x, training):
        previous = getattr(x, "_keras_mask", None)
        out = layer.call_pre_activation(x, training=training)
        if previous is not None and layer.supports_masking:
            layer._set_mask_metadata(x, out, previous)
        return out

    return head
