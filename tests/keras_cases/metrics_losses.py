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


# -- losses ---------------------------------------------------------------------------------------
_EMB = _RNG.normal(size=(_N, 5)).astype("float32")
_CTC_LABELS = _RNG.integers(1, _C, size=(2, 3))
_CTC_PRED = _probs((2, 6, _C))
_LOSS_DATA = {**{kind: batches[0] for kind, batches in _DATA.items()},
              "sparse_int": (_LABELS[0].astype("int32"), _DATA["sparse"][0][1]),
              "circle": (_RNG.integers(0, 3, size=_N).astype("int32"), _EMB),
              "ctc": (_CTC_LABELS.astype("int32"), _CTC_PRED)}
#: loss class -> (function name, data kind, constructor argument sets besides the defaults)
_LOSSES = {
    "MeanSquaredError": ("mean_squared_error", "regression", []),
    "MeanAbsoluteError": ("mean_absolute_error", "regression", []),
    "MeanAbsolutePercentageError": ("mean_absolute_percentage_error", "positive", []),
    "MeanSquaredLogarithmicError": ("mean_squared_logarithmic_error", "positive", []),
    "CosineSimilarity": ("cosine_similarity", "regression", [{"axis": 1}]),
    "Huber": ("huber", "regression", [{"delta": 0.5}]),
    "LogCosh": ("log_cosh", "regression", []),
    "Hinge": ("hinge", "logits", []),
    "SquaredHinge": ("squared_hinge", "logits", []),
    "CategoricalHinge": ("categorical_hinge", "onehot", []),
    "KLDivergence": ("kl_divergence", "onehot", []),
    "Poisson": ("poisson", "positive", []),
    "BinaryCrossentropy": ("binary_crossentropy", "binary", [{"label_smoothing": 0.1}]),
    "BinaryFocalCrossentropy": ("binary_focal_crossentropy", "binary",
                                [{"apply_class_balancing": True, "alpha": 0.3, "gamma": 1.5}]),
    "CategoricalCrossentropy": ("categorical_crossentropy", "onehot", [{"label_smoothing": 0.1}]),
    "CategoricalFocalCrossentropy": ("categorical_focal_crossentropy", "onehot", [{"alpha": 0.5, "gamma": 1.0}]),
    "SparseCategoricalCrossentropy": ("sparse_categorical_crossentropy", "sparse_int", [{"ignore_class": 1}]),
    "CategoricalGeneralizedCrossEntropy": ("categorical_generalized_cross_entropy", "sparse_int", [{"q": 0.3}]),
    "Dice": ("dice", "binary", [{"axis": 1}]),
    "Tversky": ("tversky", "binary", [{"alpha": 0.3, "beta": 0.7}]),
    "Circle": ("circle", "circle", [{"gamma": 10.0, "margin": 0.2}]),
    "CTC": ("ctc", "ctc", []),
}
_LOGIT_ARGS = {"BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy",
               "BinaryFocalCrossentropy", "CategoricalFocalCrossentropy"}
_FN_KWARGS = {"categorical_generalized_cross_entropy": {"q": 0.5}}


def _loss_pair(k, gf, fn, y_true, y_pred, reduce_weights):
    """(ours, theirs, our gradient, their gradient) of ``fn`` (a name of each module's losses, or a pair of
    callables) at (y_true, y_pred); the gradient is of sum(loss * reduce_weights) with respect to y_pred."""
    import torch  # noqa: PLC0415 - the gradient of Keras's loss (torch backend)

    k_fn, g_fn = fn
    tp = torch.tensor(y_pred, requires_grad=True)
    theirs = k_fn(torch.tensor(y_true), tp)
    gp = gf.Tensor(y_pred, requires_grad=True)
    ours = g_fn(y_true, gp)
    w = reduce_weights.reshape(-1)[:int(np.prod(theirs.shape))].reshape(tuple(theirs.shape))
    (theirs * torch.tensor(w)).sum().backward()
    (ours * gf.Tensor(np.ascontiguousarray(w))).sum().backward()
    return _numpy(ours), theirs.detach().numpy(), gp.grad.numpy() if gp.grad is not None else None, tp.grad.numpy()


