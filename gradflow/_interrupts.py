"""Ctrl-C held back while a block of in-place updates runs, so it never lands half way through one
(an optimizer step, a whole training step)."""
from __future__ import annotations

import signal
import threading

__all__ = ["sigint_deferred"]

try:  # the C module under ``signal``: the same calls without the enum conversions (~10x cheaper)
    import _signal as _sig
except ImportError:  # pragma: no cover - other Pythons
    _sig = signal

_MAIN_THREAD = threading.main_thread().ident
_SIGINT = int(signal.SIGINT)
_IGNORE = int(signal.SIG_IGN)
_held: list = []          # SIGINTs that arrived while deferred: (signum, frame)
_deferring = [False]


def _hold_sigint(signum, frame):
    _held.append((signum, frame))


def sigint_deferred(fn, *args):
    """``fn(*args)`` with SIGINT held back until it returns (or raises), then delivered to the handler
    that was installed before (a ``KeyboardInterrupt`` by default), so ``fn``'s in-place updates are
    never left half done by Ctrl-C. Costs two ``sigaction`` calls (under a microsecond); outside the
    main thread (where Python never runs signal handlers), inside another deferred call, or when
    SIGINT is ignored or handled outside Python, it is a plain call."""
    if _deferring[0] or threading.get_ident() != _MAIN_THREAD:
        return fn(*args)
    previous = _sig.getsignal(_SIGINT)
    if previous is None or previous == _IGNORE:
        return fn(*args)
    _sig.signal(_SIGINT, _hold_sigint)
    _deferring[0] = True
    try:
        return fn(*args)
    finally:
        _deferring[0] = False
        _sig.signal(_SIGINT, previous)
        if _held:
            signum, frame = _held[-1]
            _held.clear()
            if callable(previous):
                previous(signum, frame)
            else:  # SIG_DFL: what the signal would have done
                signal.raise_signal(_SIGINT)
