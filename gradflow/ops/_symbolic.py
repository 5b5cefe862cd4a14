"""One dispatch for every public op: concrete arguments run the op, a symbolic one records a node.

Each ops module ends with ``export(globals(), __all__)``, which wraps its public op functions in
place. A wrapped op called with a symbolic tensor anywhere in its arguments (a ``KerasTensor``
from ``keras.Input`` or a layer output, nested in lists, tuples or dicts too) does not compute:
it builds the generic op layer (``layers.OpLayer``, found through the registry because ops never
import layers) whose config names the op and holds its other arguments, and calls it on the
symbolic tensors, so the node lands in the functional graph and a saved config rebuilds it. The
output spec comes from :func:`output_spec`, Keras's own fallback rule (its backends'
``compute_output_spec``): run the op on tensors of ones where each unknown size is filled in,
twice with different fills, and call an output axis unknown where the two runs differ.

A new op (or a table of them) joins by being exported through :func:`export`; nothing else.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .._registry import find
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..backend import get_backend

__all__ = ["SymbolicTensor", "Spec", "export", "symbolic_op", "is_symbolic", "has_symbolic", "get_op", "op_names",
           "output_spec", "encode", "decode", "fill_arguments", "Slot"]


class SymbolicTensor:
    """Marker base of symbolic tensors (``layers.KerasTensor``): the dispatch looks for these."""

    __slots__ = ()


class Spec:
    """One output of a symbolic op call: its shape (``None`` for unknown sizes) and dtype name."""

    __slots__ = ("shape", "dtype")

    def __init__(self, shape: tuple, dtype: str):
        self.shape, self.dtype = shape, dtype

    def __repr__(self):
        return f"Spec({self.shape}, {self.dtype})"


#: public name ("reshape", "image.resize") -> the undecorated function
_OPS: dict[str, Callable[..., Any]] = {}
_PLAIN = (Tensor, float, int, bool, str, type(None))


def is_symbolic(x) -> bool:
    return isinstance(x, SymbolicTensor)


def has_symbolic(values) -> bool:
    """Whether a symbolic tensor is among ``values`` (an iterable), lists, tuples and dicts searched."""
    for v in values:
        t = type(v)
        if t in _PLAIN:
            continue
        if t is list or t is tuple:
            if has_symbolic(v):
                return True
        elif t is dict:
            if has_symbolic(v.values()):
                return True
        elif isinstance(v, SymbolicTensor):
            return True
    return False


def symbolic_op(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` that records a graph node (see the module doc) when any argument is symbolic."""
    _OPS[name] = fn

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if has_symbolic(args) or (kwargs and has_symbolic(kwargs.values())):
            return find("layers", "OpLayer").record(name, args, kwargs)
        return fn(*args, **kwargs)

    op.__wrapped_op__ = fn  # type: ignore[attr-defined]
    return op


def export(namespace: dict, names, prefix: str = "", skip=()) -> None:
    """Wrap the public op functions ``names`` of a module in place (``prefix``: "image." for
    ``ops.image``); helpers that take no tensors are listed in ``skip``."""
    for name in names:
        fn = namespace.get(name)
        if name in skip or not callable(fn) or isinstance(fn, type):
            continue
        namespace[name] = symbolic_op(getattr(fn, "__wrapped_op__", fn), prefix + name)


def get_op(name: str) -> Callable[..., Any]:
    """The undecorated op exported as ``name``."""
    try:
        return _OPS[name]
    except KeyError:
        raise ValueError(f"unknown op {name!r}: not one of gradflow.ops' exported functions") from None


def op_names() -> list[str]:
    return sorted(_OPS)


