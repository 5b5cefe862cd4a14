"""``CallbackList``: every hook called on each callback in order, with the default History and
ProgbarLogger added as Keras 3 adds them."""
from __future__ import annotations

from .callback import Callback
from .history import History
from .progbar_logger import ProgbarLogger

__all__ = ["CallbackList"]


class CallbackList(Callback):
    """Calls every hook on each callback in order. ``add_history=True`` appends a ``History`` and
    ``add_progbar=True`` a ``ProgbarLogger`` (after the given callbacks, so both see what those add
    to ``logs``), unless one is given (Keras 3's defaults: fit adds both, evaluate/predict the bar
    when ``verbose``)."""

    def __init__(self, callbacks=None, add_history=False, add_progbar=False, model=None, **params):
        super().__init__()
        if isinstance(callbacks, Callback):
            callbacks = [callbacks]
        self.callbacks = []
        for cb in callbacks or ():
            self.append(cb)
        self.history = next((cb for cb in self.callbacks if isinstance(cb, History)), None)
        if add_history and self.history is None:
            self.history = History()
            self.callbacks.append(self.history)
        self._progbar = next((cb for cb in self.callbacks if isinstance(cb, ProgbarLogger)), None)
        if add_progbar and self._progbar is None:
            self._progbar = ProgbarLogger()
            self.callbacks.append(self._progbar)
        if model is not None:
            self.set_model(model)
        if params:
            self.set_params(params)

    def append(self, callback):
        if not isinstance(callback, Callback):
            raise TypeError(f"callbacks must be gradflow.callbacks.Callback instances, got {type(callback).__name__}")
        self.callbacks.append(callback)
        if self.model is not None:
            callback.set_model(self.model)

    def __iter__(self):
        return iter(self.callbacks)

    def __len__(self):
        return len(self.callbacks)

    def set_params(self, params):
        self.params = params
        for cb in self.callbacks:
            cb.set_params(params)

    def set_model(self, model):
        self.model = model
        for cb in self.callbacks:
            cb.set_model(model)

    def has_batch_hooks(self, kind: str = "train") -> bool:
        """Whether any callback does something per batch of ``kind`` ('train', 'test', 'predict'):
        a loop may skip the per-batch calls (and building their logs) when none does."""
        return any(cb._wants_batch_hooks(kind) for cb in self.callbacks)

    def batch_end(self, kind: str, batch: int, logs_of) -> None:
        """``on_{kind}_batch_end(batch, logs)`` on every callback, with ``logs_of()`` built at most
        once, and only if a callback that reads a dict is there (a lazy one gets ``logs_of``)."""
        hook = f"on_{kind}_batch_end"
        logs = None
        for cb in self.callbacks:
            if cb._lazy_logs:
                getattr(cb, hook)(batch, logs_of)
                continue
            if logs is None:
                logs = logs_of()
            getattr(cb, hook)(batch, logs)

    def record_steps(self, steps: int) -> None:
        """Tell the progress bar how many steps the pass took (the loops skip per-batch hooks when no
        callback wants them, so the bar cannot count them itself)."""
        if self._progbar is not None:
            self._progbar.seen = steps

    def _call(self, hook, *args):
        for cb in self.callbacks:
            getattr(cb, hook)(*args)

    def on_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._call("on_train_batch_begin", batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self._call("on_train_batch_end", batch, logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._call("on_epoch_begin", epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._call("on_epoch_end", epoch, logs)

    def on_test_batch_begin(self, batch, logs=None):
        self._call("on_test_batch_begin", batch, logs)

    def on_test_batch_end(self, batch, logs=None):
        self._call("on_test_batch_end", batch, logs)

    def on_predict_batch_begin(self, batch, logs=None):
        self._call("on_predict_batch_begin", batch, logs)

    def on_predict_batch_end(self, batch, logs=None):
        self._call("on_predict_batch_end", batch, logs)

    def on_train_begin(self, logs=None):
        self._call("on_train_begin", logs)

    def on_train_end(self, logs=None):
        self._call("on_train_end", logs)

    def on_test_begin(self, logs=None):
        self._call("on_test_begin", logs)

    def on_test_end(self, logs=None):
        self._call("on_test_end", logs)

    def on_predict_begin(self, logs=None):
        self._call("on_predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._call("on_predict_end", logs)


