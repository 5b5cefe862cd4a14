"""Loss functions with Keras 3 names, values and defaults.

Functions (``mean_squared_error(y_true, y_pred)``, ...) return the per-sample loss Tensor,
reduced over the last axis like Keras. Classes (``MeanSquaredError()``, ...) are called as
``loss(y_true, y_pred, sample_weight=None)`` and return the reduced scalar; ``loss.call``
gives the per-sample Tensor. ``get(identifier)`` resolves a name, alias, class, instance or
callable; ``fused_loss`` gives the logits form of a (softmax|sigmoid, crossentropy) pair.

Keras defaults kept here: ``EPSILON = 1e-7`` (``keras.backend.epsilon()``) clips the
probability-space losses, and the default reduction is ``"sum_over_batch_size"`` (the sum of
the weighted per-sample losses divided by their number). ``y_true`` is a NumPy/CuPy array or
a Tensor and gets no gradient; ``y_pred`` is a Tensor and every loss is differentiable in it.
"""
from __future__ import annotations

import contextlib
import inspect
import threading
import warnings

import numpy as np

from . import ops as F
from ._registry import register_module
from .autograd.tensor import Tensor
from .backend import array_module, backend_for, is_cupy_array
from .ops import loss as _op

__all__ = [
    "EPSILON", "REDUCTIONS", "Loss", "LossFunctionWrapper",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError",
    "MeanSquaredLogarithmicError", "Hinge", "SquaredHinge", "CategoricalHinge", "LogCosh",
    "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "BinaryCrossentropy",
    "KLDivergence", "Poisson", "CosineSimilarity", "Huber",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "hinge", "squared_hinge", "categorical_hinge", "log_cosh",
    "categorical_crossentropy", "sparse_categorical_crossentropy", "binary_crossentropy",
    "kl_divergence", "poisson", "cosine_similarity", "huber",
    "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy", "Dice", "Tversky", "Circle",
    "CategoricalGeneralizedCrossEntropy", "CTC",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "dice", "tversky", "circle",
    "categorical_generalized_cross_entropy", "ctc",
    "get", "serialize", "deserialize", "canonical_name", "fused_loss", "reduce_weighted_values",
]

#: Keras's ``backend.epsilon()``: the clipping bound of the probability-space losses.
EPSILON = 1e-7
#: Reductions ``Loss`` accepts (Keras 3): None/"none" keep the per-sample values.
REDUCTIONS = ("sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none", None)


# -- helpers ---------------------------------------------------------------------------------
def _pred(y_pred) -> Tensor:
    return y_pred if isinstance(y_pred, Tensor) else Tensor(y_pred)


def _array_like(x, like, dtype=None):
    """``x`` (array, Tensor, list or scalar) as an array on ``like``'s device, no gradient."""
    data = x.data if isinstance(x, Tensor) else x
    if is_cupy_array(like) and not is_cupy_array(data):
        data = backend_for(like).asarray(np.asarray(data))
    elif not is_cupy_array(like) and is_cupy_array(data):
        data = backend_for(data).to_numpy(data)
    else:
        data = array_module(like).asarray(data)
    return data if dtype is None else data.astype(dtype, copy=False)


def _true(y_true, y_pred: Tensor):
    """``y_true`` as an array of ``y_pred``'s device and dtype (Keras casts it the same way)."""
    return _array_like(y_true, y_pred.data, y_pred.dtype)


def _same_rank(t, p):
    """Keras's ``squeeze_or_expand_to_same_rank``: fix a rank difference of one trailing 1."""
    if t.ndim == p.ndim + 1 and t.shape[-1] == 1:
        if p.ndim == 1:
            p = p.reshape(p.shape + (1,))
        else:
            t = t.reshape(t.shape[:-1])
    elif p.ndim == t.ndim + 1 and p.shape[-1] == 1:
        if t.ndim == 1:
            t = t.reshape(t.shape + (1,))
        else:
            p = p.reshape(p.shape[:-1])
    return t, p


def _pair(y_true, y_pred, name: str = "loss"):
    """(y_true array, y_pred Tensor) with y_true cast to y_pred's dtype and ranks aligned; shapes that do
    not broadcast are refused, naming the loss and both shapes."""
    y_pred = _pred(y_pred)
    t, p = _same_rank(_true(y_true, y_pred), y_pred)
    if t.shape != p.shape:
        try:
            np.broadcast_shapes(t.shape, p.shape)
        except ValueError:
            raise ValueError(f"{name}: y_true of shape {tuple(t.shape)} does not match (or broadcast against) "
                             f"y_pred of shape {tuple(p.shape)}") from None
    return t, p


# -- loss functions: (y_true, y_pred) -> per-sample loss Tensor ----------------------------------
def mean_squared_error(y_true, y_pred):
    """mean((y_true - y_pred)**2, axis=-1)."""
    t, p = _pair(y_true, y_pred, "mean_squared_error")
    d = p - t
    return F.mean(d * d, axis=-1)


def mean_absolute_error(y_true, y_pred):
    """mean(|y_true - y_pred|, axis=-1)."""
    t, p = _pair(y_true, y_pred, "mean_absolute_error")
    return F.mean(F.abs(p - t), axis=-1)


