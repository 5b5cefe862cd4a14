"""The issue-23 losses run on the CuPy backend (the stand-in limited to CuPy 14's API) and agree with NumPy."""
import numpy as np
import pytest

import gradflow as gf
import gradflow.losses as L
from gradflow import ops as F

CASES = [
    ("ctc", np.array([[1, 2, 2, 0], [3, 0, 0, 0]], np.float32), (2, 9, 5)),
    ("circle", np.array([0, 1, 0, 2, 1, 3], np.float32), (6, 3)),
    ("binary_focal_crossentropy", (np.arange(12).reshape(3, 4) % 2).astype(np.float32), (3, 4)),
    ("categorical_focal_crossentropy", np.eye(4, dtype=np.float32)[[0, 2, 3]], (3, 4)),
    ("dice", (np.arange(12).reshape(3, 4) % 2).astype(np.float32), (3, 4)),
    ("categorical_generalized_cross_entropy", np.array([0, 2, 3], np.float32), (3, 4)),
]


@pytest.mark.parametrize("name,y,shape", CASES, ids=[c[0] for c in CASES])
def test_losses_on_the_cupy_backend(cupy_standin, name, y, shape):
    rng = np.random.default_rng(0)
    x = rng.uniform(0.1, 0.9, size=shape).astype(np.float32)
    kw = {"q": 0.5} if name == "categorical_generalized_cross_entropy" else {}
    fn = getattr(L, name)
    ref = gf.Tensor(x, requires_grad=True)
    F.sum(fn(y, ref, **kw)).backward()
    with gf.use_backend("cupy"):
        import cupy

        t = gf.Tensor(cupy.asarray(x), requires_grad=True)
        out = fn(cupy.asarray(y), t, **kw)
        F.sum(out).backward()
        got, grad = cupy.asnumpy(out.data), cupy.asnumpy(t.grad.data)
    np.testing.assert_allclose(got, fn(y, gf.Tensor(x), **kw).numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(grad, ref.grad.numpy(), rtol=1e-5, atol=1e-6)
