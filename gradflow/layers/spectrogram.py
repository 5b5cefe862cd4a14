"""Audio spectrogram layers (Keras 3): ``STFTSpectrogram`` (a short-time Fourier transform as a
strided 1-D convolution with trainable ``STFT``-initialised kernels) and ``MelSpectrogram`` (framed
signal, windowed DFT, mel filter bank, decibels). Both run on ``gradflow.ops``, so they are
differentiable and run on every backend."""
from __future__ import annotations

import math
import warnings

import numpy as np

from .. import initializers, ops
from ..autograd.tensor import Tensor
from ._args import check_rank, describe
from ._args import data_format as check_data_format
from .base import Layer
from .convolutional import spatial_output

__all__ = ["STFTSpectrogram", "MelSpectrogram"]

_EPSILON = 1e-7  # keras.backend.epsilon()
_MODES = ("log", "magnitude", "psd", "real", "imag", "angle", "stft")


class STFTSpectrogram(Layer):
    """The spectrogram of ``(batch, time, channels)`` signals: frames of ``frame_length`` every
    ``frame_step`` samples, each multiplied by the ``real_kernel``/``imag_kernel`` (``STFT``
    initializer: the window times the DFT's cosines and sines), then ``mode`` ('log' magnitude by
    default, 'magnitude', 'psd', 'real', 'imag', 'angle' or 'stft': real and imaginary parts)."""

    def __init__(self, mode="log", frame_length=256, frame_step=None, fft_length=None, window="hann",
                 periodic=False, scaling="density", padding="valid", expand_dims=False, data_format=None, **kwargs):
        if frame_step is not None and (frame_step > frame_length or frame_step < 1):
            raise ValueError(f"STFTSpectrogram: `frame_step` should be a positive integer not greater than "
                             f"`frame_length`. Received frame_step={frame_step}, frame_length={frame_length}")
        if fft_length is not None and fft_length < frame_length:
            raise ValueError(f"STFTSpectrogram: `fft_length` should be not less than `frame_length`. Received "
                             f"fft_length={fft_length}, frame_length={frame_length}")
        if fft_length is not None and (fft_length & -fft_length) != fft_length:
            warnings.warn(f"`fft_length` is recommended to be a power of two. Received fft_length={fft_length}",
                          stacklevel=2)
        if mode not in _MODES:
            raise ValueError(f"Output mode is invalid, it must be one of {', '.join(_MODES)}. Received: mode={mode}")
        if scaling is not None and scaling not in ("density", "spectrum"):
            raise ValueError(f"Scaling is invalid, it must be `None`, 'density' or 'spectrum'. Received "
                             f"scaling={scaling}")
        if padding not in ("valid", "same"):
            raise ValueError(f"Padding is invalid, it should be 'valid', 'same'. Received: padding={padding}")
        initializers.STFT("real", window, scaling, periodic)  # an unknown window raises here
        super().__init__(**kwargs)
        self.mode, self.frame_length, self.frame_step, self.fft_length = mode, int(frame_length), frame_step, fft_length
        self._frame_step = frame_step or self.frame_length // 2
        self._fft_length = fft_length or 2 ** int(math.ceil(math.log2(frame_length)))
        self.window, self.periodic, self.scaling, self.padding = window, periodic, scaling, padding
        self.expand_dims = bool(expand_dims)
        self.data_format = check_data_format(self, data_format)

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 3, "(batch, time, channels)" if self.data_format == "channels_last"
                   else "(batch, channels, time)")

    def build(self, input_shape) -> None:
        shape = (self.frame_length, 1, self._fft_length // 2 + 1)
        if self.mode != "imag":
            self.add_weight(name="real_kernel", shape=shape,
                            initializer=initializers.STFT("real", self.window, self.scaling, self.periodic))
        if self.mode != "real":
            self.add_weight(name="imag_kernel", shape=shape,
                            initializer=initializers.STFT("imag", self.window, self.scaling, self.periodic))

    def _apply_conv(self, x, kernel):
        """``(batch, channels, freq, frames)``: every channel convolved with the kernel on its own."""
        if self.data_format == "channels_last":
            n, steps, channels = x.shape
            x = x.transpose(0, 2, 1).reshape((n * channels, steps, 1))
        else:
            n, channels, steps = x.shape
            x = x.reshape((n * channels, 1, steps))
        y = ops.conv(x, ops.cast(kernel, x.dtype), strides=self._frame_step, padding=self.padding,
                     data_format=self.data_format)
        if self.data_format == "channels_last":
            y = y.transpose(0, 2, 1)
        return y.reshape((n, channels, y.shape[1], y.shape[2]))

    def _adjust_shapes(self, y):
        n, channels, freq, frames = y.shape
        if self.data_format == "channels_last":
            if self.expand_dims:
                return y.transpose(0, 3, 2, 1)
            return y.reshape((n, channels * freq, frames)).transpose(0, 2, 1)
        if self.expand_dims:
            return y.transpose(0, 1, 3, 2)
        return y.reshape((n, channels * freq, frames))

    def call(self, inputs, training: bool = False):
        if np.dtype(inputs.dtype).name not in ("float16", "float32", "float64"):
            raise TypeError(f"Invalid input type. Expected `float16`, `float32` or `float64`. Received: input "
                            f"type={inputs.dtype}")
        real = self._apply_conv(inputs, self.real_kernel) if self.mode != "imag" else None
        imag = self._apply_conv(inputs, self.imag_kernel) if self.mode != "real" else None
        if self.mode == "real":
            return self._adjust_shapes(real)
        if self.mode == "imag":
            return self._adjust_shapes(imag)
        if self.mode == "angle":
            return self._adjust_shapes(ops.arctan2(imag, real))
        if self.mode == "stft":
            return self._adjust_shapes(ops.concatenate([real, imag], axis=2))
        power = ops.square(real) + ops.square(imag)
        if self.mode == "psd":
            return self._adjust_shapes(power + ops.pad(power[:, :, 1:-1, :], ((0, 0), (0, 0), (1, 1), (0, 0))))
        linear = self._adjust_shapes(ops.sqrt(ops.maximum(power, _EPSILON)))
        return linear if self.mode == "magnitude" else ops.log(ops.maximum(linear, _EPSILON))

    def compute_output_shape(self, input_shape):
        last = self.data_format == "channels_last"
        channels, steps = (input_shape[-1], input_shape[1]) if last else (input_shape[1], input_shape[-1])
        freq = (self._fft_length // 2 + 1) * (2 if self.mode == "stft" else 1)
        (frames,) = spatial_output(self, (steps,), (self.frame_length,), (self._frame_step,), self.padding, (1,))
        if self.expand_dims:
            return (input_shape[0], frames, freq, channels) if last else (input_shape[0], channels, frames, freq)
        feats = None if channels is None else freq * channels
        return (input_shape[0], frames, feats) if last else (input_shape[0], feats, frames)

    def get_config(self) -> dict:
        window = self.window if self.window is None or isinstance(self.window, str) else list(self.window)
        return {**super().get_config(), "mode": self.mode, "frame_length": self.frame_length,
                "frame_step": self.frame_step, "fft_length": self.fft_length, "window": window,
                "periodic": self.periodic, "scaling": self.scaling, "padding": self.padding,
                "data_format": self.data_format, "expand_dims": self.expand_dims}


_MEL_BREAK_FREQUENCY_HERTZ = 700.0
_MEL_HIGH_FREQUENCY_Q = 1127.0


def _hertz_to_mel(hz):
    return _MEL_HIGH_FREQUENCY_Q * np.log(1.0 + hz / _MEL_BREAK_FREQUENCY_HERTZ)


def linear_to_mel_weight_matrix(num_mel_bins, num_spectrogram_bins, sampling_rate, lower_edge_hertz,
                                upper_edge_hertz) -> np.ndarray:
    """``(num_spectrogram_bins, num_mel_bins)`` triangular mel filters (Keras's, in float32)."""
    f32 = np.float32
    linear = np.linspace(f32(0), f32(sampling_rate) / f32(2), num_spectrogram_bins, dtype=f32)[1:]
    bins_mel = _hertz_to_mel(linear)[:, None]
    edges = np.linspace(_hertz_to_mel(f32(lower_edge_hertz)), _hertz_to_mel(f32(upper_edge_hertz)),
                        num_mel_bins + 2, dtype=f32)
    lower, center, upper = edges[:-2][None], edges[1:-1][None], edges[2:][None]
    weights = np.maximum(f32(0), np.minimum((bins_mel - lower) / (center - lower), (upper - bins_mel) /
                                            (upper - center)))
    return np.pad(weights, ((1, 0), (0, 0))).astype(f32)


def _periodic_window(window, n: int) -> np.ndarray:
    if window is None:
        return np.ones(n)
    if isinstance(window, str):
        if window not in ("hann", "hamming"):
            raise ValueError(f'If a string is passed to `window`, it must be one of `"hann"`, `"hamming"`. '
                             f"Received: window={window}")
        a0 = 0.5 if window == "hann" else 0.54
        return a0 - (1 - a0) * np.cos(2 * np.pi * np.arange(n) / n)  # scipy's get_window: periodic
    win = np.asarray(window, dtype=np.float64)
    if win.shape != (n,):
        raise ValueError(f"The shape of `window` must be equal to [sequence_length].Received: window shape="
                         f"{win.shape}")
    return win


class MelSpectrogram(Layer):
    """Mel spectrogram of raw audio ``(batch, samples)`` or ``(samples,)``: centred frames (reflect
    padding), a windowed DFT, power ``mag_exp``, the mel filter bank, and decibels (``power_to_db``,
    clipped ``top_db`` below the maximum). Output ``(batch, num_mel_bins, frames)``."""

    def __init__(self, fft_length=2048, sequence_stride=512, sequence_length=None, window="hann",
                 sampling_rate=16000, num_mel_bins=128, min_freq=20.0, max_freq=None, power_to_db=True,
                 top_db=80.0, mag_exp=2.0, min_power=1e-10, ref_power=1.0, **kwargs):
        self.fft_length = int(fft_length)
        self.sequence_stride = int(sequence_stride)
        self.sequence_length = int(sequence_length or fft_length)
        if self.fft_length < self.sequence_length:
            raise ValueError(f"`fft_length` must be greater than or equal to  `sequence_length`. Received: "
                             f"`sequence_length`={self.sequence_length}, `fft_length`={self.fft_length}.")
        super().__init__(**kwargs)
        self.window = window
        self.sampling_rate = sampling_rate
        self.num_mel_bins = int(num_mel_bins)
        self.min_freq = min_freq
        self.max_freq = max_freq or int(sampling_rate / 2)
        self.power_to_db = bool(power_to_db)
        self.top_db, self.mag_exp, self.min_power, self.ref_power = top_db, mag_exp, min_power, ref_power
        _periodic_window(window, self.sequence_length)  # a bad window raises here

    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) not in (1, 2):
            raise ValueError(f"{describe(self)} expects audio of shape (samples,) or (batch, samples), got shape "
                             f"{tuple(input_shape)}")

    def _dft(self, dtype):
        """The windowed DFT as two ``(fft_length, bins)`` matrices (cosine and sine parts)."""
        n, m = self.fft_length, self.sequence_length
        left = (n - m) // 2
        win = np.zeros(n)
        win[left:left + m] = _periodic_window(self.window, m)
        k = np.arange(n // 2 + 1)
        angle = 2 * np.pi * np.outer(np.arange(n), k) / n
        return (win[:, None] * np.cos(angle)).astype(dtype), (-win[:, None] * np.sin(angle)).astype(dtype)

    def call(self, inputs, training: bool = False):
        x = inputs if isinstance(inputs, Tensor) else Tensor(inputs)
        if x.dtype not in (np.float32, np.float64):
            x = ops.cast(x, "float32")
        single = x.ndim == 1
        if single:
            x = x.reshape((1, x.shape[0]))
        half = self.fft_length // 2
        x = ops.pad(x, ((0, 0), (half, half)), mode="reflect")
        frames = ops.unfold(x.reshape((x.shape[0], 1, 1, x.shape[1])), (1, self.fft_length),
                            stride=(1, self.sequence_stride))  # (batch, fft_length, frames)
        cos, sin = self._dft(x.dtype)
        xp = x.xp
        real = ops.matmul(frames.transpose(0, 2, 1), Tensor._wrap(xp.asarray(cos)))
        imag = ops.matmul(frames.transpose(0, 2, 1), Tensor._wrap(xp.asarray(sin)))
        spec = ops.sqrt(ops.square(real) + ops.square(imag))
        spec = spec ** self.mag_exp
        mel = linear_to_mel_weight_matrix(self.num_mel_bins, spec.shape[-1], self.sampling_rate, self.min_freq,
                                          self.max_freq)
        out = ops.matmul(spec, Tensor._wrap(xp.asarray(mel.astype(x.dtype))))
        if self.power_to_db:
            out = self._dbscale(out)
        out = out.transpose(0, 2, 1)
        return out.reshape(out.shape[1:]) if single else out

    def _dbscale(self, x):
        log_spec = ops.log10(ops.maximum(x, self.min_power)) * 10.0
        log_spec = log_spec - 10.0 * float(np.log10(max(abs(self.ref_power), self.min_power)))
        return ops.maximum(log_spec, ops.max(log_spec) - self.top_db)

    def compute_output_shape(self, input_shape):
        steps = input_shape[-1]
        frames = None if steps is None else (steps + self.sequence_stride + 1) // self.sequence_stride
        if len(input_shape) == 1:
            return (self.num_mel_bins, frames)
        return (input_shape[0], self.num_mel_bins, frames)

    def get_config(self) -> dict:
        return {**super().get_config(), "fft_length": self.fft_length, "sequence_stride": self.sequence_stride,
                "sequence_length": self.sequence_length, "window": self.window, "sampling_rate": self.sampling_rate,
                "num_mel_bins": self.num_mel_bins, "min_freq": self.min_freq, "max_freq": self.max_freq,
                "power_to_db": self.power_to_db, "top_db": self.top_db, "mag_exp": self.mag_exp,
                "min_power": self.min_power, "ref_power": self.ref_power}
