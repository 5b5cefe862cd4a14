"""Stateful metrics with Keras 3 names and semantics, accumulated exactly over an epoch.

A ``Metric`` keeps running totals in state ``Variable``s (``metric.variables``, Keras's names:
``total``/``count``, ``true_positives``...): ``update_state(y_true, y_pred, sample_weight=None)``
per batch, ``result()`` (a 0-d Tensor of the metric's dtype, float32 by default, as Keras on
torch returns a tensor) at the end, ``reset_state()`` between epochs. Totals are float64 arrays
of the input's array module (NumPy or CuPy): neither ``update_state`` nor ``result()`` copies
to the host; ``float(result)`` does. Inputs may be arrays, lists or Tensors
(read without gradient); ``y_true`` moves to ``y_pred``'s device when they differ.

``get(identifier, loss=None, output_shape=None)`` resolves names and, like ``Model.compile``
in Keras, turns "accuracy"/"acc" into binary, categorical or sparse-categorical accuracy.
"""
from __future__ import annotations

import warnings

import numpy as np

from . import initializers
from . import losses as _losses
from ._naming import unique_name
from ._registry import register_module
from .autograd.grad_mode import no_grad
from .autograd.tensor import Tensor
from .backend import array_module, get_backend, is_cupy_array
from .variables import Variable

__all__ = [
    "Metric", "Mean", "MeanMetricWrapper", "Accuracy", "BinaryAccuracy", "CategoricalAccuracy",
    "SparseCategoricalAccuracy", "TopKCategoricalAccuracy", "SparseTopKCategoricalAccuracy",
    "MeanSquaredError", "MeanAbsoluteError", "MeanAbsolutePercentageError", "Precision", "Recall", "AUC",
    "TruePositives", "FalsePositives", "TrueNegatives", "FalseNegatives",
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "get", "resolve_accuracy", "serialize", "deserialize",
    # metrics
    "BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy", "KLDivergence", "Poisson",
    "Hinge", "SquaredHinge", "CategoricalHinge", "LogCoshError", "MeanSquaredLogarithmicError", "CosineSimilarity",
    "PearsonCorrelation", "ConcordanceCorrelation", "Sum", "RootMeanSquaredError", "R2Score", "FBetaScore",
    "F1Score", "IoU", "BinaryIoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU", "SensitivityAtSpecificity",
    "SpecificityAtSensitivity", "PrecisionAtRecall", "RecallAtPrecision",
    "binary_crossentropy", "binary_focal_crossentropy", "categorical_crossentropy", "categorical_focal_crossentropy",
    "sparse_categorical_crossentropy", "hinge", "squared_hinge", "categorical_hinge", "huber", "kl_divergence",
    "log_cosh", "poisson", "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "pearson_correlation", "concordance_correlation",
]

_EPS = _losses.EPSILON


# -- helpers ---------------------------------------------------------------------------------
def _arr(x):
    """The array behind ``x`` (Tensor data, array, or a list/scalar as a NumPy array)."""
    if isinstance(x, Tensor):
        return x.data
    if isinstance(x, np.ndarray) or is_cupy_array(x):
        return x
    return np.asarray(x)


def _inputs(y_true, y_pred):
    """(y_true, y_pred) arrays on y_pred's device."""
    p = _arr(y_pred)
    return _losses._array_like(y_true, p), p


def _to_host(x):
    return x.get() if is_cupy_array(x) else np.asarray(x)


def _divide_no_nan(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.where(b != 0, a / np.where(b != 0, b, 1.0), 0.0)


def _floatx():
    return np.dtype(get_backend().default_dtype)


def _out(values, dtype=None) -> Tensor:
    """A metric function's or ``result()``'s value: a Tensor on the values' device (no host copy)."""
    return Tensor._wrap(values.astype(dtype or _floatx(), copy=False))


def _accumulate(var: Variable, inc) -> None:
    """``var += inc`` in place on ``inc``'s device (the variable follows the data there once)."""
    d = var.data
    if is_cupy_array(inc) and not is_cupy_array(d):
        d = var.data = array_module(inc).asarray(d)
    elif is_cupy_array(d) and isinstance(inc, np.ndarray):
        d = var.data = _to_host(d)
    d += inc


# -- metric functions (Keras's: Tensors of floatx, one value per element or per sample) -------
def accuracy(y_true, y_pred):
    """1 where y_pred == y_true exactly, elementwise (Keras: the mean is the metric's job)."""
    t, p = _inputs(y_true, y_pred)
    t, p = _losses._same_rank(t, p)
    return _out(t == p)


def binary_accuracy(y_true, y_pred, threshold=0.5):
    """1 where (y_pred > threshold) == y_true, elementwise (Keras 3: shape of the inputs)."""
    t, p = _inputs(y_true, y_pred)
    t, p = _losses._same_rank(t, p)
    return _out(t == (p > threshold).astype(t.dtype))


def categorical_accuracy(y_true, y_pred):
    """1 where argmax(y_pred) == argmax(y_true) (one-hot labels), else 0."""
    t, p = _inputs(y_true, y_pred)
    if t.shape[-1] != p.shape[-1]:
        raise ValueError(f"categorical_accuracy: y_true has one-hot width {t.shape[-1]} but y_pred has "
                         f"{p.shape[-1]} classes (shapes {t.shape} and {p.shape})")
    return _out(t.argmax(axis=-1) == p.argmax(axis=-1))


def _sparse_targets(t, p):
    if t.ndim == p.ndim and t.shape[-1] == 1:
        t = t.reshape(t.shape[:-1])
    if t.shape != p.shape[:-1]:
        raise ValueError(f"expected integer labels of shape {p.shape[:-1]} (or with a trailing 1) for "
                         f"y_pred of shape {p.shape}; got y_true of shape {t.shape}")
    return t


def sparse_categorical_accuracy(y_true, y_pred):
    """1 where argmax(y_pred) == the integer label (labels shaped (N,) or (N, 1)), else 0."""
    t, p = _inputs(y_true, y_pred)
    t = _sparse_targets(t, p)
    return _out(t == p.argmax(axis=-1))


def _in_top_k(targets, p, k):
    """True where the target's score is among the k largest (ties count in, like tf.math.in_top_k)."""
    xp = array_module(p)
    score = xp.take_along_axis(p, targets.astype(np.int64)[..., None], axis=-1)
    return (p > score).sum(axis=-1) < k


def top_k_categorical_accuracy(y_true, y_pred, k=5):
    """1 where argmax(y_true) is among the ``k`` highest-scored classes of y_pred."""
    t, p = _inputs(y_true, y_pred)
    return _out(_in_top_k(t.argmax(axis=-1), p, k))


def sparse_top_k_categorical_accuracy(y_true, y_pred, k=5, from_sorted_ids=False):
    """1 where the integer label is among the ``k`` highest-scored classes of y_pred (or, with
    ``from_sorted_ids``, among the first ``k`` ids of each row of y_pred)."""
    t, p = _inputs(y_true, y_pred)
    if from_sorted_ids:
        t = _sparse_targets(t, p[..., :1]) if t.ndim == p.ndim else t
        return _out((p[..., :k] == t[..., None]).any(axis=-1))
    return _out(_in_top_k(_sparse_targets(t, p), p, k))


# -- base classes ----------------------------------------------------------------------------
class Metric:
    """A running statistic: ``update_state`` per batch, ``result()`` a Tensor (as Keras)."""

    def __init__(self, name=None, dtype=None):
        self.name = name or _losses._snake(type(self).__name__)
        self.dtype = str(np.dtype(dtype)) if dtype is not None else str(_floatx())
        self._variables = []

    def add_variable(self, shape=(), initializer="zeros", dtype=None, aggregation="sum", name=None):
        """A state ``Variable`` (Keras 3), not trainable, with ``assign``/``assign_add``; create
        them in ``__init__`` and set them back in ``reset_state``."""
        dtype = np.dtype(dtype or self.dtype)
        shape = tuple(shape) if not isinstance(shape, int) else (shape,)
        name = name or unique_name("variable")  # Keras: under name_scope(metric name, '/' -> '>')
        var = Variable._owned(initializers.get(initializer)(shape, dtype=dtype), dtype,
                              f"{self.name.replace('/', '>')}/{name}", trainable=False, aggregation=aggregation)
        var.name = name
        self._variables.append(var)
        return var

    add_weight = add_variable

    @property
    def variables(self) -> list:
        return list(self.__dict__.get("_variables", ()))

    def reset_state(self) -> None:
        """Set every variable made by ``add_variable`` back to zero (subclasses with other state override)."""
        for var in self.variables:
            var.assign(np.zeros(var.shape, dtype=var.dtype))

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def result(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, *args, **kwargs):
        """Update with one batch and return the running result (as Keras)."""
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict):
        return cls(**config)

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name!r}>"


