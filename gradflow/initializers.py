"""Weight initializers with Keras 3 names, defaults and fan rules.

``init(shape, dtype=None)`` returns a Tensor (as Keras returns a backend tensor) on the active
backend, drawn from ``gradflow.random.generator()`` (seeded by ``gradflow.random.seed``), or from a fresh
generator when the initializer has an explicit ``seed=`` (then every call repeats the same
values, as in Keras 3). Draws are made in float64 and cast, so a seed gives the same weights
(up to rounding) in float32 and float64. ``get`` accepts a name (``"glorot_uniform"`` or
``"GlorotUniform"``), an instance, a class, a config dict or any callable.
"""
from __future__ import annotations

import math
import re

import numpy as np

from ._registry import NameRegistry, registered
from .autograd.tensor import Tensor
from .backend import get_backend

__all__ = [
    "Initializer", "Zeros", "Ones", "Constant", "RandomNormal", "RandomUniform", "TruncatedNormal",
    "VarianceScaling", "GlorotUniform", "GlorotNormal", "HeUniform", "HeNormal", "LecunUniform",
    "LecunNormal", "Orthogonal", "Identity", "zeros", "ones", "constant", "random_normal",
    "random_uniform", "truncated_normal", "variance_scaling", "glorot_uniform", "glorot_normal",
    "he_uniform", "he_normal", "lecun_uniform", "lecun_normal", "orthogonal", "identity",
    "compute_fans", "get", "serialize", "deserialize",
    # metrics
    "STFT", "STFTInitializer", "stft", "IdentityInitializer", "OrthogonalInitializer",
]

#: std of a standard normal truncated to [-2, 2] (Keras divides by it so the std comes out right)
_TRUNC_STD = 0.87962566103423978


def compute_fans(shape, input_axes=None, output_axes=None) -> tuple[int, int]:
    """Keras's (fan_in, fan_out): Dense [in, out]; Conv [kh, kw, in, out] times the receptive field;
    with ``input_axes`` and ``output_axes`` both given, the products of those axes' sizes."""
    shape = tuple(int(s) for s in shape)
    if input_axes is not None and output_axes is not None:
        return math.prod(shape[a] for a in input_axes), math.prod(shape[a] for a in output_axes)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _backend():
    return get_backend()


def _dtype(dtype):
    return np.dtype(_backend().default_dtype if dtype is None else dtype)


def _out(values) -> Tensor:
    """The initializer's result: a Tensor around the backend array (no copy)."""
    return Tensor._wrap(values)


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


