"""Keras 3's FFT ops (``keras.ops.fft``, ``fft2``, ``ifft2``, ``rfft``, ``irfft``, ``stft``, ``istft``) and
the complex helpers (``view_as_complex``, ``view_as_real``, ``polar``).

Complex values travel as Keras gives them: a ``(real, imag)`` pair of float tensors. Each transform is
a table row (forward on the complex array, adjoint for the gradient) run by ``numpy_table.TableOp``
on the pair stacked on a leading axis of 2, so the gradient of both parts flows through one op.
``stft``/``istft`` compose frames, windows, ``rfft``/``irfft`` and an overlap-add with its own adjoint.
"""
from __future__ import annotations

import numpy as np

from ..autograd.tensor import Tensor
from . import numpy_table as nt
from .dtypes import float_dtype
from .elementwise import cast, div, mul
from .numpy_table import _constant, _run, _tensor, _xp
from .shape import getitem, pad, stack

__all__ = ["fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft", "view_as_complex", "view_as_real", "polar"]


def _pair(x):
    if not isinstance(x, (tuple, list)) or len(x) != 2:
        raise ValueError(f"expected a (real, imag) pair of tensors, got {type(x).__name__}")
    re, im = _tensor(x[0]), _tensor(x[1])
    if re.shape != im.shape:
        raise ValueError(f"the real and imaginary parts differ in shape: {re.shape} vs {im.shape}")
    if re.dtype.kind != "f" or im.dtype.kind != "f":
        raise ValueError(f"the real and imaginary parts must be floats, got {re.dtype} and {im.dtype}")
    if im.dtype != re.dtype:
        im = cast(im, re.dtype)
    return stack([re, im], 0)


def _split(z):
    return getitem(z, 0), getitem(z, 1)


def _complex(xp, s):
    return s[0] + 1j * s[1]


def _real_pair(xp, c, dtype):
    return xp.stack([c.real, c.imag]).astype(dtype)


def _transform(fn, adjoint):
    """A row for a complex-to-complex transform on the stacked pair: forward and gradient."""
    def forward(xp, s):
        return _real_pair(xp, fn(xp, _complex(xp, s)), s.dtype)

    def grad(xp, g, y, s):
        return (_real_pair(xp, adjoint(xp, _complex(xp, g)), s.dtype),)

    return forward, grad


def _n2(c):
    return c.shape[-1] * c.shape[-2]


#: name -> (forward, gradient) on the stacked (real, imag) pair
TRANSFORMS = {
    "fft": _transform(lambda xp, c: xp.fft.fft(c), lambda xp, c: xp.fft.ifft(c) * c.shape[-1]),
    "fft2": _transform(lambda xp, c: xp.fft.fft2(c), lambda xp, c: xp.fft.ifft2(c) * _n2(c)),
    "ifft2": _transform(lambda xp, c: xp.fft.ifft2(c), lambda xp, c: xp.fft.fft2(c) / _n2(c)),
}


def _row(name):
    forward, grad = TRANSFORMS[name]

    def op(x):
        return _split(_run(forward, grad, _pair(x)))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.{name}``: a ``(real, imag)`` pair in, a ``(real, imag)`` pair out."
    return op


def _rfft_forward(xp, x, n):
    return _real_pair(xp, xp.fft.rfft(x, n=n, axis=-1), x.dtype)


def _rfft_grad(xp, g, y, x, n):
    full = xp.zeros(g.shape[1:-1] + (n,), dtype=np.complex128)
    full[..., :g.shape[-1]] = g[0] + 1j * g[1]
    gx = (xp.fft.ifft(full, axis=-1) * n).real
    m = x.shape[-1]
    if m > n:
        gx = xp.concatenate([gx, xp.zeros(gx.shape[:-1] + (m - n,))], -1)
    return (gx[..., :m].astype(x.dtype),)


def rfft(x, fft_length=None):
    """``keras.ops.rfft``: the FFT of a real signal along its last axis, ``(real, imag)``."""
    x = _tensor(x)
    if x.dtype.kind != "f":
        x = cast(x, float_dtype())
    n = int(fft_length) if fft_length is not None else x.shape[-1]
    return _split(_run(_rfft_forward, _rfft_grad, x, n=n))


def _irfft_forward(xp, s, n):
    return xp.fft.irfft(_complex(xp, s), n=n, axis=-1).astype(s.dtype)


