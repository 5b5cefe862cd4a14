"""Differential cases: the table-built NumPy-shaped ops (gradflow/ops/numpy_table.py) against real
Keras: values, dtypes and gradients (Keras through torch autograd), from one table of calls.

Loaded by path by tests/keras_coverage.py (``load_cases``); tests/ops/test_numpy_table.py runs the
same rows one by one and gradchecks the differentiable ones."""
import numpy as np
from keras_coverage import case

RNG = np.random.default_rng(7)
X = RNG.normal(size=(3, 4)).astype(np.float32)
X3 = RNG.normal(size=(2, 3, 4)).astype(np.float32)
U = RNG.uniform(0.1, 0.9, size=(3, 4)).astype(np.float32)  # inside every domain (arcsin, arctanh, log)
BIG = (U + 1.5).astype(np.float32)  # arccosh
I32 = np.array([[1, -2, 3, 0], [4, 5, -6, 7], [0, 2, 2, -1]], np.int32)
SQ = RNG.normal(size=(4, 4)).astype(np.float32)
POS = (np.abs(X) + 0.5).astype(np.float32)

# (name, args, kwargs, differentiable): the first array argument is the one differentiated (and
# the second too where ``2``)
CASES = [
    *[(n, (U,), {}, 1) for n in ("sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh",
                                 "arctanh", "log1p", "expm1", "log2", "log10", "reciprocal", "cbrt", "exp2",
                                 "deg2rad", "rad2deg", "fabs")],
    ("arccosh", (BIG,), {}, 1), ("rsqrt", (U,), {}, 1),
    *[(n, (I32,), {}, 0) for n in ("sin", "cos", "log1p", "floor", "ceil", "trunc", "sign", "isnan", "isfinite",
                                   "reciprocal", "cumsum", "cumprod", "prod", "flip", "argsort", "sort",
                                   "count_nonzero", "any", "all")],
    *[(n, (X * 3,), {}, 0) for n in ("floor", "ceil", "trunc", "sign", "isnan", "isinf", "isfinite", "signbit")],
    ("arctan2", (X, U), {}, 2), ("hypot", (X, U), {}, 2), ("logaddexp", (X, U), {}, 2),
    ("arctan2", (I32, 2), {}, 0), ("hypot", (X, U[:1]), {}, 2),
    ("tile", (X, (2, 3)), {}, 1), ("tile", (X, 2), {}, 1), ("flip", (X3,), {"axis": 1}, 1), ("flip", (X3,), {}, 1),
    ("fliplr", (X,), {}, 1), ("flipud", (X,), {}, 1), ("rot90", (X,), {}, 1),
    ("roll", (X3, 2), {"axis": 2}, 1), ("roll", (X, -3), {}, 1),
    ("repeat", (X, 2), {"axis": 1}, 1), ("repeat", (X, 3), {}, 1), ("swapaxes", (X3, 0, 2), {}, 1),
    ("moveaxis", (X3, 0, -1), {}, 1), ("ravel", (X3,), {}, 1), ("broadcast_to", (X[:1], (5, 4)), {}, 1),
    ("take", (X, np.array([0, 2, 2], np.int32)), {"axis": 0}, 1), ("take", (X, np.array([[1, -1]])), {"axis": 1}, 1), ("take", (X, np.array([[1, 11]])), {}, 1),
    ("take_along_axis", (X, np.array([[0, 3, 3], [1, 1, 0], [2, 0, 1]])), {"axis": 1}, 1),
    ("diagonal", (X3,), {"offset": 1, "axis1": 1, "axis2": 2}, 1), ("diag", (X,), {"k": 1}, 1),
    ("diag", (X[0],), {}, 1), ("tril", (X,), {}, 1), ("triu", (X3,), {"k": 1}, 1), ("tril", (X,), {"k": -1}, 1),
    ("prod", (X,), {"axis": 1}, 1), ("prod", (X3,), {"axis": (0, 2), "keepdims": True}, 1),
    ("logsumexp", (X,), {"axis": 1}, 1), ("logsumexp", (X3,), {}, 1), ("logsumexp", (I32,), {"axis": 0}, 0),
    ("cumsum", (X3,), {"axis": 1}, 1), ("cumsum", (X,), {}, 1), ("cumprod", (POS,), {"axis": 0}, 1),
    ("cumprod", (POS,), {}, 1),
    ("sort", (X,), {}, 1), ("sort", (X3,), {"axis": 0}, 1), ("argsort", (X,), {"axis": 0}, 0),
    ("top_k", (X, 2), {}, 1), ("split", (X, 2), {"axis": 1}, 1), ("split", (X3, [1, 3]), {"axis": -1}, 1),
    ("trace", (SQ,), {}, 1), ("trace", (I32[:, :3],), {}, 0), ("outer", (X[0], U[1]), {}, 2),
    ("einsum", ("ij,jk->ik", X, SQ), {}, 2), ("einsum", ("bij,kj->bik", X3, X), {}, 2),
    ("einsum", ("ij->", X), {}, 1), ("einsum", ("ii->i", SQ), {}, 1), ("einsum", ("...j,jk", X3, SQ), {}, 2),
    ("einsum", ("ij,ij->i", X, U), {}, 2),
    ("any", (X > 0,), {"axis": 1}, 0), ("all", (X > -1,), {"axis": 0, "keepdims": True}, 0),
    ("count_nonzero", (I32,), {"axis": 1}, 0),
    ("nan_to_num", (np.array([1.0, np.nan, np.inf, -np.inf], np.float32),), {}, 0), ("nan_to_num", (X,), {}, 1),
    ("stop_gradient", (X,), {}, 0), ("full_like", (X, 2.5), {}, 0), ("full_like", (I32, 3), {"dtype": "float32"}, 0),
    ("meshgrid", (X[0], U[0, :3]), {}, 0), ("meshgrid", (X[0], U[0, :3]), {"indexing": "ij"}, 0),
]
# keras.ops.nn's activations (gradflow/ops/nn_table.py)
NN = [*[(n, (X * 2,), {}, 1) for n in ("elu", "selu", "softplus", "softsign", "leaky_relu", "hard_sigmoid",
                                       "hard_silu", "hard_swish", "gelu", "celu", "glu", "hard_shrink",
                                       "hard_tanh", "log_sigmoid", "soft_shrink", "sparse_plus", "sparse_sigmoid",
                                       "sparsemax", "squareplus", "tanh_shrink")],
      ("gelu", (X,), {"approximate": False}, 1), ("elu", (X,), {"alpha": 0.5}, 1), ("glu", (X3,), {"axis": 0}, 1),
      ("threshold", (X, 0.3, -2.0), {}, 1), ("leaky_relu", (X, 0.3), {}, 1)]