class Initializer:
    """Base class: subclasses implement ``__call__(shape, dtype=None)`` and ``get_config``."""

    def __call__(self, shape, dtype=None):  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> dict:
        return {}

    @classmethod
    def from_config(cls, config: dict) -> "Initializer":
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class _Seeded(Initializer):
    """An initializer that draws random numbers: the global generator, or its own ``seed`` (an
    int: the same values at every call; a ``keras.random.SeedGenerator``: a new draw per call)."""

    def __init__(self, seed=None):
        if isinstance(seed, dict):  # a SeedGenerator's config, as Keras saves it
            seed = _seed_generator_class().from_config(seed.get("config", {}))
        if seed is not None and not isinstance(seed, _seed_generator_class()) and (
                isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise ValueError("`seed` argument should be an instance of `keras.random.SeedGenerator()` or an integer. "
                             f"Received: seed={seed}")
        self.seed = int(seed) if isinstance(seed, (int, np.integer)) else seed

    def _rng(self):
        """The backend's seeded generator, or a fresh one from ``seed`` (NumPy's or CuPy's: both
        have the ``standard_normal`` and ``random`` used below)."""
        if self.seed is None:
            return _backend().generator()
        if isinstance(self.seed, int):
            return _backend().xp.random.default_rng(self.seed)
        pair = [int(v) & 0xFFFFFFFFFFFFFFFF for v in self.seed.next().numpy()]
        return _backend().xp.random.default_rng(int(np.random.SeedSequence(pair).generate_state(1, np.uint64)[0]))

    def _normal(self, rng, shape):
        return rng.standard_normal(size=shape, dtype=np.float64)

    def _uniform(self, rng, shape, lo, hi):
        return lo + (hi - lo) * rng.random(size=shape, dtype=np.float64)

    def _truncated(self, rng, shape):
        """Standard normal samples redrawn until all lie within two standard deviations."""
        z = self._normal(rng, shape)
        bad = abs(z) > 2.0
        while bool(bad.any()):
            z[bad] = self._normal(rng, (int(bad.sum()),))
            bad = abs(z) > 2.0
        return z

    def get_config(self) -> dict:
        return {"seed": _seed_config(self.seed)}


def _seed_generator_class() -> type:
    """``gradflow.random.SeedGenerator`` (registered there: random sits above this module)."""
    return registered("random")["SeedGenerator"]  # type: ignore[return-value]


def _seed_config(seed):
    """An int or None as is; a SeedGenerator as Keras serializes it."""
    if seed is None or isinstance(seed, int):
        return seed
    return {"module": "keras.random", "class_name": "SeedGenerator", "config": seed.get_config(),
            "registered_name": None}


class Zeros(Initializer):
    """All zeros (Keras default for biases)."""

    def __call__(self, shape, dtype=None):
        return _out(_backend().xp.zeros(_shape(shape), dtype=_dtype(dtype)))


class Ones(Initializer):
    """All ones (BatchNormalization's gamma and moving variance)."""

    def __call__(self, shape, dtype=None):
        return _out(_backend().xp.ones(_shape(shape), dtype=_dtype(dtype)))


class Constant(Initializer):
    """Every element ``value`` (Keras default 0.0)."""

    def __init__(self, value=0.0):
        if np.ndim(value) != 0:
            raise ValueError(f"Constant: value must be a scalar, got {value!r}")
        self.value = float(value)

    def __call__(self, shape, dtype=None):
        return _out(_backend().xp.full(_shape(shape), self.value, dtype=_dtype(dtype)))

    def get_config(self) -> dict:
        return {"value": self.value}


class RandomNormal(_Seeded):
    """Normal(mean, stddev); Keras defaults mean=0.0, stddev=0.05."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        super().__init__(seed)
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, shape, dtype=None):
        z = self._normal(self._rng(), _shape(shape))
        return _out((self.mean + self.stddev * z).astype(_dtype(dtype)))

    def get_config(self) -> dict:
        return {**super().get_config(), "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(RandomNormal):
    """Normal(mean, stddev) redrawn beyond two stddevs; Keras defaults mean=0.0, stddev=0.05."""

    def __call__(self, shape, dtype=None):
        z = self._truncated(self._rng(), _shape(shape))
        return _out((self.mean + self.stddev * z).astype(_dtype(dtype)))


class RandomUniform(_Seeded):
    """Uniform[minval, maxval); Keras defaults -0.05, 0.05."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        super().__init__(seed)
        self.minval, self.maxval = float(minval), float(maxval)
        if self.maxval < self.minval:
            raise ValueError(f"RandomUniform: expected minval <= maxval, got minval={minval}, maxval={maxval}")

    def __call__(self, shape, dtype=None):
        return _out(self._uniform(self._rng(), _shape(shape), self.minval, self.maxval).astype(_dtype(dtype)))

    def get_config(self) -> dict:
        return {**super().get_config(), "minval": self.minval, "maxval": self.maxval}


_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform", "normal")


class VarianceScaling(_Seeded):
    """Samples with variance ``scale / n``, n the fan chosen by ``mode``.

    Keras defaults: scale=1.0, mode='fan_in', distribution='truncated_normal' ('normal' means
    truncated too). Uniform samples lie in ``±sqrt(3 * scale / n)``.
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None, input_axes=None,
                 output_axes=None):
        super().__init__(seed)
        self.input_axes = None if input_axes is None else list(input_axes)
        self.output_axes = None if output_axes is None else list(output_axes)
        if not float(scale) > 0:
            raise ValueError(f"VarianceScaling: scale must be > 0, got {scale!r}")
        mode, distribution = str(mode).lower(), str(distribution).lower()
        if mode not in _MODES:
            raise ValueError(f"VarianceScaling: mode must be one of {_MODES}, got {mode!r}")
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"VarianceScaling: distribution must be one of {_DISTRIBUTIONS}, got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def _variance(self, shape) -> float:
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        var = self._variance(shape)
        rng = self._rng()
        if self.distribution in ("truncated_normal", "normal"):
            values = self._truncated(rng, shape) * (math.sqrt(var) / _TRUNC_STD)
        elif self.distribution == "untruncated_normal":
            values = self._normal(rng, shape) * math.sqrt(var)
        else:
            limit = math.sqrt(3.0 * var)
            values = self._uniform(rng, shape, -limit, limit)
        return _out(values.astype(_dtype(dtype)))

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "input_axes": self.input_axes, "output_axes": self.output_axes}


class _Preset(VarianceScaling):
    """A VarianceScaling with fixed arguments; its config is the seed and the fan axes."""

    _args: tuple = ()

    def __init__(self, seed=None, input_axes=None, output_axes=None):
        scale, mode, distribution = self._args
        super().__init__(scale, mode, distribution, seed, input_axes, output_axes)

    def get_config(self) -> dict:
        return {"seed": _seed_config(self.seed), "input_axes": self.input_axes, "output_axes": self.output_axes}


class GlorotUniform(_Preset):
    """Uniform in ±sqrt(6 / (fan_in + fan_out)); Keras's default kernel initializer."""

    _args = (1.0, "fan_avg", "uniform")


class GlorotNormal(_Preset):
    """Truncated normal with std sqrt(2 / (fan_in + fan_out))."""

    _args = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_Preset):
    """Uniform in ±sqrt(6 / fan_in) (for ReLU networks)."""

    _args = (2.0, "fan_in", "uniform")


