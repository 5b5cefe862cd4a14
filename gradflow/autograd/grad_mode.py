"""Whether operations record a graph for backward: ``no_grad()`` turns recording off."""
from __future__ import annotations

import contextlib
import threading

__all__ = ["no_grad", "enable_grad", "is_grad_enabled", "set_grad_enabled"]

_state = threading.local()


def is_grad_enabled() -> bool:
    return getattr(_state, "enabled", True)


def set_grad_enabled(flag: bool) -> None:
    _state.enabled = bool(flag)


@contextlib.contextmanager
def _grad_mode(flag: bool):
    before = is_grad_enabled()
    _state.enabled = flag
    try:
        yield
    finally:
        _state.enabled = before


def no_grad():
    """Context manager (and decorator) that stops recording the graph."""
    return _grad_mode(False)


def enable_grad():
    """Context manager that turns recording back on inside a ``no_grad`` block."""
    return _grad_mode(True)
