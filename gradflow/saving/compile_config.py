"""A model's compile settings as JSON and back (what ``get_compile_config`` /
``compile_from_config`` use, and what gradflow's model files store under ``compile``).

Losses, metrics and optimizers are saved by their registered names or configs; an object that
is not registered is saved as ``{"unregistered": name}`` and refused with a clear error on load.
Dicts keyed by output name are saved as ``{"__dict__": {...}}`` so they stay apart from configs.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import losses, optimizers
from .. import metrics as metrics_mod

__all__ = ["serialize_compile_args", "deserialize_compile_args"]


def _loss_config(loss):
    if loss is None or isinstance(loss, str):
        return loss
    try:
        return losses.serialize(loss)
    except ValueError:
        return {"unregistered": getattr(loss, "__name__", type(loss).__name__)}


def _metric_config(m):
    if isinstance(m, str):
        return m
    if isinstance(m, (list, tuple)):
        return [_metric_config(e) for e in m]
    try:
        return metrics_mod.serialize(m) if isinstance(m, metrics_mod.Metric) else losses.serialize(m)
    except (ValueError, TypeError, AttributeError):
        return {"unregistered": getattr(m, "name", None) or getattr(m, "__name__", repr(m))}


def _save_structure(value, fn: Callable):
    if value is None:
        return None
    if isinstance(value, dict):
        return {"__dict__": {k: fn(v) for k, v in value.items()}}
    if isinstance(value, (list, tuple)):
        return [fn(v) for v in value]
    return fn(value)


def serialize_compile_args(optimizer, args: dict) -> dict:
    """JSON-able ``{"optimizer", "loss", "metrics", "weighted_metrics", "loss_weights"}`` from the
    optimizer object and the arguments given to ``compile``."""
    return {"optimizer": optimizers.serialize(optimizer),
            "loss": _save_structure(args.get("loss"), _loss_config),
            "metrics": _save_structure(args.get("metrics"), _metric_config),
            "weighted_metrics": _save_structure(args.get("weighted_metrics"), _metric_config),
            "loss_weights": _save_structure(args.get("loss_weights"), lambda w: w)}


def _registered(value, what: str):
    if isinstance(value, dict) and "unregistered" in value:
        raise ValueError(f"the saved {what} {value['unregistered']!r} is not a registered gradflow {what}")
    return value


def _loss_object(v):
    v = _registered(v, "loss")
    return losses.deserialize(v) if isinstance(v, dict) else v


def _metric_object(m):
    if isinstance(m, list):
        return [_metric_object(e) for e in m]
    m = _registered(m, "metric")
    return metrics_mod.deserialize(m) if isinstance(m, dict) else m


def _load_structure(value, fn: Callable):
    if value is None:
        return None
    if isinstance(value, dict) and "__dict__" in value:
        return {k: fn(v) for k, v in value["__dict__"].items()}
    if isinstance(value, list):
        return [fn(v) for v in value]
    return fn(value)


def deserialize_compile_args(config: dict) -> dict[str, Any]:
    """The keyword arguments of ``compile`` from :func:`serialize_compile_args`'s output."""
    return {"optimizer": optimizers.deserialize(config["optimizer"]),
            "loss": _load_structure(config.get("loss"), _loss_object),
            "metrics": _load_structure(config.get("metrics"), _metric_object),
            "weighted_metrics": _load_structure(config.get("weighted_metrics"), _metric_object),
            "loss_weights": _load_structure(config.get("loss_weights"), lambda w: w)}
