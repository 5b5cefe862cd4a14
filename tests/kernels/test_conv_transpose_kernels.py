"""conv2d_transpose_forward (bias + ReLU epilogue) in `numpy` and `numba` against the float64 `reference`,
and the op and layers on it (issue 24).

Odd shapes (batch 1, non-square kernels, 1 and odd channel counts), strides 1, 2 and (2, 3), 'same'
and 'valid', dilation 2, with and without bias and ReLU, float32 and float64; every output is
pre-filled with NaN so an unwritten element shows. The reference is checked against naive loops.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradflow as gf
from gradflow import config, dispatch
from gradflow.kernels import conv_transpose as T
from gradflow.kernels.cpu import conv2d as C
from gradflow.kernels.cpu import conv_transpose as K
from gradflow.ops.nn import conv_padding, conv_transpose_output_size

IMPLS = {"numpy": T.numpy_forward, "numba": K.conv2d_transpose_forward}
TOL = {np.float32: 1e-5, np.float64: 1e-12}
# (N, H, W, C, KH, KW, F, stride, padding, dilation, bias, activation)
CASES = [
    (2, 4, 5, 3, 3, 3, 5, 2, "same", 1, True, "relu"),
    (1, 3, 3, 1, 2, 3, 1, (2, 3), "valid", 1, True, None),
    (3, 5, 4, 4, 3, 3, 8, 1, "same", 1, False, "relu"),
    (2, 3, 4, 2, 3, 2, 3, 2, "valid", 2, False, None),
    (1, 2, 2, 3, 1, 1, 32, 2, "same", 1, True, "relu"),
    # filters a multiple of 8 and stride > 1: the stride-phase gather kernel (no col2im)
    (2, 3, 5, 3, 3, 3, 8, 2, "same", 1, True, "relu"),
    (1, 5, 4, 4, 3, 2, 16, 3, "valid", 1, False, None),
    (2, 4, 3, 5, 1, 1, 8, 2, "same", 1, True, None),
    (1, 3, 3, 2, 3, 3, 32, (2, 3), "valid", 2, False, "relu"),
    (1, 4, 4, 3, 5, 4, 24, (3, 2), "same", (2, 3), True, "relu"),
    (2, 7, 7, 8, 3, 3, 32, 2, "same", 1, True, "relu"),
]


def rel_err(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape, f"shape {a.shape} != {b.shape}"
    assert np.isfinite(a).all(), "output has NaN/inf (an element was not written?)"
    n = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (n if n > 0 else 1.0))


def _geometry(case):
    N, H, W, C, KH, KW, F, s, pad, d = case[:10]
    stride = (s, s) if isinstance(s, int) else s
    dil = (d, d) if isinstance(d, int) else d
    out_hw = tuple(conv_transpose_output_size(n, k, st, pad, dl) for n, k, st, dl in zip((H, W), (KH, KW), stride, dil))
    pads = conv_padding(pad, out_hw, (KH, KW), stride, dil)
    return (N, H, W, C), (KH, KW, F, C), (N, *out_hw, F), (stride, pads, dil)


def _naive(x, w, b, y_shape, geo, relu):
    """y[n, oh*s - top + i*d, ow*s - left + j*d, f] += x[n, oh, ow, c] * w[i, j, f, c]: conv2d's adjoint."""
    (sh, sw), ((top, _), (left, _)), (dh, dw) = geo
    y = np.zeros(y_shape)
    N, H, W, C = x.shape
    KH, KW, F, _ = w.shape
    for n, oh, ow, i, j in np.ndindex(N, H, W, KH, KW):
        h, v = oh * sh - top + i * dh, ow * sw - left + j * dw
        if 0 <= h < y_shape[1] and 0 <= v < y_shape[2]:
            y[n, h, v] += w[i, j] @ x[n, oh, ow]
    y = y + (0 if b is None else b)
    return np.maximum(y, 0) if relu else y


def test_reference_is_the_adjoint_of_conv2d(rng):
    for case in CASES:
        xs, ws, ys, geo = _geometry(case)
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        b = rng.standard_normal(ws[2]) if case[10] else None
        y = T.reference_forward(x, w, b, ys, *geo, activation=case[11])
        assert rel_err(y, _naive(x, w, b, ys, geo, case[11] == "relu")) < 1e-12, case


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(IMPLS))
def test_conv_transpose_kernels_match_reference(name, dtype, rng):
    fwd = IMPLS[name]
    for case in CASES:
        xs, ws, ys, geo = _geometry(case)
        x, w = rng.standard_normal(xs).astype(dtype), rng.standard_normal(ws).astype(dtype)
        b = rng.standard_normal(ws[2]).astype(dtype) if case[10] else None
        want = T.reference_forward(x, w, b, ys, *geo, activation=case[11])
        y = fwd(x, w, b, ys, *geo, out=np.full(ys, np.nan, dtype), activation=case[11])
        assert y.dtype == dtype and rel_err(y, want) < TOL[dtype], case
        assert rel_err(fwd(x, w, b, ys, *geo, activation=case[11]), want) < TOL[dtype], case


