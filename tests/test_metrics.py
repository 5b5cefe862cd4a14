"""gradflow.metrics against scikit-learn, accumulated over uneven batches to prove epoch totals are exact."""
import contextlib
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

import gradflow as gf
from gradflow import losses as L
from gradflow import metrics as M

SPLITS = [7, 100, 101, 350, 689]  # uneven batches of a 1000-sample epoch (one of size 1)


def batches(*arrays):
    """Yield the arrays cut at SPLITS (None passes through)."""
    n = len(arrays[0])
    edges = [0, *[s for s in SPLITS if s < n], n]
    for lo, hi in zip(edges[:-1], edges[1:]):
        yield tuple(None if a is None else a[lo:hi] for a in arrays)


def run_epoch(metric, y_true, y_pred, sample_weight=None):
    metric.reset_state()
    for t, p, w in batches(y_true, y_pred, sample_weight):
        metric.update_state(t, p, sample_weight=w)
    return _py(metric.result())


def _py(result):
    """A result Tensor (as Keras's) as a Python float, or a list for one value per threshold."""
    return float(result) if result.ndim == 0 else result.tolist()


@pytest.fixture
def binary_data(rng):
    y = rng.integers(0, 2, 1000)
    p = np.clip(0.35 * y + 0.65 * rng.random(1000), 0, 1).astype(np.float32)
    w = rng.uniform(0, 2, 1000)
    return y, p, w


@pytest.fixture
def class_data(rng):
    y = rng.integers(0, 6, 1000)
    p = gf.softmax(gf.Tensor(rng.normal(size=(1000, 6)) + 1.5 * np.eye(6)[y])).numpy()
    w = rng.uniform(0, 2, 1000)
    return y, p, w


# -- accuracy family --------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_binary_accuracy_vs_sklearn(binary_data, weighted):
    y, p, w = binary_data
    w = w if weighted else None
    want = skm.accuracy_score(y, p > 0.5, sample_weight=w)
    for yt, yp in ((y[:, None], p[:, None]), (y, p[:, None]), (y, p)):
        got = run_epoch(M.BinaryAccuracy(), yt, yp, w)
        assert isinstance(got, float)
        assert got == pytest.approx(want, abs=1e-7)
    assert run_epoch(M.BinaryAccuracy(threshold=0.7), y, p) == pytest.approx(skm.accuracy_score(y, p > 0.7))


@pytest.mark.parametrize("weighted", [False, True])
def test_categorical_and_sparse_accuracy_vs_sklearn(class_data, weighted):
    y, p, w = class_data
    w = w if weighted else None
    want = skm.accuracy_score(y, p.argmax(-1), sample_weight=w)
    assert run_epoch(M.CategoricalAccuracy(), np.eye(6)[y], p, w) == pytest.approx(want, abs=1e-7)
    assert run_epoch(M.SparseCategoricalAccuracy(), y, p, w) == pytest.approx(want, abs=1e-7)
    assert run_epoch(M.SparseCategoricalAccuracy(), y[:, None].astype(np.float32), p, w) == pytest.approx(want, abs=1e-7)


@pytest.mark.parametrize("k", [1, 2, 5])
def test_top_k_vs_sklearn(class_data, k):
    y, p, w = class_data
    want = skm.top_k_accuracy_score(y, p, k=k, labels=range(6), sample_weight=w)
    assert run_epoch(M.SparseTopKCategoricalAccuracy(k=k), y, p, w) == pytest.approx(want, abs=1e-7)
    assert run_epoch(M.TopKCategoricalAccuracy(k=k), np.eye(6)[y], p, w) == pytest.approx(want, abs=1e-7)
    assert M.TopKCategoricalAccuracy().get_config()["k"] == 5


def test_top_k_ties_count_in():
    p = np.array([[0.5, 0.5, 0.0], [0.2, 0.4, 0.4]])
    np.testing.assert_array_equal(M.sparse_top_k_categorical_accuracy(np.array([1, 2]), p, k=1), [1.0, 1.0])