def _samplewise(values, sample_weight):
    """Keras's ``reduce_to_samplewise_values``: weighted per-sample values and per-sample weights."""
    xp = array_module(values)
    if sample_weight is None:
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)))
        return values, None
    sw = _losses._array_like(sample_weight, values, np.float64)
    if sw.ndim == 0 and values.ndim:
        sw = xp.broadcast_to(sw, values.shape[:1])
    values, sw = _losses._same_rank(values, sw)
    if values.ndim > sw.ndim:
        values = values.mean(axis=tuple(range(sw.ndim, values.ndim)))
    try:
        sw = xp.broadcast_to(sw, values.shape)
    except ValueError:
        raise ValueError(f"sample_weight of shape {sw.shape} does not match per-sample values of shape "
                         f"{values.shape}") from None
    values = values * sw
    if sw.ndim > 1:
        sw = sw.mean(axis=tuple(range(1, sw.ndim)))
    if values.ndim > 1:
        values = values.mean(axis=tuple(range(1, values.ndim)))
    return values, sw


class Mean(Metric):
    """Weighted mean of the values seen: sum(values * w) / sum(w) over the whole epoch."""

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        # float64 state (Keras: the metric's dtype) keeps epoch totals exact
        self.total = self.add_variable((), "zeros", dtype="float64", name="total")
        self.count = self.add_variable((), "zeros", dtype="float64", name="count")

    def update_state(self, values, sample_weight=None):
        values = _arr(values).astype(np.float64)
        values, sw = _samplewise(values, sample_weight)
        _accumulate(self.total, values.sum())
        _accumulate(self.count, sw.sum() if sw is not None else (values.shape[0] if values.ndim else 1))

    def result(self) -> Tensor:
        total, count = self.total.data, self.count.data
        xp = array_module(total)
        return _out(xp.where(count != 0, total / xp.where(count != 0, count, 1.0), 0.0), self.dtype)


class MeanMetricWrapper(Mean):
    """The epoch mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``.

    Where both inputs are 1-D, each element is a sample (so the epoch value is exact rather
    than a mean of per-batch means).
    """

    def __init__(self, fn, name=None, dtype=None, **kwargs):
        self.fn = fn
        self.fn_kwargs = kwargs
        super().__init__(name=name or getattr(fn, "__name__", None), dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _inputs(y_true, y_pred)
        if t.ndim == 1 and p.ndim == 1:
            t, p = t[:, None], p[:, None]
        with no_grad():
            values = self.fn(t, Tensor._wrap(p), **self.fn_kwargs)
        super().update_state(values, sample_weight)

    def get_config(self):
        return {**super().get_config(), **self.fn_kwargs}


def _wrapper(cls_name, fn, default_name, doc, config=None, **defaults):
    """A MeanMetricWrapper subclass with Keras's constructor (name, dtype and the fn's kwargs).

    ``config``: which of the fn's kwargs ``get_config`` saves (default: all of them, as Keras's
    MeanMetricWrapper; some Keras classes save none)."""

    def __init__(self, name=default_name, dtype=None, **kwargs):
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{cls_name}() got unexpected arguments {sorted(unknown)}")
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**defaults, **kwargs})

    attrs = {"__init__": __init__, "__doc__": doc, "__module__": __name__}
    if config is not None:
        def get_config(self):
            return {"name": self.name, "dtype": self.dtype, **{k: self.fn_kwargs[k] for k in config}}
        attrs["get_config"] = get_config
    return type(cls_name, (MeanMetricWrapper,), attrs)


Accuracy = _wrapper("Accuracy", accuracy, "accuracy", "How often y_pred equals y_true exactly.")
BinaryAccuracy = _wrapper("BinaryAccuracy", binary_accuracy, "binary_accuracy",
                          "How often (y_pred > threshold) matches binary labels.", threshold=0.5)
CategoricalAccuracy = _wrapper("CategoricalAccuracy", categorical_accuracy, "categorical_accuracy",
                               "How often argmax(y_pred) matches one-hot labels.")
