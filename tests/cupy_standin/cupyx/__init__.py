"""Stand-in ``cupyx`` (see ``cupy/__init__.py``): the few functions gradflow uses, names checked
against the real wheel's (``cupyx.cudnn`` is gone from CuPy 14, and absent here too)."""
from __future__ import annotations

import numpy as np
from cupy import _API, __version__, _unwrap, ndarray

_NAMES = frozenset(_API["modules"]["cupyx"])


def scatter_add(a, slices, value) -> None:
    """``a[slices] += value`` with repeated indices accumulated (``np.add.at``)."""
    if type(a) is not ndarray:
        raise TypeError("cupyx.scatter_add: a must be a cupy.ndarray")
    np.add.at(a._a, _unwrap(slices, "scatter_add"), _unwrap(value, "scatter_add"))


def __getattr__(name: str):
    why = "is not emulated" if name in _NAMES else f"does not exist in CuPy {__version__}"
    raise AttributeError(f"cupyx.{name} {why} (stand-in)")


assert "scatter_add" in _NAMES and "scipy" in _NAMES