def test_epoch_mean_is_exact_not_a_mean_of_batch_means():
    y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([1, 1, 1, 1, 1, 1, 1, 0, 0, 0], dtype=np.float32)
    m = M.BinaryAccuracy()
    m.update_state(y[:1], p[:1])  # batch accuracy 1.0
    m.update_state(y[1:], p[1:])  # batch accuracy 6/9
    assert _py(m.result()) == pytest.approx(0.7, abs=1e-7)  # float32 result; the mean of batch means: 0.833
    mean = M.Mean()
    mean.update_state(np.array([1.0, 2.0]))
    mean.update_state(np.array([6.0]), sample_weight=np.array([2.0]))
    assert _py(mean.result()) == pytest.approx(15.0 / 4)


def test_regression_metrics_vs_sklearn(rng):
    t, p, w = rng.normal(size=(1000, 3)), rng.normal(size=(1000, 3)), rng.uniform(0, 2, 1000)
    assert run_epoch(M.MeanSquaredError(), t, p) == pytest.approx(skm.mean_squared_error(t, p), rel=1e-7)
    assert run_epoch(M.MeanAbsoluteError(), t, p, w) == pytest.approx(
        skm.mean_absolute_error(t, p, sample_weight=w), rel=1e-7)
    # sklearn's MAPE is a fraction, Keras's a percentage (and with |y_true| floored at epsilon, as here)
    t_pos = np.abs(t) + 0.5
    assert run_epoch(M.MeanAbsolutePercentageError(), t_pos, p, w) == pytest.approx(
        100 * skm.mean_absolute_percentage_error(t_pos, p, sample_weight=w), rel=1e-6)
    assert isinstance(M.get("mape"), M.MeanAbsolutePercentageError)
    # 1-D targets: every element is one sample
    assert run_epoch(M.get("mse"), t[:, 0], p[:, 0], w) == pytest.approx(
        skm.mean_squared_error(t[:, 0], p[:, 0], sample_weight=w), rel=1e-7)


# -- precision, recall, AUC -------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_precision_recall_vs_sklearn(binary_data, weighted):
    y, p, w = binary_data
    w = w if weighted else None
    for thr in (0.5, 0.3):
        kw = {} if thr == 0.5 else {"thresholds": thr}
        assert run_epoch(M.Precision(**kw), y, p, w) == pytest.approx(
            skm.precision_score(y, p > thr, sample_weight=w), abs=1e-7)
        assert run_epoch(M.Recall(**kw), y[:, None], p[:, None], w) == pytest.approx(
            skm.recall_score(y, p > thr, sample_weight=w), abs=1e-7)
    thresholds = [0.7, 0.2, 0.5]
    got = run_epoch(M.Precision(thresholds=thresholds), y, p, w)
    assert got == pytest.approx([skm.precision_score(y, p > t, sample_weight=w) for t in thresholds], abs=1e-7)


def test_precision_without_positive_predictions_is_zero():
    m = M.Precision()
    m.update_state(np.array([1, 0]), np.array([0.1, 0.2]))
    assert _py(m.result()) == 0.0
    assert M.Recall().result() == 0.0


@pytest.mark.parametrize("weighted", [False, True])
def test_auc_vs_sklearn(binary_data, weighted):
    y, p, w = binary_data
    w = w if weighted else None
    got = run_epoch(M.AUC(), y, p, w)
    assert got == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), abs=2e-3)  # 200 thresholds
    one_batch = M.AUC()
    one_batch.update_state(y, p, sample_weight=w)
    assert got == pytest.approx(_py(one_batch.result()), abs=1e-7)  # batching changes nothing
    fine = run_epoch(M.AUC(num_thresholds=2000), y, p, w)
    assert fine == pytest.approx(skm.roc_auc_score(y, p, sample_weight=w), abs=3e-4)
    pr = run_epoch(M.AUC(curve="PR"), y, p, w)
    assert pr == pytest.approx(skm.average_precision_score(y, p, sample_weight=w), abs=1e-2)


