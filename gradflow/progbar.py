"""Keras-style progress display for fit/evaluate/predict: a live bar on a terminal, one line otherwise.

``verbose=1``: ``3/10 [=====>........] - ETA: 2s - loss: 0.6931`` redrawn in place with ``\\r``
when the stream is a terminal (or a notebook); elsewhere only the final line of each run is
printed, so logs stay readable. ``verbose=2``: only the final line,
``10/10 - 0s - 12ms/step - loss: 0.5748 - accuracy: 0.7010``. Metric values are asked for
lazily (a callable), only when a line is actually drawn, so a GPU is synchronised only then.
"""
from __future__ import annotations

import math
import sys
import time

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

    def __init__(self, target, verbose: int = 1, width: int = 30, interval: float = 0.05,
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
        if finalize:
            line += f" - {elapsed:.0f}s {_format_per_step(per_step, self.unit_name)}"
        elif self.target is not None:
            line += f" - ETA: {_format_eta(per_step * (self.target - current))}"
        else:
            line += f" - {_format_per_step(per_step, self.unit_name)}"
        line += format_logs(logs)
        if self._dynamic:
            pad = " " * max(self._last_len - len(line), 0)
            self._last_len = len(line)
            self._write("\r" + line + pad + ("\n" if finalize else ""))
        else:
            self._write(line + "\n")

    def _count(self, current: int) -> str:
        if self.target is None:
            return f"{current}/Unknown"
        digits = int(math.log10(max(self.target, 1))) + 1
        return f"{current:{digits}d}/{self.target}"

    def _bar(self, current: int) -> str:
        if self.target is None or not self.target:
            return ""
        done = int(self.width * min(current, self.target) / self.target)
        arrow = ">" if 0 < done < self.width and current < self.target else ("=" if done else "")
        inner = "=" * max(done - 1, 0) + arrow if done else ""
        if current >= self.target:
            inner = "=" * self.width
        return " [" + inner + "." * (self.width - len(inner)) + "]"

    def _write(self, text: str) -> None:
        stream = self.stream
        stream.write(text)
        stream.flush()
