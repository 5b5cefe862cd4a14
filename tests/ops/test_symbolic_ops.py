"""Every exported op on symbolic tensors: the output shape and dtype equal Keras's
(``keras.ops.<name>`` on ``keras.KerasTensor``), generated from one table; every op on NumPy inputs
returns a gradflow Tensor; a functional model written with ops trains, saves and reloads."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import ops
from gradflow.layers.symbolic import KerasTensor
from gradflow.ops import _symbolic

KERNEL2 = np.ones((3, 3, 4, 5), np.float32)
DEPTH2 = np.ones((3, 3, 4, 2), np.float32)
KERNEL1 = np.ones((3, 4, 5), np.float32)
W48 = np.ones((4, 8), np.float32)


class OneRank:
    """A communicator of one rank (its all-reduce changes nothing), for ``sync_batch_norm``."""

    def allreduce_(self, arr):
        return arr


class S:
    """A symbolic input of ``shape`` and ``dtype`` in a case's arguments."""

    def __init__(self, *shape, dtype="float32"):
        self.shape, self.dtype = shape, dtype


X = S(None, 6, 4)
B = S(None, 6, 4, dtype="bool")
IMG = S(None, 8, 8, 4)

# (gradflow name, args, kwargs, Keras: None = keras.ops.<same name>, a name, a function of (keras, *args,
# **kwargs), or "self": no Keras counterpart, so compare with gradflow's own concrete output)
CASES = [
    ("abs", (X,), {}, None), ("absolute", (X,), {}, None), ("add", (X, 1.0), {}, None),
    ("add", (X, S(None, 6, 1)), {}, None), ("sub", (2, X), {}, "subtract"), ("subtract", (X, X), {}, None),
    ("mul", (X, X), {}, "multiply"), ("multiply", (X, 2.0), {}, None), ("div", (X, 2.0), {}, "divide"),
    ("divide", (X, X), {}, None), ("true_divide", (X, X), {}, None), ("pow", (X, 2.0), {}, "power"),
    ("power", (2.0, X), {}, None), ("neg", (X,), {}, "negative"), ("negative", (X,), {}, None),
    ("exp", (X,), {}, None), ("log", (X,), {}, None), ("sqrt", (X,), {}, None), ("square_root", (X,), {}, "sqrt"),
    ("tanh", (X,), {}, None), ("sigmoid", (X,), {}, None), ("relu", (X,), {}, None), ("relu6", (X,), {}, None),
    ("silu", (X,), {}, None), ("swish", (X,), {}, None), ("erf", (X,), {}, None), ("square", (X,), {}, None),
    ("clip", (X, 0.0, 1.0), {}, None), ("maximum", (X, 0.5), {}, None), ("minimum", (X, X), {}, None),
    ("where", (B, X, 0.0), {}, None), ("less", (X, 1.0), {}, None), ("less_equal", (X, X), {}, None),
    ("greater", (X, 1.0), {}, None), ("greater_equal", (X, 1.0), {}, None), ("equal", (X, X), {}, None),
    ("not_equal", (X, 0.0), {}, None), ("cast", (X, "int32"), {}, None), ("round", (X,), {}, None),
    ("floor_divide", (X, 2.0), {}, None), ("mod", (X, 3.0), {}, None),
    ("logical_and", (B, B), {}, None), ("logical_or", (B, B), {}, None), ("logical_not", (B,), {}, None),
    ("logical_xor", (B, B), {}, None),
    ("sum", (X,), {"axis": 1}, None), ("mean", (X,), {"axis": (1, 2)}, None), ("max", (X,), {}, None),
    ("min", (X,), {"axis": -1, "keepdims": True}, None), ("var", (X,), {"axis": 1}, None),
    ("std", (X,), {"axis": 0}, None), ("argmax", (X,), {"axis": 1}, None), ("argmin", (X,), {"axis": -1}, None),
    ("norm", (X,), {"axis": -1}, None), ("moments", (X,), {"axes": [1]}, None),
    ("reshape", (X, (-1, 4)), {}, None), ("reshape", (X, (-1, 3, 8)), {}, None),
    ("transpose", (X, (0, 2, 1)), {}, None), ("transpose", (X,), {}, None),
    ("permute", (X, (0, 2, 1)), {}, lambda k, x, axes: k.ops.transpose(x, axes)),
    ("flatten", (X, 1), {}, lambda k, x, start: k.ops.reshape(x, (-1, 24))),
    ("expand_dims", (X, 1), {}, None), ("squeeze", (S(None, 1, 4),), {"axis": 1}, None),
    ("concatenate", ([X, X],), {"axis": 1}, None), ("concatenate", ([X, X],), {"axis": 0}, None),
    ("stack", ([X, X],), {"axis": 1}, None), ("pad", (X, ((0, 0), (1, 2), (0, 1))), {}, None),
    ("getitem", (X, (slice(None), 0)), {}, lambda k, x, idx: x[idx]),
    ("getitem", (X, (Ellipsis, None, slice(1, 3))), {}, lambda k, x, idx: x[idx]),
    ("matmul", (X, W48), {}, None), ("matmul", (X, S(None, 4, 3)), {}, None), ("dot", (X, W48), {}, None),
    ("tensordot", (X, W48), {"axes": 1}, None),
    ("softmax", (X,), {"axis": -1}, None), ("log_softmax", (X,), {"axis": 1}, None),
    ("softmax_cross_entropy", (X, X), {}, lambda k, y, t: k.ops.categorical_crossentropy(t, y, from_logits=True)),
    ("sparse_softmax_cross_entropy", (S(None, 4), S(None, dtype="int32")), {},
     lambda k, y, t: k.ops.sparse_categorical_crossentropy(t, y, from_logits=True)),
    ("sigmoid_binary_cross_entropy", (X, X), {}, "self"),
    ("conv", (IMG, KERNEL2), {"padding": "same"}, None), ("conv", (S(None, 9, 4), KERNEL1), {}, None),
    ("conv2d", (IMG, KERNEL2), {"strides": 2}, lambda k, x, w, strides: k.ops.conv(x, w, strides)),
    ("conv2d_inference", (IMG, KERNEL2), {}, lambda k, x, w: k.ops.conv(x, w)),
    ("conv2d_relu_max_pool", (IMG, KERNEL2), {}, "self"),
    ("conv2d_transpose", (IMG, np.ones((3, 3, 5, 4), np.float32)), {"strides": 2},
     lambda k, x, w, strides: k.ops.conv_transpose(x, w, strides)),
    ("depthwise_conv", (IMG, DEPTH2), {}, None),
    ("depthwise_conv2d", (IMG, DEPTH2), {}, lambda k, x, w: k.ops.depthwise_conv(x, w)),
    ("max_pool", (IMG, 2), {}, None), ("average_pool", (IMG, 3), {"strides": 2, "padding": "same"}, None),
    ("max_pool2d", (IMG, 2), {}, lambda k, x, p: k.ops.max_pool(x, p)),
    ("avg_pool2d", (IMG, 2), {}, lambda k, x, p: k.ops.average_pool(x, p)),
    ("batch_norm", (X,), {}, "self"), ("sync_batch_norm", (X,), {"comm": OneRank()}, "self"),
    ("batch_norm_relu_max_pool", (IMG,), {}, "self"), ("dropout", (X, 0.5), {}, "self"),
    ("one_hot", (S(None, 3, dtype="int32"), 5), {}, None),
    ("zeros_like", (X,), {}, None), ("ones_like", (S(None, 3, dtype="int32"),), {}, None),
    ("convert_to_tensor", (X,), {}, None),
    ("image.resize", (IMG, (5, 12)), {}, lambda k, x, size: k.ops.image.resize(x, size)),
    ("lstm_sequence", (S(None, 5, 8), np.ones((2, 8), np.float32), S(None, 2), S(None, 2)), {}, "self"),
    ("gru_sequence", (S(None, 5, 6), np.ones((2, 6), np.float32), np.zeros(6, np.float32), S(None, 2)), {},
     "self"),
]
# ops that take no tensor (creation): their concrete result's shape and dtype equal Keras's
CREATION = [("zeros", ((2, 3),), {}), ("ones", (4,), {}), ("full", ((2,), 3.0), {}), ("arange", (5,), {}),
            ("arange", (1, 4, 0.5), {}), ("zeros", ((2,),), {"dtype": "int32"})]


