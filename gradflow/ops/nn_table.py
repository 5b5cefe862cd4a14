"""``keras.ops.nn``'s activation functions, from one table: each row names the activation that
computes it (``gradflow.activations``, whose functions carry the gradients and the reference
tests) and Keras's ``ops.nn`` defaults where they differ from ``keras.activations``' (``gelu`` is
approximate in ``ops``, exact in ``activations``).

Ops never import ``gradflow.activations`` (it imports ops): a row finds its function in the
registry, where ``activations`` registers every built-in, at call time.
"""
from __future__ import annotations

import numpy as np

from .._registry import find
from ..autograd.tensor import Tensor
from ..backend import get_backend
from . import elementwise, keras_names, nn, numpy_table, reduction, shape
from . import loss as _loss
from .dtypes import float_dtype, result_type

#: ops.nn name -> (activations name, Keras ops.nn defaults)
ACTIVATIONS: dict[str, tuple[str, dict]] = {
    "elu": ("elu", {"alpha": 1.0}), "selu": ("selu", {}), "softplus": ("softplus", {}),
    "softsign": ("softsign", {}), "leaky_relu": ("leaky_relu", {"negative_slope": 0.2}),
    "hard_sigmoid": ("hard_sigmoid", {}), "hard_silu": ("hard_silu", {}), "hard_swish": ("hard_silu", {}),
    "gelu": ("gelu", {"approximate": True}), "celu": ("celu", {"alpha": 1.0}), "glu": ("glu", {"axis": -1}),
    "hard_shrink": ("hard_shrink", {"threshold": 0.5}), "hard_tanh": ("hard_tanh", {}),
    "log_sigmoid": ("log_sigmoid", {}), "soft_shrink": ("soft_shrink", {"threshold": 0.5}),
    "sparse_plus": ("sparse_plus", {}), "sparse_sigmoid": ("sparse_sigmoid", {}),
    "sparsemax": ("sparsemax", {"axis": -1}), "squareplus": ("squareplus", {"b": 4}),
    "tanh_shrink": ("tanh_shrink", {}), "threshold": ("threshold", {"threshold": None, "default_value": None}),
}


def _row(name):
    target, defaults = ACTIVATIONS[name]
    params = list(defaults)

    def op(x, *args, **kwargs):
        bound = dict(defaults)
        bound.update(zip(params, args))
        bound.update(kwargs)
        out = find("activations", target)(x, **bound)
        return out if isinstance(out, Tensor) else Tensor(out)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"``keras.ops.nn.{name}``: ``keras.activations.{target}`` with Keras's ops defaults {defaults}."
    return op


for _name in ACTIVATIONS:
    globals()[_name] = _row(_name)

__all__ = list(ACTIVATIONS)


# -- keras.ops.nn's losses and normalizations (wt-ops), composed of differentiable ops ---------------
# Keras's formulas (keras/src/backend/torch/nn.py, keras/src/ops/nn.py); the gradients come from the ops.
_EPSILON = 1e-7  # keras.config.epsilon()


class _Ops:
    """The ops these compositions use, looked up in their modules at call time (``gradflow.ops`` itself
    imports this module, so it cannot be imported here)."""

    _MODULES = (elementwise, keras_names, numpy_table, reduction, shape, nn)

    def __getattr__(self, name):
        for module in self._MODULES:
            fn = getattr(module, name, None)
            if fn is not None:
                return fn
        raise AttributeError(name)


_ops = _Ops()


def _float(x) -> Tensor:
    x = _ops.convert_to_tensor(x)
    return x if x.dtype.kind == "f" else _ops.cast(x, float_dtype())


def binary_crossentropy(target, output, from_logits=False):
    """``keras.ops.nn.binary_crossentropy``: elementwise, no reduction."""
    target, output = _ops.convert_to_tensor(target), _float(output)
    if target.shape != output.shape:
        raise ValueError(f"binary_crossentropy: target and output shapes differ: {target.shape} vs {output.shape}")
    target = _ops.cast(target, output.dtype) if target.dtype != output.dtype else target
    if from_logits:  # max(x, 0) - x * t + log(1 + exp(-|x|))
        return _ops.relu(output) - output * target + _ops.log1p(_ops.exp(-_ops.abs(output)))
    p = _ops.clip(output, _EPSILON, 1.0 - _EPSILON)
    return -(target * _ops.maximum(_ops.log(p), -100.0) + (1.0 - target) * _ops.maximum(_ops.log(1.0 - p), -100.0))


def categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``keras.ops.nn.categorical_crossentropy``: summed over ``axis``."""
    target, output = _ops.convert_to_tensor(target), _float(output)
    if target.shape != output.shape:
        raise ValueError(f"categorical_crossentropy: target and output shapes differ: {target.shape} vs "
                         f"{output.shape}")
    target = _ops.cast(target, output.dtype) if target.dtype != output.dtype else target
    if from_logits:
        log_prob = _ops.log_softmax(output, axis=axis)
    else:
        p = _ops.clip(output / _ops.sum(output, axis=axis, keepdims=True), _EPSILON, 1.0 - _EPSILON)
        log_prob = _ops.log(p)
    return -_ops.sum(target * log_prob, axis=axis)


def sparse_categorical_crossentropy(target, output, from_logits=False, axis=-1):
    """``keras.ops.nn.sparse_categorical_crossentropy``: integer targets, the class axis ``axis``."""
    output = _float(output)
    target = _ops.convert_to_tensor(target)
    if target.ndim == output.ndim and target.shape[axis] == 1:
        target = _ops.squeeze(target, axis)
    hot = _ops.one_hot(_ops.cast(target, "int32"), output.shape[axis], axis=axis, dtype=output.dtype)
    hot = hot * _ops.cast(_ops.expand_dims(target, axis) >= 0, output.dtype)
    return categorical_crossentropy(hot, output, from_logits, axis)


def normalize(x, axis=-1, order=2, epsilon=None):
    """``keras.ops.nn.normalize``: ``x / max(norm(x, order), epsilon)`` along ``axis``."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1, got {order!r}")
    x = _float(x)
    if x.ndim == 0:
        x = _ops.expand_dims(x, 0)
    eps = _EPSILON if epsilon is None else epsilon
    if order == 2:
        inv = _ops.minimum(_ops.rsqrt(_ops.sum(x * x, axis=axis, keepdims=True)), 1.0 / eps)
        return x * inv
    norm = _ops.power(_ops.sum(_ops.power(_ops.abs(x), float(order)), axis=axis, keepdims=True), 1.0 / order)
    return x / _ops.maximum(norm, eps)


def psnr(x1, x2, max_val):
    """``keras.ops.nn.psnr``: ``20 log10(max_val) - 10 log10(mean((x1 - x2)^2))``."""
    x1, x2 = _ops.convert_to_tensor(x1), _ops.convert_to_tensor(x2)
    if x1.shape != x2.shape:
        raise ValueError(f"psnr: input shapes {x1.shape} and {x2.shape} must match")
    d = x1 - x2
    mse = _ops.mean(d * d)
    return 20.0 * _ops.log10(_ops.cast(_ops.convert_to_tensor(max_val), x1.dtype)) - 10.0 * _ops.log10(mse)


def multi_hot(inputs, num_classes=None, axis=-1, dtype=None, sparse=False, **kwargs):
    """``keras.ops.nn.multi_hot``: one row with a 1 at each class present (no gradient)."""
    if sparse:
        raise ValueError("multi_hot: sparse=True is not supported")
    num_classes = kwargs.pop("num_tokens", num_classes)
    x = _ops.convert_to_tensor(inputs)
    hot = _ops.one_hot(_ops.cast(x, "int32"), num_classes, axis=axis, dtype=dtype)
    return _ops.max(hot, axis=1 if x.ndim > 1 else 0)


def _along(v, x, axis):
    if v is None:
        return None
    v = _ops.convert_to_tensor(v)
    shape = [1] * x.ndim
    shape[axis % x.ndim] = v.shape[0]
    return _ops.reshape(v, tuple(shape))


def batch_normalization(x, mean, variance, axis, offset=None, scale=None, epsilon=1e-3):
    """``keras.ops.nn.batch_normalization``: ``(x - mean) * rsqrt(variance + epsilon) * scale + offset``."""
    x = _ops.convert_to_tensor(x)
    mean, variance = _along(mean, x, axis), _along(variance, x, axis)
    inv = _ops.rsqrt(variance + epsilon)
    if scale is not None:
        inv = inv * _along(scale, x, axis)
    out = (x - mean) * inv
    return out + _along(offset, x, axis) if offset is not None else out


def _axes_list(axis, ndim):
    return sorted(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))


def _broadcast_param(v, x, axes):
    if v is None:
        return None
    v = _ops.convert_to_tensor(v)
    v = v if v.dtype == x.dtype else _ops.cast(v, x.dtype)
    if v.ndim != x.ndim and axes != [x.ndim - 1]:
        shape = [1] * x.ndim
        for a in axes:
            shape[a] = x.shape[a]
        return _ops.reshape(v, tuple(shape))
    return v


