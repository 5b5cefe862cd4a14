"""The spatial ops (gradflow/ops/spatial.py): gradients against finite differences on the float64
reference backend, the numpy backend against the reference one, the shapes Keras documents, and
the argument checks. Values against real Keras: tests/keras_cases/spatial.py (run below too)."""

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf
from gradflow.autograd import gradcheck

CASES = case_module("spatial")
IDS = [f"{row[0]}-{i}" for i, row in enumerate(CASES.OPS)]


@pytest.mark.parametrize("row", CASES.OPS, ids=IDS)
def test_gradients_against_finite_differences(row):
    name, args, kwargs, wrt = row
    op = getattr(gf.ops, name)
    with gf.use_backend("reference"):
        tensors = [gf.Tensor(args[i].astype(np.float64), requires_grad=True) for i in wrt]

        def fn(*ts):
            full = list(args)
            for i, t in zip(wrt, ts):
                full[i] = t
            return op(*full, **kwargs)

        assert gradcheck(fn, tensors)


@pytest.mark.parametrize("row", CASES.OPS, ids=IDS)
def test_numpy_backend_matches_reference(row):
    name, args, kwargs, _ = row
    op = getattr(gf.ops, name)
    with gf.use_backend("reference"):
        want = op(*[gf.Tensor(a.astype(np.float64)) if isinstance(a, np.ndarray) else a for a in args],
                  **kwargs).numpy()
    got = op(*args, **kwargs)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-5)


def test_fold_is_the_adjoint_of_unfold():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 7, 6))
    geom = {"kernel_size": (3, 2), "dilation": (2, 1), "padding": 1, "stride": (2, 1)}
    cols = gf.ops.unfold(x, **geom).numpy()
    c = rng.normal(size=cols.shape)
    back = gf.ops.fold(c, (7, 6), **geom).numpy()
    np.testing.assert_allclose((cols * c).sum(), (x * back).sum(), rtol=1e-10)
    t = gf.Tensor(c, requires_grad=True)
    (gf.ops.fold(t, (7, 6), **geom) * gf.Tensor(x)).sum().backward()
    np.testing.assert_allclose(t.grad.numpy(), cols, rtol=1e-12)


def test_shapes_keras_documents():
    assert gf.ops.conv_transpose(np.ones((1, 5, 5, 2)), np.ones((3, 3, 4, 2)), strides=2).shape == (1, 11, 11, 4)
    assert gf.ops.conv_transpose(np.ones((1, 5, 5, 2)), np.ones((3, 3, 4, 2)), strides=2,
                                 padding="same").shape == (1, 10, 10, 4)
    assert gf.ops.depth_to_space(np.ones((1, 2, 2, 12)), 2).shape == (1, 4, 4, 3)
    assert gf.ops.space_to_depth(np.ones((1, 4, 4, 3)), 2).shape == (1, 2, 2, 12)
    assert gf.ops.unfold(np.ones((1, 2, 4, 4)), kernel_size=2, stride=2).shape == (1, 8, 4)
    assert gf.ops.adaptive_max_pool(np.ones((2, 20, 16, 3)), 7).shape == (2, 7, 7, 3)
    assert gf.ops.nn.conv_transpose is gf.ops.conv_transpose and gf.ops.nn.fold is gf.ops.fold


@pytest.mark.parametrize("call,match", [
    (lambda: gf.ops.depth_to_space(np.ones((1, 2, 2, 12)), 1), "block_size"),
    (lambda: gf.ops.depth_to_space(np.ones((1, 2, 2, 6)), 2), "divisible"),
    (lambda: gf.ops.space_to_depth(np.ones((1, 3, 4, 2)), 2), "divisible"),
    (lambda: gf.ops.unfold(np.ones((2, 4, 4)), 2), "4D"),
    (lambda: gf.ops.fold(np.ones((1, 7, 4)), 4, 2), "divisible"),
    (lambda: gf.ops.conv_transpose(np.ones((1, 4, 2)), np.ones((3, 2, 5))), "channels"),
    (lambda: gf.ops.conv_transpose(np.ones((1, 4, 2)), np.ones((3, 2, 2)), padding="causal"), "padding"),
    (lambda: gf.ops.adaptive_average_pool(np.ones((1, 4, 2)), 0), "output_size"),
])
def test_bad_arguments_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_keras_cases_pass(real_keras):
    for row in CASES.OPS:
        CASES.check_op(real_keras, gf, row)
