"""Differential cases of the attn worktree: attention and normalisation layers and ops against real
Keras on the same inputs and weights (values, dtypes, shapes, input and weight gradients through torch
autograd, get_config/from_config).

Loaded by path by tests/keras_coverage.py (``load_cases``)."""
import numpy as np
from keras_coverage import case, case_module

DIFF = case_module("_diff")
_close = DIFF.close
RNG = np.random.default_rng(17)
Q = RNG.normal(size=(2, 5, 6)).astype(np.float32)
V = RNG.normal(size=(2, 7, 6)).astype(np.float32)
AMASK = RNG.random((2, 5, 7)) > 0.3


def _layer_case(k, gf, make, inputs, calls):
    """Same weights on both sides; each ``calls`` kwargs: outputs, input and weight gradients equal; config."""
    DIFF.layer_with_keras_weights(k, gf, make, inputs, calls, RNG)


@case("layers", "MultiHeadAttention")
def multi_head_attention(k, gf):
    _layer_case(k, gf, lambda m: m.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4), [Q, V],
                [{}, {"use_causal_mask": True}, {"attention_mask": AMASK}])


@case("layers", "GroupQueryAttention")
def group_query_attention(k, gf):
    _layer_case(k, gf, lambda m: m.layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2),
                [Q, V], [{}, {"use_causal_mask": True}, {"attention_mask": AMASK}])


@case("layers", "LayerNormalization")
def layer_normalization_layer(k, gf):
    _layer_case(k, gf, lambda m: m.layers.LayerNormalization(epsilon=1e-6, gamma_initializer="random_normal",
                                                             beta_initializer="random_normal"), [Q], [{}])
    _layer_case(k, gf, lambda m: m.layers.LayerNormalization(axis=[1, 2]), [Q], [{}])


@case("layers", "RMSNormalization")
def rms_normalization_layer(k, gf):
    _layer_case(k, gf, lambda m: m.layers.RMSNormalization(), [Q], [{}])
    _layer_case(k, gf, lambda m: m.layers.RMSNormalization(axis=[1, 2], epsilon=1e-3), [Q], [{}])


def _op_case(k, gf, name, arrays, kwargs, diff):
    """``keras.ops.<name>`` and gradflow's on the same arrays: values, dtype, gradients of ``diff``."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    t = [torch.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    g = [gf.Tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    ty = getattr(k.ops, name)(*t, **kwargs)
    gy = getattr(gf.ops.nn, name)(*g, **kwargs)
    _close(gy, ty, f"{name}({sorted(kwargs)})")
    w = RNG.normal(size=tuple(ty.shape)).astype(np.float32)
    (ty * torch.tensor(w)).sum().backward()
    (gy * gf.Tensor(w)).sum().backward()
    for i in diff:
        _close(g[i].grad, t[i].grad, f"{name}({sorted(kwargs)}) gradient {i}", 2e-4, 2e-5)


@case("ops.nn", "dot_product_attention")
@case("ops", "dot_product_attention")
def dot_product_attention(k, gf):
    q = RNG.normal(size=(2, 5, 4, 3)).astype(np.float32)
    kv = RNG.normal(size=(2, 7, 2, 3)).astype(np.float32)
    v = RNG.normal(size=(2, 7, 2, 3)).astype(np.float32)
    bias = RNG.normal(size=(1, 4, 5, 7)).astype(np.float32)
    for kwargs in ({}, {"is_causal": True}, {"mask": RNG.random((2, 1, 5, 7)) > 0.3}, {"scale": 0.3}):
        _op_case(k, gf, "dot_product_attention", [q, kv, v], kwargs, (0, 1, 2))
    _op_case(k, gf, "dot_product_attention", [q, kv, v, bias], {}, (0, 1, 2, 3))


@case("ops.nn", "layer_normalization")
@case("ops", "layer_normalization")
def layer_normalization_op(k, gf):
    gamma, beta = RNG.normal(size=6).astype(np.float32), RNG.normal(size=6).astype(np.float32)
    _op_case(k, gf, "layer_normalization", [Q, gamma, beta], {"epsilon": 1e-5}, (0, 1, 2))
    _op_case(k, gf, "layer_normalization", [Q], {}, (0,))
    g2 = RNG.normal(size=(5, 6)).astype(np.float32)
    _op_case(k, gf, "layer_normalization", [Q, g2], {"axis": [1, 2]}, (0, 1))


@case("ops.nn", "rms_normalization")
@case("ops", "rms_normalization")
def rms_normalization_op(k, gf):
    scale = RNG.normal(size=6).astype(np.float32)
    _op_case(k, gf, "rms_normalization", [Q, scale], {"epsilon": 1e-5}, (0, 1))
    _op_case(k, gf, "rms_normalization", [Q], {}, (0,))
