"""Differential cases of the rest of ``keras.ops`` (issue 23, worktree wt-ops): numpy_more, control flow,
fft, segment, the nn losses and normalizations, and the linalg additions, against real Keras on the
same inputs: values, dtypes and gradients (Keras through torch autograd), from one table of calls.

Loaded by path by tests/keras_coverage.py; tests/ops/test_ops_more.py runs the same rows one by one and
gradchecks the differentiable ones; tests/ops/test_symbolic_ops.py takes ``SYMBOLIC`` (output specs)."""
import numpy as np
from keras_coverage import case

import gradflow as gf  # the branches of the symbolic control-flow rows compute with gradflow

RNG = np.random.default_rng(11)
X = RNG.normal(size=(3, 4)).astype(np.float32)
Y = RNG.normal(size=(3, 4)).astype(np.float32)
X3 = RNG.normal(size=(2, 3, 4)).astype(np.float32)
V = RNG.normal(size=(5,)).astype(np.float32)
W = RNG.uniform(0.5, 1.5, size=(4,)).astype(np.float32)
U = RNG.uniform(0.1, 0.9, size=(3, 4)).astype(np.float32)
I32 = np.array([[1, 6, 3, 0], [4, 5, 12, 7], [0, 2, 2, 9]], np.int32)
J32 = np.array([[3, 4, 1, 2], [2, 10, 8, 5], [7, 1, 6, 3]], np.int32)
NAN = np.array([[1.0, np.nan, 3.0, -2.0], [np.nan, 0.5, 4.0, 1.0], [2.0, 2.5, np.nan, -1.0]], np.float32)
SQ = (RNG.normal(size=(4, 4)) + 3 * np.eye(4)).astype(np.float32)
SPD = (SQ @ SQ.T + np.eye(4)).astype(np.float32)
V3 = RNG.normal(size=(4, 3)).astype(np.float32)
W3 = RNG.normal(size=(4, 3)).astype(np.float32)

# (name, args, kwargs, number of differentiated array arguments from the first; "int" in a 5th slot:
# Keras on torch returns int64 where its spec says int32, so integer widths are not compared)
NUMPY = [
    *[(n, (U,), {}, 1) for n in ("sinc", "i0", "real", "conj", "conjugate", "copy")],
    ("sinc", (np.array([0.0, 0.5, -1.5], np.float32),), {}, 1), ("angle", (X,), {}, 0),
    ("i0", (I32,), {}, 0), ("sinc", (I32,), {}, 0),
    ("fmax", (X, Y), {}, 2), ("fmin", (X, Y), {}, 2), ("fmax", (NAN, X), {}, 0), ("fmin", (I32, J32), {}, 0),
    ("logaddexp2", (X, Y), {}, 2), ("heaviside", (np.array([-1.0, 0.0, 2.0], np.float32), 0.5), {}, 0),
    ("heaviside", (I32 - 2, J32), {}, 0), ("nextafter", (X, Y), {}, 0), ("ldexp", (X, I32), {}, 1),
    *[(n, (I32, J32), {}, 0) for n in ("bitwise_and", "bitwise_or", "bitwise_xor", "gcd", "lcm")],
    *[(n, (I32, J32 % 4), {}, 0) for n in ("bitwise_left_shift", "left_shift", "bitwise_right_shift",
                                          "right_shift")],
    ("bitwise_invert", (I32,), {}, 0), ("bitwise_not", (I32,), {}, 0),
    ("divide_no_nan", (X, np.where(Y > 0, Y, 0).astype(np.float32)), {}, 2), ("divide_no_nan", (I32, J32 - 3), {}, 0),
    ("isclose", (X, X + 1e-7), {}, 0), ("isclose", (I32, J32), {}, 0), ("allclose", (X, X + 1e-7), {}, 0),
    ("allclose", (X, Y), {}, 0), ("isin", (I32, np.array([1, 2, 3], np.int32)), {}, 0), ("isreal", (X,), {}, 0),
    ("amax", (X,), {"axis": 1}, 1), ("amin", (X3,), {"axis": (0, 2), "keepdims": True}, 1), ("amax", (I32,), {}, 0),
    ("ptp", (X,), {"axis": 0}, 1), ("ptp", (X3,), {}, 1),
    ("average", (X,), {"axis": 1}, 1), ("average", (X,), {"axis": 1, "weights": W}, 1),
    ("average", (I32,), {}, 0),
    ("median", (X,), {"axis": 1}, 1), ("median", (X3,), {}, 1), ("median", (I32,), {"axis": 0, "keepdims": True}, 0),
    ("quantile", (X, 0.3), {"axis": 1}, 1), ("quantile", (X3, np.array([0.1, 0.5, 0.8], np.float32)), {"axis": 2}, 1),
    *[("quantile", (X, 0.4), {"axis": 0, "method": m}, 1) for m in ("lower", "higher", "nearest", "midpoint")],
    ("percentile", (X, 30.0), {"axis": 1, "keepdims": True}, 1),
    ("nansum", (NAN,), {"axis": 1}, 1), ("nansum", (I32,), {}, 0), ("nanprod", (NAN,), {"axis": 0}, 1),
    ("nancumsum", (NAN,), {"axis": 1}, 1), ("nancumprod", (NAN,), {"axis": 0}, 1),
    ("nanmean", (NAN,), {"axis": 1}, 1), ("nanmean", (NAN,), {}, 1), ("nanvar", (NAN,), {"axis": 0}, 1),
    ("nanstd", (NAN,), {"axis": 1}, 1), ("nanmax", (NAN,), {"axis": 1}, 1), ("nanmin", (NAN,), {"axis": 0}, 1),
    ("nanargmax", (NAN,), {"axis": 1}, 0), ("nanargmin", (NAN,), {"axis": 0}, 0),
    ("nanmedian", (NAN,), {"axis": 1}, 0), ("nanquantile", (NAN, 0.3), {"axis": 0}, 0),
    ("nanpercentile", (NAN, 70.0), {"axis": 1}, 0),
    ("append", (X, Y), {}, 2), ("append", (X, Y), {"axis": 0}, 2), ("append", (I32, X), {"axis": 1}, 0),
    ("array", (X,), {}, 0), ("array", (I32,), {"dtype": "float32"}, 0),
    ("array_split", (X3, 2), {"axis": 2}, 1), ("array_split", (V, 3), {}, 1),
    ("hsplit", (X, 2), {}, 1), ("vsplit", (np.concatenate([X, Y[:1]]), 2), {}, 1), ("dsplit", (X3, [1, 3]), {}, 1),
    ("hstack", ([X, Y],), {}, 1), ("vstack", ([X, Y],), {}, 1), ("dstack", ([X, Y],), {}, 1),
    ("hstack", ([V, V],), {}, 1), ("vstack", ([W, W],), {}, 1), ("dstack", ([I32, J32],), {}, 0),
    ("get_item", (X, 1), {}, 1), ("get_item", (X3, (slice(None), 1)), {}, 1),
    ("diff", (X,), {}, 1), ("diff", (X3,), {"n": 2, "axis": 1}, 1), ("diff", (I32,), {"axis": 0}, 0),
    ("cross", (V3, W3), {}, 2), ("cross", (V3.T, W3.T), {"axis": 0}, 2),
    ("inner", (X, Y), {}, 2), ("inner", (V, V), {}, 2), ("inner", (X3, Y), {}, 2), ("vdot", (V, V * 2), {}, 2),
    ("kron", (X[:2, :2], Y), {}, 2), ("kron", (V[:2], I32[0]), {}, 0),
    ("corrcoef", (X,), {}, 1), ("corrcoef", (I32,), {}, 0),
    ("correlate", (V, W), {}, 2), ("correlate", (V, W), {"mode": "same"}, 2),
    ("correlate", (V, W), {"mode": "full"}, 2), ("correlate", (I32[0], J32[0]), {}, 0),
    ("trapezoid", (X,), {}, 1), ("trapezoid", (X,), {"dx": 0.5, "axis": 0}, 1),
    ("trapezoid", (X, np.cumsum(W)), {}, 1), ("trapezoid", (I32,), {}, 0),
    ("vander", (V,), {}, 0), ("vander", (V,), {"N": 3, "increasing": True}, 0), ("vander", (I32[0],), {}, 0),
    ("slogdet", (SQ,), {}, 1), ("slogdet", (np.stack([SQ, -SPD]),), {}, 1),
    ("diagflat", (X[:2, :2],), {}, 1), ("diagflat", (V,), {"k": -1}, 1),
    ("select", ([X > 0.5, X < -0.5], [X, Y]), {}, 0), ("select", ([X > 0], [I32]), {"default": -1}, 0),
    ("bincount", (np.array([0, 1, 1, 3, 5], np.int32),), {}, 0),
    ("bincount", (np.array([0, 1, 1, 3], np.int32),), {"weights": np.array([1, 2, 3, 4], np.float32),
                                                      "minlength": 6}, 0),
    ("digitize", (X, np.array([-1.0, 0.0, 1.0], np.float32)), {}, 0),
    ("searchsorted", (np.array([-1.0, 0.0, 1.0], np.float32), X), {}, 0, "int"),
    ("searchsorted", (np.array([1, 3, 6], np.int32), I32), {"side": "right"}, 0, "int"),
    ("histogram", (V,), {}, 0), ("histogram", (V,), {"bins": 4, "range": (-1.0, 1.0)}, 0),
    ("unique", (I32,), {}, 0),
    ("unique", (I32[0],), {"return_inverse": True, "return_counts": True}, 0, "int"),
    ("unique", (I32,), {"size": 12, "fill_value": -1}, 0),
    ("unravel_index", (np.array([1, 5, 7], np.int32), (2, 4)), {}, 0),
    ("ndim", (X3,), {}, 0), ("size", (X3,), {}, 0, "int"), ("view", (X,), {"dtype": "int32"}, 0),
    ("empty_like", (I32,), {}, 0),
]
# creation ops: (name, args, kwargs); ``empty``'s values are arbitrary in Keras: compared by spec only
CREATION = [("bartlett", (5,), {}), ("blackman", (6,), {}), ("hamming", (7,), {}), ("hanning", (4,), {}),
            ("kaiser", (6, 2.5), {}), ("logspace", (0.0, 2.0, 5), {}), ("logspace", (1, 3, 4), {"base": 2}),
            ("geomspace", (1.0, 100.0, 5), {}), ("geomspace", (2, 32, 5), {"endpoint": False})]