def mean_absolute_percentage_error(y_true, y_pred):
    """100 * mean(|y_true - y_pred| / max(|y_true|, 1e-7), axis=-1)."""
    t, p = _pair(y_true, y_pred, "mean_absolute_percentage_error")
    xp = array_module(t)
    inv = 1.0 / xp.maximum(xp.abs(t), EPSILON)
    return F.mean(F.abs(p - t) * inv, axis=-1) * 100.0


def mean_squared_logarithmic_error(y_true, y_pred):
    """mean((log(max(y_pred, 1e-7) + 1) - log(max(y_true, 1e-7) + 1))**2, axis=-1)."""
    t, p = _pair(y_true, y_pred, "mean_squared_logarithmic_error")
    xp = array_module(t)
    d = F.log(F.maximum(p, EPSILON) + 1.0) - xp.log(xp.maximum(t, EPSILON) + 1.0)
    return F.mean(d * d, axis=-1)


def _hinge_labels(t):
    """Keras: labels that are all 0/1 become -1/1; other labels are used as they are."""
    xp = array_module(t)
    binary = xp.all((t == 0) | (t == 1))  # a device scalar: no host round trip
    return xp.where(binary, 2.0 * t - 1.0, t).astype(t.dtype, copy=False)


def hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0), axis=-1); 0/1 labels are converted to -1/1."""
    t, p = _pair(y_true, y_pred, "hinge")
    return F.mean(F.relu(1.0 - p * _hinge_labels(t)), axis=-1)


def squared_hinge(y_true, y_pred):
    """mean(max(1 - y_true * y_pred, 0)**2, axis=-1); 0/1 labels are converted to -1/1."""
    t, p = _pair(y_true, y_pred, "squared_hinge")
    h = F.relu(1.0 - p * _hinge_labels(t))
    return F.mean(h * h, axis=-1)


def categorical_hinge(y_true, y_pred):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) over the last axis."""
    t, p = _pair(y_true, y_pred, "categorical_hinge")
    pos = F.sum(p * t, axis=-1)
    neg = F.max(p * (1.0 - t), axis=-1)
    return F.relu(neg - pos + 1.0)


def log_cosh(y_true, y_pred):
    """mean(log(cosh(y_pred - y_true)), axis=-1), computed without overflow."""
    t, p = _pair(y_true, y_pred, "log_cosh")
    return F.mean(_op.log_cosh(p, t), axis=-1)


def kl_divergence(y_true, y_pred):
    """sum(t * log(t / p), axis=-1) with t and p clipped to [1e-7, 1]."""
    t, p = _pair(y_true, y_pred, "kl_divergence")
    xp = array_module(t)
    t = xp.clip(t, EPSILON, 1.0)
    return F.sum(t * xp.log(t) - F.log(F.clip(p, EPSILON, 1.0)) * t, axis=-1)


def poisson(y_true, y_pred):
    """mean(y_pred - y_true * log(y_pred + 1e-7), axis=-1)."""
    t, p = _pair(y_true, y_pred, "poisson")
    return F.mean(p - F.log(p + EPSILON) * t, axis=-1)