def test_bad_activation_and_bias_shape_are_named():
    xs, ws, ys, geo = _geometry(CASES[0])
    x, w = np.ones(xs, np.float32), np.ones(ws, np.float32)
    for fwd in IMPLS.values():
        with pytest.raises(ValueError, match="conv2d_transpose_forward.*activation"):
            fwd(x, w, None, ys, *geo, activation="tanh")
        with pytest.raises(ValueError, match="conv2d_transpose_forward"):
            fwd(x, w, np.ones(ws[2] + 1, np.float32), ys, *geo)


@pytest.mark.parametrize("kernels", ["numba", "numpy"])
def test_op_with_relu_matches_reference_backend_gradients(kernels, monkeypatch, rng):
    """ops.conv2d_transpose(activation='relu') with bias: forward and the three gradients equal the
    unfused relu(conv2d_transpose(...)) on the reference kernels."""
    x = rng.standard_normal((2, 4, 5, 3)).astype(np.float32)
    w = rng.standard_normal((3, 3, 4, 3)).astype(np.float32)
    b = rng.standard_normal(4).astype(np.float32)
    g = None
    results = {}
    for impl, act in ((kernels, "relu"), ("reference", None)):
        monkeypatch.setattr(config, "kernels", impl)
        dispatch.reset()
        tx, tw, tb = (gf.Tensor(a, requires_grad=True) for a in (x, w, b))
        y = gf.ops.conv2d_transpose(tx, tw, tb, 2, "same", activation=act)
        assert dispatch.choose("conv2d_transpose_forward")[0] == impl
        y = y if act else gf.ops.relu(y)
        g = rng.standard_normal(y.shape).astype(np.float32) if g is None else g
        (y * gf.Tensor(g)).sum().backward()
        results[impl] = [y.numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy()]
    for got, want in zip(results[kernels], results["reference"]):
        assert got.dtype == np.float32 and rel_err(got, want) < 1e-5


@pytest.mark.parametrize("layer_cls, shape", [(gf.layers.Conv2DTranspose, (2, 3, 4, 2)),
                                               (gf.layers.Conv1DTranspose, (2, 5, 2))])
def test_relu_layers_equal_their_linear_twin_then_relu(layer_cls, shape, rng):
    x = rng.standard_normal(shape).astype(np.float32)
    relu = layer_cls(3, 3, strides=2, padding="same", activation="relu")
    linear = layer_cls(3, 3, strides=2, padding="same")
    relu.build(shape)
    linear.build(shape)
    linear.set_weights(relu.get_weights())
    np.testing.assert_allclose(relu(x).numpy(), np.maximum(linear(x).numpy(), 0), rtol=1e-6, atol=1e-6)


# (x shape, kernel shape (KH, KW, F, C), strides, padding, dilation): channels 8 take conv2d's SIMD tiles
BACKWARD_ROWS = [((2, 4, 5, 8), (3, 3, 5, 8), 2, "same", 1), ((1, 3, 4, 3), (3, 2, 8, 3), (2, 1), "same", 1),
                 ((2, 3, 3, 8), (3, 3, 16, 8), 1, "same", 2), ((1, 3, 4, 8), (2, 3, 3, 8), 2, "valid", 1)]


@pytest.mark.parametrize("need", ["both", "x", "w"])
@pytest.mark.parametrize("row", BACKWARD_ROWS)
def test_backward_pads_the_gradient_once_and_matches_reference(row, need, monkeypatch, rng):
    """Conv2DTranspose's dx (conv2d forward of g) and dw (backward-filter over g) both read g zero-padded:
    the op pads it once for both (no padded copy inside the numba kernels) and the gradients equal the
    reference backend's, whichever of them is asked for."""
    xs, ws, s, pad, d = row
    x, w = rng.standard_normal(xs).astype(np.float32), rng.standard_normal(ws).astype(np.float32)
    padded = []
    real = C._padded
    monkeypatch.setattr(C, "_padded", lambda a, *p: (padded.append(p[:4]) if any(p[:4]) else None, real(a, *p))[1])
    g, results = None, {}
    for impl in ("numba", "reference"):
        monkeypatch.setattr(config, "kernels", impl)
        dispatch.reset()
        tx, tw = gf.Tensor(x, requires_grad=need != "w"), gf.Tensor(w, requires_grad=need != "x")
        y = gf.ops.conv2d_transpose(tx, tw, None, s, pad, d)
        g = rng.standard_normal(y.shape).astype(np.float32) if g is None else g
        padded.clear()
        (y * gf.Tensor(g)).sum().backward()
        if impl == "numba" and need == "both":
            assert padded == [], f"g padded inside the kernels: {padded}"
        results[impl] = [t.grad.numpy() for t in (tx, tw) if t.requires_grad]
    for got, want in zip(results["numba"], results["reference"]):
        assert got.dtype == np.float32 and rel_err(got, want) < 1e-5