SPEC_ONLY = {"empty", "empty_like", "argpartition", "view"}


def _flat(out):
    return list(out) if isinstance(out, (list, tuple)) else [out]


def _np(k, w):
    return np.asarray(k.ops.convert_to_numpy(w) if not isinstance(w, (bool, int, float)) else w)


def differentiated(row):
    """The indices of a row's differentiated arguments: the first ``n``, or the tuple given."""
    return list(row[3]) if isinstance(row[3], tuple) else list(range(row[3]))


def _torch_in(a, grad):
    import torch  # noqa: PLC0415 - the gradient of Keras's op (torch backend)

    if isinstance(a, np.ndarray):
        return torch.tensor(a, requires_grad=grad)
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], np.ndarray):
        return type(a)(torch.tensor(v, requires_grad=grad) for v in a)
    return a


def _gf_in(gf, a, grad):
    if isinstance(a, np.ndarray):
        return gf.Tensor(a, requires_grad=grad)
    if isinstance(a, (list, tuple)) and a and isinstance(a[0], np.ndarray):
        return type(a)(gf.Tensor(v, requires_grad=grad) for v in a)
    return a


def _grads(x):
    return [v.grad for v in x] if isinstance(x, (list, tuple)) else [x.grad]


def check_row(k, gf, row, keras_ns=None, gf_ns=None, rtol=1e-5, atol=1e-5):
    """One row: values, dtypes and gradients (Keras through torch autograd) equal Keras's."""
    import torch  # noqa: PLC0415 - the gradient of Keras's op (torch backend)

    name, args, kwargs, n = row[:4]
    loose_int = "int" in row[4:]
    wrt = differentiated(row)
    got_in = [_gf_in(gf, a, i in wrt) for i, a in enumerate(args)]
    k_in = [_torch_in(a, i in wrt) for i, a in enumerate(args)]
    got = _flat(getattr(gf_ns or gf.ops, name)(*got_in, **kwargs))
    want = _flat(getattr(keras_ns or k.ops, name)(*k_in, **kwargs))
    assert len(got) == len(want), (len(got), len(want))
    weights = []
    for g, w in zip(got, want):
        w_np = _np(k, w)
        g_np = np.asarray(g.numpy() if isinstance(g, gf.Tensor) else g)
        assert isinstance(g, gf.Tensor) or not isinstance(w, torch.Tensor), type(g)
        if loose_int and g_np.dtype.kind == w_np.dtype.kind == "i":
            w_np = w_np.astype(g_np.dtype)
        assert g_np.shape == w_np.shape and g_np.dtype == w_np.dtype, (g_np.shape, g_np.dtype, w_np.shape, w_np.dtype)
        if name not in SPEC_ONLY:
            np.testing.assert_allclose(g_np, w_np, rtol=rtol, atol=atol, equal_nan=True)
        weights.append(RNG.normal(size=w_np.shape).astype(np.float32))
    if not wrt:
        return
    loss = sum((g * gf.Tensor(wt.astype(g.dtype))).sum() for g, wt in zip(got, weights) if g.dtype.kind == "f")
    loss.backward()
    torch.stack([(w * torch.tensor(wt, dtype=w.dtype)).sum() for w, wt in zip(want, weights)
                 if w.dtype.is_floating_point]
                ).sum().backward()
    for i in wrt:
        for a, b in zip(_grads(got_in[i]), _grads(k_in[i])):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def check_creation(k, gf, row):
    name, args, kwargs = row
    got, want = getattr(gf.ops, name)(*args, **kwargs), _np(k, getattr(k.ops, name)(*args, **kwargs))
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def _spec_of_empty(k, gf, name):
    got = gf.ops.empty((2, 3), dtype="int32")
    want = _np(k, k.ops.empty((2, 3), dtype="int32"))
    assert got.shape == want.shape and got.dtype == want.dtype


