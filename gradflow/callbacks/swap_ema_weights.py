"""``SwapEMAWeights``: evaluate (and predict, and optionally run the other epoch-end callbacks) with the
optimizer's moving averages of the weights (``use_ema=True``), as Keras 3's."""
from __future__ import annotations

import numpy as np

from .callback import Callback

__all__ = ["SwapEMAWeights"]


class SwapEMAWeights(Callback):
    """Swaps the model's weights with the optimizer's EMA weights before evaluation (and prediction) and
    back after. With ``swap_on_epoch=True`` the EMA weights are also in the model from each epoch's end
    to the next epoch's start (so that ModelCheckpoint and the like see them); at the last epoch's end
    the averages take the weights' values, so fit ends on them either way.

    The optimizer must have ``use_ema=True`` (a ValueError otherwise). The swap is in place, as Keras's;
    other callbacks that change the weights or the averages meanwhile make the result undefined."""

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizers(self):
        optimizer = self.model.optimizer
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if hasattr(optimizer, "optimizers"):
            inner = [opt for opt in optimizer.optimizers if getattr(opt, "use_ema", False)]
            if not inner:
                raise ValueError("SwapEMAWeights must be used when at least one inner optimizer has "
                                 "`use_ema=True` set. Received a MultiOptimizer with all inner optimizers having "
                                 "`use_ema=False`.")
        else:
            inner = [optimizer]
        for opt in inner:
            if not hasattr(opt, "_model_variables_moving_average"):
                raise ValueError(f"SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                                 f"Received: use_ema={getattr(opt, 'use_ema', False)}")
        return inner

    @staticmethod
    def _pairs(opt):
        return list(opt._ema.values())

    def _swap_variables(self):
        for opt in self._optimizers():
            for var, average in self._pairs(opt):
                temporary = np.array(var.data, copy=True) if isinstance(var.data, np.ndarray) else var.data.copy()
                var.data[...] = average.data
                average.data[...] = temporary

    def _finalize_ema_values(self):
        for opt in self._optimizers():
            for var, average in self._pairs(opt):
                average.data[...] = var.data

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras 3.15 tests ``not self._ema_weights_in_model`` here, so after predict the EMA weights stay
        # in the model (and the flag says so); kept as Keras does it
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False
