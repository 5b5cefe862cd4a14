"""``Functional``: a model that is a graph of layer calls, from ``Model(inputs, outputs)``.

Building walks back from the outputs through the recorded nodes to the inputs (an output
that cannot be reached from the inputs is an error naming the tensor and the layer), orders
the nodes topologically and plans the forward pass once: each step calls a layer's ``call``
directly on the values of its input tensors, and chains that the kernels fuse
(BatchNormalization -> ReLU -> MaxPooling2D, Conv2D(relu) -> MaxPooling2D) run as one step
wherever each intermediate output feeds only the next layer. Configs use Keras 3's layout
(``layers`` with ``inbound_nodes``, ``input_layers``, ``output_layers``).
"""
from __future__ import annotations

from .. import ops
from ..layers.base import Layer, _is_shape, flatten_shapes, set_keras_mask
from ..layers.input_layer import InputLayer
from ..layers.symbolic import KerasTensor, flatten, map_structure, pack_as, rank_adjusted
from .fusion import head_fusable, match_fusion, match_inference_fusion, plan_step
from .model import Model
from .plan import training_or_inference

__all__ = ["Functional", "functional_from_config"]


def _describe(t: KerasTensor) -> str:
    layer = t._node.layer.name if t._node is not None else "?"
    return f"{t.name or 'tensor'} of shape {t.shape} (output of layer {layer!r})"


