"""Argument checks shared by the layers: every error names the layer, the expected and the actual value."""
from __future__ import annotations

import numpy as np

__all__ = ["describe", "shape_arg", "positive_tuple", "positive_int", "padding_mode", "data_format", "resolve",
           "to_channels_last", "from_channels_last", "check_rank", "unsupported"]


def describe(layer) -> str:
    """``Dense layer 'dense_1'`` — how errors name a layer."""
    return f"{type(layer).__name__} layer {layer.name!r}"


def shape_arg(layer, name: str, value, shown=None) -> tuple:
    """``value`` as a tuple of sizes (ints >= 0, or None for any size), else a ValueError naming the
    layer, the argument and the value as given (``shown``); Keras: negative dimensions are not allowed."""
    shown = value if shown is None else shown
    try:
        dims = tuple(value)
    except TypeError:
        dims = None
    if dims is None or not all(d is None or (isinstance(d, (int, np.integer)) and not isinstance(d, bool))
                               for d in dims):
        raise ValueError(f"{describe(layer)}: {name} must be a tuple of ints (or None for any size), got "
                         f"{name}={shown!r}")
    if any(d is not None and d < 0 for d in dims):
        raise ValueError(f"{describe(layer)}: {name} must hold sizes >= 0 (or None), got {name}={shown!r}; "
                         f"negative dimensions are not allowed")
    return tuple(None if d is None else int(d) for d in dims)


def positive_int(layer, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{describe(layer)}: {name} must be a positive integer, got {name}={value!r}")
    return int(value)


def positive_tuple(layer, name: str, value, n: int = 2) -> tuple[int, ...]:
    """``3 -> (3, 3)``; ``(2, 3)`` as given; every entry a positive int."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        vals = (int(value),) * n
    else:
        try:
            vals = tuple(value)
        except TypeError:
            vals = ()
        if len(vals) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in vals):
            raise ValueError(f"{describe(layer)}: {name} must be an int or a tuple of {n} ints, got {name}={value!r}")
        vals = tuple(int(v) for v in vals)
    if min(vals) <= 0:
        raise ValueError(f"{describe(layer)}: {name} must be positive, got {name}={value!r}")
    return vals


def padding_mode(layer, value) -> str:
    mode = str(value).lower() if isinstance(value, str) else value
    if mode not in ("valid", "same"):
        raise ValueError(f"{describe(layer)}: padding must be 'valid' or 'same', got padding={value!r}")
    return mode


def data_format(layer, value) -> str:
    """None -> 'channels_last' (Keras's image_data_format default)."""
    fmt = "channels_last" if value is None else str(value).lower()
    if fmt not in ("channels_last", "channels_first"):
        raise ValueError(f"{describe(layer)}: data_format must be 'channels_last' or 'channels_first', "
                         f"got data_format={value!r}")
    return fmt


def resolve(layer, name: str, getter, value):
    """``getter(value)`` (an initializers/regularizers/activations ``get``) with the layer named in errors."""
    try:
        return getter(value)
    except ValueError as exc:
        raise ValueError(f"{describe(layer)}: {name}: {exc}") from None


def check_rank(layer, input_shape, rank: int, what: str) -> None:
    if len(input_shape) != rank:
        raise ValueError(f"{describe(layer)} expects inputs of rank {rank} {what}, "
                         f"got shape {tuple(input_shape)} of rank {len(input_shape)}")


def to_channels_last(x, fmt: str):
    """NCHW -> NHWC when the layer is channels_first (ops are channels-last)."""
    return x if fmt == "channels_last" else x.transpose(0, 2, 3, 1)


def from_channels_last(y, fmt: str):
    return y if fmt == "channels_last" else y.transpose(0, 3, 1, 2)


def unsupported(layer, **kwargs) -> None:
    """Keras arguments accepted only at their default None (so Keras configs load): constraints etc."""
    for name, value in kwargs.items():
        if value is not None and value is not False:
            raise ValueError(f"{describe(layer)}: {name} is not supported by gradflow; expected None, got "
                             f"{name}={value!r}")
