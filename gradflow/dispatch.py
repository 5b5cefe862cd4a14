"""The kernel registry: (op, implementation) -> function, and how one is chosen.

Implementations are registered by dotted path (``"gradflow.kernels.cpu.conv2d:conv2d_forward"``)
and imported on first use, so ``import gradflow`` compiles and imports nothing heavy.
"""
from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from typing import Callable

from . import config

__all__ = [
    "HOT_OPS", "register", "get", "implementations", "available", "choose", "explain",
    "KernelUnavailable", "reset",
]

HOT_OPS = (
    "conv2d_forward", "conv2d_backward_input", "conv2d_backward_filter",
    "max_pool2d_forward", "max_pool2d_backward",
    "avg_pool2d_forward", "avg_pool2d_backward",
    "batch_norm_forward", "batch_norm_inference", "batch_norm_backward",
    "matmul",
)

#: preference order for ``auto`` when nothing has been timed, per device
AUTO_ORDER = {"cpu": ("numba", "numpy", "reference"), "cuda": ("cuda", "vendor")}


class KernelUnavailable(RuntimeError):
    """An implementation was asked for that is not registered or cannot load here."""


@dataclass
class Impl:
    op: str
    name: str
    device: str
    target: str | Callable
    _fn: Callable | None = field(default=None, repr=False)
    _error: str | None = field(default=None, repr=False)

    def load(self) -> Callable:
        if self._fn is not None:
            return self._fn
        if self._error is not None:
            raise KernelUnavailable(self._error)
        if callable(self.target):
            self._fn = self.target
            return self._fn
        module, _, attr = self.target.partition(":")
        try:
            self._fn = getattr(importlib.import_module(module), attr)
        except Exception as exc:  # missing numba/cupy, compile error...
            self._error = f"{self.op}/{self.name} cannot load from {self.target}: {type(exc).__name__}: {exc}"
            raise KernelUnavailable(self._error) from exc
        return self._fn


_lock = threading.Lock()
_registry: dict[str, dict[str, Impl]] = {}
#: (op, device, shape key) -> implementation name chosen by timing
_tuned: dict[tuple, str] = {}
#: last choice per (op, device): (name, reason) for explain()
_last: dict[tuple[str, str], tuple[str, str]] = {}


def register(op: str, name: str, target: str | Callable, device: str = "cpu") -> None:
    """Register ``target`` (a callable or ``"module:attr"``) as implementation ``name`` of ``op``."""
    with _lock:
        _registry.setdefault(op, {})[name] = Impl(op, name, device, target)


def implementations(op: str, device: str | None = None) -> dict[str, Impl]:
    """All registered implementations of ``op`` (on ``device`` when given)."""
    _ensure_builtin()
    impls = _registry.get(op, {})
    return {n: i for n, i in impls.items() if device is None or i.device == device}


def available(op: str, device: str = "cpu") -> list[str]:
    """Names of the implementations of ``op`` that load on ``device``, in preference order."""
    out = []
    for name, impl in implementations(op, device).items():
        try:
            impl.load()
            out.append(name)
        except KernelUnavailable:
            pass
    order = AUTO_ORDER.get(device, ())
    return sorted(out, key=lambda n: order.index(n) if n in order else len(order))


def _requested(op: str) -> str:
    return config.op_kernels.get(op, config.kernels)


def choose(op: str, device: str = "cpu", backend_name: str | None = None, key=None) -> tuple[str, str]:
    """Pick the implementation name for ``op``; returns ``(name, reason)``."""
    impls = implementations(op, device)
    if not impls:
        raise KernelUnavailable(f"no implementation of {op!r} is registered for device {device!r}")
    if backend_name == "reference":
        return "reference", "the reference backend always uses the reference implementation"
    want = _requested(op)
    if want != "auto":
        if want not in impls:
            raise KernelUnavailable(
                f"{op}: implementation {want!r} is not registered for device {device!r}; "
                f"registered: {', '.join(sorted(impls))}"
            )
        return want, f"requested by config ({'op_kernels' if op in config.op_kernels else 'kernels'}={want!r})"
    if key is not None and (op, device, key) in _tuned:
        return _tuned[(op, device, key)], f"fastest when timed for shape {key}"
    for name in AUTO_ORDER.get(device, ()):
        if name in impls:
            try:
                impls[name].load()
                return name, f"auto: first loadable in preference order {AUTO_ORDER[device]}"
            except KernelUnavailable:
                continue
    raise KernelUnavailable(f"no loadable implementation of {op!r} on {device!r}")


def get(op: str, device: str = "cpu", backend_name: str | None = None, key=None) -> Callable:
    """The function implementing ``op`` on ``device`` under the current configuration."""
    name, reason = choose(op, device, backend_name, key)
    _last[(op, device)] = (name, reason)
    return implementations(op, device)[name].load()


def record_tuned(op: str, device: str, key, name: str) -> None:
    """Remember that ``name`` was fastest for ``op`` at shape ``key``."""
    _tuned[(op, device, key)] = name


def explain(print_fn=print) -> str:
    """Print (and return) which implementation each hot-path op used last and why."""
    lines = []
    for op in HOT_OPS:
        used = [(dev, _last[(op, dev)]) for dev in ("cpu", "cuda") if (op, dev) in _last]
        if not used:
            regs = ", ".join(sorted(implementations(op))) or "none"
            lines.append(f"{op:24s} not called yet (registered: {regs})")
        for dev, (name, reason) in used:
            lines.append(f"{op:24s} [{dev}] {name:9s} {reason}")
    text = "\n".join(lines)
    if print_fn is not None:
        print_fn(text)
    return text


def reset() -> None:
    """Forget timing results and last choices (tests use this)."""
    _tuned.clear()
    _last.clear()


_builtin_done = False


def _ensure_builtin() -> None:
    global _builtin_done
    if not _builtin_done:
        _builtin_done = True
        from .kernels import registry  # noqa: F401  (registers the built-in implementations)
