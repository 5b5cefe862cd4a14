"""Helpers for the layer tests: run a layer on a backend, compare the numpy and reference backends."""
import json

import numpy as np
import pytest

import gradflow as gf
from gradflow.layers import clear_session


def rel_err(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    d = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (d if d > 0 else 1.0))


def run_layer(backend, make, x, weights=None, training=False, grad_out=None, seed=9876):
    """Build ``make()`` on ``backend``, optionally set weights, run forward and backward.

    Returns (layer, y, dx, {weight name: grad}) as NumPy arrays; the backward pass contracts
    the output with ``grad_out`` (a fixed random array) so every element counts.
    """
    with gf.use_backend(backend) as be:
        layer = make()
        xt = gf.Tensor(np.asarray(x), dtype=be.default_dtype, requires_grad=True)
        if weights is not None:
            layer.build_from_shape((None,) + tuple(x.shape[1:]))
            layer.set_weights(weights)
        y = layer(xt, training=training)
        if grad_out is None:
            grad_out = np.random.default_rng(seed).standard_normal(y.shape)
        (y * gf.Tensor(grad_out, dtype=be.default_dtype)).sum().backward()
        grads = {p.name.split("/")[-1]: (None if p.grad is None else p.grad.numpy()) for p in layer.trainable_weights}
        return layer, y.numpy(), (None if xt.grad is None else xt.grad.numpy()), grads


def check_parity(make, x, training=False, tol=2e-5):
    """The same layer on the numpy backend (float32) and the reference backend (float64) agree."""
    ref_layer, y_ref, dx_ref, g_ref = run_layer("reference", make, x, training=training)
    weights = ref_layer.get_weights()
    _, y, dx, g = run_layer("numpy", make, x, weights=[w.astype(np.float32) for w in weights], training=training)
    assert y.dtype == np.float32 and y_ref.dtype == np.float64
    assert y.shape == y_ref.shape
    assert rel_err(y, y_ref) < tol, f"forward rel err {rel_err(y, y_ref)}"
    if dx_ref is not None:
        assert rel_err(dx, dx_ref) < tol, f"dx rel err {rel_err(dx, dx_ref)}"
    for name, gr in g_ref.items():
        assert rel_err(g[name], gr) < tol, f"d{name} rel err {rel_err(g[name], gr)}"
    return ref_layer, y_ref, dx_ref, g_ref


def gradcheck_layer(make, x, training=False, **kw):
    """``gradflow.gradcheck`` through the layer's input and every trainable weight (float64, reference)."""
    with gf.use_backend("reference"):
        layer = make()
        xt = gf.Tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
        layer(xt, training=training)  # build
        params = layer.trainable_weights
        return gf.gradcheck(lambda inp, *ps: layer(inp, training=training), [xt, *params], **kw)


def roundtrip(layer):
    """get_config -> JSON -> from_config gives an equal config."""
    cfg = layer.get_config()
    text = json.dumps(cfg)
    clone = type(layer).from_config(json.loads(text))
    assert clone.get_config() == cfg
    return clone


@pytest.fixture(autouse=True)
def _fresh_names():
    clear_session()
    yield


@pytest.fixture
def helpers():
    class H:
        pass

    h = H()
    h.rel_err, h.run_layer, h.check_parity = rel_err, run_layer, check_parity
    h.gradcheck_layer, h.roundtrip = gradcheck_layer, roundtrip
    return h
