"""gradflow's seeded random generators (one per backend): ``gradflow.random.seed(n)``."""
from __future__ import annotations

__all__ = ["seed", "generator"]


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
