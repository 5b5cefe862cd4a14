"""Recurrent cells (Keras 3's ``keras.layers.*Cell``): one time step of SimpleRNN, LSTM and GRU, and
``StackedRNNCells``. ``layers.RNN`` runs any cell over a sequence; LSTM/GRU/SimpleRNN are RNNs of these.

A cell has ``call(inputs, states, training=False) -> (output, new_states)``, ``state_size`` (an int or
a list of ints), ``output_size`` and ``get_initial_state(batch_size)``. Weights use Keras's names and
layouts: ``kernel [in, k*u]``, ``recurrent_kernel [u, k*u]``, ``bias`` (LSTM gates i, f, c, o; GRU z, r,
h with ``bias [2, 3u]`` when ``reset_after``). Dropout masks are drawn once per sequence and reused at
every step (``DropoutRNNCell``); LSTM/GRU with ``recurrent_dropout`` use one mask per gate, as Keras's
``implementation=1``.
"""
from __future__ import annotations

import numpy as np

from .. import activations, initializers, ops, regularizers
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend
from ..random import generator
from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from ._args import describe, positive_int, resolve, unsupported
from .base import Layer, _call_flags

__all__ = ["DropoutRNNCell", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells", "call_cell",
           "zeros_state"]


def zeros_state(batch_size, size, dtype) -> Tensor:
    """A ``(batch_size, *size)`` zero state (``size`` an int or a shape)."""
    shape = (int(batch_size),) + ((int(size),) if isinstance(size, (int, np.integer)) else tuple(size))
    return Tensor._wrap(get_backend().xp.zeros(shape, dtype=dtype))


def call_cell(cell, inputs, states, training):
    """``cell(inputs, states)`` with ``training`` passed only when its ``call`` takes it (Keras)."""
    if isinstance(cell, Layer):
        takes_training = _call_flags(type(cell))[0]
        if not cell.built:
            cell._build_once((None,) + tuple(inputs.shape[1:]))
        kwargs = {"training": training} if takes_training else {}
        return cell.call(inputs, states, **kwargs)
    return cell.call(inputs, states)


def _rate(layer, name, value) -> float:
    value = float(value)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{describe(layer)}: {name} must be in [0, 1], got {name}={value!r}")
    return min(1.0, max(0.0, value))


class DropoutRNNCell:
    """Dropout masks for a cell, created on the first step of a sequence and reused at every step
    (``reset_dropout_mask`` clears them; ``layers.RNN`` does so after each sequence)."""

    dropout = 0.0
    recurrent_dropout = 0.0
    seed = None
    dropout_mask_count: int | None = None

    def _rng(self):
        if self.seed is None:
            return generator()
        rng = self.__dict__.get("_seeded_rng")
        if rng is None:
            rng = np.random.default_rng(self.seed)
            self.__dict__["_seeded_rng"] = rng
        return rng

    def _create_dropout_mask(self, step_input, rate):
        shape = tuple(step_input.shape)
        xp = step_input.xp

        def one():
            keep = xp.asarray(self._rng().random(shape) >= rate)
            return Tensor._wrap((keep / (1.0 - rate)).astype(step_input.dtype))

        return one() if self.dropout_mask_count is None else [one() for _ in range(self.dropout_mask_count)]

    def get_dropout_mask(self, step_input):
        if self.__dict__.get("_dropout_mask") is None and self.dropout > 0:
            self.__dict__["_dropout_mask"] = self._create_dropout_mask(step_input, self.dropout)
        return self.__dict__.get("_dropout_mask")

    def get_recurrent_dropout_mask(self, step_input):
        if self.__dict__.get("_recurrent_dropout_mask") is None and self.recurrent_dropout > 0:
            self.__dict__["_recurrent_dropout_mask"] = self._create_dropout_mask(step_input, self.recurrent_dropout)
        return self.__dict__.get("_recurrent_dropout_mask")

    def reset_dropout_mask(self):
        self.__dict__["_dropout_mask"] = None

    def reset_recurrent_dropout_mask(self):
        self.__dict__["_recurrent_dropout_mask"] = None