class HeNormal(_Preset):
    """Truncated normal with std sqrt(2 / fan_in)."""

    _args = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_Preset):
    """Uniform in ±sqrt(3 / fan_in) (for SELU networks)."""

    _args = (1.0, "fan_in", "uniform")


class LecunNormal(_Preset):
    """Truncated normal with std sqrt(1 / fan_in)."""

    _args = (1.0, "fan_in", "truncated_normal")


class Orthogonal(_Seeded):
    """A (semi-)orthogonal matrix times ``gain`` (Keras default 1.0), for shapes of rank >= 2.

    The shape is flattened to ``(prod(shape[:-1]), shape[-1])``; rows or columns (whichever are
    fewer) are orthonormal. Built from the QR decomposition of a Gaussian matrix, signs fixed so
    the result is uniformly distributed.
    """

    def __init__(self, gain=1.0, seed=None):
        super().__init__(seed)
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the shape to initialize must have rank >= 2, got {shape} of rank "
                             f"{len(shape)}")
        xp = _backend().xp
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._normal(self._rng(), (max(rows, cols), min(rows, cols)))
        q, r = xp.linalg.qr(a)
        q = q * xp.sign(xp.diag(r))
        if rows < cols:
            q = q.T
        return _out((self.gain * q).reshape(shape).astype(_dtype(dtype)))

    def get_config(self) -> dict:
        return {**super().get_config(), "gain": self.gain}


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only; Keras default gain 1.0).

    Its config is empty, as Keras's (``gain`` is not saved there either)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = _shape(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: the shape to initialize must be 2-D, got {shape}")
        return _out((self.gain * _backend().xp.eye(*shape)).astype(_dtype(dtype)))


#: the windows computed here (scipy.signal's formulas); others need scipy (``scipy.signal.get_window``)
_COSINE_WINDOWS = {"hann": (0.5, 0.5, 0.0), "hanning": (0.5, 0.5, 0.0), "hamming": (0.54, 0.46, 0.0),
                   "blackman": (0.42, 0.5, 0.08)}


def _window(name: str, n: int, periodic: bool) -> np.ndarray:
    """``scipy.signal.get_window(name, n, fftbins=periodic)`` in float64."""
    if name in ("boxcar", "rectangular", "ones"):
        return np.ones(n)
    if name in _COSINE_WINDOWS and n > 1:
        a0, a1, a2 = _COSINE_WINDOWS[name]
        phase = 2 * np.pi * np.arange(n) / (n if periodic else n - 1)
        return a0 - a1 * np.cos(phase) + a2 * np.cos(2 * phase)
    if name in _COSINE_WINDOWS:
        return np.ones(n)
    try:
        import scipy.signal  # noqa: PLC0415 - optional, only for windows not computed here
    except ImportError:
        raise ValueError(f"STFT: window {name!r} needs scipy (built in: boxcar, "
                         f"{', '.join(_COSINE_WINDOWS)})") from None
    return np.asarray(scipy.signal.get_window(name, n, fftbins=periodic), dtype=np.float64)