TABLES = {"NUMPY": NUMPY}
#: per table: rtol/atol of the value comparison
TOLERANCES: dict = {}
#: rows whose gradient is piecewise constant or has kinks at the test points (finite differences disagree)
NO_GRADCHECK = {"fmax", "fmin", "amax", "amin", "ptp", "nanmax", "nanmin", "quantile", "percentile", "median",
                "divide_no_nan"}


def namespaces(k, gf, table):
    """(Keras namespace, gradflow namespace) a table's names live in (None: ``ops``)."""
    return None, None


def _run_name(k, gf, name, rows=None):
    found = False
    for row in rows if rows is not None else NUMPY:
        if row[0] == name:
            check_row(k, gf, row)
            found = True
    for row in CREATION:
        if row[0] == name:
            check_creation(k, gf, row)
            found = True
    if name == "empty":
        _spec_of_empty(k, gf, name)
        found = True
    assert found, name


NUMPY_NAMES = sorted({r[0] for r in NUMPY} | {r[0] for r in CREATION} | {"empty", "argpartition", "vectorize"})


def _argpartition(k, gf):
    got = gf.ops.argpartition(X, 1, axis=1).numpy()
    assert got.dtype == np.int32 and got.shape == X.shape
    part = np.take_along_axis(X, got, 1)
    assert (part[:, :2].max(1) <= part[:, 2:].min(1)).all() and (np.sort(got, 1) == np.arange(4)).all()
    np.testing.assert_array_equal(np.sort(part[:, :2], 1), np.sort(X, 1)[:, :2])


def _vectorize(k, gf):
    def fn(a, b):
        return gf.ops.sum(a * b)

    got = gf.ops.vectorize(fn, signature="(n),(n)->()")(X, Y)
    want = _np(k, k.ops.vectorize(lambda a, b: k.ops.sum(a * b), signature="(n),(n)->()")(X, Y))
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5)
    got = gf.ops.vectorize(lambda a: a * 2 + 1)(X)
    np.testing.assert_allclose(got.numpy(), X * 2 + 1)


SPECIAL = {"argpartition": _argpartition, "vectorize": _vectorize}


@case("ops.numpy", *NUMPY_NAMES)
@case("ops", *NUMPY_NAMES)
def numpy_op(k, gf, name):
    if name == "argpartition":
        return _argpartition(k, gf)
    if name == "vectorize":
        return _vectorize(k, gf)
    return _run_name(k, gf, name)


# symbolic output specs: (name, args, kwargs, keras) in tests/ops/test_symbolic_ops.py's format, where
# ``S`` is its symbolic-input marker (passed in, so this module does not import the test)
def symbolic_cases(S):
    x = S(None, 6, 4)
    i = S(None, 6, 4, dtype="int32")
    rows = [(n, (x,), {}, None) for n in ("sinc", "i0", "angle", "real", "imag", "conj", "conjugate", "copy",
                                         "isreal", "amax", "amin", "ptp", "average", "median", "nansum",
                                         "nanprod", "nanmean", "nanvar", "nanstd", "nanmax", "nanmin", "nanargmax",
                                         "nanargmin", "nancumsum", "nancumprod", "diff",
                                         "trapezoid", "array", "empty_like")]
    rows += [(n, (x, S(None, 6, 1)), {}, None) for n in ("fmax", "fmin", "logaddexp2", "heaviside", "nextafter",
                                                        "divide_no_nan", "isclose", "append")]
    rows += [(n, (i, S(None, 6, 1, dtype="int32")), {}, None)
             for n in ("bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_left_shift", "left_shift",
                       "bitwise_right_shift", "right_shift", "gcd", "lcm")]
    rows += [("bitwise_invert", (i,), {}, None), ("bitwise_not", (i,), {}, None), ("ldexp", (x, i), {}, None),
             ("allclose", (x, x), {}, None), ("isin", (i, np.array([1, 2], np.int32)), {}, None),
             ("quantile", (x, 0.3), {"axis": 1}, None), ("percentile", (x, 30.0), {"axis": -1}, None),
             ("nanquantile", (x, 0.3), {"axis": 1}, lambda k, a, q, axis: k.ops.quantile(a, q, axis=axis)),
             ("nanpercentile", (x, 30.0), {"axis": 1}, lambda k, a, q, axis: k.ops.percentile(a, q, axis=axis)),
             ("nanmedian", (x,), {"axis": 1}, lambda k, a, axis: k.ops.median(a, axis=axis)),
             ("array_split", (x, 2), {"axis": 1}, None), ("hsplit", (x, 2), {}, None), ("vsplit", (S(4, 3), 2), {}, None),
             ("dsplit", (x, 2), {}, None), ("hstack", ([x, x],), {}, None), ("vstack", ([x, x],), {}, None),
             ("dstack", ([x, x],), {}, None), ("get_item", (x, 1), {}, None), ("cross", (S(None, 3), S(None, 3)), {}, None),
             ("corrcoef", (S(3, 5),), {}, "self"), ("vdot", (x, x), {}, None), ("inner", (x, S(5, 4)), {}, None), ("kron", (S(2, 3), S(4, 5)), {}, None),
             ("slogdet", (S(None, 4, 4),), {}, "self"),
             ("correlate", (S(5), S(3)), {}, None), ("vander", (S(5),), {}, None), ("diagflat", (S(2, 2),), {}, None),
             ("select", ([S(None, 6, 4, dtype="bool")], [x]), {}, None),
             ("argpartition", (x, 1), {}, None), ("bincount", (S(5, dtype="int32"),), {"minlength": 8}, "self"),
             ("digitize", (x, np.array([0.0, 1.0], np.float32)), {}, None),
             ("searchsorted", (S(5), x), {}, "self"), ("histogram", (S(7),), {}, "self"),
             ("nonzero", (S(2, 3),), {}, "self"), ("unique", (S(5),), {}, "self"),
             ("unravel_index", (S(3, dtype="int32"), (2, 4)), {}, "self"), ("size", (x,), {}, "self"),
             ("view", (x,), {"dtype": "int32"}, None)]
    return rows


