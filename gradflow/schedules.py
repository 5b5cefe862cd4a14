"""Learning-rate schedules, Keras 3 semantics: ``schedule(step) -> lr`` with ``step = optimizer.iterations``.

Re-exported as ``gradflow.optimizers.schedules``. Each schedule serialises with
``get_config()`` / ``from_config()``; ``serialize``/``deserialize`` add the class name.
"""
from __future__ import annotations

import math

from ._registry import register_module

__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay",
    "InverseTimeDecay", "serialize", "deserialize", "get",
]


def _positive(name, value, cls):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise ValueError(f"{cls}: `{name}` must be a number > 0, got {name}={value!r}")
    return value


def _number(name, value, cls, lo=None):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"{cls}: `{name}` must be a finite number, got {name}={value!r}")
    if lo is not None and value < lo:
        raise ValueError(f"{cls}: `{name}` must be >= {lo}, got {name}={value!r}")
    return value


class LearningRateSchedule:
    """Base class: override ``__call__(self, step)`` (and ``get_config`` to be serialisable)."""

    def __call__(self, step):
        raise NotImplementedError(f"learning rate schedule {type(self).__name__} must override __call__(self, step)")

    def get_config(self) -> dict:
        raise NotImplementedError(f"learning rate schedule {type(self).__name__} must override get_config()")

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        try:
            args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        except NotImplementedError:
            args = ""
        return f"{type(self).__name__}({args})"


class _StepDecay(LearningRateSchedule):
    """Shared by the decays driven by ``p = step / decay_steps`` (floored when ``staircase``)."""

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name=None):
        cls = type(self).__name__
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate, cls, lo=0)
        self.decay_steps = _positive("decay_steps", decay_steps, cls)
        self.decay_rate = _number("decay_rate", decay_rate, cls, lo=0)
        self.staircase = bool(staircase)
        self.name = cls if name is None else name

    def _progress(self, step) -> float:
        p = float(step) / self.decay_steps
        return math.floor(p) if self.staircase else p

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "decay_rate": self.decay_rate, "staircase": self.staircase, "name": self.name}


class ExponentialDecay(_StepDecay):
    """``initial_learning_rate * decay_rate ** (step / decay_steps)``; ``staircase`` floors the exponent."""

    def __call__(self, step):
        return self.initial_learning_rate * self.decay_rate ** self._progress(step)


class PiecewiseConstantDecay(LearningRateSchedule):
    """``values[0]`` while ``step <= boundaries[0]``, ``values[i]`` for ``boundaries[i-1] < step <= boundaries[i]``,
    ``values[-1]`` after the last boundary."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        cls = type(self).__name__
        boundaries, values = list(boundaries), list(values)
        if len(boundaries) != len(values) - 1:
            raise ValueError(f"{cls}: `boundaries` must have one element fewer than `values`; got "
                             f"{len(boundaries)} boundaries and {len(values)} values")
        if any(not b2 > b1 for b1, b2 in zip(boundaries, boundaries[1:])):
            raise ValueError(f"{cls}: `boundaries` must be strictly increasing, got {boundaries}")
        self.boundaries = boundaries
        self.values = values
        self.name = name

    def __call__(self, step):
        step = float(step)
        for b, v in zip(self.boundaries, self.values):
            if step <= b:
                return v
        return self.values[-1]

    def get_config(self):
        return {"boundaries": self.boundaries, "values": self.values, "name": self.name}


class InverseTimeDecay(_StepDecay):
    """``initial_learning_rate / (1 + decay_rate * step / decay_steps)``; ``staircase`` floors ``step/decay_steps``."""

    def __call__(self, step):
        return self.initial_learning_rate / (1.0 + self.decay_rate * self._progress(step))


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (Keras defaults ``alpha=0.0, warmup_target=None, warmup_steps=0``).

    Without warmup: ``lr0 * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)``.
    With ``warmup_target``: linear from ``initial_learning_rate`` to ``warmup_target`` over ``warmup_steps``,
    then the cosine decay from ``warmup_target`` over ``decay_steps``.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay",
                 warmup_target=None, warmup_steps=0):
        cls = type(self).__name__
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate, cls, lo=0)
        self.decay_steps = _positive("decay_steps", decay_steps, cls)
        self.alpha = _number("alpha", alpha, cls, lo=0)
        self.name = name
        self.warmup_target = None if warmup_target is None else _number("warmup_target", warmup_target, cls, lo=0)
        self.warmup_steps = _number("warmup_steps", warmup_steps, cls, lo=0)

    def _decay(self, step, start_lr):
        fraction = step / self.decay_steps
        cosine = 0.5 * (1.0 + math.cos(math.pi * fraction))
        return start_lr * ((1.0 - self.alpha) * cosine + self.alpha)

    def __call__(self, step):
        step = float(step)
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:
            delta = self.warmup_target - self.initial_learning_rate
            return delta * (step / self.warmup_steps) + self.initial_learning_rate
        return self._decay(step - self.warmup_steps, self.warmup_target)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "alpha": self.alpha, "name": self.name, "warmup_target": self.warmup_target,
                "warmup_steps": self.warmup_steps}


_SCHEDULES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay, InverseTimeDecay)}


def serialize(schedule: LearningRateSchedule) -> dict:
    """``{"class_name": ..., "config": ...}``, JSON-able."""
    return {"class_name": type(schedule).__name__, "config": schedule.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> LearningRateSchedule:
    """The schedule that ``serialize`` described (``custom_objects`` maps extra class names)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"a schedule config must be a dict with 'class_name' and 'config', got {config!r}")
    known = dict(_SCHEDULES, **(custom_objects or {}))
    name = config["class_name"]
    if name not in known:
        raise ValueError(f"unknown learning rate schedule {name!r}; known: {', '.join(sorted(known))} "
                         f"(pass custom_objects for your own)")
    return known[name].from_config(dict(config.get("config", {})))


def get(identifier):
    """A schedule from an instance or a ``serialize`` dict."""
    if isinstance(identifier, LearningRateSchedule):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"cannot interpret {identifier!r} as a learning rate schedule")


register_module("schedules", globals())
