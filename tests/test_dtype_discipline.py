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
    # layers added with issue 23's breadth work
    "ActivityRegularization": (lambda: L.ActivityRegularization(l1=0.01, l2=0.01), [(2, 4)]),
    "AdaptiveAveragePooling1D": (lambda: L.AdaptiveAveragePooling1D(3), [(2, 7, 3)]),
    "AdaptiveAveragePooling2D": (lambda: L.AdaptiveAveragePooling2D((2, 3)), [(2, 5, 6, 3)]),
    "AdaptiveAveragePooling3D": (lambda: L.AdaptiveAveragePooling3D((2, 2, 2)), [(2, 4, 4, 4, 2)]),
    "AdaptiveMaxPooling1D": (lambda: L.AdaptiveMaxPooling1D(3), [(2, 7, 3)]),
    "AdaptiveMaxPooling2D": (lambda: L.AdaptiveMaxPooling2D((2, 3)), [(2, 5, 6, 3)]),
    "AdaptiveMaxPooling3D": (lambda: L.AdaptiveMaxPooling3D((2, 2, 2)), [(2, 4, 4, 4, 2)]),
    "AdditiveAttention": (lambda: L.AdditiveAttention(), [[(2, 3, 4), (2, 5, 4)]]),
    "Attention": (lambda: L.Attention(use_scale=True), [[(2, 3, 4), (2, 5, 4)]]),
    "AlphaDropout": (lambda: L.AlphaDropout(0.2, seed=1), [(2, 6)]),
    "GaussianDropout": (lambda: L.GaussianDropout(0.2, seed=1), [(2, 6)]),
    "GaussianNoise": (lambda: L.GaussianNoise(0.1, seed=1), [(2, 6)]),
    "SpatialDropout1D": (lambda: L.SpatialDropout1D(0.2, seed=1), [(2, 5, 3)]),
    "SpatialDropout2D": (lambda: L.SpatialDropout2D(0.2, seed=1), [(2, 4, 4, 3)]),
    "SpatialDropout3D": (lambda: L.SpatialDropout3D(0.2, seed=1), [(2, 3, 3, 3, 2)]),
    "Conv3DTranspose": (lambda: L.Conv3DTranspose(2, 2, strides=2), [(2, 3, 3, 3, 2)]),
    "ConvLSTM1D": (lambda: L.ConvLSTM1D(2, 3, padding='same'), [(2, 3, 5, 2)]),
    "ConvLSTM3D": (lambda: L.ConvLSTM3D(2, 2), [(2, 2, 3, 3, 3, 1)]),
    "Cropping1D": (lambda: L.Cropping1D((1, 1)), [(2, 5, 3)]),
    "Cropping3D": (lambda: L.Cropping3D(1), [(2, 4, 4, 4, 2)]),
    "ZeroPadding1D": (lambda: L.ZeroPadding1D(1), [(2, 5, 3)]),
    "ZeroPadding3D": (lambda: L.ZeroPadding3D(1), [(2, 3, 3, 3, 2)]),
    "UpSampling3D": (lambda: L.UpSampling3D(2), [(2, 2, 2, 2, 2)]),
    "DepthwiseConv1D": (lambda: L.DepthwiseConv1D(3, depth_multiplier=2), [(2, 6, 3)]),
    "SeparableConv1D": (lambda: L.SeparableConv1D(4, 3), [(2, 6, 3)]),
    "EinsumDense": (lambda: L.EinsumDense('abc,cd->abd', output_shape=(None, 4), bias_axes='d'), [(2, 3, 5)]),
    "SpectralNormalization": (lambda: L.SpectralNormalization(L.Dense(3)), [(2, 4)]),
    "Wrapper": (lambda: L.SpectralNormalization(L.Dense(3)), [(2, 4)]),
    "MelSpectrogram": (lambda: L.MelSpectrogram(fft_length=32, sequence_stride=8, sequence_length=16, num_mel_bins=8), [(2, 64)]),
    "STFTSpectrogram": (lambda: L.STFTSpectrogram(mode='log', frame_length=16, frame_step=8, fft_length=16), [(2, 64, 1)]),
    "AutoContrast": (lambda: L.AutoContrast(value_range=(0, 1)), [(2, 8, 8, 3)]),
    "Equalization": (lambda: L.Equalization(value_range=(0, 1)), [(2, 8, 8, 3)]),
    "ContrastLimitedAdaptiveHistogramEqualization": (lambda: L.ContrastLimitedAdaptiveHistogramEqualization(value_range=(0, 1), tile_grid_size=(2, 2)), [(2, 8, 8, 3)]),
    "RandomColorDegeneration": (lambda: L.RandomColorDegeneration(0.5, seed=1), [(2, 8, 8, 3)]),
    "RandomColorJitter": (lambda: L.RandomColorJitter(value_range=(0, 1), brightness_factor=0.2, contrast_factor=0.2, seed=1), [(2, 8, 8, 3)]),
    "RandomCrop": (lambda: L.RandomCrop(6, 6, seed=1), [(2, 8, 8, 3)]),
    "RandomElasticTransform": (lambda: L.RandomElasticTransform(value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandomErasing": (lambda: L.RandomErasing(value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandomGaussianBlur": (lambda: L.RandomGaussianBlur(value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandomGrayscale": (lambda: L.RandomGrayscale(factor=1.0, seed=1), [(2, 8, 8, 3)]),
    "RandomHue": (lambda: L.RandomHue(0.5, value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandomInvert": (lambda: L.RandomInvert(value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandomPerspective": (lambda: L.RandomPerspective(seed=1), [(2, 8, 8, 3)]),
    "RandomPosterization": (lambda: L.RandomPosterization(4, value_range=(0, 255), seed=1), [(2, 8, 8, 3)]),
    "RandomSaturation": (lambda: L.RandomSaturation(0.5, value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandomSharpness": (lambda: L.RandomSharpness(0.5, value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandomShear": (lambda: L.RandomShear(0.2, 0.2, seed=1), [(2, 8, 8, 3)]),
    "Solarization": (lambda: L.Solarization(addition_factor=0.2, threshold_factor=0.5, value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "AugMix": (lambda: L.AugMix(value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "RandAugment": (lambda: L.RandAugment(value_range=(0, 1), seed=1), [(2, 8, 8, 3)]),
    "CutMix": (lambda: L.CutMix(seed=1), [(2, 8, 8, 3)]),
    "MixUp": (lambda: L.MixUp(seed=1), [(2, 8, 8, 3)]),
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
    "ReversibleEmbedding": "integer token inputs: tests/layers/test_keras_layer_cases.py compares it with Keras",
    "MaxNumBoundingBoxes": "reshapes bounding-box dicts; no float computation of its own",
    "CategoryEncoding": "integer token inputs (its output dtype is checked against Keras in its tests)",
    "Discretization": "bins floats into integer indices (checked in tests/layers/test_lookup_layers.py)",
    "Hashing": "hashes strings or integers to integer bins",
    "HashedCrossing": "hashes crossed features to integer bins",
    "IntegerLookup": "maps integers to integer indices",
    "StringLookup": "maps strings to integer indices",
    "TextVectorization": "turns strings into token indices",
    "Pipeline": "runs its layers in turn, each checked on its own",
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
