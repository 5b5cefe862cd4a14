"""The fused Numba recurrent kernels (kernels/cpu/recurrent.py) against the step-by-step NumPy path of
gradflow.ops.recurrent and against the float64 ``reference`` backend: LSTM, GRU (both reset rules)
and SimpleRNN, forward and backward, with step masks, go_backwards, odd sizes, float32 and float64."""
from __future__ import annotations

import numpy as np
import pytest

import gradflow as gf
from gradflow.ops import recurrent as rec

pytest.importorskip("numba")

KINDS = ("lstm", "gru", "gru_ra_false", "simple")
GATES = {"lstm": 4, "gru": 3, "gru_ra_false": 3, "simple": 1}


def _inputs(kind, n, t, u, dtype, seed=0, bias=False):
    rng = np.random.default_rng(seed)
    g = GATES[kind]
    arrays = {"xw": rng.normal(size=(n, t, g * u)), "U": rng.normal(size=(u, g * u)) * (0.6 / np.sqrt(u)),
              "h0": rng.normal(size=(n, u)) * 0.5}
    if bias:  # the input bias, added by the kernels as xw loads
        arrays["bias"] = rng.normal(size=(g * u,)) * 0.4
    if kind == "lstm":
        arrays["c0"] = rng.normal(size=(n, u)) * 0.5
    if kind == "gru":
        arrays["b"] = rng.normal(size=(g * u,)) * 0.3
    return {k: v.astype(dtype) for k, v in arrays.items()}, rng.normal(size=(n, t, (2 if kind == "lstm" else 1) * u))


def _run(kind, arrays, reverse, step_mask, gout):
    """Forward output and every input gradient, as float64 NumPy arrays."""
    ts = {k: gf.Tensor(v, requires_grad=True) for k, v in arrays.items()}
    bias = ts.get("bias")
    if kind == "lstm":
        y = rec.lstm_sequence(ts["xw"], ts["U"], ts["h0"], ts["c0"], None, reverse, step_mask, bias=bias)
    elif kind == "gru":
        y = rec.gru_sequence(ts["xw"], ts["U"], ts["b"], ts["h0"], None, reverse, step_mask, bias=bias)
    elif kind == "gru_ra_false":
        y = rec.gru_sequence(ts["xw"], ts["U"], None, ts["h0"], None, reverse, step_mask, reset_after=False,
                             bias=bias)
    else:
        y = rec.simple_rnn_sequence(ts["xw"], ts["U"], ts["h0"], None, reverse, step_mask, bias=bias)
    (y * gf.Tensor(gout.astype(y.dtype))).sum().backward()
    assert y.dtype == arrays["xw"].dtype
    for k, tensor in ts.items():
        assert tensor.grad is not None and tensor.grad.dtype == arrays[k].dtype, k
    return [np.asarray(y.numpy(), np.float64)] + [np.asarray(ts[k].grad.numpy(), np.float64) for k in sorted(ts)]


def _mask(n, t, seed):
    m = np.random.default_rng(seed).random((n, t)) > 0.35
    m[0, :] = False  # a row with every step masked
    return m


CASES = [  # n, t, u, reverse, masked
    (1, 1, 1, False, False), (3, 5, 7, False, True), (5, 4, 3, True, True), (9, 6, 5, True, False),
    (2, 7, 16, False, True), (11, 4, 19, True, True),
    (5, 6, 32, True, True), (10, 3, 64, False, True),  # lstm: units a multiple of the register tile
]


@pytest.mark.parametrize("kind", KINDS)
def test_fused_matches_step_path(kind, monkeypatch):
    for dtype, tol in ((np.float32, 2e-5), (np.float64, 1e-11)):
        for case, (n, t, u, reverse, masked) in enumerate(CASES):
            arrays, gout = _inputs(kind, n, t, u, dtype, seed=n + t, bias=case % 2 == 1)  # bias on and off
            step_mask = _mask(n, t, u) if masked else None
            assert rec._fused(arrays["xw"]) is not None
            fused = _run(kind, arrays, reverse, step_mask, gout)
            monkeypatch.setattr(gf.config, "kernels", "numpy")
            assert rec._fused(arrays["xw"]) is None
            plain = _run(kind, arrays, reverse, step_mask, gout)
            monkeypatch.setattr(gf.config, "kernels", "auto")
            for a, b in zip(fused, plain):
                scale = max(1.0, float(np.abs(b).max()))
                np.testing.assert_allclose(a, b, rtol=tol, atol=tol * scale, err_msg=f"{kind} {dtype} {n, t, u}")


