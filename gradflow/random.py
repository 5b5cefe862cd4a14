"""Keras's ``keras.random`` functions on gradflow's seeded generators.

The generators and their seed live in the backend (``Backend.generator()``, one per backend,
all seeded by ``seed(n)``); this module is the public face on top of them. Draws use only the
methods CuPy's ``Generator`` shares with NumPy's (``random``, ``standard_normal``, ...).
"""
from __future__ import annotations

from . import backend as _backend
from .autograd.tensor import Tensor

__all__ = ["seed", "generator", "normal", "uniform", "dropout"]


def _rng_for(seed):
    backend = _backend.get_backend()
    return backend, (backend.xp.random.default_rng(seed) if isinstance(seed, int) else backend.generator())


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """A Tensor of normal samples (``keras.random.normal``); ``seed`` an int gives its own generator."""
    backend, rng = _rng_for(seed)
    dtype = dtype or backend.default_dtype
    return Tensor._wrap((rng.standard_normal(tuple(shape)) * float(stddev) + float(mean)).astype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """A Tensor of uniform samples in ``[minval, maxval)`` (``keras.random.uniform``)."""
    backend, rng = _rng_for(seed)
    dtype = dtype or backend.default_dtype
    return Tensor._wrap((rng.random(tuple(shape)) * (float(maxval) - float(minval)) + float(minval)).astype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout of ``inputs`` (differentiable): zeros with probability ``rate``, the rest scaled by
    1/(1 - rate)."""
    from .ops.nn import dropout as _dropout  # noqa: PLC0415 - ops sit above this module: lazy, no circle

    rng = _rng_for(seed)[1] if isinstance(seed, int) else None
    return _dropout(inputs, float(rate), training=True, rng=rng)


def seed(n: int | None) -> None:
    """Seed every backend's generator so runs repeat (initialisers, dropout, shuffling)."""
    _backend.seed(n)


def generator():
    """The active backend's random generator."""
    return _backend.generator()
