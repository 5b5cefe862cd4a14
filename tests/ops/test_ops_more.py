"""The rest of ``keras.ops`` (issue 23, gradflow/ops/numpy_more.py, control_flow.py, fft.py, segment.py and
the nn/linalg additions): each row of ``tests/keras_cases/ops_more.py`` (the coverage report's cases)
compares values, dtypes and gradients with real Keras, and gradcheck checks every differentiable row on
the float64 ``reference`` backend."""

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf
from gradflow import ops
from gradflow.autograd import gradcheck

MORE = case_module("ops_more")
ROWS = [(ns, row) for ns, rows in MORE.TABLES.items() for row in rows]


def _ids(rows):
    return [f"{r[1][0]}-{i}" for i, r in enumerate(rows)]


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_values_dtypes_and_gradients_equal_keras(row, real_keras):
    ns, case = row
    keras_ns, gf_ns = MORE.namespaces(real_keras, gf, ns)
    MORE.check_row(real_keras, gf, case, keras_ns, gf_ns, **MORE.TOLERANCES.get(ns, {}))


@pytest.mark.parametrize("row", MORE.CREATION, ids=[r[0] for r in MORE.CREATION])
def test_creation_values_and_dtypes_equal_keras(row, real_keras):
    MORE.check_creation(real_keras, gf, row)


@pytest.mark.parametrize("name", MORE.SPECIAL, ids=list(MORE.SPECIAL))
def test_special_cases_equal_keras(name, real_keras):
    MORE.SPECIAL[name](real_keras, gf)


def _grad_rows():
    out = []
    for ns, row in ROWS:
        if row[3] and row[0] not in MORE.NO_GRADCHECK:
            out.append((ns, row))
    return out + [("NUMPY", ("vander", (MORE.V,), {}, 1)), ("NUMPY", ("vander", (MORE.V,), {"N": 3}, 1))]


GRAD_ROWS = _grad_rows()


def _to64(a):
    if isinstance(a, np.ndarray) and a.dtype.kind == "f":
        return np.ascontiguousarray(a, np.float64)
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], np.ndarray):
        return type(a)(_to64(v) for v in a)
    return a


@pytest.mark.parametrize("row", GRAD_ROWS, ids=_ids(GRAD_ROWS))
def test_gradcheck_on_the_reference_backend(row):
    ns, (name, args, kwargs, n, *_) = row
    wrt = MORE.differentiated(row[1])
    gf_ns = MORE.namespaces(None, gf, ns)[1] or ops
    args = [_to64(a) for a in args]
    kwargs = {k: _to64(v) for k, v in kwargs.items()}
    with gf.use_backend("reference"):
        leaves, slots = [], []
        for i in wrt:
            if isinstance(args[i], (list, tuple)):
                for j, v in enumerate(args[i]):
                    leaves.append(gf.Tensor(v, requires_grad=True))
                    slots.append((i, j))
            else:
                leaves.append(gf.Tensor(args[i], requires_grad=True))
                slots.append((i, None))

        def fn(*ts):
            full = [list(a) if isinstance(a, (list, tuple)) else a for a in args]
            for (i, j), t in zip(slots, ts):
                if j is None:
                    full[i] = t
                else:
                    full[i][j] = t
            full = [tuple(f) if isinstance(a, tuple) else f for f, a in zip(full, args)]
            out = MORE._flat(getattr(gf_ns, name)(*full, **kwargs))
            return ops.concatenate([ops.reshape(o, (-1,)) for o in out if o.dtype.kind == "f"], axis=0)

        assert gradcheck(fn, leaves)


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_the_reference_backend_computes_the_same(row):
    """Every row also runs on the float64 ``reference`` backend (the oracle) and gives the NumPy backend's
    values (within float32's precision)."""
    ns, (name, args, kwargs, *_) = row
    gf_ns = MORE.namespaces(None, gf, ns)[1] or ops

    def run():
        return [np.asarray(o.numpy() if isinstance(o, gf.Tensor) else o)
                for o in MORE._flat(getattr(gf_ns, name)(*args, **kwargs))]

    want = run()
    with gf.use_backend("reference"):
        got = run()
    assert len(got) == len(want)
    if name in MORE.SPEC_ONLY:
        return
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-4, equal_nan=True)