@pytest.mark.parametrize("kind", KINDS)
def test_fused_matches_reference_backend(kind):
    n, t, u = 3, 5, 4
    arrays, gout = _inputs(kind, n, t, u, np.float32, seed=7, bias=True)
    step_mask = _mask(n, t, 3)
    fused = _run(kind, arrays, True, step_mask, gout)
    with gf.use_backend("reference"):
        ref = _run(kind, {k: v.astype(np.float64) for k, v in arrays.items()}, True, step_mask, gout)
    for a, b in zip(fused, ref):
        assert np.linalg.norm(a - b) <= 1e-5 * max(1.0, np.linalg.norm(b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_write_every_output(dtype):
    """The raw kernels fill outputs that start as NaN, for every kind (odd sizes: a block of rows not
    dividing n, units not a multiple of the vector width)."""
    from gradflow.kernels.cpu import recurrent as K

    n, t, u, rows = 11, 4, 19, 4
    blocks = -(-n // rows)
    for kind in KINDS:
        arrays, gout = _inputs(kind, n, t, u, dtype, seed=3)
        gout = np.ascontiguousarray(gout.astype(dtype))
        keep = _mask(n, t, 1).view(np.uint8)
        g = GATES[kind] * u
        xw, U, h0 = arrays["xw"], arrays["U"], arrays["h0"]
        Ut = np.ascontiguousarray(U.T)
        nan = lambda *shape: np.full(shape, np.nan, dtype)  # noqa: E731 - a local shorthand
        bias = (np.random.default_rng(5).normal(size=g) * 0.3).astype(dtype)
        dxw, dh0, parts, dbi, hpt = nan(n, t, g), nan(n, u), nan(blocks, u, g), nan(blocks, g), nan(n, t, u)
        if kind == "lstm":
            out, saved, dc0 = nan(n, t, 2 * u), nan(n, t, 5 * u), nan(n, u)
            K.lstm_forward(xw, bias, U, h0, arrays["c0"], keep, True, True, rows, out, saved, True)
            K.lstm_backward(gout, Ut, h0, arrays["c0"], keep, True, True, rows, out, saved, dxw, dh0, dc0, parts,
                            dbi, hpt, True)
            written = (out, saved, dxw, dh0, dc0, parts, dbi, hpt)
            h_prev = np.concatenate([out[:, ::-1, :u][:, 1:], h0[:, None]], axis=1)  # go_backwards: time order
        elif kind == "simple":
            out = nan(n, t, u)
            K.simple_rnn_forward(xw, bias, U, h0, keep, True, True, rows, out, True)
            K.simple_rnn_backward(gout, Ut, h0, keep, True, True, rows, out, dxw, dh0, parts, dbi, hpt, True)
            written = (out, dxw, dh0, parts, dbi, hpt)
            h_prev = np.concatenate([out[:, ::-1][:, 1:], h0[:, None]], axis=1)
        else:
            ra = kind == "gru"
            b = arrays["b"] if ra else np.zeros(g, dtype)
            out, saved, db = nan(n, t, u), nan(n, t, 4 * u), nan(blocks, g)
            K.gru_forward(xw, bias, U, b, ra, ra, h0, keep, True, False, rows, out, saved, True)
            no_drec, no_hpt = np.empty((0, 0, g), dtype), np.empty((0, 0, u), dtype)
            K.gru_backward(gout, Ut, ra, h0, keep, True, False, rows, out, saved, dxw, dh0, parts, db, dbi, no_drec,
                           no_hpt, True)
            written = (out, saved, dxw, dh0, parts, db, dbi)
            h_prev = np.concatenate([h0[:, None], out[:, :-1]], axis=1)
            if ra:  # dU left to one GEMM: the kernel writes every row of drec and hpt, and no partial
                drec, dbi2 = nan(n, t, g), nan(blocks, g)
                K.gru_backward(gout, Ut, ra, h0, keep, True, False, rows, out, saved, nan(n, t, g), nan(n, u),
                               np.empty((0, u, g), dtype), nan(blocks, g), dbi2, drec, hpt, True)
                written += (drec, dbi2, hpt)
                np.testing.assert_allclose(dbi2, dbi)
            else:
                hpt = h_prev
        for a in written:
            assert np.isfinite(a).all(), kind
        np.testing.assert_array_equal(hpt, h_prev)  # h_prev in input time order, exactly        np.testing.assert_allclose(dbi.sum(axis=0), dxw.sum(axis=(0, 1)), rtol=1e-4, atol=1e-4)


def test_fast_float32_tanh_and_sigmoid_error_is_bounded():
    """float32 gates use a rational tanh (no libm call, so LLVM vectorizes them): within 3e-7 of
    the true tanh / sigmoid over the whole range, exact limits, odd; float64 keeps libm's tanh."""
    from gradflow.kernels.cpu import recurrent as K

    x = np.concatenate([np.linspace(-12, 12, 200_001), [0.0, 1e-30, -1e-30, 5e-4, 30.0, -30.0, 1e30]])
    for dtype, tol in ((np.float32, 3e-7), (np.float64, 1e-15)):
        xs = x.astype(dtype)
        t, s = np.empty_like(xs), np.empty_like(xs)
        K.tanh_into(xs, t)
        K.sigmoid_into(xs, s)
        assert t.dtype == s.dtype == dtype
        exact = np.tanh(xs.astype(np.float64))
        assert np.abs(t - exact).max() <= tol
        assert np.abs(s - 0.5 * (1 + np.tanh(0.5 * xs.astype(np.float64)))).max() <= tol
        neg = np.empty_like(xs)
        K.tanh_into(-xs, neg)
        np.testing.assert_array_equal(neg, -t)  # odd
        assert t[-1] == 1.0 and s[-1] == 1.0 and t[-3] == 1.0 and t[-2] == -1.0
        assert np.abs(t[-6:-4] / xs[-6:-4] - 1).max() <= 1e-6  # tiny arguments: relative accuracy


@pytest.mark.parametrize("kind", KINDS)
def test_bias_argument_equals_bias_added_to_xw(kind):
    """``bias=b`` gives what ``xw + b`` gives, forward and backward (its gradient is dxw summed over
    batch and steps), in the fused kernels and in the step path."""
    n, t, u = 4, 5, 8
    arrays, gout = _inputs(kind, n, t, u, np.float64, seed=11, bias=True)
    with_bias = _run(kind, arrays, False, _mask(n, t, 2), gout)
    keys = sorted(arrays)
    b = keys.index("bias")
    plain = {k: (v + arrays["bias"] if k == "xw" else v) for k, v in arrays.items() if k != "bias"}
    added = _run(kind, plain, False, _mask(n, t, 2), gout)
    dxw = added[1 + sorted(plain).index("xw")]
    np.testing.assert_allclose(with_bias[1 + b], dxw.sum(axis=(0, 1)), rtol=1e-10, atol=1e-10)
    del with_bias[1 + b]
    for a, c in zip(with_bias, added):
        np.testing.assert_allclose(a, c, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kind", ["lstm", "gru", "gru_ra_false"])
def test_last_step_op_matches_sequence_last_step(kind, monkeypatch):
    """``lstm_last``/``gru_last`` (the layers without return_sequences; the kernels get a one-step
    output gradient) equal the full sequence's last step, forward and backward, fused and step path,
    float32 and float64, both directions, one step and several."""
    for kernels in ("auto", "numpy"):
        monkeypatch.setattr(gf.config, "kernels", kernels)
        for dtype, tol in ((np.float32, 2e-6), (np.float64, 1e-12)):
            for n, t, u, reverse in ((3, 5, 7, True), (10, 4, 32, False), (2, 1, 5, False)):
                arrays, gout = _inputs(kind, n, t, u, dtype, seed=n * t, bias=True)
                width = (2 if kind == "lstm" else 1) * u
                g_last = gout[:, -1, :width]
                results = []
                for last in (False, True):
                    ts = {k: gf.Tensor(v, requires_grad=True) for k, v in arrays.items()}
                    if kind == "lstm":
                        args = (ts["xw"], ts["U"], ts["h0"], ts["c0"])
                        y = rec.lstm_last(*args, reverse, bias=ts["bias"]) if last else \
                            rec.lstm_sequence(*args, None, reverse, bias=ts["bias"])[:, -1]
                    else:
                        ra = kind == "gru"
                        args = (ts["xw"], ts["U"], ts["b"] if ra else None, ts["h0"])
                        y = rec.gru_last(*args, reverse, reset_after=ra, bias=ts["bias"]) if last else \
                            rec.gru_sequence(*args, None, reverse, reset_after=ra, bias=ts["bias"])[:, -1]
                    assert y.shape == (n, width) and y.dtype == dtype
                    (y * gf.Tensor(g_last.astype(dtype))).sum().backward()
                    results.append([y.numpy()] + [ts[k].grad.numpy() for k in sorted(ts)])
                for a, b in zip(*results):
                    np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"{kind} {kernels} {dtype}")