SYMBOLIC_CREATION = [(r[0], r[1], r[2]) for r in CREATION] + [("empty", ((2, 3),), {})]


# -- keras.ops core and math (gradflow/ops/core_ops.py, segment.py, fft.py) ---------------------------
SIG = RNG.normal(size=(2, 32)).astype(np.float32)
SPEC = (RNG.normal(size=(2, 9, 5)).astype(np.float32), RNG.normal(size=(2, 9, 5)).astype(np.float32))
IDS = np.array([0, 2, 0], np.int32)
CORE = [
    ("slice", (X3, (0, 1, 1), (2, 2, 3)), {}, 1), ("slice", (X, np.array([1, 0], np.int32), (2, 3)), {}, 1),
    ("slice_update", (X, (1, 1), Y[:2, :2]), {}, (0, 2)), ("slice_update", (I32, (0, 2), J32[:1, :2]), {}, 0),
    ("scatter", (np.array([[0, 1], [2, 3], [0, 1]], np.int32), V[:3], (3, 4)), {}, (1,)),
    ("scatter", (np.array([[1], [0]], np.int32), X[:2], (3, 4)), {}, (1,)),
    ("scatter_update", (X, np.array([[0, 1], [2, 3]], np.int32), V[:2]), {}, (0, 2)),
    ("scatter_update", (X, np.array([[0, 1], [2, 3], [0, 1]], np.int32), V[:3]), {"reduction": "add"}, (0, 2)),
    ("scatter_update", (X, np.array([[0, 1], [2, 3]], np.int32), V[:2]), {"reduction": "max"}, 0),
    ("scatter_update", (X, np.array([[1], [0]], np.int32), Y[:2]), {}, (0, 2)),
    ("unstack", (X3,), {"axis": 1}, 1), ("unstack", (X,), {}, 1),
    ("saturate_cast", (X * 300, "uint8"), {}, 0), ("saturate_cast", (I32 * 30, "int8"), {}, 0),
    ("in_top_k", (np.array([0, 3, 1], np.int32), X, 2), {}, 0),
    ("erfc", (X,), {}, 1), ("erfinv", ((U * 1.6 - 0.8).astype(np.float32),), {}, 1), ("erfc", (I32,), {}, 0),
    ("logdet", (SPD,), {}, 1), ("extract_sequences", (X3, 2, 1), {}, 1), ("extract_sequences", (SIG, 8, 5), {}, 1),
    ("cdist", (X, Y[:2]), {}, 2), ("cdist", (X3, X3[:, :2] + 1), {}, 2),
    ("rearrange", (X3, "b h w -> b (w h)"), {}, 1), ("rearrange", (X3, "b h (w1 w) -> (b w1) h w"), {"w1": 2}, 1),
    ("segment_sum", (X, IDS), {}, 1), ("segment_sum", (X, IDS), {"num_segments": 4}, 1),
    ("segment_max", (X, IDS), {"num_segments": 3}, 1), ("segment_min", (X, IDS), {}, 1),
    ("segment_prod", (X, IDS), {}, 1), ("segment_sum", (I32, np.array([1, 1, 0], np.int32)), {}, 0),
    ("fft", ((X, Y),), {}, 1), ("fft2", ((X3, X3 * 2),), {}, 1), ("ifft2", ((X, Y),), {}, 1),
    ("rfft", (X,), {}, 1), ("rfft", (X,), {"fft_length": 6}, 1), ("rfft", (X,), {"fft_length": 3}, 1),
    ("irfft", ((X, Y),), {}, 1), ("irfft", ((X, Y),), {"fft_length": 5}, 1), ("irfft", ((X, Y),), {"fft_length": 8}, 1),
    ("stft", (SIG, 8, 4, 8), {}, 1), ("stft", (SIG, 6, 3, 8), {"window": "hamming", "center": False}, 1),
    ("stft", (SIG, 8, 4, 8), {"window": None}, 1),
    ("istft", (SPEC, 8, 4, 8), {}, 1), ("istft", (SPEC, 6, 3, 8), {"window": "hamming"}, 1),
    ("istft", (SPEC, 8, 4, 8), {"center": False}, 1), ("istft", (SPEC, 8, 4, 8), {"length": 30}, 1),
    ("view_as_real", (np.array([1 + 2j, 3 - 1j], np.complex64),), {}, 0),
    ("view_as_complex", (X3[..., :2].copy(),), {}, 0),
]
TABLES["CORE"] = CORE
TOLERANCES["CORE"] = {"rtol": 2e-4, "atol": 2e-4}
NO_GRADCHECK |= {"segment_max", "segment_min"}


