"""Image augmentation layers (Keras 3): RandomFlip, RandomTranslation, RandomRotation, RandomZoom.

They transform the batch in training (``fit``) and on a bare ``layer(x)`` call, as Keras 3 does,
and are the identity with ``training=False`` (``predict``, ``evaluate``); no gradient flows
through them (they are input preprocessing). RandomFlip, RandomContrast and RandomBrightness
compute where the batch lives (on the GPU with CuPy: no host round trip, their random numbers drawn
by the device's generator); the geometric layers use gradflow.utils.image on NumPy, with a NumPy
generator. A seeded layer (``seed=``) owns its generator, else the backend's seeded one is used.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from ..backend import array_module, backend_for
from ..utils import image
from ._args import data_format as check_data_format
from ._args import describe
from .base import Layer

__all__ = ["RandomFlip", "RandomTranslation", "RandomRotation", "RandomZoom", "RandomContrast", "RandomBrightness"]

_FILL_MODES = ("reflect", "wrap", "constant", "nearest")
_INTERPOLATIONS = ("nearest", "bilinear")


def _factor_range(layer, name: str, value, bound: float | None = 1.0) -> tuple[float, float]:
    """Keras's factor rule: ``f -> (-f, f)``, ``(lo, hi)`` as given; lo <= hi and within ``bound``."""
    try:
        if np.ndim(value) == 0:
            f = float(value)
            lo, hi = (-abs(f), abs(f))
        else:
            lo, hi = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{describe(layer)}: {name} must be a float or a (lower, upper) pair, "
                         f"got {name}={value!r}") from None
    if lo > hi:
        raise ValueError(f"{describe(layer)}: {name} lower bound must not exceed the upper bound, got {name}={value!r}")
    if bound is not None and (abs(lo) > bound or abs(hi) > bound):
        raise ValueError(f"{describe(layer)}: {name} must lie within [-{bound}, {bound}], got {name}={value!r}")
    return lo, hi


def _plain(value):
    """A factor as its JSON-able self (a pair as a list)."""
    return value if value is None or np.ndim(value) == 0 else [float(v) for v in value]


