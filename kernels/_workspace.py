"""A small per-thread cache of scratch buffers, so hot paths do not allocate (and page-fault) per call.

``scratch(tag, shape, dtype)`` returns the same uninitialised array for the same key on the same
thread. Only internal scratch goes here (im2col tiles, padded copies), never a result handed to a
caller. The cache holds at most ``MAX_BYTES`` per thread, dropping the least recently used.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

__all__ = ["scratch", "clear", "MAX_BYTES"]

#: per-thread limit on cached scratch memory
MAX_BYTES = 512 * 1024 * 1024

_local = threading.local()


def _cache() -> OrderedDict:
    cache = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = OrderedDict()
    return cache


def scratch(tag: str, shape, dtype, zeroed: bool = False) -> np.ndarray:
    """An uninitialised C-contiguous array for ``(tag, shape, dtype)``, reused across calls.

    ``zeroed=True``: a newly made buffer is zero-filled, for callers that write only part of it
    every call and rely on the rest staying zero (a padded copy's border); such a tag must be
    written by those callers alone."""
    shape = tuple(int(s) for s in shape)
    key = (tag, shape, np.dtype(dtype).str)
    cache = _cache()
    buf = cache.get(key)
    if buf is not None:
        cache.move_to_end(key)
        return buf
    buf = (np.zeros if zeroed else np.empty)(shape, dtype=dtype)
    if buf.nbytes > MAX_BYTES:
        return buf  # too big to keep
    cache[key] = buf
    total = sum(b.nbytes for b in cache.values())
    while total > MAX_BYTES and len(cache) > 1:
        _, old = cache.popitem(last=False)
        total -= old.nbytes
    return buf


def clear() -> None:
    """Drop this thread's cached buffers."""
    _cache().clear()