def cosine_similarity(y_true, y_pred, axis=-1):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred), axis) (Keras 3 sign: -1 is best).

    x / max(||x||, 1e-7) like ``keras.ops.normalize``; a zero vector gives 0.
    """
    t, p = _pair(y_true, y_pred, "cosine_similarity")
    xp = array_module(t)
    tn = t / xp.sqrt(xp.maximum((t * t).sum(axis=axis, keepdims=True), EPSILON * EPSILON))
    pn = p / F.sqrt(F.maximum(F.sum(p * p, axis=axis, keepdims=True), EPSILON * EPSILON))
    return -F.sum(pn * tn, axis=axis)


def huber(y_true, y_pred, delta=1.0):
    """mean(0.5*e**2 if |e| <= delta else delta*|e| - 0.5*delta**2, axis=-1), e = y_pred - y_true."""
    t, p = _pair(y_true, y_pred, "huber")
    e = p - t
    ae = F.abs(e)
    return F.mean(F.where(ae.data <= delta, e * e * 0.5, ae * delta - 0.5 * delta * delta), axis=-1)


def _check_onehot(name, t, p, axis):
    if t.ndim != p.ndim:
        raise ValueError(
            f"{name}: y_true must be one-hot with the same rank as y_pred; got y_true of shape {t.shape} "
            f"and y_pred of shape {p.shape}. For integer class labels use sparse_categorical_crossentropy."
        )
    if t.shape[axis] != p.shape[axis]:
        raise ValueError(
            f"{name}: y_true has one-hot width {t.shape[axis]} but y_pred has {p.shape[axis]} classes "
            f"(shapes {t.shape} and {p.shape}); the one-hot width must equal the number of outputs"
        )
    if t.shape != p.shape:
        raise ValueError(f"{name}: y_true of shape {t.shape} does not match y_pred of shape {p.shape}")


def categorical_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """-sum(y_true * log(p), axis) for one-hot (or soft) ``y_true``.

    Probabilities (Keras): p = clip(y_pred / sum(y_pred, axis), 1e-7, 1 - 1e-7). Logits
    (``from_logits=True``): the fused, stable log-softmax cross-entropy. Label smoothing:
    y_true * (1 - ls) + ls / num_classes.
    """
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    _check_onehot("categorical_crossentropy", t, y_pred, axis)
    if y_pred.shape[axis] == 1:
        warnings.warn(
            f"categorical_crossentropy on y_pred of shape {y_pred.shape} with a single class is always 0; "
            f"use binary_crossentropy for two classes", UserWarning, stacklevel=2)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[axis]
    if from_logits:
        return F.softmax_cross_entropy(y_pred, t, axis=axis)
    return _op.probability_crossentropy(y_pred, t, axis, EPSILON)


class _Checked(threading.local):
    labels = False


_CHECKED = _Checked()


@contextlib.contextmanager
def labels_checked():
    """Inside it, sparse labels are taken as already checked against the class count (the trainer checks
    a fit's whole label array on the host once), so no step reads labels back from a GPU to check them."""
    before, _CHECKED.labels = _CHECKED.labels, True
    try:
        yield
    finally:
        _CHECKED.labels = before


def _sparse_labels(name, y_true, y_pred, ignore_class):
    """Integer labels of shape y_pred.shape[:-1] and the valid mask (None without ignore_class)."""
    lab = _array_like(y_true, y_pred.data)
    if lab.ndim == y_pred.ndim and lab.shape[-1] == 1:
        lab = lab.reshape(lab.shape[:-1])
    if lab.shape != y_pred.shape[:-1]:
        raise ValueError(
            f"{name}: y_true must hold one integer class id per sample, of shape {y_pred.shape[:-1]} or "
            f"{y_pred.shape[:-1] + (1,)}, for y_pred of shape {y_pred.shape}; got y_true of shape {lab.shape}"
            + (" (one-hot labels? use categorical_crossentropy)" if lab.shape == y_pred.shape else "")
        )
    xp = array_module(lab)
    if lab.dtype.kind not in "iu":
        lab = lab.astype(np.int64)
    valid = None
    if ignore_class is not None:
        valid = lab != ignore_class
        lab = xp.where(valid, lab, 0)
    n = y_pred.shape[-1]
    if _CHECKED.labels:
        return lab, valid
    bad = (lab < 0) | (lab >= n)
    if bool(bad.any()):
        value = int(lab.reshape(-1)[int(bad.reshape(-1).argmax())])
        raise ValueError(
            f"{name}: labels must be integer class ids in [0, {n}) for y_pred with {n} classes "
            f"(shape {y_pred.shape}); got label {value}"
        )
    return lab, valid


def sparse_categorical_crossentropy(y_true, y_pred, from_logits=False, ignore_class=None, axis=-1):
    """-log(p[label]) per sample, with integer labels of shape (N,) or (N, 1).

    Probabilities: p = clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7) (as Keras's NumPy, JAX and
    torch backends). Logits: the fused, stable op. Labels equal to ``ignore_class`` give a loss of
    0 (and ``SparseCategoricalCrossentropy`` leaves them out of the mean, like Keras's mask).
    """
    y_pred = _pred(y_pred)
    if axis not in (-1, y_pred.ndim - 1):
        perm = [i for i in range(y_pred.ndim) if i != axis % y_pred.ndim] + [axis % y_pred.ndim]
        y_pred = F.transpose(y_pred, perm)
    lab, valid = _sparse_labels("sparse_categorical_crossentropy", y_true, y_pred, ignore_class)
    if from_logits:
        out = F.sparse_softmax_cross_entropy(y_pred, lab)
    else:
        out = _op.sparse_probability_crossentropy(y_pred, lab, EPSILON)
    if valid is not None:
        out = out * valid.astype(out.dtype)
    return out


def binary_crossentropy(y_true, y_pred, from_logits=False, label_smoothing=0.0, axis=-1):
    """mean(-(t*log(p) + (1-t)*log(1-p)), axis) with p clipped to [1e-7, 1 - 1e-7].

    ``from_logits=True`` uses the fused, overflow-free sigmoid form. Label smoothing (Keras):
    y_true * (1 - ls) + 0.5 * ls.
    """
    t, p = _pair(y_true, y_pred, "binary_crossentropy")
    if t.shape != p.shape:
        raise ValueError(f"binary_crossentropy: y_true of shape {t.shape} does not match y_pred of shape {p.shape}")
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if from_logits:
        elem = F.sigmoid_binary_cross_entropy(p, t)
    else:
        elem = _op.binary_probability_crossentropy(p, t, EPSILON)
    return F.mean(elem, axis=axis)


def binary_focal_crossentropy(y_true, y_pred, apply_class_balancing=False, alpha=0.25, gamma=2.0,
                              from_logits=False, label_smoothing=0.0, axis=-1):
    """mean((1 - p_t)**gamma * bce, axis) (Lin et al. 2018), p_t = t*p + (1-t)*(1-p).

    As Keras: ``bce`` is the clipped binary crossentropy of p (sigmoid of the logits with
    ``from_logits``), p_t uses p unclipped; with ``apply_class_balancing`` each element is weighted
    by ``alpha`` (class 1) or ``1 - alpha`` (class 0); label smoothing as binary_crossentropy.
    """
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + 0.5 * label_smoothing
    p = F.sigmoid(y_pred) if from_logits else y_pred
    bce = _op.binary_probability_crossentropy(p, t, EPSILON)
    p_t = p * t + (1.0 - p) * (1.0 - t)
    focal = F.power(1.0 - p_t, float(gamma)) * bce
    if apply_class_balancing:
        focal = focal * (t * alpha + (1.0 - t) * (1.0 - alpha))
    return F.mean(focal, axis=axis)


def categorical_focal_crossentropy(y_true, y_pred, alpha=0.25, gamma=2.0, from_logits=False,
                                   label_smoothing=0.0, axis=-1):
    """sum(alpha * (1 - p)**gamma * -t * log(p), axis), p = clip(y_pred / sum(y_pred), 1e-7, 1 - 1e-7).

    ``alpha`` is a float or one weight per class; ``from_logits`` takes a softmax first; label
    smoothing as categorical_crossentropy (Keras's categorical_focal_crossentropy).
    """
    if isinstance(axis, bool):
        raise ValueError(f"`axis` must be of type `int`. Received: axis={axis} of type {type(axis)}")
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    if y_pred.shape[-1] == 1:
        warnings.warn(
            f"categorical_focal_crossentropy on y_pred of shape {y_pred.shape} with a single class is always 0; "
            f"use binary_crossentropy for two classes", UserWarning, stacklevel=2)
    if label_smoothing:
        t = t * (1.0 - label_smoothing) + label_smoothing / t.shape[-1]
    p = F.softmax(y_pred, axis=axis) if from_logits else y_pred
    out = F.clip(p / F.sum(p, axis=axis, keepdims=True), EPSILON, 1.0 - EPSILON)
    weight = F.power(1.0 - out, float(gamma)) * _array_like(alpha, out.data, out.dtype)
    return F.sum(weight * (F.log(out) * -t), axis=axis)


def categorical_generalized_cross_entropy(y_true, y_pred, q):
    """(1 - p**q) / q with p the predicted probability of the integer label (Zhang & Sabuncu 2018)."""
    y_pred = _pred(y_pred)
    lab = _array_like(y_true, y_pred.data).astype(np.int64)
    xp = array_module(lab)
    onehot = (lab[..., None] == xp.arange(y_pred.shape[-1])).astype(y_pred.dtype)
    p = F.sum(y_pred * onehot, axis=-1)
    return (1.0 - F.power(p, float(q))) / float(q)


def dice(y_true, y_pred, axis=None):
    """1 - 2 * sum(t * p) / (sum(t) + sum(p) + 1e-7), summed over ``axis`` (None: everything)."""
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    inter = F.sum(y_pred * t, axis=axis)
    return 1.0 - inter * 2.0 / (F.sum(y_pred, axis=axis) + t.sum(axis=axis) + EPSILON)


def tversky(y_true, y_pred, alpha=0.5, beta=0.5, axis=None):
    """1 - TP / (TP + alpha * FP + beta * FN + 1e-7), with TP = sum(t*p), FP = sum((1-p)*t), FN = sum(p*(1-t)).

    (FP and FN named as in Keras's source, which weighs them in this order.)"""
    y_pred = _pred(y_pred)
    t = _true(y_true, y_pred)
    inter = F.sum(y_pred * t, axis=axis)
    fp = F.sum((1.0 - y_pred) * t, axis=axis)
    fn = F.sum(y_pred * (1.0 - t), axis=axis)
    return 1.0 - inter / (inter + fp * alpha + fn * beta + EPSILON)


def _softplus(x):
    """log(1 + exp(x)) without overflow: relu(x) + log(1 + exp(-|x|)); 0 (gradient 0) at -inf."""
    x = F.maximum(x, -1e30)
    return F.relu(x) + F.log(F.exp(-F.abs(x)) + 1.0)


def circle(y_true, y_pred, ref_labels=None, ref_embeddings=None, remove_diagonal=True, gamma=80, margin=0.4):
    """Circle loss (Sun et al. 2020) of L2-normalised embeddings ``y_pred`` with integer labels ``y_true``.

    Pairwise cosine distances to ``ref_embeddings`` (default: ``y_pred``) weigh positives (same label,
    the diagonal left out with ``remove_diagonal``) and negatives; the loss is
    softplus(logsumexp(positives) + logsumexp(negatives)) per sample, as Keras's ``circle``.
    """
    y_pred = _pred(y_pred)
    lab = _array_like(y_true, y_pred.data).astype(np.int32)
    ref = y_pred if ref_embeddings is None else _pred(ref_embeddings)
    ref_lab = lab if ref_labels is None else _array_like(ref_labels, y_pred.data).astype(np.int32)
    xp = array_module(lab)
    q, k = lab.reshape(-1, 1), ref_lab.reshape(-1, 1)
    positive = q == k.T
    negative = ~positive
    if remove_diagonal:
        positive = positive & ~xp.eye(q.shape[0], k.shape[0], dtype=bool)
    dist = F.maximum(1.0 - F.matmul(y_pred, F.transpose(ref)), 0.0)
    pos_w = F.relu((dist + margin) * positive.astype(dist.dtype))
    neg_w = F.relu((1.0 + margin - dist) * negative.astype(dist.dtype))
    pos = pos_w * (margin - dist) * (-1.0 * gamma)
    neg = neg_w * (1.0 - margin - dist) * float(gamma)
    return _softplus(_op.masked_logsumexp(pos, positive, 1) + _op.masked_logsumexp(neg, negative, 1))


def ctc(y_true, y_pred):
    """CTC loss of logits ``y_pred`` (batch, steps, classes) against integer labels ``y_true``
    (batch, max_length), 0 being the blank and the padding (Keras's ``ctc``: every step counts)."""
    y_pred = _pred(y_pred)
    lab = _array_like(y_true, y_pred.data)
    if lab.ndim != 2:
        raise ValueError("Targets `y_true` are expected to be a tensor of shape `(batch_size, max_length)` in "
                         f"integer format. Received: y_true.shape={tuple(lab.shape)}")
    if y_pred.ndim != 3:
        raise ValueError("Logits `y_pred` are expected to be a tensor of shape `(batch_size, max_length, "
                         f"num_classes)`. Received: y_pred.shape={tuple(y_pred.shape)}")
    lab = lab.astype(np.int64)
    return _op.ctc_loss(y_pred, lab, (lab != 0).sum(axis=-1), 0)


# -- reduction ------------------------------------------------------------------------------
def _standardize_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    return reduction


def _weights_like(sample_weight, values: Tensor):
    """Sample weights as an array broadcastable against ``values`` (per-sample or per-element)."""
    w = _array_like(sample_weight, values.data, values.dtype)
    if w.ndim == values.ndim + 1 and w.shape[-1] == 1:
        w = w.reshape(w.shape[:-1])
    if w.ndim > values.ndim and values.ndim:  # a scalar loss (Dice, Tversky) broadcasts, as in Keras
        raise ValueError(f"sample_weight of shape {w.shape} has more axes than the loss values {values.shape}")
    if w.ndim and values.shape[: w.ndim] == w.shape:
        w = w.reshape(w.shape + (1,) * (values.ndim - w.ndim))  # (N,) weights for (N, T) losses
    try:
        np.broadcast_shapes(w.shape, values.shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {w.shape} does not match the per-sample loss of shape "
                         f"{values.shape}") from None
    return w


def reduce_weighted_values(values, sample_weight=None, mask=None, reduction="sum_over_batch_size"):
    """Weight and reduce per-sample losses as Keras 3's ``Loss.__call__`` does.

    ``mask`` (booleans, e.g. from ``ignore_class``) drops entries; with "sum_over_batch_size" the
    sum is then divided by the number of valid entries. "sum_over_batch_size" and "mean" divide
    the weighted sum by the number of loss values, "mean_with_sample_weight" by the sum of the
    weights, "sum" does not divide, and None/"none" return the weighted values.
    """
    reduction = _standardize_reduction(reduction)
    values = _pred(values)
    xp = array_module(values.data)
    w = None if sample_weight is None else _weights_like(sample_weight, values)
    if mask is not None:
        m = _array_like(mask, values.data, values.dtype)
        if reduction in ("sum_over_batch_size", "mean"):
            valid = m.sum()
            m = m * xp.where(valid > 0, m.size / xp.where(valid > 0, valid, 1), 0)
        w = m if w is None else w * m
    if w is not None:
        values = values * w
    if reduction in (None, "none") or values.ndim == 0 or values.shape == (0,):
        return values
    total = F.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and w is not None:
        d = xp.broadcast_to(w, values.shape).sum()
        return total * xp.where(d != 0, 1.0 / xp.where(d != 0, d, 1), 0).astype(values.dtype)
    return total / values.size


# -- classes ---------------------------------------------------------------------------------
class Loss:
    """Base class: ``call(y_true, y_pred)`` gives per-sample losses; ``__call__`` reduces them.

    ``reduction`` is one of "sum_over_batch_size" (the default, as Keras), "sum", "mean",
    "mean_with_sample_weight" or None/"none".
    """

    def __init__(self, name=None, reduction="sum_over_batch_size"):
        self.name = name or _snake(type(self).__name__)
        self.reduction = _standardize_reduction(reduction)

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = _pred(y_pred)
        if y_pred.dtype == np.float16:  # a mixed_float16 output: Keras's loss computes in floatx
            y_pred = F.cast(y_pred, np.float32)
        losses = self.call(y_true, y_pred)
        mask, out_mask = self._mask(y_true, y_pred), self._output_mask(losses)
        if out_mask is not None:
            mask = out_mask if mask is None else mask & out_mask
        return reduce_weighted_values(losses, sample_weight, mask, self.reduction)

    def call(self, y_true, y_pred):  # pragma: no cover - abstract
        raise NotImplementedError

    def _mask(self, y_true, y_pred):
        """Booleans of the per-sample shape for entries to leave out, or None."""
        return None

    def _output_mask(self, losses):
        """Booleans of the per-sample shape that the loss values themselves mask (Keras's mask set on
        the output of ``call``, as ``circle`` does), or None."""
        return None

    def get_config(self) -> dict:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class LossFunctionWrapper(Loss):
    """A Loss around a per-sample function and its keyword arguments."""

    def __init__(self, fn, reduction="sum_over_batch_size", name=None, **kwargs):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction)
        self.fn = fn
        self.fn_kwargs = kwargs

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred, **self.fn_kwargs)

    def get_config(self):
        return {**super().get_config(), **self.fn_kwargs}


