"""Recurrent layers (Keras 3): ``RNN`` (any cell over time), SimpleRNN, LSTM, GRU, Bidirectional.

``RNN`` steps its cell through time as Keras's ``backend.rnn`` does (masks, ``go_backwards``,
``stateful``, ``return_state``); every step is recorded by autograd, so backpropagation through time is
the engine's reverse pass. A plain SimpleRNN/LSTM/GRU (its own cell, default activations, no recurrent
dropout while training; masks and go_backwards allowed) runs instead as one fused op over the sequence
(``ops.lstm_sequence``/``gru_sequence``/``ops.recurrent.simple_rnn_sequence``) after one input matmul
over ``(batch * steps, features)``.

Weights: SimpleRNN ``kernel [in, u]``, ``recurrent_kernel [u, u]``, ``bias [u]``; LSTM the same
with ``4u`` columns in gate order i, f, c, o (``unit_forget_bias`` starts f's bias at 1); GRU
``3u`` columns in order z, r, h with ``bias [2, 3u]`` when ``reset_after=True`` (Keras 3's default).
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd.tensor import Tensor
from ..backend import array_module, get_backend
from ..ops.recurrent import gru_last, lstm_last, simple_rnn_sequence
from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from ._args import describe, unsupported
from .base import Layer, _is_shape, to_tensor
from .rnn_cells import DropoutRNNCell, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells, call_cell, zeros_state
from .symbolic import flatten, map_structure, pack_as

__all__ = ["RNN", "SimpleRNN", "LSTM", "GRU", "Bidirectional"]  # ConvLSTM1D/2D/3D: conv_lstm.py


def _is_nested(value) -> bool:
    return isinstance(value, (list, tuple))


def _as_tensor(value, dtype) -> Tensor:
    if isinstance(value, Tensor):
        return value
    return to_tensor(value, dtype)


def _mask_array(mask):
    """A ``(batch, time)`` boolean array from a mask given as a Tensor, array or list (the first of a
    list of masks, as Keras)."""
    if isinstance(mask, (list, tuple)) and mask and hasattr(mask[0], "shape"):
        mask = mask[0]
    data = mask.data if isinstance(mask, Tensor) else mask
    xp = array_module(data) if hasattr(data, "shape") else get_backend().xp
    return xp.asarray(data).astype(bool)


def _select(cond, new, old):
    """``new`` where the step is kept (``cond[b]``), else ``old`` (broadcast over the feature axes)."""
    return ops.where(cond.reshape(cond.shape + (1,) * (len(new.shape) - 1)), new, old)


class RNN(Layer):
    """Runs a cell over the time axis (Keras 3's ``keras.layers.RNN``).

    ``cell``: a cell (``call(inputs, states) -> (output, new_states)``, ``state_size``, optionally
    ``output_size`` and ``get_initial_state``) or a list of cells (stacked with ``StackedRNNCells``).
    ``mask`` (batch, time): masked steps carry the states and the previous output through unchanged
    (zeros instead with ``zero_output_for_mask``). ``stateful=True`` keeps the final states as the next
    call's initial states (``layer.states``; ``reset_state()`` zeroes them)."""

    def __init__(self, cell, return_sequences=False, return_state=False, go_backwards=False, stateful=False,
                 unroll=False, zero_output_for_mask=False, **kwargs):
        if isinstance(cell, (list, tuple)):
            cell = StackedRNNCells(cell)
        if not callable(getattr(cell, "call", None)):
            raise ValueError(f"{type(self).__name__}: argument `cell` should have a `call` method, got {cell!r}")
        if getattr(cell, "state_size", None) is None:
            raise ValueError(f"{type(self).__name__}: the RNN cell should have a `state_size` attribute (an "
                             f"integer or a list of integers, one per state), got {cell!r}")
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        super().__init__(**kwargs)
        unsupported(self, activity_regularizer=activity_regularizer)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.cell = cell
        self.return_sequences, self.return_state = bool(return_sequences), bool(return_state)
        self.go_backwards, self.stateful, self.unroll = bool(go_backwards), bool(stateful), bool(unroll)
        self.supports_masking = True
        self.states = None
        self._expected_batch_size = None
        state_size = cell.state_size
        if not isinstance(state_size, (list, tuple, int, np.integer)):
            raise ValueError(f"{describe(self)}: state_size must be an integer or a list/tuple of integers (one "
                             f"per state), got {state_size!r}")
        self.single_state = isinstance(state_size, (int, np.integer))
        self.state_size = [int(state_size)] if self.single_state else list(state_size)

    def __getattr__(self, item):
        """``layer.kernel`` and the cell's other weights, as before the cell existed."""
        cell = self.__dict__.get("cell")
        params = cell.__dict__.get("_params") if cell is not None else None
        if params is not None and item in params:
            return params[item]
        return Layer.__getattr__(self, item)

    # -- shapes and weights ------------------------------------------------------------------
    def check_input_shape(self, input_shape) -> None:
        if not _is_shape(input_shape) or len(input_shape) < 3:
            raise ValueError(f"{describe(self)} expects inputs of rank 3 or more (batch, timesteps, features), got "
                             f"shape {input_shape}")
        if self.cell.__dict__.get("built") and isinstance(self.cell, Layer):
            self.cell.check_input_shape((input_shape[0],) + tuple(input_shape[2:]))

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, length = sequences_shape[0], sequences_shape[1]
        states = []
        for size in self.state_size:
            if isinstance(size, (list, tuple)):
                states.append([(batch, s) for s in size])
            else:
                states.append((batch, size))
        out_size = getattr(self.cell, "output_size", None)
        if out_size is None:
            out_size = self.state_size[0]
        out = (batch, length, out_size) if self.return_sequences else (batch, out_size)
        return [out, *states] if self.return_state else out

    def compute_mask(self, inputs, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None for _ in self.state_size]
        return output_mask

    def build(self, sequences_shape, initial_state_shape=None) -> None:
        step_shape = (sequences_shape[0],) + tuple(sequences_shape[2:])
        if isinstance(self.cell, Layer) and not self.cell.built:
            self.cell._build_once(step_shape)
        if isinstance(self.cell, Layer):  # Keras's variable paths: <rnn>/<cell>/<weight>
            for layer in self.cell._flatten_layers():
                for key, p in layer._params.items():
                    if p.name == f"{layer.name}/{key}":
                        p.name = f"{self.name}/{layer.name}/{key}"
        if self.stateful and sequences_shape[0] is not None:
            if self.states is not None:
                self.reset_state()
            else:
                self._create_state_variables(sequences_shape[0])

    # -- states ------------------------------------------------------------------------------
    def _create_state_variables(self, batch_size) -> None:
        self.states = [_as_tensor(s, self.dtype).detach() for s in flatten(self.get_initial_state(batch_size))]
        self._expected_batch_size = int(batch_size)

    def get_initial_state(self, batch_size):
        fn = getattr(self.cell, "get_initial_state", None)
        if fn is None:
            return [zeros_state(batch_size, d, self.dtype) for d in self.state_size]
        state = fn(batch_size=batch_size)
        return list(state) if _is_nested(state) else [state]

    def reset_states(self) -> None:
        self.reset_state()

    def reset_state(self) -> None:
        """Zero the states of a stateful layer (Keras 3)."""
        if self.states is not None:
            self.states = [Tensor._wrap(s.xp.zeros_like(s.data)) for s in self.states]

    # -- running -----------------------------------------------------------------------------
    def call(self, sequences, initial_state=None, mask=None, training=False):
        if self.unroll and sequences.shape[1] is None:  # pragma: no cover - eager shapes are known
            raise ValueError(f"{describe(self)}: cannot unroll an RNN whose time dimension is undefined")
        batch = sequences.shape[0]
        if initial_state is None:
            if self.stateful:
                if self.states is None:
                    self._create_state_variables(batch)
                initial_state = pack_as(self.get_initial_state(1), list(self.states))
            else:
                initial_state = self.get_initial_state(batch)
        if self.stateful and self._expected_batch_size is not None and batch != self._expected_batch_size:
            raise ValueError(f"{describe(self)}: if an RNN is stateful, the batch size of the input sequences must "
                             f"be the same as the batch size of the initial state.\n- Expected batch size: "
                             f"{self._expected_batch_size}\n- Received batch size: {batch}")
        if not _is_nested(initial_state):
            initial_state = [initial_state]
        initial_state = map_structure(lambda s: _as_tensor(s, self.dtype), list(initial_state))
        m = _mask_array(mask) if mask is not None else None
        self._reset_dropout_masks(self.cell)
        try:
            result = self._fused_loop(sequences, initial_state, m, training)
            if result is None:
                result = self._loop(sequences, initial_state, m, training)
        finally:
            self._reset_dropout_masks(self.cell)
        last, outputs, states = result
        if self.stateful:
            self.states = [s.detach() for s in flatten(states)]
        out = outputs() if self.return_sequences else last
        return [out, *states] if self.return_state else out

    def _reset_dropout_masks(self, cell) -> None:
        if isinstance(cell, DropoutRNNCell):
            cell.reset_dropout_mask()
            cell.reset_recurrent_dropout_mask()
        if isinstance(cell, StackedRNNCells):
            for c in cell.cells:
                self._reset_dropout_masks(c)

    def _fused_loop(self, sequences, initial_state, mask, training):
        """``(last output, () -> all outputs, final states)`` from a fused op, or None (the step loop)."""
        return None

    def _loop(self, sequences, initial_state, mask, training):
        """Keras's ``backend.rnn``: the cell at every step; masked steps keep the previous states and output."""
        steps = sequences.shape[1]
        order = range(steps - 1, -1, -1) if self.go_backwards else range(steps)
        states = initial_state
        prev_out = None
        outputs = []
        for t in order:
            out, new_states = call_cell(self.cell, sequences[:, t], states, training)
            if not _is_nested(new_states):
                new_states = [new_states]
            if mask is not None:
                keep = mask[:, t]
                if prev_out is None or self.zero_output_for_mask:
                    fallback = Tensor._wrap(out.xp.zeros(out.shape, dtype=out.dtype))
                else:
                    fallback = prev_out
                out = _select(keep, out, fallback)
                new_states = pack_as(new_states, [_select(keep, n, o) for n, o in
                                                  zip(flatten(new_states), flatten(states))])
            states, prev_out = new_states, out
            if self.return_sequences:
                outputs.append(out)
        return prev_out, (lambda: ops.stack(outputs, axis=1)), list(states)

    def get_config(self) -> dict:
        return {**super().get_config(), "return_sequences": self.return_sequences,
                "return_state": self.return_state, "go_backwards": self.go_backwards, "stateful": self.stateful,
                "unroll": self.unroll, "zero_output_for_mask": self.zero_output_for_mask,
                "cell": serialize_keras_object(self.cell)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "RNN":
        config = dict(config)
        cell = deserialize_keras_object(config.pop("cell"), custom_objects=custom_objects)
        return cls(cell, **config)


_CELL_ARGS = ("units", "activation", "recurrent_activation", "use_bias", "kernel_initializer",
              "recurrent_initializer", "bias_initializer", "kernel_regularizer", "recurrent_regularizer",
              "bias_regularizer", "kernel_constraint", "recurrent_constraint", "bias_constraint", "dropout",
              "recurrent_dropout")


def _delegate(name):
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's ``{name}``.")


class _CellRNN(RNN):
    """LSTM, GRU and SimpleRNN: an RNN of their own cell (named ``<kind>_cell``, as Keras), whose
    arguments they take and expose (``layer.units`` reads ``layer.cell.units``)."""

    _cell_class: type = SimpleRNNCell
    _cell_name = "simple_rnn_cell"

    def __init__(self, units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                 kernel_initializer="glorot_uniform", recurrent_initializer="orthogonal", bias_initializer="zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, recurrent_constraint=None, bias_constraint=None,
                 dropout=0.0, recurrent_dropout=0.0, seed=None, return_sequences=False, return_state=False,
                 go_backwards=False, stateful=False, unroll=False, use_cudnn="auto", zero_output_for_mask=False,
                 **kwargs):
        layer_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in Layer._COMMON}
        cell = self._cell_class(
            units, activation=activation, recurrent_activation=recurrent_activation, use_bias=use_bias,
            kernel_initializer=kernel_initializer, recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer, bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint, recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint, dropout=dropout, recurrent_dropout=recurrent_dropout, seed=seed,
            name=self._cell_name, dtype=layer_kwargs.get("dtype"), trainable=layer_kwargs.get("trainable", True),
            implementation=kwargs.pop("implementation", 2), **kwargs)
        super().__init__(cell, return_sequences=return_sequences, return_state=return_state,
                         go_backwards=go_backwards, stateful=stateful, unroll=unroll,
                         zero_output_for_mask=zero_output_for_mask,
                         activity_regularizer=activity_regularizer, **layer_kwargs)
        if use_cudnn not in ("auto", True, False):
            raise ValueError(f"{describe(self)}: use_cudnn must be 'auto', True or False, got {use_cudnn!r}")
        self.use_cudnn = use_cudnn

    def check_input_shape(self, input_shape) -> None:
        if not _is_shape(input_shape) or len(input_shape) != 3:
            raise ValueError(f"{describe(self)} expects inputs of rank 3 (batch, timesteps, features), got shape "
                             f"{tuple(input_shape)}")
        if input_shape[-1] is None:
            raise ValueError(f"{describe(self)}: the feature dimension must be known, got {tuple(input_shape)}")
        if self.cell.built and input_shape[-1] != self.cell.kernel.shape[0]:
            raise ValueError(f"{describe(self)} was built for {self.cell.kernel.shape[0]} features, got "
                             f"{input_shape[-1]} (input shape {tuple(input_shape)})")

    def _fused_inputs(self, sequences, training):
        """The projected inputs ``x W`` for a fused op, or None when the step loop must run (another
        cell class, other activations, per-gate recurrent dropout)."""
        cell = self.cell
        if type(cell) is not self._cell_class or not cell._standard():
            return None
        if training and 0.0 < cell.recurrent_dropout < 1.0:
            return None
        n, steps, features = sequences.shape
        x = sequences
        if training and 0.0 < cell.dropout < 1.0:
            dp = cell.get_dropout_mask(sequences[:, 0])
            x = x * (dp[0] if isinstance(dp, list) else dp).reshape((n, 1, features))
        return ops.matmul(x.reshape((n * steps, features)), cell.kernel).reshape((n, steps, -1))

    def _fused_outputs(self, h, mask):
        """``(last output, () -> all outputs)`` from the states ``h`` (batch, T, u) a fused op carried
        through a mask: as Keras's loop, a masked step repeats the previous output (zeros before the
        first kept step) or, with ``zero_output_for_mask``, outputs zeros."""
        if mask is None:
            return h[:, -1], (lambda: h)
        keep = mask[:, ::-1] if self.go_backwards else mask  # processing order
        if not self.zero_output_for_mask:
            keep = array_module(keep).cumsum(keep, axis=1) > 0
        zeros = Tensor._wrap(h.xp.zeros((), dtype=h.dtype))
        if not self.return_sequences:
            return ops.where(keep[:, -1:], h[:, -1], zeros), None
        out = ops.where(keep[:, :, None], h, zeros)
        return out[:, -1], (lambda: out)

    def get_config(self) -> dict:
        cfg = super().get_config()
        del cfg["cell"]
        cell_cfg = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            cell_cfg.pop(key, None)
        return {**cfg, **cell_cfg, "activity_regularizer": None}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "RNN":
        return cls(**config)


for _name in _CELL_ARGS + ("seed",):
    setattr(_CellRNN, _name, _delegate(_name))


class SimpleRNN(_CellRNN):
    """``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)`` over a sequence."""

    _cell_class = SimpleRNNCell
    _cell_name = "simple_rnn_cell"

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _fused_loop(self, sequences, initial_state, mask, training):
        projected = self._fused_inputs(sequences, training)
        if projected is None:
            return None
        cell = self.cell
        hs = simple_rnn_sequence(projected, cell.recurrent_kernel, initial_state[0], None, self.go_backwards, mask,
                                 bias=cell.bias if cell.use_bias else None)
        last = hs[:, -1]
        if mask is None:
            return last, (lambda: hs), [last]
        out_last, outputs = self._fused_outputs(hs if self.return_sequences else hs[:, -1:], mask)
        return out_last, outputs, [last]

    def get_config(self) -> dict:
        cfg = super().get_config()
        cfg.pop("seed")  # Keras 3's SimpleRNN leaves it out of its config too
        return cfg


class LSTM(_CellRNN):
    """Long short-term memory over a sequence (``LSTMCell``): states ``[h, c]``. Without a mask and
    with the default activations the whole pass is one fused op (``ops.lstm_sequence``)."""

    _cell_class = LSTMCell
    _cell_name = "lstm_cell"

    unit_forget_bias = _delegate("unit_forget_bias")

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, unit_forget_bias=unit_forget_bias, **kwargs)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _fused_loop(self, sequences, initial_state, mask, training):
        projected = self._fused_inputs(sequences, training)
        if projected is None:
            return None
        cell, u = self.cell, self.cell.units
        bias = cell.bias if cell.use_bias else None
        if mask is None and not self.return_sequences:  # only the last step: no (N, T, 2u) gradient of zeros
            last = lstm_last(projected, cell.recurrent_kernel, initial_state[0], initial_state[1], self.go_backwards,
                             bias=bias)
            h_last = last[:, :u]
            return h_last, None, [h_last, last[:, u:]]
        hc = ops.lstm_sequence(projected, cell.recurrent_kernel, initial_state[0], initial_state[1], None,
                               self.go_backwards, mask, bias=bias)
        last = hc[:, -1]
        h_last = last[:, :u]
        if mask is None:
            return h_last, (lambda: hc[:, :, :u]), [h_last, last[:, u:]]
        out_last, outputs = self._fused_outputs(hc[:, :, :u] if self.return_sequences else hc[:, -1:, :u], mask)
        return out_last, outputs, [h_last, last[:, u:]]