def _irfft_grad(xp, g, y, s, n):
    bins = s.shape[-1]
    spec = xp.fft.rfft(g.astype(np.float64), n=n, axis=-1)
    weight = np.full(spec.shape[-1], 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    spec = spec * xp.asarray(weight) / n
    out = xp.zeros((2,) + s.shape[1:], dtype=s.dtype)
    k = min(bins, spec.shape[-1])
    out[0, ..., :k] = spec.real[..., :k]
    out[1, ..., :k] = spec.imag[..., :k]
    out[1, ..., 0] = 0  # irfft ignores the imaginary part of the DC bin (and of Nyquist's)
    if n % 2 == 0 and n // 2 < bins:
        out[1, ..., n // 2] = 0
    return (out,)


def irfft(x, fft_length=None):
    """``keras.ops.irfft``: the real signal of a ``(real, imag)`` half spectrum (last axis)."""
    s = _pair(x)
    n = int(fft_length) if fft_length is not None else 2 * (s.shape[-1] - 1)
    return _run(_irfft_forward, _irfft_grad, s, n=n)


fft, fft2, ifft2 = _row("fft"), _row("fft2"), _row("ifft2")


# -- stft / istft ---------------------------------------------------------------------------------
def _window(window, length, dtype):
    if window is None:
        return np.ones(length, dtype)
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f'window must be "hann", "hamming", an array or None, got {window!r}')
        return (np.hanning if window == "hann" else np.hamming)(length + 1)[:-1].astype(dtype)
    w = np.asarray(window.numpy() if isinstance(window, Tensor) else window, dtype)
    if w.shape != (length,):
        raise ValueError(f"the window's shape must be ({length},), got {w.shape}")
    return w


def _frames(x, length, stride):
    n = x.shape[-1]
    count = 1 + (n - length) // stride
    idx = np.arange(count)[:, None] * stride + np.arange(length)[None, :]
    return nt.take(x, idx, axis=-1)


def stft(x, sequence_length, sequence_stride, fft_length, window="hann", center=True):
    """``keras.ops.stft``: ``(real, imag)`` of shape ``(..., frames, fft_length // 2 + 1)`` (torch's rule:
    ``center`` reflect-pads ``fft_length // 2`` on each side; a shorter window is centred in the frame)."""
    x = _tensor(x)
    if x.dtype.name not in ("float32", "float64"):
        raise TypeError(f"stft: expected float32 or float64 input, got {x.dtype}")
    if fft_length < sequence_length:
        raise ValueError(f"stft: fft_length ({fft_length}) must be >= sequence_length ({sequence_length})")
    win = _window(window, sequence_length, x.dtype)
    left = (fft_length - sequence_length) // 2
    win = np.pad(win, (left, fft_length - sequence_length - left))
    if center:
        half = fft_length // 2
        x = pad(x, ((0, 0),) * (x.ndim - 1) + ((half, half),), mode="reflect")
    frames = mul(_frames(x, fft_length, sequence_stride), _tensor(win))
    return rfft(frames, fft_length)


def _ola_forward(xp, f, stride, length):
    out = xp.zeros(f.shape[:-2] + (length,), dtype=f.dtype)
    for i in range(f.shape[-2]):
        out[..., i * stride:i * stride + f.shape[-1]] += f[..., i, :]
    return out


def _ola_grad(xp, g, y, f, stride, length):
    out = xp.empty_like(f)
    for i in range(f.shape[-2]):
        out[..., i, :] = g[..., i * stride:i * stride + f.shape[-1]]
    return (out,)


def _overlap_add(frames, stride):
    length = stride * (frames.shape[-2] - 1) + frames.shape[-1]
    return _run(_ola_forward, _ola_grad, frames, stride=stride, length=length)


def istft(x, sequence_length, sequence_stride, fft_length, length=None, window="hann", center=True):
    """``keras.ops.istft``: the inverse of ``stft`` (torch's ``istft`` where Keras uses it, else Keras's
    overlap-add with a periodic window normalisation)."""
    re = _tensor(x[0])
    dtype = re.dtype
    frames = irfft(x, fft_length)  # (..., count, fft_length)
    count = frames.shape[-2]
    win = None if window is None else _window(window, sequence_length, dtype)
    if sequence_length == fft_length and center and win is not None:
        out = _overlap_add(mul(frames, _tensor(win)), sequence_stride)
        env = _ola_forward(np, np.broadcast_to(win * win, (count, fft_length)), sequence_stride,
                           sequence_stride * (count - 1) + fft_length)
        half = fft_length // 2
        end = half + length if length is not None else len(env) - half
        env = env[half:end]
        out = getitem(out, (Ellipsis, slice(half, end)))
        return div(out, _tensor(np.where(env > 1e-11, env, 1.0).astype(dtype)))
    expected = fft_length + sequence_stride * (count - 1)
    if win is not None:
        left = (fft_length - sequence_length) // 2
        w = np.pad(win, (left, fft_length - sequence_length - left))
        overlaps = -(-fft_length // sequence_stride)
        denom = np.pad(w * w, (0, overlaps * sequence_stride - fft_length))
        denom = np.tile(denom.reshape(overlaps, sequence_stride).sum(0, keepdims=True), (overlaps, 1)).reshape(-1)
        frames = mul(frames, _tensor((w / denom[:fft_length]).astype(dtype)))
    out = _overlap_add(frames, sequence_stride)
    start = fft_length // 2 if center else 0
    end = start + length if length is not None else (out.shape[-1] - fft_length // 2 if center else expected)
    return getitem(out, (Ellipsis, slice(start, end)))


# -- complex helpers (no gradient) ------------------------------------------------------------------
def view_as_complex(x):
    """``keras.ops.view_as_complex``: ``(..., 2)`` floats as complex numbers."""
    d = _tensor(x).data
    if d.shape[-1] != 2:
        raise ValueError(f"view_as_complex: the last axis must have size 2, got shape {d.shape}")
    ctype = np.complex64 if d.dtype == np.float32 else np.complex128
    return _constant((d[..., 0] + 1j * d[..., 1]).astype(ctype))


def view_as_real(x):
    """``keras.ops.view_as_real``: complex numbers as ``(..., 2)`` floats."""
    d = _tensor(x).data
    xp = _xp(d)
    return _constant(xp.stack([d.real, d.imag], -1))


def polar(abs_, angle):
    """``keras.ops.polar``: the complex number ``abs_ * exp(1j * angle)``."""
    a, t = _tensor(abs_).data, _tensor(angle).data
    xp = _xp(a)
    ctype = np.complex64 if a.dtype == np.float32 else np.complex128
    return _constant((a * xp.cos(t) + 1j * a * xp.sin(t)).astype(ctype))

