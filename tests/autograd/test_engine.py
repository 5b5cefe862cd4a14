"""The backward engine: accumulation, no_grad, detach, freeing the graph, errors, gradcheck itself."""
import gc
import tracemalloc

import numpy as np
import pytest

import gradflow as gf
from gradflow.autograd.engine import unbroadcast


def test_backward_accumulates_across_calls_and_zero_grad():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    (3 * x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.array([1.0, 2.0]) + 3)
    x.zero_grad()
    assert x.grad is None
    isinstance(x.grad, type(None))


def test_grad_is_a_tensor_of_the_leaf_shape():
    w = gf.tensor(np.ones((3, 1)), requires_grad=True)
    (gf.ones(4, 3) @ w).sum().backward()
    assert isinstance(w.grad, gf.Tensor) and w.grad.shape == (3, 1)


def test_shared_subexpression_counts_every_path():
    x = gf.tensor([3.0], requires_grad=True)
    y = x * x
    z = y + y * x  # x^2 + x^3
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), [2 * 3 + 3 * 9])


def test_explicit_upstream_gradient_and_nonscalar_error():
    x = gf.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(3,\) needs an explicit gradient"):
        y.backward()
    y = x * 2
    y.backward(np.array([1.0, 0.0, -1.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2, 0, -2])
    with pytest.raises(ValueError, match="does not match"):
        (x * 2).backward(np.ones(2))


def test_no_grad_records_nothing_and_detach_cuts():
    x = gf.tensor([1.0], requires_grad=True)
    with gf.no_grad():
        y = x * 2
    assert not y.requires_grad and y.is_leaf
    d = (x * 2).detach()
    assert not d.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        d.backward()

    @gf.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad


def test_graph_is_freed_after_backward_and_reuse_errors():
    x = gf.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="already freed"):
        y.backward()
    y2 = (x * x).sum()
    y2.backward(retain_graph=True)
    y2.backward()  # allowed once retained
    np.testing.assert_allclose(x.grad.numpy(), 2 * 2 * np.array([1.0, 2.0]) + 2 * np.array([1.0, 2.0]))


def test_memory_does_not_grow_over_2000_iterations():
    """Forward/backward 2,000 times: the graph is freed, so memory stays flat."""
    rng = np.random.default_rng(0)
    w = gf.tensor(rng.standard_normal((8, 8)).astype(np.float32), requires_grad=True)
    x = gf.tensor(rng.standard_normal((4, 8)).astype(np.float32))

    def step():
        h = gf.tanh(x @ w)
        loss = (h * h).mean() + gf.relu(h).sum() * 0.01
        loss.backward()
        w.grad = None

    for _ in range(50):
        step()
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for _ in range(2000):
        step()
    gc.collect()
    grown = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    assert grown < 200_000, f"memory grew by {grown} bytes over 2,000 iterations"


def test_gradcheck_catches_a_wrong_gradient():
    from gradflow.autograd import Function

    class BadSquare(Function):
        @staticmethod
        def forward(ctx, a):
            ctx.a = a
            return a * a

        @staticmethod
        def backward(ctx, g):
            return g * ctx.a  # should be 2 * a

    with pytest.raises(gf.GradcheckError, match="analytic"):
        gf.gradcheck(lambda t: BadSquare.apply(t), [np.array([1.0, 2.0])])


def test_repr_item_and_conversions():
    t = gf.tensor([[1.5]])
    assert "tensor(" in repr(t) and float(t) == 1.5 and t.item() == 1.5
    with pytest.raises(ValueError, match="one element"):
        gf.ones(2).item()
    assert np.asarray(gf.ones(2)).tolist() == [1.0, 1.0]
    assert np.ones(2) + gf.ones(2) is not None  # ndarray + Tensor -> Tensor via __radd__
    assert isinstance(np.ones(2) + gf.ones(2), gf.Tensor)


def test_gpu_out_of_memory_becomes_a_clear_error():
    from gradflow.autograd import Function
    from gradflow.autograd.function import DeviceOutOfMemoryError

    class OutOfMemoryError(Exception):  # stands in for cupy.cuda.memory.OutOfMemoryError
        pass

    class Hungry(Function):
        @staticmethod
        def forward(ctx, a):
            raise OutOfMemoryError("Out of memory allocating 1,073,741,824 bytes (allocated so far: 2,147,483,648 bytes).")

        @staticmethod
        def backward(ctx, g):
            return g

    with pytest.raises(DeviceOutOfMemoryError, match=r"asking for 1,024.0 MiB with 2,048.0 MiB already held.*smaller batch_size"):
        Hungry.apply(gf.ones(2))


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_leaf_gradients_are_final_layer_by_layer_from_the_top(kind):
    """on_leaf (what data-parallel fit starts its bucket all-reduces from) sees the last layer's
    weights first and the first layer's last, so communication overlaps the rest of backward."""
    from gradflow.autograd.engine import run_backward

    L = gf.layers
    if kind == "dense":
        layers = [L.Dense(5), L.Dense(5), L.Dense(1)]
        shape = (4,)
    else:
        layers = [L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(), L.Conv2D(2, 3), L.Flatten(), L.Dense(1)]
        shape = (8, 8, 2)
    model = gf.Sequential([gf.Input(shape), *layers])
    owner = {id(w): i for i, layer in enumerate(model.layers) for w in layer.trainable_weights}
    seen = []
    x = gf.ops.convert_to_tensor(np.ones((3, *shape), "float32"))
    run_backward(gf.ops.sum(model(x, training=True)), on_leaf=lambda t: seen.append(owner[id(t)]))
    assert sorted(seen) == sorted(owner.values())
    assert seen == sorted(seen, reverse=True), seen


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grad_shape,shape", [
    ((6400, 64), (64,)), ((32, 200, 32), (32,)), ((32, 200, 32), (200, 32)), ((32, 200, 32), (1, 1, 32)),
    ((80, 3), ()), ((32, 20, 5), (32, 1, 5)), ((70, 7, 5), (7, 1)), ((3, 4), (4,)),
])
def test_unbroadcast_sums_like_numpy(grad_shape, shape, dtype):
    """The BLAS fast path for leading-axes sums (bias gradients) and NumPy's sums agree."""
    g = np.random.default_rng(0).standard_normal(grad_shape).astype(dtype)
    g64 = g.astype(np.float64)
    extra = g.ndim - len(shape)
    want = g64.sum(axis=tuple(range(extra)))
    want = want.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)
    got = unbroadcast(g, shape)
    assert got.shape == shape and got.dtype == dtype
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == np.float32 else 1e-10, atol=1e-3)
