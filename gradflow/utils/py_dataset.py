"""``PyDataset``: Keras 3's base class for a Python source of batches (``__len__`` + ``__getitem__``)."""
from __future__ import annotations

__all__ = ["PyDataset"]


class PyDataset:
    """Subclass it with ``__len__`` (batches per epoch) and ``__getitem__(index)`` returning ``x``,
    ``(x, y)`` or ``(x, y, sample_weight)``; ``on_epoch_end`` runs after each epoch. ``fit``,
    ``evaluate`` and ``predict`` take it directly (shuffling the batch order with ``shuffle=True``).

    ``workers``, ``use_multiprocessing`` and ``max_queue_size`` are accepted as Keras accepts them;
    gradflow reads batches in the training thread (its steps already use every core), so they only
    record the request.
    """

    def __init__(self, workers=1, use_multiprocessing=False, max_queue_size=10):
        if int(workers) < 1 or int(max_queue_size) < 1:
            raise ValueError(f"PyDataset: workers and max_queue_size must be >= 1, got workers={workers!r}, "
                             f"max_queue_size={max_queue_size!r}")
        self._workers, self._use_multiprocessing, self._max_queue_size = int(workers), bool(use_multiprocessing), \
            int(max_queue_size)

    workers = property(lambda self: getattr(self, "_workers", 1))
    use_multiprocessing = property(lambda self: getattr(self, "_use_multiprocessing", False))
    max_queue_size = property(lambda self: getattr(self, "_max_queue_size", 10))

    def __len__(self):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define __len__ (the number of batches)")

    def __getitem__(self, index):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__(index) returning a batch")

    @property
    def num_batches(self):
        return len(self)

    def on_epoch_end(self) -> None:
        """Called after every epoch (reshuffle your data here if you like)."""
