"""What several case modules compare the same way, against real Keras (torch backend): arrays (values,
dtypes, shapes), a kernel op's output and input/kernel gradients over a table of rows, and a layer with
Keras's weights (outputs, input and weight gradients, config).

Loaded with ``case_module("_diff")`` (its name starts with ``_``: it registers no case of its own)."""
from __future__ import annotations

import numpy as np


def to_numpy(t):
    """A torch tensor, a gradflow Tensor or an array as a NumPy array."""
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def close(ours, theirs, what, rtol=2e-5, atol=2e-6):
    """Same shape, dtype and values (within ``rtol``/``atol``)."""
    ours, theirs = to_numpy(ours), to_numpy(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (what, ours.shape, theirs.shape, ours.dtype,
                                                                       theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def kernel_op_rows(k, keras_fn, gf_fn, rows, rng, gf, rtol=1e-4, atol=1e-4, grad_atol=1e-4):
    """``keras_fn(x, w, **kw)`` and ``gf_fn`` on the same float32 ``x``, ``w`` for each row ``(x shape,
    w shape, kw)``: output values, shape and dtype, and the gradients of ``sum(y * r)`` w.r.t. x and w."""
    import torch  # noqa: PLC0415 - Keras's gradient (torch backend), only when a case runs

    for xs, ws, kw in rows:
        x, w = rng.normal(size=xs).astype(np.float32), rng.normal(size=ws).astype(np.float32)
        gx, gw = gf.Tensor(x, requires_grad=True), gf.Tensor(w, requires_grad=True)
        tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
        got, want = gf_fn(gx, gw, **kw), keras_fn(tx, tw, **kw)
        want_np = k.ops.convert_to_numpy(want)
        assert got.shape == want_np.shape and got.dtype == want_np.dtype, (got.shape, want_np.shape, kw)
        np.testing.assert_allclose(got.numpy(), want_np, rtol=rtol, atol=atol)
        r = rng.normal(size=want_np.shape).astype(np.float32)
        (got * gf.Tensor(r)).sum().backward()
        (want * torch.tensor(r)).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=grad_atol)
        np.testing.assert_allclose(gw.grad.numpy(), tw.grad.numpy(), rtol=1e-4, atol=1e-4)


def layer_with_keras_weights(k, gf, make, inputs, calls, rng, repeat=1, config=True):
    """``make(k)`` and ``make(gf)`` with Keras's weights on the same ``inputs`` (each passed ``repeat`` times:
    ``repeat=2`` with one input is ``layer(x, x)``); for each ``calls`` kwargs: outputs, the inputs' and the
    weights' gradients; then (``config``) the config's keys and gradflow's own round trip."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    theirs, ours = make(k), make(gf)
    theirs(*[torch.tensor(a) for a in inputs] * repeat)
    ours(*[gf.Tensor(a) for a in inputs] * repeat)
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    for kwargs in calls:
        tin = [torch.tensor(a, requires_grad=True) for a in inputs]
        gin = [gf.Tensor(a, requires_grad=True) for a in inputs]
        ty, gy = theirs(*tin * repeat, **kwargs), ours(*gin * repeat, **kwargs)
        w = rng.normal(size=tuple(ty.shape)).astype(np.float32)
        for v in theirs.trainable_weights:
            v.value.grad = None
        (ty * torch.tensor(w)).sum().backward()
        (gy * gf.Tensor(w)).sum().backward()
        what = f"{type(ours).__name__}({kwargs})"
        close(gy, ty, f"{what} output")
        for a, b in zip(gin, tin):
            close(a.grad, b.grad, f"{what} input gradient", 2e-4, 2e-5)
        for a, b in zip(ours.trainable_weights, theirs.trainable_weights):
            close(a.grad, b.value.grad, f"{what} gradient of {b.path}", 2e-4, 2e-5)
            a.grad = None
    if config:
        cfg = ours.get_config()
        assert set(cfg) == set(theirs.get_config()), set(cfg) ^ set(theirs.get_config())
        assert type(ours).from_config(cfg).get_config() == cfg


def outputs_and_grads(k, gf, theirs, ours, x, rng, tol=(1e-4, 1e-5), grad_tol=(1e-4, 1e-5), weight_tol=(1e-4, 1e-4),
                      **call_kwargs):
    """A Keras layer or model and gradflow's twin (same weights) on float32 ``x``: the output (values, shape,
    dtype), and the gradients of ``sum(y * r)`` w.r.t. ``x`` and each trainable weight; ``*_tol`` are
    (rtol, atol)."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    tx, gx = torch.tensor(x, requires_grad=True), gf.Tensor(x, requires_grad=True)
    want, got = theirs(tx, **call_kwargs), ours(gx, **call_kwargs)
    want_np = k.ops.convert_to_numpy(want)
    assert got.shape == want_np.shape and got.dtype == want_np.dtype, (got.shape, want_np.shape, got.dtype)
    np.testing.assert_allclose(got.numpy(), want_np, rtol=tol[0], atol=tol[1])
    r = rng.normal(size=want_np.shape).astype(np.float32)
    (want * torch.tensor(r)).sum().backward()
    (got * gf.Tensor(r)).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=grad_tol[0], atol=grad_tol[1])
    for kv, gv in zip(theirs.trainable_weights, ours.trainable_weights):
        np.testing.assert_allclose(to_numpy(gv.grad), kv.value.grad.numpy(), rtol=weight_tol[0], atol=weight_tol[1],
                                   err_msg=kv.path)
