"""Convolutional LSTMs (Keras 3): ``ConvLSTMCell`` and ``ConvLSTM1D``/``ConvLSTM2D``/``ConvLSTM3D``, one
``ConvLSTM`` base that is an ``RNN`` of the cell, so masks, ``initial_state``, ``return_state``,
``stateful`` and ``go_backwards`` behave as in the other recurrent layers.

Weights (Keras's layout, gates i, f, c, o): ``kernel [*kernel_size, in, 4 * filters]``,
``recurrent_kernel [*kernel_size, filters, 4 * filters]`` (always 'same' padding, stride 1), ``bias
[4 * filters]``. Without dropout in training, the input convolution of every step runs as one
convolution over ``(batch * time)`` inputs before the time loop.
"""
from __future__ import annotations

from .. import activations, constraints, initializers, ops, regularizers
from ..autograd.tensor import Tensor
from ..backend import array_module
from ._args import data_format as check_data_format
from ._args import describe, padding_mode, positive_int, positive_tuple, resolve
from .base import Layer
from .convolutional import spatial_output
from .rnn import RNN, _select
from .rnn_cells import DropoutRNNCell, _rate

__all__ = ["ConvLSTMCell", "ConvLSTM", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D"]

_CELL_ARGS = ("filters", "kernel_size", "strides", "padding", "data_format", "dilation_rate", "activation",
              "recurrent_activation", "use_bias", "kernel_initializer", "recurrent_initializer",
              "bias_initializer", "unit_forget_bias", "kernel_regularizer", "recurrent_regularizer",
              "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout", "seed")


class ConvLSTMCell(Layer, DropoutRNNCell):
    """One step of a convolutional LSTM over a ``(batch, *spatial, channels)`` input (Keras's
    ``ConvLSTMCell``): states ``[h, c]`` of the convolution's output shape."""

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, recurrent_constraint=None, bias_constraint=None, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if rank not in (1, 2, 3):
            raise ValueError(f"{describe(self)}: Rank {rank} convolutions are not currently implemented. "
                             f"Received: rank={rank}")
        self.rank = int(rank)
        self.filters = positive_int(self, "filters", filters)
        self.kernel_size = positive_tuple(self, "kernel_size", kernel_size, self.rank)
        self.strides = positive_tuple(self, "strides", strides, self.rank)
        self.padding = padding_mode(self, padding)
        self.data_format = check_data_format(self, data_format)
        self.dilation_rate = positive_tuple(self, "dilation_rate", dilation_rate, self.rank)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{describe(self)}: Specifying `strides > 1` is not compatible with `dilation_rate > 1`. "
                             f"Received: strides={self.strides} and dilation_rate={self.dilation_rate}")
        self.activation = resolve(self, "activation", activations.get, activation)
        self.recurrent_activation = resolve(self, "recurrent_activation", activations.get, recurrent_activation)
        self.use_bias = bool(use_bias)
        get_init, get_reg = initializers.get, regularizers.get
        self.kernel_initializer = resolve(self, "kernel_initializer", get_init, kernel_initializer)
        self.recurrent_initializer = resolve(self, "recurrent_initializer", get_init, recurrent_initializer)
        self.bias_initializer = resolve(self, "bias_initializer", get_init, bias_initializer)
        self.unit_forget_bias = bool(unit_forget_bias)
        self.kernel_regularizer = resolve(self, "kernel_regularizer", get_reg, kernel_regularizer)
        self.recurrent_regularizer = resolve(self, "recurrent_regularizer", get_reg, recurrent_regularizer)
        self.bias_regularizer = resolve(self, "bias_regularizer", get_reg, bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = _rate(self, "dropout", dropout)
        self.recurrent_dropout = _rate(self, "recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.dropout_mask_count = 4
        self.state_size = [-1, -1]  # h and c, shaped like the convolution's output (see get_initial_state)
        self.spatial_dims: tuple = ()
        self.input_dim = None

    # -- shapes and weights ------------------------------------------------------------------
    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, shape) -> tuple:
        return tuple(shape[1:-1]) if self.data_format == "channels_last" else tuple(shape[2:])

    def _with_channels(self, batch, spatial, channels) -> tuple:
        return (batch, *spatial, channels) if self.data_format == "channels_last" else (batch, channels, *spatial)

    def check_input_shape(self, input_shape) -> None:
        if len(input_shape) != self.rank + 2:
            raise ValueError(f"{describe(self)} expects steps of rank {self.rank + 2}, got shape {tuple(input_shape)}")
        if None in self._spatial(input_shape) or input_shape[self._channel_axis()] is None:
            raise ValueError(f"{describe(self)}: ConvLSTM layers only support static input shapes for the spatial "
                             f"and channel dimensions. Received input_shape={tuple(input_shape)}")
        if self.built and input_shape[self._channel_axis()] != self.input_dim:
            raise ValueError(f"{describe(self)} was built for {self.input_dim} channels, got "
                             f"{input_shape[self._channel_axis()]} (input shape {tuple(input_shape)})")
        spatial_output(self, self._spatial(input_shape), self.kernel_size, self.strides, self.padding,
                       self.dilation_rate)

    def build(self, input_shape) -> None:
        self.spatial_dims = self._spatial(input_shape)
        self.input_dim = int(input_shape[self._channel_axis()])
        cols = 4 * self.filters
        self.add_weight(name="kernel", shape=(*self.kernel_size, self.input_dim, cols),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        self.add_weight(name="recurrent_kernel", shape=(*self.kernel_size, self.filters, cols),
                        initializer=self.recurrent_initializer, regularizer=self.recurrent_regularizer,
                        constraint=self.recurrent_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(cols,), initializer=self._bias_init(),
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _bias_init(self):
        if not self.unit_forget_bias:
            return self.bias_initializer
        base, f = self.bias_initializer, self.filters

        def init(shape, dtype=None):  # Keras: [init(f), ones(f), init(2f)]
            values = base((4 * f,), dtype=dtype)
            values = values.data if isinstance(values, Tensor) else values
            values = array_module(values).array(values, copy=True)
            values[f:2 * f] = 1.0
            return values

        return init

    def compute_output_shape(self, inputs_shape, states_shape=None):
        spatial = spatial_output(self, self._spatial(inputs_shape), self.kernel_size, self.strides, self.padding,
                                 self.dilation_rate)
        out = self._with_channels(inputs_shape[0], spatial, self.filters)
        return out, [out, out]

    def get_initial_state(self, batch_size=None):
        shape = self.compute_output_shape(self._with_channels(batch_size, self.spatial_dims, self.input_dim))[0]
        xp = array_module(self.kernel.data)
        return [Tensor._wrap(xp.zeros(shape, dtype=self.kernel.dtype)) for _ in range(2)]

    # -- one step ----------------------------------------------------------------------------
    def input_conv(self, x, w, b=None, padding="valid"):
        y = ops.conv(x, w, strides=self.strides, padding=padding, data_format=self.data_format,
                     dilation_rate=self.dilation_rate)
        if b is not None:
            y = y + (b if self.data_format == "channels_last" else b.reshape((b.shape[0],) + (1,) * self.rank))
        return y

    def recurrent_conv(self, x, w):
        return ops.conv(x, w, strides=1, padding="same", data_format=self.data_format)

    def _gates(self, z_x, h, c, rec_masks=None):
        """``(h, c)`` of the step from the input convolutions ``z_x`` (all four gates along the channels)."""
        axis = self._channel_axis() % (self.rank + 2)
        f = self.filters
        if rec_masks is None:
            z = z_x + self.recurrent_conv(h, self.recurrent_kernel)
        else:  # a recurrent dropout mask per gate: one convolution per gate
            parts = [self.recurrent_conv(h * m, self.recurrent_kernel[..., g * f:(g + 1) * f])
                     for g, m in enumerate(rec_masks)]
            z = z_x + ops.concatenate(parts, axis=axis)
        index = [slice(None)] * (self.rank + 2)

        def gate(g):
            index[axis] = slice(g * f, (g + 1) * f)
            return z[tuple(index)]

        i = self.recurrent_activation(gate(0))
        fg = self.recurrent_activation(gate(1))
        c = fg * c + i * self.activation(gate(2))
        o = self.recurrent_activation(gate(3))
        return o * self.activation(c), c

    def _input_projection(self, x, training):
        """The four gates' input convolutions, with a dropout mask per gate in training (Keras)."""
        bias = self.bias if self.use_bias else None
        if training and 0.0 < self.dropout < 1.0:
            f, axis = self.filters, self._channel_axis() % (self.rank + 2)
            masks = self.get_dropout_mask(x)
            parts = [self.input_conv(x * m, self.kernel[..., g * f:(g + 1) * f],
                                     None if bias is None else bias[g * f:(g + 1) * f], self.padding)
                     for g, m in enumerate(masks)]
            return ops.concatenate(parts, axis=axis)
        return self.input_conv(x, self.kernel, bias, self.padding)

    def _recurrent_masks(self, h, training):
        if training and 0.0 < self.recurrent_dropout < 1.0:
            return self.get_recurrent_dropout_mask(h)
        return None

    def call(self, inputs, states, training=False):
        h, c = states
        z_x = self._input_projection(inputs, training)
        h, c = self._gates(z_x, h, c, self._recurrent_masks(h, training))
        return h, [h, c]

    def get_config(self) -> dict:
        ser, reg, con = initializers.serialize, regularizers.serialize, constraints.serialize
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "activation": activations.serialize(self.activation),
                "recurrent_activation": activations.serialize(self.recurrent_activation), "use_bias": self.use_bias,
                "kernel_initializer": ser(self.kernel_initializer),
                "recurrent_initializer": ser(self.recurrent_initializer),
                "bias_initializer": ser(self.bias_initializer), "unit_forget_bias": self.unit_forget_bias,
                "kernel_regularizer": reg(self.kernel_regularizer),
                "recurrent_regularizer": reg(self.recurrent_regularizer),
                "bias_regularizer": reg(self.bias_regularizer), "kernel_constraint": con(self.kernel_constraint),
                "recurrent_constraint": con(self.recurrent_constraint), "bias_constraint": con(self.bias_constraint),
                "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout, "seed": self.seed,
                "rank": self.rank}


class ConvLSTM(RNN):
    """An RNN of a ``ConvLSTMCell`` over ``(batch, time, *spatial, channels)`` (Keras's ``ConvLSTM``);
    ConvLSTM1D/2D/3D fix ``rank``."""

    rank = 2

    def __init__(self, rank, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 unit_forget_bias=True, kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, **kwargs):
        layer_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in Layer._COMMON}
        cell = ConvLSTMCell(rank, filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                            dilation_rate=dilation_rate, activation=activation,
                            recurrent_activation=recurrent_activation, use_bias=use_bias,
                            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
                            bias_initializer=bias_initializer, unit_forget_bias=unit_forget_bias,
                            kernel_regularizer=kernel_regularizer, recurrent_regularizer=recurrent_regularizer,
                            bias_regularizer=bias_regularizer, kernel_constraint=kernel_constraint,
                            recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint,
                            dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed, name="conv_lstm_cell",
                            dtype=layer_kwargs.get("dtype"))
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, activity_regularizer=activity_regularizer,
                         **kwargs, **layer_kwargs)

    # -- shapes ------------------------------------------------------------------------------
    def check_input_shape(self, input_shape) -> None:
        rank = self.cell.rank
        if len(input_shape) != rank + 3:
            raise ValueError(f"{describe(self)} expects inputs of rank {rank + 3} (batch, time, {rank} spatial axes, "
                             f"channels), got shape {tuple(input_shape)}")
        self.cell.check_input_shape((input_shape[0],) + tuple(input_shape[2:]))

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, steps = sequences_shape[0], sequences_shape[1]
        state = tuple(self.cell.compute_output_shape((batch,) + tuple(sequences_shape[2:]))[0][1:])
        out = (batch, steps) + state if self.return_sequences else (batch,) + state
        return [out, (batch,) + state, (batch,) + state] if self.return_state else out

    # -- running -----------------------------------------------------------------------------
    def _fused_loop(self, sequences, initial_state, mask, training):
        """The input convolution of all steps at once (one conv over batch * time), then the
        recurrent step; as ``RNN``'s loop for masks and ``go_backwards``. None (the cell's own step)
        when a user's cell subclass or input dropout in training needs the cell."""
        cell = self.cell
        if type(cell) is not ConvLSTMCell or (training and 0.0 < cell.dropout < 1.0):
            return None
        n, steps = sequences.shape[0], sequences.shape[1]
        step_shape = tuple(sequences.shape[2:])
        z = cell._input_projection(sequences.reshape((n * steps,) + step_shape), training)
        z = z.reshape((n, steps) + tuple(z.shape[1:]))
        h, c = initial_state
        rec_masks = cell._recurrent_masks(h, training)
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        prev_out, outputs = None, []
        for t in order:
            new_h, new_c = cell._gates(z[:, t], h, c, rec_masks)
            out = new_h
            if mask is not None:
                keep = mask[:, t]
                fallback = prev_out if prev_out is not None and not self.zero_output_for_mask else \
                    Tensor._wrap(out.xp.zeros(out.shape, dtype=out.dtype))
                out = _select(keep, out, fallback)
                new_h, new_c = _select(keep, new_h, h), _select(keep, new_c, c)
            h, c, prev_out = new_h, new_c, out
            if self.return_sequences:
                outputs.append(out)
        return prev_out, (lambda: ops.stack(outputs, axis=1)), [h, c]

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["cell"]
        cell_cfg = self.cell.get_config()
        for key in ("name", "trainable", "dtype", "rank"):
            cell_cfg.pop(key, None)
        return {**cfg, **cell_cfg, "activity_regularizer": regularizers.serialize(self.activity_regularizer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "RNN":
        return cls(**config)


def _delegate(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's ``{name}``.")


for _name in _CELL_ARGS:
    setattr(ConvLSTM, _name, _delegate(_name))


def _ranked(rank: int, doc: str):
    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 **kwargs):
        ConvLSTM.__init__(self, rank, filters, kernel_size, strides=strides, padding=padding,
                          data_format=data_format, dilation_rate=dilation_rate, **kwargs)

    return {"__init__": __init__, "__doc__": doc, "__module__": __name__}


ConvLSTM1D = type("ConvLSTM1D", (ConvLSTM,), _ranked(1, "A convolutional LSTM over ``(batch, time, steps, "
                                                        "channels)`` (1-D convolutions)."))
ConvLSTM2D = type("ConvLSTM2D", (ConvLSTM,), _ranked(2, "A convolutional LSTM over ``(batch, time, rows, cols, "
                                                        "channels)`` (2-D convolutions)."))
ConvLSTM3D = type("ConvLSTM3D", (ConvLSTM,), _ranked(3, "A convolutional LSTM over ``(batch, time, depth, rows, "
                                                        "cols, channels)`` (3-D convolutions)."))
