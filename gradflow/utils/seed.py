"""``set_random_seed``: one call that makes Python, NumPy and gradflow draw the same numbers again."""
from __future__ import annotations

import random

import numpy as np

__all__ = ["set_random_seed"]


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and gradflow's own (``gradflow.random``)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"set_random_seed: expected a non-negative int, got {seed!r}")
    try:
        from gradflow import random as gradflow_random  # noqa: PLC0415 - guarded: a clear error if it is missing
        seed_gradflow = gradflow_random.seed
    except (ImportError, AttributeError) as exc:
        raise RuntimeError(
            "set_random_seed: gradflow.random.seed(n) is missing from this gradflow install "
            f"({exc}); cannot seed gradflow's generator") from None
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    seed_gradflow(seed)