def _simple(cls_name, fn, doc):
    def __init__(self, reduction="sum_over_batch_size", name=fn.__name__):
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name)

    def get_config(self):
        return Loss.get_config(self)

    return type(cls_name, (LossFunctionWrapper,), {"__init__": __init__, "get_config": get_config,
                                                   "__doc__": doc, "__module__": __name__})


MeanSquaredError = _simple("MeanSquaredError", mean_squared_error, "Mean of squared errors over the last axis.")
MeanAbsoluteError = _simple("MeanAbsoluteError", mean_absolute_error, "Mean of absolute errors over the last axis.")
MeanAbsolutePercentageError = _simple("MeanAbsolutePercentageError", mean_absolute_percentage_error,
                                      "100 * mean(|diff| / max(|y_true|, 1e-7)) over the last axis.")
MeanSquaredLogarithmicError = _simple("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                      "Mean squared difference of log(max(x, 1e-7) + 1).")
Hinge = _simple("Hinge", hinge, "mean(max(1 - y_true * y_pred, 0)); 0/1 labels become -1/1.")
SquaredHinge = _simple("SquaredHinge", squared_hinge, "mean(max(1 - y_true * y_pred, 0)**2); 0/1 labels become -1/1.")
CategoricalHinge = _simple("CategoricalHinge", categorical_hinge, "max(neg - pos + 1, 0) for one-hot y_true.")
LogCosh = _simple("LogCosh", log_cosh, "mean(log(cosh(y_pred - y_true))), overflow-free.")
KLDivergence = _simple("KLDivergence", kl_divergence, "sum(t * log(t / p)) with both clipped to [1e-7, 1].")
Poisson = _simple("Poisson", poisson, "mean(y_pred - y_true * log(y_pred + 1e-7)).")


class CosineSimilarity(LossFunctionWrapper):
    """-sum(l2_normalize(y_true) * l2_normalize(y_pred)) along ``axis``."""

    def __init__(self, axis=-1, reduction="sum_over_batch_size", name="cosine_similarity"):
        super().__init__(cosine_similarity, reduction=reduction, name=name, axis=axis)
        self.axis = axis

    def get_config(self):
        return Loss.get_config(self)  # Keras 3 saves no ``axis`` (its get_config has only name and reduction)


class Huber(LossFunctionWrapper):
    """Quadratic for |error| <= delta, linear beyond (Keras name: "huber_loss")."""

    def __init__(self, delta=1.0, reduction="sum_over_batch_size", name="huber_loss"):
        super().__init__(huber, reduction=reduction, name=name, delta=delta)
        self.delta = delta

    def get_config(self):
        return Loss.get_config(self)  # Keras 3 saves no ``delta`` (its get_config has only name and reduction)


class CategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for one-hot labels; see ``categorical_crossentropy`` (eps 1e-7)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="categorical_crossentropy"):
        super().__init__(categorical_crossentropy, reduction=reduction, name=name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


class SparseCategoricalCrossentropy(LossFunctionWrapper):
    """Cross-entropy for integer labels; ``ignore_class`` entries are left out of the mean."""

    def __init__(self, from_logits=False, ignore_class=None, reduction="sum_over_batch_size",
                 name="sparse_categorical_crossentropy"):
        super().__init__(sparse_categorical_crossentropy, reduction=reduction, name=name,
                         from_logits=from_logits, ignore_class=ignore_class)
        self.from_logits, self.ignore_class = from_logits, ignore_class

    def _mask(self, y_true, y_pred):
        if self.ignore_class is None:
            return None
        lab = _array_like(y_true, y_pred.data)
        if lab.ndim == y_pred.ndim and lab.shape[-1] == 1:
            lab = lab.reshape(lab.shape[:-1])
        return lab != self.ignore_class


class BinaryCrossentropy(LossFunctionWrapper):
    """Binary cross-entropy averaged over the last axis; see ``binary_crossentropy`` (eps 1e-7)."""

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name="binary_crossentropy"):
        super().__init__(binary_crossentropy, reduction=reduction, name=name, from_logits=from_logits,
                         label_smoothing=label_smoothing, axis=axis)
        self.from_logits, self.label_smoothing, self.axis = from_logits, label_smoothing, axis


