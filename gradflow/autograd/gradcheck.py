"""Compare autograd gradients with central finite differences in float64."""
from __future__ import annotations

import numpy as np

from .tensor import Tensor

__all__ = ["gradcheck", "GradcheckError", "numerical_grad"]


class GradcheckError(AssertionError):
    """Analytic and numerical gradients disagree."""


def numerical_grad(fn, inputs, weights, index: int, eps: float) -> np.ndarray:
    """d(sum(fn(*inputs) * weights))/d(inputs[index]) by central differences."""
    x = inputs[index].data
    grad = np.zeros(x.shape, dtype=np.float64)
    flat = x.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        plus = float((np.asarray(fn(*inputs).data, dtype=np.float64) * weights).sum())
        flat[i] = old - eps
        minus = float((np.asarray(fn(*inputs).data, dtype=np.float64) * weights).sum())
        flat[i] = old
        grad.reshape(-1)[i] = (plus - minus) / (2 * eps)
    return grad


def gradcheck(fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-4, seed: int = 0) -> bool:
    """Check autograd against finite differences for every float input that requires grad.

    ``inputs`` are Tensors (or arrays, converted to float64 tensors requiring grad); ``fn``
    returns a Tensor. The output is contracted with random weights so every element counts.
    Raises GradcheckError naming the input and the worst element; returns True on success.
    """
    tensors = []
    for x in inputs:
        if isinstance(x, Tensor):
            t = x
            if t.dtype != np.float64 and t.dtype.kind == "f":
                t = Tensor(np.asarray(t.numpy(), dtype=np.float64), requires_grad=t.requires_grad)
        else:
            arr = np.asarray(x)
            t = Tensor(arr.astype(np.float64), requires_grad=True) if arr.dtype.kind == "f" else Tensor(arr)
        tensors.append(t)
    out = fn(*tensors)
    weights = np.random.default_rng(seed).standard_normal(out.shape)
    for t in tensors:
        t.grad = None
    (out * Tensor(weights)).sum().backward()
    for i, t in enumerate(tensors):
        if not t.requires_grad:
            continue
        analytic = np.zeros(t.shape) if t.grad is None else np.asarray(t.grad.numpy(), dtype=np.float64)
        numeric = numerical_grad(fn, tensors, weights, i, eps)
        err = np.abs(analytic - numeric)
        bad = err > atol + rtol * np.abs(numeric)
        if bad.any():
            j = np.unravel_index(np.argmax(err - rtol * np.abs(numeric)), err.shape)
            raise GradcheckError(
                f"gradcheck: input {i} (shape {t.shape}) element {tuple(int(k) for k in j)}: "
                f"analytic {analytic[j]:.6g} vs numerical {numeric[j]:.6g} "
                f"({int(bad.sum())} of {bad.size} elements differ)"
            )
    return True
