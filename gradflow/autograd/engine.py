"""The backward pass: one reverse-topological walk that accumulates gradients and frees the graph."""
from __future__ import annotations

from .tensor import Tensor, unbroadcast

__all__ = ["run_backward"]


def _topological(root: Tensor) -> list[Tensor]:
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
        for inp in node.inputs:
            if isinstance(inp, Tensor) and inp.requires_grad and id(inp) not in expanded:
                stack.append((inp, False))
    return order


def run_backward(root: Tensor, grad=None, retain_graph: bool = False, on_leaf=None) -> None:
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
        grad = grad.data if isinstance(grad, Tensor) else xp.asarray(grad, dtype=root.dtype)
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
                t.grad = Tensor._wrap(g if g.dtype == t.data.dtype else g.astype(t.data.dtype))
            else:
                t.grad = Tensor._wrap(t.grad.data + g)
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
