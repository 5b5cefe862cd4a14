"""The RNN API against Keras 3 (PyTorch backend) on the same weights: the cells under ``layers.RNN``,
``StackedRNNCells``, a user's cell, LSTM/GRU/SimpleRNN with masks, ``go_backwards``, ``return_state``,
``initial_state`` and ``stateful``, Bidirectional with masks, TimeDistributed; outputs, states and the
gradients of the inputs and of every weight (Keras's through torch autograd). Also: a padded batch gives
the unpadded sequence's final state, the fused LSTM/GRU ops agree with the step loop, and configs
round-trip with Keras's keys."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L
from gradflow.autograd.tensor import Tensor

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

TOL = {"rtol": 2e-5, "atol": 2e-5}


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def _mask(batch, steps, lengths, left=False):
    m = np.zeros((batch, steps), dtype=bool)
    for i, n in enumerate(lengths):
        if left:
            m[i, steps - n:] = True
        else:
            m[i, :n] = True
    return m


def _flat(out):
    if isinstance(out, (list, tuple)):
        return [leaf for item in out for leaf in _flat(item)]
    return [out]


def _weights_for(outs, seed=5):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=tuple(o.shape)).astype("float32") for o in outs]


def run_keras(torch, layer, x, call_kwargs=None, build=True):
    """Outputs, d(loss)/dx and d(loss)/d(each trainable weight) of a Keras layer (torch autograd)."""
    call_kwargs = dict(call_kwargs or {})
    if build:
        layer(torch.tensor(x), **{k: (torch.tensor(v) if isinstance(v, np.ndarray) else v)
                                  for k, v in call_kwargs.items() if k == "mask"})
    xt = torch.tensor(x, requires_grad=True)
    kw = {k: ([torch.tensor(s) for s in v] if isinstance(v, list) else torch.tensor(v)) for k, v in call_kwargs.items()}
    outs = _flat(layer(xt, **kw))
    ws = _weights_for(outs)
    loss = sum((o * torch.tensor(w)).sum() for o, w in zip(outs, ws))
    params = [v.value for v in layer.trainable_weights]
    grads = torch.autograd.grad(loss, [xt] + params, allow_unused=True)
    as_np = [np.zeros(tuple(p.shape), "float32") if g is None else g.detach().numpy() for p, g in zip([xt] + params,
                                                                                                   grads)]
    return [o.detach().numpy() for o in outs], as_np


def run_gf(layer, x, call_kwargs=None):
    xt = Tensor(x, requires_grad=True)
    call_kwargs = dict(call_kwargs or {})
    outs = _flat(layer(xt, **call_kwargs))
    ws = _weights_for(outs)
    loss = None
    for o, w in zip(outs, ws):
        term = (o * Tensor(w)).sum()
        loss = term if loss is None else loss + term
    for p in layer.trainable_weights:
        p.grad = None
    loss.backward()
    grads = [xt.grad.numpy()] + [np.zeros(p.shape, "float32") if p.grad is None else p.grad.numpy()
                                 for p in layer.trainable_weights]
    return [o.numpy() for o in outs], grads


def compare(real_keras, make, x, call_kwargs=None, tol=TOL):
    import torch

    k_layer, g_layer = make(real_keras), make(gf)
    k_layer(torch.tensor(x))
    g_layer(x)
    assert [tuple(w.shape) for w in g_layer.weights] == [tuple(w.shape) for w in k_layer.weights]
    g_layer.set_weights([np.asarray(w) for w in k_layer.get_weights()])
    k_out, k_grads = run_keras(torch, k_layer, x, call_kwargs, build=False)
    g_out, g_grads = run_gf(g_layer, x, call_kwargs)
    assert len(g_out) == len(k_out)
    for a, b in zip(g_out, k_out):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, **tol)
    assert len(g_grads) == len(k_grads)
    for a, b in zip(g_grads, k_grads):
        np.testing.assert_allclose(a, b, **tol)
    return g_layer, k_layer


# -- cells under RNN, stacked cells ------------------------------------------------------------
CELL_CASES = [
    (lambda k: k.layers.RNN(k.layers.SimpleRNNCell(4)), {}),
    (lambda k: k.layers.RNN(k.layers.SimpleRNNCell(3, activation="relu"), return_sequences=True,
                            return_state=True), {}),
    (lambda k: k.layers.RNN(k.layers.LSTMCell(3), return_sequences=True, return_state=True), {}),
    (lambda k: k.layers.RNN(k.layers.LSTMCell(3, unit_forget_bias=False, use_bias=False), go_backwards=True), {}),
    (lambda k: k.layers.RNN(k.layers.GRUCell(3), return_state=True, go_backwards=True,
                            return_sequences=True), {}),
    (lambda k: k.layers.RNN(k.layers.GRUCell(2, reset_after=False, activation="relu")), {}),
    (lambda k: k.layers.RNN(k.layers.StackedRNNCells([k.layers.LSTMCell(3), k.layers.GRUCell(2)]),
                            return_state=True), {}),
    (lambda k: k.layers.RNN([k.layers.SimpleRNNCell(3), k.layers.LSTMCell(2)], return_sequences=True,
                            unroll=True), {}),
]


@pytest.mark.parametrize("case", range(len(CELL_CASES)))
def test_cells_under_rnn_same_as_keras(real_keras, case):
    make, kwargs = CELL_CASES[case]
    compare(real_keras, make, _x((2, 5, 3)), kwargs)


# -- LSTM/GRU/SimpleRNN: fused path, masks, states ---------------------------------------------
LAYER_CASES = [
    ("LSTM", {"units": 3, "return_sequences": True, "go_backwards": True}, False),
    ("GRU", {"units": 3, "return_state": True}, False),
    ("GRU", {"units": 2, "reset_after": False, "return_sequences": True}, False),
    ("SimpleRNN", {"units": 3, "return_state": True, "return_sequences": True}, False),
    ("LSTM", {"units": 3, "return_sequences": True, "return_state": True}, True),
    ("LSTM", {"units": 2, "go_backwards": True}, True),
    ("GRU", {"units": 3, "return_sequences": True, "go_backwards": True, "return_state": True}, True),
    ("GRU", {"units": 2}, True),
    ("SimpleRNN", {"units": 3, "return_sequences": True, "zero_output_for_mask": True}, True),
    ("LSTM", {"units": 2, "return_sequences": True, "zero_output_for_mask": True, "return_state": True}, True),
]


@pytest.mark.parametrize("case", range(len(LAYER_CASES)))
def test_recurrent_layers_same_as_keras(real_keras, case):
    name, kwargs, masked = LAYER_CASES[case]
    x = _x((3, 6, 4))
    call = {"mask": _mask(3, 6, [6, 4, 2]) | _mask(3, 6, [0, 0, 1], left=True)} if masked else {}
    compare(real_keras, lambda k: getattr(k.layers, name)(**kwargs), x, call)


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
def test_initial_state_same_as_keras(real_keras, name):
    n_states = 2 if name == "LSTM" else 1
    states = [_x((2, 3), seed=7 + i) for i in range(n_states)]
    compare(real_keras, lambda k: getattr(k.layers, name)(3, return_state=True, return_sequences=True),
            _x((2, 4, 5)), {"initial_state": states, "mask": _mask(2, 4, [4, 2])})


# -- masks: padded == unpadded -----------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: L.LSTM(4, return_state=True),
    lambda: L.GRU(4, return_state=True),
    lambda: L.SimpleRNN(4, return_state=True),
    lambda: L.RNN(L.StackedRNNCells([L.LSTMCell(3), L.GRUCell(4)]), return_state=True),
])
def test_padded_batch_gives_unpadded_final_state(make):
    layer = make()
    seq = _x((1, 3, 5))
    unpadded = _flat(layer(seq))
    padded = np.concatenate([seq, _x((1, 4, 5), seed=9)], axis=1)  # right padding with garbage
    m = _mask(1, 7, [3])
    right = _flat(layer(padded, mask=m))
    left_padded = np.concatenate([_x((1, 2, 5), seed=3), seq], axis=1)  # left padding
    left = _flat(layer(left_padded, mask=_mask(1, 5, [3], left=True)))
    for a, b, c in zip(unpadded, right, left):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)


def test_compute_mask_follows_keras():
    m = _mask(2, 4, [4, 2])
    assert L.LSTM(2).compute_mask(None, m) is None
    assert L.LSTM(2, return_sequences=True).compute_mask(None, m) is m
    assert L.GRU(2, return_state=True).compute_mask(None, m) == [None, None]
    out = L.LSTM(2, return_state=True, return_sequences=True).compute_mask(None, m)
    assert out[0] is m and out[1:] == [None, None]
    assert L.Bidirectional(L.LSTM(2, return_sequences=True)).compute_mask(None, m) is m
    assert L.Bidirectional(L.LSTM(2, return_sequences=True), merge_mode=None).compute_mask(None, m) == [m, m]
    assert L.Bidirectional(L.LSTM(2)).compute_mask(None, m) is None
    assert L.TimeDistributed(L.Dense(2)).compute_mask(None, m) is m


@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("kwargs", [
    {"return_sequences": True, "return_state": True, "go_backwards": True},
    {"return_state": True},
    {"return_sequences": True, "zero_output_for_mask": True, "go_backwards": True},
])
@pytest.mark.parametrize("masked", [False, True])
def test_fused_path_equals_step_loop(name, kwargs, masked):
    """The fused ops (LSTM/GRU) and Keras's step loop (RNN of the same cell) agree on outputs, states
    and gradients, with and without a mask (left and right padding, a fully masked row)."""
    fused = getattr(L, name)(3, **kwargs)
    loop = L.RNN(getattr(L, name + "Cell")(3), **kwargs)
    x = _x((4, 5, 2))
    fused(x)
    loop(x)
    loop.set_weights(fused.get_weights())
    call = {"mask": _mask(4, 5, [5, 3, 0, 0]) | _mask(4, 5, [0, 0, 2, 0], left=True)} if masked else {}
    h0 = {"initial_state": [_x((4, 3), seed=4)] * (2 if name == "LSTM" else 1)}
    for extra in ({}, h0):
        f_out, f_grads = run_gf(fused, x, {**call, **extra})
        l_out, l_grads = run_gf(loop, x, {**call, **extra})
        for a, b in zip(f_out + f_grads, l_out + l_grads):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lstm_sequence", "gru_sequence"])
def test_fused_ops_with_step_mask_gradcheck(name):
    rng = np.random.default_rng(1)
    n, t, u = 2, 4, 3
    k = 4 if name == "lstm_sequence" else 3
    arrays = [rng.normal(size=(n, t, k * u)), rng.normal(size=(u, k * u)) * 0.5, rng.normal(size=(n, u))]
    step_mask = np.array([[True, False, True, False], [False, True, True, True]])
    if name == "lstm_sequence":
        arrays.append(rng.normal(size=(n, u)))

        def fn(xw, U, h0, c0):
            return gf.ops.lstm_sequence(xw, U, h0, c0, None, True, step_mask)
    else:
        arrays.insert(2, rng.normal(size=(k * u,)))

        def fn(xw, U, b, h0):
            return gf.ops.gru_sequence(xw, U, b, h0, None, False, step_mask)
    with gf.use_backend("reference"):
        assert gf.gradcheck(fn, arrays)


# -- Bidirectional -----------------------------------------------------------------------------
BIDI_CASES = [
    (lambda k: k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True)), True),
    (lambda k: k.layers.Bidirectional(k.layers.GRU(2, return_state=True), merge_mode="sum"), True),
    (lambda k: k.layers.Bidirectional(k.layers.SimpleRNN(2, return_sequences=True), merge_mode="ave"), True),
    (lambda k: k.layers.Bidirectional(k.layers.LSTM(2, return_sequences=True, return_state=True),
                                      merge_mode="mul"), False),
]


@pytest.mark.parametrize("case", range(len(BIDI_CASES)))
def test_bidirectional_same_as_keras(real_keras, case):
    make, masked = BIDI_CASES[case]
    call = {"mask": _mask(3, 5, [5, 3, 1])} if masked else {}
    g_layer, k_layer = compare(real_keras, make, _x((3, 5, 4)), call)
    assert g_layer.forward_layer.name.startswith("forward_") and g_layer.backward_layer.go_backwards


# -- stateful ----------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda k: k.layers.LSTM(3, stateful=True, return_sequences=True),
    lambda k: k.layers.GRU(2, stateful=True),
    lambda k: k.layers.RNN(k.layers.SimpleRNNCell(3), stateful=True),
])
def test_stateful_across_batches_same_as_keras(real_keras, make):
    import torch

    k_layer, g_layer = make(real_keras), make(gf)
    batches = [_x((2, 4, 3), seed=s) for s in (1, 2, 3)]
    k_layer(torch.tensor(batches[0]))
    g_layer(batches[0])
    g_layer.set_weights([np.asarray(w) for w in k_layer.get_weights()])
    k_layer.reset_state()
    g_layer.reset_states()
    for x in batches:
        np.testing.assert_allclose(g_layer(x).numpy(), k_layer(torch.tensor(x)).detach().numpy(), **TOL)
        assert len(g_layer.states) == len(k_layer.states)
        for a, b in zip(g_layer.states, k_layer.states):
            np.testing.assert_allclose(a.numpy(), np.asarray(b), **TOL)
    g_layer.reset_state()
    assert all(not np.any(s.numpy()) for s in g_layer.states)
    fresh = make(gf)
    fresh(batches[0])
    fresh.set_weights(g_layer.get_weights())
    fresh.reset_states()
    np.testing.assert_allclose(g_layer(batches[1]).numpy(), fresh(batches[1]).numpy(), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="batch size"):
        g_layer(_x((3, 4, 3)))


# -- a user's cell (the keras-io guide's way), nested state sizes ------------------------------
def _user_cell(k):
    class MinimalRNNCell(k.layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.state_size = [units, units]
            self.output_size = units

        def build(self, input_shape):
            self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="uniform", name="kernel")
            self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="uniform",
                                                    name="recurrent_kernel")

        def call(self, inputs, states):
            prev, acc = states
            h = k.ops.matmul(inputs, self.kernel)
            output = k.ops.tanh(h + k.ops.matmul(prev, self.recurrent_kernel))
            return output, [output, acc + output]

    return MinimalRNNCell


@pytest.mark.parametrize("stacked", [False, True])
def test_user_cell_same_as_keras(real_keras, stacked):
    def make(k):
        cell = _user_cell(k)(3)
        if stacked:
            return k.layers.RNN([cell, k.layers.LSTMCell(2)], return_state=True, return_sequences=True)
        return k.layers.RNN(cell, return_state=True)

    compare(real_keras, make, _x((2, 4, 3)), {"mask": _mask(2, 4, [4, 2])})


def test_rnn_in_functional_model_shapes():
    inp = gf.Input((None, 3))
    out, h, c = L.LSTM(4, return_state=True)(inp)
    seq = L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.GRUCell(5)]), return_sequences=True)(inp)
    td = L.TimeDistributed(L.Dense(2))(seq)
    model = gf.Model(inp, [out, h, c, td])
    assert tuple(out.shape) == (None, 4) and tuple(c.shape) == (None, 4)
    assert tuple(td.shape) == (None, None, 2)
    res = model.predict(_x((2, 5, 3)), verbose=0)
    assert [r.shape for r in res] == [(2, 4), (2, 4), (2, 4), (2, 5, 2)]


def test_dropout_masks_reused_across_steps_and_training_runs():
    layer = L.LSTM(3, dropout=0.5, recurrent_dropout=0.5, seed=1, return_sequences=True)
    x = _x((2, 4, 3))
    train = layer(x, training=True).numpy()
    infer = layer(x).numpy()
    assert train.shape == infer.shape and not np.allclose(train, infer)
    cell = L.SimpleRNNCell(3, dropout=0.5, seed=2)
    cell.build((None, 3))
    a = cell.get_dropout_mask(Tensor(x[:, 0]))
    assert cell.get_dropout_mask(Tensor(x[:, 1])) is a  # one mask per sequence
    cell.reset_dropout_mask()
    assert cell.get_dropout_mask(Tensor(x[:, 1])) is not a


# -- TimeDistributed ---------------------------------------------------------------------------
@pytest.mark.parametrize("make,shape", [
    (lambda k: k.layers.TimeDistributed(k.layers.Dense(3, activation="tanh")), (2, 4, 5)),
    (lambda k: k.layers.TimeDistributed(k.layers.Conv2D(2, 3, padding="same")), (2, 3, 6, 5, 2)),
    (lambda k: k.layers.TimeDistributed(k.layers.Dense(2, use_bias=False)), (2, 3, 4, 5)),
])
def test_time_distributed_same_as_keras(real_keras, make, shape):
    compare(real_keras, make, _x(shape))


def test_time_distributed_per_step_path_and_mask():
    class Scale(L.Layer):  # takes a mask: TimeDistributed hands it mask[:, t]
        def call(self, inputs, mask=None):
            return inputs * Tensor(mask.astype("float32")[:, None]) if mask is not None else inputs

    x = _x((2, 3, 4))
    m = _mask(2, 3, [3, 1])
    out = L.TimeDistributed(Scale())(x, mask=m).numpy()
    np.testing.assert_allclose(out, x * m[:, :, None])
    with pytest.raises(ValueError, match="incompatible"):
        L.TimeDistributed(Scale())(x, mask=np.ones((2, 5), bool))


# -- configs -----------------------------------------------------------------------------------
CONFIG_CASES = [
    lambda k: k.layers.SimpleRNNCell(3),
    lambda k: k.layers.LSTMCell(3, dropout=0.2),
    lambda k: k.layers.GRUCell(3, reset_after=False),
    lambda k: k.layers.StackedRNNCells([k.layers.LSTMCell(2), k.layers.GRUCell(3)]),
    lambda k: k.layers.RNN(k.layers.GRUCell(2), return_state=True, zero_output_for_mask=True),
    lambda k: k.layers.LSTM(3, return_sequences=True, stateful=False),
    lambda k: k.layers.GRU(3, go_backwards=True),
    lambda k: k.layers.SimpleRNN(3, unroll=True),
    lambda k: k.layers.Bidirectional(k.layers.LSTM(2, return_sequences=True), merge_mode="sum"),
    lambda k: k.layers.TimeDistributed(k.layers.Dense(3)),
]


def _keys(cfg):
    return set(cfg)


@pytest.mark.parametrize("case", range(len(CONFIG_CASES)))
def test_config_round_trip_with_keras_keys(real_keras, case):
    make = CONFIG_CASES[case]
    g_layer, k_layer = make(gf), make(real_keras)
    g_cfg, k_cfg = g_layer.get_config(), k_layer.get_config()
    assert _keys(g_cfg) == _keys(k_cfg)
    for key in ("layer", "cell", "backward_layer"):
        if key in k_cfg and k_cfg[key]["class_name"] != "Dense":  # Dense's config is not this file's
            assert _keys(g_cfg[key]["config"]) == _keys(k_cfg[key]["config"])
    if "cells" in k_cfg:
        assert [_keys(c["config"]) for c in g_cfg["cells"]] == [_keys(c["config"]) for c in k_cfg["cells"]]
    for key, value in k_cfg.items():
        if key not in ("name", "dtype", "layer", "cell", "cells", "backward_layer") and not isinstance(value, dict):
            assert g_cfg[key] == value, key
    clone = type(g_layer).from_config(g_cfg)
    assert clone.get_config() == g_cfg
    rebuilt = L.deserialize(L.serialize(g_layer))
    assert type(rebuilt) is type(g_layer)


@pytest.mark.parametrize("make", [
    lambda: L.LSTM(3, stateful=True, return_sequences=True),
    lambda: L.RNN(L.StackedRNNCells([L.LSTMCell(2), L.GRUCell(3)]), stateful=True, return_sequences=True),
    lambda: L.Bidirectional(L.GRU(2, stateful=True, return_sequences=True)),
])
def test_stateful_halves_equal_the_whole_sequence(make):
    layer = make()
    x = _x((2, 6, 3))
    layer(x[:, :3])
    layer.reset_states()
    first, second = layer(x[:, :3]).numpy(), layer(x[:, 3:]).numpy()
    layer.reset_states()
    whole = make()
    whole(x)
    whole.set_weights(layer.get_weights())
    whole.reset_states()
    expected = whole(x).numpy()
    if isinstance(layer, L.Bidirectional):  # only the forward half carries on
        expected, first, second = expected[..., :2], first[..., :2], second[..., :2]
    np.testing.assert_allclose(np.concatenate([first, second], axis=1), expected, rtol=1e-5, atol=1e-6)
    assert layer.states is not None
