"""Keras 3's progress display for fit/evaluate/predict: a live bar on a terminal, one line otherwise.

``verbose=1``: ``3/10 ━━━━━━━━━━━━━━━━━━━━ 2s 12ms/step - loss: 0.6931`` (Keras 3's bar of 20
heavy rules, the done part green on a terminal, the ETA while running and the elapsed time at the
end) redrawn in place with ``\\r`` when the stream is a terminal (or a notebook); elsewhere only
the final line of each run is printed, without colours or control characters, so redirected logs
stay clean. Before the first step ends (kernels compile on a first run) a terminal shows what is
happening. ``verbose=2``: only the final line, ``10/10 - 0s - 12ms/step - loss: 0.5748``. Metric
values are asked for lazily (a callable), only when a line is drawn, so a GPU syncs only then.
"""
from __future__ import annotations

import logging
import math
import sys
import time

from . import config

__all__ = ["Progbar", "format_value", "format_logs", "is_interactive"]


def format_value(value) -> str:
    """Keras's number format: 4 decimals, scientific for tiny magnitudes."""
    value = float(value)
    if value == 0.0 or abs(value) > 1e-3 or math.isnan(value) or math.isinf(value):
        return f"{value:.4f}"
    return f"{value:.4e}"


def format_logs(logs) -> str:
    """`` - loss: 0.5748 - accuracy: 0.7010`` for a mapping of names to numbers."""
    return "".join(f" - {k}: {format_value(v)}" for k, v in logs.items())


_DONE, _TODO, _RESET, _BOLD = "\x1b[32m", "\x1b[37m", "\x1b[0m", "\x1b[1m"
_RULE = "\u2501"  # ━


def _format_per_step(seconds: float, unit: str) -> str:
    if seconds >= 1 or seconds == 0:
        return f"{seconds:.0f}s/{unit}"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.0f}ms/{unit}"
    return f"{seconds * 1e6:.0f}us/{unit}"


def _format_eta(seconds: float) -> str:
    if seconds > 3600:
        return f"{int(seconds) // 3600}:{(int(seconds) % 3600) // 60:02d}:{int(seconds) % 60:02d}"
    if seconds > 60:
        return f"{int(seconds) // 60}:{int(seconds) % 60:02d}"
    return f"{seconds:.0f}s"


def _plain(text: str) -> str:
    """``text`` without its colour codes."""
    for code in (_DONE, _TODO, _RESET, _BOLD):
        text = text.replace(code, "")
    return text


def is_interactive(stream) -> bool:
    """Whether ``stream`` can redraw a line in place (a terminal or a Jupyter kernel)."""
    if "ipykernel" in sys.modules and stream is sys.stdout:
        return True
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # closed stream
        return False


class Progbar:
    """Progress of one run over ``target`` steps (``None`` when the length is unknown).

    ``update(current, logs=None, finalize=False)``: ``logs`` is a mapping or a callable
    returning one; it is only evaluated when a line is drawn.
    """

    def __init__(self, target, verbose: int = 1, width: int = 20, interval: float = 0.05,
                 unit_name: str = "step", stream=None):
        self.target = target
        self.verbose = verbose
        self.width = width
        self.interval = interval
        self.unit_name = unit_name
        self._stream = stream
        self._start = time.perf_counter()
        self._last_draw = float("-inf")
        self._last_len = 0
        self._dynamic = is_interactive(self.stream)

    @property
    def stream(self):
        return self._stream if self._stream is not None else sys.stdout

    def update(self, current: int, logs=None, finalize: bool = False) -> None:
        if self.verbose == 0:
            return
        now = time.perf_counter()
        if not finalize and (self.verbose == 2 or not self._dynamic):
            return
        if not finalize and now - self._last_draw < self.interval:
            return
        self._last_draw = now
        if callable(logs):
            logs = logs()
        logs = logs or {}
        elapsed = now - self._start
        per_step = elapsed / current if current else 0.0
        if self.verbose == 2:
            line = f"{self._count(current)} - {elapsed:.0f}s - {_format_per_step(per_step, self.unit_name)}"
            self._write(line + format_logs(logs) + "\n")
            return
        line = self._count(current) + self._bar(current)
        if finalize or self.target is None:
            line += f" {elapsed:.0f}s {_format_per_step(per_step, self.unit_name)}"
        else:
            line += f" {_format_eta(per_step * (self.target - current))} {_format_per_step(per_step, self.unit_name)}"
        line += format_logs(logs)
        if self._dynamic:
            self._redraw(line, finalize)
        else:
            self._write(_plain(line) + "\n")

    def starting(self, note: str) -> None:
        """On a terminal, a line saying what happens before the first step ends (compiling kernels on
        a first run); the first update draws over it. Elsewhere nothing."""
        if self.verbose == 1 and self._dynamic:
            self._redraw(self._count(0) + self._bar(0) + f" {note}", False)

    def _redraw(self, line: str, finalize: bool) -> None:
        width = len(_plain(line))
        pad = " " * max(self._last_len - width, 0)
        self._last_len = width
        self._write("\r" + line + pad + ("\n" if finalize else ""))

    def _count(self, current: int) -> str:
        if self.target is None:
            return f"{current:7d}/Unknown"
        digits = int(math.log10(max(self.target, 1))) + 1
        text = f"{current:{digits}d}/{self.target}"
        return f"{_BOLD}{text}{_RESET}" if self._dynamic else text

    def _bar(self, current: int) -> str:
        if self.target is None or not self.target:
            return ""
        done = int(self.width * min(current, self.target) / self.target)
        if not self._dynamic:
            return " " + _RULE * self.width
        green = f"{_DONE}{_RULE * done}{_RESET}" if done else ""
        return f" {green}{_TODO}{_RULE * (self.width - done)}{_RESET}"

    def _write(self, text: str) -> None:
        if not config.is_interactive_logging_enabled():  # keras.config.disable_interactive_logging
            if text.strip():
                logging.getLogger("gradflow").info(text.strip("\r\n"))
            return
        stream = self.stream
        stream.write(text)
        stream.flush()
