"""Recurrent layers (Keras 3 layouts and gate orders): SimpleRNN, LSTM, GRU and Bidirectional.

The input projection of every step is one matmul over ``(batch * steps, features)``; each step
then adds ``h @ recurrent_kernel`` (the dispatched matmul kernel) and applies the gates, all
recorded by autograd so backpropagation through time is the engine's reverse pass.

Weights: SimpleRNN ``kernel [in, u]``, ``recurrent_kernel [u, u]``, ``bias [u]``; LSTM the same
with ``4u`` columns in gate order i, f, c, o (``unit_forget_bias`` starts f's bias at 1); GRU
``3u`` columns in order z, r, h with ``bias [2, 3u]`` when ``reset_after=True`` (Keras 3's default).
"""
from __future__ import annotations

import numpy as np

from .. import activations, initializers, ops, regularizers
from ..autograd.tensor import Tensor
from ..random import generator
from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from ._args import data_format as check_data_format
from ._args import describe, padding_mode, positive_int, positive_tuple, resolve, unsupported
from .base import Layer
from .convolutional import spatial_output

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional", "ConvLSTM2D"]


def _rate(layer, name, value) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise ValueError(f"{describe(layer)}: {name} must be in [0, 1), got {name}={value!r}")
    return value


class _RNN(Layer):
    """Shared machinery: arguments, masks for (recurrent) dropout, the time loop and the outputs."""

    _gates = 1  # blocks of ``units`` columns in the kernels
    _states = 1  # h (LSTM: h and c)

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, **kwargs):
        super().__init__(**kwargs)
        unsupported(self, activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                    recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint, stateful=stateful)
        self.units = positive_int(self, "units", units)
        self.activation = resolve(self, "activation", activations.get, activation)
        self.recurrent_activation = resolve(self, "recurrent_activation", activations.get, recurrent_activation)
        self.use_bias = bool(use_bias)
        get_init, get_reg = initializers.get, regularizers.get
        self.kernel_initializer = resolve(self, "kernel_initializer", get_init, kernel_initializer)
        self.recurrent_initializer = resolve(self, "recurrent_initializer", get_init, recurrent_initializer)
        self.bias_initializer = resolve(self, "bias_initializer", get_init, bias_initializer)
        self.kernel_regularizer = resolve(self, "kernel_regularizer", get_reg, kernel_regularizer)
        self.recurrent_regularizer = resolve(self, "recurrent_regularizer", get_reg, recurrent_regularizer)
        self.bias_regularizer = resolve(self, "bias_regularizer", get_reg, bias_regularizer)
        self.dropout = _rate(self, "dropout", dropout)
        self.recurrent_dropout = _rate(self, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.unroll = bool(go_backwards), bool(unroll)

    # -- shapes and weights ------------------------------------------------------------------
    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) != 3:
            raise ValueError(f"{describe(self)} expects inputs of rank 3 (batch, timesteps, features), got shape "
                             f"{tuple(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"{describe(self)}: the feature dimension must be known, got {tuple(input_shape)}")
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{describe(self)} was built for {self.kernel.shape[0]} features, got "
                             f"{input_shape[-1]} (input shape {tuple(input_shape)})")

    def build(self, input_shape) -> None:
        cols = self._gates * self.units
        self.add_weight(name="kernel", shape=(input_shape[-1], cols), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer)
        self.add_weight(name="recurrent_kernel", shape=(self.units, cols), initializer=self.recurrent_initializer,
                        regularizer=self.recurrent_regularizer)
        if self.use_bias:
            self.add_weight(name="bias", shape=self._bias_shape(), initializer=self._bias_init(),
                            regularizer=self.bias_regularizer)

    def _bias_shape(self) -> tuple:
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    def compute_output_shape(self, input_shape):
        n, t = input_shape[0], input_shape[1]
        out = (n, t, self.units) if self.return_sequences else (n, self.units)
        if self.return_state:
            return [out] + [(n, self.units)] * self._states
        return out

    # -- running -----------------------------------------------------------------------------
    def _masks(self, x, training):
        """Dropout masks (one per sequence, the same at every step, as Keras) for inputs and states."""
        if not training or (self.dropout == 0.0 and self.recurrent_dropout == 0.0):
            return None, None
        rng = generator() if self.seed is None else np.random.default_rng(self.seed)
        xp = x.xp

        def mask(rate, shape):
            if rate == 0.0:
                return None
            keep = xp.asarray(rng.random(shape) >= rate)
            return Tensor._wrap((keep / (1.0 - rate)).astype(x.dtype))

        return mask(self.dropout, (x.shape[0], x.shape[2])), mask(self.recurrent_dropout, (x.shape[0], self.units))

    def call(self, inputs, initial_state=None, training=None):
        x = inputs
        n, steps, features = x.shape
        in_mask, state_mask = self._masks(x, training)
        if in_mask is not None:
            x = x * in_mask.reshape((n, 1, features))
        projected = ops.matmul(x.reshape((n * steps, features)), self.kernel).reshape((n, steps, -1))
        states = self._initial_states(x, initial_state)
        fused = self._fused_sequence(projected, states, state_mask)
        if fused is not None:  # the whole pass over time as one node (ops.recurrent)
            out, states = fused
            return [out, *states] if self.return_state else out
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        for t in order:
            states = self._step(projected[:, t], states, state_mask)
            if self.return_sequences:
                outputs.append(states[0])
        out = ops.stack(outputs, axis=1) if self.return_sequences else states[0]
        return [out, *states] if self.return_state else out

    def _initial_states(self, x, initial_state):
        if initial_state is None:
            zeros = Tensor._wrap(x.xp.zeros((x.shape[0], self.units), dtype=x.dtype))
            return [zeros] * self._states
        given = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(given) != self._states:
            raise ValueError(f"{describe(self)}: initial_state needs {self._states} tensor(s) of shape "
                             f"(batch, {self.units}), got {len(given)}")
        return [s if isinstance(s, Tensor) else Tensor(s) for s in given]

    def _fused_sequence(self, projected, states, state_mask):
        """``(output, final states)`` from one fused op over all steps, or None to step in Python."""
        return None

    def _standard(self) -> bool:
        return activations.serialize(self.activation) == "tanh" and \
            activations.serialize(self.recurrent_activation) == "sigmoid"

    def _step(self, xw, states, state_mask):  # pragma: no cover - abstract
        raise NotImplementedError

    def _recurrent(self, h, state_mask):
        return ops.matmul(h * state_mask if state_mask is not None else h, self.recurrent_kernel)

    def get_config(self) -> dict:
        ser, reg = initializers.serialize, regularizers.serialize
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias,
                "kernel_initializer": ser(self.kernel_initializer),
                "recurrent_initializer": ser(self.recurrent_initializer),
                "bias_initializer": ser(self.bias_initializer), "kernel_regularizer": reg(self.kernel_regularizer),
                "recurrent_regularizer": reg(self.recurrent_regularizer),
                "bias_regularizer": reg(self.bias_regularizer),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                "return_sequences": self.return_sequences, "return_state": self.return_state,
                "go_backwards": self.go_backwards, "stateful": False, "unroll": self.unroll}