# Losses generated from a table: (class name, function, its parameters in Keras's argument order with
# Keras's defaults: "reduction", "name" and "dtype" mark where those go, the get_config keys in Keras's
# order, an argument check). The instance keeps each argument as an attribute, like Keras's classes.
_POS = inspect.Parameter.POSITIONAL_OR_KEYWORD


def _check_q(args):
    if not 0 < args["q"] < 1:
        raise ValueError("q must be in the interval (0, 1)")


def _table_loss(cls_name, fn, params, config_keys, check=None):
    sig = inspect.Signature([inspect.Parameter("self", _POS)]
                            + [inspect.Parameter(k, _POS, default=v) for k, v in params])

    def __init__(self, *args, **kwargs):
        bound = sig.bind(self, *args, **kwargs)
        bound.apply_defaults()
        a = dict(bound.arguments)
        del a["self"]
        reduction, name = a.pop("reduction"), a.pop("name")
        a.pop("dtype")  # accepted for Keras's signature: gradflow computes losses in y_pred's dtype
        if check is not None:
            check(a)
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, **a)
        for k, v in a.items():
            setattr(self, k, v)

    __init__.__signature__ = sig  # type: ignore[attr-defined]

    def get_config(self):
        return {**Loss.get_config(self), **{k: getattr(self, k) for k in config_keys}}

    doc = (fn.__doc__ or "").strip().split("\n")[0]
    return type(cls_name, (LossFunctionWrapper,), {"__init__": __init__, "get_config": get_config,
                                                   "__doc__": doc, "__module__": __name__})


