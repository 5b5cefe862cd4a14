"""``Function``: a differentiable operation with ``forward(ctx, *arrays)`` and ``backward(ctx, grad)``."""
from __future__ import annotations

import re

import numpy as np

from . import grad_mode
from .tensor import Tensor

__all__ = ["Function", "Context", "DeviceMismatchError", "DeviceOutOfMemoryError"]


class DeviceMismatchError(RuntimeError):
    """An op got arrays from two devices (NumPy on the CPU and CuPy on the GPU)."""


class DeviceOutOfMemoryError(MemoryError):
    """The GPU ran out of memory inside an op; says how much was asked and what to do."""


def _oom_error(op: str, exc: BaseException) -> DeviceOutOfMemoryError:
    """Translate CuPy's OutOfMemoryError into one clear message (size asked, pool use, the fix)."""
    text = str(exc)
    asked = re.search(r"allocating ([\d,]+) bytes", text)
    held = re.search(r"allocated so far: ([\d,]+) bytes", text)
    size = f"{int(asked.group(1).replace(',', '')) / 2**20:,.1f} MiB" if asked else "an unknown amount"
    extra = (f" with {int(held.group(1).replace(',', '')) / 2**20:,.1f} MiB already held by the CuPy pool"
             if held else "")
    return DeviceOutOfMemoryError(
        f"{op}: the GPU ran out of memory asking for {size}{extra}. Use a smaller batch_size "
        f"(or smaller layers), or release cached blocks with gradflow.free_memory()"
    )


class Context:
    """What ``forward`` saves for ``backward``; ``needs_input_grad[i]`` tells which grads are wanted."""

    def save_for_backward(self, *arrays):
        self.saved = arrays


class Node:
    """A recorded application of a Function: its class, context and input tensors."""

    __slots__ = ("fn", "ctx", "inputs")

    def __init__(self, fn, ctx, inputs):
        self.fn = fn
        self.ctx = ctx
        self.inputs = inputs


def _devices_clash(arrays) -> str | None:
    """Names of the two devices if the arrays are on different ones, else None."""
    seen = None
    for a in arrays:
        t = type(a)
        if t is np.ndarray:  # scalars (Python or NumPy) combine with arrays on any device, as in CuPy
            dev = "cpu"
        elif t.__module__.startswith("cupy"):
            dev = "cuda"
        else:
            continue
        if seen is None:
            seen = dev
        elif dev != seen:
            return f"{seen} and {dev}"
    return None


class Function:
    """Subclasses define ``forward`` and ``backward`` as staticmethods over raw arrays.

    ``backward`` returns one gradient per input (``None`` where there is none); the engine
    reduces gradients of broadcast inputs back to their shapes.
    """

    #: verb used in shape errors: "cannot {verb} tensors of shapes ..."
    verb: str | None = None

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **kwargs):
        """Run forward on the inputs' arrays and record a graph node when a grad is needed."""
        return cls.apply_ctx(*inputs, **kwargs)[0]

    @classmethod
    def apply_ctx(cls, *inputs, **kwargs):
        """Like ``apply`` but also returns the context (for ops with extra outputs such as stats)."""
        arrays = []
        requires = False
        n_arrays = 0
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                n_arrays += 1
                if x.requires_grad:
                    requires = True
            else:
                arrays.append(x)
                if x is not None and not isinstance(x, (int, float, bool)):
                    n_arrays += 1
        if n_arrays > 1:
            clash = _devices_clash(arrays)
            if clash:
                raise DeviceMismatchError(
                    f"{cls.__name__.lower()}: inputs are on different devices ({clash}); move one "
                    f"with .to('cuda') or .to('cpu') (models: model.to(device)) before combining them"
                )
        ctx = Context()
        try:
            out = cls.forward(ctx, *arrays, **kwargs)
        except ValueError as exc:
            if cls.verb is None:
                raise
            shapes = " and ".join(str(tuple(getattr(a, "shape", ()))) for a in arrays if a is not None)
            raise ValueError(f"cannot {cls.verb} tensors of shapes {shapes}") from exc
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":  # cupy.cuda.memory.OutOfMemoryError
                raise _oom_error(cls.__name__.lower(), exc) from exc
            raise
        requires = requires and grad_mode.is_grad_enabled()
        result = Tensor._wrap(out, requires)
        if requires:
            ctx.needs_input_grad = tuple(isinstance(x, Tensor) and x.requires_grad for x in inputs)
            result._node = Node(cls, ctx, inputs)
        return result, ctx
