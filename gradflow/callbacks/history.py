"""``History``: the per-epoch logs of a ``fit`` call (what ``fit`` returns)."""
from __future__ import annotations

from .callback import Callback

__all__ = ["History"]


class History(Callback):
    """Records the epoch logs: ``history.history["loss"]`` is the list of epoch losses, ``history.epoch``
    the epoch indices; sets ``model.history`` to itself."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)
        if self.model is not None:
            self.model.history = self