_R, _D = ("reduction", "sum_over_batch_size"), ("dtype", None)
_TABLE = [
    ("BinaryFocalCrossentropy", binary_focal_crossentropy,
     [("apply_class_balancing", False), ("alpha", 0.25), ("gamma", 2.0), ("from_logits", False),
      ("label_smoothing", 0.0), ("axis", -1), _R, ("name", "binary_focal_crossentropy"), _D],
     ["from_logits", "label_smoothing", "axis", "apply_class_balancing", "alpha", "gamma"], None),
    ("CategoricalFocalCrossentropy", categorical_focal_crossentropy,
     [("alpha", 0.25), ("gamma", 2.0), ("from_logits", False), ("label_smoothing", 0.0), ("axis", -1), _R,
      ("name", "categorical_focal_crossentropy"), _D],
     ["from_logits", "label_smoothing", "axis", "alpha", "gamma"], None),
    ("CTC", ctc, [_R, ("name", "ctc"), _D], [], None),
    ("Dice", dice, [_R, ("name", "dice"), ("axis", None), _D], ["axis"], None),
    ("Tversky", tversky, [("alpha", 0.5), ("beta", 0.5), _R, ("name", "tversky"), ("axis", None), _D],
     ["alpha", "beta", "axis"], None),
    ("Circle", circle, [("gamma", 80.0), ("margin", 0.4), ("remove_diagonal", True), _R, ("name", "circle"), _D],
     ["gamma", "margin", "remove_diagonal"], None),
    ("CategoricalGeneralizedCrossEntropy", categorical_generalized_cross_entropy,
     [("q", 0.5), _R, ("name", "categorical_generalized_cross_entropy"), _D], ["q"], _check_q),
]
_TABLE_CLASSES = {row[0]: _table_loss(*row) for row in _TABLE}
BinaryFocalCrossentropy = _TABLE_CLASSES["BinaryFocalCrossentropy"]
CategoricalFocalCrossentropy = _TABLE_CLASSES["CategoricalFocalCrossentropy"]
CTC = _TABLE_CLASSES["CTC"]
Dice = _TABLE_CLASSES["Dice"]
Tversky = _TABLE_CLASSES["Tversky"]
Circle = _TABLE_CLASSES["Circle"]
CategoricalGeneralizedCrossEntropy = _TABLE_CLASSES["CategoricalGeneralizedCrossEntropy"]
# Keras masks out the samples whose circle loss is 0 (``set_keras_mask(loss, loss > 0)``)
Circle._output_mask = lambda self, losses: losses.data > 0


