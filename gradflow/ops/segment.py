"""Keras 3's segment reductions (``keras.ops.segment_sum``, ``segment_max``, ``segment_min``,
``segment_prod``) as a table: each row names NumPy's ``ufunc.at`` reduction, the value of an empty
segment, and a gradient rule; one generic forward and ``numpy_table.TableOp`` run any row.

Ids outside ``[0, num_segments)`` are dropped (Keras); an empty segment holds the reduction's
identity (0 for sum, -inf for max, inf for min, 1 for prod), as Keras's torch backend gives.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .numpy_table import _run, _tensor, _xp


def _seg_grad_sum(xp, g, y, data, ids, keep, num):
    out = xp.zeros_like(data)
    out[keep] = g[ids[keep]]
    return (out,)


def _seg_grad_pick(xp, g, y, data, ids, keep, num):
    """max and min: the gradient goes to the elements equal to their segment's result (shared by ties)."""
    out = xp.zeros_like(data)
    hit = data[keep] == y[ids[keep]]
    count = xp.zeros_like(y)
    xp.add.at(count, ids[keep], hit.astype(y.dtype))
    out[keep] = xp.where(hit, g[ids[keep]] / xp.maximum(count[ids[keep]], 1), 0)
    return (out,)


def _seg_grad_prod(xp, g, y, data, ids, keep, num):
    out = xp.zeros_like(data)
    out[keep] = g[ids[keep]] * y[ids[keep]] / data[keep]
    return (out,)


#: name -> (NumPy ufunc name, empty-segment value, gradient rule)
SEGMENT: dict[str, tuple[str, float, Callable[..., Any]]] = {
    "segment_sum": ("add", 0.0, _seg_grad_sum),
    "segment_max": ("maximum", -np.inf, _seg_grad_pick),
    "segment_min": ("minimum", np.inf, _seg_grad_pick),
    "segment_prod": ("multiply", 1.0, _seg_grad_prod),
}


def _forward(ufunc, fill):
    def forward(xp, data, ids, keep, num):
        shape = (num,) + data.shape[1:]
        if data.dtype.kind in "iu" and not np.isfinite(fill):
            info = np.iinfo(data.dtype)
            start = info.min if fill < 0 else info.max
        else:
            start = fill
        out = xp.full(shape, start, dtype=data.dtype)
        getattr(xp, ufunc).at(out, ids[keep], data[keep])
        return out
    return forward


def _segment(name):
    ufunc, fill, grad = SEGMENT[name]
    forward = _forward(ufunc, fill)

    def op(data, segment_ids, num_segments=None, sorted=False):  # noqa: A002 - Keras's argument name
        data = _tensor(data)
        d = _tensor(segment_ids).data
        xp = _xp(data.data)
        ids = xp.asarray(d).astype(np.int64).reshape(-1)
        num = int(num_segments) if num_segments is not None else int(ids.max()) + 1 if ids.size else 0
        keep = (ids >= 0) & (ids < num)
        return _run(forward, grad, data, ids=ids, keep=keep, num=num)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}`` (a row of ``SEGMENT``): reduce the rows of ``data`` by segment id."
    return op


for _name in SEGMENT:
    globals()[_name] = _segment(_name)

__all__ = list(SEGMENT)
