"""Keras 3's ``keras.random`` on gradflow's seeded generators.

``seed=`` works as in Keras: an int gives the same values at every call, a ``SeedGenerator``
gives a new, repeatable draw at each call (its state advances), and ``None`` draws from the
backend's generator (``Backend.generator()``, seeded by ``gradflow.random.seed(n)``, so a
seeded run repeats). Every function returns a Tensor on the active backend, in floatx unless
``dtype`` says otherwise, and checks its arguments as Keras does. Draws use only the methods
CuPy's ``Generator`` shares with NumPy's (``random``, ``standard_normal``, ``integers``,
``gamma``, ``beta``, ``binomial``).
"""
from __future__ import annotations

import math
import random as _py_random

import numpy as np

from . import backend as _backend
from ._naming import snake_case, unique_name
from ._registry import register
from .autograd.tensor import Tensor
from .ops import zeros_like
from .variables import Variable

__all__ = ["SeedGenerator", "seed", "generator", "normal", "uniform", "randint", "truncated_normal", "dropout",
           "shuffle", "categorical", "gamma", "beta", "binomial", "draw_seed", "make_default_seed"]


class SeedGenerator:
    """The state of a random stream (``keras.random.SeedGenerator``): a ``(2,)`` int Variable
    ``state`` = [seed, counter]; ``next()`` returns the current state and advances it, so
    ``normal(shape, seed=gen)`` differs from call to call but repeats for the same seed."""

    def __init__(self, seed=None, name=None, **kwargs):
        kwargs.pop("backend", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._initial_seed = seed
        if seed is None:
            seed = make_default_seed()
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"Argument `seed` must be an integer. Received: seed={seed}")
        initial = np.array([_int32(int(seed)), 0], dtype=np.int32)  # Keras on torch: int32 state
        self.state = Variable._owned(initial, np.int32, f"{self.name}/seed_generator_state", trainable=False)
        self.state.name = "seed_generator_state"
        self.state.data = initial  # control data: stays on the host, whatever the backend

    def next(self, ordered: bool = True) -> Tensor:
        """The current state (a copy), then advance it: counter + 1, or Keras's unordered hash."""
        value = np.array(self.state.numpy(), dtype=np.int32)
        wide = value.astype(np.int64)
        nxt = wide + np.array([0, 1]) if ordered else (wide + 1) * 5387 % 933199
        self.state.data = np.array([_int32(int(v)) for v in nxt], dtype=np.int32)
        return Tensor._wrap(value)

    def get_config(self) -> dict:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict) -> "SeedGenerator":
        return cls(**config)

    def __repr__(self):
        return f"<SeedGenerator name={self.name!r} state={self.state.numpy().tolist()}>"


def _int32(v: int) -> int:
    """``v``'s low 32 bits as a signed int (Keras's int32 seed rule)."""
    return ((v & 0xFFFFFFFF) ^ 0x80000000) - 0x80000000


register("random", "SeedGenerator", SeedGenerator)  # initializers take one as their seed


def make_default_seed() -> int:
    """A fresh seed for a SeedGenerator made with ``seed=None`` (Keras: Python's random)."""
    return _py_random.randint(1, int(1e9))


def draw_seed(seed):
    """The ``[seed, counter]`` pair for one draw, or None for the backend's generator."""
    if isinstance(seed, SeedGenerator):
        return [int(v) for v in seed.next().data]
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed), 0]
    if seed is None:
        return None
    raise ValueError("Argument `seed` must be either an integer or an instance of `SeedGenerator`. "
                     f"Received: seed={seed} (of type {type(seed)})")


def _rng(seed):
    """(backend, generator) for one draw: a fresh generator from the drawn seed pair, or the
    backend's own seeded generator for ``seed=None``."""
    backend = _backend.get_backend()
    pair = draw_seed(seed)
    if pair is None:
        return backend, backend.generator()
    entropy = int(np.random.SeedSequence([v & 0xFFFFFFFFFFFFFFFF for v in pair]).generate_state(1, np.uint64)[0])
    return backend, backend.xp.random.default_rng(entropy)


def _shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)):
        return (int(shape),)
    return tuple(int(s) for s in shape)


def _float_dtype(dtype, fn: str):
    dtype = np.dtype(_backend.get_backend().default_dtype if dtype is None else dtype)
    if dtype.kind != "f":
        raise ValueError(f"`keras.random.{fn}` requires a floating point `dtype`. Received: dtype={dtype}")
    return dtype


def _host_or_device(value, backend):
    """A scalar or array argument (alpha, counts...) as an array of the backend's module."""
    if isinstance(value, Tensor):
        value = value.data
    return backend.xp.asarray(value) if not isinstance(value, (int, float)) else value


def _wrap(values, dtype) -> Tensor:
    return Tensor._wrap(values.astype(dtype, copy=False))