# -- lookup ----------------------------------------------------------------------------------
_FUNCTIONS = {f.__name__: f for f in (
    mean_squared_error, mean_absolute_error, mean_absolute_percentage_error, mean_squared_logarithmic_error,
    hinge, squared_hinge, categorical_hinge, log_cosh, categorical_crossentropy,
    sparse_categorical_crossentropy, binary_crossentropy, kl_divergence, poisson, cosine_similarity, huber,
    *(row[1] for row in _TABLE),
)}
_ALIASES = {
    "mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error", "logcosh": "log_cosh", "kld": "kl_divergence",
    "kullback_leibler_divergence": "kl_divergence", "cosine_proximity": "cosine_similarity",
    "huber_loss": "huber",
}
_CLASSES = {c.__name__: c for c in (
    MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError, Hinge,
    SquaredHinge, CategoricalHinge, LogCosh, CategoricalCrossentropy, SparseCategoricalCrossentropy,
    BinaryCrossentropy, KLDivergence, Poisson, CosineSimilarity, Huber, *_TABLE_CLASSES.values(),
)}
_CLASS_OF = {
    "mean_squared_error": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "hinge": Hinge, "squared_hinge": SquaredHinge,
    "categorical_hinge": CategoricalHinge, "log_cosh": LogCosh, "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "binary_crossentropy": BinaryCrossentropy,
    "kl_divergence": KLDivergence, "poisson": Poisson, "cosine_similarity": CosineSimilarity, "huber": Huber,
    **{row[1].__name__: _TABLE_CLASSES[row[0]] for row in _TABLE},
}


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and (not name[i - 1].isupper() or (i + 1 < len(name) and name[i + 1].islower())):
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


def _lookup_name(name: str):
    """The function or Loss class for a Keras name, alias or class name, else None."""
    if name in _CLASSES:
        return _CLASSES[name]
    key = name.lower()
    key = _ALIASES.get(key, key)
    return _FUNCTIONS.get(key)


