"""Differential cases of the tfm worktree: self-attention (``mha(x, x)``, the one-node projected path),
dropout on its hashed keep mask, and layer norm on N-D input, against real Keras on the same inputs and
weights (values, dtypes, shapes, input and weight gradients through torch autograd, configs).

The registry runs the other modules' cases for these names too (``attn``'s cross-attention, ``layers``'s
table rows).

Loaded by path by tests/keras_coverage.py (``load_cases``)."""
import numpy as np
from keras_coverage import case, case_module

DIFF = case_module("_diff")
_close = DIFF.close
RNG = np.random.default_rng(23)
X = RNG.normal(size=(2, 9, 6)).astype(np.float32)
SELF_MASK = RNG.random((2, 9, 9)) > 0.3


def _self_attention_case(k, gf, make, calls):
    """``layer(x, x)`` on both sides with Keras's weights: output, ``x``'s and the weights' gradients."""
    DIFF.layer_with_keras_weights(k, gf, make, [X], calls, RNG, repeat=2, config=False)


@case("layers", "MultiHeadAttention")
def multi_head_self_attention(k, gf):
    calls = [{}, {"use_causal_mask": True}, {"attention_mask": SELF_MASK}]
    _self_attention_case(k, gf, lambda m: m.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4,
                                                                      output_shape=5), calls)
    _self_attention_case(k, gf, lambda m: m.layers.MultiHeadAttention(num_heads=3, key_dim=2, use_bias=False),
                         calls[:1])


@case("layers", "GroupQueryAttention")
def group_query_self_attention(k, gf):
    _self_attention_case(k, gf, lambda m: m.layers.GroupQueryAttention(head_dim=3, num_query_heads=4,
                                                                       num_key_value_heads=2),
                         [{}, {"use_causal_mask": True}])


@case("layers", "Dropout")
def dropout_layer(k, gf):
    """Keras's and gradflow's masks differ (different generators): the kept fraction, the scale of the kept
    elements, the gradient equal to the mask, inference as identity, and the config."""
    x = np.ones((64, 50, 8), np.float32)
    theirs = k.layers.Dropout(0.3)(x, training=True)
    theirs = theirs.detach().cpu().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    gx = gf.Tensor(x, requires_grad=True)
    layer = gf.layers.Dropout(0.3)
    ours = layer(gx, training=True)
    ours.sum().backward()
    y = ours.numpy()
    assert y.dtype == theirs.dtype and y.shape == theirs.shape
    assert abs((y == 0).mean() - (theirs == 0).mean()) < 0.02
    np.testing.assert_allclose(y[y != 0], theirs[theirs != 0][0], rtol=1e-6)
    np.testing.assert_array_equal(gx.grad.numpy(), y)
    np.testing.assert_array_equal(layer(gf.Tensor(x), training=False).numpy(), x)
    assert layer.get_config().keys() == k.layers.Dropout(0.3).get_config().keys()


@case("layers", "LayerNormalization")
def layer_normalization_nd(k, gf):
    """Rank-4 input over the last axis and over the last two (flattened inside the kernel call)."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    x = RNG.normal(size=(2, 3, 4, 5)).astype(np.float32)
    for kwargs in ({"epsilon": 1e-6, "gamma_initializer": "random_normal", "beta_initializer": "random_normal"},
                   {"axis": [2, 3], "gamma_initializer": "random_normal"}):
        theirs, ours = k.layers.LayerNormalization(**kwargs), gf.layers.LayerNormalization(**kwargs)
        theirs(torch.tensor(x))
        ours(gf.Tensor(x))
        ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
        tx, gx = torch.tensor(x, requires_grad=True), gf.Tensor(x, requires_grad=True)
        ty, gy = theirs(tx), ours(gx)
        w = RNG.normal(size=x.shape).astype(np.float32)
        (ty * torch.tensor(w)).sum().backward()
        (gy * gf.Tensor(w)).sum().backward()
        _close(gy, ty, f"LayerNormalization({kwargs}) output")
        _close(gx.grad, tx.grad, f"LayerNormalization({kwargs}) input gradient", 2e-4, 2e-5)
        for a, b in zip(ours.trainable_weights, theirs.trainable_weights):
            _close(a.grad, b.value.grad, f"LayerNormalization({kwargs}) gradient of {b.path}", 2e-4, 2e-5)