class GRU(_CellRNN):
    """Gated recurrent unit over a sequence (``GRUCell``). With the default activations (either
    ``reset_after``) the whole pass is one fused op (``ops.gru_sequence``)."""

    _cell_class = GRUCell
    _cell_name = "gru_cell"

    reset_after = _delegate("reset_after")

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, reset_after=reset_after, **kwargs)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _fused_loop(self, sequences, initial_state, mask, training):
        projected = self._fused_inputs(sequences, training)
        if projected is None:
            return None
        cell = self.cell
        if not cell.use_bias:
            b_in = b_rec = None
        elif cell.reset_after:
            b_in, b_rec = cell.bias[0], cell.bias[1]
        else:  # the whole bias goes with the inputs
            b_in, b_rec = cell.bias, None
        if mask is None and not self.return_sequences:  # only the last step: no (N, T, u) gradient of zeros
            last = gru_last(projected, cell.recurrent_kernel, b_rec, initial_state[0], self.go_backwards,
                            reset_after=cell.reset_after, bias=b_in)
            return last, None, [last]
        hs = ops.gru_sequence(projected, cell.recurrent_kernel, b_rec, initial_state[0], None, self.go_backwards, mask,
                              reset_after=cell.reset_after, bias=b_in)
        last = hs[:, -1]
        if mask is None:
            return last, (lambda: hs), [last]
        out_last, outputs = self._fused_outputs(hs if self.return_sequences else hs[:, -1:], mask)
        return out_last, outputs, [last]


