"""Symbolic tensors and graph nodes: what calling a layer on ``keras.Input(...)`` records.

``KerasTensor`` carries a shape (batch axis ``None``), a dtype, a name and its history: the
node of the layer call that produced it. ``Node`` is one call of a layer on symbolic inputs,
with the non-tensor arguments of that call (``training=False`` on a nested model, say), so a
functional model can replay the call. ``flatten``/``pack_as`` walk the nested lists, tuples
and dicts that layers take and return.
"""
from __future__ import annotations

import numpy as np

from .._registry import find

__all__ = ["KerasTensor", "Node", "flatten", "pack_as", "map_structure", "is_symbolic", "any_symbolic"]


def flatten(structure) -> list:
    """The leaves of nested lists/tuples/dicts, dicts by sorted key (Keras's order)."""
    if isinstance(structure, (list, tuple)):
        out = []
        for item in structure:
            out.extend(flatten(item))
        return out
    if isinstance(structure, dict):
        out = []
        for key in sorted(structure):
            out.extend(flatten(structure[key]))
        return out
    return [structure]


def pack_as(structure, flat):
    """Rebuild ``structure``'s nesting with the leaves of ``flat`` (the inverse of ``flatten``)."""
    it = iter(flat)

    def rebuild(s):
        if isinstance(s, (list, tuple)):
            items = [rebuild(x) for x in s]
            return type(s)(items) if isinstance(s, list) or type(s) is tuple else type(s)(*items)
        if isinstance(s, dict):
            built = {k: rebuild(s[k]) for k in sorted(s)}
            return {k: built[k] for k in s}
        return next(it)

    return rebuild(structure)


def map_structure(fn, structure):
    return pack_as(structure, [fn(x) for x in flatten(structure)])


class KerasTensor:
    """A symbolic tensor: shape (``None`` for unknown sizes), dtype, name and producing node."""

    __array_priority__ = 1000
    _keras_mask = None  # the symbolic mask of this tensor (a KerasTensor), set where a layer makes one

    def __init__(self, shape, dtype="float32", name=None, node=None, index=0):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = np.dtype(dtype).name
        self.name = name
        self._node = node
        self._index = index

    ndim = property(lambda self: len(self.shape))

    @property
    def _keras_history(self):
        """``(layer, node_index, tensor_index)`` of the call that produced this tensor."""
        node = self._node
        return (node.layer, node.layer._inbound_nodes.index(node), self._index)

    def __repr__(self):
        return f"<KerasTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    def __bool__(self):
        raise TypeError("a symbolic KerasTensor has no truth value: it holds no data until the model runs")

    def __array__(self, *args, **kwargs):
        raise TypeError(f"cannot convert symbolic {self!r} to a NumPy array: it holds no data. Symbolic tensors "
                        f"come from keras.Input and layer calls on them; call the model on real data instead")

    # arithmetic on symbolic tensors records a layer call: TensorOp (operations.py) with a number,
    # a merge layer (merging.py) with another symbolic tensor. Those modules build on this one, so
    # their classes come from the registry they put themselves in.
    def _op(self, name, other=None, reverse=False):
        return find("layers", "TensorOp")(name, other=other, reverse=reverse)(self)

    def __add__(self, other):
        return self._binary("add", other)

    def __radd__(self, other):
        return self._binary("add", other, True)

    def __sub__(self, other):
        return self._binary("subtract", other)

    def __rsub__(self, other):
        return self._binary("subtract", other, True)

    def __mul__(self, other):
        return self._binary("multiply", other)

    def __rmul__(self, other):
        return self._binary("multiply", other, True)

    def __truediv__(self, other):
        return self._binary("divide", other)

    def __rtruediv__(self, other):
        return self._binary("divide", other, True)

    def __pow__(self, other):
        return self._binary("power", other)

    def __neg__(self):
        return self._op("negative")

    def _binary(self, name, other, reverse=False):
        if isinstance(other, KerasTensor):
            pairs = {"add": "Add", "subtract": "Subtract", "multiply": "Multiply"}
            if name not in pairs:
                raise TypeError(f"{name} of two symbolic tensors is not supported; use a layer (e.g. a Lambda)")
            a, b = (other, self) if reverse else (self, other)
            return find("layers", pairs[name])()([a, b])
        return self._op(name, other, reverse)


class Node:
    """One call of ``layer`` on symbolic ``inputs`` (any nesting), giving ``outputs``; every symbolic
    tensor it reads, further arguments' included, is in ``flat_inputs``."""

    __slots__ = ("layer", "inputs", "outputs", "arguments", "extra", "flat_inputs", "flat_outputs")

    def __init__(self, layer, inputs, outputs, arguments: dict, extra=None):
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        self.arguments = dict(arguments)
        #: ``(args, kwargs)`` beyond the first argument that hold symbolic tensors, or None
        self.extra = extra
        self.flat_inputs = flatten(inputs) + ([t for t in flatten(list(extra)) if isinstance(t, KerasTensor)]
                                              if extra else [])
        self.flat_outputs = flatten(outputs)

    @property
    def parent_nodes(self) -> list:
        return [t._node for t in self.flat_inputs if t._node is not None]

    def __repr__(self):
        return (f"<Node {self.layer.name}: {[t.shape for t in self.flat_inputs]} -> "
                f"{[t.shape for t in self.flat_outputs]}>")


def is_symbolic(x) -> bool:
    return isinstance(x, KerasTensor)


def any_symbolic(structure) -> bool:
    if isinstance(structure, KerasTensor):
        return True
    if isinstance(structure, (list, tuple)):
        return any(any_symbolic(s) for s in structure)
    if isinstance(structure, dict):
        return any(any_symbolic(s) for s in structure.values())
    return False