def test_auc_summation_methods_bracket_the_interpolation(binary_data):
    y, p, _ = binary_data
    lo = run_epoch(M.AUC(summation_method="minoring"), y, p)
    mid = run_epoch(M.AUC(), y, p)
    hi = run_epoch(M.AUC(summation_method="majoring"), y, p)
    assert lo <= mid <= hi
    logits = np.log(p / (1 - p + 1e-12) + 1e-12)
    assert run_epoch(M.AUC(from_logits=True), y, logits) == pytest.approx(mid, abs=2e-3)
    assert M.AUC(thresholds=[0.2, 0.5, 0.8]).num_thresholds == 5
    cfg = M.AUC(num_thresholds=50, curve="pr").get_config()
    assert M.AUC.from_config(cfg).get_config() == cfg


# -- resolution, names, state -------------------------------------------------------------------
@pytest.mark.parametrize("loss, out_shape, true_shape, kind", [
    ("sparse_categorical_crossentropy", None, None, "sparse_categorical"),
    (L.SparseCategoricalCrossentropy(from_logits=True), (None, 10), None, "sparse_categorical"),
    ("binary_crossentropy", (None, 3), None, "binary"),
    (L.BinaryCrossentropy, None, None, "binary"),
    (None, (None, 1), None, "binary"),
    ("mse", (None, 1), (None, 1), "binary"),
    (None, (None, 10), (None,), "sparse_categorical"),
    (None, (None, 10), (None, 1), "sparse_categorical"),
    (None, (None, 10), (None, 10), "categorical"),
    ("categorical_crossentropy", None, None, "categorical"),
    ("categorical_crossentropy", (None, 10), None, "categorical"),
    (None, None, None, None),
    ("mse", (None, 10), None, None),
])
def test_accuracy_resolution_rules(loss, out_shape, true_shape, kind):
    assert M.resolve_accuracy(loss, out_shape, true_shape) == kind
    m = M.get("accuracy", loss=loss, output_shape=out_shape, y_true_shape=true_shape)
    assert m.name == "accuracy"
    assert m.kind == kind


def test_unresolved_accuracy_decides_on_the_first_batch(class_data):
    y, p, _ = class_data
    want = skm.accuracy_score(y, p.argmax(-1))
    sparse = M.get("acc")
    assert sparse.kind is None
    assert run_epoch(sparse, y, p) == pytest.approx(want)
    assert (sparse.kind, sparse.name) == ("sparse_categorical", "acc")
    onehot = M.get("accuracy")
    assert run_epoch(onehot, np.eye(6)[y], p) == pytest.approx(want)
    assert onehot.kind == "categorical"
    binary = M.get("accuracy")
    binary.update_state(np.array([[1], [0]]), np.array([[0.9], [0.8]]))
    assert (binary.kind, _py(binary.result())) == ("binary", 0.5)
    ce = M.get("crossentropy", loss="sparse_categorical_crossentropy")
    assert run_epoch(ce, y, p) == pytest.approx(L.sparse_categorical_crossentropy(y, gf.Tensor(p)).numpy().mean(), rel=1e-6)


def test_get_by_string_class_instance_and_callable(binary_data):
    y, p, _ = binary_data
    for ident, cls, name in (("binary_accuracy", M.BinaryAccuracy, "binary_accuracy"), ("auc", M.AUC, "auc"),
                             ("AUC", M.AUC, "AUC"), ("Precision", M.Precision, "Precision"),
                             ("recall", M.Recall, "recall"), ("mae", M.MeanAbsoluteError, "mae"),
                             ("sparse_top_k_categorical_accuracy", M.SparseTopKCategoricalAccuracy,
                              "sparse_top_k_categorical_accuracy"), (M.Recall, M.Recall, "recall")):
        m = M.get(ident)
        assert isinstance(m, cls) and m.name == name
    inst = M.Precision(thresholds=0.3)
    assert M.get(inst) is inst
    bce = M.get("binary_crossentropy")
    want = L.binary_crossentropy(y[:, None], gf.Tensor(p[:, None])).numpy().mean()
    assert run_epoch(bce, y[:, None], p[:, None]) == pytest.approx(want, rel=1e-6)
    assert run_epoch(M.get(L.BinaryCrossentropy()), y[:, None], p[:, None]) == pytest.approx(want, rel=1e-6)
    custom = M.get(lambda t, q: np.abs(t - q.numpy()).mean(-1))
    assert run_epoch(custom, y[:, None], p[:, None]) == pytest.approx(np.abs(y - p).mean(), rel=1e-6)
    assert M.get(None) is None
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        M.get("acuracy")