class SimpleRNN(_RNN):
    """``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``."""

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def _step(self, xw, states, state_mask):
        z = xw + self._recurrent(states[0], state_mask)
        if self.use_bias:
            z = z + self.bias
        return [self.activation(z)]

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("recurrent_activation")
        return cfg


class LSTM(_RNN):
    """Long short-term memory: gates i, f, c, o; states ``[h, c]``."""

    _gates = 4
    _states = 2

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def init(shape, dtype=None):
            values = np.asarray(base((u * 4,), dtype=dtype))
            values = values.copy()
            values[u:2 * u] = 1.0
            return values

        return init

    def _fused_sequence(self, projected, states, state_mask):
        if not self._standard():
            return None
        u = self.units
        xw = projected + self.bias if self.use_bias else projected
        hc = ops.lstm_sequence(xw, self.recurrent_kernel, states[0], states[1], state_mask, self.go_backwards)
        last = hc[:, -1]
        out = hc[:, :, :u] if self.return_sequences else last[:, :u]
        return out, [last[:, :u], last[:, u:]]

    def _step(self, xw, states, state_mask):
        h, c = states
        z = xw + self._recurrent(h, state_mask)
        if self.use_bias:
            z = z + self.bias
        u = self.units
        i = self.recurrent_activation(z[:, :u])
        f = self.recurrent_activation(z[:, u:2 * u])
        g = self.activation(z[:, 2 * u:3 * u])
        o = self.recurrent_activation(z[:, 3 * u:])
        c = f * c + i * g
        return [o * self.activation(c), c]

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit: gates z (update), r (reset), h; ``reset_after=True`` applies the reset
    gate after the recurrent matmul, with separate input and recurrent biases (Keras 3's default)."""

    _gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def _fused_sequence(self, projected, states, state_mask):
        if not (self.reset_after and self._standard()):
            return None
        xw = projected + self.bias[0] if self.use_bias else projected
        hs = ops.gru_sequence(xw, self.recurrent_kernel, self.bias[1] if self.use_bias else None, states[0],
                              state_mask, self.go_backwards)
        last = hs[:, -1]
        return (hs if self.return_sequences else last), [last]

    def _step(self, xw, states, state_mask):
        h = states[0]
        u = self.units
        if self.use_bias:
            xw = xw + (self.bias[0] if self.reset_after else self.bias)
        hr = h * state_mask if state_mask is not None else h
        if self.reset_after:
            rec = ops.matmul(hr, self.recurrent_kernel)
            if self.use_bias:
                rec = rec + self.bias[1]
            z = self.recurrent_activation(xw[:, :u] + rec[:, :u])
            r = self.recurrent_activation(xw[:, u:2 * u] + rec[:, u:2 * u])
            hh = self.activation(xw[:, 2 * u:] + r * rec[:, 2 * u:])
        else:
            rec = ops.matmul(hr, self.recurrent_kernel[:, :2 * u])
            z = self.recurrent_activation(xw[:, :u] + rec[:, :u])
            r = self.recurrent_activation(xw[:, u:2 * u] + rec[:, u:2 * u])
            hh = self.activation(xw[:, 2 * u:] + ops.matmul(r * hr, self.recurrent_kernel[:, 2 * u:]))
        return [z * h + (1.0 - z) * hh]

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after}


