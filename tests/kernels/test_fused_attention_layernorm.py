"""Fused attention and layer-norm kernels (`numpy` = kernels/vectorized_fused.py, `numba` =
kernels/cpu/attention.py and layernorm.py) against kernels/reference_fused.py.

Odd shapes (one query, more keys than a tile, grouped and single kv heads, head sizes 1 and 5),
float32 and float64, bias, boolean masks (a fully masked row too), causal, dropout from a seed and
from a given mask; every output poisoned with NaN before the call. The reference is checked against
a naive softmax-attention loop and finite differences on tiny cases.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradflow import dispatch
from gradflow.kernels import reference_fused as ref
from gradflow.kernels import vectorized_fused
from gradflow.kernels.cpu import attention as nb_attention
from gradflow.kernels.cpu import layernorm as nb_layernorm

IMPLS = {"numpy": (vectorized_fused, vectorized_fused), "numba": (nb_attention, nb_layernorm)}
TOL = {np.float32: 2e-5, np.float64: 1e-10}

# (B, T, S, N, K, H, Hv)
SHAPES = {
    "one_query": (1, 1, 7, 2, 2, 3, 3),
    "grouped_many_keys": (2, 19, 70, 4, 2, 5, 3),
    "single_kv_head": (3, 17, 17, 2, 1, 1, 4),
    # more query rows than BQ and keys than BK, head sizes off the SIMD panel width, big enough to run
    # on every thread
    "panels": (2, 30, 150, 3, 1, 33, 17),
    # keys past the Numba kernel's one-tile limit (BK_ONE): tiles of BK keys with the running rescale;
    # more query rows than its backward tile (BQ_BACKWARD)
    "keys_past_one_tile": (1, 53, 300, 2, 2, 4, 3),
}
OPTIONS = {
    "plain": {},
    "causal": {"is_causal": True},
    "bias": {"bias": "full"},
    "mask": {"mask": "some"},
    "mask_causal_empty_row": {"mask": "empty_row", "is_causal": True},
    "dropout_seed": {"dropout_rate": 0.3, "dropout_seed": 11},
    "dropout_mask_causal": {"dropout_rate": 0.25, "dropout_mask": True, "is_causal": True},
}


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert np.isfinite(a).all(), "output has NaN/inf (an element was not written?)"
    n = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (n if n > 0 else 1.0))


def _problem(shape, options, dtype, seed=0):
    B, T, S, N, K, H, Hv = shape
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(B, T, N, H)).astype(dtype), rng.normal(size=(B, S, K, H)).astype(dtype)
    v, do = rng.normal(size=(B, S, K, Hv)).astype(dtype), rng.normal(size=(B, T, N, Hv)).astype(dtype)
    kw = dict(options)
    if kw.get("bias") == "full":
        kw["bias"] = rng.normal(size=(1, N, T, S)).astype(dtype)
    if kw.get("mask") == "some":
        kw["mask"] = rng.random((B, 1, T, S)) > 0.3
    elif kw.get("mask") == "empty_row":
        mask = rng.random((T, S)) > 0.4
        mask[0] = False
        kw["mask"] = mask
    if kw.get("dropout_mask") is True:
        kw["dropout_mask"] = rng.random((B, N, T, S)) > kw["dropout_rate"]
    return q, k, v, do, kw


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("option", list(OPTIONS))
@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("impl", list(IMPLS))
def test_attention_matches_reference(impl, shape, option, dtype):
    mod = IMPLS[impl][0]
    q, k, v, do, kw = _problem(SHAPES[shape], OPTIONS[option], dtype)
    need_dbias = "bias" in kw
    want_o, want_lse = ref.attention_forward(q, k, v, **kw)
    want = ref.attention_backward(do, q, k, v, want_o, want_lse, need_dbias=need_dbias, **kw)
    out = np.full(want_o.shape, np.nan, dtype)
    o, lse = mod.attention_forward(q, k, v, out=out, **kw)
    assert o is out and o.dtype == dtype and lse.dtype == dtype
    assert rel_err(o, want_o) < TOL[dtype]
    finite = want_lse > ref.large_negative(dtype) / 2  # a fully masked row's lse is the large negative
    assert rel_err(lse[finite], want_lse[finite]) < TOL[dtype]
    outs = tuple(np.full(a.shape, np.nan, dtype) for a in (q, k, v))
    got = mod.attention_backward(do, q, k, v, o, lse, need_dbias=need_dbias, out=outs, **kw)
    for name, g, w in zip(("dq", "dk", "dv", "dbias"), got, want):
        if w is None:
            assert g is None
            continue
        assert g.dtype == dtype, name
        assert rel_err(g, w) < TOL[dtype], name


def test_attention_dropout_streams_agree():
    """The Numba kernel draws the keep mask from the seed exactly as the reference does."""
    q, k, v, _, kw = _problem(SHAPES["grouped_many_keys"], OPTIONS["dropout_seed"], np.float64)
    keep = ref.dropout_keep(kw["dropout_seed"], (2, 4, 19, 70), kw["dropout_rate"])
    o_seed, _ = nb_attention.attention_forward(q, k, v, **kw)
    o_mask, _ = nb_attention.attention_forward(q, k, v, dropout_rate=kw["dropout_rate"], dropout_mask=keep)
    np.testing.assert_allclose(o_seed, o_mask, rtol=1e-12, atol=1e-12)
    assert 0.6 < keep.mean() < 0.8


def test_fast_exp_within_two_ulp():
    """The vectorised float32 exp of the attention kernel: <= 2 ulp against float64's exp on the
    softmax range, 0 below log(FLT_MIN) and for -inf, NaN kept, exact 1 at 0."""
    x = np.concatenate([np.linspace(-90, 0.5, 200_001, dtype=np.float32),
                        np.float32([np.nan, -np.inf, 0.0, -87.3, -87.4, -1e-30, -1e-45])])
    bits = np.empty(x.size, np.int32)
    y = x.copy()
    nb_attention._exp_row(y, np.float32(0), y.size, bits, bits.view(np.float32), True)
    want = np.exp(x.astype(np.float64))
    normal = want >= np.finfo(np.float32).tiny
    assert (np.abs(y[normal] - want[normal]) <= 2 * np.spacing(want[normal].astype(np.float32))).all()
    assert (y[~normal & ~np.isnan(x)] == 0).all()
    assert np.isnan(y[np.isnan(x)]).all() and y[x == 0].tolist() == [1.0]
    shifted = np.float32([1.0, 2.0, 3.0])  # x - c with c a row maximum
    nb_attention._exp_row(shifted, np.float32(3), 3, bits, bits.view(np.float32), True)
    np.testing.assert_allclose(shifted, np.exp([-2.0, -1.0, 0.0]), rtol=3e-7)


def test_reference_attention_against_naive_loops():
    rng = np.random.default_rng(3)
    B, T, S, N, K, H = 1, 3, 4, 2, 1, 2
    q, k, v = rng.normal(size=(B, T, N, H)), rng.normal(size=(B, S, K, H)), rng.normal(size=(B, S, K, H))
    mask = np.array([[1, 1, 0, 1], [0, 0, 0, 0], [1, 0, 1, 1]], bool)
    o, _ = ref.attention_forward(q, k, v, mask=mask, scale=0.7)
    for n in range(N):
        for t in range(T):
            logits = np.array([0.7 * q[0, t, n] @ k[0, s, 0] if mask[t, s] else ref.large_negative(np.float32)
                               for s in range(S)])
            p = np.exp(logits - logits.max())
            p /= p.sum()
            np.testing.assert_allclose(o[0, t, n], p @ v[0, :, 0], rtol=1e-12)


def test_reference_attention_gradients_by_finite_differences():
    rng = np.random.default_rng(4)
    q, k, v = rng.normal(size=(1, 3, 2, 2)), rng.normal(size=(1, 4, 1, 2)), rng.normal(size=(1, 4, 1, 3))
    bias = rng.normal(size=(3, 4))
    do = rng.normal(size=(1, 3, 2, 3))
    kw = {"bias": bias, "is_causal": True}
    o, lse = ref.attention_forward(q, k, v, **kw)
    grads = ref.attention_backward(do, q, k, v, o, lse, need_dbias=True, **kw)
    for i, arr in enumerate((q, k, v, bias)):
        num = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            saved = arr[idx]
            arr[idx] = saved + 1e-6
            hi = (ref.attention_forward(q, k, v, **kw)[0] * do).sum()
            arr[idx] = saved - 1e-6
            lo = (ref.attention_forward(q, k, v, **kw)[0] * do).sum()
            arr[idx] = saved
            num[idx] = (hi - lo) / 2e-6
        got = grads[i] if i < 3 else grads[3].sum(axis=(0, 1))
        np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("affine", ["both", "gamma", "none"])
@pytest.mark.parametrize("rms", [False, True], ids=["layer", "rms"])
@pytest.mark.parametrize("shape", [(1, 3), (37, 13), (5, 130)])
@pytest.mark.parametrize("impl", list(IMPLS))
def test_layer_norm_matches_reference(impl, shape, rms, affine, dtype):
    mod = IMPLS[impl][1]
    rng = np.random.default_rng(1)
    x = (rng.normal(size=shape) * 3 + 1).astype(dtype)
    dy = rng.normal(size=shape).astype(dtype)
    gamma = rng.normal(size=shape[1]).astype(dtype) if affine != "none" else None
    beta = rng.normal(size=shape[1]).astype(dtype) if affine == "both" else None
    want_y, want_mean, want_inv = ref.layer_norm_forward(x, gamma, beta, 1e-3, rms=rms)
    want = ref.layer_norm_backward(dy, x, gamma, want_mean, want_inv, rms=rms)
    out = np.full(shape, np.nan, dtype)
    y, mean, inv = mod.layer_norm_forward(x, gamma, beta, 1e-3, rms=rms, out=out)
    assert y is out and y.dtype == mean.dtype == inv.dtype == dtype
    for got, w in ((y, want_y), (mean, want_mean), (inv, want_inv)):
        assert rel_err(got, w) < TOL[dtype]
    dx_out = np.full(shape, np.nan, dtype)
    got = mod.layer_norm_backward(dy, x, gamma, mean, inv, rms=rms, out=dx_out)
    assert got[0] is dx_out
    for g, w in zip(got, want):
        assert g.dtype == dtype and rel_err(g, w) < TOL[dtype]


def test_reference_layer_norm_gradient_by_finite_differences():
    rng = np.random.default_rng(5)
    x, gamma, dy = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(3, 4))
    for rms in (False, True):
        y, mean, inv = ref.layer_norm_forward(x, gamma, None, 1e-3, rms=rms)
        dx, dgamma, _ = ref.layer_norm_backward(dy, x, gamma, mean, inv, rms=rms)
        for arr, got in ((x, dx), (gamma, dgamma)):
            num = np.zeros_like(arr)
            for idx in np.ndindex(arr.shape):
                saved = arr[idx]
                arr[idx] = saved + 1e-6
                hi = (ref.layer_norm_forward(x, gamma, None, 1e-3, rms=rms)[0] * dy).sum()
                arr[idx] = saved - 1e-6
                lo = (ref.layer_norm_forward(x, gamma, None, 1e-3, rms=rms)[0] * dy).sum()
                arr[idx] = saved
                num[idx] = (hi - lo) / 2e-6
            np.testing.assert_allclose(got, num, rtol=1e-5, atol=1e-7)


def test_registered_in_dispatch():
    for op in ("attention_forward", "attention_backward", "layer_norm_forward", "layer_norm_backward"):
        assert {"reference", "numpy", "numba"} <= set(dispatch.available(op, "cpu")), op
        assert dispatch.choose(op, "cpu", "reference")[0] == "reference"
