"""Keras-style ``ImageDataGenerator``: random augmentation of NHWC batches fed to ``fit``.

``ImageDataGenerator(...).flow(x, y)`` returns an :class:`ArrayIterator`, a Sequence of
``(x_batch, y_batch)`` whose augmentation is reproducible from ``seed``: batch ``i`` of epoch
``e`` is always augmented from the same random stream, so ``it[i]`` can be asked for twice.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from . import image

__all__ = ["ImageDataGenerator", "ArrayIterator"]


class ImageDataGenerator:
    """Random rotation, shifts, shear, zoom, flips, brightness and channel shifts, then rescaling.

    Ranges follow Keras: ``rotation_range``/``shear_range`` in degrees (``U(-r, r)``);
    ``width/height_shift_range`` a fraction of the size when ``< 1``, else pixels, an int ``k``
    meaning integer pixels in ``(-k, k)``, a sequence meaning a choice from it; ``zoom_range``
    ``z`` -> ``U(1-z, 1+z)`` per axis (``< 1`` magnifies) or ``(lo, hi)``; ``brightness_range``
    ``(lo, hi)`` a multiplicative factor. The geometric transforms are composed into one affine
    map and sampled once. ``preprocessing_function`` (per image) and then ``rescale`` apply after
    augmentation, as in Keras. Output batches are ``dtype`` (float32).
    """

    def __init__(self, rotation_range: float = 0, width_shift_range=0.0, height_shift_range=0.0,
                 zoom_range=0.0, horizontal_flip: bool = False, vertical_flip: bool = False,
                 brightness_range=None, fill_mode: str = "nearest", cval: float = 0.0, rescale=None,
                 seed: int | None = None, shear_range: float = 0.0, channel_shift_range: float = 0.0,
                 interpolation: str = "bilinear", preprocessing_function: Callable | None = None,
                 dtype="float32"):
        if fill_mode not in image.FILL_MODES:
            raise ValueError(f"ImageDataGenerator: fill_mode expected one of {image.FILL_MODES}, got {fill_mode!r}")
        if interpolation not in image.INTERPOLATIONS:
            raise ValueError(
                f"ImageDataGenerator: interpolation expected one of {image.INTERPOLATIONS}, got {interpolation!r}")
        self.rotation_range = float(rotation_range)
        self.width_shift_range = _shift_spec(width_shift_range, "width_shift_range")
        self.height_shift_range = _shift_spec(height_shift_range, "height_shift_range")
        self.zoom_range = image.parse_range(zoom_range, "zoom_range", centre=1.0)
        if self.zoom_range[0] <= 0:
            raise ValueError(f"ImageDataGenerator: zoom_range expected factors > 0, got {self.zoom_range}")
        self.shear_range = float(shear_range)
        self.channel_shift_range = float(channel_shift_range)
        self.horizontal_flip = bool(horizontal_flip)
        self.vertical_flip = bool(vertical_flip)
        if brightness_range is not None:
            if np.ndim(brightness_range) != 1 or len(brightness_range) != 2:
                raise ValueError(
                    f"ImageDataGenerator: brightness_range expected a (lo, hi) pair, got {brightness_range!r}")
            brightness_range = image.parse_range(brightness_range, "brightness_range")
        self.brightness_range = brightness_range
        self.fill_mode = fill_mode
        self.cval = float(cval)
        self.interpolation = interpolation
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.seed = seed
        self.dtype = np.dtype(dtype)

    # -- the transforms

    def _geometric_matrices(self, rng: np.random.Generator, n: int, h: int, w: int) -> np.ndarray | None:
        """Per-image composed matrices, or ``None`` when no geometric transform is configured."""
        m = np.broadcast_to(np.eye(3), (n, 3, 3))
        used = False
        if self.rotation_range:
            m = m @ image.rotation_matrices(rng.uniform(-self.rotation_range, self.rotation_range, n))
            used = True
        if self.height_shift_range is not None or self.width_shift_range is not None:
            dy = _draw_shift(self.height_shift_range, rng, n, h)
            dx = _draw_shift(self.width_shift_range, rng, n, w)
            m = m @ image.translation_matrices(dy, dx)
            used = True
        if self.shear_range:
            m = m @ image.shear_matrices(rng.uniform(-self.shear_range, self.shear_range, n))
            used = True
        if self.zoom_range != (1.0, 1.0):
            lo, hi = self.zoom_range
            m = m @ image.zoom_matrices(rng.uniform(lo, hi, n), rng.uniform(lo, hi, n))
            used = True
        return m if used else None

    def augment(self, x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Randomly transform an NHWC batch (no rescaling); returns a new ``dtype`` array."""
        x = _check_batch(x).astype(self.dtype, copy=True)
        n, h, w, _ = x.shape
        matrices = self._geometric_matrices(rng, n, h, w)
        if matrices is not None:
            x = image.affine_transform(x, matrices, self.interpolation, self.fill_mode, self.cval)
        if self.channel_shift_range:
            shift = rng.uniform(-self.channel_shift_range, self.channel_shift_range, n).astype(x.dtype)
            lo = x.min(axis=(1, 2, 3), keepdims=True)
            hi = x.max(axis=(1, 2, 3), keepdims=True)
            x = np.clip(x + shift[:, None, None, None], lo, hi)
        if self.horizontal_flip or self.vertical_flip:
            x = image.flip(x, self.horizontal_flip and rng.random(n) < 0.5,
                           self.vertical_flip and rng.random(n) < 0.5)
        if self.brightness_range is not None:
            x = image.adjust_brightness(x, rng.uniform(*self.brightness_range, n))
        return x

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Apply ``preprocessing_function`` (image by image) and then ``rescale`` to a batch."""
        x = np.asarray(x)
        if self.preprocessing_function is not None:
            x = np.stack([np.asarray(self.preprocessing_function(img), dtype=x.dtype) for img in x])
        if self.rescale is not None:
            x = x * np.asarray(self.rescale, dtype=x.dtype)
        return x

    def random_transform(self, x, seed: int | None = None) -> np.ndarray:
        """Augment one ``(H, W, C)`` image (Keras's per-image entry point)."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"random_transform: expected one image (H, W, C), got shape {x.shape}")
        return self.augment(x[None], np.random.default_rng(seed))[0]

    def flow(self, x, y=None, batch_size: int = 32, shuffle: bool = True, seed: int | None = None,
             sample_weight=None) -> "ArrayIterator":
        """A Sequence of augmented ``(x_batch, y_batch)`` (just ``x_batch`` when ``y`` is None)."""
        return ArrayIterator(x, y, self, batch_size=batch_size, shuffle=shuffle,
                             seed=self.seed if seed is None else seed, sample_weight=sample_weight)


class ArrayIterator:
    """Batches of an in-memory NHWC array, augmented by an :class:`ImageDataGenerator`.

    Usable by a Keras-style ``fit``: ``len()`` batches per epoch (the last may be partial),
    ``it[i]`` for batch ``i``, ``on_epoch_end()`` to reshuffle. ``for b in it`` runs one epoch
    and then calls ``on_epoch_end()``; ``next(it)`` cycles through epochs forever, like Keras.
    """

    def __init__(self, x, y, generator: ImageDataGenerator, batch_size: int = 32, shuffle: bool = True,
                 seed: int | None = None, sample_weight=None):
        self.x = _check_batch(np.asarray(x))
        n = len(self.x)
        if n == 0:
            raise ValueError("flow: expected at least one image, got an empty x")
        self.y = None if y is None else np.asarray(y)
        if self.y is not None and len(self.y) != n:
            raise ValueError(f"flow: expected y with {n} rows (one per image), got {len(self.y)}")
        self.sample_weight = None if sample_weight is None else np.asarray(sample_weight)
        if self.sample_weight is not None and len(self.sample_weight) != n:
            raise ValueError(f"flow: expected sample_weight with {n} rows, got {len(self.sample_weight)}")
        if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"flow: expected batch_size to be a positive int, got {batch_size!r}")
        self.generator = generator
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        # With no seed, draw one from NumPy's global generator so set_random_seed() still repeats runs.
        self.seed = int(np.random.randint(0, 2**31 - 1)) if seed is None else int(seed)
        self.epoch = 0
        self._order = None
        self._cursor = 0

    def __len__(self) -> int:
        return math.ceil(len(self.x) / self.batch_size)

    def _index_order(self) -> np.ndarray:
        if self._order is None:
            n = len(self.x)
            self._order = (np.random.default_rng([self.seed, self.epoch, 0]).permutation(n)
                           if self.shuffle else np.arange(n))
        return self._order

    def __getitem__(self, index: int):
        count = len(self)
        if not -count <= index < count:
            raise IndexError(f"ArrayIterator: batch index {index} out of range for {count} batches")
        index %= count
        rows = self._index_order()[index * self.batch_size:(index + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.epoch, index + 1])
        xb = self.generator.standardize(self.generator.augment(self.x[rows], rng))
        if self.y is None:
            return xb
        if self.sample_weight is None:
            return xb, self.y[rows]
        return xb, self.y[rows], self.sample_weight[rows]

    def on_epoch_end(self) -> None:
        """Start a new epoch: a fresh shuffle and fresh augmentation draws."""
        self.epoch += 1
        self._order = None

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()

    def __next__(self):
        if self._cursor >= len(self):
            self.on_epoch_end()
            self._cursor = 0
        batch = self[self._cursor]
        self._cursor += 1
        return batch


