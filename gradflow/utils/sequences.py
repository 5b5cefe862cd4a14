"""``pad_sequences``: lists of id sequences to one padded 2-D array (Keras's rules)."""
from __future__ import annotations

import numpy as np

__all__ = ["pad_sequences"]


def pad_sequences(sequences, maxlen=None, dtype="int32", padding="pre", truncating="pre", value=0.0):
    """``(len(sequences), maxlen)`` array: sequences longer than ``maxlen`` are cut (from the start
    with truncating='pre', the end with 'post'), shorter ones padded with ``value`` ('pre' in front,
    'post' behind); ``maxlen`` defaults to the longest sequence."""
    if padding not in ("pre", "post") or truncating not in ("pre", "post"):
        raise ValueError(f"pad_sequences: padding and truncating must be 'pre' or 'post', got {padding!r}, "
                         f"{truncating!r}")
    seqs = [list(s) for s in sequences]
    if maxlen is None:
        maxlen = max((len(s) for s in seqs), default=0)
    sample_shape = ()
    for s in seqs:
        if s:
            sample_shape = np.asarray(s).shape[1:]
            break
    out = np.full((len(seqs), maxlen) + sample_shape, value, dtype=dtype)
    for i, s in enumerate(seqs):
        if not s or not maxlen:
            continue
        trunc = s[-maxlen:] if truncating == "pre" else s[:maxlen]
        trunc = np.asarray(trunc, dtype=dtype)
        if padding == "post":
            out[i, :len(trunc)] = trunc
        else:
            out[i, -len(trunc):] = trunc
    return out