class _GatedCell(Layer, DropoutRNNCell):
    """Arguments, weights and config shared by the three cells (``_gates`` blocks of ``units`` columns)."""

    _gates = 1

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 recurrent_constraint=None, bias_constraint=None, dropout=0.0, recurrent_dropout=0.0, seed=None,
                 **kwargs):
        implementation = kwargs.pop("implementation", 2)
        super().__init__(**kwargs)
        unsupported(self, kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
                    bias_constraint=bias_constraint)
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
        self.implementation = 1 if self.recurrent_dropout != 0.0 else implementation
        if self.implementation == 1 and self._gates > 1:
            self.dropout_mask_count = self._gates
        self.state_size = self.units
        self.output_size = self.units

    def build(self, input_shape) -> None:
        cols = self._gates * self.units
        self.add_weight(name="kernel", shape=(input_shape[-1], cols), initializer=self.kernel_initializer,
                        regularizer=self.kernel_regularizer)
        self.add_weight(name="recurrent_kernel", shape=(self.units, cols), initializer=self.recurrent_initializer,
                        regularizer=self.recurrent_regularizer)
        if self.use_bias:
            self.add_weight(name="bias", shape=self._bias_shape(), initializer=self._bias_init(),
                            regularizer=self.bias_regularizer)

    def check_input_shape(self, input_shape) -> None:
        if self.built and input_shape[-1] != self.kernel.shape[0]:
            raise ValueError(f"{describe(self)} was built for {self.kernel.shape[0]} features, got "
                             f"{input_shape[-1]} (input shape {tuple(input_shape)})")

    def _bias_shape(self) -> tuple:
        return (self._gates * self.units,)

    def _bias_init(self):
        return self.bias_initializer

    @property
    def bias(self):
        return self._params.get("bias")

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, list) else [self.state_size]
        return [zeros_state(batch_size, s, self.dtype) for s in sizes]

    def _standard(self) -> bool:
        """Keras's default activations (tanh, sigmoid): what the fused sequence ops compute."""
        return activations.serialize(self.activation) == "tanh" and \
            activations.serialize(self.recurrent_activation) == "sigmoid"

    def _masked(self, x, mask, k=None):
        if mask is None:
            return x
        return x * (mask[k] if isinstance(mask, list) else mask)

    def get_config(self) -> dict:
        ser, reg = initializers.serialize, regularizers.serialize
        return {**super().get_config(), "units": self.units, "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias,
                "kernel_initializer": ser(self.kernel_initializer),
                "recurrent_initializer": ser(self.recurrent_initializer),
                "bias_initializer": ser(self.bias_initializer), "kernel_regularizer": reg(self.kernel_regularizer),
                "recurrent_regularizer": reg(self.recurrent_regularizer),
                "bias_regularizer": reg(self.bias_regularizer), "kernel_constraint": None,
                "recurrent_constraint": None, "bias_constraint": None,
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed}


class SimpleRNNCell(_GatedCell):
    """``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``; state ``[h]``."""

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def call(self, sequence, states, training=False):
        prev = states[0] if isinstance(states, (list, tuple)) else states
        dp_mask = self.get_dropout_mask(sequence)
        rec_mask = self.get_recurrent_dropout_mask(prev)
        if training and dp_mask is not None:
            sequence = sequence * dp_mask
        h = ops.matmul(sequence, self.kernel)
        if self.use_bias:
            h = h + self.bias
        if training and rec_mask is not None:
            prev = prev * rec_mask
        out = h + ops.matmul(prev, self.recurrent_kernel)
        if self.activation is not None:
            out = self.activation(out)
        return out, ([out] if isinstance(states, (list, tuple)) else out)

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("recurrent_activation")
        return cfg