def _gradflow(name):
    module, _, short = name.rpartition(".")
    return getattr(getattr(ops, module) if module else ops, short)


def _fill(args, make):
    def one(v):
        if isinstance(v, S):
            return make(v)
        if isinstance(v, list):
            return [one(x) for x in v]
        return v
    return [one(a) for a in args]


def _keras_result(k, name, keras, args, kwargs):
    if callable(keras):
        return keras(k, *args, **kwargs)
    return _gradflow_like(k, keras or name)(*args, **kwargs)


def _gradflow_like(k, name):
    module, _, short = name.rpartition(".")
    return getattr(getattr(k.ops, module) if module else k.ops, short)


def _specs(out):
    if isinstance(out, (list, tuple)):
        return [s for o in out for s in _specs(o)]
    return [(tuple(out.shape), str(np.dtype(str(out.dtype).replace("torch.", ""))))]


def _concrete(v, batch=7):
    shape = tuple(batch if d is None else d for d in v.shape)
    return gf.Tensor(np.ones(shape, dtype=v.dtype))


def test_every_exported_op_has_a_case():
    covered = {c[0] for c in CASES} | {c[0] for c in CREATION}
    assert sorted(set(_symbolic.op_names()) - covered) == []


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_symbolic_output_spec_equals_keras(case, real_keras):
    name, args, kwargs, keras = case
    got = _gradflow(name)(*_fill(args, lambda v: KerasTensor(v.shape, v.dtype)), **kwargs)
    for t in got if isinstance(got, (list, tuple)) else [got]:
        assert isinstance(t, KerasTensor) and t._node is not None
    if keras == "self":  # no Keras op: the spec equals the concrete run with the batch axis unknown
        concrete = _gradflow(name)(*_fill(args, _concrete), **kwargs)
        want = [((None, *s[1:]) if s and s[0] == 7 else s, d) for s, d in _specs(concrete)]
    else:
        want = _specs(_keras_result(real_keras, name, keras,
                                    _fill(args, lambda v: real_keras.KerasTensor(v.shape, v.dtype)), kwargs))
    assert _specs(got) == want


@pytest.mark.parametrize("case", CREATION, ids=[f"{c[0]}-{i}" for i, c in enumerate(CREATION)])
def test_creation_ops_match_keras(case, real_keras):
    name, args, kwargs = case
    got = _gradflow(name)(*args, **kwargs)
    assert isinstance(got, gf.Tensor)
    assert _specs(got) == _specs(getattr(real_keras.ops, name)(*args, **kwargs))


# gradflow's batch-norm ops return their batch statistics as arrays, for the layers' moving averages
ARRAY_STATS = ("batch_norm", "sync_batch_norm", "batch_norm_relu_max_pool")


@pytest.mark.parametrize("case", [c for c in CASES if c[0] not in ARRAY_STATS],
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES) if c[0] not in ARRAY_STATS])
def test_ops_on_numpy_inputs_return_tensors(case):
    name, args, kwargs, _ = case
    out = _gradflow(name)(*_fill(args, lambda v: np.ones(tuple(2 if d is None else d for d in v.shape),
                                                         v.dtype)), **kwargs)
    for t in out if isinstance(out, (list, tuple)) else [out]:
        assert isinstance(t, gf.Tensor), type(t)
        assert np.asarray(t).shape == t.shape == t.numpy().shape
