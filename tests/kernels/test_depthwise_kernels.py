"""Depthwise conv2d kernels (`numpy` and `numba`) against the float64 `reference`, and the op on them.

Odd shapes (batch 1, non-square kernels, 1 and 3+ channels), strides 1 and 2, 'same' and 'valid'
padding (uneven 'same' padding for even kernels), dilation 2, multiplier 1 and 2, float32 and
float64; every output is pre-filled with NaN so an unwritten element shows.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradflow as gf
from gradflow import config, dispatch
from gradflow.kernels import depthwise as D
from gradflow.kernels.cpu import depthwise as K
from gradflow.ops.nn import conv_padding

IMPLS = {
    "numpy": (D.numpy_forward, D.numpy_backward_input, D.numpy_backward_filter),
    "numba": (K.depthwise_conv2d_forward, K.depthwise_conv2d_backward_input, K.depthwise_conv2d_backward_filter),
}
TOL = {np.float32: 1e-5, np.float64: 1e-12}
# (N, H, W, C, KH, KW, M, stride, padding, dilation)
CASES = [
    (2, 7, 9, 5, 3, 3, 1, 1, "same", 1),
    (3, 8, 7, 3, 3, 2, 2, 2, "same", 1),
    (1, 10, 11, 4, 3, 3, 2, (1, 2), "same", 2),
    (2, 9, 9, 6, 5, 5, 1, 2, "valid", 1),
    (1, 6, 5, 1, 2, 2, 2, 1, "valid", (2, 1)),
    (2, 5, 6, 7, 1, 1, 1, 2, "same", 1),
]


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert np.isfinite(a).all(), "output has NaN/inf (an element was not written?)"
    n = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (n if n > 0 else 1.0))


def _geometry(case):
    N, H, W, C, KH, KW, M, s, pad, d = case
    stride = (s, s) if isinstance(s, int) else s
    dil = (d, d) if isinstance(d, int) else d
    return (N, H, W, C), (KH, KW, C, M), (stride, conv_padding(pad, (H, W), (KH, KW), stride, dil), dil)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(IMPLS))
def test_depthwise_kernels_match_reference(name, dtype, rng):
    fwd, bwd_in, bwd_w = IMPLS[name]
    for case in CASES:
        xs, ws, geo = _geometry(case)
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        y_ref = D.reference_forward(x, w, *geo)
        y = fwd(x, w, *geo, out=np.full(y_ref.shape, np.nan, dtype))
        assert y.dtype == dtype and rel_err(y, y_ref) < TOL[dtype], case
        assert rel_err(fwd(x, w, *geo), y_ref) < TOL[dtype], case
        dy = rng.standard_normal(y_ref.shape).astype(dtype)
        dx = bwd_in(dy, w, xs, *geo, out=np.full(xs, np.nan, dtype))
        assert dx.dtype == dtype and rel_err(dx, D.reference_backward_input(dy, w, xs, *geo)) < TOL[dtype], case
        dw = bwd_w(dy, x, ws, *geo, out=np.full(ws, np.nan, dtype))
        assert dw.dtype == dtype and rel_err(dw, D.reference_backward_filter(dy, x, ws, *geo)) < TOL[dtype], case


def test_reference_matches_the_definition_and_its_adjoints(rng):
    """The oracle against naive loops (forward) and the adjoint identities <dy, conv(x, w)> =
    <dx, x> = <dw, w> (both backward passes)."""
    for case in CASES[:3]:
        xs, ws, geo = _geometry(case)
        (sh, sw), ((top, _), (left, _)), (dh, dw_) = geo
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        y = D.reference_forward(x, w, *geo)
        N, OH, OW, CM = y.shape
        KH, KW, C, M = ws
        naive = np.zeros_like(y)
        for n, oh, ow, c, m, i, j in np.ndindex(N, OH, OW, C, M, KH, KW):
            h, v = oh * sh - top + i * dh, ow * sw - left + j * dw_
            if 0 <= h < xs[1] and 0 <= v < xs[2]:
                naive[n, oh, ow, c * M + m] += x[n, h, v, c] * w[i, j, c, m]
        np.testing.assert_allclose(y, naive, rtol=1e-12, atol=1e-12)
        dy = rng.standard_normal(y.shape)
        inner = float((dy * y).sum())
        assert np.isclose(float((D.reference_backward_input(dy, w, xs, *geo) * x).sum()), inner, rtol=1e-10)
        assert np.isclose(float((D.reference_backward_filter(dy, x, ws, *geo) * w).sum()), inner, rtol=1e-10)


def test_kernels_check_shapes_and_dtypes():
    x, w = np.zeros((1, 4, 4, 3), np.float32), np.zeros((3, 3, 3, 1), np.float32)
    geo = ((1, 1), ((0, 0), (0, 0)), (1, 1))
    with pytest.raises(ValueError, match="depthwise_conv2d_forward: x has 3 channels but w expects 2"):
        K.depthwise_conv2d_forward(x, np.zeros((3, 3, 2, 1), np.float32), *geo)
    with pytest.raises(TypeError, match="depthwise_conv2d_forward: expected float32 or float64"):
        K.depthwise_conv2d_forward(x.astype(np.int32), w, *geo)
    with pytest.raises(ValueError, match="depthwise_conv2d_backward_input: dy must have shape"):
        K.depthwise_conv2d_backward_input(np.zeros((1, 3, 3, 3), np.float32), w, x.shape, *geo)
    with pytest.raises(ValueError, match="out must be a writeable C-contiguous float32"):
        K.depthwise_conv2d_forward(x, w, *geo, out=np.zeros((1, 2, 2, 3), np.float64))


def test_op_uses_the_dispatched_kernel_and_every_implementation_agrees(monkeypatch, rng):
    """gradflow.ops.depthwise_conv2d (value and both gradients) is the same with each kernel set."""
    assert dispatch.available("depthwise_conv2d_forward") == ["numba", "numpy", "reference"]
    for op in D.OPS:  # CuPy arrays: the array-module code under both GPU names, as before the kernels
        assert {n: i.target for n, i in dispatch.implementations(op, "cuda").items()} == {
            "cuda": f"gradflow.kernels.depthwise:numpy_{op[17:]}", "vendor": f"gradflow.kernels.depthwise:numpy_{op[17:]}"}
    x0 = rng.standard_normal((2, 7, 6, 3)).astype(np.float32)
    w0 = rng.standard_normal((3, 3, 3, 2)).astype(np.float32)
    results = {}
    for name in ("numba", "numpy", "reference"):
        monkeypatch.setattr(config, "kernels", name)
        dispatch.reset()
        x, w = gf.Tensor(x0, requires_grad=True), gf.Tensor(w0, requires_grad=True)
        y = gf.ops.depthwise_conv2d(x, w, strides=2, padding="same")
        (y * y).sum().backward()
        results[name] = (y.data, x.grad, w.grad)
        assert dispatch.choose("depthwise_conv2d_forward")[0] == name
    for name in ("numba", "numpy"):
        for got, ref in zip(results[name], results["reference"]):
            assert got.dtype == np.float32 and rel_err(got, ref) < 1e-5


def test_op_keeps_half_precision_dtypes_computing_in_float32(rng):
    """float16 inputs (which the kernels do not take) run in float32 and come back as float16."""
    x0 = rng.standard_normal((1, 6, 5, 2)).astype(np.float16)
    w0 = rng.standard_normal((3, 3, 2, 2)).astype(np.float16)
    x, w = gf.Tensor(x0, requires_grad=True), gf.Tensor(w0, requires_grad=True)
    y = gf.ops.depthwise_conv2d(x, w, padding="same")
    y.sum().backward()
    assert y.dtype == x.grad.dtype == w.grad.dtype == np.float16
    geo = ((1, 1), ((1, 1), (1, 1)), (1, 1))
    ref = D.reference_forward(x0.astype(np.float64), w0.astype(np.float64), *geo)
    np.testing.assert_allclose(y.numpy().astype(np.float64), ref, rtol=2e-2, atol=2e-2)
