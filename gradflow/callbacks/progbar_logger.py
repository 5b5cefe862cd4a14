"""``ProgbarLogger``: the progress lines of fit/evaluate/predict as a callback (Keras 3's).

``fit``/``evaluate``/``predict`` add one when ``verbose`` is not 0 (a ProgbarLogger given in
``callbacks`` is used instead of a second one). It prints ``Epoch k/n`` at each epoch's start and
one :class:`~gradflow.progbar.Progbar` per epoch (or per evaluate/predict pass);
validation inside ``fit`` is silent. It asks for per-batch calls only when it redraws a live bar
(``verbose=1`` on a terminal), so otherwise the training loop runs without per-batch hooks.
"""
from __future__ import annotations

import sys

from ..progbar import Progbar, is_interactive
from .callback import Callback

__all__ = ["ProgbarLogger"]


class ProgbarLogger(Callback):
    """Prints the metrics of each epoch (and, on a terminal, a live bar) to stdout."""

    _lazy_logs = True  # the bar reads the logs only when it redraws
    #: whether a fit in this process has finished a first epoch (kernels compiled or loaded by then)
    _warm = False
    FIRST_STEP_NOTE = "first step: compiling the kernels for these shapes (cached on disk for later runs)..."

    def __init__(self):
        super().__init__()
        self.seen = 0
        self.progbar = None
        self.target = None
        self.verbose = 1
        self.epochs = 1
        self._called_in_fit = False

    def set_params(self, params):
        super().set_params(params)
        verbose = params.get("verbose", 1)
        self.verbose = 1 if verbose == "auto" else int(verbose)
        self.epochs = params.get("epochs", 1)
        self.target = params.get("steps")

    def _wants_batch_hooks(self, kind: str) -> bool:
        if self.verbose != 1 or (kind == "test" and self._called_in_fit):
            return False
        return is_interactive(sys.stdout)

    # -- fit ----------------------------------------------------------------------------------
    def on_train_begin(self, logs=None):
        self._called_in_fit = True  # validation inside fit prints nothing of its own

    def on_train_end(self, logs=None):
        self._called_in_fit = False

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print(f"Epoch {epoch + 1}/{self.epochs}", flush=True)
        self._reset()
        if self.progbar is not None and not ProgbarLogger._warm:
            self.progbar.starting(self.FIRST_STEP_NOTE)

    def on_train_batch_end(self, batch, logs=None):
        self._update(batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._finalize(logs)
        ProgbarLogger._warm = True

    # -- evaluate and predict -----------------------------------------------------------------
    def on_test_begin(self, logs=None):
        if not self._called_in_fit:
            self._reset()

    def on_test_batch_end(self, batch, logs=None):
        if not self._called_in_fit:
            self._update(batch, logs)

    def on_test_end(self, logs=None):
        if not self._called_in_fit:
            self._finalize(logs)

    def on_predict_begin(self, logs=None):
        self._reset()

    def on_predict_batch_end(self, batch, logs=None):
        self._update(batch, None)  # the bar shows no outputs

    def on_predict_end(self, logs=None):
        self._finalize(None)

    # -- the bar ------------------------------------------------------------------------------
    def _reset(self) -> None:
        self.seen = 0
        self.progbar = Progbar(self.target, verbose=self.verbose) if self.verbose else None

    def _update(self, batch: int, logs) -> None:
        self.seen = batch + 1
        if self.progbar is not None:
            self.progbar.update(self.seen, logs)

    def _finalize(self, logs) -> None:
        if self.progbar is not None:
            self.progbar.update(self.seen, logs, finalize=True)
