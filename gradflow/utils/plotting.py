"""``plot_history``: training curves (loss, metrics and their ``val_`` twins) saved as a PNG."""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ["plot_history"]


def _history_dict(history) -> dict[str, list[float]]:
    """The ``{name: per-epoch values}`` dict of a History object or of a plain dict."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(
            f"plot_history: expected a History object with a .history dict, or a dict, got {type(history).__name__}")
    if not logs:
        raise ValueError("plot_history: the history is empty; nothing to plot")
    return {str(k): [float(v) for v in values] for k, values in logs.items()}


def plot_history(history, path: str | os.PathLike, metrics=None, title: str | None = None,
                 validation_label: str = "validation", labels: dict | None = None, columns: int = 3) -> Path:
    """Write one panel per metric (``loss`` first), each with its ``val_`` curve when present.

    ``metrics`` restricts the panels (e.g. ``["loss", "accuracy"]``); ``validation_label`` names the
    ``val_`` curves (say ``"test"`` when ``validation_data`` was the test set); ``labels`` gives a
    panel a longer title (``{"loss": "loss (mean squared error)"}``); at most ``columns`` panels
    share a row, so many metrics make a grid rather than a long strip. Draws off-screen with the
    Agg canvas, so it never changes the user's matplotlib backend. Returns the written path.
    """
    logs = _history_dict(history)
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 - optional dependency (matplotlib)
        from matplotlib.figure import Figure  # noqa: PLC0415 - optional dependency (matplotlib)
        from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - optional dependency (matplotlib)
    except ImportError as exc:
        raise ImportError(
            "plot_history needs matplotlib; install it with: pip install 'gradflow-keras[plot]' "
            f"(the 'plot' extra) ({exc})") from None

    names = [k for k in logs if not k.startswith("val_")]
    names += [k[4:] for k in logs if k.startswith("val_") and k[4:] not in logs]  # val-only metrics
    names.sort(key=lambda k: (k != "loss", list(logs).index(k) if k in logs else len(logs)))
    if metrics is not None:
        unknown = [m for m in metrics if m not in names]
        if unknown:
            raise ValueError(f"plot_history: metrics {unknown} not in the history; available: {names}")
        names = list(metrics)

    if columns < 1:
        raise ValueError(f"plot_history: columns must be >= 1, got {columns}")
    cols = min(columns, len(names))
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(5 * cols, 4 * rows), dpi=100)
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(rows, cols, i + 1)
        for key, label in ((name, "train"), ("val_" + name, validation_label)):
            if key in logs:
                values = logs[key]
                ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) < 30 else None, label=label)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title((labels or {}).get(name, name))
        ax.grid(True, alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    return path