class _RandomImageLayer(Layer):
    """Shared plumbing: seeding, channel layout, inference identity, and for the layers that are not
    ``_on_device`` the NumPy round trip."""

    _on_device = False  # True: _transform takes the backend's array and generator (NumPy or CuPy)

    def __init__(self, seed=None, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError(f"{describe(self)}: seed must be an int or None, got seed={seed!r}")
        self.seed = None if seed is None else int(seed)
        self.data_format = check_data_format(self, data_format)
        self._rng = None

    def _check_fill(self, fill_mode, interpolation, fill_value):
        if fill_mode not in _FILL_MODES:
            raise ValueError(f"{describe(self)}: fill_mode must be one of {_FILL_MODES}, got fill_mode={fill_mode!r}")
        if interpolation not in _INTERPOLATIONS:
            raise ValueError(f"{describe(self)}: interpolation must be one of {_INTERPOLATIONS}, "
                             f"got interpolation={interpolation!r}")
        self.fill_mode, self.interpolation, self.fill_value = fill_mode, interpolation, float(fill_value)

    def _generator(self, data):
        """The generator for a batch ``data``: the device's own for ``_on_device`` layers (CuPy's
        Generator has ``random``/``uniform``, which is all they draw), else a NumPy one."""
        backend = backend_for(data)
        host = not self._on_device and backend.device != "cpu"
        if self.seed is not None:
            if self._rng is None:
                self._rng = np.random.default_rng(self.seed) if host else backend.xp.random.default_rng(self.seed)
            return self._rng
        if not host:
            return backend.generator()
        if self._rng is None:  # geometric layer, batch on a GPU: a NumPy generator of the layer's own
            self._rng = np.random.default_rng(backend._seed)
        return self._rng

    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) not in (3, 4):
            raise ValueError(f"{describe(self)} expects images (batch, height, width, channels) or one "
                             f"image (height, width, channels), got shape {tuple(input_shape)}")

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training: bool = True):
        """Augment unless ``training`` is False (Keras 3: a call outside fit/predict augments)."""
        if not training:
            return x
        data = x.data
        arr = data if self._on_device else x.numpy()
        xp = array_module(arr)
        first = self.data_format == "channels_first"
        if first:
            arr = xp.moveaxis(arr, -3, -1)
        out = self._transform(arr, self._generator(data))
        if first:
            out = xp.moveaxis(out, -1, -3)
        out = xp.ascontiguousarray(out)
        return Tensor._wrap(out if self._on_device else backend_for(data).asarray(out))

    def _transform(self, arr, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def _fill_config(self) -> dict:
        return {"fill_mode": self.fill_mode, "interpolation": self.interpolation, "fill_value": self.fill_value}

    def get_config(self) -> dict:
        return {**super().get_config(), "seed": self.seed, "data_format": self.data_format}


class RandomFlip(_RandomImageLayer):
    """Flip each image with probability 1/2; Keras default mode 'horizontal_and_vertical'."""

    _on_device = True

    def __init__(self, mode="horizontal_and_vertical", seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"{describe(self)}: mode must be 'horizontal', 'vertical' or "
                             f"'horizontal_and_vertical', got mode={mode!r}")
        self.mode = mode

    def _transform(self, arr, rng):
        """image.random_flip's draws (horizontal first), computed with the batch's own array module."""
        xp = array_module(arr)
        batch = arr if arr.ndim == 4 else arr[None]
        n = batch.shape[0]
        out = batch
        for axis, on in ((2, self.mode != "vertical"), (1, self.mode != "horizontal")):
            if on:
                flip = (rng.random(n) < 0.5).reshape(n, 1, 1, 1)
                out = xp.where(flip, xp.flip(out, axis=axis), out)
        return out if arr.ndim == 4 else out[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "mode": self.mode}


class RandomTranslation(_RandomImageLayer):
    """Shift by a fraction of the size: ``height_factor`` 0.2 draws from U(-0.2, 0.2) * height
    (positive moves down/right). Keras defaults fill_mode='reflect', interpolation='bilinear'."""

    def __init__(self, height_factor, width_factor, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height_factor = _factor_range(self, "height_factor", height_factor)
        self.width_factor = _factor_range(self, "width_factor", width_factor)
        self._check_fill(fill_mode, interpolation, fill_value)
        self._as_given = {"height_factor": _plain(height_factor), "width_factor": _plain(width_factor)}

    def _transform(self, arr, rng):
        return image.random_translation(arr, rng, self.height_factor, self.width_factor,
                                        self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._as_given, **self._fill_config()}  # Keras saves them as given


class RandomRotation(_RandomImageLayer):
    """Rotate by ``factor`` of a full turn: 0.1 draws from U(-36, 36) degrees (positive is
    counter-clockwise). Keras defaults fill_mode='reflect', interpolation='bilinear'."""

    def __init__(self, factor, fill_mode="reflect", interpolation="bilinear", seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_range(self, "factor", factor, bound=None)
        self._check_fill(fill_mode, interpolation, fill_value)

    def _transform(self, arr, rng):
        degrees = (self.factor[0] * 360.0, self.factor[1] * 360.0)
        return image.random_rotation(arr, rng, degrees, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor), **self._fill_config()}


class RandomZoom(_RandomImageLayer):
    """Zoom by ``1 + U(lo, hi)``: positive factors zoom out, negative zoom in (Keras). Without
    ``width_factor`` both axes share the factor (aspect kept)."""

    def __init__(self, height_factor, width_factor=None, fill_mode="reflect", interpolation="bilinear",
                 seed=None, fill_value=0.0, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.height_factor = _factor_range(self, "height_factor", height_factor)
        self.width_factor = None if width_factor is None else _factor_range(self, "width_factor", width_factor)
        for name, rng in (("height_factor", self.height_factor), ("width_factor", self.width_factor)):
            if rng is not None and rng[0] <= -1.0:
                raise ValueError(f"{describe(self)}: {name} lower bound must be > -1 (zoom factor 1 + lower > 0), "
                                 f"got {name}={rng!r}")
        self._check_fill(fill_mode, interpolation, fill_value)
        self._as_given = {"height_factor": _plain(height_factor), "width_factor": _plain(width_factor)}

    def _transform(self, arr, rng):
        n = arr.shape[0] if arr.ndim == 4 else 1
        zy = 1.0 + rng.uniform(*self.height_factor, size=n)
        zx = zy if self.width_factor is None else 1.0 + rng.uniform(*self.width_factor, size=n)
        if arr.ndim == 3:
            zy, zx = zy[0], zx[0]
        return image.zoom(arr, zy, zx, self.interpolation, self.fill_mode, self.fill_value)

    def get_config(self) -> dict:
        return {**super().get_config(), **self._as_given, **self._fill_config()}  # Keras saves them as given


class RandomContrast(_RandomImageLayer):
    """Scale each image's deviation from its per-channel mean by ``U(1 - lower, 1 + upper)`` (Keras 3's
    rule: ``factor`` 0.2 -> (0, 0.2) -> U(1.0, 1.2)), then clip to ``value_range`` (default (0, 255))."""

    _on_device = True

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        # Keras 3 (factor bounds (0, 1)): a number f gives (max(-f, 0), f) = (0, f), i.e. U(1, 1 + f); a pair
        # (lower, upper) gives U(1 - lower, 1 + upper)
        if np.ndim(factor) == 0:
            f = float(factor)
            if f < 0 or f > 1:
                raise ValueError(f"{describe(self)}: factor must be in [0, 1], got factor={factor!r}")
            lo, hi = max(-abs(f), 0.0), abs(f)
        else:
            if len(factor) != 2 or factor[0] > 1 or factor[1] < 0:
                raise ValueError(f"{describe(self)}: factor must be a number or a pair within [0, 1], "
                                 f"got factor={factor!r}")
            lo, hi = sorted(float(v) for v in factor)
        self.factor = (lo, hi)
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def _transform(self, arr, rng):
        batch = arr if arr.ndim == 4 else arr[None]
        scale = rng.uniform(1.0 - self.factor[0], 1.0 + self.factor[1], size=(batch.shape[0], 1, 1, 1))
        mean = batch.mean(axis=(1, 2), keepdims=True)
        out = array_module(arr).clip((batch - mean) * scale + mean, *self.value_range).astype(arr.dtype)
        return out if arr.ndim == 4 else out[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}


class RandomBrightness(_RandomImageLayer):
    """Add ``U(lower, upper) * (value_range width)`` to each image (``factor`` 0.2 -> U(-0.2, 0.2)),
    then clip to ``value_range`` (Keras 3 default (0, 255))."""

    _on_device = True

    def __init__(self, factor, value_range=(0, 255), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        self.factor = _factor_range(self, "factor", factor)
        self.value_range = (float(value_range[0]), float(value_range[1]))

    def _transform(self, arr, rng):
        batch = arr if arr.ndim == 4 else arr[None]
        width = self.value_range[1] - self.value_range[0]
        shift = rng.uniform(*self.factor, size=(batch.shape[0], 1, 1, 1)) * width
        out = array_module(arr).clip(batch + shift, *self.value_range).astype(arr.dtype)
        return out if arr.ndim == 4 else out[0]

    def get_config(self) -> dict:
        return {**super().get_config(), "factor": list(self.factor), "value_range": list(self.value_range)}