def _is_tensor_and_dtype(k, gf):
    import torch  # noqa: PLC0415 - Keras's torch tensors

    assert gf.ops.is_tensor(gf.Tensor(X)) and not gf.ops.is_tensor(X)
    assert k.ops.is_tensor(torch.tensor(X)) and not k.ops.is_tensor(X)
    for a in (X, I32, X > 0):
        assert gf.ops.dtype(gf.Tensor(a)) == k.ops.dtype(torch.tensor(a))


def _loop_grads(k, gf, build):
    """``build(ops, x)`` -> a scalar; values and gradients of x equal Keras's."""
    import torch  # noqa: PLC0415 - Keras's gradient

    xg, xt = gf.Tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    got, want = build(gf.ops, xg), build(k.ops, xt)
    np.testing.assert_allclose(np.asarray(got.numpy()), _np(k, want), rtol=1e-5, atol=1e-5)
    got.backward()
    want.backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)


def _scan(k, gf):
    def build(o, x):
        carry, ys = o.scan(lambda c, r: (c * 0.5 + r, o.sum(c * r)), o.zeros((4,)), x)
        rev = o.scan(lambda c, r: (c + o.sum(r["a"]), c), 0.0, {"a": x}, reverse=True)[1]
        return o.sum(carry) + o.sum(ys) + o.sum(rev)
    _loop_grads(k, gf, build)
    c, ys = gf.ops.scan(lambda c, _: (c + 1, c), 0, length=3)
    assert ys.numpy().tolist() == [0, 1, 2] and ys.dtype == np.int32 and int(c.numpy()) == 3


def _fori_while(k, gf):
    _loop_grads(k, gf, lambda o, x: o.sum(o.fori_loop(0, 3, lambda i, v: v * x + i, x)))
    _loop_grads(k, gf, lambda o, x: o.sum(o.while_loop(lambda v, i: i < 3, lambda v, i: (v * x, i + 1),
                                                       (x, 0))[0]))
    got = gf.ops.while_loop(lambda v: v < 10, lambda v: v * 2, 1, maximum_iterations=2)
    assert int(np.asarray(got.numpy())) == int(k.ops.while_loop(lambda v: v < 10, lambda v: v * 2, 1,
                                                                maximum_iterations=2))


def _cond_switch(k, gf):
    _loop_grads(k, gf, lambda o, x: o.sum(o.cond(o.sum(x) > 0, lambda: x * 2, lambda: x * 3)))
    _loop_grads(k, gf, lambda o, x: o.sum(o.cond(o.sum(x) < -100, lambda: x * 2, lambda: o.exp(x))))
    for i in (0, 1, 5, -1):
        _loop_grads(k, gf, lambda o, x, i=i: o.sum(o.switch(i, [lambda a: a * 2, lambda a: o.sin(a)], x)))


def _map(k, gf):
    _loop_grads(k, gf, lambda o, x: o.sum(o.map(lambda r: o.sum(r * r), x)))
    _loop_grads(k, gf, lambda o, x: o.sum(o.vectorized_map(lambda r: r * o.sum(r), x)))
    got = gf.ops.map(lambda d: d["a"] + d["b"], {"a": X, "b": Y})
    want = k.ops.map(lambda d: d["a"] + d["b"], {"a": X, "b": Y})
    np.testing.assert_allclose(got.numpy(), _np(k, want), rtol=1e-6)


def _associative_scan(k, gf):
    _loop_grads(k, gf, lambda o, x: o.sum(o.associative_scan(lambda a, b: a * b, x, axis=1)))
    _loop_grads(k, gf, lambda o, x: o.sum(o.associative_scan(lambda a, b: a + b, x, reverse=True)))
    pairs = lambda o: o.associative_scan(lambda a, b: (a[0] + b[0], a[1] * b[1]), (V[:4], W))  # noqa: E731
    for g, w in zip(pairs(gf.ops), pairs(k.ops)):
        np.testing.assert_allclose(g.numpy(), _np(k, w), rtol=1e-5)


