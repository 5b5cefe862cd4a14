"""Differential cases (lstm worktree): the recurrent layers and Embedding on the shapes that take the new
kernel paths, against real Keras on the same inputs and weights.

* LSTM, GRU, SimpleRNN: 32 units (a multiple of the register tile, so the fused kernels' tiled
  ``h @ U``, ``dz @ U^T`` and dU GEMMs run), masked, go_backwards, return_sequences: outputs and every
  gradient.
* Embedding: the table's gradient through repeated and unused ids (the Numba row scatter-add).

Loaded by path by tests/keras_coverage.py, which runs ``rnn.py``'s and ``layers.py``'s cases for these
names too."""
import numpy as np
from keras_coverage import case

_RNG = np.random.default_rng(24)
_X = _RNG.normal(size=(3, 6, 5)).astype("float32")
_MASK = np.array([[1, 1, 0, 1, 0, 1], [0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1]], dtype=bool)


def _compare(k, gf, k_layer, g_layer, x, mask, what):
    import torch

    k_layer.build(x.shape)
    g_layer.build(x.shape)
    g_layer.set_weights([np.asarray(w) for w in k_layer.get_weights()])
    tx = torch.tensor(x, requires_grad=True)
    k_out = k_layer(tx, mask=None if mask is None else torch.tensor(mask))
    gout = _RNG.normal(size=tuple(k_out.shape)).astype("float32")
    (k_out * torch.tensor(gout)).sum().backward()
    k_vals = [k_out.detach().numpy(), tx.grad.numpy()] + [w.value.grad.numpy() for w in k_layer.trainable_weights]
    gx = gf.Tensor(x, requires_grad=True)
    g_out = g_layer(gx, mask=mask)
    (g_out * gf.Tensor(gout)).sum().backward()
    g_vals = [g_out.numpy(), gx.grad.numpy()] + [w.grad.numpy() for w in g_layer.trainable_weights]
    for a, b in zip(g_vals, k_vals):
        assert a.shape == b.shape and a.dtype == b.dtype == np.float32, (what, a.shape, b.shape, a.dtype, b.dtype)
        np.testing.assert_allclose(a, b, rtol=3e-5, atol=3e-6, err_msg=what)


@case("layers", "SimpleRNN", "LSTM", "GRU")
def recurrent_tiled(k, gf, name):
    """32 units (the tiled kernel paths) with a mask, go_backwards and sequences."""
    for kwargs in ({"return_sequences": True, "go_backwards": True}, {"return_sequences": False}):
        if name == "GRU":
            kwargs = {**kwargs, "reset_after": not kwargs["return_sequences"]}
        _compare(k, gf, getattr(k.layers, name)(32, **kwargs), getattr(gf.layers, name)(32, **kwargs), _X, _MASK,
                 f"{name}(32, {kwargs})")


@case("layers", "Embedding")
def embedding_scatter(k, gf):
    """The gradient of the table through repeated and unused ids."""
    import torch
    ids = _RNG.integers(0, 40, (4, 30)).astype("int32")
    ids[0, :5] = 3  # a hot row
    k_layer, g_layer = k.layers.Embedding(50, 8), gf.layers.Embedding(50, 8)
    k_layer.build(ids.shape)
    g_layer.build(ids.shape)
    g_layer.set_weights([np.asarray(w) for w in k_layer.get_weights()])
    gout = _RNG.normal(size=ids.shape + (8,)).astype("float32")
    (k_layer(torch.tensor(ids)) * torch.tensor(gout)).sum().backward()
    (g_layer(ids) * gf.Tensor(gout)).sum().backward()
    want = k_layer.embeddings.value.grad.numpy()
    got = g_layer.embeddings.grad.numpy()
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