def canonical_name(identifier) -> str | None:
    """The Keras 3 function name behind a loss identifier ('mse' -> 'mean_squared_error'), or None."""
    if isinstance(identifier, str):
        found = _lookup_name(identifier)
        if found is None:
            return None
        identifier = found
    if isinstance(identifier, type) and issubclass(identifier, LossFunctionWrapper):
        try:
            identifier = identifier()
        except TypeError:
            return None
    if isinstance(identifier, LossFunctionWrapper):
        identifier = identifier.fn
    name = getattr(identifier, "__name__", None)
    return name if _FUNCTIONS.get(name) is identifier else None


def get(identifier):
    """A callable ``(y_true, y_pred) -> per-sample loss Tensor``.

    Takes a Keras 3 name ("categorical_crossentropy"), a Keras 2 or short alias ("mse",
    "kullback_leibler_divergence", "logcosh"), a class name or class ("MeanSquaredError"), an
    instance (its ``call``), a config dict from ``serialize``, a callable, or None (None).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Loss):
        return identifier.call
    if isinstance(identifier, type) and issubclass(identifier, Loss):
        return identifier().call
    if isinstance(identifier, dict):
        return _loss_object(identifier).call
    if isinstance(identifier, str):
        found = _lookup_name(identifier)
        if found is None:
            raise ValueError(f"unknown loss {identifier!r}; known: {', '.join(sorted([*_FUNCTIONS, *_ALIASES]))} "
                             f"and the classes {', '.join(sorted(_CLASSES))}")
        return found().call if isinstance(found, type) else found
    if callable(identifier):
        return identifier
    raise TypeError(f"a loss must be a name, a Loss class or instance, or a callable; got {identifier!r}")


def serialize(loss) -> dict | str:
    """{'class_name', 'config'} for a Loss instance; the Keras name for a built-in function."""
    if isinstance(loss, Loss):
        return {"class_name": type(loss).__name__, "config": loss.get_config()}
    name = canonical_name(loss)
    if name is None:
        raise ValueError(f"cannot serialize loss {loss!r}: not a Loss instance or a built-in loss function")
    return name


def deserialize(config):
    """The loss ``serialize`` described, as Keras 3: a function's name (or alias) gives the function,
    a class name or ``{'class_name', 'config'}`` a Loss instance."""
    if isinstance(config, str):
        found = _lookup_name(config)
        if found is None:
            raise ValueError(f"unknown loss {config!r}")
        return found() if isinstance(found, type) else found
    return _loss_object(config)


def _loss_object(config) -> Loss:
    """A Loss instance for a name (a function's name gives its class with defaults) or a config dict."""
    if isinstance(config, str):
        found = _lookup_name(config)
        cls = found if isinstance(found, type) else _CLASS_OF.get(getattr(found, "__name__", None))
        if cls is None:
            raise ValueError(f"unknown loss {config!r}")
        return cls()
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown loss class {config.get('class_name')!r}; known: {', '.join(sorted(_CLASSES))}")
    return cls.from_config(config.get("config", {}))


def fused_loss(loss_identifier, activation_name):
    """The per-sample loss on LOGITS for a (last activation, loss) pair that Keras fuses, else None.

    (softmax, categorical or sparse_categorical crossentropy) and (sigmoid, binary_crossentropy),
    each on probabilities (``from_logits=False``), become the same loss with ``from_logits=True``
    so the model can skip the activation: stable for any logits and faster. Label smoothing,
    ``ignore_class`` and ``axis`` carry over. The returned function has ``.loss``: the matching
    Loss instance (for ``sample_weight`` and ``ignore_class`` masking in the reduction).
    """
    act = activation_name if isinstance(activation_name, str) else getattr(activation_name, "__name__", None)
    if act is None or loss_identifier is None:
        return None
    act = act.lower()
    if isinstance(loss_identifier, (str, dict)) or (
            isinstance(loss_identifier, type) and issubclass(loss_identifier, Loss)):
        try:
            loss_identifier = (_loss_object(loss_identifier) if not isinstance(loss_identifier, type)
                               else loss_identifier())
        except (ValueError, TypeError):
            return None
    elif not isinstance(loss_identifier, Loss):
        name = canonical_name(loss_identifier)
        if name is None:
            return None
        loss_identifier = _CLASS_OF[name]()
    loss = loss_identifier
    if getattr(loss, "from_logits", True):
        return None
    if act == "softmax" and type(loss) is CategoricalCrossentropy and loss.axis == -1:
        fused = CategoricalCrossentropy(from_logits=True, label_smoothing=loss.label_smoothing,
                                        reduction=loss.reduction, name=loss.name)
    elif act == "softmax" and type(loss) is SparseCategoricalCrossentropy:
        fused = SparseCategoricalCrossentropy(from_logits=True, ignore_class=loss.ignore_class,
                                              reduction=loss.reduction, name=loss.name)
    elif act == "sigmoid" and type(loss) is BinaryCrossentropy:
        fused = BinaryCrossentropy(from_logits=True, label_smoothing=loss.label_smoothing, axis=loss.axis,
                                   reduction=loss.reduction, name=loss.name)
    else:
        return None

    def per_sample(y_true, logits):
        return fused.call(y_true, logits)

    per_sample.__name__ = f"{fused.fn.__name__}_from_logits"
    per_sample.loss = fused
    return per_sample


register_module("losses", globals())
