"""gradflow's seeded random generators (one per backend): ``gradflow.random.seed(n)``."""
from __future__ import annotations

__all__ = ["seed", "generator", "normal", "uniform", "dropout"]


def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """A Tensor of normal samples (``keras.random.normal``); ``seed`` an int gives its own generator."""
    from .autograd.tensor import Tensor
    from .backend import get_backend

    backend = get_backend()
    rng = backend.xp.random.default_rng(seed) if isinstance(seed, int) else generator()
    dtype = dtype or backend.default_dtype
    return Tensor._wrap((rng.standard_normal(tuple(shape)) * stddev + mean).astype(dtype))


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """A Tensor of uniform samples in ``[minval, maxval)`` (``keras.random.uniform``)."""
    from .autograd.tensor import Tensor
    from .backend import get_backend

    backend = get_backend()
    rng = backend.xp.random.default_rng(seed) if isinstance(seed, int) else generator()
    dtype = dtype or backend.default_dtype
    return Tensor._wrap((rng.random(tuple(shape)) * (maxval - minval) + minval).astype(dtype))


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout of ``inputs`` (differentiable): zeros with probability ``rate``, the rest scaled by 1/(1 - rate)."""
    from . import ops

    rng = None
    if isinstance(seed, int):
        from .backend import get_backend

        rng = get_backend().xp.random.default_rng(seed)
    return ops.dropout(inputs, float(rate), training=True, rng=rng)


def seed(n: int | None) -> None:
    """Seed every backend's generator so runs repeat (initialisers, dropout, shuffling)."""
    from .backend import _instances, get_backend

    get_backend()  # make sure the active backend exists so it is seeded too
    for backend in list(_instances.values()):
        backend.seed(n)
    _pending[0] = n


_pending = [None]


def generator():
    """The active backend's random generator."""
    from .backend import get_backend

    backend = get_backend()
    if backend._seed is None and _pending[0] is not None:
        backend.seed(_pending[0])
    return backend.rng
