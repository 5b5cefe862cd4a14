"""Callbacks that steer training: EarlyStopping, LearningRateScheduler, ReduceLROnPlateau,
TerminateOnNaN and LambdaCallback (Keras 3's names, arguments and defaults)."""
from __future__ import annotations

import math

import numpy as np

from .callback import HOOKS, Callback
from .monitor import MonitorCallback, monitored

__all__ = ["EarlyStopping", "LearningRateScheduler", "ReduceLROnPlateau", "TerminateOnNaN", "LambdaCallback"]


class EarlyStopping(MonitorCallback):
    """Stop training when ``monitor`` stops improving (Keras defaults: ``monitor='val_loss', min_delta=0,
    patience=0, verbose=0, mode='auto', baseline=None, restore_best_weights=False, start_from_epoch=0``).

    After ``patience`` epochs without an improvement larger than ``min_delta`` (and, with a ``baseline``,
    better than it) sets ``model.stop_training = True``. With ``restore_best_weights`` the best epoch's
    weights are put back at the end of training (``model.get_weights()``/``set_weights()``).
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta=min_delta)
        if patience < 0 or start_from_epoch < 0:
            raise ValueError(f"EarlyStopping: `patience` and `start_from_epoch` must be >= 0, got "
                             f"patience={patience}, start_from_epoch={start_from_epoch}")
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch
        self._reset()

    def _reset(self):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        current = monitored("EarlyStopping", self.monitor, logs, "early stopping")
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


class LearningRateScheduler(Callback):
    """At each epoch start sets ``model.optimizer.learning_rate = schedule(epoch, lr)`` (or
    ``schedule(epoch)`` for a one-argument function); Keras default ``verbose=0``. Adds
    ``learning_rate`` to the epoch logs."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = _optimizer_of(self.model, "LearningRateScheduler")
        try:  # Keras: schedule(epoch, lr), or schedule(epoch) where that raises a TypeError
            lr = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:
            lr = self.schedule(epoch)
        if not isinstance(lr, (float, np.float32, np.float64)):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {lr}")
        optimizer.learning_rate = float(lr)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {lr}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(_optimizer_of(self.model, "LearningRateScheduler").learning_rate)


def _optimizer_of(model, cls):
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not hasattr(optimizer, "learning_rate"):
        raise ValueError(f"{cls}: the model has no optimizer with a `learning_rate`; compile it first")
    return optimizer


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` has not improved for ``patience`` epochs
    (Keras defaults: ``monitor='val_loss', factor=0.1, patience=10, verbose=0, mode='auto', min_delta=1e-4,
    cooldown=0, min_lr=0.0``); never below ``min_lr``; waits ``cooldown`` epochs after a reduction.
    Adds ``learning_rate`` to the epoch logs. Other keywords are ignored, as in Keras."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0, **kwargs):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor = factor
        self.min_lr = min_lr
        self.patience = patience
        self.verbose = verbose
        self.cooldown = cooldown
        self.cooldown_counter = 0
        self.wait = 0

    def _reset(self):
        self.best = None
        self.wait = 0
        self.cooldown_counter = 0

    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        optimizer = _optimizer_of(self.model, "ReduceLROnPlateau")
        if logs is not None:
            logs["learning_rate"] = float(optimizer.learning_rate)
        if self.monitor_op is None:
            self._set_monitor_op()
        current = monitored("ReduceLROnPlateau", self.monitor, logs, "learning rate reduction")
        if current is None:
            return
        if self.in_cooldown():
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
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