class STFT(Initializer):
    """Kernels of a short-time Fourier transform as a 1-D convolution (Keras's ``STFT`` initializer,
    what ``layers.STFTSpectrogram`` starts from): shape ``(frame_length, input_channels, fft_bins)``,
    the cosine (``side='real'``) or negative sine (``'imag'``) of each frequency, times ``window``
    divided by its ``scaling`` ('density': the window's L2 norm; 'spectrum': its sum; None)."""

    def __init__(self, side="real", window="hann", scaling="density", periodic=False):
        if side not in ("real", "imag"):
            raise ValueError(f"side should be 'real' or 'imag', not {side}")
        if isinstance(window, str):
            _window(window, 1, bool(periodic))  # an unknown window raises here, as Keras
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. Received "
                             f"scaling={scaling}")
        self.side, self.window, self.scaling, self.periodic = side, window, scaling, periodic

    def __call__(self, shape, dtype=None):
        frame_length, _, fft_length = _shape(shape)
        time = np.arange(frame_length, dtype=np.float64).reshape(frame_length, 1, 1)
        freq = np.arange(fft_length, dtype=np.float64).reshape(1, 1, fft_length) / ((fft_length - 1) * 2)
        args = -2 * time * freq * np.pi
        kernel = np.cos(args) if self.side == "real" else np.sin(args)
        if self.window is not None:
            win = (_window(self.window, frame_length, bool(self.periodic)) if isinstance(self.window, str)
                   else np.asarray(self.window, dtype=np.float64))
            if win.shape != (frame_length,):
                raise ValueError(f"The shape of `window` must be equal to [frame_length]. Received: window shape="
                                 f"{win.shape}")
            scale = {"density": np.sqrt((win * win).sum()), "spectrum": np.abs(win).sum()}.get(self.scaling, 1.0)
            kernel = kernel * win.reshape(frame_length, 1, 1) / scale
        kernel = np.broadcast_to(kernel, _shape(shape)).astype(_dtype(dtype))
        return _out(_backend().asarray(kernel))

    def get_config(self) -> dict:
        window = self.window if self.window is None or isinstance(self.window, str) else list(self.window)
        return {"side": self.side, "window": window, "periodic": self.periodic, "scaling": self.scaling}


# Keras-style lower-case names are the classes themselves (``zeros()`` is an initializer).
zeros, ones, constant = Zeros, Ones, Constant
random_normal, random_uniform, truncated_normal = RandomNormal, RandomUniform, TruncatedNormal
variance_scaling, orthogonal, identity = VarianceScaling, Orthogonal, Identity
IdentityInitializer, OrthogonalInitializer, STFTInitializer, stft = Identity, Orthogonal, STFT, STFT
glorot_uniform, glorot_normal = GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, LecunNormal

_CLASSES = (Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
            GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal, Orthogonal, Identity,
            STFT)


def _snake(name: str) -> str:
    """``GlorotUniform -> glorot_uniform`` (Keras's name rule)."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


#: every accepted name: class names, snake_case names and the Keras aliases
NAMES = registered("initializers")
for _cls in _CLASSES:
    NAMES[_cls.__name__] = _cls
    NAMES[_snake(_cls.__name__)] = _cls
NAMES.update({"uniform": RandomUniform, "normal": RandomNormal, "one": Ones, "zero": Zeros,
              "OrthogonalInitializer": Orthogonal, "IdentityInitializer": Identity, "STFTInitializer": STFT})




_LOOKUP = NameRegistry("initializer", Initializer, "initializers",
                       expects="a config dict or a callable (shape, dtype) -> array")
_unknown = _LOOKUP.unknown
serialize = _LOOKUP.serialize
deserialize = _LOOKUP.deserialize
get = _LOOKUP.get

# layers
#: Keras 3 exports these classes under their long names too
IdentityInitializer, OrthogonalInitializer = Identity, Orthogonal
__all__ += ["IdentityInitializer", "OrthogonalInitializer"]