class Functional(Model):
    """``Functional(inputs, outputs, name=None)``: inputs/outputs a KerasTensor, a list or a dict of them."""

    _stable_weight_names = True

    def __init__(self, inputs, outputs, name=None, trainable=True, **kwargs):
        dtype = kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"Model(inputs, outputs): unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
        Model.__init__(self, name=name, trainable=trainable, dtype=dtype)
        self._init_graph(inputs, outputs)

    # -- the graph ----------------------------------------------------------------------------
    def _init_graph(self, inputs, outputs) -> None:
        if isinstance(inputs, tuple):
            inputs = list(inputs)
        if isinstance(outputs, tuple):
            outputs = list(outputs)
        flat_in, flat_out = flatten(inputs), flatten(outputs)
        for what, flat in (("inputs", flat_in), ("outputs", flat_out)):
            bad = [type(t).__name__ for t in flat if not isinstance(t, KerasTensor)]
            if bad or not flat:
                raise TypeError(f"Model({what}=...) takes symbolic tensors (from keras.Input and layer calls), "
                                f"a list or a dict of them; got {bad or 'nothing'}")
        if len({id(t) for t in flat_in}) != len(flat_in):
            raise ValueError("Model(inputs=...): the same input tensor is listed twice")
        input_ids = {id(t) for t in flat_in}
        order, seen, visiting = [], set(), set()

        def visit(t: KerasTensor, consumer) -> None:
            if id(t) in input_ids:
                return
            node = t._node
            if node is None or isinstance(node.layer, InputLayer):
                where = f"at layer {consumer.layer.name!r}" if consumer is not None else "as a model output"
                raise ValueError(
                    f"Graph disconnected: cannot obtain the value of tensor {_describe(t)} {where}: it does not "
                    f"depend on the model's inputs {[ti.name for ti in flat_in]}. Pass the keras.Input it comes from "
                    f"in inputs=, or build the output from the given inputs. Layers reached without issue: "
                    f"{[n.layer.name for n in order]}")
            if id(node) in seen:
                return
            if id(node) in visiting:
                raise ValueError(f"the graph has a cycle through layer {node.layer.name!r}")
            visiting.add(id(node))
            for parent in node.flat_inputs:
                visit(parent, node)
            visiting.discard(id(node))
            seen.add(id(node))
            order.append(node)

        for t in flat_out:
            visit(t, None)
        self._inputs_struct, self._outputs_struct = inputs, outputs
        self.inputs, self.outputs = flat_in, flat_out
        self._nodes = order
        layers = _keras_layer_order(flat_in, flat_out)
        if any(layer is self for layer in layers):
            raise ValueError(f"model {self.name!r} cannot contain itself")
        self._layers = layers
        names = [l.name for l in layers]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"model {self.name!r}: layer names must be unique, but {dup} appear more than once "
                             f"(pass name=... to the layers)")
        self._plans = {}
        self.built = True
        self.input_shape = self._map_in(lambda t: t.shape)
        self.output_shape = pack_as(outputs, [t.shape for t in flat_out])
        self._output_structure = outputs

    def _map_in(self, fn):
        return pack_as(self._inputs_struct, [fn(t) for t in self.inputs])

    @property
    def layers(self) -> list[Layer]:
        return list(self._layers)

    def _sublayers(self) -> list:
        return [l for l in self._layers if l is not self]

    @property
    def input(self):
        return self._inputs_struct

    @property
    def output(self):
        return self._outputs_struct

    @property
    def input_names(self) -> list[str]:
        return self._input_names()

    @property
    def output_names(self) -> list[str]:
        return self._output_names()

    def _input_names(self) -> list[str]:
        if isinstance(self._inputs_struct, dict):
            return sorted(self._inputs_struct)
        return [t.name or t._node.layer.name for t in self.inputs]

    def _output_names(self) -> list[str]:
        if isinstance(self._outputs_struct, dict):
            return sorted(self._outputs_struct)
        names, used = [], set()
        for t in self.outputs:
            base = t._node.layer.name if t._node is not None else (t.name or "output")
            name, i = base, 1
            while name in used:
                name, i = f"{base}_{i}", i + 1
            used.add(name)
            names.append(name)
        return names

    def _pack_outputs(self, flat: list):
        return pack_as(self._outputs_struct, flat)

    # -- shapes -------------------------------------------------------------------------------
    def check_input_shape(self, input_shape) -> None:
        shapes = [input_shape] if len(self.inputs) == 1 and _is_shape(input_shape) else flatten_shapes(input_shape)
        if len(shapes) != len(self.inputs):
            raise ValueError(f'model "{self.name}" expects {len(self.inputs)} input(s) '
                             f"{[t.shape for t in self.inputs]}, got {len(shapes)}: {input_shape}")
        for i, (t, got) in enumerate(zip(self.inputs, shapes)):
            want = t.shape
            got = rank_adjusted(tuple(got), tuple(want))
            if len(got) != len(want) or any(w is not None and g is not None and w != g
                                             for w, g in zip(want[1:], got[1:])):
                raise ValueError(f'Input {i} ({t.name!r}) of model "{self.name}" is incompatible with the model: '
                                 f"expected shape={want}, found shape={tuple(got)}")

    def build_from_shape(self, input_shape):
        self.check_input_shape(input_shape)
        return self.output_shape

    def build(self, input_shape=None) -> None:
        if input_shape is not None:
            self.check_input_shape(input_shape)

    def compute_output_shape(self, input_shape):
        return self.output_shape

    # -- running ------------------------------------------------------------------------------
    def _flat_inputs(self, inputs) -> list:
        """The values for ``self.inputs`` from what a caller passed (one value, a list, a dict)."""
        n = len(self.inputs)
        if isinstance(inputs, dict):
            names = self._input_names() if isinstance(self._inputs_struct, dict) else \
                [t.name for t in self.inputs]
            missing = [name for name in names if name not in inputs]
            if missing:
                raise ValueError(f'model "{self.name}" expects inputs named {names}; missing {missing} '
                                 f"(got keys {sorted(inputs)})")
            return [inputs[name] for name in names]
        flat = [inputs] if n == 1 and not isinstance(inputs, (list, tuple)) else flatten(inputs)
        if n == 1 and len(flat) != 1 and isinstance(inputs, (list, tuple)) and all(
                not hasattr(v, "shape") for v in flatten(inputs)):
            flat = [inputs]  # a nested Python list as the one input
        if len(flat) != n:
            raise ValueError(f'model "{self.name}" expects {n} input(s) ({[t.name for t in self.inputs]}), '
                             f"got {len(flat)}")
        return flat

    def call(self, inputs, training=None, mask=None):
        """Run the graph; ``mask`` (one per input, Keras) is attached to the inputs and followed
        through every layer."""
        from ..layers.base import to_tensor  # noqa: PLC0415

        flat = [to_tensor(v, self._dtype()) for v in self._flat_inputs(inputs)]
        flat = [_adjust_rank(x, t.shape) for x, t in zip(flat, self.inputs)]
        masked = False
        if mask is not None:
            for x, m in zip(flat, flatten(mask)):
                if m is not None:
                    set_keras_mask(x, m)
                    masked = True
        return self._pack_outputs(self._make_forward(masked=masked)(flat, training))

    def _make_forward(self, heads=frozenset(), masked=False):
        """The planned forward pass; ``masked``: every layer call follows masks (the model's inputs
        carry some), else only those the graph's symbolic masks reach."""
        key = (frozenset(heads), masked) if masked else frozenset(heads)
        plan = self._plans.get(key)
        if plan is None:
            key_heads = frozenset(heads)
            plan = self._plans[key] = training_or_inference(_plan(self, key_heads, masked=masked),
                                                            _plan(self, key_heads, inference=True, masked=masked))
        return plan

    def _head_layers(self) -> list:
        consumed = {id(t) for node in self._nodes for t in node.flat_inputs}
        heads = []
        for t in self.outputs:
            node = t._node
            layer = node.layer if node is not None else None
            ok = (node in self._nodes and len(node.flat_outputs) == 1 and not node.arguments and not node.extra
                  and id(t) not in consumed and head_fusable(layer) and self.outputs.count(t) == 1)
            heads.append(layer if ok else None)
        return heads

    # -- summary ------------------------------------------------------------------------------
    def _summary_rows(self) -> list:
        """``(layer, output shape, connected)`` per layer: the shape of its first call in this model;
        ``connected`` lists the tensors each call reads (``dense[0][0]``), or is None for every row
        when the graph is a plain chain (Keras 3 then prints three columns)."""
        index = self._node_index()
        mine = self._nodes
        per_layer = {id(l): [n for n in l._inbound_nodes if id(n) in index and (n in mine or not n.flat_inputs)]
                     for l in self._layers}
        chain = len(self.inputs) == 1 and len(self.outputs) == 1 and all(len(v) == 1 for v in per_layer.values())
        previous = self.inputs[0]
        for node in mine:
            chain = chain and node.flat_inputs == [previous] and len(node.flat_outputs) == 1
            previous = node.flat_outputs[0] if node.flat_outputs else None
        rows = []
        for layer in self._layers:
            nodes = per_layer[id(layer)]
            outs = nodes[0].flat_outputs if nodes else []
            shape = outs[0].shape if len(outs) == 1 else [t.shape for t in outs]
            connected = None
            if not chain:
                connected = [f"{t._node.layer.name}[{index[id(t._node)]}][{t._index}]"
                             for n in nodes for t in n.flat_inputs] or ["-"]
            rows.append((layer, shape, connected))
        return rows

    # -- config -------------------------------------------------------------------------------
    def _node_index(self) -> dict:
        """Each node of this model (inputs' nodes too) -> its index among its layer's nodes here."""
        mine = {id(n) for n in self._nodes} | {id(t._node) for t in self.inputs if t._node is not None}
        index = {}
        for layer in self._layers:
            k = 0
            for node in layer._inbound_nodes:
                if id(node) in mine:
                    index[id(node)] = k
                    k += 1
        return index

    def _history(self, t: KerasTensor, index: dict) -> list:
        return [t._node.layer.name, index[id(t._node)], t._index]

    def get_config(self) -> dict:
        from ..saving.serialization import serialize_keras_object  # noqa: PLC0415

        index = self._node_index()
        mine = {id(n) for n in self._nodes}
        layers = []
        for layer in self._layers:
            entry = serialize_keras_object(layer)
            entry["name"] = layer.name
            nodes = []
            def ref(v):
                if not isinstance(v, KerasTensor):
                    return v
                return {"class_name": "__keras_tensor__",
                        "config": {"shape": list(v.shape), "dtype": "string" if v.dtype == "object" else v.dtype,
                                   "keras_history": self._history(v, index)}}

            for node in layer._inbound_nodes:
                if id(node) in mine:
                    rest, tensor_kwargs = node.extra or ((), {})
                    nodes.append({"args": [map_structure(ref, node.inputs)] + [map_structure(ref, a) for a in rest],
                                  "kwargs": {**node.arguments, **map_structure(ref, dict(tensor_kwargs))}})
            entry["inbound_nodes"] = nodes
            layers.append(entry)
        return {"name": self.name, "trainable": self._trainable, "layers": layers,
                "input_layers": pack_as(self._inputs_struct, [self._history(t, index) for t in self.inputs]),
                "output_layers": pack_as(self._outputs_struct, [self._history(t, index) for t in self.outputs])}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        return functional_from_config(cls, config, custom_objects)