def test_reset_state_and_config_round_trip(binary_data):
    y, p, _ = binary_data
    for m in (M.BinaryAccuracy(threshold=0.4), M.Precision(thresholds=[0.2, 0.6]), M.Recall(), M.AUC(),
              M.SparseCategoricalAccuracy(name="acc"), M.Mean(name="loss")):
        if isinstance(m, M.Mean) and not isinstance(m, M.MeanMetricWrapper):
            m.update_state(np.ones(3))
        else:
            m.update_state(y[:, None], p[:, None] if not isinstance(m, M.SparseCategoricalAccuracy)
                           else np.stack([1 - p, p], -1))
        m.reset_state()
        r = _py(m.result())
        assert r == 0.0 or r == [0.0, 0.0]
        again = type(m).from_config(m.get_config())
        assert again.get_config() == m.get_config()
    assert M.deserialize(M.serialize(M.AUC(curve="PR"))).curve == "PR"
    m = M.BinaryAccuracy()
    assert m(np.array([1, 0]), np.array([0.9, 0.9])) == 0.5  # __call__ updates and returns the running result
    assert float(m(np.array([1]), np.array([0.9]))) == pytest.approx(2 / 3)


def test_tensor_inputs_are_read_without_grad(class_data):
    y, p, _ = class_data
    pt = gf.Tensor(p, requires_grad=True)
    assert run_epoch(M.SparseCategoricalAccuracy(), gf.Tensor(y), pt) == pytest.approx(
        skm.accuracy_score(y, p.argmax(-1)))
    mse = run_epoch(M.MeanSquaredError(), np.eye(6)[y], pt)
    assert mse == pytest.approx(((np.eye(6)[y] - p) ** 2).mean(), rel=1e-6)


def test_metric_errors():
    with pytest.raises(ValueError, match="one-hot width 3 but y_pred has 4"):
        M.CategoricalAccuracy().update_state(np.eye(3), np.ones((3, 4)))
    with pytest.raises(ValueError, match=r"integer labels of shape \(3,\)"):
        M.SparseCategoricalAccuracy().update_state(np.ones((3, 2)), np.ones((3, 4)))
    with pytest.raises(ValueError, match="thresholds must be in"):
        M.Precision(thresholds=1.5)
    with pytest.raises(ValueError, match="sample_weight of shape"):
        M.BinaryAccuracy().update_state(np.ones((3, 1)), np.ones((3, 1)), sample_weight=np.ones(4))


@pytest.mark.gpu
def test_cupy_update_state_never_syncs(binary_data, class_data):
    import cupy as cp
    import cupyx

    y, p, w = binary_data
    yc, pc, wc = cp.asarray(y), cp.asarray(p), cp.asarray(w)
    cy, cpp, _ = class_data
    cases = [(M.BinaryAccuracy(), yc, pc, y, p), (M.Precision(), yc, pc, y, p), (M.Recall(), yc, pc, y, p),
             (M.AUC(), yc, pc, y, p), (M.SparseCategoricalAccuracy(), cp.asarray(cy), cp.asarray(cpp), cy, cpp),
             (M.get("accuracy", output_shape=(None, 6), y_true_shape=(None,)), cp.asarray(cy), cp.asarray(cpp), cy, cpp)]
    guard = getattr(cupyx, "allow_synchronize", None)  # deprecated in CuPy 10; absent later
    for m, t_gpu, p_gpu, t_cpu, p_cpu in cases:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            with guard(False) if guard else contextlib.nullcontext():
                for t, q, sw in batches(t_gpu, p_gpu, wc):
                    m.update_state(t, q, sample_weight=sw)
        want = run_epoch(type(m).from_config(m.get_config()) if not hasattr(m, "kind") else
                         M.get("accuracy", output_shape=(None, 6), y_true_shape=(None,)), t_cpu, p_cpu, w)
        assert _py(m.result()) == pytest.approx(want, abs=1e-7)


