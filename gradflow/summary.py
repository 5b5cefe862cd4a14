"""``model.summary()``: the Keras table of layers, output shapes and parameter counts.

Layout (plain ASCII box lines, Keras 3 columns and footer; Keras's 88 columns, or 108 with "Connected
to", narrowed to fit the terminal as Keras's table does: 80 when the output is not a terminal)::

    Model: "sequential"
    +------------------------------+---------------------------+-----------+
    | Layer (type)                 | Output Shape              |   Param # |
    +==============================+===========================+===========+
    | dense (Dense)                | (None, 16)                |        48 |
    +------------------------------+---------------------------+-----------+
     Total params: 48 (192.00 B)
     Trainable params: 48 (192.00 B)
     Non-trainable params: 0 (0.00 B)

Frozen layers' weights and batch-norm moving statistics count as non-trainable; the size in
parentheses uses each weight's dtype (float32 = 4 bytes), as Keras 3 does.
"""
from __future__ import annotations

import shutil
import textwrap

__all__ = ["print_summary", "summary_lines", "readable_size", "format_shape", "unique_weights"]

#: narrowest table a terminal width may shrink the default to
MIN_LINE_LENGTH = 40
DEFAULT_LINE_LENGTH = 88
DEFAULT_POSITIONS = (0.45, 0.80, 1.0)
#: a graph that is not a chain gets Keras 3's fourth column, "Connected to", and a wider table
GRAPH_LINE_LENGTH = 108
GRAPH_POSITIONS = (0.3, 0.6, 0.7, 1.0)


def readable_size(nbytes: float) -> str:
    """``1895560 -> '1.81 MB'`` (powers of 1024, two decimals, like Keras 3)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes < 1024:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def format_shape(shape) -> str:
    """``(None, 26, 26, 32)``; a one-element shape keeps Python's trailing comma: ``(None,)``."""
    if shape is None:
        return "?"
    if isinstance(shape, list):  # several outputs
        return ", ".join(format_shape(s) for s in shape)
    return str(tuple(None if d is None else int(d) for d in shape))


def unique_weights(weights) -> list:
    seen, out = set(), []
    for w in weights:
        if id(w) not in seen:
            seen.add(id(w))
            out.append(w)
    return out


def _count(weights) -> tuple[int, int]:
    """(number of scalars, bytes) of a list of weights."""
    n = b = 0
    for w in unique_weights(weights):
        n += int(w.size)
        b += int(w.size) * w.dtype.itemsize
    return n, b


def _wrap(text: str, width: int) -> list[str]:
    """Split ``text`` into lines of at most ``width`` characters, at spaces where possible."""
    if len(text) <= width:
        return [text]
    return textwrap.wrap(text, width, break_on_hyphens=False) or [""]


def _built_output_shape(layer):
    """A layer's output shape where it is known (built by hand), else None ("?")."""
    if not layer.built:
        return None
    try:
        return getattr(layer, "output_shape", None)
    except (AttributeError, ValueError, RuntimeError):
        return None


#: the layers Keras 3 builds when they are made (``_build_at_init``): an unbuilt model shows "0" for them
_BUILT_AT_INIT = frozenset({
    "UnitNormalization", "LeakyReLU", "ReLU", "Activation", "ELU", "Softmax", "AlphaDropout",
    "GaussianDropout", "GaussianNoise", "ActivityRegularization", "Dropout", "Identity", "Masking",
})


def _unbuilt_params(layer) -> str:
    """"0" for a layer Keras builds at creation (activations, dropouts, pooling...), else "0 (unbuilt)"."""
    names = {cls.__name__ for cls in type(layer).__mro__}
    if names & _BUILT_AT_INIT or any("Pooling" in n for n in names):
        return "0"
    return "0 (unbuilt)"


def terminal_columns() -> int:
    """The terminal's width (``COLUMNS`` wins; 80 when output is not a terminal), at least MIN_LINE_LENGTH."""
    return max(shutil.get_terminal_size((80, 24)).columns, MIN_LINE_LENGTH)


