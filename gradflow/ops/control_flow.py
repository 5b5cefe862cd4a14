"""Keras 3's control flow ops (``keras.ops.scan``, ``fori_loop``, ``while_loop``, ``cond``, ``switch``,
``map``, ``vectorized_map``, ``associative_scan``) and ``custom_gradient``.

gradflow runs eagerly, as Keras does on torch: each loop is a Python loop over differentiable ops, so
gradients flow through every iteration with no rule of their own. Structures (``init``, ``xs``,
``loop_vars``) may nest lists, tuples and dicts, as in Keras.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd.function import Function
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from .dtypes import float_dtype
from .shape import concatenate, getitem, stack

__all__ = ["scan", "associative_scan", "fori_loop", "while_loop", "cond", "switch", "map", "vectorized_map",
           "custom_gradient"]

#: a decorator, not an op: never recorded as a graph node
PYTHON_SIDE = ("custom_gradient",)


# -- structures (the few ``keras.tree`` functions the loops need) -------------------------------
def _flatten(s) -> list:
    if isinstance(s, (list, tuple)):
        return [leaf for v in s for leaf in _flatten(v)]
    if isinstance(s, dict):
        return [leaf for k in sorted(s) for leaf in _flatten(s[k])]
    return [s]


def _pack(s, leaves):
    it = iter(leaves)

    def build(t):
        if isinstance(t, (list, tuple)):
            return type(t)(build(v) for v in t)
        if isinstance(t, dict):
            return {k: build(t[k]) for k in sorted(t)}
        return next(it)

    return build(s)


def _tensor(x) -> Tensor:
    """A Tensor of ``x``; Python numbers take Keras's dtypes (the default float, int32)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, float):
        return Tensor(x, dtype=float_dtype())
    if isinstance(x, int) and not isinstance(x, bool):
        return Tensor(x, dtype="int32")
    return Tensor(x)


def _leaf_tensor(x):
    return None if x is None else _tensor(x)


# -- loops --------------------------------------------------------------------------------------
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """``keras.ops.scan``: ``carry, y = f(carry, x)`` over the leading axis of ``xs`` (or ``length``
    times); returns the last carry and the ``y`` stacked."""
    if not callable(f):
        raise TypeError(f"scan: `f` should be a callable, got {f!r}")
    if xs is None and length is None:
        raise ValueError("scan: got no `xs` to scan over and no `length`")
    xs_flat = [] if xs is None else [_tensor(v) for v in _flatten(xs)]
    n = int(length) if length is not None else xs_flat[0].shape[0]
    carry = _pack(init, [_leaf_tensor(v) for v in _flatten(init)])
    ys = []
    steps = range(n - 1, -1, -1) if reverse else range(n)
    for i in steps:
        x = _pack(xs, [getitem(v, i) for v in xs_flat]) if xs is not None else None
        carry, y = f(carry, x)
        ys.append(y if y is not None else _pack(init, [v * 0 for v in _flatten(carry)]))
    if reverse:
        ys.reverse()
    if not ys:
        return carry, None
    leaves = [stack([_tensor(v) for v in vs], 0) for vs in zip(*(_flatten(y) for y in ys))]
    return carry, _pack(ys[0], leaves)


def map(f, xs):  # noqa: A001 - Keras's name
    """``keras.ops.map``: ``f`` on each slice of ``xs`` along its leading axis, the results stacked."""
    return scan(lambda _, x: ((), f(x)), (), xs)[1]


def vectorized_map(function, elements):
    """``keras.ops.vectorized_map``: ``function`` on each leading slice of ``elements``, stacked."""
    return map(function, elements)


def fori_loop(lower, upper, body_fun, init_val):
    """``keras.ops.fori_loop``: ``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``."""
    val = init_val
    for i in range(int(lower), int(upper)):
        val = body_fun(i, val)
    return val


def _truth(x) -> bool:
    if isinstance(x, Tensor):
        return bool(np.asarray(x.numpy()).all())
    return bool(x)


