"""Helpers of the callbacks that watch a logged quantity: mode resolution and lookup in ``logs``."""
from __future__ import annotations

import warnings

__all__ = ["check_mode", "resolve_mode", "monitored"]

#: substrings of metric names that are better when larger (for mode='auto')
_MAX_METRICS = ("acc", "auc", "precision", "recall", "f1", "fbeta", "iou", "r2")


def check_mode(cls, mode):
    if mode not in ("auto", "min", "max"):
        warnings.warn(f"{cls} mode {mode!r} is unknown, falling back to 'auto'", stacklevel=3)
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
        if getattr(m, "name", None) == name:
            direction = getattr(m, "direction", None) or getattr(m, "_direction", None)
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
                      f"Available metrics are: {', '.join(logs)}", stacklevel=3)
        return None
    return float(value)
