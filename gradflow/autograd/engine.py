"""The backward pass: one reverse-topological walk that accumulates gradients and frees the graph.

The walk is duck-typed, so it sits below ``Tensor`` (tensor.py imports it, not the reverse): a
node is anything with ``data``, ``grad``, ``requires_grad``, ``_node`` (the graph node that made
it, None for a leaf) and ``_wrap(array)`` (a new detached tensor).
"""
from __future__ import annotations

import numpy as np

__all__ = ["run_backward", "unbroadcast"]


#: float dtypes whose leading-axes sums run as one BLAS product with a ones vector
_GEMV_DTYPES = frozenset({np.dtype(np.float32), np.dtype(np.float64)})
#: below this many summed rows NumPy's own sum is as quick
_GEMV_MIN_ROWS = 64


def _sum_leading(grad, shape, extra: int):
    """``grad`` summed over its leading axes as ``ones @ grad2d`` (a bias gradient: (B, T, F) -> (F,)),
    or None when the summed axes are not all leading ones or the array is not a contiguous NumPy float.
    NumPy's ``sum(axis=0)`` over a narrow matrix runs at a fraction of memory speed; BLAS's gemv does not."""
    if type(grad) is not np.ndarray or grad.dtype not in _GEMV_DTYPES or not grad.flags.c_contiguous:
        return None
    lead = extra
    while lead < grad.ndim and shape[lead - extra] == 1:
        lead += 1
    if grad.shape[lead:] != tuple(shape[lead - extra:]):
        return None
    rows = 1
    for n in grad.shape[:lead]:
        rows *= n
    if rows < _GEMV_MIN_ROWS:
        return None
    return (np.ones(rows, grad.dtype) @ grad.reshape(rows, -1)).reshape(shape)


def unbroadcast(grad, shape):
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra >= 0:
        fast = _sum_leading(grad, shape, extra)
        if fast is not None:
            return fast
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    if grad.shape != shape:
        grad = grad.reshape(shape)
    return grad


def _is_tensor(x) -> bool:
    """A graph value (a Tensor), as opposed to a constant array or number passed to an op."""
    return hasattr(x, "_node")


def _topological(root) -> list:
    """Tensors reachable from ``root`` through graph nodes, each after all of its inputs."""
    order, expanded = [], set()
    stack = [(root, False)]
    while stack:
        t, done = stack.pop()
        if done:
            order.append(t)
            continue
        if id(t) in expanded:
            continue
        expanded.add(id(t))
        stack.append((t, True))
        node = t._node
        if node is None:
            continue
        if node.fn is None:
            raise RuntimeError(
                "backward through a graph that was already freed; call backward(retain_graph=True) "
                "the first time if you need to backpropagate twice"
            )
        # inputs pushed last-first, so the first input (the activations) is expanded first and
        # the later ones (weights) land right before their consumer: walked in reverse, a layer's
        # weights get their final gradient as soon as its backward ran, not at the end of the pass
        for inp in reversed(node.inputs):
            if _is_tensor(inp) and inp.requires_grad and id(inp) not in expanded:
                stack.append((inp, False))
    return order


def run_backward(root, grad=None, retain_graph: bool = False, on_leaf=None) -> None:
    """Accumulate gradients into the leaves. ``on_leaf(t)`` is called as soon as leaf ``t``'s
    gradient is final (the reverse topological order has passed all of its consumers), so a caller
    can start communicating it while the rest of the backward pass runs."""
    if not root.requires_grad:
        raise RuntimeError("backward() on a tensor that does not require grad (no graph was recorded)")
    xp = root.xp
    if grad is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() on a non-scalar tensor of shape {root.shape} needs an explicit gradient "
                f"of the same shape: t.backward(grad)"
            )
        grad = xp.ones_like(root.data)
    else:
        grad = grad.data if _is_tensor(grad) else xp.asarray(grad, dtype=root.dtype)
        if grad.shape != root.shape:
            raise ValueError(f"backward(): gradient of shape {grad.shape} does not match tensor of shape {root.shape}")
    grads = {id(root): grad}
    for t in reversed(_topological(root)):
        g = grads.pop(id(t), None)
        if g is None:
            continue
        node = t._node
        if node is None:  # a leaf: accumulate into .grad
            if t.grad is None:
                t.grad = t._wrap(g if g.dtype == t.data.dtype else g.astype(t.data.dtype))
            else:
                t.grad = t._wrap(t.grad.data + g)
            if on_leaf is not None:
                on_leaf(t)
            continue
        in_grads = node.fn.backward(node.ctx, g)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        for inp, ig, need in zip(node.inputs, in_grads, node.ctx.needs_input_grad):
            if not need or ig is None:
                continue
            ig = unbroadcast(ig, inp.data.shape)
            key = id(inp)
            prev = grads.get(key)
            grads[key] = ig if prev is None else prev + ig
        if not retain_graph:
            node.fn = None
            node.ctx = None
            node.inputs = ()