class Bidirectional(Layer):
    """Runs ``layer`` forwards and a copy of it backwards over the sequence and merges the outputs
    (``merge_mode`` 'concat' (default), 'sum', 'mul', 'ave' or None for a list). Weights: the
    forward layer's, then the backward layer's (Keras's order)."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, _RNN):
            raise ValueError(f"{describe(self)}: expects a SimpleRNN, LSTM or GRU layer, got {layer!r}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"{describe(self)}: merge_mode must be 'concat', 'sum', 'mul', 'ave' or None, "
                             f"got {merge_mode!r}")
        self.merge_mode = merge_mode
        self.forward_layer = layer
        if backward_layer is None:
            cfg = layer.get_config()
            cfg.update(name=f"backward_{layer.name}", go_backwards=not layer.go_backwards)
            backward_layer = type(layer).from_config(cfg)
        self.backward_layer = backward_layer
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self._initial_weights = weights

    def check_input_shape(self, input_shape) -> None:
        self.forward_layer.check_input_shape(input_shape)

    def build(self, input_shape) -> None:
        self.forward_layer.build_from_shape(input_shape)
        self.backward_layer.build_from_shape(input_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, input_shape):
        out = self.forward_layer.compute_output_shape(input_shape)
        states = []
        if self.return_state:
            out, states = out[0], out[1:]
            states = states + states
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (None if out[-1] is None else 2 * out[-1],)
        elif self.merge_mode is None:
            out = [out, out]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def call(self, inputs, training=None):
        fwd = self.forward_layer.call(inputs, training=training)
        bwd = self.backward_layer.call(inputs, training=training)
        f_states = b_states = []
        if self.return_state:
            fwd, f_states = fwd[0], fwd[1:]
            bwd, b_states = bwd[0], bwd[1:]
        if self.return_sequences:
            bwd = bwd[:, ::-1]
        if self.merge_mode == "concat":
            out = ops.concatenate([fwd, bwd], axis=-1)
        elif self.merge_mode == "sum":
            out = fwd + bwd
        elif self.merge_mode == "mul":
            out = fwd * bwd
        elif self.merge_mode == "ave":
            out = (fwd + bwd) * 0.5
        else:
            out = [fwd, bwd]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + list(f_states) + list(b_states)
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize_keras_object(self.forward_layer),
                "merge_mode": self.merge_mode, "backward_layer": serialize_keras_object(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict) -> "Bidirectional":
        config = dict(config)
        config["layer"] = deserialize_keras_object(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_keras_object(config["backward_layer"])
        return cls(**config)


class ConvLSTM2D(_RNN):
    """An LSTM whose input and recurrent transforms are 2-D convolutions, over ``(batch, time, rows,
    cols, channels)``. Weights (Keras's layout, gates i, f, c, o): ``kernel [kh, kw, in, 4 * filters]``,
    ``recurrent_kernel [kh, kw, filters, 4 * filters]`` (always 'same' padding, stride 1), ``bias``.
    The input convolution of every step is one conv2d over ``(batch * time)`` images."""

    _gates = 4
    _states = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 unit_forget_bias=True, **kwargs):
        super().__init__(filters, **kwargs)
        self.filters = self.units
        self.kernel_size = positive_tuple(self, "kernel_size", kernel_size)
        self.strides = positive_tuple(self, "strides", strides)
        self.dilation_rate = positive_tuple(self, "dilation_rate", dilation_rate)
        self.padding = padding_mode(self, padding)
        self.data_format = check_data_format(self, data_format)
        if self.data_format != "channels_last":
            raise ValueError(f"{describe(self)}: only data_format='channels_last' is supported")
        self.unit_forget_bias = bool(unit_forget_bias)

    _bias_init = LSTM._bias_init

    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) != 5 or input_shape[-1] is None:
            raise ValueError(f"{describe(self)} expects inputs (batch, time, rows, cols, channels) with known "
                             f"channels, got shape {tuple(input_shape)}")
        if self.built and input_shape[-1] != self.kernel.shape[2]:
            raise ValueError(f"{describe(self)} was built for {self.kernel.shape[2]} channels, got "
                             f"{input_shape[-1]} (input shape {tuple(input_shape)})")
        spatial_output(self, input_shape[2:4], self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def build(self, input_shape) -> None:
        cols = 4 * self.filters
        self.add_weight(name="kernel", shape=(*self.kernel_size, input_shape[-1], cols),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        self.add_weight(name="recurrent_kernel", shape=(*self.kernel_size, self.filters, cols),
                        initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer)
        if self.use_bias:
            self.add_weight(name="bias", shape=(cols,), initializer=self._bias_init(),
                            regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        oh, ow = spatial_output(self, input_shape[2:4], self.kernel_size, self.strides, self.padding,
                                self.dilation_rate)
        n, t = input_shape[0], input_shape[1]
        out = (n, t, oh, ow, self.filters) if self.return_sequences else (n, oh, ow, self.filters)
        if self.return_state:
            return [out] + [(n, oh, ow, self.filters)] * 2
        return out

    def call(self, inputs, initial_state=None, training=None):
        x = inputs
        n, steps, rows, cols, channels = x.shape
        projected = ops.conv2d(x.reshape((n * steps, rows, cols, channels)), self.kernel,
                               self.bias if self.use_bias else None, self.strides, self.padding, self.dilation_rate)
        oh, ow = projected.shape[1], projected.shape[2]
        projected = projected.reshape((n, steps, oh, ow, 4 * self.filters))
        if initial_state is None:
            zeros = Tensor._wrap(x.xp.zeros((n, oh, ow, self.filters), dtype=x.dtype))
            states = [zeros, zeros]
        else:
            states = [s if isinstance(s, Tensor) else Tensor(s) for s in initial_state]
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        outputs = []
        f = self.filters
        for t in order:
            h, c = states
            z = projected[:, t] + ops.conv2d(h, self.recurrent_kernel, None, 1, "same")
            i = self.recurrent_activation(z[..., :f])
            fg = self.recurrent_activation(z[..., f:2 * f])
            g = self.activation(z[..., 2 * f:3 * f])
            o = self.recurrent_activation(z[..., 3 * f:])
            c = fg * c + i * g
            states = [o * self.activation(c), c]
            if self.return_sequences:
                outputs.append(states[0])
        out = ops.stack(outputs, axis=1) if self.return_sequences else states[0]
        return [out, *states] if self.return_state else out

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("units")
        return {**cfg, "filters": self.filters, "kernel_size": list(self.kernel_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format, "dilation_rate": list(self.dilation_rate),
                "unit_forget_bias": self.unit_forget_bias}
