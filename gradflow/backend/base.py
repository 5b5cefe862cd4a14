"""The backend interface: one array library on one device, with its own random generator."""
from __future__ import annotations

import numpy as np

__all__ = ["Backend", "BackendUnavailableError"]


class BackendUnavailableError(RuntimeError):
    """A backend was asked for that cannot run here (package missing, no driver, no device)."""


class Backend:
    """Names the array module (``xp``), the device and the helpers every op needs.

    Subclasses set ``name``, ``device`` and ``default_dtype`` and implement ``xp``.
    """

    name: str = "?"
    device: str = "cpu"
    default_dtype: type[np.floating] = np.float32

    def __init__(self) -> None:
        self._rng = None
        self._seed: int | None = None

    # -- array module ---------------------------------------------------------------------
    @property
    def xp(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def asarray(self, data, dtype=None):
        """Array of this backend (copying across devices only when needed)."""
        return self.xp.asarray(data, dtype=dtype)

    def to_numpy(self, arr) -> np.ndarray:
        """A NumPy array with the same values (a device-to-host copy on GPUs)."""
        return np.asarray(arr)

    def synchronize(self) -> None:
        """Wait for queued device work to finish (a no-op on the CPU)."""

    # -- random ---------------------------------------------------------------------------
    def generator(self):
        """This backend's seeded random generator (``xp.random.default_rng``).

        On CuPy it is ``cupy.random.Generator``, which has ``random``, ``integers``,
        ``standard_normal``, ``uniform`` (and a few more) but no ``permutation``, ``choice``,
        ``shuffle`` or ``normal``: callers use only the methods both libraries have (a shuffle
        is ``random(n).argsort()``), and the CuPy stand-in of the tests holds them to that.
        """
        if self._rng is None:
            self._rng = self.xp.random.default_rng(self._seed)
        return self._rng

    def seed(self, seed: int | None) -> None:
        """Restart this backend's generator from ``seed`` (None: fresh entropy)."""
        self._seed = seed
        self._rng = None

    # -- memory ---------------------------------------------------------------------------
    def memory_stats(self) -> dict:
        """Memory figures in bytes; keys depend on the backend (``{}`` on the CPU)."""
        return {}

    def free_memory(self) -> None:
        """Return cached device memory to the driver (a no-op on the CPU)."""

    def __repr__(self) -> str:
        return f"<gradflow backend {self.name!r} on {self.device}>"
