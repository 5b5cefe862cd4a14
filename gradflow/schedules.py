"""Learning-rate schedules, Keras 3 semantics: ``schedule(step) -> lr`` with ``step = optimizer.iterations``.

Re-exported as ``gradflow.optimizers.schedules``. Each schedule serialises with
``get_config()`` / ``from_config()``; ``serialize``/``deserialize`` add the class name.
"""
from __future__ import annotations

import math

import numpy as np

from ._registry import register_module

__all__ = [
    "LearningRateSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "CosineDecay",
    "InverseTimeDecay", "PolynomialDecay", "CosineDecayRestarts", "serialize", "deserialize", "get",
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


class PolynomialDecay(LearningRateSchedule):
    """Polynomial decay from ``initial_learning_rate`` to ``end_learning_rate`` over ``decay_steps`` (Keras
    defaults ``end_learning_rate=0.0001, power=1.0, cycle=False``): ``(lr0 - end) * (1 - p) ** power + end``
    with ``p = min(step, decay_steps) / decay_steps``; ``cycle`` stretches ``decay_steps`` to the first
    multiple of it at or past ``step`` instead."""

    def __init__(self, initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False,
                 name="PolynomialDecay"):
        cls = type(self).__name__
        if not decay_steps > 0:
            raise ValueError(f"Argument `decay_steps` must be > 0. Received: decay_steps={decay_steps}")
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate, cls)
        self.decay_steps = decay_steps
        self.end_learning_rate = _number("end_learning_rate", end_learning_rate, cls)
        self.power = _number("power", power, cls)
        self.cycle = cycle
        self.name = name

    def __call__(self, step):
        step, decay_steps = float(step), float(self.decay_steps)
        if self.cycle:
            decay_steps *= 1.0 if step == 0 else math.ceil(step / self.decay_steps)
        else:
            step = min(step, decay_steps)
        p = step / decay_steps
        return (self.initial_learning_rate - self.end_learning_rate) * (1.0 - p) ** self.power + self.end_learning_rate

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "decay_steps": self.decay_steps,
                "end_learning_rate": self.end_learning_rate, "power": self.power, "cycle": self.cycle,
                "name": self.name}


class CosineDecayRestarts(LearningRateSchedule):
    """Cosine decay with warm restarts, SGDR (Keras defaults ``t_mul=2.0, m_mul=1.0, alpha=0.0``): period
    ``i`` lasts ``first_decay_steps * t_mul ** i`` steps and starts from ``initial_learning_rate * m_mul ** i``."""

    def __init__(self, initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0, name="SGDRDecay"):
        cls = type(self).__name__
        if not first_decay_steps > 0:
            raise ValueError(f"Argument `first_decay_steps` must be > 0. Received: "
                             f"first_decay_steps={first_decay_steps}")
        self.initial_learning_rate = _number("initial_learning_rate", initial_learning_rate, cls)
        self.first_decay_steps = first_decay_steps
        self._t_mul = _number("t_mul", t_mul, cls)
        self._m_mul = _number("m_mul", m_mul, cls)
        self.alpha = _number("alpha", alpha, cls)
        self.name = name

    def __call__(self, step):
        fraction = float(step) / float(self.first_decay_steps)
        t_mul = self._t_mul
        if t_mul == 1.0:
            i_restart = math.floor(fraction)
            fraction -= i_restart
        else:
            # float32 logs, as Keras computes them, so the restarts fall on the same steps
            f32 = np.float32
            i_restart = math.floor(float(f32(np.log(f32(1.0 - fraction * (1.0 - t_mul)))) / f32(np.log(f32(t_mul)))))
            sum_r = (1.0 - t_mul ** i_restart) / (1.0 - t_mul)
            fraction = (fraction - sum_r) / t_mul ** i_restart
        cosine = 0.5 * self._m_mul ** i_restart * (1.0 + math.cos(math.pi * fraction))
        return self.initial_learning_rate * ((1.0 - self.alpha) * cosine + self.alpha)

    def get_config(self):
        return {"initial_learning_rate": self.initial_learning_rate, "first_decay_steps": self.first_decay_steps,
                "t_mul": self._t_mul, "m_mul": self._m_mul, "alpha": self.alpha, "name": self.name}


_SCHEDULES = {c.__name__: c for c in (ExponentialDecay, PiecewiseConstantDecay, CosineDecay, InverseTimeDecay,
                                      PolynomialDecay, CosineDecayRestarts)}


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
