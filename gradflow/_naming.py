"""Automatic object names for the session (``dense``, ``dense_1``...), as Keras names layers.

A module of its own, below everything else, so that ``keras.backend.clear_session`` (in
:mod:`gradflow.backend`) and the layers share one counter without importing each other.
"""
from __future__ import annotations

import re
from collections import defaultdict

__all__ = ["snake_case", "unique_name", "clear_session", "next_uid"]

_name_counts: defaultdict[str, int] = defaultdict(int)


def snake_case(name: str) -> str:
    """``MaxPooling2D -> max_pooling2d``, ``Dense -> dense`` (Keras's auto-name rule)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    """``dense``, then ``dense_1``, ``dense_2``... for the session."""
    n = _name_counts[base]
    _name_counts[base] += 1
    return base if n == 0 else f"{base}_{n}"


def next_uid(prefix: str) -> int:
    """The counter of ``prefix`` after one more use (``keras.backend.get_uid``: 1 the first time)."""
    _name_counts[prefix] += 1
    return _name_counts[prefix]


def clear_session() -> None:
    """Restart automatic names from ``dense``, ``conv2d``... (``keras.backend.clear_session``)."""
    _name_counts.clear()
