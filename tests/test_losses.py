"""gradflow.losses against plain NumPy formulas (Keras 3 definitions), torch where it agrees, and gradcheck."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import losses as L
from gradflow.autograd import gradcheck

EPS = 1e-7


def T(x, grad=False):
    return gf.Tensor(np.asarray(x), requires_grad=grad)


def softmax(z, axis=-1):
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


# -- reference formulas, written from the Keras 3 definitions ------------------------------------
def ref_cce(t, p, axis=-1):
    p = p / p.sum(axis=axis, keepdims=True)
    return -(t * np.log(np.clip(p, EPS, 1 - EPS))).sum(axis=axis)


def ref_bce(t, p):
    p = np.clip(p, EPS, 1 - EPS)
    return -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean(-1)


def ref_hinge_labels(t):
    return 2 * t - 1 if np.all((t == 0) | (t == 1)) else t


def ref_huber(t, p, delta=1.0):
    e = p - t
    return np.where(np.abs(e) <= delta, 0.5 * e ** 2, delta * np.abs(e) - 0.5 * delta ** 2).mean(-1)


def ref_cosine(t, p):
    tn = t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), EPS)
    pn = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), EPS)
    return -(tn * pn).sum(-1)


def _data(kind, rng, n=6, c=4):
    """(y_true, y_pred) suited to each loss family, in float64."""
    if kind == "regression":
        return rng.normal(size=(n, c)), rng.normal(size=(n, c))
    if kind == "positive":
        return rng.uniform(0.1, 3, (n, c)), rng.uniform(0.1, 3, (n, c))
    if kind == "onehot":
        t = np.eye(c)[rng.integers(0, c, n)]
        return t, softmax(rng.normal(size=(n, c)))
    if kind == "binary":
        return rng.integers(0, 2, (n, c)).astype(float), rng.uniform(0.05, 0.95, (n, c))
    if kind == "pm1":
        return rng.choice([-1.0, 1.0], (n, c)), rng.normal(size=(n, c))
    raise AssertionError(kind)


CASES = {
    # name: (data kind, reference per-sample formula)
    "mean_squared_error": ("regression", lambda t, p: ((t - p) ** 2).mean(-1)),
    "mean_absolute_error": ("regression", lambda t, p: np.abs(t - p).mean(-1)),
    "mean_absolute_percentage_error": ("regression",
                                       lambda t, p: 100 * (np.abs(t - p) / np.maximum(np.abs(t), EPS)).mean(-1)),
    "mean_squared_logarithmic_error": ("positive", lambda t, p: (
        (np.log(np.maximum(p, EPS) + 1) - np.log(np.maximum(t, EPS) + 1)) ** 2).mean(-1)),
    "hinge": ("binary", lambda t, p: np.maximum(1 - ref_hinge_labels(t) * p, 0).mean(-1)),
    "squared_hinge": ("pm1", lambda t, p: (np.maximum(1 - ref_hinge_labels(t) * p, 0) ** 2).mean(-1)),
    "categorical_hinge": ("onehot", lambda t, p: np.maximum(
        ((1 - t) * p).max(-1) - (t * p).sum(-1) + 1, 0)),
    "log_cosh": ("regression", lambda t, p: np.log(np.cosh(p - t)).mean(-1)),
    "categorical_crossentropy": ("onehot", ref_cce),
    "binary_crossentropy": ("binary", ref_bce),
    "kl_divergence": ("onehot", lambda t, p: (
        np.clip(t, EPS, 1) * np.log(np.clip(t, EPS, 1) / np.clip(p, EPS, 1))).sum(-1)),
    "poisson": ("positive", lambda t, p: (p - t * np.log(p + EPS)).mean(-1)),
    "cosine_similarity": ("regression", ref_cosine),
    "huber": ("regression", ref_huber),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_matches_numpy_formula(name, rng):
    kind, ref = CASES[name]
    t, p = _data(kind, rng)
    fn = L.get(name)
    out = fn(t.astype(np.float32), T(p.astype(np.float32)))
    assert out.shape == (6,)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), ref(t, p), rtol=2e-5, atol=2e-5)
    # the class gives the Keras default reduction: the mean of the per-sample values
    cls = type(L._loss_object(name))  # Keras 3: deserialize(name) gives the function, not the class
    np.testing.assert_allclose(cls()(t, T(p)).item(), ref(t, p).mean(), rtol=1e-10)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck_float64(name, rng):
    kind, _ = CASES[name]
    t, p = _data(kind, rng, n=3, c=4)
    fn = L.get(name)
    assert gradcheck(lambda pred: fn(t, pred), [p])


def test_sparse_value_and_gradcheck(rng):
    p = softmax(rng.normal(size=(5, 4)))
    lab = rng.integers(0, 4, 5)
    out = L.sparse_categorical_crossentropy(lab, T(p))
    np.testing.assert_allclose(out.numpy(), ref_cce(np.eye(4)[lab], p), rtol=1e-12)
    assert gradcheck(lambda pred: L.sparse_categorical_crossentropy(lab, pred), [p])
    assert gradcheck(lambda z: L.sparse_categorical_crossentropy(lab, z, from_logits=True), [rng.normal(size=(5, 4))])
    # unnormalised probabilities are renormalised, as for categorical_crossentropy
    q = rng.uniform(0.1, 1, (5, 4))
    np.testing.assert_allclose(L.sparse_categorical_crossentropy(lab, T(q)).numpy(),
                               ref_cce(np.eye(4)[lab], q), rtol=1e-12)
    assert gradcheck(lambda pred: L.sparse_categorical_crossentropy(lab, pred), [q])
    assert gradcheck(lambda pred: L.categorical_crossentropy(np.eye(4)[lab], pred), [q])


def test_clipped_probabilities_give_zero_gradient_where_clipped():
    p = T(np.array([[1.0, 0.0, 0.0]]), grad=True)
    loss = L.categorical_crossentropy(np.array([[0.0, 1.0, 0.0]]), p)
    np.testing.assert_allclose(loss.item(), -np.log(EPS), rtol=1e-6)
    loss.backward()
    assert np.all(np.isfinite(p.grad.numpy()))
    b = T(np.array([[0.0, 1.0]]), grad=True)
    L.binary_crossentropy(np.array([[1.0, 0.0]]), b).sum().backward()
    np.testing.assert_array_equal(b.grad.numpy(), 0.0)


def test_gradients_match_numpy_derivatives(rng):
    n, c = 4, 3
    t, p = rng.normal(size=(n, c)), T(rng.normal(size=(n, c)), grad=True)
    L.MeanSquaredError()(t, p).backward()
    np.testing.assert_allclose(p.grad.numpy(), 2 * (p.numpy() - t) / (n * c), rtol=1e-12)

    z = T(rng.normal(size=(n, c)), grad=True)
    onehot = np.eye(c)[rng.integers(0, c, n)]
    L.CategoricalCrossentropy(from_logits=True)(onehot, z).backward()
    np.testing.assert_allclose(z.grad.numpy(), (softmax(z.numpy()) - onehot) / n, rtol=1e-10)

    z = T(rng.normal(size=(n, c)), grad=True)
    y = rng.integers(0, 2, (n, c)).astype(float)
    L.BinaryCrossentropy(from_logits=True)(y, z).backward()
    np.testing.assert_allclose(z.grad.numpy(), (sigmoid(z.numpy()) - y) / (n * c), rtol=1e-10)

    p = T(rng.uniform(0.1, 0.9, (n, c)), grad=True)
    L.binary_crossentropy(y, p).sum().backward()
    q = p.numpy()
    np.testing.assert_allclose(p.grad.numpy(), ((1 - y) / (1 - q) - y / q) / c, rtol=1e-10)

    x = T(rng.normal(size=(n, c)), grad=True)
    L.log_cosh(t, x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.tanh(x.numpy() - t) / c, rtol=1e-10)


# -- torch parity where the definitions agree ---------------------------------------------
def test_matches_torch_where_definitions_agree(rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    n, c = 7, 5
    t, p = rng.normal(size=(n, c)), rng.normal(size=(n, c))
    tt, tp = torch.tensor(t), torch.tensor(p)

    def close(ours, theirs, tol=1e-10):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=tol, atol=tol)

    close(L.mean_squared_error(t, T(p)), tf.mse_loss(tp, tt, reduction="none").mean(-1))
    close(L.mean_absolute_error(t, T(p)), tf.l1_loss(tp, tt, reduction="none").mean(-1))
    close(L.huber(t, T(p), delta=0.7), tf.huber_loss(tp, tt, reduction="none", delta=0.7).mean(-1))
    close(L.cosine_similarity(t, T(p)), -tf.cosine_similarity(tp, tt, dim=-1))

    lab = rng.integers(0, c, n)
    onehot = np.eye(c)[lab]
    close(L.sparse_categorical_crossentropy(lab, T(p), from_logits=True),
          tf.cross_entropy(tp, torch.tensor(lab), reduction="none"))
    close(L.categorical_crossentropy(onehot, T(p), from_logits=True, label_smoothing=0.2),
          tf.cross_entropy(tp, torch.tensor(onehot), reduction="none", label_smoothing=0.2))
    close(L.categorical_crossentropy(onehot, T(softmax(p))),
          tf.cross_entropy(tp, torch.tensor(lab), reduction="none"), tol=1e-9)

    y = rng.integers(0, 2, (n, c)).astype(float)
    close(L.binary_crossentropy(y, T(p), from_logits=True),
          tf.binary_cross_entropy_with_logits(tp, torch.tensor(y), reduction="none").mean(-1))
    close(L.binary_crossentropy(y, T(sigmoid(p))),
          tf.binary_cross_entropy(torch.sigmoid(tp), torch.tensor(y), reduction="none").mean(-1), tol=1e-9)

    q = softmax(rng.normal(size=(n, c)))
    r = softmax(rng.normal(size=(n, c)))
    close(L.kl_divergence(q, T(r)),
          tf.kl_div(torch.tensor(np.log(r)), torch.tensor(q), reduction="none").sum(-1))
    pos = rng.uniform(0.5, 3, (n, c))
    close(L.poisson(q, T(pos)),
          tf.poisson_nll_loss(torch.tensor(pos), torch.tensor(q), log_input=False, eps=1e-7, reduction="none").mean(-1))

    # gradient of the from-logits cross-entropy against torch autograd
    z = torch.tensor(p, requires_grad=True)
    tf.cross_entropy(z, torch.tensor(lab)).backward()
    ours = T(p, grad=True)
    L.SparseCategoricalCrossentropy(from_logits=True)(lab, ours).backward()
    np.testing.assert_allclose(ours.grad.numpy(), z.grad.numpy(), rtol=1e-10)


# -- names, aliases, classes ------------------------------------------------------------------
@pytest.mark.parametrize("alias, target", [
    ("mse", L.mean_squared_error), ("MSE", L.mean_squared_error), ("mae", L.mean_absolute_error),
    ("mape", L.mean_absolute_percentage_error), ("msle", L.mean_squared_logarithmic_error),
    ("logcosh", L.log_cosh), ("log_cosh", L.log_cosh), ("kld", L.kl_divergence),
    ("kullback_leibler_divergence", L.kl_divergence), ("cosine_proximity", L.cosine_similarity),
    ("squared_hinge", L.squared_hinge), ("huber", L.huber), ("poisson", L.poisson),
])
def test_aliases_resolve_to_the_same_function(alias, target):
    assert L.get(alias) is target
    assert L.canonical_name(alias) == target.__name__


def test_get_accepts_classes_instances_callables(rng):
    t, p = rng.normal(size=(4, 3)), T(rng.normal(size=(4, 3)))
    want = L.mean_squared_error(t, p).numpy()
    for ident in ("MeanSquaredError", L.MeanSquaredError, L.MeanSquaredError(), {"class_name": "MeanSquaredError",
                                                                               "config": {}}):
        np.testing.assert_array_equal(L.get(ident)(t, p).numpy(), want)
    custom = lambda a, b: L.mean_absolute_error(a, b)  # noqa: E731
    assert L.get(custom) is custom
    assert L.get(None) is None
    inst = L.Huber(delta=0.3)
    np.testing.assert_array_equal(L.get(inst)(t, p).numpy(), L.huber(t, p, delta=0.3).numpy())
    with pytest.raises(ValueError, match="unknown loss 'msee'.*mean_squared_error"):
        L.get("msee")
    with pytest.raises(TypeError, match="a loss must be"):
        L.get(3)


def test_class_names_and_config_round_trip():
    assert L.Huber().name == "huber_loss"
    assert L.LogCosh().name == "log_cosh"
    assert L.KLDivergence().name == "kl_divergence"
    assert L.CategoricalCrossentropy().get_config() == {
        "name": "categorical_crossentropy", "reduction": "sum_over_batch_size", "from_logits": False,
        "label_smoothing": 0.0, "axis": -1}
    for loss in (L.CategoricalCrossentropy(from_logits=True, label_smoothing=0.1),
                 L.SparseCategoricalCrossentropy(ignore_class=-1, reduction="sum"), L.Huber(delta=2.0),
                 L.BinaryCrossentropy(label_smoothing=0.2), L.CosineSimilarity(axis=1), L.MeanSquaredError()):
        again = type(loss).from_config(loss.get_config())
        assert again.get_config() == loss.get_config()
        assert L.deserialize(L.serialize(loss)).get_config() == loss.get_config()
    assert L.serialize(L.mean_squared_error) == "mean_squared_error"
    with pytest.raises(ValueError, match="reduction must be one of"):
        L.MeanSquaredError(reduction="avg")


# -- from_logits, label smoothing, fused forms ------------------------------------------------
def test_from_logits_equals_probabilities(rng):
    z = rng.normal(size=(6, 5)) * 2
    onehot = np.eye(5)[rng.integers(0, 5, 6)]
    np.testing.assert_allclose(L.CategoricalCrossentropy(from_logits=True)(onehot, T(z)).item(),
                               L.CategoricalCrossentropy()(onehot, T(softmax(z))).item(), rtol=1e-7)
    y = rng.integers(0, 2, (6, 1)).astype(float)
    zb = rng.normal(size=(6, 1))
    np.testing.assert_allclose(L.BinaryCrossentropy(from_logits=True)(y, T(zb)).item(),
                               L.BinaryCrossentropy()(y, T(sigmoid(zb))).item(), rtol=1e-7)
    lab = onehot.argmax(-1)
    np.testing.assert_allclose(L.SparseCategoricalCrossentropy(from_logits=True)(lab, T(z)).item(),
                               L.SparseCategoricalCrossentropy()(lab, T(softmax(z))).item(), rtol=1e-7)


@pytest.mark.parametrize("from_logits", [False, True])
def test_label_smoothing_follows_keras(rng, from_logits):
    ls, c = 0.2, 4
    z = rng.normal(size=(5, c))
    onehot = np.eye(c)[rng.integers(0, c, 5)]
    smooth = onehot * (1 - ls) + ls / c
    pred = z if from_logits else softmax(z)
    out = L.categorical_crossentropy(onehot, T(pred), from_logits=from_logits, label_smoothing=ls)
    np.testing.assert_allclose(out.numpy(), ref_cce(smooth, softmax(z)), rtol=1e-7)
    y = rng.integers(0, 2, (5, 3)).astype(float)
    zb = rng.normal(size=(5, 3))
    out = L.binary_crossentropy(y, T(zb if from_logits else sigmoid(zb)), from_logits=from_logits, label_smoothing=ls)
    np.testing.assert_allclose(out.numpy(), ref_bce(y * (1 - ls) + 0.5 * ls, sigmoid(zb)), rtol=1e-7)


def test_fused_softmax_and_sigmoid_forms(rng):
    z = rng.normal(size=(6, 5)).astype(np.float32)
    onehot = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 6)]
    lab = onehot.argmax(-1)
    fused = L.fused_loss("categorical_crossentropy", "softmax")
    np.testing.assert_allclose(fused(onehot, T(z)).numpy(),
                               L.categorical_crossentropy(onehot, gf.softmax(T(z))).numpy(), rtol=1e-5)
    fused_sparse = L.fused_loss(L.SparseCategoricalCrossentropy(), "softmax")
    np.testing.assert_allclose(fused_sparse(lab, T(z)).numpy(),
                               L.sparse_categorical_crossentropy(lab, gf.softmax(T(z))).numpy(), rtol=1e-5)
    y = rng.integers(0, 2, (6, 1)).astype(np.float32)
    fused_bce = L.fused_loss(L.binary_crossentropy, "sigmoid")
    np.testing.assert_allclose(fused_bce(y, T(z[:, :1])).numpy(),
                               L.binary_crossentropy(y, gf.sigmoid(T(z[:, :1]))).numpy(), rtol=1e-5)
    assert isinstance(fused.loss, L.CategoricalCrossentropy) and fused.loss.from_logits

    # huge logits: the fused forms stay finite, in value and gradient
    huge = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], dtype=np.float32)
    oh = np.eye(3, dtype=np.float32)[[1, 1]]
    for fn, target, logits in ((fused, oh, huge), (fused_sparse, np.array([1, 1]), huge),
                               (fused_bce, np.array([[1.0], [0.0]], np.float32), huge[:, :1])):
        x = T(logits, grad=True)
        out = fn(target, x)
        assert np.all(np.isfinite(out.numpy()))
        out.sum().backward()
        assert np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(fused(oh, T(huge)).numpy(), [2e4, 0.0], rtol=1e-6)
    # the unfused probability form is clipped at -log(1e-7)
    np.testing.assert_allclose(L.categorical_crossentropy(oh, gf.softmax(T(huge))).numpy()[0], -np.log(EPS), rtol=1e-5)


def test_fused_loss_carries_options_and_declines_other_pairs():
    f = L.fused_loss(L.CategoricalCrossentropy(label_smoothing=0.1), "softmax")
    assert f.loss.label_smoothing == 0.1
    assert L.fused_loss(L.SparseCategoricalCrossentropy(ignore_class=0), "softmax").loss.ignore_class == 0
    assert L.fused_loss(L.BinaryCrossentropy, "sigmoid") is not None
    assert L.fused_loss({"class_name": "BinaryCrossentropy", "config": {}}, "sigmoid") is not None
    for loss, act in (("mse", "softmax"), ("categorical_crossentropy", "relu"), ("binary_crossentropy", "softmax"),
                      ("categorical_crossentropy", "sigmoid"), (L.CategoricalCrossentropy(from_logits=True), "softmax"),
                      ("categorical_crossentropy", None), (lambda a, b: b, "softmax"), ("not_a_loss", "softmax")):
        assert L.fused_loss(loss, act) is None


# -- reductions, sample weights, masks --------------------------------------------------------
def test_sample_weight_and_reductions(rng):
    t, p = rng.normal(size=(5, 3)), T(rng.normal(size=(5, 3)))
    per = ((t - p.numpy()) ** 2).mean(-1)
    w = rng.uniform(0, 2, 5)
    np.testing.assert_allclose(L.MeanSquaredError()(t, p, sample_weight=w).item(), (per * w).sum() / 5)
    np.testing.assert_allclose(L.MeanSquaredError()(t, p, sample_weight=w[:, None]).item(), (per * w).sum() / 5)
    np.testing.assert_allclose(L.MeanSquaredError(reduction="sum")(t, p, w).item(), (per * w).sum())
    np.testing.assert_allclose(L.MeanSquaredError(reduction="mean_with_sample_weight")(t, p, w).item(),
                               (per * w).sum() / w.sum())
    np.testing.assert_allclose(L.MeanSquaredError(reduction=None)(t, p, w).numpy(), per * w)
    np.testing.assert_allclose(L.MeanSquaredError()(t, p, sample_weight=2.0).item(), 2 * per.mean())
    with pytest.raises(ValueError, match=r"sample_weight of shape \(4,\)"):
        L.MeanSquaredError()(t, p, sample_weight=np.ones(4))


def test_sample_weight_gradient(rng):
    t = rng.normal(size=(4, 2))
    w = rng.uniform(0, 1, 4)
    assert gradcheck(lambda x: L.Huber(delta=0.5)(t, x, sample_weight=w), [rng.normal(size=(4, 2))])


def test_ignore_class_is_masked_out_of_the_mean(rng):
    z = rng.normal(size=(6, 3))
    lab = np.array([0, 2, -1, 1, -1, 2])
    loss = L.SparseCategoricalCrossentropy(from_logits=True, ignore_class=-1)
    per = loss.call(lab, T(z)).numpy()
    valid = lab != -1
    ref = -np.log(softmax(z))[np.arange(6), np.where(valid, lab, 0)]
    np.testing.assert_allclose(per, np.where(valid, ref, 0.0), rtol=1e-12)
    np.testing.assert_allclose(loss(lab, T(z)).item(), ref[valid].mean(), rtol=1e-12)
    x = T(z, grad=True)
    loss(lab, x).backward()
    np.testing.assert_array_equal(x.grad.numpy()[~valid], 0.0)


def test_shapes_follow_keras_rank_rules(rng):
    t = rng.normal(size=(5,))
    p = T(rng.normal(size=(5, 1)))
    out = L.mean_squared_error(t, p)  # (5,) vs (5, 1): y_true is expanded, not broadcast to (5, 5)
    assert out.shape == (5,)
    np.testing.assert_allclose(out.numpy(), (t - p.numpy()[:, 0]) ** 2)
    lab = rng.integers(0, 3, (5, 1))
    z = rng.normal(size=(5, 3))
    np.testing.assert_array_equal(L.sparse_categorical_crossentropy(lab, T(z)).numpy(),
                                  L.sparse_categorical_crossentropy(lab[:, 0], T(z)).numpy())
    assert L.binary_crossentropy(rng.integers(0, 2, 5), T(rng.uniform(0.1, 0.9, (5, 1)))).shape == (5,)


def test_hinge_label_conversion(rng):
    p = rng.normal(size=(4, 3))
    y01 = rng.integers(0, 2, (4, 3)).astype(float)
    np.testing.assert_allclose(L.hinge(y01, T(p)).numpy(), L.hinge(2 * y01 - 1, T(p)).numpy())
    other = np.array([[0.5, 1.0, 0.0]] * 4)  # not all 0/1: used as given
    np.testing.assert_allclose(L.hinge(other, T(p)).numpy(), np.maximum(1 - other * p, 0).mean(-1))


def test_overflow_free_forms():
    big = T(np.array([[1e4, -1e4]], dtype=np.float32))
    np.testing.assert_allclose(L.log_cosh(np.zeros((1, 2), np.float32), big).numpy(), [1e4 - np.log(2)], rtol=1e-6)
    zero = T(np.zeros((1, 3)), grad=True)
    out = L.cosine_similarity(np.ones((1, 3)), zero)
    assert out.item() == 0.0
    out.backward()
    assert np.all(np.isfinite(zero.grad.numpy()))


def test_y_true_as_tensor_and_list(rng):
    p = T(rng.normal(size=(3, 2)))
    t = rng.normal(size=(3, 2))
    want = L.mean_squared_error(t, p).numpy()
    np.testing.assert_array_equal(L.mean_squared_error(T(t), p).numpy(), want)
    np.testing.assert_allclose(L.mean_squared_error(t.tolist(), p).numpy(), want)


# -- errors -----------------------------------------------------------------------------------
@pytest.mark.parametrize("from_logits", [False, True])
def test_sparse_labels_out_of_range_raise(from_logits):
    p = T(softmax(np.zeros((3, 4))))
    with pytest.raises(ValueError, match=r"\[0, 4\).*got label 7"):
        L.sparse_categorical_crossentropy(np.array([0, 7, 1]), p, from_logits=from_logits)
    with pytest.raises(ValueError, match=r"\[0, 4\).*got label -1"):
        L.SparseCategoricalCrossentropy(from_logits=from_logits)(np.array([[0], [-1], [1]]), p)
    # the ignored class may lie outside the range
    L.sparse_categorical_crossentropy(np.array([0, 255, 1]), p, from_logits=from_logits, ignore_class=255)


def test_label_shape_errors():
    p = T(softmax(np.zeros((3, 4))))
    with pytest.raises(ValueError, match="one-hot width 3 but y_pred has 4 classes"):
        L.categorical_crossentropy(np.eye(3), p)
    with pytest.raises(ValueError, match="sparse_categorical_crossentropy"):
        L.categorical_crossentropy(np.array([0, 1, 2]), p)
    with pytest.raises(ValueError, match=r"shape \(3,\).*one-hot labels\? use categorical_crossentropy"):
        L.sparse_categorical_crossentropy(np.eye(4)[:3], p)
    with pytest.raises(ValueError, match=r"binary_crossentropy: y_true of shape \(3, 2\)"):
        L.binary_crossentropy(np.zeros((3, 2)), p)


def test_values_from_the_keras_documentation():
    """The examples printed in the Keras 3 docstrings (float32)."""
    def f32(x):
        return T(np.array(x, dtype=np.float32))

    np.testing.assert_allclose(L.categorical_crossentropy(np.array([[0, 1, 0], [0, 0, 1]]),
                                                          f32([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])).numpy(),
                               [0.0513, 2.303], atol=1e-3)
    np.testing.assert_allclose(L.SparseCategoricalCrossentropy()(np.array([1, 2]),
                                                                 f32([[0.05, 0.95, 0], [0.1, 0.8, 0.1]])).item(),
                               1.177, atol=1e-3)
    np.testing.assert_allclose(L.binary_crossentropy(np.array([[0, 1], [0, 0]]), f32([[0.6, 0.4], [0.4, 0.6]])).numpy(),
                               [0.916, 0.714], atol=1e-3)
    np.testing.assert_allclose(L.cosine_similarity(np.array([[0, 1], [1, 1], [1, 1]]),
                                                   f32([[1, 0], [1, 1], [-1, -1]])).numpy(),
                               [0.0, -0.99999994, 0.99999994], atol=1e-7)
    np.testing.assert_allclose(L.Huber()(np.array([[0, 1], [0, 0]]), f32([[0.6, 0.4], [0.4, 0.6]])).item(), 0.155, atol=1e-6)
    np.testing.assert_allclose(L.LogCosh()(np.array([[0, 1], [0, 0]]), f32([[1, 1], [0, 0]])).item(), 0.108, atol=1e-3)
