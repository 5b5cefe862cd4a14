"""What the callbacks that watch a logged quantity share (Keras 3's ``MonitorCallback``): the mode, the
comparison (``monitor_op``, with ``min_delta`` negated in 'min' mode, as Keras keeps it) and the lookup
in ``logs``."""
from __future__ import annotations

import warnings

import numpy as np

from .callback import Callback

__all__ = ["MonitorCallback", "check_mode", "resolve_mode", "monitored"]

#: substrings of metric names that are better when larger (for mode='auto' when the model has no
#: metric of that name, where Keras raises)
_MAX_METRICS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2")


def check_mode(cls, mode):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{cls} mode '{mode}' is unknown, fallback to auto mode.", stacklevel=3)
        return "auto"
    return mode


def resolve_mode(mode, monitor, model) -> str:
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
        for inner in [m, *(getattr(m, "metrics", None) or ())]:  # Keras looks inside the compiled metrics too
            if getattr(inner, "name", None) == name:
                direction = getattr(inner, "direction", None) or getattr(inner, "_direction", None)
                if direction in ("up", "max"):
                    return "max"
                if direction in ("down", "min"):
                    return "min"
    return "max" if any(k in name.lower() for k in _MAX_METRICS) else "min"


def monitored(cls, monitor, logs, what):
    """The monitored value as a float, or None (with a warning) when ``logs`` lacks it."""
    logs = logs or {}
    value = logs.get(monitor)
    if value is None:
        warnings.warn(f"{cls}: {what} is conditioned on metric `{monitor}` which is not available. "
                      f"Available metrics are: {','.join(logs)}", stacklevel=3)
        return None
    return float(value)


class MonitorCallback(Callback):
    """Keras's base of EarlyStopping, ReduceLROnPlateau and ModelCheckpoint: ``monitor``, ``mode``,
    ``best`` (the ``baseline``), ``min_delta`` (its absolute value) and ``monitor_op``, set at the first
    epoch end (``np.less`` or ``np.greater``; in 'min' mode ``min_delta`` is negated then)."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        self.monitor = monitor
        self.mode = check_mode(type(self).__name__, mode)
        self.best = baseline
        self.min_delta = abs(min_delta)
        self.monitor_op = None

    def _set_monitor_op(self):
        self.monitor_op = np.less if resolve_mode(self.mode, self.monitor, self.model) == "min" else np.greater
        if self.monitor_op is np.less:
            self.min_delta *= -1

    def _is_improvement(self, monitor_value, reference_value):
        if reference_value is None:
            return True
        return bool(self.monitor_op(monitor_value - self.min_delta, reference_value))
