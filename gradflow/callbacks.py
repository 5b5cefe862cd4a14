"""Keras-style training callbacks: hooks that ``fit``/``evaluate``/``predict`` call, and the common ones.

A model passed to ``set_model`` needs only what a callback uses: ``stop_training``, ``optimizer``
(with a settable ``learning_rate``), ``get_weights``/``set_weights``, ``save``/``save_weights``.
"""
from __future__ import annotations

import collections.abc
import csv
import inspect
import math
import numbers
import os
import warnings

import numpy as np

__all__ = [
    "Callback", "CallbackList", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
    "ReduceLROnPlateau", "CSVLogger", "TerminateOnNaN", "LambdaCallback", "BackupAndRestore", "TensorBoard",
]

HOOKS = (
    "on_train_begin", "on_train_end", "on_epoch_begin", "on_epoch_end",
    "on_train_batch_begin", "on_train_batch_end", "on_test_begin", "on_test_end",
    "on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
    "on_predict_batch_begin", "on_predict_batch_end",
)
_BATCH_HOOKS = {
    "train": ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end"),
    "test": ("on_test_batch_begin", "on_test_batch_end"),
    "predict": ("on_predict_batch_begin", "on_predict_batch_end"),
}

#: substrings of metric names that are better when larger (for mode='auto')
_MAX_METRICS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2")


class Callback:
    """Base class: override the hooks you need. ``self.model`` and ``self.params`` are set by ``fit``.

    ``on_train_batch_begin/end`` call ``on_batch_begin/end`` (the older names), as in Keras.
    """

    def __init__(self):
        self.model = None
        self.params = {}

    def set_params(self, params):
        self.params = params

    def set_model(self, model):
        self.model = model

    def on_batch_begin(self, batch, logs=None):
        """Alias of ``on_train_batch_begin``."""

    def on_batch_end(self, batch, logs=None):
        """Alias of ``on_train_batch_end``."""

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


def _overrides(cb, hook) -> bool:
    if hook in vars(cb):  # set on the instance (LambdaCallback)
        return True
    return getattr(type(cb), hook, None) is not getattr(Callback, hook)


class CallbackList(Callback):
    """Calls every hook on each callback in order. ``add_history=True`` appends a ``History`` (kept last,
    so it sees what other callbacks add to ``logs``) unless one is given."""

    def __init__(self, callbacks=None, add_history=False, model=None, **params):
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
        a loop may skip building per-batch logs when none does."""
        hooks = _BATCH_HOOKS[kind]
        return any(_overrides(cb, h) for cb in self.callbacks for h in hooks)

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


# -- monitoring a quantity -------------------------------------------------------------------------

def _check_mode(cls, mode):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{cls} mode {mode!r} is unknown, falling back to 'auto'", stacklevel=3)
        return "auto"
    return mode


def _resolve_mode(mode, monitor, model) -> str:
    """'min' or 'max': as given, else from the model's metric of that name, else from the name."""
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    if name == "loss" or name.endswith("_loss"):
        return "min"
    try:
        metrics = list(getattr(model, "metrics", None) or ())
    except Exception:  # noqa: BLE001 - an uncompiled model may refuse; fall back to the name
        metrics = []
    for m in metrics:
        if getattr(m, "name", None) == name:
            direction = getattr(m, "direction", None) or getattr(m, "_direction", None)
            if direction in ("up", "max"):
                return "max"
            if direction in ("down", "min"):
                return "min"
    return "max" if any(k in name.lower() for k in _MAX_METRICS) else "min"


