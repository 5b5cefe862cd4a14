"""Metrics return tensors and keep their state in variables, as Keras 3 on torch: differential
checks of results, types, shapes, variable names and configs, and of fit's logs."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import metrics as M

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


@pytest.fixture
def data(rng):
    t = (rng.random((8, 3)) > 0.5).astype("float32")
    p = rng.random((8, 3)).astype("float32")
    labels = rng.integers(0, 3, 8)
    return t, p, labels


def _np(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


FUNCTIONS = [  # (name, y_true kind, kwargs)
    ("binary_accuracy", "multi", {}), ("binary_accuracy", "multi", {"threshold": 0.3}),
    ("categorical_accuracy", "onehot", {}), ("sparse_categorical_accuracy", "sparse", {}),
    ("sparse_categorical_accuracy", "sparse_col", {}), ("top_k_categorical_accuracy", "onehot", {"k": 2}),
    ("sparse_top_k_categorical_accuracy", "sparse", {"k": 2}),
    ("binary_accuracy", "flat", {}),
]


@pytest.mark.parametrize("name,kind,kwargs", FUNCTIONS)
def test_metric_functions_equal_keras(real_keras, data, name, kind, kwargs):
    t, p, labels = data
    y = {"multi": t, "onehot": np.eye(3, dtype="float32")[labels], "sparse": labels,
         "sparse_col": labels[:, None], "flat": t[:, 0]}[kind]
    pred = p[:, 0] if kind == "flat" else p
    theirs = getattr(real_keras.metrics, name)(y, pred, **kwargs)
    ours = getattr(M, name)(y, pred, **kwargs)
    assert isinstance(ours, gf.Tensor)
    assert ours.shape == tuple(theirs.shape), name  # binary_accuracy: (8, 3) as Keras 3, not (8,)
    assert ours.dtype == np.float32
    np.testing.assert_array_equal(ours.numpy(), _np(theirs))


CLASSES = [
    ("Mean", {}), ("BinaryAccuracy", {"threshold": 0.4}), ("CategoricalAccuracy", {}),
    ("SparseCategoricalAccuracy", {}), ("TopKCategoricalAccuracy", {"k": 2}), ("MeanSquaredError", {}),
    ("Precision", {}), ("Precision", {"thresholds": [0.3, 0.6]}), ("Recall", {"top_k": 1}),
    ("TruePositives", {}), ("FalseNegatives", {"thresholds": [0.2, 0.7]}), ("AUC", {}),
    ("AUC", {"multi_label": True, "num_labels": 3}), ("AUC", {"num_thresholds": 7, "curve": "PR"}),
    ("AUC", {"thresholds": [0.25, 0.5, 0.75]}),
]


def _update(m, data):
    t, p, labels = data
    name = type(m).__name__
    if name == "Mean":
        return m.update_state(p)
    if name in ("CategoricalAccuracy", "TopKCategoricalAccuracy"):
        return m.update_state(np.eye(3, dtype="float32")[labels], p)
    if name == "SparseCategoricalAccuracy":
        return m.update_state(labels, p)
    return m.update_state(t, p)


@pytest.mark.parametrize("name,kwargs", CLASSES)
def test_results_variables_and_configs_equal_keras(real_keras, data, name, kwargs):
    ours, theirs = getattr(M, name)(**kwargs), getattr(real_keras.metrics, name)(**kwargs)
    assert [(v.name, v.shape) for v in ours.variables] == [(v.name, tuple(v.shape)) for v in theirs.variables]
    assert all(isinstance(v, gf.Variable) and not v.trainable for v in ours.variables)
    assert ours.get_config() == theirs.get_config()
    assert _update(ours, data) is None
    _update(theirs, data)
    r = ours.result()
    assert isinstance(r, gf.Tensor) and r.shape == tuple(theirs.result().shape) and r.dtype == np.float32
    np.testing.assert_allclose(r.numpy(), _np(theirs.result()), rtol=1e-5, atol=1e-6)
    ours.reset_state()
    theirs.reset_state()
    np.testing.assert_allclose(ours.result().numpy(), _np(theirs.result()))


def test_result_is_a_usable_tensor(data):
    t, p, _ = data
    m = M.BinaryAccuracy()
    m.update_state(t, p)
    r = m.result()
    assert r.ndim == 0 and r.dtype == np.float32
    assert float(r) == pytest.approx(float(r.numpy())) and isinstance(r.item(), float)
    assert float(r * 2 + 1) == pytest.approx(2 * float(r) + 1)
    assert float(np.asarray(r)) == pytest.approx(float(r))
    assert isinstance(m(t, p), gf.Tensor)  # __call__ updates and returns the running result


def test_deferred_multi_label_auc_builds_on_first_batch(real_keras, data):
    t, p, _ = data
    ours, theirs = M.AUC(multi_label=True), real_keras.metrics.AUC(multi_label=True)
    assert ours.variables == [] and theirs.variables == []
    ours.update_state(t, p)
    theirs.update_state(t, p)
    assert [(v.name, v.shape) for v in ours.variables] == [(v.name, tuple(v.shape)) for v in theirs.variables]
    np.testing.assert_allclose(float(ours.result()), float(theirs.result()), rtol=1e-5)


def test_fit_logs_hold_floats_and_metrics_names_equal_keras(real_keras, rng):
    x = rng.random((32, 4)).astype("float32")
    y = rng.integers(0, 3, 32)
    names = []
    for k in (real_keras, gf):
        model = k.Sequential([k.Input((4,)), k.layers.Dense(3, activation="softmax")])
        before = [model.metrics_names]
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
        assert all(isinstance(v, float) for values in history.history.values() for v in values)
        assert sorted(history.history) == ["accuracy", "loss"]
        assert isinstance(model.evaluate(x, y, verbose=0, return_dict=True)["accuracy"], float)
        names.append(before + [model.metrics_names])
    assert names[0] == names[1] == [[], ["loss", "compile_metrics"]]


def test_results_format_like_numbers():
    m = M.Mean()
    m.update_state([1.0, 2.0])
    assert f"{m.result():.4f}" == "1.5000"  # keras-io loops print results with format specs
    assert f"{m.result()}" == "1.5"  # as torch formats a 0-d tensor
