"""Differential cases: metrics, losses and initializers against real Keras on the same numbers.

Metrics: the same y_true/y_pred/sample_weight over three update_state calls (the last unweighted), the
result's value and dtype, reset_state, get_config and a from_config round trip. Losses: values of the function
and of the class in every reduction, dtype, the gradient with respect to y_pred (Keras through torch autograd),
and the config. Initializers: Keras's draws cannot be reproduced from a seed, so random ones compare shape,
dtype, config and statistics; the deterministic ones compare values.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
import warnings

import numpy as np
from keras_coverage import case

_RNG = np.random.default_rng(3)
_N, _C = 8, 4


def _probs(shape):
    x = _RNG.normal(size=shape)
    e = np.exp(x - x.max(-1, keepdims=True))
    return (e / e.sum(-1, keepdims=True)).astype("float32")


_LABELS = _RNG.integers(0, _C, size=(3, _N))
#: kind -> three batches of (y_true, y_pred)
_DATA = {
    "binary": [((_RNG.random((_N, 3)) > 0.5).astype("float32"), _RNG.uniform(0.02, 0.98, (_N, 3)).astype("float32"))
               for _ in range(3)],
    "onehot": [(np.eye(_C, dtype="float32")[lab], _probs((_N, _C))) for lab in _LABELS],
    "sparse": [(lab.astype("float32"), _probs((_N, _C))) for lab in _LABELS],
    "regression": [(_RNG.normal(size=(_N, 3)).astype("float32"), _RNG.normal(size=(_N, 3)).astype("float32"))
                   for _ in range(3)],
    "positive": [(_RNG.uniform(0.1, 3, (_N, 3)).astype("float32"), _RNG.uniform(0.1, 3, (_N, 3)).astype("float32"))
                 for _ in range(3)],
    "logits": [((_RNG.random((_N, 3)) > 0.5).astype("float32"), _RNG.normal(size=(_N, 3)).astype("float32"))
               for _ in range(3)],
    "classes": [(lab, _RNG.integers(0, _C, size=_N)) for lab in _LABELS],
    "binary_flat": [((_RNG.random(_N) > 0.5).astype("float32"), _RNG.random(_N).astype("float32")) for _ in range(3)],
}
_SW = [_RNG.uniform(0.2, 2.0, _N).astype("float32"), _RNG.integers(1, 3, _N).astype("float32"), None]

#: metric class -> (data kind, constructor argument sets)
_METRICS = {
    "Accuracy": ("classes", [{}]),
    "BinaryAccuracy": ("binary", [{}, {"threshold": 0.3}]),
    "CategoricalAccuracy": ("onehot", [{}]),
    "SparseCategoricalAccuracy": ("sparse", [{}]),
    "TopKCategoricalAccuracy": ("onehot", [{"k": 2}]),
    "SparseTopKCategoricalAccuracy": ("sparse", [{"k": 2}]),
    "MeanSquaredError": ("regression", [{}]),
    "MeanAbsoluteError": ("regression", [{}]),
    "MeanAbsolutePercentageError": ("positive", [{}]),
    "MeanSquaredLogarithmicError": ("positive", [{}]),
    "RootMeanSquaredError": ("regression", [{}]),
    "LogCoshError": ("regression", [{}]),
    "CosineSimilarity": ("regression", [{}]),
    "PearsonCorrelation": ("regression", [{}]),
    "ConcordanceCorrelation": ("regression", [{}]),
    "R2Score": ("regression", [{}, {"class_aggregation": "variance_weighted_average"},
                               {"class_aggregation": None}, {"num_regressors": 2}]),
    "BinaryCrossentropy": ("binary", [{}, {"label_smoothing": 0.1}]),
    "CategoricalCrossentropy": ("onehot", [{}, {"label_smoothing": 0.1}]),
    "SparseCategoricalCrossentropy": ("sparse", [{}]),
    "KLDivergence": ("onehot", [{}]),
    "Poisson": ("positive", [{}]),
    "Hinge": ("logits", [{}]),
    "SquaredHinge": ("logits", [{}]),
    "CategoricalHinge": ("onehot", [{}]),
    "Precision": ("binary", [{}, {"thresholds": [0.3, 0.7]}, {"top_k": 2}]),
    "Recall": ("binary", [{}, {"class_id": 1}]),
    "TruePositives": ("binary", [{}]),
    "FalsePositives": ("binary", [{}]),
    "TrueNegatives": ("binary", [{}]),
    "FalseNegatives": ("binary", [{"thresholds": [0.2, 0.6]}]),
    "AUC": ("binary", [{}, {"curve": "PR"}, {"multi_label": True}]),
    "SensitivityAtSpecificity": ("binary", [{"specificity": 0.5}, {"specificity": 0.8, "num_thresholds": 20}]),
    "SpecificityAtSensitivity": ("binary", [{"sensitivity": 0.5}]),
    "PrecisionAtRecall": ("binary", [{"recall": 0.6}]),
    "RecallAtPrecision": ("binary", [{"precision": 0.6}, {"precision": 0.4, "class_id": 2}]),
    "F1Score": ("onehot", [{}, {"average": "macro"}, {"average": "micro", "threshold": 0.3}]),
    "FBetaScore": ("onehot", [{"beta": 2.0}, {"average": "weighted", "beta": 0.5}]),
    "IoU": ("classes", [{"num_classes": _C, "target_class_ids": [0, 2]}]),
    "MeanIoU": ("classes", [{"num_classes": _C}, {"num_classes": _C, "ignore_class": 1}]),
    "BinaryIoU": ("binary_flat", [{}, {"target_class_ids": [1], "threshold": 0.3}]),
    "OneHotIoU": ("onehot", [{"num_classes": _C, "target_class_ids": [1, 3]}]),
    "OneHotMeanIoU": ("onehot", [{"num_classes": _C}]),
}


def _numpy(x):
    return np.asarray(x.detach().cpu().numpy() if hasattr(x, "detach") else x.numpy() if hasattr(x, "numpy") else x)


def _same_config(ours, theirs, what):
    assert set(ours) == set(theirs), f"{what}: config keys {sorted(ours)} != Keras's {sorted(theirs)}"
    for key, value in theirs.items():
        if key == "name":  # Keras numbers a second unnamed instance (auc_1)
            continue
        if isinstance(value, float):
            assert np.isclose(ours[key], value), f"{what}: config[{key!r}] {ours[key]!r} != {value!r}"
        else:
            assert ours[key] == value, f"{what}: config[{key!r}] {ours[key]!r} != {value!r}"


def _feed(metric, data, weighted=True):
    with warnings.catch_warnings():  # Keras's IoU warns of float weights
        warnings.simplefilter("ignore")
        for (y_true, y_pred), sw in zip(data, _SW):
            metric.update_state(y_true, y_pred, sample_weight=sw if weighted else None)
    return metric.result()


@case("metrics", *_METRICS)
def metric_epoch(k, gf, name):
    kind, arg_sets = _METRICS[name]
    for kwargs in arg_sets:
        for weighted in (True, False):
            theirs = getattr(k.metrics, name)(**kwargs)
            ours = getattr(gf.metrics, name)(**kwargs)
            what = f"{name}({kwargs}, weighted={weighted})"
            t, o = _numpy(_feed(theirs, _DATA[kind], weighted)), _feed(ours, _DATA[kind], weighted)
            assert isinstance(o, gf.Tensor), f"{what}: result() is {type(o).__name__}, not a Tensor"
            o = _numpy(o)
            assert o.shape == t.shape and o.dtype == t.dtype, f"{what}: {o.shape} {o.dtype} != {t.shape} {t.dtype}"
            np.testing.assert_allclose(o, t, rtol=2e-5, atol=2e-6, err_msg=what)
        _same_config(ours.get_config(), theirs.get_config(), name)
        back = type(ours).from_config(theirs.get_config())
        _same_config(back.get_config(), theirs.get_config(), f"{name}.from_config")
        ours.reset_state()
        theirs.reset_state()
        np.testing.assert_allclose(_numpy(_feed(ours, _DATA[kind][:1])), _numpy(_feed(theirs, _DATA[kind][:1])),
                                   rtol=2e-5, atol=2e-6, err_msg=f"{name}: after reset_state")


@case("metrics", "Mean", "Sum")
def reduction_metric(k, gf, name):
    values = [_RNG.normal(size=(_N, 3)).astype("float32") for _ in range(3)]
    for weights in (_SW, [None] * 3, [w[:, None] if w is not None else None for w in _SW]):
        theirs, ours = getattr(k.metrics, name)(), getattr(gf.metrics, name)()
        for v, w in zip(values, weights):
            theirs.update_state(v, sample_weight=w)
            ours.update_state(v, sample_weight=w)
        np.testing.assert_allclose(_numpy(ours.result()), _numpy(theirs.result()), rtol=2e-5, atol=1e-5)
        assert _numpy(ours.result()).dtype == _numpy(theirs.result()).dtype
    _same_config(ours.get_config(), theirs.get_config(), name)


#: metric function -> data kind and keyword arguments
_FUNCTIONS = {
    "accuracy": ("classes", {}), "binary_accuracy": ("binary", {}), "categorical_accuracy": ("onehot", {}),
    "sparse_categorical_accuracy": ("sparse", {}), "top_k_categorical_accuracy": ("onehot", {"k": 2}),
    "sparse_top_k_categorical_accuracy": ("sparse", {"k": 2}),
    "binary_crossentropy": ("binary", {}), "binary_focal_crossentropy": ("binary", {}),
    "categorical_crossentropy": ("onehot", {}), "categorical_focal_crossentropy": ("onehot", {}),
    "sparse_categorical_crossentropy": ("sparse", {}), "hinge": ("logits", {}), "squared_hinge": ("logits", {}),
    "categorical_hinge": ("onehot", {}), "huber": ("regression", {}), "kl_divergence": ("onehot", {}),
    "log_cosh": ("regression", {}), "poisson": ("positive", {}), "mean_squared_error": ("regression", {}),
    "mean_absolute_error": ("regression", {}), "mean_absolute_percentage_error": ("positive", {}),
    "mean_squared_logarithmic_error": ("positive", {}), "pearson_correlation": ("regression", {}),
    "concordance_correlation": ("regression", {}),
}


@case("metrics", *_FUNCTIONS)
def metric_function(k, gf, name):
    kind, kwargs = _FUNCTIONS[name]
    y_true, y_pred = _DATA[kind][0]
    if kind == "classes":
        y_true, y_pred = y_true.astype("float32"), y_pred.astype("float32")
    theirs = _numpy(getattr(k.metrics, name)(k.ops.convert_to_tensor(y_true), k.ops.convert_to_tensor(y_pred),
                                              **kwargs))
    ours = getattr(gf.metrics, name)(y_true, y_pred, **kwargs)
    assert isinstance(ours, gf.Tensor), f"{name} returns {type(ours).__name__}, not a Tensor"
    ours = _numpy(ours)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, ours.dtype, theirs.shape,
                                                                     theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=2e-5, atol=2e-6, err_msg=name)


@case("metrics", "get", "serialize", "deserialize")
def metric_lookup(k, gf):
    for name in ("Precision", "AUC", "F1Score", "R2Score", "MeanIoU"):
        kwargs = {"num_classes": 3} if name == "MeanIoU" else {}
        m = getattr(gf.metrics, name)(**kwargs)
        back = gf.metrics.deserialize(gf.metrics.serialize(m))
        assert type(back) is type(m) and back.get_config() == m.get_config()
        km = k.metrics.deserialize(k.metrics.serialize(getattr(k.metrics, name)(**kwargs)))
        _same_config(gf.metrics.deserialize(k.metrics.serialize(km)).get_config(), km.get_config(), name)
    assert isinstance(gf.metrics.get("mse"), gf.metrics.Metric)
    assert isinstance(gf.metrics.get(gf.metrics.MeanIoU(num_classes=2)), gf.metrics.MeanIoU)


@case("metrics", "Metric", "MeanMetricWrapper")
def metric_base(k, gf):
    def fn(y_true, y_pred):
        return (y_true - y_pred) ** 2

    y_true, y_pred = _DATA["regression"][0]
    theirs = k.metrics.MeanMetricWrapper(fn, name="sq")
    ours = gf.metrics.MeanMetricWrapper(fn, name="sq")
    theirs.update_state(y_true, y_pred, sample_weight=_SW[0])
    ours.update_state(y_true, y_pred, sample_weight=_SW[0])
    np.testing.assert_allclose(_numpy(ours.result()), _numpy(theirs.result()), rtol=2e-5)

    class Count(gf.metrics.Metric):
        def __init__(self):
            super().__init__(name="count")
            self.n = self.add_variable((), "zeros", name="n")

        def update_state(self, y_true, y_pred, sample_weight=None):
            self.n.assign(self.n.numpy() + len(y_true))

        def result(self):
            return gf.ops.convert_to_tensor(self.n.numpy())

    m = Count()
    m.update_state(y_true, y_pred)
    assert float(m.result()) == _N and [v.name for v in m.variables] == ["n"]
    m.reset_state()
    assert float(m.result()) == 0
