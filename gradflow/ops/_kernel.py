"""How a differentiable op reaches its hot-path kernel through the registry."""
from __future__ import annotations

from .. import dispatch
from ..backend import get_backend, is_cupy_array


def kernel(op: str, like, key=None):
    """The implementation of ``op`` for the device of array ``like`` under the current config."""
    if is_cupy_array(like):
        return dispatch.get(op, "cuda", "cupy", key)
    return dispatch.get(op, "cpu", get_backend().name, key)
