"""dtype discipline: no layer and no op turns float32 into float64, whatever Python or NumPy scalars it
uses inside (NumPy 2 promotes ``float32_array * np.float64(x)`` to float64; MultiHeadAttention once
ran, and returned, float64 because of ``1.0 / np.sqrt(key_dim)``).

Every exported layer runs on float32 inputs (tables: tests/layers' breadth cases plus the layers
below; a layer that cannot take float input is skipped with its reason), and every exported op runs
on float32 tensors (the table of tests/ops/test_symbolic_ops.py, which has a case for every op). The
output, every input gradient and every weight gradient must stay float32."""
import importlib.util
from pathlib import Path

import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L
from gradflow.autograd.tensor import Tensor


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).parent / path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_breadth = _load("_dtype_breadth", "layers/test_keras_breadth_layers.py")
_layer_dtypes = _load("_dtype_layers", "layers/test_dtype_discipline.py")
_symbolic = _load("_dtype_symbolic", "ops/test_symbolic_ops.py")


def _merge(cls):
    return lambda: cls()


# name -> (factory, input shapes; several shapes: positional inputs, or one list for the merge layers)
EXTRA = {
    "Masking": (lambda: L.Masking(mask_value=0.0), [(2, 4, 3)]),
    "GlobalMaxPooling2D": (lambda: L.GlobalMaxPooling2D(), [(2, 4, 4, 3)]),
    "Reshape": (lambda: L.Reshape((6, 2)), [(2, 3, 4)]),
    "UpSampling2D": (lambda: L.UpSampling2D(interpolation="bilinear"), [(2, 3, 3, 2)]),
    "RandomFlip": (lambda: L.RandomFlip(seed=1), [(2, 5, 5, 3)]),
    "RandomTranslation": (lambda: L.RandomTranslation(0.2, 0.2, seed=1), [(2, 5, 5, 3)]),
    "RandomRotation": (lambda: L.RandomRotation(0.2, seed=1), [(2, 5, 5, 3)]),
    "RandomZoom": (lambda: L.RandomZoom(0.2, seed=1), [(2, 5, 5, 3)]),
    "RandomContrast": (lambda: L.RandomContrast(0.3, seed=1), [(2, 5, 5, 3)]),
    "RandomBrightness": (lambda: L.RandomBrightness(0.2, seed=1), [(2, 5, 5, 3)]),
    **{n: (_merge(getattr(L, n)), [[(2, 4), (2, 4)]]) for n in
       ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate")},
    "Dot": (lambda: L.Dot(axes=1, normalize=True), [[(2, 4), (2, 4)]]),
    "Lambda": (lambda: L.Lambda(lambda t: t * 2.5 + np.float32(1)), [(2, 4)]),
    "Conv1DTranspose": (lambda: L.Conv1DTranspose(3, 3, strides=2), [(2, 5, 2)]),
    "Normalization": (lambda: L.Normalization(mean=0.5, variance=2.0), [(2, 4)]),
    "Bidirectional": (lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)), [(2, 5, 4)]),
    "MultiHeadAttention": (lambda: L.MultiHeadAttention(2, 3, dropout=0.1), [(2, 5, 4), (2, 6, 4)]),
    "GroupQueryAttention": (lambda: L.GroupQueryAttention(3, 4, 2, dropout=0.1), [(2, 5, 4), (2, 6, 4)]),
    "RMSNormalization": (lambda: L.RMSNormalization(), [(2, 5, 4)]),
    "RNN": (lambda: L.RNN(L.StackedRNNCells([L.SimpleRNNCell(3), L.LSTMCell(2), L.GRUCell(2)])), [(2, 5, 4)]),
    "TimeDistributed": (lambda: L.TimeDistributed(L.Dense(3)), [(2, 5, 4)]),
}
#: exported layers that run no float computation of their own, with the reason
SKIP = {
    "Layer": "the abstract base class",
    "InputLayer": "a graph input: no computation",
    "TensorOp": "an op recorded as a layer: every op is checked below",
    "SimpleRNNCell": "runs inside RNN (the StackedRNNCells case)",
    "LSTMCell": "runs inside RNN (the StackedRNNCells case)",
    "GRUCell": "runs inside RNN (the StackedRNNCells case)",
    "StackedRNNCells": "runs inside RNN (its case)",
}


def _float(shape, seed=0):
    x = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    x[np.abs(x) < 1e-2] += 0.1
    return x


def _assert_float32(name, layer, out, inputs):
    outs = out if isinstance(out, (list, tuple)) else [out]
    for o in outs:
        assert o.dtype == np.float32, f"{name} returned {o.dtype}"
    total = None
    for o in outs:
        if o.requires_grad:
            term = (o * o).sum()
            total = term if total is None else total + term
    if total is None:
        return
    total.backward()
    for x in inputs:
        assert x.grad is None or x.grad.dtype == np.float32, f"{name}: input gradient {x.grad.dtype}"
    for w in layer.trainable_weights:
        assert w.dtype == np.float32 and (w.grad is None or w.grad.dtype == np.float32), \
            f"{name}: weight {w.name} {w.dtype}, gradient {None if w.grad is None else w.grad.dtype}"


