"""Ops in the functional graph: ``OpLayer`` is the node any ``gradflow.ops`` function records when it
is called on symbolic tensors (``keras.ops.reshape(inp, (-1, 4))``, ``x[:, 0]``, ``1 - x``).

Its config names the op and holds the call's other arguments (see ``ops._symbolic``), so a model's
config, ``clone_model`` and ``load_model`` rebuild it without pickle. ``TensorOp`` is the node older
gradflow versions recorded for arithmetic with a number; it stays so their saved models load.
"""
from __future__ import annotations

import numbers

from .. import ops
from .._naming import snake_case, unique_name
from ..ops import _symbolic
from .base import Layer
from .symbolic import KerasTensor, Node, flatten, map_structure

__all__ = ["OpLayer", "TensorOp"]

#: Keras's node names for the ops whose gradflow name differs
_KERAS_NAMES = {"getitem": "get_item", "add": "add", "sub": "subtract", "mul": "multiply", "div": "divide",
                "pow": "power", "neg": "negative", "abs": "absolute"}


class OpLayer(Layer):
    """``ops.<op>(*args, **kwargs)`` with the symbolic tensors of a call put back in their places."""

    def __init__(self, op: str, arguments=None, **kwargs):
        short = op.rsplit(".", 1)[-1]
        if not kwargs.get("name"):
            kwargs["name"] = unique_name(_KERAS_NAMES.get(short, snake_case(short)))
        super().__init__(**kwargs)
        self.op = op
        self._fn = _symbolic.get_op(op)
        self._template = _symbolic.decode(arguments if arguments is not None else [[_symbolic.Slot(0)], {}])

    @classmethod
    def record(cls, op: str, args, kwargs):
        """Call ``op`` on symbolic ``args``/``kwargs``: a new node and its symbolic outputs."""
        tensors, template = _symbolic.split_symbolic(args, kwargs)
        return cls(op, template)(tensors[0] if len(tensors) == 1 else tensors)

    def _arguments(self, inputs):
        values = [inputs] if not isinstance(inputs, (list, tuple)) else list(inputs)
        return _symbolic.fill_arguments(self._template, values)

    def _symbolic_call(self, inputs, args, kwargs):
        """The node: outputs from the op's spec (a probe run, ``ops._symbolic.output_spec``)."""
        if args or kwargs:
            raise TypeError(f"OpLayer {self.name!r} takes its symbolic tensors as one list")
        call_args, call_kwargs = self._arguments(inputs)
        try:
            specs = _symbolic.output_spec(self._fn, call_args, call_kwargs)
        except Exception as exc:
            if hasattr(exc, "add_note"):
                shapes = [t.shape for t in flatten(inputs)]
                exc.add_note(f"(while calling ops.{self.op} on symbolic inputs of shape {shapes})")
            raise
        outputs = _to_keras(specs)
        self.built = True
        self.input_shape = map_structure(lambda t: t.shape, inputs)
        self.output_shape = map_structure(lambda t: t.shape, outputs)
        node = Node(self, inputs, outputs, {})
        for i, t in enumerate(node.flat_outputs):
            t._node, t._index = node, i
        self._inbound_nodes.append(node)
        return outputs

    def call(self, inputs):
        args, kwargs = self._arguments(inputs)
        return self._fn(*args, **kwargs)

    def get_config(self) -> dict:
        return {**super().get_config(), "op": self.op, "arguments": _symbolic.encode(self._template)}


def _to_keras(specs):
    if isinstance(specs, _symbolic.Spec):
        return KerasTensor(specs.shape, specs.dtype)
    if isinstance(specs, dict):
        return {k: _to_keras(v) for k, v in specs.items()}
    return type(specs)(_to_keras(s) for s in specs)


_OPS = {"add": ops.add, "subtract": ops.sub, "multiply": ops.mul, "divide": ops.div, "power": ops.pow}


class TensorOp(Layer):
    """``op(x, other)`` with a constant number ``other`` (``reverse``: ``op(other, x)``), or ``-x``:
    what arithmetic on symbolic tensors recorded before ``OpLayer``; kept to load such models."""

    def __init__(self, op, other=None, reverse=False, **kwargs):
        super().__init__(**kwargs)
        if op != "negative" and op not in _OPS:
            raise ValueError(f"TensorOp: unknown op {op!r}; expected one of {sorted(_OPS) + ['negative']}")
        if op != "negative" and (isinstance(other, bool) or not isinstance(other, numbers.Real)):
            raise TypeError(f"symbolic tensors support {op} with a number only, got {type(other).__name__}; "
                            f"wrap other values in a layer")
        self.op, self.other, self.reverse = op, None if other is None else float(other), bool(reverse)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x):
        if self.op == "negative":
            return -x
        fn = _OPS[self.op]
        return fn(self.other, x) if self.reverse else fn(x, self.other)

    def get_config(self) -> dict:
        return {**super().get_config(), "op": self.op, "other": self.other, "reverse": self.reverse}
