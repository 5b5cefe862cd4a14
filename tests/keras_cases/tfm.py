"""Differential cases of the tfm worktree: self-attention (``mha(x, x)``, the one-node projected path),
dropout on its hashed keep mask, and layer norm on N-D input, against real Keras on the same inputs and
weights (values, dtypes, shapes, input and weight gradients through torch autograd, configs).

Each case also runs the case registered for the same name before this module loaded (``attn``'s
cross-attention, ``layers``'s table rows), so the registry keeps the union.

Loaded by path by tests/keras_coverage.py (``load_cases``)."""
import numpy as np
from keras_coverage import CASES, case

RNG = np.random.default_rng(23)
X = RNG.normal(size=(2, 9, 6)).astype(np.float32)
SELF_MASK = RNG.random((2, 9, 9)) > 0.3


def _close(ours, theirs, what, rtol=2e-5, atol=2e-6):
    theirs = theirs.detach().cpu().numpy() if hasattr(theirs, "detach") else np.asarray(theirs)
    ours = ours.numpy() if hasattr(ours, "numpy") else np.asarray(ours)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (what, ours.shape, theirs.shape, ours.dtype,
                                                                       theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _self_attention_case(k, gf, make, calls):
    """``layer(x, x)`` on both sides with Keras's weights: output, ``x``'s and the weights' gradients."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    theirs, ours = make(k), make(gf)
    theirs(torch.tensor(X), torch.tensor(X))
    ours(gf.Tensor(X), gf.Tensor(X))
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    for kwargs in calls:
        tx, gx = torch.tensor(X, requires_grad=True), gf.Tensor(X, requires_grad=True)
        ty, gy = theirs(tx, tx, **kwargs), ours(gx, gx, **kwargs)
        w = RNG.normal(size=tuple(ty.shape)).astype(np.float32)
        for v in theirs.trainable_weights:
            v.value.grad = None
        (ty * torch.tensor(w)).sum().backward()
        (gy * gf.Tensor(w)).sum().backward()
        what = f"{type(ours).__name__}(x, x, {sorted(kwargs)})"
        _close(gy, ty, f"{what} output")
        _close(gx.grad, tx.grad, f"{what} input gradient", 2e-4, 2e-5)
        for a, b in zip(ours.trainable_weights, theirs.trainable_weights):
            _close(a.grad, b.value.grad, f"{what} gradient of {b.path}", 2e-4, 2e-5)
            a.grad = None


def _with_previous(namespace, name):
    """The case registered for ``name`` before this module (None if none)."""
    return CASES.get((namespace, name))


_PREV_MHA = _with_previous("layers", "MultiHeadAttention")
_PREV_GQA = _with_previous("layers", "GroupQueryAttention")
_PREV_DROPOUT = _with_previous("layers", "Dropout")
_PREV_LN = _with_previous("layers", "LayerNormalization")


@case("layers", "MultiHeadAttention")
def multi_head_self_attention(k, gf):
    if _PREV_MHA is not None:
        _PREV_MHA(k, gf)
    calls = [{}, {"use_causal_mask": True}, {"attention_mask": SELF_MASK}]
    _self_attention_case(k, gf, lambda m: m.layers.MultiHeadAttention(num_heads=2, key_dim=3, value_dim=4,
                                                                      output_shape=5), calls)
    _self_attention_case(k, gf, lambda m: m.layers.MultiHeadAttention(num_heads=3, key_dim=2, use_bias=False),
                         calls[:1])


@case("layers", "GroupQueryAttention")
def group_query_self_attention(k, gf):
    if _PREV_GQA is not None:
        _PREV_GQA(k, gf)
    _self_attention_case(k, gf, lambda m: m.layers.GroupQueryAttention(head_dim=3, num_query_heads=4,
                                                                       num_key_value_heads=2),
                         [{}, {"use_causal_mask": True}])


@case("layers", "Dropout")
def dropout_layer(k, gf):
    """Keras's and gradflow's masks differ (different generators): the kept fraction, the scale of the kept
    elements, the gradient equal to the mask, inference as identity, and the config."""
    if _PREV_DROPOUT is not None:
        _PREV_DROPOUT(k, gf)
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

    if _PREV_LN is not None:
        _PREV_LN(k, gf)
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
