"""The wt-ops additions to keras.ops (tests/keras_cases/ops_more.py's tables) run on the CuPy backend (the
stand-in limited to CuPy 14's API) and agree with the NumPy backend: values and gradients."""

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf

MORE = case_module("ops_more")
#: host-side by design (Python loops over NumPy, or answers without arrays); the FFTs: the stand-in has no
#: ``cupy.fft`` (CuPy itself has it, with NumPy's names)
_HOST = {"fft", "fft2", "ifft2", "rfft", "irfft", "stft", "istft", "ctc_decode", "lu_factor", "nanquantile", "nanpercentile", "nanmedian", "ndim", "view_as_real",
         "view_as_complex", "conv", "depthwise_conv", "max_pool", "average_pool"}
ROWS = [(t, r) for t in ("NUMPY", "CORE", "NN", "LINALG") for r in MORE.TABLES[t] if r[0] not in _HOST]


def _convert(a, to):
    if isinstance(a, np.ndarray):
        return to(a)
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], np.ndarray):
        return type(a)(to(v) for v in a)
    return a


def _run(row, ns, to, tensor):
    name, args, kwargs = row[:3]
    wrt = MORE.differentiated(row)
    inputs = []
    leaves = []
    for i, a in enumerate(args):
        a = _convert(a, to)
        if i in wrt:
            if isinstance(a, (list, tuple)):
                a = type(a)(tensor(v) for v in a)
                leaves += list(a)
            else:
                a = tensor(a)
                leaves.append(a)
        inputs.append(a)
    kwargs = {k: _convert(v, to) for k, v in kwargs.items()}
    out = MORE._flat(getattr(ns, name)(*inputs, **kwargs))
    floats = [o for o in out if isinstance(o, gf.Tensor) and o.dtype.kind == "f"]
    if leaves and floats:
        gf.ops.sum(gf.ops.concatenate([gf.ops.reshape(gf.ops.nan_to_num(o), (-1,)) for o in floats], 0)).backward()
    return out, [leaf.grad for leaf in leaves]


@pytest.mark.parametrize("row", ROWS, ids=[f"{r[1][0]}-{i}" for i, r in enumerate(ROWS)])
def test_ops_more_on_the_cupy_backend(cupy_standin, row):
    table, case = row
    ns = MORE.namespaces(None, gf, table)[1] or gf.ops
    want, want_grads = _run(case, ns, lambda a: a, lambda a: gf.Tensor(a, requires_grad=True))
    with gf.use_backend("cupy"):
        import cupy

        got, got_grads = _run(case, ns, cupy.asarray, lambda a: gf.Tensor(a, requires_grad=True))
        host = [cupy.asnumpy(g.data) if isinstance(g, gf.Tensor) else g for g in got]
        host_grads = [None if g is None else cupy.asnumpy(g.data) for g in got_grads]
    for g, w in zip(host, want):
        w = w.numpy() if isinstance(w, gf.Tensor) else w
        if case[0] not in MORE.SPEC_ONLY:
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-5, atol=1e-5, equal_nan=True)
    for g, w in zip(host_grads, want_grads):
        assert (g is None) == (w is None)
        if w is not None:
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-5)
