"""``clone_model``: the same architecture with fresh weights (Keras 3 semantics)."""
from __future__ import annotations

from ..layers.input_layer import Input, InputLayer
from ..layers.symbolic import KerasTensor, flatten, map_structure, pack_as
from .functional import Functional
from .model import Model
from .sequential import Sequential

__all__ = ["clone_model"]


def _default_clone(layer):
    return type(layer).from_config(layer.get_config())


def clone_model(model, input_tensors=None, clone_function=None, call_function=None, recursive=False, **kwargs):
    """A new model with the architecture of ``model`` and new weights (call ``set_weights`` to copy).

    ``clone_function(layer) -> layer`` replaces the default per-layer copy (``from_config(get_config())``);
    a layer shared by several calls is cloned once and stays shared. ``input_tensors`` gives new
    inputs for a functional or sequential model.
    """
    if kwargs:
        raise TypeError(f"clone_model: unexpected keyword argument(s): {', '.join(sorted(kwargs))}")
    clone = clone_function or _default_clone

    def clone_layer(layer):
        if recursive and isinstance(layer, Model):
            return clone_model(layer, clone_function=clone_function, call_function=call_function, recursive=True)
        return clone(layer)

    if isinstance(model, Sequential):
        layers = [clone_layer(l) for l in model.layers]
        new = Sequential(name=model.name)
        if input_tensors is not None:
            new.add(flatten(input_tensors)[0])
        elif model._input_layer is not None and model.built:
            new.add(Input(batch_shape=model._input_layer.batch_shape, dtype=model._input_layer.dtype))
        for layer in layers:
            new.add(layer)
        return new
    if isinstance(model, Functional):
        if input_tensors is not None:
            given = flatten(input_tensors)
            if len(given) != len(model.inputs):
                raise ValueError(f"clone_model: model {model.name!r} has {len(model.inputs)} input(s), "
                                 f"got {len(given)} input_tensors")
        else:
            given = [Input(batch_shape=t.shape, dtype=t.dtype, name=t.name) for t in model.inputs]
        values = {id(t): v for t, v in zip(model.inputs, given)}
        clones = {}
        for node in model._nodes:
            layer = node.layer
            if isinstance(layer, InputLayer):
                continue
            if id(layer) not in clones:
                clones[id(layer)] = clone_layer(layer)
            swap = (lambda v: values[id(v)] if isinstance(v, KerasTensor) else v)
            args = map_structure(swap, node.inputs)
            rest, tensor_kwargs = map_structure(swap, [list(node.extra[0]), dict(node.extra[1])]) if node.extra \
                else ([], {})
            new_layer = clones[id(layer)]
            call = call_function or (lambda lay, *a, **k: lay(*a, **k))
            out = call(new_layer, args, *rest, **node.arguments, **tensor_kwargs)
            for t, v in zip(node.flat_outputs, flatten(out)):
                values[id(t)] = v
        inputs = pack_as(model._inputs_struct, given)
        outputs = pack_as(model._outputs_struct, [values[id(t)] for t in model.outputs])
        return type(model)(inputs, outputs, name=model.name)
    if isinstance(model, Model):
        new = type(model).from_config(model.get_config())
        if model.built and model.input_shape is not None and not new.built:
            new.build(model.input_shape)
        return new
    raise TypeError(f"clone_model expects a gradflow Model, got {type(model).__name__}")
