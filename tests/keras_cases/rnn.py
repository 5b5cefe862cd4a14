"""Differential cases: the recurrent layers (SimpleRNN, LSTM, GRU) against real Keras on the same inputs and
weights: outputs and states, their dtypes and shapes, gradients of the inputs and weights, masks,
go_backwards, return_sequences/return_state, both GRU reset rules, get_config/from_config.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
import numpy as np
from keras_coverage import case

_RNG = np.random.default_rng(11)
_X = _RNG.normal(size=(3, 5, 4)).astype("float32")
_MASK = np.array([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)

#: (constructor kwargs, masked) per layer: the fused path (default activations) and the step loop
_VARIANTS = {
    "SimpleRNN": [({"return_sequences": True}, True), ({"go_backwards": True, "return_state": True}, False),
                  ({"activation": "relu"}, True), ({"use_bias": False, "return_sequences": True}, True)],
    "LSTM": [({"return_sequences": True, "return_state": True}, True), ({"go_backwards": True}, True),
             ({"recurrent_activation": "hard_sigmoid", "return_sequences": True}, False),
             ({"use_bias": False, "return_state": True}, True)],
    "GRU": [({"return_sequences": True}, True), ({"reset_after": False, "go_backwards": True,
                                                  "return_sequences": True}, True),
            ({"reset_after": False, "return_state": True}, False), ({"use_bias": False}, True),
            ({"use_bias": False, "reset_after": False, "return_sequences": True}, False)],
}


def _as_list(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _keras_run(k, layer, mask, gouts=None):
    import torch

    x = torch.tensor(_X, requires_grad=True)
    outs = _as_list(layer(x, mask=None if mask is None else torch.tensor(mask)))
    gouts = gouts or [_RNG.normal(size=tuple(o.shape)).astype("float32") for o in outs]
    sum(((o * torch.tensor(g)).sum() for o, g in zip(outs, gouts))).backward()
    grads = [x.grad.numpy()] + [w.value.grad.numpy() for w in layer.trainable_weights]
    return [o.detach().numpy() for o in outs], grads, gouts


def _gradflow_run(gf, layer, mask, gouts):
    x = gf.Tensor(_X, requires_grad=True)
    outs = _as_list(layer(x, mask=mask))
    total = None
    for o, g in zip(outs, gouts):
        term = (o * gf.Tensor(g)).sum()
        total = term if total is None else total + term
    total.backward()
    return [o.numpy() for o in outs], [x.grad.numpy()] + [w.grad.numpy() for w in layer.trainable_weights]


@case("layers", "SimpleRNN", "LSTM", "GRU")
def recurrent_layer(k, gf, name):
    """Same weights and inputs: equal outputs, states and gradients; configs round-trip and agree."""
    for kwargs, masked in _VARIANTS[name]:
        mask = _MASK if masked else None
        k_layer, g_layer = getattr(k.layers, name)(3, **kwargs), getattr(gf.layers, name)(3, **kwargs)
        k_layer.build(_X.shape)
        g_layer.build(_X.shape)
        # nonzero biases (Keras starts them at zeros): the fused kernels add the input bias themselves
        k_layer.set_weights([w + 0.2 * _RNG.normal(size=w.shape).astype("float32") for w in k_layer.get_weights()])
        g_layer.set_weights([np.asarray(w) for w in k_layer.get_weights()])
        k_outs, k_grads, gouts = _keras_run(k, k_layer, mask)
        g_outs, g_grads = _gradflow_run(gf, g_layer, mask, gouts)
        assert len(g_outs) == len(k_outs), (name, kwargs)
        for a, b in zip(g_outs + g_grads, k_outs + k_grads):
            assert a.shape == b.shape and a.dtype == b.dtype == np.float32, (name, kwargs, a.shape, b.shape, a.dtype)
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"{name}({kwargs}) masked={masked}")
        cfg = g_layer.get_config()
        assert type(g_layer).from_config(cfg).get_config() == cfg
        k_cfg = k_layer.get_config()
        for key in ("units", "activation", "return_sequences", "return_state", "go_backwards", "reset_after",
                    "use_bias", "dropout", "recurrent_dropout"):
            assert cfg.get(key) == k_cfg.get(key), (name, key, cfg.get(key), k_cfg.get(key))