SparseCategoricalAccuracy = _wrapper("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                     "sparse_categorical_accuracy", "How often argmax(y_pred) matches integer labels.")
TopKCategoricalAccuracy = _wrapper("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                   "top_k_categorical_accuracy", "How often one-hot targets are in the top k.", k=5)
SparseTopKCategoricalAccuracy = _wrapper("SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
                                         "sparse_top_k_categorical_accuracy",
                                         "How often integer targets are in the top k.", k=5)
MeanSquaredError = _wrapper("MeanSquaredError", _losses.mean_squared_error, "mean_squared_error",
                            "Epoch mean of mean((y_true - y_pred)**2, axis=-1).")
MeanAbsoluteError = _wrapper("MeanAbsoluteError", _losses.mean_absolute_error, "mean_absolute_error",
                             "Epoch mean of mean(|y_true - y_pred|, axis=-1).")
MeanAbsolutePercentageError = _wrapper("MeanAbsolutePercentageError", _losses.mean_absolute_percentage_error,
                                       "mean_absolute_percentage_error",
                                       "Epoch mean of 100 * mean(|y_true - y_pred| / max(|y_true|, eps), axis=-1).")


# -- confusion-matrix metrics ----------------------------------------------------------------
def _bincount(idx, weights, n):
    if is_cupy_array(idx):
        import cupyx  # noqa: PLC0415

        out = array_module(idx).zeros(n, dtype=np.float64)
        cupyx.scatter_add(out, idx, weights)  # no host sync (cupy.bincount reads the max back)
        return out
    return np.bincount(idx, weights=weights, minlength=n)


def _confusion(y_true, y_pred, thresholds, sample_weight, class_id=None):
    """Weighted (tp, fp, tn, fn) per threshold; predicted positive: y_pred > t.

    ``thresholds`` is an ascending float64 array on y_pred's device.
    """
    t, p = _inputs(y_true, y_pred)
    t, p = _losses._same_rank(t, p)
    if class_id is not None:
        t, p = t[..., class_id], p[..., class_id]
    if t.shape != p.shape:
        raise ValueError(f"y_true of shape {t.shape} does not match y_pred of shape {p.shape}")
    xp = array_module(p)
    w = xp.ones(p.shape, dtype=np.float64)
    if sample_weight is not None:
        sw = _losses._array_like(sample_weight, p, np.float64)
        sw, _ = _losses._same_rank(sw, p)
        if sw.ndim and p.shape[: sw.ndim] == sw.shape:
            sw = sw.reshape(sw.shape + (1,) * (p.ndim - sw.ndim))
        try:
            w = w * sw
        except ValueError:
            raise ValueError(f"sample_weight of shape {sw.shape} does not match y_pred of shape {p.shape}") from None
    flat = p.reshape(-1).astype(np.float64)
    above = xp.searchsorted(thresholds, flat, side="left")  # how many thresholds lie strictly below
    above = xp.where(xp.isnan(flat), 0, above)
    pos = (t != 0).reshape(-1)
    w = w.reshape(-1)
    n = thresholds.shape[0] + 1
    hist_pos = _bincount(above, w * pos, n)
    hist_neg = _bincount(above, w * ~pos, n)
    tp = xp.cumsum(hist_pos[::-1])[::-1][1:]  # positive at threshold i <=> above > i
    fp = xp.cumsum(hist_neg[::-1])[::-1][1:]
    return tp, fp, hist_neg.sum() - fp, hist_pos.sum() - tp


_COUNTS = ("true_positives", "false_positives", "true_negatives", "false_negatives")


class _Counts(Metric):
    """Accumulates weighted tp/fp/tn/fn at ``self._sorted`` (ascending) thresholds.

    All four counts are float64 ``Variable``s; ``variables`` lists those Keras's class keeps
    (``_state``), under Keras's names."""

    _sorted: list
    class_id = None
    _state: tuple = _COUNTS

    def __init__(self, name=None, dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._make_counts((len(self._sorted),))

    def _var_name(self, key: str) -> str:
        return key

    def _make_counts(self, shape) -> None:
        self._variables = []
        for key in _COUNTS:
            setattr(self, key, self.add_variable(shape, "zeros", dtype="float64", name=self._var_name(key)))
        self._variables = [getattr(self, key) for key in self._state]

    def reset_state(self):
        for key in _COUNTS:
            var = getattr(self, key, None)
            if var is not None:
                var.assign(np.zeros(var.shape))

    def _thresholds_like(self, p):
        """The thresholds as a device array of ``p``'s module, copied there once."""
        cache = self.__dict__.setdefault("_thr_cache", {})
        xp = array_module(p)
        if xp.__name__ not in cache:
            cache[xp.__name__] = xp.asarray(np.asarray(self._sorted, dtype=np.float64))
        return cache[xp.__name__]

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred)
        tp, fp, tn, fn = _confusion(y_true, p, self._thresholds_like(p), sample_weight, self.class_id)
        for key, inc in zip(_COUNTS, (tp, fp, tn, fn)):
            _accumulate(getattr(self, key), inc)


def _keep_top_k(p, k: int):
    """``p`` with every value outside each sample's top ``k`` (last axis) set to -inf (Keras's top_k)."""
    xp = array_module(p)
    if k >= p.shape[-1]:
        return p
    kth = xp.sort(p, axis=-1)[..., -k][..., None]
    return xp.where(p >= kth, p, -np.inf)


class _ConfusionMetric(_Counts):
    """Counts at user thresholds (one float, or a list giving a list); ``top_k`` counts only each
    sample's k highest predictions as positive (thresholds then default to -inf, as Keras)."""

    def __init__(self, thresholds=None, top_k=None, class_id=None, name=None, dtype=None):
        self.init_thresholds = thresholds
        self.top_k = None if top_k is None else int(top_k)
        if self.top_k is not None and self.top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        default = -np.inf if self.top_k is not None else 0.5
        thr = [default] if thresholds is None else ([thresholds] if np.ndim(thresholds) == 0 else list(thresholds))
        if not thr or any(not (0.0 <= float(x) <= 1.0 or float(x) == -np.inf) for x in thr):
            raise ValueError(f"thresholds must be in [0, 1], got {thresholds!r}")
        self._order = np.argsort(thr, kind="stable")
        self._sorted = [float(thr[i]) for i in self._order]
        self._scalar = thresholds is None or np.ndim(thresholds) == 0
        self.class_id = class_id
        super().__init__(name=name, dtype=dtype)

    def _per_threshold(self, num, den) -> Tensor:
        """One value per threshold in the user's order: a 0-d Tensor for one threshold (as Keras)."""
        out = np.empty(len(self._sorted))
        out[self._order] = np.broadcast_to(_divide_no_nan(_to_host(num), _to_host(den)), out.shape)
        return Tensor(out[0] if self._scalar else out, dtype=self.dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.top_k is not None:
            t, p = _inputs(y_true, y_pred)
            p = _keep_top_k(p, self.top_k)
            if self.class_id is not None:
                t, p = t[..., self.class_id], p[..., self.class_id]
            return _Counts.update_state(self, t, p, sample_weight)
        return super().update_state(y_true, y_pred, sample_weight)

    def get_config(self):
        return {**super().get_config(), "thresholds": self.init_thresholds, "top_k": self.top_k,
                "class_id": self.class_id}


class _Count(_ConfusionMetric):
    """One weighted confusion count at each threshold (Keras's TruePositives & co.); predicted
    positive: y_pred > threshold (default 0.5)."""

    _count = ""

    def __init__(self, thresholds=None, name=None, dtype=None):
        self._state = (self._count,)
        super().__init__(thresholds=thresholds, name=name, dtype=dtype)

    def _var_name(self, key: str) -> str:
        return "accumulator" if key == self._count else key

    @property
    def accumulator(self) -> Variable:
        return getattr(self, self._count)

    def result(self):
        out = np.empty(len(self._sorted))
        out[self._order] = _to_host(self.accumulator.data)
        return Tensor(out[0] if self._scalar else out, dtype=self.dtype)

    def get_config(self):
        cfg = super().get_config()
        for key in ("top_k", "class_id"):
            cfg.pop(key)
        return cfg


class TruePositives(_Count):
    """Weighted count of positives predicted positive."""

    _count = "true_positives"


class FalsePositives(_Count):
    """Weighted count of negatives predicted positive."""

    _count = "false_positives"


class TrueNegatives(_Count):
    """Weighted count of negatives predicted negative."""

    _count = "true_negatives"


class FalseNegatives(_Count):
    """Weighted count of positives predicted negative."""

    _count = "false_negatives"


class Precision(_ConfusionMetric):
    """tp / (tp + fp) with y_pred > threshold as the positive prediction (default 0.5).

    A list of thresholds gives a list of results. Predictions are expected in [0, 1] (not
    checked, to keep ``update_state`` free of host syncs).
    """

    _state = ("true_positives", "false_positives")

    def result(self):
        tp, fp = self.true_positives.data, self.false_positives.data
        return self._per_threshold(tp, tp + fp)


class Recall(_ConfusionMetric):
    """tp / (tp + fn) with y_pred > threshold as the positive prediction (default 0.5)."""

    _state = ("true_positives", "false_negatives")

    def result(self):
        tp, fn = self.true_positives.data, self.false_negatives.data
        return self._per_threshold(tp, tp + fn)


class AUC(_Counts):
    """Area under the ROC (default) or PR curve, from confusion counts at ``num_thresholds``.

    Thresholds as Keras: -1e-7, i/(num_thresholds-1) for i = 1..num_thresholds-2, 1+1e-7.
    ``summation_method``: "interpolation" (Keras's default: trapezoids for ROC; the Davis &
    Goadrich interpolation for PR), "minoring" or "majoring" (left/right Riemann sums). The
    result approximates the exact AUC to about 1/num_thresholds. ``multi_label=False``: every
    element of y_pred counts as one prediction; ``multi_label=True``: one curve per label (last
    axis), and the result is their mean (weighted by ``label_weights`` when given).
    """

    def __init__(self, num_thresholds=200, curve="ROC", summation_method="interpolation", name=None, dtype=None,
                 thresholds=None, multi_label=False, num_labels=None, label_weights=None, from_logits=False):
        self.multi_label = bool(multi_label)
        self.label_weights = None if label_weights is None else np.asarray(label_weights, dtype=np.float64)
        self.curve = str(curve).upper()
        self.summation_method = str(summation_method).lower()
        if self.curve not in ("ROC", "PR"):
            raise ValueError(f"curve must be 'ROC' or 'PR', got {curve!r}")
        if self.summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("summation_method must be 'interpolation', 'minoring' or 'majoring', got "
                             f"{summation_method!r}")
        self.init_thresholds = thresholds
        if thresholds is not None:
            inner = sorted(float(t) for t in thresholds)
        else:
            if num_thresholds <= 1:
                raise ValueError(f"num_thresholds must be > 1, got {num_thresholds}")
            inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = self._sorted = [0.0 - _EPS, *inner, 1.0 + _EPS]
        self.num_thresholds = len(self.thresholds)
        self.from_logits = from_logits
        self.num_labels = None if num_labels is None else int(num_labels)
        super().__init__(name=name, dtype=dtype)
        if self.multi_label:  # one column per label: now, or on the first batch (Keras's _build)
            if self.num_labels is None:
                self._variables = []
                for key in _COUNTS:
                    setattr(self, key, None)
            else:
                self._make_counts((self.num_thresholds, self.num_labels))

    def update_state(self, y_true, y_pred, sample_weight=None):
        p = _arr(y_pred)
        if self.from_logits:
            p = 0.5 * (1.0 + array_module(p).tanh(0.5 * p))
        if not self.multi_label:
            return super().update_state(y_true, p, sample_weight)
        t, p = _inputs(y_true, p)
        t, p = _losses._same_rank(t, p)
        counts = [_confusion(t[..., j], p[..., j], self._thresholds_like(p), sample_weight) for j in range(p.shape[-1])]
        xp = array_module(p)
        if self.true_positives is None:
            self._make_counts((self.num_thresholds, p.shape[-1]))  # num_labels stays as given (Keras)
        for k, key in enumerate(_COUNTS):
            _accumulate(getattr(self, key), xp.stack([c[k] for c in counts], axis=-1))

    def result(self) -> Tensor:
        counts = [None if getattr(self, key) is None else _to_host(getattr(self, key).data) for key in _COUNTS]
        if self.multi_label:
            if counts[0] is None:
                return Tensor(0.0, dtype=self.dtype)
            values = np.array([self._area(*(c[:, j] for c in counts)) for j in range(counts[0].shape[1])])
            weights = self.label_weights if self.label_weights is not None else np.ones(len(values))
            return Tensor(_divide_no_nan(np.sum(values * weights), np.sum(weights)), dtype=self.dtype)
        return Tensor(self._area(*counts), dtype=self.dtype)

    def _area(self, tp, fp, tn, fn) -> float:
        n = self.num_thresholds
        tp, fp, tn, fn = (np.broadcast_to(_to_host(v), (n,)).astype(np.float64) for v in (tp, fp, tn, fn))
        if self.curve == "PR" and self.summation_method == "interpolation":
            return float(self._interpolate_pr(tp, fp, fn))
        recall = _divide_no_nan(tp, tp + fn)
        if self.curve == "ROC":
            x, y = _divide_no_nan(fp, fp + tn), recall
        else:
            x, y = recall, _divide_no_nan(tp, tp + fp)
        if self.summation_method == "interpolation":
            heights = (y[:-1] + y[1:]) / 2.0
        elif self.summation_method == "minoring":
            heights = np.minimum(y[:-1], y[1:])
        else:
            heights = np.maximum(y[:-1], y[1:])
        return float(np.sum((x[:-1] - x[1:]) * heights))

    @staticmethod
    def _interpolate_pr(tp, fp, fn):
        """PR-AUC with precision interpolated between thresholds (Davis & Goadrich 2006, sec. 4)."""
        p = tp + fp
        dtp = tp[:-1] - tp[1:]
        dp = p[:-1] - p[1:]
        slope = _divide_no_nan(dtp, np.maximum(dp, 0))
        intercept = tp[1:] - slope * p[1:]
        both = (p[:-1] > 0) & (p[1:] > 0)
        ratio = np.where(both, _divide_no_nan(p[:-1], np.maximum(p[1:], 0)), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            area = slope * (dtp + intercept * np.log(np.where(ratio > 0, ratio, 1.0)))
        return np.sum(_divide_no_nan(area, np.maximum(tp[1:] + fn[1:], 0)))

    def get_config(self):
        cfg = {**super().get_config(), "num_thresholds": self.num_thresholds, "curve": self.curve,
               "summation_method": self.summation_method, "multi_label": self.multi_label,
               "num_labels": self.num_labels,
               "label_weights": None if self.label_weights is None else self.label_weights.tolist(),
               "from_logits": self.from_logits}
        if self.init_thresholds is not None:  # as Keras: the generated thresholds are not saved
            cfg["thresholds"] = self.thresholds[1:-1]
        return cfg


# -- loss-metrics: Keras's metric functions are its loss functions; the classes average them ---
binary_crossentropy = _losses.binary_crossentropy
binary_focal_crossentropy = _losses.binary_focal_crossentropy
categorical_crossentropy = _losses.categorical_crossentropy
categorical_focal_crossentropy = _losses.categorical_focal_crossentropy
sparse_categorical_crossentropy = _losses.sparse_categorical_crossentropy
hinge = _losses.hinge
squared_hinge = _losses.squared_hinge
categorical_hinge = _losses.categorical_hinge
huber = _losses.huber
kl_divergence = _losses.kl_divergence
log_cosh = _losses.log_cosh
poisson = _losses.poisson
mean_squared_error = _losses.mean_squared_error
mean_absolute_error = _losses.mean_absolute_error
mean_absolute_percentage_error = _losses.mean_absolute_percentage_error
mean_squared_logarithmic_error = _losses.mean_squared_logarithmic_error


def _float_pair(y_true, y_pred):
    """(t, p, dtype): float64 arrays of the same rank on y_pred's device, and the result's dtype."""
    t, p = _inputs(y_true, y_pred)
    dtype = p.dtype if p.dtype.kind == "f" else _floatx()
    t, p = _losses._same_rank(t.astype(np.float64), p.astype(np.float64))
    return t, p, dtype


def _cosine_similarity(y_true, y_pred, axis=-1):
    """sum(l2_normalize(y_true) * l2_normalize(y_pred), axis): Keras's metric (1 is best), the
    negative of the loss."""
    t, p, dtype = _float_pair(y_true, y_pred)
    xp = array_module(p)
    tn = t / xp.sqrt(xp.maximum((t * t).sum(axis=axis, keepdims=True), _EPS))
    pn = p / xp.sqrt(xp.maximum((p * p).sum(axis=axis, keepdims=True), _EPS))
    return _out((tn * pn).sum(axis=axis), dtype)


def pearson_correlation(y_true, y_pred, axis=-1):
    """Pearson's correlation of y_true and y_pred along ``axis`` (one value per sample)."""
    t, p, dtype = _float_pair(y_true, y_pred)
    tn = t - t.mean(axis=axis, keepdims=True)
    pn = p - p.mean(axis=axis, keepdims=True)
    tn = tn / tn.std(axis=axis, keepdims=True)
    pn = pn / pn.std(axis=axis, keepdims=True)
    return _out((tn * pn).mean(axis=axis), dtype)


def concordance_correlation(y_true, y_pred, axis=-1):
    """Lin's concordance correlation along ``axis``, term for term as Keras computes it (whose
    covariance centres y_true on y_pred's mean)."""
    t, p, dtype = _float_pair(y_true, y_pred)
    t_mean, p_mean = t.mean(axis=axis, keepdims=True), p.mean(axis=axis, keepdims=True)
    t_var, p_var = (t - t_mean).var(axis=axis, keepdims=True), (p - p_mean).var(axis=axis, keepdims=True)
    covar = (t - p_mean) * (p - p_mean)
    norm = t_var + p_var + (t_mean - p_mean) ** 2
    return _out((2.0 * covar / (norm + _EPS)).mean(axis=axis), dtype)


BinaryCrossentropy = _wrapper("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                              "Epoch mean of the binary crossentropy.", from_logits=False, label_smoothing=0)
CategoricalCrossentropy = _wrapper("CategoricalCrossentropy", categorical_crossentropy, "categorical_crossentropy",
                                   "Epoch mean of the categorical crossentropy (one-hot labels).",
                                   from_logits=False, label_smoothing=0, axis=-1)
SparseCategoricalCrossentropy = _wrapper("SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
                                         "sparse_categorical_crossentropy",
                                         "Epoch mean of the crossentropy of integer labels.",
                                         from_logits=False, ignore_class=None, axis=-1)
KLDivergence = _wrapper("KLDivergence", kl_divergence, "kl_divergence", "Epoch mean of the KL divergence.", ())
Poisson = _wrapper("Poisson", poisson, "poisson", "Epoch mean of y_pred - y_true * log(y_pred).", ())
Hinge = _wrapper("Hinge", hinge, "hinge", "Epoch mean of the hinge loss.", ())
SquaredHinge = _wrapper("SquaredHinge", squared_hinge, "squared_hinge", "Epoch mean of the squared hinge loss.", ())
CategoricalHinge = _wrapper("CategoricalHinge", categorical_hinge, "categorical_hinge",
                            "Epoch mean of the categorical hinge loss.", ())
LogCoshError = _wrapper("LogCoshError", log_cosh, "logcosh", "Epoch mean of log(cosh(y_pred - y_true)).", ())
MeanSquaredLogarithmicError = _wrapper("MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
                                       "mean_squared_logarithmic_error",
                                       "Epoch mean of mean((log1p(y_pred) - log1p(y_true))**2).", ())
CosineSimilarity = _wrapper("CosineSimilarity", _cosine_similarity, "cosine_similarity",
                            "Epoch mean of the cosine similarity along ``axis`` (1 is best).", (), axis=-1)
PearsonCorrelation = _wrapper("PearsonCorrelation", pearson_correlation, "pearson_correlation",
                              "Epoch mean of the per-sample Pearson correlation.", ("axis",), axis=-1)
ConcordanceCorrelation = _wrapper("ConcordanceCorrelation", concordance_correlation, "concordance_correlation",
                                  "Epoch mean of the per-sample concordance correlation.", ("axis",), axis=-1)


class Sum(Metric):
    """The weighted sum of every value seen."""

    def __init__(self, name="sum", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.total = self.add_variable((), "zeros", dtype="float64", name="total")

    def update_state(self, values, sample_weight=None):
        v = _arr(values).astype(np.float64)
        if sample_weight is not None:
            sw = _losses._array_like(sample_weight, v, np.float64)
            v, sw = _losses._same_rank(v, sw)
            if 0 < sw.ndim < v.ndim:
                sw = sw.reshape(sw.shape + (1,) * (v.ndim - sw.ndim))
            v = v * sw
        _accumulate(self.total, v.sum())

    def result(self) -> Tensor:
        return _out(self.total.data, self.dtype)


class RootMeanSquaredError(Mean):
    """sqrt of the epoch mean of (y_pred - y_true)**2."""

    def __init__(self, name="root_mean_squared_error", dtype=None):
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p, _ = _float_pair(y_true, y_pred)
        super().update_state((p - t) ** 2, sample_weight)

    def result(self) -> Tensor:
        mean = super().result()
        return _out(array_module(mean.data).sqrt(mean.data), self.dtype)


def _per_class_state(metric: Metric, names, shape) -> None:
    """Float64 state variables made on the first batch (Keras's ``_build``), one attribute each."""
    for name, attr in names:
        setattr(metric, attr, metric.add_variable(shape, "zeros", dtype="float64", name=name))


def _expect_2d(cls_name, t, p):
    if t.ndim != 2 or p.ndim != 2:
        raise ValueError(f"{cls_name} expects 2D inputs with shape (batch_size, output_dim); got y_true of shape "
                         f"{t.shape} and y_pred of shape {p.shape}")


class R2Score(Metric):
    """The coefficient of determination per output column, aggregated as ``class_aggregation``
    says (None, "uniform_average", "variance_weighted_average"); adjusted with ``num_regressors``."""

    def __init__(self, class_aggregation="uniform_average", num_regressors=0, name="r2_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError("class_aggregation must be None, 'uniform_average' or 'variance_weighted_average', "
                             f"got {class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"num_regressors must be >= 0, got {num_regressors}")
        self.class_aggregation = class_aggregation
        self.num_regressors = num_regressors
        self.num_samples = self.add_variable((), "zeros", dtype="float64", name="num_samples")
        self._built = False

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p, _ = _float_pair(y_true, y_pred)
        _expect_2d("R2Score", t, p)
        if not self._built:
            _per_class_state(self, (("squared_sum", "squared_sum"), ("sum", "sum"), ("residual", "total_mse"),
                                    ("count", "count")), (p.shape[-1],))
            self._built = True
        xp = array_module(p)
        sw = xp.ones((), dtype=np.float64) if sample_weight is None else \
            _losses._array_like(sample_weight, p, np.float64)
        if sw.ndim == 1:
            sw = sw[:, None]
        sw = xp.broadcast_to(sw, t.shape)
        wt = t * sw
        _accumulate(self.sum, wt.sum(axis=0))
        _accumulate(self.squared_sum, (t * wt).sum(axis=0))
        _accumulate(self.total_mse, ((t - p) ** 2 * sw).sum(axis=0))
        _accumulate(self.count, sw.sum(axis=0))
        _accumulate(self.num_samples, float(t.size))

    def result(self) -> Tensor:
        if not self._built:
            return Tensor(np.nan, dtype=self.dtype)
        total_sum, count = _to_host(self.sum.data), _to_host(self.count.data)
        with np.errstate(divide="ignore", invalid="ignore"):
            mean = total_sum / count
            total = _to_host(self.squared_sum.data) - total_sum * mean
            raw = 1.0 - _to_host(self.total_mse.data) / total
        raw = np.where(np.isinf(raw), 0.0, raw)
        if self.class_aggregation == "uniform_average":
            score = raw.mean()
        elif self.class_aggregation == "variance_weighted_average":
            score = np.sum(total * raw) / np.sum(total)
        else:
            score = raw
        n = float(_to_host(self.num_samples.data))
        if self.num_regressors != 0:
            if self.num_regressors >= n - 1:
                warnings.warn("too few samples for the adjusted R2 score (num_regressors >= samples - 1): "
                              "falling back to the standard R2 score", stacklevel=2)
            else:
                score = 1.0 - (1.0 - score) * (n - 1.0) / (n - self.num_regressors - 1.0)
        return Tensor(np.asarray(score), dtype=self.dtype)

    def reset_state(self):
        for var in self.variables:
            var.assign(np.zeros(var.shape, dtype=var.dtype))

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class FBetaScore(Metric):
    """F-beta of multi-label or one-hot predictions, per class (``average=None``) or aggregated
    ("micro", "macro", "weighted"). Without ``threshold`` each row's largest score is the positive."""

    def __init__(self, average=None, beta=1.0, threshold=None, name="fbeta_score", dtype=None):
        super().__init__(name=name, dtype=dtype)
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"average must be one of None, 'micro', 'macro', 'weighted'; got {average!r}")
        if not isinstance(beta, float) or beta <= 0.0:
            raise ValueError(f"beta must be a Python float > 0, got {beta!r}")
        if threshold is not None and (not isinstance(threshold, float) or not 0.0 < threshold <= 1.0):
            raise ValueError(f"threshold must be a Python float in (0, 1], got {threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        self.axis = None if average == "micro" else 0
        self._built = False

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _inputs(y_true, y_pred)
        t, p = t.astype(np.float64), p.astype(np.float64)
        _expect_2d("FBetaScore", t, p)
        if not self._built:
            _per_class_state(self, ((n, n) for n in ("true_positives", "false_positives", "false_negatives",
                                                      "intermediate_weights")),
                             () if self.average == "micro" else (p.shape[-1],))
            self._built = True
        xp = array_module(p)
        if self.threshold is None:
            pos = (p >= p.max(axis=-1, keepdims=True)) & (xp.abs(p) > 1e-9)
        else:
            pos = p > self.threshold
        p = pos.astype(np.float64)
        sw = None if sample_weight is None else _losses._array_like(sample_weight, p, np.float64)[:, None]

        def wsum(v):
            return (v if sw is None else v * sw).sum(axis=self.axis)

        _accumulate(self.true_positives, wsum(p * t))
        _accumulate(self.false_positives, wsum(p * (1 - t)))
        _accumulate(self.false_negatives, wsum((1 - p) * t))
        _accumulate(self.intermediate_weights, wsum(t))

    def result(self) -> Tensor:
        if not self._built:
            return Tensor(0.0, dtype=self.dtype)
        tp, fp, fn = (_to_host(v.data) for v in (self.true_positives, self.false_positives, self.false_negatives))
        precision = tp / (tp + fp + _EPS)
        recall = tp / (tp + fn + _EPS)
        b2 = self.beta ** 2
        f = precision * recall / (b2 * precision + recall + _EPS) * (1 + b2)
        if self.average == "weighted":
            w = _to_host(self.intermediate_weights.data)
            f = np.sum(f * w / (np.sum(w) + _EPS))
        elif self.average is not None:
            f = np.mean(f)
        return Tensor(np.asarray(f), dtype=self.dtype)

    def reset_state(self):
        for var in self.variables:
            var.assign(np.zeros(var.shape, dtype=var.dtype))

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """FBetaScore with beta = 1."""

    def __init__(self, average=None, threshold=None, name="f1_score", dtype=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name, dtype=dtype)

    def get_config(self):
        cfg = super().get_config()
        del cfg["beta"]
        return cfg


# -- IoU family: one accumulated confusion matrix (rows: labels, columns: predictions) ----------
class _IoUBase(Metric):
    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(name=name, dtype=dtype or "int32")
        self.num_classes = num_classes
        self.ignore_class = ignore_class
        self.sparse_y_true, self.sparse_y_pred = sparse_y_true, sparse_y_pred
        self.axis = axis
        self.total_cm = self.add_variable((num_classes, num_classes), "zeros", dtype="float64",
                                          name="total_confusion_matrix")

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _inputs(y_true, y_pred)
        if not self.sparse_y_true:
            t = t.argmax(axis=self.axis)
        if not self.sparse_y_pred:
            p = p.argmax(axis=self.axis)
        integer = np.dtype(self.dtype).kind in "iu"
        cast = np.int64 if integer else np.float64
        t, p = t.astype(cast).reshape(-1), p.astype(cast).reshape(-1)
        xp = array_module(p)
        if sample_weight is None:
            sw = xp.ones(t.shape, dtype=np.float64)
        else:
            sw = _losses._array_like(sample_weight, p).astype(cast).astype(np.float64)
            sw = xp.broadcast_to(sw.reshape(-1) if sw.ndim > 1 else sw, t.shape)
        n = self.num_classes
        keep = (t >= 0) & (t < n) & (p >= 0) & (p < n)
        if self.ignore_class is not None:
            keep &= t != self.ignore_class
        t, p = xp.where(keep, t, 0).astype(np.int64), xp.where(keep, p, 0).astype(np.int64)
        cm = _bincount(t * n + p, xp.where(keep, sw, 0.0), n * n).reshape(n, n)
        _accumulate(self.total_cm, cm)

    def reset_state(self):
        self.total_cm.assign(np.zeros(self.total_cm.shape))


class IoU(_IoUBase):
    """Mean intersection-over-union of the classes ``target_class_ids``: tp / (tp + fp + fn) each."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_true=True, sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)
        self.target_class_ids = list(target_class_ids)

    def result(self) -> Tensor:
        cm = _to_host(self.total_cm.data)
        tp = np.diag(cm)
        den = (cm.sum(axis=0) + cm.sum(axis=1) - tp)[self.target_class_ids].astype(np.float32)
        tp = tp[self.target_class_ids].astype(np.float32)
        valid = den > 1e-9
        iou = np.where(valid, tp / (den + np.float32(_EPS)), 0.0)
        return Tensor(np.sum(iou, axis=self.axis) / (np.sum(valid) + _EPS), dtype="float32")

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class BinaryIoU(IoU):
    """IoU of binary labels against predictions thresholded at ``threshold`` (y_pred >= threshold)."""

    def __init__(self, target_class_ids=(0, 1), threshold=0.5, name=None, dtype=None):
        super().__init__(num_classes=2, target_class_ids=target_class_ids, name=name, dtype=dtype)
        self.threshold = threshold

    def update_state(self, y_true, y_pred, sample_weight=None):
        t, p = _inputs(y_true, y_pred)
        super().update_state(t, (p.astype(np.float32) >= self.threshold).astype(np.int64), sample_weight)

    def get_config(self):
        return {"target_class_ids": self.target_class_ids, "threshold": self.threshold, "name": self.name,
                "dtype": self.dtype}


class MeanIoU(IoU):
    """IoU averaged over every class."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_true=True,
                 sparse_y_pred=True, axis=-1):
        super().__init__(num_classes, list(range(num_classes)), name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=sparse_y_true, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        cfg = super().get_config()
        del cfg["target_class_ids"]
        return cfg


class OneHotIoU(IoU):
    """IoU with one-hot labels (and, unless ``sparse_y_pred``, per-class scores)."""

    def __init__(self, num_classes, target_class_ids, name=None, dtype=None, ignore_class=None,
                 sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, target_class_ids, name=name, dtype=dtype, ignore_class=ignore_class,
                         sparse_y_true=False, sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        cfg = super().get_config()
        del cfg["sparse_y_true"]
        return cfg


class OneHotMeanIoU(MeanIoU):
    """MeanIoU with one-hot labels (and, unless ``sparse_y_pred``, per-class scores)."""

    def __init__(self, num_classes, name=None, dtype=None, ignore_class=None, sparse_y_pred=False, axis=-1):
        super().__init__(num_classes, name=name, dtype=dtype, ignore_class=ignore_class, sparse_y_true=False,
                         sparse_y_pred=sparse_y_pred, axis=axis)

    def get_config(self):
        cfg = super().get_config()
        del cfg["sparse_y_true"]
        return cfg


# -- one value under a constraint on another, from confusion counts at evenly spaced thresholds --
class _AtConstraint(_Counts):
    """Keras's SensitivitySpecificityBase: counts at ``num_thresholds`` thresholds 0 .. 1 and the best
    ``_dependent`` among thresholds where ``_constrained`` >= ``value``. A table row per subclass:
    (argument name, constrained rate, dependent rate)."""

    _arg = ""
    _rates: tuple = ("", "")

    def __init__(self, value, num_thresholds=200, class_id=None, name=None, dtype=None):
        if not 0 <= value <= 1:
            raise ValueError(f"{self._arg} must be in the range [0, 1], got {value}")
        if num_thresholds <= 0:
            raise ValueError(f"num_thresholds must be an integer > 0, got {num_thresholds}")
        self.value, self.num_thresholds, self.class_id = value, num_thresholds, class_id
        setattr(self, self._arg, value)
        inner = [(i + 1) / (num_thresholds - 1) for i in range(num_thresholds - 2)]
        self.thresholds = self._sorted = [0.5] if num_thresholds == 1 else [0.0, *inner, 1.0]
        super().__init__(name=name or _losses._snake(type(self).__name__), dtype=dtype)

    def _rate(self, which):
        tp, fp, tn, fn = (_to_host(getattr(self, key).data) for key in _COUNTS)
        return {"sensitivity": _divide_no_nan(tp, tp + fn), "recall": _divide_no_nan(tp, tp + fn),
                "specificity": _divide_no_nan(tn, tn + fp), "precision": _divide_no_nan(tp, tp + fp)}[which]

    def result(self) -> Tensor:
        constrained, dependent = (self._rate(r) for r in self._rates)
        best = np.max(np.where(constrained >= self.value, dependent, 0.0), initial=0.0)
        return Tensor(best, dtype=self.dtype)

    def get_config(self):
        return {**super().get_config(), "class_id": self.class_id, "num_thresholds": self.num_thresholds,
                self._arg: self.value}


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity where specificity >= ``specificity``."""

    _arg, _rates = "specificity", ("specificity", "sensitivity")

    def __init__(self, specificity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(specificity, num_thresholds, class_id, name, dtype)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity where sensitivity >= ``sensitivity``."""

    _arg, _rates = "sensitivity", ("sensitivity", "specificity")

    def __init__(self, sensitivity, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(sensitivity, num_thresholds, class_id, name, dtype)


class PrecisionAtRecall(_AtConstraint):
    """The best precision where recall >= ``recall``."""

    _arg, _rates = "recall", ("recall", "precision")

    def __init__(self, recall, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(recall, num_thresholds, class_id, name, dtype)


class RecallAtPrecision(_AtConstraint):
    """The best recall where precision >= ``precision``."""

    _arg, _rates = "precision", ("precision", "recall")

    def __init__(self, precision, num_thresholds=200, class_id=None, name=None, dtype=None):
        super().__init__(precision, num_thresholds, class_id, name, dtype)


# -- resolution ------------------------------------------------------------------------------
def resolve_accuracy(loss=None, output_shape=None, y_true_shape=None) -> str | None:
    """Which accuracy "accuracy" means: 'binary', 'sparse_categorical', 'categorical' or None.

    As Keras's compile: the loss decides when it is sparse_categorical_crossentropy (sparse)
    or binary_crossentropy (binary); an output width of 1 is binary; labels with one axis
    fewer than the output, or a trailing 1 with more than one output, are sparse; one-hot
    labels (or categorical_crossentropy) are categorical. None when this is not yet known.
    """
    name = _losses.canonical_name(loss) if loss is not None else None
    if name == "sparse_categorical_crossentropy":
        return "sparse_categorical"
    if name == "binary_crossentropy":
        return "binary"
    if output_shape is not None:
        out = tuple(output_shape)
        width = out[-1] if out else 1
        if width == 1:
            return "binary"
        if y_true_shape is not None:
            yt = tuple(y_true_shape)
            if len(yt) < len(out) or (yt and yt[-1] == 1):
                return "sparse_categorical"
            return "categorical"
    if name == "categorical_crossentropy":
        return "categorical"
    return None


_ACCURACY = {"binary": binary_accuracy, "categorical": categorical_accuracy,
             "sparse_categorical": sparse_categorical_accuracy}
_CROSSENTROPY = {"binary": _losses.binary_crossentropy, "categorical": _losses.categorical_crossentropy,
                 "sparse_categorical": _losses.sparse_categorical_crossentropy}


class _ResolvedOnFirstBatch(MeanMetricWrapper):
    """'accuracy' (or 'crossentropy') whose kind is decided from the first batch's shapes."""

    def __init__(self, table, loss=None, name="accuracy", dtype=None):
        self._table, self._loss, self.kind = table, loss, None
        super().__init__(None, name=name, dtype=dtype)

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.kind is None:
            t, p = _inputs(y_true, y_pred)
            self.kind = resolve_accuracy(self._loss, p.shape, t.shape)
            self.fn = self._table[self.kind]
        super().update_state(y_true, y_pred, sample_weight)


def _resolved(table, identifier, loss, output_shape, y_true_shape):
    kind = resolve_accuracy(loss, output_shape, y_true_shape)
    if kind is None:
        return _ResolvedOnFirstBatch(table, loss, name=identifier)
    m = MeanMetricWrapper(table[kind], name=identifier)
    m.kind = kind
    return m


_CLASSES = {c.__name__: c for c in (
    Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy, TopKCategoricalAccuracy,
    SparseTopKCategoricalAccuracy, MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError, Precision,
    Recall, AUC, TruePositives, FalsePositives, TrueNegatives, FalseNegatives,
    # metrics
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy, KLDivergence, Poisson, Hinge,
    SquaredHinge, CategoricalHinge, LogCoshError, MeanSquaredLogarithmicError, CosineSimilarity, PearsonCorrelation,
    ConcordanceCorrelation, Sum, RootMeanSquaredError, R2Score, FBetaScore, F1Score, IoU, BinaryIoU, MeanIoU,
    OneHotIoU, OneHotMeanIoU, SensitivityAtSpecificity, SpecificityAtSensitivity, PrecisionAtRecall,
    RecallAtPrecision,
)}
_BY_NAME = {
    "binary_accuracy": BinaryAccuracy, "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy, "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy, "mean_squared_error": MeanSquaredError,
    "mse": MeanSquaredError, "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "precision": Precision, "recall": Recall, "auc": AUC, "true_positives": TruePositives,
    "false_positives": FalsePositives, "true_negatives": TrueNegatives, "false_negatives": FalseNegatives,
}


def get(identifier, loss=None, output_shape=None, y_true_shape=None):
    """A Metric for a name, class, instance, config dict or per-sample callable.

    "accuracy"/"acc" (and "crossentropy"/"ce") resolve with ``resolve_accuracy`` from the loss
    and the shapes; when they cannot yet be resolved the metric decides on its first batch.
    The metric keeps the user's string as its name (the key in the logs), as Keras does.
    Other strings: metric names ("binary_accuracy", "auc", "mse", ...), class names
    ("Precision"), and any loss name (its epoch mean).
    """
    if identifier is None:
        return None
    if isinstance(identifier, Metric):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Metric):
        return identifier()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, _losses.Loss):
        return MeanMetricWrapper(identifier.call, name=identifier.name)
    if isinstance(identifier, str):
        key = identifier.lower()
        if key in ("accuracy", "acc"):
            return _resolved(_ACCURACY, identifier, loss, output_shape, y_true_shape)
        if key in ("crossentropy", "ce"):
            return _resolved(_CROSSENTROPY, identifier, loss, output_shape, y_true_shape)
        cls = _CLASSES.get(identifier) or _BY_NAME.get(key)
        if cls is not None:
            m = cls()
            m.name = identifier
            return m
        try:
            fn = _losses.get(identifier)
        except ValueError:
            raise ValueError(f"unknown metric {identifier!r}; known: 'accuracy', 'acc', {', '.join(sorted(_BY_NAME))}, "
                             f"the classes {', '.join(sorted(_CLASSES))}, and any loss name") from None
        return MeanMetricWrapper(fn, name=identifier)
    if callable(identifier):
        return MeanMetricWrapper(identifier, name=getattr(identifier, "__name__", None))
    raise TypeError(f"a metric must be a name, a Metric class or instance, or a callable; got {identifier!r}")


def serialize(metric: Metric) -> dict:
    return {"class_name": type(metric).__name__, "config": metric.get_config()}


def deserialize(config: dict) -> Metric:
    cls = _CLASSES.get(config.get("class_name"))
    if cls is None:
        raise ValueError(f"unknown metric class {config.get('class_name')!r}; known: {', '.join(sorted(_CLASSES))}")
    return cls.from_config(config.get("config", {}))


register_module("metrics", globals())