def while_loop(cond, body, loop_vars, maximum_iterations=None):
    """``keras.ops.while_loop``: ``loop_vars = body(*loop_vars)`` while ``cond(*loop_vars)``."""
    is_tuple = isinstance(loop_vars, (tuple, list))
    vars_ = tuple(loop_vars) if is_tuple else (loop_vars,)
    vars_ = tuple(_pack(v, [_leaf_tensor(a) for a in _flatten(v)]) for v in vars_)
    i = 0
    while _truth(cond(*vars_)) and (maximum_iterations is None or i < maximum_iterations):
        out = body(*vars_)
        vars_ = tuple(out) if isinstance(out, (list, tuple)) else (out,)
        i += 1
    return vars_ if is_tuple else vars_[0]


def cond(pred, true_fn, false_fn):
    """``keras.ops.cond``: ``true_fn()`` if ``pred`` else ``false_fn()``."""
    return true_fn() if _truth(pred) else false_fn()


def switch(index, branches, *operands):
    """``keras.ops.switch``: ``branches[index](*operands)``, ``index`` clamped to the branches."""
    i = int(np.asarray(index.numpy() if isinstance(index, Tensor) else index))
    return branches[min(max(i, 0), len(branches) - 1)](*operands)


def associative_scan(f, elems, reverse=False, axis=0):
    """``keras.ops.associative_scan``: inclusive prefix combination with the associative ``f`` along
    ``axis`` (sequentially here: the result is the same for an associative ``f``)."""
    if not callable(f):
        raise TypeError(f"associative_scan: `f` should be a callable, got {f!r}")
    flat = [_tensor(v) for v in _flatten(elems)]
    axis = axis % flat[0].ndim
    n = flat[0].shape[axis]
    if any(v.shape[axis] != n for v in flat):
        raise ValueError(f"associative_scan: inputs must have the same size on axis {axis}: "
                         f"{[v.shape for v in flat]}")
    lead = (slice(None),) * axis
    order = range(n - 1, -1, -1) if reverse else range(n)
    acc: list | None = None
    outs: list[list] = []
    for i in order:
        cur = [getitem(v, (*lead, slice(i, i + 1))) for v in flat]
        if acc is None:
            acc = cur
        elif reverse:
            acc = [_tensor(v) for v in _flatten(f(_pack(elems, cur), _pack(elems, acc)))]
        else:
            acc = [_tensor(v) for v in _flatten(f(_pack(elems, acc), _pack(elems, cur)))]
        outs.append(acc)
    if reverse:
        outs.reverse()
    return _pack(elems, [concatenate([o[j] for o in outs], axis) for j in range(len(flat))])


# -- custom_gradient ------------------------------------------------------------------------------
class _CustomGradient(Function):
    """Runs ``f`` without recording (its own gradient is the user's ``grad_fn``)."""

    @staticmethod
    def forward(ctx, *arrays, f, kwargs):
        ctx.inputs = [Tensor._wrap(a) for a in arrays]
        with no_grad():
            out, grad_fn = f(*ctx.inputs, **kwargs)
        ctx.grad_fn = grad_fn
        return out.data if isinstance(out, Tensor) else np.asarray(out)

    @staticmethod
    def backward(ctx, g):
        with no_grad():
            grads = ctx.grad_fn(*ctx.inputs, upstream=Tensor._wrap(g))
        grads = grads if isinstance(grads, (tuple, list)) else (grads,)
        return tuple(None if v is None else (v.data if isinstance(v, Tensor) else np.asarray(v)) for v in grads)


def custom_gradient(f: Callable[..., Any]) -> Callable[..., Any]:
    """``keras.ops.custom_gradient`` (Keras's torch-backend convention): ``f(*args)`` returns
    ``(output, grad_fn)`` and ``grad_fn(*args, upstream=g)`` returns one gradient per argument."""
    def wrapped(*args, **kwargs):
        return _CustomGradient.apply(*(_tensor(a) for a in args), f=f, kwargs=kwargs)

    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = f.__doc__
    return wrapped
