"""Stand-in ``cupy.linalg``: NumPy's functions of the names CuPy 14 has."""
from __future__ import annotations

import numpy as np

from . import _API, __version__, _unwrap, _wrap

_NAMES = frozenset(_API["modules"]["cupy.linalg"])


def __getattr__(name: str):
    if name not in _NAMES or not hasattr(np.linalg, name):
        raise AttributeError(f"cupy.linalg.{name}: not in CuPy {__version__} or not emulated (stand-in)")
    target = getattr(np.linalg, name)
    return lambda *args, **kwargs: _wrap(target(*_unwrap(args, name), **_unwrap(kwargs, name)))