def _keras_layer_order(flat_in, flat_out) -> list:
    """The model's layers in Keras 3's order (``model.layers``, and so ``model.weights`` and
    ``get_weights``): deepest first (inputs), layers of equal depth in the order a depth-first walk
    from the outputs first meets them. The same order is what lets ``set_weights`` take a Keras
    model's ``get_weights()`` unchanged."""
    input_ids = {id(t) for t in flat_in}
    first_seen, finished, done = {}, [], set()

    def walk(t):
        node = t._node
        if node is None or id(node) in done:
            return
        first_seen.setdefault(id(node.layer), (len(first_seen), node.layer))
        if node.flat_inputs and id(t) not in input_ids:
            for parent in node.flat_inputs:
                walk(parent)
        done.add(id(node))
        finished.append(node)

    for t in flat_out:
        walk(t)
    node_depth, layer_depth = {}, {}
    for node in reversed(finished):
        depth = max(node_depth.setdefault(id(node), 0), layer_depth.get(id(node.layer), 0))
        layer_depth[id(node.layer)] = node_depth[id(node)] = depth
        for parent in node.parent_nodes:
            node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
    for t in flat_in:
        layer = t._node.layer if t._node is not None else None
        if layer is not None and id(layer) not in layer_depth:
            layer_depth[id(layer)] = 0
            first_seen[id(layer)] = (-1, layer)
    ranked = sorted(((-layer_depth[key], index, id(layer)), layer) for key, (index, layer) in first_seen.items()
                    if key in layer_depth)
    return [layer for _, layer in ranked]