class Bidirectional(Layer):
    """Runs a copy of ``layer`` forwards and another backwards over the sequence and merges their outputs
    (``merge_mode`` 'concat' (default), 'sum', 'mul', 'ave' or None for a list). As Keras, both are
    rebuilt from ``layer``'s config (named ``forward_<name>`` and ``backward_<name>``), masks reach both,
    and with ``return_sequences`` masked steps output zeros. Weights: forward's, then backward's."""

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(layer, Layer):
            raise ValueError(f"{describe(self)}: expects a keras.layers.Layer instance (an RNN), got {layer!r}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError(f"{describe(self)}: backward_layer must be a keras.layers.Layer instance, got "
                             f"{backward_layer!r}")
        if merge_mode not in ("concat", "sum", "mul", "ave", None):
            raise ValueError(f"{describe(self)}: merge_mode must be 'concat', 'sum', 'mul', 'ave' or None, "
                             f"got {merge_mode!r}")
        self.forward_layer = self._copy(layer, "forward_", go_backwards=None)
        if backward_layer is None:
            backward_layer = self._copy(layer, "backward_", go_backwards=True)
        self.backward_layer = backward_layer
        if self.forward_layer.go_backwards == self.backward_layer.go_backwards:
            raise ValueError(f"{describe(self)}: forward layer and backward layer should have different "
                             f"`go_backwards` values, got {self.forward_layer.go_backwards} for both")
        for attr in ("stateful", "return_sequences", "return_state"):
            a, b = getattr(self.forward_layer, attr, False), getattr(self.backward_layer, attr, False)
            if a != b:
                raise ValueError(f"{describe(self)}: forward layer and backward layer are expected to have the "
                                 f"same value for attribute {attr!r}, got {a!r} and {b!r}")
        for sub in (self.forward_layer, self.backward_layer):
            if getattr(sub, "zero_output_for_mask", None) is not None:
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.stateful = getattr(layer, "stateful", False)
        self.return_sequences, self.return_state = layer.return_sequences, layer.return_state
        self.supports_masking = True
        self._initial_weights = weights

    @staticmethod
    def _copy(layer, prefix, go_backwards):
        cfg = layer.get_config()
        name = layer.name[len(prefix):] if layer.name.startswith(prefix) else layer.name
        cfg["name"] = f"{prefix}{name}"
        if go_backwards is not None:
            cfg["go_backwards"] = go_backwards
        copy = type(layer).from_config(cfg)
        if hasattr(layer, "use_cudnn"):
            copy.use_cudnn = layer.use_cudnn
        return copy

    def check_input_shape(self, input_shape) -> None:
        self.forward_layer.check_input_shape(input_shape)

    def build(self, sequences_shape, initial_state_shape=None) -> None:
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub._build_once(sequences_shape)
        if self._initial_weights is not None:
            self.set_weights(self._initial_weights)
            self._initial_weights = None

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        out = self.forward_layer.compute_output_shape(sequences_shape)
        states = []
        if self.return_state:
            out, states = out[0], list(out[1:])
        if self.merge_mode == "concat":
            out = tuple(out[:-1]) + (None if out[-1] is None else 2 * out[-1],)
        elif self.merge_mode is None:
            out = [tuple(out), tuple(out)]
        if self.return_state:
            return (out if isinstance(out, list) else [tuple(out)]) + states + states
        return out

    def compute_mask(self, inputs, mask):
        if isinstance(mask, list):
            mask = mask[0]
        if self.return_sequences:
            output_mask = [mask, mask] if not self.merge_mode else mask
        else:
            output_mask = [None, None] if not self.merge_mode else None
        if self.return_state and self.states is not None:
            state_mask = [None for _ in self.states]
            return (output_mask if isinstance(output_mask, list) else [output_mask]) + state_mask * 2
        return output_mask

    @property
    def states(self):
        fwd, bwd = getattr(self.forward_layer, "states", None), getattr(self.backward_layer, "states", None)
        if fwd and bwd:
            return tuple(list(fwd) + list(bwd))
        return None

    def reset_states(self) -> None:
        self.reset_state()

    def reset_state(self) -> None:
        if not self.stateful:
            raise AttributeError("Layer must be stateful.")
        self.forward_layer.reset_state()
        self.backward_layer.reset_state()

    def call(self, sequences, initial_state=None, mask=None, training=None):
        kwargs = {"training": training}
        if mask is not None:
            kwargs["mask"] = mask
        fwd_state = bwd_state = None
        if initial_state is not None:
            half = len(initial_state) // 2
            fwd_state, bwd_state = list(initial_state[:half]), list(initial_state[half:])
        y = self.forward_layer(sequences, initial_state=fwd_state, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=bwd_state, **kwargs)
        states = []
        if self.return_state:
            states = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        if self.merge_mode == "concat":
            out = ops.concatenate([y, y_rev], axis=-1)
        elif self.merge_mode == "sum":
            out = y + y_rev
        elif self.merge_mode == "mul":
            out = y * y_rev
        elif self.merge_mode == "ave":
            out = (y + y_rev) * 0.5
        else:
            out = [y, y_rev]
        if self.return_state:
            return (out if isinstance(out, list) else [out]) + states
        return out

    def get_config(self) -> dict:
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": serialize_keras_object(self.forward_layer),
                "backward_layer": serialize_keras_object(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None) -> "Bidirectional":
        config = dict(config)
        config["layer"] = deserialize_keras_object(config["layer"], custom_objects=custom_objects)
        if config.get("backward_layer") is not None:
            config["backward_layer"] = deserialize_keras_object(config["backward_layer"],
                                                                custom_objects=custom_objects)
        return cls(**config)