def _check_batch(x: np.ndarray) -> np.ndarray:
    if x.ndim != 4:
        raise ValueError(f"ImageDataGenerator: expected an NHWC batch of rank 4, got shape {x.shape}")
    return x


def _shift_spec(value, name: str):
    """Normalise a Keras shift range: ``None`` (no shift), a float, or an array of choices."""
    if isinstance(value, bool):
        raise TypeError(f"ImageDataGenerator: {name} expected a number or a sequence, got {value!r}")
    if isinstance(value, (int, np.integer)):
        k = int(value)
        if k < 0:
            raise ValueError(f"ImageDataGenerator: {name} expected >= 0, got {k}")
        return None if k == 0 else np.arange(-k + 1, k, dtype=np.float64)
    if np.ndim(value) == 0:
        f = float(value)
        if f < 0:
            raise ValueError(f"ImageDataGenerator: {name} expected >= 0, got {f}")
        return None if f == 0 else f
    choices = np.asarray(value, dtype=np.float64).ravel()
    if choices.size == 0:
        raise ValueError(f"ImageDataGenerator: {name} expected a non-empty sequence, got {value!r}")
    return choices


def _draw_shift(spec, rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """Per-image shifts in pixels for one axis."""
    if spec is None:
        return np.zeros(n)
    if isinstance(spec, float):
        shifts = rng.uniform(-spec, spec, n)
        return shifts * size if spec < 1 else shifts
    shifts = rng.choice(spec, n)
    return shifts * size if np.max(np.abs(spec)) < 1 else shifts