def _monitored(cls, monitor, logs, what):
    """The monitored value as a float, or None (with a warning) when ``logs`` lacks it."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(f"{cls}: {what} is conditioned on metric `{monitor}` which is not available. "
                      f"Available metrics are: {', '.join(logs)}", stacklevel=3)
        return None
    return float(value)


class EarlyStopping(Callback):
    """Stop training when ``monitor`` stops improving (Keras defaults: ``monitor='val_loss', min_delta=0,
    patience=0, verbose=0, mode='auto', baseline=None, restore_best_weights=False, start_from_epoch=0``).

    After ``patience`` epochs without an improvement larger than ``min_delta`` (and, with a ``baseline``,
    better than it) sets ``model.stop_training = True``. With ``restore_best_weights`` the best epoch's
    weights are put back at the end of training (``model.get_weights()``/``set_weights()``).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        if patience < 0 or start_from_epoch < 0:
            raise ValueError(f"EarlyStopping: `patience` and `start_from_epoch` must be >= 0, got "
                             f"patience={patience}, start_from_epoch={start_from_epoch}")
        self.monitor = monitor
        self.min_delta = abs(min_delta)
        self.patience = patience
        self.verbose = verbose
        self.mode = _check_mode("EarlyStopping", mode)
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._op = None
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def _is_improvement(self, value, reference):
        if reference is None:
            return True
        if self._op == "min":
            return value + self.min_delta < reference
        return value - self.min_delta > reference

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self._op is None:
            self._op = _resolve_mode(self.mode, self.monitor, self.model)
        current = _monitored("EarlyStopping", self.monitor, logs, "early stopping")
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()  # the first monitored epoch is the best so far
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model (``model.save(path)``) or its weights (``model.save_weights(path)``) (Keras defaults:
    ``monitor='val_loss', verbose=0, save_best_only=False, save_weights_only=False, mode='auto',
    save_freq='epoch', initial_value_threshold=None``).

    ``filepath`` may hold ``{epoch:02d}`` (1-based, as Keras) and any log key, e.g. ``{val_loss:.2f}``;
    with an integer ``save_freq`` it saves every that many batches (``{batch}`` is 1-based too).
    With ``save_best_only`` it saves only when ``monitor`` improves; when ``monitor`` is missing from the
    logs it warns and does not save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__()
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"ModelCheckpoint: `save_freq` must be 'epoch' or an integer >= 1, got {save_freq!r}")
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = _check_mode("ModelCheckpoint", mode)
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._op = None
        self._current_epoch = 0
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _path(self, epoch, batch, logs):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as e:
            raise KeyError(f"ModelCheckpoint: cannot format filepath {self.filepath!r}: {e!r} is not among "
                           f"the available fields {sorted(fields)}") from None

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if self.save_best_only:
            if self._op is None:
                self._op = _resolve_mode(self.mode, self.monitor, self.model)
            current = _monitored("ModelCheckpoint", self.monitor, logs, "saving the best model")
            if current is None:
                return
            if self.best is not None and not (current < self.best if self._op == "min" else current > self.best):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                before = "None" if self.best is None else f"{self.best:.5f}"
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {before} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if os.path.isdir(path):
            raise IsADirectoryError(f"ModelCheckpoint: filepath {path!r} is a directory; give a file path")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class LearningRateScheduler(Callback):
    """At each epoch start sets ``model.optimizer.learning_rate = schedule(epoch, lr)`` (or
    ``schedule(epoch)`` for a one-argument function); Keras default ``verbose=0``. Adds
    ``learning_rate`` to the epoch logs."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        if not callable(schedule):
            raise ValueError(f"LearningRateScheduler: `schedule` must be callable, got {schedule!r}")
        self.schedule = schedule
        self.verbose = verbose
        self._two_args = _takes_two_args(schedule)

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer_of(self.model, "LearningRateScheduler")
        lr = self.schedule(epoch, float(optimizer.learning_rate)) if self._two_args else self.schedule(epoch)
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(float(lr)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a finite float, got {lr!r} "
                             f"at epoch {epoch}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {float(lr)}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(_optimizer_of(self.model, "LearningRateScheduler").learning_rate)


def _takes_two_args(fn) -> bool:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return True
    positional = [p for p in sig.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())


def _optimizer_of(model, cls):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f"{cls}: the model has no optimizer with a `learning_rate`; compile it first")
    return optimizer


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs
    (Keras defaults: ``monitor='val_loss', factor=0.1, patience=10, verbose=0, mode='auto', min_delta=1e-4,
    cooldown=0, min_lr=0.0``); never below ``min_lr``; waits ``cooldown`` epochs after a reduction.
    Adds ``learning_rate`` to the epoch logs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__()
        if not 0 <= factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: `factor` must be in [0, 1), got factor={factor}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = _check_mode("ReduceLROnPlateau", mode)
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr
        self._op = None
        self._reset()

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def _improved(self, current):
        if self.best is None:
            return True
        if self._op == "min":
            return current < self.best - self.min_delta
        return current > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        optimizer = _optimizer_of(self.model, "ReduceLROnPlateau")
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        if self._op is None:
            self._op = _resolve_mode(self.mode, self.monitor, self.model)
        current = _monitored("ReduceLROnPlateau", self.monitor, logs, "learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current):
            self.best = current
            self.wait = 0
        elif not self.in_cooldown():
            self.wait += 1
            if self.wait >= self.patience:
                old_lr = float(optimizer.learning_rate)
                if old_lr > np.float32(self.min_lr):
                    new_lr = max(old_lr * self.factor, self.min_lr)
                    optimizer.learning_rate = new_lr
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new_lr}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file: an ``epoch`` column then the log keys in sorted order
    (Keras defaults: ``separator=','``, ``append=False``; appending to a non-empty file writes no header)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None
        self._skip = False

    def on_train_begin(self, logs=None):
        from .distribution import writes_files  # noqa: PLC0415

        self._write_header = True
        self._skip = not writes_files()  # data parallel: rank 0 logs the job's (global) figures
        if self._skip:
            return
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self._write_header = not f.readline()
        self._close()
        directory = os.path.dirname(self.filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:  # used without on_train_begin
            self.on_train_begin()
        if self._skip:
            return
        if self.keys is None:
            self.keys = sorted(logs)
            expected = getattr(self.model, "metrics_names", None) or ()
            self.keys += [k for k in expected if isinstance(k, str) and k.startswith("val_") and k not in self.keys]
        if self._writer is None:
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self._write_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = None
        self._writer = None


def _csv_value(v):
    if isinstance(v, str):
        return v
    if isinstance(v, collections.abc.Iterable) and not (isinstance(v, np.ndarray) and v.ndim == 0):
        return f'"[{", ".join(map(str, v))}]"'
    return v


class TerminateOnNaN(Callback):
    """Stop training as soon as a batch's ``loss`` is NaN or infinite (Keras 3).

    By default training stops cleanly (``model.stop_training = True``; ``on_train_end`` still runs);
    ``raise_error=True`` raises a RuntimeError at once instead. With the built-in train step (and
    ``gradflow.config.check_finite``, the default) the update of that batch is left out, so the model
    keeps the weights, batch norm statistics and optimizer state of the last finite batch; without
    this callback such a batch raises ``NonFiniteLossError``.
    """

    def __init__(self, raise_error: bool = False):
        super().__init__()
        if not isinstance(raise_error, (bool, np.bool_)):
            raise ValueError(f"TerminateOnNaN: raise_error must be True or False, got {raise_error!r}")
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   f"Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """A callback from plain functions: ``on_epoch_begin/on_epoch_end(epoch, logs)``,
    ``on_train_batch_begin/on_train_batch_end(batch, logs)``, ``on_train_begin/on_train_end(logs)``, and
    any other hook name as a keyword (``on_test_end=...``, ``on_batch_end=...``)."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        known = set(HOOKS) | {"on_batch_begin", "on_batch_end"}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ValueError(f"LambdaCallback: unknown hook(s) {unknown}; valid: {sorted(known)}")
        given = dict(on_epoch_begin=on_epoch_begin, on_epoch_end=on_epoch_end, on_train_begin=on_train_begin,
                     on_train_end=on_train_end, on_train_batch_begin=on_train_batch_begin,
                     on_train_batch_end=on_train_batch_end, **kwargs)
        for hook, fn in given.items():
            if fn is None:
                continue
            if not callable(fn):
                raise ValueError(f"LambdaCallback: {hook} must be callable, got {fn!r}")
            setattr(self, hook, fn)


# the callbacks that write files of their own (they subclass Callback above)
from .callback_files import BackupAndRestore, TensorBoard  # noqa: E402