def _is_history(value) -> bool:
    return (isinstance(value, list) and len(value) == 3 and isinstance(value[0], str)
            and all(isinstance(v, int) for v in value[1:]))


def functional_from_config(cls, config: dict, custom_objects=None):
    """Rebuild a functional model: create each layer, replay its calls in dependency order."""
    from ..saving.serialization import deserialize_keras_object  # noqa: PLC0415

    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{cls.__name__}.from_config: expected a functional config with 'layers', got {config!r}")
    layers, pending = {}, {}
    for i, entry in enumerate(config["layers"]):
        if not isinstance(entry, dict):
            raise ValueError(f"{cls.__name__}.from_config: layer #{i} must be a dict")
        layer = deserialize_keras_object(entry, custom_objects=custom_objects)
        name = entry.get("name", layer.name)
        layers[name] = layer
        pending[name] = list(entry.get("inbound_nodes") or [])
    made: dict = {}  # (layer name, node index) -> flat outputs
    for name, layer in layers.items():
        if isinstance(layer, InputLayer):
            made[(name, 0)] = [layer.output]

    def resolve(value):
        if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
            lname, nidx, tidx = value["config"]["keras_history"]
            outs = made.get((lname, nidx))
            if outs is None:
                raise KeyError((lname, nidx))
            return outs[tidx]
        if isinstance(value, list):
            return [resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        return value

    done = {name: (1 if isinstance(layer, InputLayer) else 0) for name, layer in layers.items()}
    progress = True
    while progress and any(pending.values()):
        progress = False
        for name, nodes in pending.items():
            while nodes:
                node = nodes[0]
                try:
                    args = [resolve(a) for a in node.get("args", [])]
                except KeyError:
                    break
                try:
                    kwargs = resolve(dict(node.get("kwargs") or {}))
                except KeyError:
                    break
                out = layers[name](*args, **kwargs)
                made[(name, done[name])] = flatten(out)
                done[name] += 1
                nodes.pop(0)
                progress = True
    stuck = [n for n, nodes in pending.items() if nodes]
    if stuck:
        raise ValueError(f"{cls.__name__}.from_config: cannot rebuild the calls of layers {stuck}: their inputs "
                         f"never become available (a corrupt or incomplete config)")

    def tensors(spec):
        if _is_history(spec):
            lname, nidx, tidx = spec
            if (lname, nidx) not in made:
                raise ValueError(f"{cls.__name__}.from_config: unknown tensor {spec}")
            return made[(lname, nidx)][tidx]
        if isinstance(spec, dict):
            return {k: tensors(v) for k, v in spec.items()}
        return [tensors(s) for s in spec]

    inputs, outputs = tensors(config["input_layers"]), tensors(config["output_layers"])
    model = (Functional if cls is Model else cls)(inputs=inputs, outputs=outputs, name=config.get("name"))
    if config.get("trainable") is False:
        model.trainable = False
    return model


class _Step:
    __slots__ = ("fn", "inputs", "outputs", "single", "extra")

    def __init__(self, fn, inputs, outputs, extra=None):
        self.fn, self.inputs, self.outputs, self.extra = fn, inputs, outputs, extra
        self.single = isinstance(inputs, int)


class _Ref:
    """A slot reference inside a node's further arguments (where plain ints are constants)."""

    __slots__ = ("slot",)

    def __init__(self, slot):
        self.slot = slot


def model_has_masks(layer) -> bool:
    """Whether ``layer`` is a graph model (Functional or Sequential) that masks reach inside."""
    nodes = getattr(layer, "_nodes", None)
    if nodes is None:
        nodes = getattr(layer, "_graph_nodes", None) or ()
    return any(t._keras_mask is not None for n in nodes for t in n.flat_inputs + n.flat_outputs)


def masked_nodes(nodes, everything: bool = False) -> set:
    """The ids of the calls masks may reach at run time: where the symbolic graph has a mask, and
    downstream of a nested model that masks reach inside (its outputs carry masks at run time,
    though Keras gives its symbolic outputs none); all of them with ``everything``."""
    out, maybe = set(), set()
    for node in nodes:
        layer = node.layer
        incoming = everything or any(t._keras_mask is not None or id(t) in maybe for t in node.flat_inputs)
        is_model = hasattr(layer, "_make_forward")
        emits = is_model and model_has_masks(layer)
        if incoming or emits or any(t._keras_mask is not None for t in node.flat_outputs):
            out.add(id(node))
        for t in node.flat_outputs:
            if t._keras_mask is not None or emits or (incoming and (is_model or layer.supports_masking)):
                maybe.add(id(t))
    return out


def _plan(model: Functional, heads: frozenset, inference: bool = False, masked: bool = False):
    """The forward function of ``model``: steps over integer slots, fusions applied (those of
    inference with ``inference=True``: models.fusion). Calls that masks reach (all of them with
    ``masked``) run through the layers' mask rules and are not fused."""
    slot = {}
    with_masks = masked_nodes(model._nodes, masked)

    def slot_of(t):
        key = id(t)
        if key not in slot:
            slot[key] = len(slot)
        return slot[key]

    in_slots = [slot_of(t) for t in model.inputs]
    nodes = model._nodes
    consumers: dict = {}
    for node in nodes:
        for t in node.flat_inputs:
            consumers.setdefault(id(t), []).append(node)
    output_ids = {id(t) for t in model.outputs}
    head_nodes = {id(model.outputs[k]._node) for k in heads}

    def chain_next(node):
        if len(node.flat_outputs) != 1:
            return None
        t = node.flat_outputs[0]
        users = consumers.get(id(t), [])
        if id(t) in output_ids or len(users) != 1:
            return None
        nxt = users[0]
        if nxt.arguments or len(nxt.flat_inputs) != 1 or id(nxt) in head_nodes or id(nxt) in with_masks:
            return None
        return nxt

    absorbed = set()
    steps = []
    for node in nodes:
        if id(node) in absorbed:
            continue
        layer = node.layer
        fused, count = {}, 0
        if (not node.arguments and id(node) not in head_nodes and len(node.flat_inputs) == 1
                and id(node) not in with_masks):
            chain = [node]

            def successor(k, chain=chain):
                while len(chain) <= k:
                    nxt = chain_next(chain[-1])
                    if nxt is None:
                        return None
                    chain.append(nxt)
                return chain[k].layer

            fused, count = (match_inference_fusion if inference else match_fusion)(layer, successor)
            last = chain[count]
            for n in chain[1:count + 1]:
                absorbed.add(id(n))
        else:
            last = node
        ins = slot_of(node.flat_inputs[0]) if isinstance(node.inputs, KerasTensor) else \
            pack_as(node.inputs, [slot_of(t) for t in node.flat_inputs])
        outs = [slot_of(t) for t in last.flat_outputs]
        extra = None
        if node.extra:
            extra = map_structure(lambda v: _Ref(slot_of(v)) if isinstance(v, KerasTensor) else v,
                                  [list(node.extra[0]), dict(node.extra[1])])
        fn = (_masked_step_fn(layer, node, id(node) in head_nodes) if id(node) in with_masks else
              _step_fn(layer, node, fused, id(node) in head_nodes))
        steps.append(_Step(fn, ins, outs, extra))
    out_slots = [slot_of(t) for t in model.outputs]
    n_slots = len(slot)

    def resolve(spec, values):
        if isinstance(spec, int):
            return values[spec]
        if isinstance(spec, dict):
            return {k: resolve(v, values) for k, v in spec.items()}
        return [resolve(v, values) for v in spec]

    def forward(x, training):
        training = bool(training)
        values = [None] * n_slots
        for s, v in zip(in_slots, x):
            values[s] = v
        for step in steps:
            args = values[step.inputs] if step.single else resolve(step.inputs, values)
            if step.extra is None:
                out = step.fn(args, training=training)
            else:
                rest, kw = map_structure(lambda v: values[v.slot] if isinstance(v, _Ref) else v, step.extra)
                out = step.fn(args, training=training, extra=(rest, kw))
            if len(step.outputs) == 1:
                values[step.outputs[0]] = out if not isinstance(out, (list, tuple, dict)) else flatten(out)[0]
            else:
                for s, v in zip(step.outputs, flatten(out)):
                    values[s] = v
        return [values[s] for s in out_slots]

    forward.steps = len(steps)  # fewer than the nodes where chains fused (tests read it)
    return forward


def _masked_step_fn(layer, node, head: bool):
    """A step that follows Keras's mask rules: masks passed to ``call``, output masks attached
    (a head's logits carry the mask its activation's output would)."""
    if head:
        def head_step(x, training):
            previous = getattr(x, "_keras_mask", None)
            out = layer.call_pre_activation(x, training=training)
            if previous is not None and layer.supports_masking:
                layer._set_mask_metadata(x, out, previous)
            return out

        return head_step
    static = dict(node.arguments)
    fixed = static.get("training")

    def masked_step(x, training, extra=None):
        rest, kw = extra if extra is not None else ((), {})
        return layer._call_with_masks(x, tuple(rest), {**static, **kw}, training if fixed is None else fixed)

    return masked_step


def _step_fn(layer, node, fused: dict, head: bool):
    if head:
        return layer.call_pre_activation
    if node.extra:
        static = dict(node.arguments)
        fixed = static.get("training")

        def call_with_extra(x, training, extra):
            rest, kw = extra
            return layer._invoke(x, tuple(rest), {**static, **kw}, training if fixed is None else fixed)

        return call_with_extra
    return plan_step(layer, fused, node.arguments)


def _adjust_rank(x, want):
    """``x`` with Keras's rank rule applied (``layers.symbolic.rank_adjusted``); its mask stays attached."""
    shape = tuple(x.shape)
    adjusted = rank_adjusted(shape, tuple(want))
    if adjusted == shape:
        return x
    y = ops.squeeze(x, -1) if len(adjusted) < len(shape) else ops.expand_dims(x, -1)
    mask = getattr(x, "_keras_mask", None)
    if mask is not None:
        set_keras_mask(y, mask)
    return y