def _layer_classes():
    seen: dict[type, list[str]] = {}
    for n in L.__all__:
        obj = getattr(L, n)
        if isinstance(obj, type) and issubclass(obj, L.Layer):
            seen.setdefault(obj, []).append(n)
    return seen


TABLE_NAMES = {c[0] for c in _layer_dtypes.CASES}


def test_every_exported_layer_has_a_case_or_a_reason():
    missing = [names for names in _layer_classes().values()
               if not set(names) & (TABLE_NAMES | set(EXTRA) | set(SKIP))]
    assert missing == []


@pytest.mark.parametrize("name", sorted(EXTRA))
def test_layer_keeps_float32(name):
    factory, shapes = EXTRA[name]
    layer = factory()
    if isinstance(shapes[0], list):
        inputs = [Tensor(_float(s, i), requires_grad=True) for i, s in enumerate(shapes[0])]
        out = layer(inputs, training=True)
    else:
        inputs = [Tensor(_float(s, i), requires_grad=True) for i, s in enumerate(shapes)]
        out = layer(*inputs, training=True)
    _assert_float32(name, layer, out, inputs)


# the table cases (tests/layers/test_dtype_discipline.py) run there; here the attention layers in the
# configurations that take other code paths: masks, causal, scores returned, grouped heads
@pytest.mark.parametrize("cls", ["MultiHeadAttention", "GroupQueryAttention"])
@pytest.mark.parametrize("kwargs", [{}, {"use_causal_mask": True}, {"attention_mask": True},
                                    {"return_attention_scores": True}])
def test_attention_paths_keep_float32(cls, kwargs):
    layer = EXTRA[cls][0]()
    q = Tensor(_float((2, 5, 4)), requires_grad=True)
    v = Tensor(_float((2, 6, 4), 1), requires_grad=True)
    if kwargs.get("attention_mask"):
        kwargs = {"attention_mask": np.random.default_rng(2).random((2, 5, 6)) > 0.3}
    _assert_float32(cls, layer, layer(q, v, training=True, **kwargs), [q, v])


# -- ops --------------------------------------------------------------------------------------------
_INT_DTYPES = ("int32", "int64", "uint8", "int8", "int16")


def _concrete(v, i=[0]):  # noqa: B006 - a counter: distinct inputs per call
    i[0] += 1
    shape = tuple(3 if d is None else d for d in v.shape)
    rng = np.random.default_rng(i[0])
    if v.dtype == "bool":
        return Tensor(rng.random(shape) > 0.5)
    if v.dtype in _INT_DTYPES:
        return Tensor(rng.integers(0, 3, shape).astype(v.dtype))
    x = (np.abs(rng.normal(size=shape)) + 0.5).astype(v.dtype)
    if len(shape) >= 2 and shape[-1] == shape[-2]:  # square: well conditioned and positive definite
        x = x @ np.swapaxes(x, -1, -2) + shape[-1] * np.eye(shape[-1], dtype=v.dtype)
    return Tensor(x, requires_grad=v.dtype.startswith("float"))


OP_CASES = [c for c in _symbolic.CASES if all(not isinstance(a, _symbolic.S) or a.dtype == "float32"
                                               for a in _symbolic._fill(c[1], lambda v: v))]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", OP_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(OP_CASES)])
def test_op_keeps_float32(case):
    name, args, kwargs, _ = case
    inputs = _symbolic._fill(args, _concrete)
    out = _symbolic._gradflow(name)(*inputs, **kwargs)
    flat = [t for t in gf.tree.flatten(out) if isinstance(t, Tensor)]
    for o in flat:
        assert o.dtype != np.float64, f"{name} returned float64 from float32 inputs"
    total = None
    for o in flat:
        if o.requires_grad and o.dtype == np.float32:
            term = o.sum()
            total = term if total is None else total + term
    if total is None:
        return
    total.backward()
    for x in gf.tree.flatten(inputs):
        if isinstance(x, Tensor) and x.grad is not None:
            assert x.grad.dtype == x.dtype, f"{name}: gradient {x.grad.dtype} for a {x.dtype} input"


@pytest.mark.parametrize("name", ["dot_product_attention", "layer_normalization", "rms_normalization"])
def test_fused_ops_keep_float16(name):
    """The fused kernels take float32/64; float16 is computed in float32 and given back as float16."""
    x = Tensor(_float((2, 5, 2, 4)).astype(np.float16), requires_grad=True)
    args = (x, x, x) if name == "dot_product_attention" else (x,)
    out = getattr(gf.ops, name)(*args)
    assert out.dtype == np.float16
    out.sum().backward()
    assert x.grad.dtype == np.float16