class LSTMCell(_GatedCell):
    """One LSTM step: gates i, f, c, o; states ``[h, c]`` (``unit_forget_bias`` starts f's bias at 1)."""

    _gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.state_size = [self.units, self.units]

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, u = self.bias_initializer, self.units

        def init(shape, dtype=None):
            values = base((u * 4,), dtype=dtype)
            values = values.data if isinstance(values, Tensor) else values  # NumPy, CuPy or a Tensor of either
            values = array_module(values).array(values, copy=True)
            values[u:2 * u] = 1.0
            return values

        return init

    def call(self, inputs, states, training=False):
        h, c = states[0], states[1]
        u = self.units
        dp = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
        if self.implementation == 1:
            rec = self.get_recurrent_dropout_mask(h) if training and 0.0 < self.recurrent_dropout < 1.0 else None
            zs = []
            for k in range(4):
                cols = slice(k * u, (k + 1) * u)
                z = ops.matmul(self._masked(inputs, dp, k), self.kernel[:, cols])
                if self.use_bias:
                    z = z + self.bias[cols]
                zs.append(z + ops.matmul(self._masked(h, rec, k), self.recurrent_kernel[:, cols]))
        else:
            z = ops.matmul(self._masked(inputs, dp), self.kernel) + ops.matmul(h, self.recurrent_kernel)
            if self.use_bias:
                z = z + self.bias
            zs = [z[:, k * u:(k + 1) * u] for k in range(4)]
        i = self.recurrent_activation(zs[0])
        f = self.recurrent_activation(zs[1])
        c = f * c + i * self.activation(zs[2])
        o = self.recurrent_activation(zs[3])
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self) -> dict:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRUCell(_GatedCell):
    """One GRU step: gates z (update), r (reset), h; ``reset_after=True`` (Keras 3's default) applies
    the reset gate after the recurrent matmul, with separate input and recurrent biases."""

    _gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def _bias_shape(self) -> tuple:
        return (2, 3 * self.units) if self.reset_after else (3 * self.units,)

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        u = self.units
        in_bias = rec_bias = None
        if self.use_bias:
            in_bias, rec_bias = (self.bias[0], self.bias[1]) if self.reset_after else (self.bias, None)
        dp = self.get_dropout_mask(inputs) if training and 0.0 < self.dropout < 1.0 else None
        if self.implementation == 1:
            rec = self.get_recurrent_dropout_mask(h_prev) if training and 0.0 < self.recurrent_dropout < 1.0 \
                else None
            x = [ops.matmul(self._masked(inputs, dp, k), self.kernel[:, k * u:(k + 1) * u]) for k in range(3)]
            if in_bias is not None:
                x = [x[k] + in_bias[k * u:(k + 1) * u] for k in range(3)]
            hk = [self._masked(h_prev, rec, k) for k in range(3)]
            rz = ops.matmul(hk[0], self.recurrent_kernel[:, :u])
            rr = ops.matmul(hk[1], self.recurrent_kernel[:, u:2 * u])
            if self.reset_after and rec_bias is not None:
                rz, rr = rz + rec_bias[:u], rr + rec_bias[u:2 * u]
            z = self.recurrent_activation(x[0] + rz)
            r = self.recurrent_activation(x[1] + rr)
            if self.reset_after:
                rh = ops.matmul(hk[2], self.recurrent_kernel[:, 2 * u:])
                if rec_bias is not None:
                    rh = rh + rec_bias[2 * u:]
                rh = r * rh
            else:
                rh = ops.matmul(r * hk[2], self.recurrent_kernel[:, 2 * u:])
            hh = self.activation(x[2] + rh)
        else:
            mx = ops.matmul(self._masked(inputs, dp), self.kernel)
            if in_bias is not None:
                mx = mx + in_bias
            if self.reset_after:
                inner = ops.matmul(h_prev, self.recurrent_kernel)
                if rec_bias is not None:
                    inner = inner + rec_bias
            else:
                inner = ops.matmul(h_prev, self.recurrent_kernel[:, :2 * u])
            z = self.recurrent_activation(mx[:, :u] + inner[:, :u])
            r = self.recurrent_activation(mx[:, u:2 * u] + inner[:, u:2 * u])
            if self.reset_after:
                rh = r * inner[:, 2 * u:]
            else:
                rh = ops.matmul(r * h_prev, self.recurrent_kernel[:, 2 * u:])
            hh = self.activation(mx[:, 2 * u:] + rh)
        h = z * h_prev + (1.0 - z) * hh
        return h, ([h] if isinstance(states, (list, tuple)) else h)

    def get_config(self) -> dict:
        return {**super().get_config(), "reset_after": self.reset_after}


def _output_size(cell):
    size = getattr(cell, "output_size", None)
    if size is not None:
        return size
    return cell.state_size[0] if isinstance(cell.state_size, (list, tuple)) else cell.state_size


def _initial_state_of(cell, batch_size, dtype):
    fn = getattr(cell, "get_initial_state", None)
    if fn is not None:
        return fn(batch_size=batch_size)
    if isinstance(cell.state_size, (list, tuple)):
        return [zeros_state(batch_size, d, dtype) for d in cell.state_size]
    return zeros_state(batch_size, cell.state_size, dtype)


class StackedRNNCells(Layer):
    """Several cells run one after the other at each step, as one cell (state: one entry per cell)."""

    def __init__(self, cells, **kwargs):
        super().__init__(**kwargs)
        for cell in cells:
            if not callable(getattr(cell, "call", None)):
                raise ValueError(f"{describe(self)}: all cells must have a `call` method, got {cell!r}")
            if not hasattr(cell, "state_size"):
                raise ValueError(f"{describe(self)}: all cells must have a `state_size` attribute, got {cell!r}")
        self.cells = list(cells)

    @property
    def state_size(self):
        return [c.state_size for c in self.cells]

    @property
    def output_size(self):
        return _output_size(self.cells[-1])

    def get_initial_state(self, batch_size=None):
        return [_initial_state_of(c, batch_size, self.dtype) for c in self.cells]

    def build(self, input_shape) -> None:
        for cell in self.cells:
            if isinstance(cell, Layer) and not cell.built:
                cell._build_once(tuple(input_shape))
            input_shape = (input_shape[0], _output_size(cell))

    def call(self, inputs, states, training=False):
        new_states = []
        for cell, state in zip(self.cells, states):
            is_list = isinstance(state, (list, tuple))
            inputs, state = call_cell(cell, inputs, list(state) if is_list else [state], training)
            if not is_list and isinstance(state, (list, tuple)) and len(state) == 1:
                state = state[0]
            new_states.append(state)
        if len(new_states) == 1:
            new_states = new_states[0]
        return inputs, new_states

    def get_config(self) -> dict:
        return {**super().get_config(), "cells": [serialize_keras_object(c) for c in self.cells]}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "StackedRNNCells":
        config = dict(config)
        cells = [deserialize_keras_object(c, custom_objects=custom_objects) for c in config.pop("cells")]
        return cls(cells, **config)