# -- draws ----------------------------------------------------------------------------------
def normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal(mean, stddev) samples of ``shape`` (floatx unless ``dtype``)."""
    backend, rng = _rng(seed)
    dtype = np.dtype(dtype or backend.default_dtype)
    return _wrap(rng.standard_normal(_shape(shape)) * float(stddev) + float(mean), dtype)


def uniform(shape, minval=0.0, maxval=1.0, dtype=None, seed=None):
    """Uniform samples in ``[minval, maxval)``; ``dtype`` must be a float type."""
    dtype = _float_dtype(dtype, "uniform")
    backend, rng = _rng(seed)
    return _wrap(rng.random(_shape(shape)) * (float(maxval) - float(minval)) + float(minval), dtype)


def randint(shape, minval, maxval, dtype="int32", seed=None):
    """Integers uniform in ``[minval, maxval)``; ``dtype`` must be an integer type."""
    dtype = np.dtype(dtype or "int32")
    if dtype.kind not in "iu":
        raise ValueError(f"`keras.random.randint` requires an integer `dtype`. Received: dtype={dtype}")
    backend, rng = _rng(seed)
    return _wrap(rng.integers(int(minval), int(maxval), size=_shape(shape)), dtype)


def truncated_normal(shape, mean=0.0, stddev=1.0, dtype=None, seed=None):
    """Normal(mean, stddev) samples, each redrawn until within two stddevs of the mean."""
    backend, rng = _rng(seed)
    dtype = np.dtype(dtype or backend.default_dtype)
    z = rng.standard_normal(_shape(shape))
    bad = abs(z) > 2.0
    while bool(bad.any()):
        z[bad] = rng.standard_normal((int(bad.sum()),))
        bad = abs(z) > 2.0
    return _wrap(z * float(stddev) + float(mean), dtype)


def dropout(inputs, rate, noise_shape=None, seed=None):
    """Inverted dropout (differentiable): zeros with probability ``rate``, the rest scaled by
    1/(1 - rate); ``noise_shape`` (None entries: the input's size) shares the mask along axes."""
    x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
    rate = float(rate)
    if rate == 1.0:
        return zeros_like(x)
    if rate == 0.0:
        return x
    backend, rng = _rng(seed)
    shape = x.shape if noise_shape is None else tuple(x.shape[i] if s is None else int(s)
                                                      for i, s in enumerate(noise_shape))
    keep = 1.0 - rate
    scale = (rng.random(shape) < keep) * (1.0 / keep)
    xp = x.xp
    return x * Tensor._wrap(xp.asarray(scale).astype(x.dtype, copy=False))


def shuffle(x, axis=0, seed=None):
    """``x`` permuted along ``axis`` (Keras: each index of the axes before ``axis`` gets its own
    permutation)."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    axis = axis % x.ndim if x.ndim else 0
    backend, rng = _rng(seed)
    xp = x.xp
    perm = xp.asarray(rng.random(x.shape[: axis + 1]).argsort(axis=axis))
    # a gather through Tensor indexing (differentiable): one index array per leading axis
    index = tuple(xp.arange(n).reshape((n,) + (1,) * (axis - i)) for i, n in enumerate(x.shape[:axis]))
    return x[index + (perm,)]


def categorical(logits, num_samples, dtype="int32", seed=None):
    """``num_samples`` class ids per row of 2-D ``logits`` (unnormalised log-probabilities)."""
    data = logits.data if isinstance(logits, Tensor) else logits
    backend = _backend.get_backend()
    data = backend.xp.asarray(data)
    if data.ndim != 2:
        raise ValueError(f"`logits` should be a 2-D tensor with shape [batch_size, num_classes]. Received: "
                         f"logits={logits}")
    backend, rng = _rng(seed)
    n, k = data.shape
    u = rng.random((n, int(num_samples), k))
    tiny = float(np.finfo(np.float64).tiny)
    gumbel = -backend.xp.log(-backend.xp.log(u + tiny) + tiny)  # Gumbel-max: argmax(logits + G) ~ softmax
    return _wrap((data[:, None, :].astype(np.float64) + gumbel).argmax(axis=-1), np.dtype(dtype or "int32"))


def gamma(shape, alpha, dtype=None, seed=None):
    """Gamma(alpha, 1) samples of ``shape``."""
    dtype = np.dtype(dtype or _backend.get_backend().default_dtype)
    backend, rng = _rng(seed)
    return _wrap(rng.gamma(_host_or_device(alpha, backend), 1.0, size=_shape(shape)), dtype)


def beta(shape, alpha, beta, dtype=None, seed=None):
    """Beta(alpha, beta) samples of ``shape``."""
    dtype = np.dtype(dtype or _backend.get_backend().default_dtype)
    backend, rng = _rng(seed)
    return _wrap(rng.beta(_host_or_device(alpha, backend), _host_or_device(beta, backend), size=_shape(shape)),
                 dtype)


def binomial(shape, counts, probabilities, dtype=None, seed=None):
    """Binomial(counts, probabilities) samples of ``shape`` (floatx unless ``dtype``)."""
    dtype = np.dtype(dtype or _backend.get_backend().default_dtype)
    backend, rng = _rng(seed)
    c = _host_or_device(counts, backend)
    c = int(c) if isinstance(c, float) and math.isfinite(c) else c
    return _wrap(rng.binomial(c, _host_or_device(probabilities, backend), size=_shape(shape)), dtype)


# -- gradflow's global stream -----------------------------------------------------------------
def seed(n: int | None) -> None:
    """Seed every backend's generator so runs repeat (initialisers, dropout, shuffling)."""
    _backend.seed(n)


def generator():
    """The active backend's random generator."""
    return _backend.generator()
