"""The tfm worktree's differential cases (tests/keras_cases/tfm.py) against the installed Keras, and the
one-node self-attention path against the separate projections on the same weights."""
import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf

CASES = case_module("tfm")


@pytest.mark.parametrize("name", ["multi_head_self_attention", "group_query_self_attention", "dropout_layer",
                                  "layer_normalization_nd"])
def test_case_against_keras(real_keras, name):
    getattr(CASES, name)(real_keras, gf)


def _run(layer, x0, same, **kwargs):
    x = gf.Tensor(x0, requires_grad=True)
    other = x if same else x * 1.0  # another tensor: the separate-projection path
    out = layer(x, other, **kwargs)
    w = np.linspace(-1, 1, out.size).reshape(out.shape).astype(out.dtype)
    for p in layer.trainable_weights:
        p.grad = None
    (out * gf.Tensor(w)).sum().backward()
    return [out.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in layer.trainable_weights]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("make", [
    lambda dt: gf.layers.MultiHeadAttention(num_heads=2, key_dim=5, value_dim=3, output_shape=7, dtype=dt),
    lambda dt: gf.layers.MultiHeadAttention(num_heads=3, key_dim=4, use_bias=False, dtype=dt),
    lambda dt: gf.layers.GroupQueryAttention(head_dim=4, num_query_heads=4, num_key_value_heads=2, dtype=dt),
], ids=["mha", "mha_no_bias", "gqa"])
def test_self_attention_node_matches_separate_projections(make, dtype):
    rng = np.random.default_rng(0)
    layer = make(dtype)
    x0 = rng.standard_normal((3, 11, 6)).astype(dtype)
    tol = 2e-5 if dtype == "float32" else 1e-12
    for kwargs in ({}, {"use_causal_mask": True}, {"attention_mask": rng.random((3, 11, 11)) > 0.3}):
        fused, separate = _run(layer, x0, True, **kwargs), _run(layer, x0, False, **kwargs)
        assert fused[0].dtype == np.dtype(dtype) and fused[1].dtype == np.dtype(dtype)
        for a, b in zip(fused, separate):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def test_self_attention_dropout_repeats_with_the_layer_seed():
    x0 = np.random.default_rng(1).standard_normal((2, 5, 6)).astype(np.float32)
    a = gf.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=3)
    b = gf.layers.MultiHeadAttention(num_heads=2, key_dim=4, dropout=0.5, seed=3)
    a(gf.Tensor(x0), gf.Tensor(x0))
    b(gf.Tensor(x0), gf.Tensor(x0))
    b.set_weights(a.get_weights())
    a.__dict__.pop("_seed_rng", None)
    b.__dict__.pop("_seed_rng", None)
    fused, separate = _run(a, x0, True, training=True), _run(b, x0, False, training=True)
    for u, v in zip(fused, separate):
        np.testing.assert_allclose(u, v, rtol=2e-5, atol=2e-6)