def ctc_loss(target, output, target_length, output_length, mask_index=0):
    """``keras.ops.nn.ctc_loss``: per-sample CTC loss of logits ``output`` (B, T, C), each sample over its
    first ``output_length`` steps (differentiable in ``output``)."""
    output = _float(output)
    labels = _ops.convert_to_numpy(target).astype(np.int64)
    lab_len = _ops.convert_to_numpy(target_length).astype(np.int64).reshape(-1)
    out_len = _ops.convert_to_numpy(output_length).astype(np.int64).reshape(-1)
    xp = get_backend().xp
    losses = []
    for b in range(output.shape[0]):
        logits = output[b:b + 1, :int(out_len[b])]
        losses.append(_ops.reshape(_loss.ctc_loss(logits, xp.asarray(labels[b:b + 1]), xp.asarray(lab_len[b:b + 1]),
                                                  int(mask_index)), (1,)))
    return _ops.concatenate(losses, 0)


def _ctc_greedy(x, lengths, merge_repeated, mask_index):
    batch, steps, classes = x.shape
    mask_index = classes - 1 if mask_index is None else mask_index
    idx = x.argmax(-1).astype(np.int32)
    scores = x.max(-1)
    beyond = np.arange(steps)[None, :] >= lengths[:, None]
    idx = np.where(beyond, mask_index, idx)
    scores = np.where(beyond, 0.0, scores)
    if merge_repeated:
        repeat = np.pad(idx[:, 1:] == idx[:, :-1], ((0, 0), (1, 0)))
        idx = np.where(repeat, mask_index, idx)
    invalid = idx == mask_index
    idx = np.where(invalid, -1, idx)
    order = np.argsort(np.where(invalid, steps, np.arange(steps)[None, :]), axis=-1, kind="stable")
    idx = np.take_along_axis(idx, order, -1)
    return idx[None].astype(np.int32), (-scores.sum(1)[:, None]).astype(x.dtype)


def _ctc_beam(x, lengths, beam_width, top_paths, mask_index):
    """Prefix beam search in log space: each beam is a label prefix with the log-probabilities of the
    alignments that end in a blank and in its last label."""
    batch, steps, classes = x.shape
    mask_index = classes - 1 if mask_index is None else mask_index
    logp = x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)
    paths = np.full((top_paths, batch, steps), -1, np.int32)
    scores = np.full((batch, top_paths), -np.inf, x.dtype)
    for b in range(batch):
        beams: dict[tuple, list[float]] = {(): [0.0, -np.inf]}  # prefix -> [log p(blank end), log p(label end)]
        for t in range(int(lengths[b])):
            nxt: dict[tuple, list[float]] = {}

            def add(prefix, which, value, into=nxt):
                slot = into.setdefault(prefix, [-np.inf, -np.inf])
                slot[which] = np.logaddexp(slot[which], value)

            for prefix, (pb, pl) in beams.items():
                total = np.logaddexp(pb, pl)
                for c in range(classes):
                    p = float(logp[b, t, c])
                    if c == mask_index:
                        add(prefix, 0, total + p)
                        continue
                    last = prefix[-1] if prefix else None
                    if c == last:
                        add(prefix, 1, pl + p)  # the same label continues
                        add(prefix + (c,), 1, pb + p)  # a new one after a blank
                    else:
                        add(prefix + (c,), 1, total + p)
            ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))
            beams = dict(ranked[:beam_width])
        ranked = sorted(beams.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:top_paths]
        for i, (prefix, (pb, pl)) in enumerate(ranked):
            paths[i, b, :len(prefix)] = prefix
            scores[b, i] = np.logaddexp(pb, pl)
    return paths, scores


def ctc_decode(inputs, sequence_lengths, strategy="greedy", beam_width=100, top_paths=1, merge_repeated=True,
               mask_index=0):
    """``keras.ops.nn.ctc_decode``: ``(paths, scores)``; paths ``(top_paths, batch, steps)`` int32 padded with
    -1 (greedy: one path, scores the negated sum of the best logits; beam: log-probabilities)."""
    x = _ops.convert_to_numpy(_float(inputs)).astype(result_type(_float(inputs), "float32"))
    lengths = _ops.convert_to_numpy(sequence_lengths).astype(np.int64).reshape(-1)
    xp = get_backend().xp
    if strategy == "greedy":
        paths, scores = _ctc_greedy(x, lengths, merge_repeated, mask_index)
    elif strategy == "beam_search":
        paths, scores = _ctc_beam(x, lengths, int(beam_width), int(top_paths), mask_index)
    else:
        raise ValueError(f"ctc_decode: strategy must be 'greedy' or 'beam_search', got {strategy!r}")
    return Tensor._wrap(xp.asarray(paths)), Tensor._wrap(xp.asarray(scores))


#: keras.ops.nn's names beyond the activations (also in keras.ops)
NN_MORE = ["binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "normalize", "psnr",
           "multi_hot", "batch_normalization", "ctc_loss", "ctc_decode"]
__all__ += NN_MORE