def _check_loss(k, gf, fn, y_true, y_pred, what, rtol=2e-5):
    weights = _RNG.uniform(0.5, 1.5, size=4096).astype("float32")
    ours, theirs, g_ours, g_theirs = _loss_pair(k, gf, fn, y_true, y_pred, weights)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, \
        f"{what}: {ours.shape} {ours.dtype} != Keras's {theirs.shape} {theirs.dtype}"
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=2e-6, err_msg=f"{what} values")
    assert g_ours is not None, f"{what}: no gradient reaches y_pred"
    np.testing.assert_allclose(g_ours, g_theirs, rtol=max(rtol, 2e-4), atol=2e-5, err_msg=f"{what} gradient")


@case("losses", *_LOSSES)
def loss_class(k, gf, name):
    fn_name, kind, arg_sets = _LOSSES[name]
    y_true, y_pred = _LOSS_DATA[kind]
    required = _FN_KWARGS.get(fn_name, {})
    for kwargs in [required, *arg_sets] if required.keys() != (arg_sets[0] if arg_sets else {}).keys() \
            else arg_sets:
        for reduction in ("sum_over_batch_size", "sum", "mean", "none"):
            theirs = getattr(k.losses, name)(reduction=reduction, **kwargs)
            ours = getattr(gf.losses, name)(reduction=reduction, **kwargs)
            for sw in (None, _SW[0][: len(y_true)]):
                _check_loss(k, gf, (lambda t, p, m=theirs, w=sw: m(t, p, sample_weight=w),
                                    lambda t, p, m=ours, w=sw: m(t, p, sample_weight=w)),
                            y_true, y_pred, f"{name}({kwargs}, reduction={reduction}, sample_weight={sw is not None})")
        _same_config(ours.get_config(), theirs.get_config(), name)
        back = type(ours).from_config(theirs.get_config())
        _same_config(back.get_config(), theirs.get_config(), f"{name}.from_config")
    if name in _LOGIT_ARGS:
        logits = _RNG.normal(size=y_pred.shape).astype("float32")
        kwargs = {**required, "from_logits": True}
        _check_loss(k, gf, (getattr(k.losses, name)(**kwargs), getattr(gf.losses, name)(**kwargs)),
                    y_true, logits, f"{name}(from_logits=True)")


@case("losses", *{fn for fn, _, _ in _LOSSES.values()})
def loss_function(k, gf, name):
    kind = next(kd for fn, kd, _ in _LOSSES.values() if fn == name)
    kwargs = _FN_KWARGS.get(name, {})
    y_true, y_pred = _LOSS_DATA[kind]
    _check_loss(k, gf, (lambda t, p: getattr(k.losses, name)(t, p, **kwargs),
                        lambda t, p: getattr(gf.losses, name)(t, p, **kwargs)), y_true, y_pred, name)


@case("losses", "Loss", "get", "serialize", "deserialize")
def loss_lookup(k, gf):
    for name in _LOSSES:
        fn_name = _LOSSES[name][0]
        if fn_name in _FN_KWARGS:
            continue
        k_obj = getattr(k.losses, name)()
        g_obj = gf.losses.deserialize(k.losses.serialize(k_obj))
        assert type(g_obj).__name__ == name, (name, g_obj)
        assert gf.losses.get(fn_name) is getattr(gf.losses, fn_name)
        assert gf.losses.deserialize(fn_name) is getattr(gf.losses, fn_name), fn_name

    class Scaled(gf.losses.Loss):
        def call(self, y_true, y_pred):
            return gf.ops.mean(gf.ops.square(y_pred - y_true), axis=-1) * 2.0

    class KScaled(k.losses.Loss):
        def call(self, y_true, y_pred):
            return k.ops.mean(k.ops.square(y_pred - y_true), axis=-1) * 2.0

    y_true, y_pred = _LOSS_DATA["regression"]
    _check_loss(k, gf, (KScaled(), Scaled()), y_true, y_pred, "custom Loss")