def _custom_gradient(k, gf):
    def make(o):
        @o.custom_gradient
        def log1pexp(x):
            e = o.exp(x)

            def grad(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return o.multiply(upstream, 1.0 - 1.0 / o.add(1, e))

            return o.log(1 + e), grad
        return lambda o2, x: o2.sum(log1pexp(x) * 2.0)

    import torch  # noqa: PLC0415 - Keras's gradient

    xg, xt = gf.Tensor(X, requires_grad=True), torch.tensor(X, requires_grad=True)
    got, want = make(gf.ops)(gf.ops, xg), make(k.ops)(k.ops, xt)
    np.testing.assert_allclose(got.numpy(), _np(k, want), rtol=1e-5)
    got.backward()
    want.backward()
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


def _polar(k, gf):
    got, want = gf.ops.polar(W, V[:4]), _np(k, k.ops.nn.polar(W, V[:4]))
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


SPECIAL.update({"is_tensor": _is_tensor_and_dtype, "dtype": _is_tensor_and_dtype, "scan": _scan,
                "fori_loop": _fori_while, "while_loop": _fori_while, "cond": _cond_switch, "switch": _cond_switch,
                "map": _map, "vectorized_map": _map, "associative_scan": _associative_scan,
                "custom_gradient": _custom_gradient, "polar": _polar})
CORE_NAMES = sorted({r[0] for r in CORE} | set(SPECIAL) - set(NUMPY_NAMES))


@case("ops", *CORE_NAMES)
def core_op(k, gf, name):
    if name in SPECIAL:
        return SPECIAL[name](k, gf)
    for row in CORE:
        if row[0] == name:
            check_row(k, gf, row, **TOLERANCES["CORE"])


def symbolic_core_cases(S):
    x = S(None, 6, 4)
    return [
        ("slice", (x, (0, 1, 1), (2, 2, 3)), {}, None), ("slice_update", (x, (0, 1, 1), np.ones((1, 2, 2), np.float32)),
                                                         {}, None),
        ("scatter", (np.array([[0, 1]], np.int32), S(1), (3, 4)), {}, None),
        ("scatter_update", (x, np.array([[0, 1, 1]], np.int32), np.ones(1, np.float32)), {}, None),
        ("unstack", (S(3, 4),), {}, None), ("saturate_cast", (x, "uint8"), {}, None),
        ("in_top_k", (S(None, dtype="int32"), S(None, 5), 2), {}, None), ("erfc", (x,), {}, None),
        ("erfinv", (x,), {}, None), ("logdet", (S(None, 4, 4),), {}, "self"), ("extract_sequences", (x, 2, 1), {}, None),
        ("cdist", (x, S(None, 5, 4)), {}, None), ("rearrange", (S(2, 6, 4), "b h w -> b (w h)"), {}, None),
        *[(n, (S(5, 4), np.array([0, 1, 1, 2, 2], np.int32)), {"num_segments": 3}, None)
          for n in ("segment_sum", "segment_max", "segment_min", "segment_prod")],
        ("fft", ([x, x],), {}, None), ("fft2", ([x, x],), {}, None), ("ifft2", ([x, x],), {}, None),
        ("rfft", (x,), {}, None), ("irfft", ([x, x],), {}, None), ("stft", (S(None, 32), 8, 4, 8), {}, None),
        ("istft", ([S(None, 9, 5), S(None, 9, 5)], 8, 4, 8), {}, None),
        ("view_as_complex", (S(None, 3, 2),), {}, "self"), ("view_as_real", (S(None, 3, dtype="complex64"),), {},
                                                             "self"),
        ("polar", (x, x), {}, "self"),
        ("scan", (lambda c, r: (c + r, c), np.zeros(4, np.float32), S(None, 4)), {}, "self"),
        ("associative_scan", (lambda a, b: a + b, x), {}, "self"),
        ("fori_loop", (0, 2, lambda i, v: gf.ops.multiply(v, 2.0), x), {}, "self"),
        ("while_loop", (lambda v: False, lambda v: v, x), {}, "self"),
        ("cond", (S(1, dtype="bool"), lambda: gf.ops.ones((2,)), lambda: gf.ops.zeros((2,))), {}, "self"),
        ("switch", (0, [lambda v: gf.ops.multiply(v, 2.0)], x), {}, "self"),
        ("map", (lambda r: r * 2, x), {}, "self"), ("vectorized_map", (lambda r: r * 2, x), {}, "self"),
    ]


# -- keras.ops.nn's losses and normalizations (gradflow/ops/nn_table.py) -------------------------------
P = (np.abs(X) + 0.1).astype(np.float32)
T01 = (RNG.uniform(size=(3, 4)) > 0.5).astype(np.float32)
LOGITS = RNG.normal(size=(2, 6, 5)).astype(np.float32)
NN = [
    ("binary_crossentropy", (T01, U), {}, (1,)), ("binary_crossentropy", (T01, X), {"from_logits": True}, (1,)),
    ("categorical_crossentropy", (T01, P), {}, (1,)), ("categorical_crossentropy", (T01, X), {"from_logits": True}, (1,)),
    ("categorical_crossentropy", (T01, X), {"from_logits": True, "axis": 0}, (1,)),
    ("sparse_categorical_crossentropy", (np.array([0, 3, 1], np.int32), P), {}, (1,)),
    ("sparse_categorical_crossentropy", (np.array([[0], [3], [1]], np.int32), X), {"from_logits": True}, (1,)),
    ("sparse_categorical_crossentropy", (np.array([0, 2, 1, 1], np.int32), X), {"from_logits": True, "axis": 0},
     (1,)),
    ("normalize", (X,), {}, 1), ("normalize", (X3,), {"axis": 1, "order": 1}, 1), ("normalize", (X,), {"order": 3}, 1),
    ("psnr", (U, U * 0.9), {"max_val": 1.0}, 2),
    ("multi_hot", (np.array([[0, 2], [1, 1]], np.int32), 4), {}, 0),
    ("multi_hot", (np.array([0, 3], np.int32),), {"num_classes": 5}, 0),
    ("batch_normalization", (X, W, W * 2, -1), {}, 3),
    ("batch_normalization", (X3, W[:3], W[1:], 1), {"offset": V[:3], "scale": W[:3], "epsilon": 0.1}, 3),
    ("layer_normalization", (X,), {}, 1), ("layer_normalization", (X3, W, V[:4]), {}, 3),
    ("layer_normalization", (X3,), {"axis": (1, 2)}, 1), ("layer_normalization", (X3, W), {"rms_scaling": True}, 2),
    ("rms_normalization", (X,), {}, 1), ("rms_normalization", (X3, W), {}, 2),
    ("rms_normalization", (X3,), {"axis": (0, 2)}, 1),
    ("ctc_loss", (np.array([[1, 2, 2], [3, 1, 0]], np.int32), LOGITS, np.array([3, 2], np.int32),
                  np.array([6, 5], np.int32)), {}, (1,)),
    ("ctc_loss", (np.array([[1, 2], [4, 4]], np.int32), LOGITS, np.array([2, 2], np.int32),
                  np.array([6, 6], np.int32)), {"mask_index": 0}, (1,)),
    ("ctc_decode", (LOGITS, np.array([6, 4], np.int32)), {}, 0),
    ("ctc_decode", (LOGITS, np.array([6, 4], np.int32)), {"merge_repeated": False, "mask_index": 4}, 0),
    ("ctc_decode", (LOGITS, np.array([6, 4], np.int32)), {"strategy": "beam_search", "beam_width": 10,
                                                          "top_paths": 2}, 0),
    ("ctc_decode", (LOGITS * 3, np.array([6, 5], np.int32)), {"strategy": "beam_search", "beam_width": 4}, 0),
]
TABLES["NN"] = NN
TOLERANCES["NN"] = {"rtol": 1e-4, "atol": 1e-4}
NO_GRADCHECK |= {"ctc_loss"}  # float32 logits in log space: checked against torch's gradient instead

# -- keras.ops.linalg's additions (gradflow/ops/linalg.py) ---------------------------------------------
L_FACTOR = np.linalg.cholesky(SPD).astype(np.float32)
LINALG = [
    ("pinv", (X,), {}, 1), ("pinv", (SQ,), {}, 1), ("pinv", (X.T.copy(),), {"rcond": 1e-3}, 1),
    ("cholesky_inverse", (L_FACTOR,), {}, 1), ("cholesky_inverse", (L_FACTOR.T.copy(),), {"upper": True}, 1),
    ("solve_triangular", (SQ, X.T.copy()), {}, 2), ("solve_triangular", (SQ, V[:4]), {"lower": True}, 2),
    ("lstsq", (X.T.copy(), V[:4]), {}, 2), ("lstsq", (np.concatenate([SQ, X]), np.concatenate([X.T, Y.T[:3]])), {}, 2),
    ("matrix_rank", (SQ,), {}, 0), ("matrix_rank", (np.ones((3, 3), np.float32),), {}, 0),
    ("lu_factor", (SQ,), {}, 0), ("lu_factor", (np.stack([SQ, SPD]),), {}, 0),
]
TABLES["LINALG"] = LINALG
TOLERANCES["LINALG"] = {"rtol": 1e-4, "atol": 1e-4}


def namespaces(k, gf, table):  # noqa: F811 - the table namespaces, now that NN and LINALG exist
    """(Keras namespace, gradflow namespace) a table's names live in (None: ``ops``)."""
    if table == "NN":
        return (k.ops.nn if k is not None else None), gf.ops.nn
    if table == "LINALG":
        return (k.ops.linalg if k is not None else None), gf.ops.linalg
    return None, None


def _eig(k, gf):
    got_w, got_v = (t.numpy() for t in gf.ops.linalg.eig(SQ))
    want_w = _np(k, k.ops.linalg.eig(SQ)[0])
    assert got_w.dtype == want_w.dtype and got_v.shape == (4, 4)
    np.testing.assert_allclose(np.sort_complex(got_w), np.sort_complex(want_w), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(SQ @ got_v, got_v * got_w[None], rtol=1e-4, atol=1e-4)


def _jvp(k, gf):
    import torch  # noqa: PLC0415 - Keras's jvp runs torch.func

    def fn(o):
        return lambda a, b: o.sum(o.sin(a) * b, axis=0)

    got = gf.ops.linalg.jvp(fn(gf.ops), (X, Y), (U, X))
    want = k.ops.linalg.jvp(fn(k.ops), (torch.tensor(X), torch.tensor(Y)), (torch.tensor(U), torch.tensor(X)))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.numpy(), _np(k, w), rtol=1e-5, atol=1e-6)
    value, tangent, aux = gf.ops.linalg.jvp(lambda a: (a * a, "aux"), (V,), (W[:1].repeat(5),), has_aux=True)
    assert aux == "aux"
    np.testing.assert_allclose(tangent.numpy(), 2 * V * W[0], rtol=1e-6)


SPECIAL.update({"eig": _eig, "jvp": _jvp})
NN_NAMES = sorted({r[0] for r in NN})
LINALG_NAMES = sorted({r[0] for r in LINALG} | {"eig", "jvp"})


def _table_case(table):
    def run(k, gf, name):
        if name in SPECIAL:
            return SPECIAL[name](k, gf)
        keras_ns, gf_ns = namespaces(k, gf, table)
        for row in TABLES[table]:
            if row[0] == name:
                check_row(k, gf, row, keras_ns, gf_ns, **TOLERANCES[table])
    return run


case("ops.nn", *NN_NAMES, "polar")(_table_case("NN"))
case("ops", *NN_NAMES)(_table_case("NN"))
case("ops.linalg", *LINALG_NAMES)(_table_case("LINALG"))
case("ops", *LINALG_NAMES)(_table_case("LINALG"))


def symbolic_nn_linalg_cases(S):
    x = S(None, 6, 4)
    p = S(None, 4)
    return [
        ("binary_crossentropy", (p, p), {}, None), ("categorical_crossentropy", (p, p), {}, None),
        ("sparse_categorical_crossentropy", (S(None, dtype="int32"), p), {}, None),
        ("normalize", (x,), {}, None), ("psnr", (x, x, 1.0), {}, None),
        ("multi_hot", (S(None, 3, dtype="int32"), 5), {}, "self"),  # Keras's spec says int32, its result float32
        ("batch_normalization", (x, S(4), S(4), -1), {}, None), ("layer_normalization", (x,), {}, None),
        ("rms_normalization", (x,), {}, None),
        ("ctc_loss", (S(None, 3, dtype="int32"), S(None, 6, 5), S(None, dtype="int32"), S(None, dtype="int32")), {},
         "self"),
        ("ctc_decode", (S(2, 6, 5), np.array([6, 4], np.int32)), {}, "self"),
        ("pinv", (S(None, 4, 3),), {}, None), ("cholesky_inverse", (S(None, 4, 4),), {}, None),
        ("solve_triangular", (S(None, 4, 4), S(None, 4, 2)), {}, None), ("lstsq", (S(5, 4), S(5, 2)), {}, None),
        ("matrix_rank", (S(None, 4, 4),), {}, "self"), ("eig", (S(None, 4, 4),), {}, "self"),
        ("lu_factor", (S(None, 4, 4),), {}, "self"),  # Keras's spec says float32 pivots, its result int32
        ("jvp", (lambda a: a * 2, [x], [x]), {}, "self"),
    ]


# -- names gradflow already had, without a case until now (the ops of elementwise.py, reduction.py,
# shape.py, keras_names.py, nn.py): values, dtypes and gradients against Keras ---------------------------
IMG = RNG.normal(size=(2, 7, 7, 3)).astype(np.float32)
KER = RNG.normal(size=(3, 3, 3, 4)).astype(np.float32)
DKER = RNG.normal(size=(3, 3, 3, 2)).astype(np.float32)
EXISTING = [
    *[(n, (X,), {}, 1) for n in ("abs", "absolute", "exp", "tanh", "sigmoid", "relu", "relu6", "silu", "swish",
                                 "square", "negative", "erf", "softmax", "log_softmax")],
    *[(n, (P,), {}, 1) for n in ("log", "sqrt")],
    *[(n, (X, Y), {}, 2) for n in ("add", "subtract", "multiply", "maximum", "minimum")],
    ("divide", (X, P), {}, 2), ("true_divide", (X, P), {}, 2), ("power", (P, Y), {}, 2), ("power", (I32, 2), {}, 0),
    ("add", (I32, X), {}, 0), ("multiply", (I32, 2.5), {}, 0), ("fmod", (X, P), {}, 2),
    *[(n, (X, Y), {}, 0) for n in ("equal", "not_equal", "greater", "greater_equal", "less", "less_equal")],
    *[(n, (X > 0, Y > 0), {}, 0) for n in ("logical_and", "logical_or", "logical_xor")],
    ("logical_not", (X > 0,), {}, 0), ("isposinf", (NAN,), {}, 0), ("isneginf", (-NAN,), {}, 0),
    ("floor_divide", (X, 0.5), {}, 0), ("mod", (X * 3, 2.0), {}, 0), ("mod", (I32, 4), {}, 0), ("round", (X * 3,), {}, 0),
    ("clip", (X, -0.5, 0.5), {}, 1), ("cast", (X, "int32"), {}, 0), ("cast", (I32, "float32"), {}, 0),
    ("where", (X > 0, X, Y), {}, (1, 2)), ("where", (X > 0, I32, 0.5), {}, 0),
    ("sum", (X,), {"axis": 1}, 1), ("sum", (I32,), {}, 0), ("mean", (X3,), {"axis": (0, 2)}, 1),
    ("mean", (I32,), {}, 0), ("max", (X,), {"axis": 0}, 1), ("min", (X3,), {"axis": 1, "keepdims": True}, 1),
    ("var", (X,), {"axis": 1}, 1), ("std", (X3,), {"axis": 2}, 1), ("argmax", (X,), {"axis": 1}, 0),
    ("argmin", (X,), {}, 0), ("argmax", (X,), {"axis": 0, "keepdims": True}, 0),
    ("moments", (X3, [0, 2]), {}, 1), ("norm", (X,), {"axis": 1}, 1),
    ("reshape", (X3, (4, -1)), {}, 1), ("transpose", (X3, (2, 0, 1)), {}, 1), ("transpose", (X,), {}, 1),
    ("expand_dims", (X, 1), {}, 1), ("expand_dims", (X, (0, 3)), {}, 1), ("squeeze", (X3[:, :1],), {"axis": 1}, 1),
    ("concatenate", ([X, Y],), {"axis": 1}, 1), ("stack", ([X, Y],), {"axis": 2}, 1),
    ("pad", (X, ((1, 0), (2, 1))), {}, 1), ("pad", (X, ((1, 1), (2, 2))), {"mode": "reflect"}, 1),
    ("pad", (X, ((1, 1), (1, 1))), {"constant_values": 3.0}, 1),
    ("matmul", (X, SQ), {}, 2), ("matmul", (I32, J32.T.copy()), {}, 0), ("dot", (X, SQ), {}, 2),
    ("dot", (V, V), {}, 2), ("tensordot", (X3, SQ), {"axes": 1}, 2), ("tensordot", (X, Y), {"axes": [[0, 1], [0, 1]]}, 2),
    ("one_hot", (I32 % 4, 4), {}, 0), ("one_hot", (np.array([0, 2, -1], np.int32), 3), {"axis": 0}, 0),
    ("zeros_like", (X,), {}, 0), ("ones_like", (I32,), {}, 0), ("convert_to_tensor", (X,), {}, 0),
    ("convert_to_tensor", (I32,), {"dtype": "float32"}, 0),
    ("conv", (IMG, KER), {"padding": "same"}, 2), ("conv", (IMG, KER), {"strides": 2}, 2),
    ("depthwise_conv", (IMG, DKER), {}, 2), ("max_pool", (IMG, 2), {}, 1),
    ("average_pool", (IMG, 3), {"strides": 2, "padding": "same"}, 1),
]
TABLES["EXISTING"] = EXISTING
TOLERANCES["EXISTING"] = {"rtol": 1e-4, "atol": 1e-4}
NO_GRADCHECK |= {"abs", "absolute", "relu", "relu6", "maximum", "minimum", "clip", "max", "min", "max_pool", "fmod",
                 "norm", "where"}
EXISTING_CREATION = [("zeros", ((2, 3),), {}), ("ones", (4,), {"dtype": "int32"}), ("full", ((2,), 3.0), {}),
                     ("arange", (5,), {}), ("arange", (1, 4, 0.5), {})]
CREATION += EXISTING_CREATION


def _imag_nonzero(k, gf):
    """Keras on torch refuses ``imag`` of real tensors and gives ``nonzero`` as one (ndim, n) tensor; these
    follow Keras's documented NumPy semantics (its JAX and NumPy backends)."""
    got = gf.ops.imag(X)
    assert got.dtype == np.float32 and not got.numpy().any()
    got = gf.ops.nonzero(I32)
    want = np.nonzero(I32)
    assert len(got) == len(want) and all(g.dtype == np.int32 for g in got)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w)
    np.testing.assert_array_equal(np.stack([g.numpy() for g in got]), _np(k, k.ops.nonzero(I32)))


