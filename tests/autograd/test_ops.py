"""Every differentiable op: forward against a plain float64 NumPy formula on both CPU backends,
backward with gradcheck, broadcasting edge cases drawn by hypothesis."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import gradflow as gf
from gradflow import ops

BACKENDS = ["numpy", "reference"]


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = np.linalg.norm(b)
    return float(np.linalg.norm(a - b) / (d if d > 0 else 1.0))


def positive(x):
    return np.abs(x) + 0.5


# name -> (gradflow function, numpy reference, input transform)
UNARY = {
    "neg": (lambda a: -a, lambda a: -a, None),
    "exp": (ops.exp, np.exp, None),
    "log": (ops.log, np.log, positive),
    "sqrt": (ops.sqrt, np.sqrt, positive),
    "abs": (ops.abs, np.abs, lambda x: x + np.sign(x) * 0.1),
    "tanh": (ops.tanh, np.tanh, None),
    "sigmoid": (ops.sigmoid, lambda a: 1 / (1 + np.exp(-a)), None),
    "relu": (ops.relu, lambda a: np.maximum(a, 0), lambda x: x + np.sign(x) * 0.1),
    "clip": (lambda a: ops.clip(a, -0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5),
             lambda x: np.where(np.abs(np.abs(x) - 0.5) < 0.05, x + 0.2, x)),
    "square": (ops.square, np.square, None),
    "pow3": (lambda a: a ** 3, lambda a: a ** 3, None),
    "softmax": (lambda a: ops.softmax(a, -1), lambda a: np.exp(a - a.max(-1, keepdims=True)) /
                np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True), None),
    "log_softmax": (lambda a: ops.log_softmax(a, -1),
                    lambda a: a - a.max(-1, keepdims=True) - np.log(np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True)), None),
    "sum_axis0": (lambda a: a.sum(0), lambda a: a.sum(0), None),
    "mean_keep": (lambda a: a.mean(-1, keepdims=True), lambda a: a.mean(-1, keepdims=True), None),
    "max_axis": (lambda a: a.max(-1), lambda a: a.max(-1), None),
    "min_all": (lambda a: a.min(), lambda a: a.min(), None),
    "var": (lambda a: a.var(0), lambda a: a.var(0), None),
    "std_ddof1": (lambda a: a.std(-1, ddof=1), lambda a: a.std(-1, ddof=1), None),
    "reshape": (lambda a: a.reshape(-1), lambda a: a.reshape(-1), None),
    "transpose": (lambda a: a.T, lambda a: a.T, None),
    "flatten": (lambda a: ops.flatten(a), lambda a: a.reshape(-1), None),
    "expand_squeeze": (lambda a: ops.squeeze(ops.expand_dims(a, 1), 1), lambda a: a, None),
    "pad": (lambda a: ops.pad(a, ((1, 0), (0, 2)), 0.5), lambda a: np.pad(a, ((1, 0), (0, 2)), constant_values=0.5), None),
    "getitem_basic": (lambda a: a[1:, ::2], lambda a: a[1:, ::2], None),
    "getitem_fancy": (lambda a: a[[0, 0, 2]], lambda a: a[[0, 0, 2]], None),
    "getitem_mask": (lambda a: a[a.data > 0], lambda a: a[a > 0], None),
}

BINARY = {
    "add": (lambda a, b: a + b, np.add, None),
    "sub": (lambda a, b: a - b, np.subtract, None),
    "mul": (lambda a, b: a * b, np.multiply, None),
    "div": (lambda a, b: a / b, np.divide, positive),
    "pow": (lambda a, b: a ** b, np.power, positive),
    "maximum": (ops.maximum, np.maximum, None),
    "minimum": (ops.minimum, np.minimum, None),
}


def fresh(shape, transform=None, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return transform(x) if transform else x


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_forward_matches_numpy(name, backend):
    fn, ref, tf = UNARY[name]
    x = fresh((3, 4), tf)
    with gf.use_backend(backend) as be:
        t = gf.tensor(x.astype(be.default_dtype))
        out = fn(t).numpy()
    expect = ref(x)
    tol = 1e-5 if backend == "numpy" else 1e-12
    assert out.shape == np.shape(expect)
    assert rel_err(out, expect) < tol


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_gradcheck(name):
    fn, _, tf = UNARY[name]
    with gf.use_backend("reference"):
        assert gf.gradcheck(fn, [fresh((3, 4), tf, seed=1)])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_forward_matches_numpy(name, backend):
    fn, ref, tf = BINARY[name]
    a, b = fresh((2, 3, 4), tf, 1), fresh((3, 1), tf, 2)
    with gf.use_backend(backend) as be:
        out = fn(gf.tensor(a.astype(be.default_dtype)), gf.tensor(b.astype(be.default_dtype))).numpy()
    assert rel_err(out, ref(a, b)) < (1e-5 if backend == "numpy" else 1e-12)


broadcast_pairs = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, min_side=1, max_side=3)


@settings(max_examples=25, deadline=None)
@given(shapes=broadcast_pairs, name=st.sampled_from(sorted(BINARY)))
def test_binary_gradcheck_broadcasting(shapes, name):
    """Broadcast-compatible shapes (size-1 dims, scalars, 0-d) reduce gradients back correctly."""
    fn, _, tf = BINARY[name]
    (sa, sb) = shapes.input_shapes
    a, b = fresh(sa, tf, 3), fresh(sb, tf, 4)
    if name in ("maximum", "minimum"):
        b = b + 0.3  # keep ties away from the finite-difference step
    with gf.use_backend("reference"):
        assert gf.gradcheck(fn, [a, b])


@settings(max_examples=15, deadline=None)
@given(shape=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
def test_python_scalars_keep_dtype_and_grad(shape):
    x = gf.tensor(fresh(shape).astype(np.float32), requires_grad=True)
    y = (2 * x + 1.5) / 3 - 0.25
    assert y.dtype == np.float32 and y.shape == shape
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(shape, 2 / 3), rtol=1e-6)


@pytest.mark.parametrize("sa,sb", [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)),
                                    ((5, 2, 3), (3, 4)), ((5, 2, 3), (1, 3, 4)), ((2, 1, 2, 3), (4, 3, 2))])
def test_matmul_batched_broadcast(sa, sb):
    a, b = fresh(sa, seed=5), fresh(sb, seed=6)
    out = gf.matmul(gf.tensor(a.astype(np.float32)), gf.tensor(b.astype(np.float32))).numpy()
    assert rel_err(out, np.matmul(a, b)) < 1e-5
    with gf.use_backend("reference"):
        assert gf.gradcheck(gf.matmul, [a, b])


def test_matmul_shape_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(4, 5\)"):
        gf.ones(2, 3) @ gf.ones(4, 5)


def test_where_and_comparisons():
    a = gf.tensor([1.0, -2.0, 3.0], requires_grad=True)
    b = gf.tensor([0.5, 0.5, 0.5], requires_grad=True)
    c = gf.where(a > 0, a, b)
    np.testing.assert_array_equal(c.numpy(), [1.0, 0.5, 3.0])
    c.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 0, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 1, 0])
    cmp = a >= 1.0
    assert cmp.dtype == bool and not cmp.requires_grad
    assert (a == a).numpy().all() and not (a != a).numpy().any()


def test_concatenate_and_stack_gradients():
    with gf.use_backend("reference"):
        assert gf.gradcheck(lambda a, b: gf.concatenate([a, b, a], axis=1), [fresh((2, 3)), fresh((2, 1))])
        assert gf.gradcheck(lambda a, b: gf.stack([a, b], axis=-1), [fresh((2, 3)), fresh((2, 3), seed=3)])


def test_fancy_index_scatter_adds_repeats():
    x = gf.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    x[[1, 1, 3], [0, 0, 2]].sum().backward()
    g = np.zeros((4, 3))
    g[1, 0] = 2
    g[3, 2] = 1
    np.testing.assert_array_equal(x.grad.numpy(), g)


def test_stable_softmax_on_huge_logits():
    x = gf.tensor([[1e4, 0.0, -1e4]], dtype=np.float32)
    s = gf.softmax(x).numpy()
    ls = gf.log_softmax(x).numpy()
    assert np.isfinite(s).all() and np.isfinite(ls[0, :2]).all()
    np.testing.assert_allclose(s, [[1, 0, 0]], atol=1e-6)


def test_shape_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"cannot add tensors of shapes \(3,\) and \(4,\)"):
        gf.ones(3) + gf.ones(4)
    with pytest.raises(ValueError, match=r"cannot multiply tensors of shapes \(2, 3\) and \(2,\)"):
        gf.ones(2, 3) * gf.ones(2)
    with pytest.raises(ValueError, match="cannot reshape"):
        gf.ones(2, 3).reshape(4)


def test_creation_functions():
    floatx = np.dtype(gf.backend.floatx())  # float32, or float64 on the reference backend
    assert gf.zeros(2, 3).shape == (2, 3) and gf.zeros((2, 3)).dtype == floatx
    assert gf.full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    assert gf.arange(5).dtype == np.int64 and gf.arange(0.0, 1.0, 0.25).dtype == floatx
    assert gf.ones(2, dtype=np.float16).dtype == np.float16
    assert gf.tensor([1, 2]).dtype.kind == "i"
    assert gf.tensor([1.0, 2.0], dtype="float64").dtype == np.float64
    r = gf.rand(1000).numpy()
    assert r.min() >= 0 and r.max() < 1 and abs(r.mean() - 0.5) < 0.05
    with pytest.raises(TypeError, match="floating-point"):
        gf.tensor([1, 2], requires_grad=True)


def test_float16_ops_run():
    x = gf.ones(4, dtype=np.float16, requires_grad=True)
    y = (x * 2).sum()
    y.backward()
    assert x.grad.dtype == np.float16 and y.dtype == np.float16


@pytest.mark.parametrize("reduce", ["max", "min", "sum", "mean"])
def test_reduction_gradients_keep_float32(reduce):
    """The gradient a reduction passes down stays in the input's dtype (an integer tie count once
    promoted max/min gradients to float64, which the float32 conv kernels then rejected)."""
    from gradflow.autograd.function import Function

    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, a):
            return a

        @staticmethod
        def backward(ctx, g):
            seen.append(g.dtype)
            return g

    x = gf.Tensor(np.random.default_rng(0).random((3, 4, 5), dtype=np.float32), requires_grad=True)
    getattr(ops, reduce)(Probe.apply(x), axis=(1, 2)).sum().backward()
    assert seen == [np.float32]


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
def test_fused_recurrent_sequences_gradcheck(reverse, with_mask):
    rng = np.random.default_rng(0)
    n, t, u = 2, 4, 3
    mask = (rng.random((n, u)) > 0.3) * 1.5 if with_mask else None
    with gf.use_backend("reference"):
        lstm = [rng.normal(size=s) for s in ((n, t, 4 * u), (u, 4 * u), (n, u), (n, u))]
        assert gf.gradcheck(lambda xw, U, h0, c0: ops.lstm_sequence(xw, U, h0, c0, mask, reverse), lstm)
        gru = [rng.normal(size=s) for s in ((n, t, 3 * u), (u, 3 * u), (3 * u,), (n, u))]
        assert gf.gradcheck(lambda xw, U, b, h0: ops.gru_sequence(xw, U, b, h0, mask, reverse), gru)