# -- initializers ---------------------------------------------------------------------------------
#: initializer class -> constructor argument sets (random ones also get seed=)
_INITIALIZERS = {
    "Zeros": [{}], "Ones": [{}], "Constant": [{}, {"value": 0.7}],
    "Identity": [{}, {"gain": 2.0}], "IdentityInitializer": [{}],
    "RandomNormal": [{}, {"mean": 0.5, "stddev": 0.3}], "RandomUniform": [{}, {"minval": -0.2, "maxval": 0.6}],
    "TruncatedNormal": [{}, {"mean": 0.1, "stddev": 0.2}],
    "VarianceScaling": [{}, {"scale": 2.0, "mode": "fan_avg", "distribution": "uniform"},
                        {"mode": "fan_out", "distribution": "untruncated_normal"}],
    "GlorotNormal": [{}], "GlorotUniform": [{}], "HeNormal": [{}], "HeUniform": [{}], "LecunNormal": [{}],
    "LecunUniform": [{}], "Orthogonal": [{}, {"gain": 0.5}], "OrthogonalInitializer": [{}],
    "STFT": [{}, {"side": "imag", "window": "hamming", "scaling": "spectrum", "periodic": True},
             {"window": None, "scaling": None}],
    "STFTInitializer": [{"window": "blackman"}],
}
_DETERMINISTIC = {"Zeros", "Ones", "Constant", "Identity", "IdentityInitializer", "STFT", "STFTInitializer"}
_ALIASES = {"zeros": "Zeros", "ones": "Ones", "constant": "Constant", "identity": "Identity",
            "random_normal": "RandomNormal", "random_uniform": "RandomUniform", "truncated_normal": "TruncatedNormal",
            "variance_scaling": "VarianceScaling", "glorot_normal": "GlorotNormal", "glorot_uniform": "GlorotUniform",
            "he_normal": "HeNormal", "he_uniform": "HeUniform", "lecun_normal": "LecunNormal",
            "lecun_uniform": "LecunUniform", "orthogonal": "Orthogonal", "stft": "STFT"}


@case("initializers", *_INITIALIZERS, *_ALIASES)
def initializer_draws(k, gf, name):
    cls = _ALIASES.get(name, name)
    shape = (16, 1, 9) if cls.startswith("STFT") else (120, 80)
    for kwargs in _INITIALIZERS[cls]:
        if cls not in _DETERMINISTIC:
            kwargs = {**kwargs, "seed": 5}
        theirs, ours = getattr(k.initializers, name)(**kwargs), getattr(gf.initializers, name)(**kwargs)
        t, o = _numpy(theirs(shape, dtype="float32")), _numpy(ours(shape, dtype="float32"))
        what = f"{name}({kwargs})"
        assert o.shape == t.shape and o.dtype == t.dtype, f"{what}: {o.shape} {o.dtype} != {t.shape} {t.dtype}"
        if cls in _DETERMINISTIC:
            np.testing.assert_allclose(o, t, rtol=1e-5, atol=5e-6, err_msg=what)  # Keras's STFT: float32 math
        else:
            scale = max(float(t.std()), 1e-3)
            assert abs(o.mean() - t.mean()) < 0.05 * scale + 1e-6, f"{what}: mean {o.mean()} != {t.mean()}"
            assert abs(o.std() / scale - 1) < 0.04, f"{what}: std {o.std()} != {t.std()}"
            assert abs(o.min() - t.min()) < 0.15 * scale and abs(o.max() - t.max()) < 0.15 * scale \
                or "Normal" in cls or "Orthogonal" in cls or kwargs.get("distribution", "").endswith("normal") \
                or cls == "VarianceScaling" and "distribution" not in kwargs, f"{what}: range differs"
            again = _numpy(ours(shape, dtype="float32"))
            np.testing.assert_array_equal(again, o, err_msg=f"{what}: a seeded initializer repeats its draw")
        if cls.startswith("Orthogonal"):
            gain = kwargs.get("gain", 1.0)
            np.testing.assert_allclose(o.T @ o, gain ** 2 * np.eye(shape[1]), atol=2e-5, err_msg=what)
        assert ours.get_config() == theirs.get_config(), (what, ours.get_config(), theirs.get_config())
        back = gf.initializers.deserialize(k.initializers.serialize(theirs))
        assert back.get_config() == theirs.get_config(), what
        assert gf.initializers.get(name) is not None


@case("initializers", "Initializer", "get", "serialize", "deserialize")
def initializer_lookup(k, gf):
    for name in set(_ALIASES) - {"constant"}:  # Keras's get("constant") raises (Constant.from_config({}))
        assert type(gf.initializers.get(name)).__name__ == type(k.initializers.get(name)).__name__, name
    for name in _INITIALIZERS:
        cfg = k.initializers.serialize(getattr(k.initializers, name)())
        assert type(gf.initializers.deserialize(cfg)).__name__ == type(k.initializers.deserialize(cfg)).__name__

    class Halves(gf.initializers.Initializer):
        def __call__(self, shape, dtype=None):
            return gf.ops.full(shape, 0.5, dtype=dtype)

    assert float(gf.ops.sum(Halves()((2, 3)))) == 3.0
