"""The table-built NumPy-shaped ops (``gradflow/ops/numpy_table.py``, issue 23): each row of the one
table in ``tests/keras_cases/ops_table.py`` (the coverage report's cases) compares values, dtypes and
gradients with real Keras (its gradient through torch autograd), and gradcheck checks every
differentiable row on the float64 ``reference`` backend."""

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf
from gradflow import ops
from gradflow.autograd import gradcheck

TABLE = case_module("ops_table")
CASES, CREATION = TABLE.CASES, TABLE.CREATION
X = TABLE.X


def _ids(cases):
    return [f"{c[0]}-{i}" for i, c in enumerate(cases)]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_values_dtypes_and_gradients_equal_keras(case, real_keras):
    TABLE.check_row(real_keras, gf, case)


@pytest.mark.parametrize("case", TABLE.LINALG, ids=_ids(TABLE.LINALG))
def test_linalg_values_dtypes_and_gradients_equal_keras(case, real_keras):
    TABLE.check_row(real_keras, gf, case, real_keras.ops.linalg, ops.linalg)


@pytest.mark.parametrize("name", ["qr", "svd", "eigh"])
def test_linalg_factorizations_rebuild_their_input(name, real_keras):
    TABLE._linalg(real_keras, gf, name)


GRAD_CASES = [c for c in CASES + TABLE.LINALG if c[3]]


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_gradcheck_on_the_reference_backend(case):
    name, args, kwargs, _ = case
    wrt = TABLE._differentiated(case)
    with gf.use_backend("reference"):
        # contiguous: gradcheck perturbs through reshape(-1), a copy for a transposed array
        inputs = [gf.Tensor(np.ascontiguousarray(args[i], np.float64), requires_grad=True) for i in wrt]

        def fn(*ts):
            full = list(args)
            for i, t in zip(wrt, ts):
                full[i] = t
            out = TABLE._flat(getattr(ops.linalg if name == "norm" else ops, name)(*full, **kwargs))
            return ops.concatenate([ops.reshape(o, (-1,)) for o in out if o.dtype.kind == "f"], axis=0)

        assert gradcheck(fn, inputs)


@pytest.mark.parametrize("case", CREATION, ids=_ids(CREATION))
def test_creation_values_and_dtypes_equal_keras(case, real_keras):
    TABLE.check_creation(real_keras, gf, case)


def test_stop_gradient_cuts_the_graph():
    x = gf.Tensor(X, requires_grad=True)
    y = (ops.stop_gradient(x) * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), X)