def summary_lines(model, line_length=None, positions=None) -> list[str]:
    """The summary of a model as a list of lines. A model that is not built yet (a Sequential without an
    input shape) lists its layers as Keras 3 does: output shape "?", and "0 (unbuilt)" parameters for a
    layer whose weights ``build`` has yet to create."""
    if not model.built:
        if not hasattr(model, "layers"):
            raise ValueError(
                f"This model ({model.name!r}) has not yet been built, so it has no output shapes or weights to "
                f"summarise. Build it first with model.build(input_shape) (e.g. model.build((None, 784))), "
                f"pass input_shape= to the first layer, or call it on / fit it to a batch of data.")
        rows = [(layer, _built_output_shape(layer), None) for layer in model.layers]
    else:
        rows = model._summary_rows() if hasattr(model, "_summary_rows") else \
            [(layer, getattr(layer, "output_shape", None), None) for layer in model.layers]
    graph = any(connected is not None for _, _, connected in rows)
    if not line_length:  # Keras 3's width, narrowed to the terminal's (80 columns when not a terminal)
        line_length = min(GRAPH_LINE_LENGTH if graph else DEFAULT_LINE_LENGTH, terminal_columns())
    line_length = int(line_length)
    positions = list(positions or (GRAPH_POSITIONS if graph else DEFAULT_POSITIONS))
    columns = 4 if graph else 3
    if len(positions) != columns:
        raise ValueError(f"summary: positions needs {columns} column ends, got {positions!r}")
    if all(p <= 1 for p in positions):
        positions = [int(line_length * p) for p in positions]
    ends = [int(p) for p in positions]
    widths = [ends[0]] + [ends[i] - ends[i - 1] for i in range(1, columns)]
    widths = [max(w - 3, 4) for w in widths]  # room for "| " and " " around each cell
    widths[-1] = max(widths[-1] - 1, 4)  # the closing "|": lines are exactly line_length wide

    def rule(ch: str) -> str:
        return "+" + "+".join(ch * (w + 2) for w in widths) + "+"

    def row(cells, aligns) -> list[str]:
        pieces = [_wrap(c, w) for c, w in zip(cells, widths)]
        height = max(len(p) for p in pieces)
        out = []
        for i in range(height):
            parts = []
            for p, w, a in zip(pieces, widths, aligns):
                text = p[i] if i < len(p) else ""
                parts.append(text.rjust(w) if a == "right" else text.ljust(w))
            out.append("| " + " | ".join(parts) + " |")
        return out

    aligns = ("left", "left", "right", "left")[:columns]
    lines = [f'Model: "{model.name}"', rule("-")]
    lines += row(("Layer (type)", "Output Shape", "Param #", "Connected to")[:columns], aligns)
    lines.append(rule("="))
    for layer, shape, connected in rows:
        cells = (f"{layer.name} ({type(layer).__name__})", format_shape(shape),
                 f"{layer.count_params():,}" if layer.built else _unbuilt_params(layer), ", ".join(connected or ["-"]))
        lines += row(cells[:columns], aligns)
        lines.append(rule("-"))
    if not rows:
        lines.append(rule("-"))
    total_n, total_b = _count(model.weights)
    train_n, train_b = _count(model.trainable_weights)
    frozen_n, frozen_b = _count(model.non_trainable_weights)
    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    opt_n, opt_b = optimizer.variables_size() if getattr(optimizer, "built", False) else (0, 0)
    lines.append(f" Total params: {total_n + opt_n:,} ({readable_size(total_b + opt_b)})")
    lines.append(f" Trainable params: {train_n:,} ({readable_size(train_b)})")
    lines.append(f" Non-trainable params: {frozen_n:,} ({readable_size(frozen_b)})")
    if opt_n:  # Keras 3 counts a built optimizer's variables in the total
        lines.append(f" Optimizer params: {opt_n:,} ({readable_size(opt_b)})")
    return lines


def print_summary(model, line_length=None, positions=None, print_fn=None) -> None:
    """Print the summary line by line with ``print_fn`` (default ``print``)."""
    lines = summary_lines(model, line_length, positions)
    if print_fn is None:
        print("\n".join(lines))
        return
    for line in lines:
        print_fn(line)
