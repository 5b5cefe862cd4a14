"""The RNN API on the CuPy 14 stand-in: masked fused LSTM/GRU, the step loop, dropout, stateful,
TimeDistributed, Bidirectional and stacked cells keep their arrays on the device and match NumPy."""
import numpy as np

import gradflow as gf
from gradflow import layers as L
from gradflow.autograd.tensor import Tensor


def test_rnn_api_on_standin(cupy_standin):
    x = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")
    m = np.ones((3, 5), bool)
    m[1, 3:] = False
    m[2, :2] = False
    cpu = {}
    for name in ("LSTM", "GRU", "SimpleRNN"):
        layer = getattr(L, name)(3, return_sequences=True, return_state=True, dropout=0.3, recurrent_dropout=0.2, seed=1)
        layer(x)
        cpu[name] = (layer.get_weights(), [o.numpy() for o in layer(x, mask=m)])
    with gf.use_backend("cupy"):
        for name in ("LSTM", "GRU", "SimpleRNN"):
            layer = getattr(L, name)(3, return_sequences=True, return_state=True, dropout=0.3, recurrent_dropout=0.2, seed=1)
            xt = Tensor(cupy_standin.asarray(x), requires_grad=True)
            layer(xt)
            layer.set_weights(cpu[name][0])
            outs = layer(xt, mask=cupy_standin.asarray(m))
            for a, b in zip(outs, cpu[name][1]):
                assert isinstance(a.data, cupy_standin.ndarray)
                np.testing.assert_allclose(a.numpy(), b, rtol=1e-5, atol=1e-6)
            layer(xt, mask=cupy_standin.asarray(m), training=True)[0].sum().backward()
            assert isinstance(xt.grad.data, cupy_standin.ndarray)
        st = L.LSTM(2, stateful=True)
        st(cupy_standin.asarray(x))
        st(cupy_standin.asarray(x))
        st.reset_states()
        assert isinstance(st.states[0].data, cupy_standin.ndarray)
        td = L.TimeDistributed(L.Dense(2))(cupy_standin.asarray(x))
        bi = L.Bidirectional(L.LSTM(2, return_sequences=True))(cupy_standin.asarray(x), mask=cupy_standin.asarray(m))
        rnn = L.RNN([L.LSTMCell(2), L.GRUCell(2)])(cupy_standin.asarray(x), mask=cupy_standin.asarray(m))
        assert all(isinstance(t.data, cupy_standin.ndarray) for t in (td, bi, rnn))