# -- arguments: symbolic tensors become slots, the rest a JSON-able template --------------------
class Slot:
    """Where the ``index``-th symbolic tensor of an op call goes in its arguments."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index

    def __repr__(self):
        return f"Slot({self.index})"


def _map(fn, value):
    """``fn`` on the leaves of nested lists, tuples and dicts (structure kept)."""
    t = type(value)
    if t is list or t is tuple:
        return t(_map(fn, v) for v in value)
    if t is dict:
        return {k: _map(fn, v) for k, v in value.items()}
    return fn(value)


def split_symbolic(args, kwargs):
    """``(tensors, template)``: the symbolic tensors in call order and ``[args, kwargs]`` with each
    replaced by its :class:`Slot`."""
    tensors: list = []

    def take(v):
        if isinstance(v, SymbolicTensor):
            tensors.append(v)
            return Slot(len(tensors) - 1)
        return v

    return tensors, _map(take, [list(args), dict(kwargs)])


def fill_arguments(template, values):
    """``(args, kwargs)`` of ``template`` with each :class:`Slot` replaced by ``values[slot]``."""
    args, kwargs = _map(lambda v: values[v.index] if isinstance(v, Slot) else v, template)
    return tuple(args), kwargs


def encode(value):
    """A template as JSON-able data (tuples, slices, Ellipsis, dtypes and arrays tagged)."""
    t = type(value)
    if t is tuple:
        return {"__tuple__": [encode(v) for v in value]}
    if t is list:
        return [encode(v) for v in value]
    if t is dict:
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, Slot):
        return {"__tensor__": value.index}
    if value is None or t in (bool, int, float, str):
        return value
    if value is Ellipsis:
        return {"__ellipsis__": True}
    if t is slice:
        return {"__slice__": [encode(value.start), encode(value.stop), encode(value.step)]}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return {"__dtype__": np.dtype(value).name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Tensor) or hasattr(value, "__array_interface__") or hasattr(value, "__cuda_array_interface__"):
        arr = value.numpy() if isinstance(value, Tensor) else np.asarray(value)
        return {"__array__": arr.tolist(), "dtype": arr.dtype.name}
    raise TypeError(f"an op argument of type {t.__name__} ({value!r}) cannot be saved in a model config; "
                    f"wrap the op in a layer (keras.layers.Lambda or a Layer subclass) instead")


def decode(value):
    """The inverse of :func:`encode` (a template already decoded comes back unchanged)."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if type(value) is tuple:
        return tuple(decode(v) for v in value)
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, inner), = value.items()
        if key == "__tuple__":
            return tuple(decode(v) for v in inner)
        if key == "__tensor__":
            return Slot(int(inner))
        if key == "__ellipsis__":
            return Ellipsis
        if key == "__slice__":
            return slice(*(decode(v) for v in inner))
        if key == "__dtype__":
            return np.dtype(inner).name
    if set(value) == {"__array__", "dtype"}:
        return np.asarray(value["__array__"], dtype=value["dtype"])
    return {k: decode(v) for k, v in value.items()}


# -- the output spec --------------------------------------------------------------------------
#: the sizes an unknown axis takes in the two probe runs: small for the batch axis (a whole image
#: batch of 83 would cost seconds), Keras's 83 and 89 elsewhere
_BATCH_FILLS, _FILLS = (2, 3), (83, 89)


def output_spec(fn: Callable[..., Any], args, kwargs):
    """The outputs of ``fn(*args, **kwargs)`` as :class:`Spec` in the outputs' nesting;
    ``args``/``kwargs`` hold symbolic tensors (anything with ``shape`` and ``dtype``). An op marked
    ``fn.__probe_identity__ = True`` (``linalg.inv``...) is probed with identity matrices in place of
    square ones, which it could not invert."""
    xp = get_backend().xp
    unknown = False
    identity = getattr(fn, "__probe_identity__", False)

    def probe(run):
        nonlocal unknown

        def real(v):
            nonlocal unknown
            if not isinstance(v, SymbolicTensor):
                return v
            shape = []
            for axis, d in enumerate(v.shape):
                if d is None:
                    unknown = True
                    d = (_BATCH_FILLS if axis == 0 else _FILLS)[run]
                shape.append(d)
            if identity and len(shape) >= 2 and shape[-1] == shape[-2]:  # a matrix op needs an invertible probe
                return Tensor._wrap(xp.broadcast_to(xp.eye(shape[-1], dtype=np.dtype(v.dtype)), tuple(shape)).copy())
            return Tensor._wrap(xp.ones(tuple(shape), dtype=np.dtype(v.dtype)))

        real_args, real_kwargs = _map(real, [list(args), dict(kwargs)])
        with no_grad(), np.errstate(all="ignore"):
            return fn(*real_args, **real_kwargs)

    first = probe(0)
    second = probe(1) if unknown else first

    def spec(a, b):
        sa, sb = tuple(np.shape(a)), tuple(np.shape(b))
        dtype = a.dtype if hasattr(a, "dtype") else np.asarray(a).dtype
        return Spec(tuple(None if x != y else int(x) for x, y in zip(sa, sb)), np.dtype(dtype).name)

    def pair(a, b):
        t = type(a)
        if t is list or t is tuple:
            return t(pair(x, y) for x, y in zip(a, b))
        if t is dict:
            return {k: pair(a[k], b[k]) for k in a}
        return spec(a, b)

    return pair(first, second)