CASES += NN
CREATION = [("linspace", (0.0, 1.0, 5), {}), ("linspace", (0, 4, 3), {"endpoint": False}),
            ("identity", (3,), {}), ("eye", (3, 4), {"k": 1}), ("tri", (3,), {"k": -1}), ("eye", (2,), {"dtype": "int32"})]


def _differentiated(case):
    name, args, _, n = case
    offset = 1 if name == "einsum" else 0
    return list(range(offset, offset + n))


def _flat(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _differentiated(row):
    name, args, _, n = row
    offset = 1 if name == "einsum" else 0
    return list(range(offset, offset + n))


def check_row(real_keras, gf, case, keras_ns=None, gf_ns=None):
    """One row: values, dtypes and gradients (Keras through torch autograd) equal Keras's."""
    import torch  # noqa: PLC0415 - the gradient of Keras's op (torch backend)

    name, args, kwargs, _ = case
    wrt = _differentiated(case)
    got_in = [gf.Tensor(a, requires_grad=i in wrt) if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    k_in = [torch.tensor(a, requires_grad=i in wrt) if isinstance(a, np.ndarray) else a for i, a in enumerate(args)]
    got, want = _flat(getattr(gf_ns or gf.ops, name)(*got_in, **kwargs)), _flat(
        getattr(keras_ns or real_keras.ops, name)(*k_in, **kwargs))
    assert len(got) == len(want)
    weights = []
    for g, w in zip(got, want):
        w_np = real_keras.ops.convert_to_numpy(w)
        if name == "top_k" and w_np.dtype == np.int64:  # Keras's spec says int32; its torch backend gives int64
            w_np = w_np.astype(np.int32)
        assert isinstance(g, gf.Tensor) and g.shape == w_np.shape and g.dtype == w_np.dtype, (g.dtype, w_np.dtype)
        np.testing.assert_allclose(g.numpy(), w_np, rtol=1e-5, atol=1e-5, equal_nan=True)
        weights.append(RNG.normal(size=w_np.shape).astype(np.float32))
    if not wrt:
        return
    loss = sum((g * gf.Tensor(wt)).sum() for g, wt in zip(got, weights) if g.dtype.kind == "f")
    loss.backward()
    torch.stack([(w * torch.tensor(wt)).sum() for w, wt in zip(want, weights) if w.dtype.is_floating_point]
                ).sum().backward()
    for i in wrt:
        np.testing.assert_allclose(got_in[i].grad.numpy(), k_in[i].grad.numpy(), rtol=1e-4, atol=1e-5)


def check_creation(real_keras, gf, row):
    name, args, kwargs = row
    got, want = getattr(gf.ops, name)(*args, **kwargs), real_keras.ops.convert_to_numpy(
        getattr(real_keras.ops, name)(*args, **kwargs))
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


NAMES = sorted({row[0] for row in CASES} | {row[0] for row in CREATION})


@case("ops", *NAMES)
def table_op(k, gf, name):
    for row in CASES:
        if row[0] == name:
            check_row(k, gf, row)
    for row in CREATION:
        if row[0] == name:
            check_creation(k, gf, row)


NN_NAMES = sorted({row[0] for row in NN})
case("ops.numpy", *sorted(set(NAMES) - set(NN_NAMES)))(table_op)
case("ops.nn", *NN_NAMES)(table_op)


# keras.ops.linalg (gradflow/ops/linalg.py): values and dtypes; gradients where gradflow has them
SPD = (SQ @ SQ.T + 4 * np.eye(4)).astype(np.float32)
LINALG = [("inv", (SQ,), {}, 1), ("det", (SQ,), {}, 1), ("det", (np.stack([SQ, SPD]),), {}, 1),
          ("solve", (SQ, X.T), {}, 2), ("solve", (SPD, X[0]), {}, 2),
          ("cholesky", (SPD,), {}, 0), ("cholesky", (SPD,), {"upper": True}, 0), ("norm", (X,), {}, 1),
          ("norm", (X,), {"ord": 1, "axis": 0}, 1)]
_FACTORS = [("qr", (X,), {}), ("svd", (X,), {"full_matrices": False}), ("eigh", (SPD,), {})]


def _linalg(k, gf, name):
    for row in LINALG:
        if row[0] == name:
            check_row(k, gf, row, k.ops.linalg, gf.ops.linalg)
    for name_, args, kwargs in _FACTORS:  # factors are unique up to signs: compare what they rebuild
        if name_ != name:
            continue
        got = [t.numpy() for t in getattr(gf.ops.linalg, name)(*args, **kwargs)]
        want = [k.ops.convert_to_numpy(t) for t in getattr(k.ops.linalg, name)(*args, **kwargs)]
        assert [(g.shape, g.dtype) for g in got] == [(w.shape, w.dtype) for w in want]
        if name == "qr":
            np.testing.assert_allclose(got[0] @ got[1], args[0], rtol=1e-5, atol=1e-5)
        elif name == "svd":
            np.testing.assert_allclose((got[0] * got[1][None]) @ got[2], args[0], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose(got[1], want[1], rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_allclose(got[0], want[0], rtol=1e-5, atol=1e-5)
            np.testing.assert_allclose((got[1] * got[0][None]) @ got[1].T, args[0], rtol=1e-4, atol=1e-4)


case("ops.linalg", "inv", "det", "solve", "cholesky", "norm", "qr", "svd", "eigh")(_linalg)
case("ops", "inv", "det", "solve", "cholesky", "qr", "svd", "eigh")(_linalg)
