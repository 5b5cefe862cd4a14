"""Stand-in ``cupy.random``: ``default_rng`` returns a Generator with CuPy 14's methods and
signatures only (no ``permutation``, ``choice``, ``shuffle``, ``normal``), drawing with NumPy's
PCG64; the legacy module functions (``rand``, ``permutation``...) come from NumPy's RandomState."""
from __future__ import annotations

import numpy as np

from . import _API, __version__, _unwrap, _wrap

_NAMES = frozenset(_API["modules"]["cupy.random"])
_GENERATOR = frozenset(_API["classes"]["cupy.random.Generator"])


class Generator:
    """``cupy.random.Generator``: CuPy's method names and keyword arguments, NumPy's numbers."""

    def __init__(self, bit_generator) -> None:
        self._np = np.random.default_rng(bit_generator)

    def random(self, size=None, dtype=np.float64, out=None):
        return self._fill(self._np.random(size, dtype=dtype), out)

    def standard_normal(self, size=None, dtype=np.float64, out=None):
        return self._fill(self._np.standard_normal(size, dtype=dtype), out)

    def uniform(self, low=0.0, high=1.0, size=None, dtype=np.float64):
        return _wrap(self._np.uniform(low, high, size).astype(dtype, copy=False))

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False):
        return _wrap(self._np.integers(low, high, size, dtype=dtype, endpoint=endpoint))

    def standard_exponential(self, size=None, dtype=np.float64, method="inv", out=None):
        return self._fill(self._np.standard_exponential(size, dtype=dtype), out)

    def exponential(self, scale=1.0, size=None):
        return _wrap(self._np.exponential(scale, size))

    def binomial(self, n, p, size=None):
        return _wrap(self._np.binomial(n, p, size))

    def poisson(self, lam=1.0, size=None):
        return _wrap(self._np.poisson(lam, size))

    def beta(self, a, b, size=None, dtype=np.float64):
        return _wrap(self._np.beta(a, b, size).astype(dtype, copy=False))

    def gamma(self, shape, scale=1.0, size=None):
        return _wrap(self._np.gamma(shape, scale, size))

    @staticmethod
    def _fill(values, out):
        if out is None:
            return _wrap(values)
        _unwrap(out, "Generator")[...] = values
        return out


def default_rng(seed=None):
    return Generator(seed)


_legacy = np.random.RandomState(0)


def seed(seed=None) -> None:
    _legacy.seed(seed)


def __getattr__(name: str):
    if name not in _NAMES:
        raise AttributeError(f"module 'cupy.random' has no attribute '{name}' (CuPy {__version__})")
    target = getattr(_legacy, name, None)
    if target is None or not callable(target):
        raise AttributeError(f"stand-in: cupy.random.{name} is not emulated")
    return lambda *args, **kwargs: _wrap(target(*_unwrap(args, name), **_unwrap(kwargs, name)))


_extra = sorted(n for n in vars(Generator) if not n.startswith("_") and n not in _GENERATOR)
assert not _extra, f"stand-in Generator has methods CuPy {__version__}'s lacks: {_extra}"
assert {"default_rng", "Generator", "seed"} <= _NAMES