def test_values_from_the_keras_documentation():
    """The examples printed in the Keras 3 docstrings."""
    m = M.AUC(num_thresholds=3)
    m.update_state([0, 0, 1, 1], [0, 0.5, 0.3, 0.9])
    assert _py(m.result()) == pytest.approx(0.75)
    for cls in (M.Precision, M.Recall):
        m = cls()
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1])
        assert _py(m.result()) == pytest.approx(2 / 3)
        m.reset_state()
        m.update_state([0, 1, 1, 1], [1, 0, 1, 1], sample_weight=[0, 0, 1, 0])
        assert _py(m.result()) == pytest.approx(1.0)
    m = M.BinaryAccuracy()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]])
    assert _py(m.result()) == pytest.approx(0.75)
    m.reset_state()
    m.update_state([[1], [1], [0], [0]], [[0.98], [1], [0], [0.6]], sample_weight=[1, 0, 0, 1])
    assert _py(m.result()) == pytest.approx(0.5)
    m = M.CategoricalAccuracy()
    m.update_state([[0, 0, 1], [0, 1, 0]], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert _py(m.result()) == pytest.approx(0.3)
    m = M.SparseTopKCategoricalAccuracy(k=1)
    m.update_state([2, 1], [[0.1, 0.9, 0.8], [0.05, 0.95, 0]], sample_weight=[0.7, 0.3])
    assert _py(m.result()) == pytest.approx(0.3)


def _batches(rng, n=3, shape=(40, 4)):
    return [(rng.integers(0, 2, shape).astype("float32"), rng.random(shape).astype("float32"),
             rng.random(shape[0]).astype("float32")) for _ in range(n)]


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("name,kwargs", [
    ("TruePositives", {}), ("FalsePositives", {"thresholds": 0.3}), ("TrueNegatives", {"thresholds": [0.2, 0.7]}),
    ("FalseNegatives", {}), ("Precision", {"top_k": 2}), ("Recall", {"top_k": 1, "thresholds": 0.4}),
    ("AUC", {"multi_label": True}),
    ("AUC", {"multi_label": True, "curve": "PR", "label_weights": [1.0, 2.0, 0.5, 1.0]}),
])
def test_confusion_metrics_equal_keras(real_keras, rng, name, kwargs):
    keras3 = real_keras
    ours, theirs = getattr(M, name)(**kwargs), getattr(keras3.metrics, name)(**kwargs)
    for t, p, w in _batches(rng):
        ours.update_state(t, p, sample_weight=w)
        theirs.update_state(t, p, sample_weight=w)
    np.testing.assert_allclose(_py(ours.result()), np.asarray(theirs.result()), rtol=1e-5, atol=1e-6)


def test_confusion_counts_and_top_k_by_hand():
    t = np.array([[1, 0, 0], [0, 1, 1]], dtype="float32")
    p = np.array([[0.9, 0.8, 0.1], [0.6, 0.7, 0.2]], dtype="float32")
    tp = M.TruePositives()
    tp.update_state(t, p)
    assert _py(tp.result()) == 2.0  # 0.9 and 0.7 are true positives at 0.5
    fp = M.FalsePositives(thresholds=[0.5, 0.85])
    fp.update_state(t, p)
    assert _py(fp.result()) == [2.0, 0.0]  # 0.8 and 0.6 at 0.5; none above 0.85
    top1 = M.Precision(top_k=1)
    top1.update_state(t, p)
    assert _py(top1.result()) == 1.0  # each sample's top prediction (0.9, 0.7) is right
    auc = M.AUC(multi_label=True)
    auc.update_state(np.array([[1, 0], [0, 1], [1, 1], [0, 0]]), np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6],
                                                                           [0.1, 0.3]]))
    assert _py(auc.result()) == pytest.approx(1.0, abs=1e-3)  # both labels perfectly ranked