def _shape_and_numpy(k, gf):
    import torch  # noqa: PLC0415 - Keras's tensors

    assert gf.ops.shape(gf.Tensor(X3)) == tuple(k.ops.shape(torch.tensor(X3)))
    got = gf.ops.convert_to_numpy(gf.Tensor(X))
    assert isinstance(got, np.ndarray) and got.dtype == _np(k, k.ops.convert_to_numpy(X)).dtype
    np.testing.assert_array_equal(got, X)


SPECIAL.update({"imag": _imag_nonzero, "nonzero": _imag_nonzero, "shape": _shape_and_numpy,
                "convert_to_numpy": _shape_and_numpy})
EXISTING_NAMES = sorted({r[0] for r in EXISTING} | {r[0] for r in EXISTING_CREATION}
                        | {"imag", "nonzero", "shape", "convert_to_numpy"})


def _existing(k, gf, name):
    if name in SPECIAL:
        return SPECIAL[name](k, gf)
    for row in EXISTING:
        if row[0] == name:
            check_row(k, gf, row, **TOLERANCES["EXISTING"])
    for row in EXISTING_CREATION:
        if row[0] == name:
            check_creation(k, gf, row)


_NN_EXISTING = {"average_pool", "conv", "depthwise_conv", "log_softmax", "max_pool", "moments", "one_hot", "relu",
                "relu6", "sigmoid", "silu", "softmax", "swish"}
case("ops", *EXISTING_NAMES)(_existing)
case("ops.numpy", *sorted(set(EXISTING_NAMES) - _NN_EXISTING - {"shape", "convert_to_numpy", "convert_to_tensor",
                                                                  "cast", "erf", "norm"}))(_existing)
case("ops.nn", *sorted(_NN_EXISTING))(_existing)
