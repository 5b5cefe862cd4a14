"""Symbolic tensors and graph nodes: what calling a layer on ``keras.Input(...)`` records.

``KerasTensor`` carries a shape (batch axis ``None``), a dtype, a name and its history: the
node of the layer call that produced it. ``Node`` is one call of a layer on symbolic inputs,
with the non-tensor arguments of that call (``training=False`` on a nested model, say), so a
functional model can replay the call. ``flatten``/``pack_as`` walk the nested lists, tuples
and dicts that layers take and return.
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..ops._symbolic import SymbolicTensor

__all__ = ["KerasTensor", "Node", "flatten", "pack_as", "map_structure", "is_symbolic", "any_symbolic", "rank_adjusted"]


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


class KerasTensor(SymbolicTensor):
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

    # Keras's KerasTensor methods and operators, each the gradflow.ops function of Keras's
    # (keras/src/backend/common/keras_tensor.py): called on a symbolic tensor, an op records a node
    # of the functional graph (ops._symbolic), so ``1 - x * 2`` and ``x[:, 0]`` build models.
    def reshape(self, newshape):
        return ops.reshape(self, newshape)

    def squeeze(self, axis=None):
        return ops.squeeze(self, axis)

    def __int__(self):
        raise ValueError(f"cannot convert symbolic {self!r} to an int: it holds no data")

    def __float__(self):
        raise ValueError(f"cannot convert symbolic {self!r} to a float: it holds no data")

    def __iter__(self):
        raise NotImplementedError("iterating over a symbolic KerasTensor is not supported")

    def __add__(self, other):
        return ops.add(self, other)

    def __radd__(self, other):
        return ops.add(other, self)

    def __sub__(self, other):
        return ops.subtract(self, other)

    def __rsub__(self, other):
        return ops.subtract(other, self)

    def __mul__(self, other):
        return ops.multiply(self, other)

    def __rmul__(self, other):
        return ops.multiply(other, self)

    def __matmul__(self, other):
        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        return ops.matmul(other, self)

    def __truediv__(self, other):
        return ops.true_divide(self, other)

    def __rtruediv__(self, other):
        return ops.true_divide(other, self)

    def __neg__(self):
        return ops.negative(self)

    def __abs__(self):
        return ops.absolute(self)

    def __pow__(self, other):
        return ops.power(self, other)

    def __rpow__(self, other):
        return ops.power(other, self)

    def __floordiv__(self, other):
        return ops.floor_divide(self, other)

    def __rfloordiv__(self, other):
        return ops.floor_divide(other, self)

    def __mod__(self, other):
        return ops.mod(self, other)

    def __rmod__(self, other):
        return ops.mod(other, self)

    def __lt__(self, other):
        return ops.less(self, other)

    def __le__(self, other):
        return ops.less_equal(self, other)

    def __gt__(self, other):
        return ops.greater(self, other)

    def __ge__(self, other):
        return ops.greater_equal(self, other)

    def __ne__(self, other):
        return ops.not_equal(self, other)

    def __and__(self, other):
        return ops.logical_and(self, other)

    def __rand__(self, other):
        return ops.logical_and(other, self)

    def __or__(self, other):
        return ops.logical_or(self, other)

    def __ror__(self, other):
        return ops.logical_or(other, self)

    def __invert__(self):
        return ops.logical_not(self)

    def __xor__(self, other):
        return ops.logical_xor(self, other)

    def __rxor__(self, other):
        return ops.logical_xor(other, self)

    def __getitem__(self, key):
        return ops.getitem(self, key)

    def __round__(self, ndigits=None):
        return ops.round(self, ndigits or 0)

    __hash__ = object.__hash__  # defining __ne__ must not make it unhashable (graphs key on tensors)


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


def rank_adjusted(got: tuple, want: tuple) -> tuple:
    """Keras's input rank rule for a functional model: one axis more than the Input, of size 1, is
    squeezed; one axis fewer, where the Input's last axis is 1, gets that axis (``(N,)`` feeds
    ``Input(shape=(1,))``). Any other shape is returned unchanged (and refused by the caller)."""
    if len(got) == len(want) + 1 and got[-1] == 1:
        return tuple(got[:-1])
    if len(got) == len(want) - 1 and want and want[-1] == 1:
        return tuple(got) + (1,)
    return tuple(got)
