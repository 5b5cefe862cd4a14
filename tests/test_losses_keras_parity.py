"""The losses of issue 23 (focal, Dice, Tversky, Circle, generalized cross-entropy, CTC) against Keras 3:
per-sample values, gradients (Keras through torch autograd), reductions and configs; plus every loss
class's get_config keys and Keras's ``deserialize``/``get`` of a name."""
import numpy as np
import pytest

import gradflow.losses as L
from gradflow import ops as F
from gradflow.autograd import gradcheck
from gradflow.autograd.tensor import Tensor

rng0 = np.random.default_rng(7)
P = rng0.uniform(0.05, 0.95, (5, 4)).astype(np.float32)
T01 = (rng0.uniform(size=(5, 4)) > 0.5).astype(np.float32)
ONEHOT = np.eye(4, dtype=np.float32)[rng0.integers(0, 4, 5)]
LABELS = rng0.integers(0, 4, 5).astype(np.float32)
_E = rng0.normal(size=(6, 3)).astype(np.float32)
EMB = _E / np.linalg.norm(_E, axis=1, keepdims=True)
EMB_LABELS = np.array([0, 1, 0, 2, 1, 3], dtype=np.float32)
CTC_Y = np.array([[1, 2, 2, 0], [3, 0, 0, 0], [1, 1, 3, 2]], dtype=np.float32)
CTC_X = rng0.normal(size=(3, 9, 5)).astype(np.float32)

# (function name, y_true, y_pred, keyword arguments)
CASES = [
    ("binary_focal_crossentropy", T01, P, {}),
    ("binary_focal_crossentropy", T01, P, dict(apply_class_balancing=True, alpha=0.4, gamma=3.0,
                                               label_smoothing=0.1)),
    ("binary_focal_crossentropy", T01, P * 6 - 3, dict(from_logits=True, axis=0)),
    ("categorical_focal_crossentropy", ONEHOT, P, {}),
    ("categorical_focal_crossentropy", ONEHOT, P, dict(alpha=[0.1, 0.2, 0.3, 0.4], gamma=1.0,
                                                       label_smoothing=0.1)),
    ("categorical_focal_crossentropy", ONEHOT, P * 6 - 3, dict(from_logits=True)),
    ("dice", T01, P, {}),
    ("dice", T01, P, dict(axis=1)),
    ("tversky", T01, P, {}),
    ("tversky", T01, P, dict(alpha=0.3, beta=0.7, axis=(1,))),
    ("categorical_generalized_cross_entropy", LABELS, P, dict(q=0.7)),
    ("circle", EMB_LABELS, EMB, {}),
    ("circle", EMB_LABELS, EMB, dict(remove_diagonal=False, gamma=10, margin=0.2)),
    ("ctc", CTC_Y, CTC_X, {}),
]


def _ids(case):
    return f"{case[0]}-{'-'.join(case[3]) or 'default'}"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_function_values_and_gradients_match_keras(real_keras, case):
    import torch

    name, t, p, kw = case
    pt = torch.tensor(p, requires_grad=True)
    want = getattr(real_keras.losses, name)(torch.tensor(t), pt, **kw)
    want.sum().backward()
    gp = Tensor(p.copy(), requires_grad=True)
    got = getattr(L, name)(t, gp, **kw)
    assert got.shape == tuple(want.shape)
    assert got.dtype == np.float32
    F.sum(got).backward()
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=2e-5, atol=2e-6)
    scale = max(1.0, float(np.abs(pt.grad.numpy()).max()))
    np.testing.assert_allclose(gp.grad.numpy() / scale, pt.grad.numpy() / scale, rtol=1e-4, atol=2e-6)


CLASS_CASES = [
    ("BinaryFocalCrossentropy", T01, P, dict(apply_class_balancing=True, gamma=1.5)),
    ("CategoricalFocalCrossentropy", ONEHOT, P * 4 - 2, dict(from_logits=True, label_smoothing=0.2)),
    ("Dice", T01, P, dict(axis=(1,))),
    ("Tversky", T01, P, dict(alpha=0.2, beta=0.8, axis=1)),
    ("Circle", EMB_LABELS, EMB, dict(gamma=40.0)),
    ("CategoricalGeneralizedCrossEntropy", LABELS, P, dict(q=0.3)),
    ("CTC", CTC_Y, CTC_X, {}),
]


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean_with_sample_weight", None])
@pytest.mark.parametrize("case", CLASS_CASES, ids=[c[0] for c in CLASS_CASES])
def test_classes_reduce_and_configure_like_keras(real_keras, case, reduction):
    import torch

    name, t, p, kw = case
    kl = getattr(real_keras.losses, name)(reduction=reduction, **kw)
    gl = getattr(L, name)(reduction=reduction, **kw)
    assert gl.get_config() == kl.get_config()
    assert type(gl).from_config(gl.get_config()).get_config() == gl.get_config()
    sw = None
    if getattr(gl, "axis", -1) is not None:  # per-sample losses take per-sample weights
        sw = np.linspace(0.5, 1.5, len(t)).astype(np.float32)
    pt = torch.tensor(p, requires_grad=True)
    want = kl(torch.tensor(t), pt, sample_weight=None if sw is None else torch.tensor(sw))
    want.sum().backward()
    gp = Tensor(p.copy(), requires_grad=True)
    got = gl(t, gp, sample_weight=sw)
    F.sum(got).backward()
    np.testing.assert_allclose(np.asarray(got.numpy()), want.detach().numpy(), rtol=2e-5, atol=2e-6)
    scale = max(1.0, float(np.abs(pt.grad.numpy()).max()))
    np.testing.assert_allclose(gp.grad.numpy() / scale, pt.grad.numpy() / scale, rtol=1e-4, atol=2e-6)


def test_circle_masks_the_samples_with_zero_loss(real_keras):
    """Keras sets the mask ``loss > 0`` on the circle loss: the mean runs over the positive samples only."""
    emb = EMB.copy()
    emb[[1, 4]] = emb[[0, 0]]  # two identical embeddings with the same label...
    lab = np.array([0, 1, 2, 3, 1, 5], dtype=np.float32)
    import torch
    want = real_keras.losses.Circle()(torch.tensor(lab), torch.tensor(emb))
    got = L.Circle()(lab, Tensor(emb))
    np.testing.assert_allclose(got.item(), want.item(), rtol=2e-5)


def test_every_loss_class_config_has_keras_keys(real_keras):
    for name in dir(real_keras.losses):
        kc = getattr(real_keras.losses, name)
        if not (isinstance(kc, type) and issubclass(kc, real_keras.losses.Loss)) or kc is real_keras.losses.Loss:
            continue
        assert hasattr(L, name), name
        assert getattr(L, name)().get_config() == kc().get_config(), name


def test_deserialize_and_get_follow_keras(real_keras):
    for name in ("mean_absolute_error", "huber", "dice", "ctc", "binary_focal_crossentropy"):
        assert L.deserialize(name) is getattr(L, name)
        assert real_keras.losses.deserialize(name).__name__ == name
        assert L.get(name) is getattr(L, name)
    for name in ("MeanAbsoluteError", "Tversky", "Circle"):
        got = L.deserialize(name)
        assert isinstance(got, getattr(L, name))
        assert got.get_config() == real_keras.losses.deserialize(name).get_config()
    loss = L.Tversky(alpha=0.1, beta=0.9, axis=(1,), reduction="sum")
    again = L.deserialize(L.serialize(loss))
    assert isinstance(again, L.Tversky) and again.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="q must be in the interval"):
        L.CategoricalGeneralizedCrossEntropy(q=1.5)


def test_positional_arguments_follow_keras_order():
    loss = L.BinaryFocalCrossentropy(True, 0.3, 1.0)
    assert (loss.apply_class_balancing, loss.alpha, loss.gamma) == (True, 0.3, 1.0)
    assert L.Tversky(0.2, 0.8).get_config()["beta"] == 0.8


@pytest.mark.parametrize("name,t,kw", [
    ("ctc", CTC_Y, {}),
    ("circle", EMB_LABELS, dict(gamma=5.0)),
    ("categorical_focal_crossentropy", ONEHOT, dict(from_logits=True)),
    ("binary_focal_crossentropy", T01, dict(from_logits=True, apply_class_balancing=True)),
])
def test_gradcheck_float64(name, t, kw):
    x = {"ctc": CTC_X[:, :5], "circle": EMB}.get(name, P * 4 - 2).astype(np.float64)
    fn = getattr(L, name)
    assert gradcheck(lambda pred: fn(t, pred, **kw), [x])


def test_ctc_impossible_alignment_is_infinite():
    # three labels with a repeat need 4 steps; 3 steps cannot emit them
    got = L.ctc(np.array([[1, 1, 2]]), Tensor(np.zeros((1, 3, 4), np.float32)))
    assert np.isinf(got.numpy()).all()


def _fit_both(real_keras, build, x, y, loss):
    out, weights = [], None
    for lib in (real_keras, __import__("gradflow")):
        model = build(lib)
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss=loss(lib))
        if weights is None:
            weights = model.get_weights()
        else:
            model.set_weights(weights)
        hist = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False).history["loss"]
        out.append((hist, model.evaluate(x, y, verbose=0)))
    np.testing.assert_allclose(out[1][0], out[0][0], rtol=2e-5)
    np.testing.assert_allclose(out[1][1], out[0][1], rtol=2e-5)


def test_fit_with_circle_masks_like_keras(real_keras):
    """In a batch, samples without a positive pair have loss 0 and Keras leaves them out of the mean."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 5)).astype(np.float32)
    y = np.array([0, 1, 0, 2, 1, 0, 2, 1], np.float32)

    def build(k):
        norm = (k.layers.UnitNormalization() if hasattr(k.layers, "UnitNormalization") and k is real_keras else
                k.layers.Lambda(lambda t: t / k.ops.sqrt(k.ops.sum(t * t, axis=-1, keepdims=True))))
        return k.Sequential([k.Input((5,)), k.layers.Dense(3), norm])

    _fit_both(real_keras, build, x, y, lambda k: k.losses.Circle(gamma=10.0))


def test_fit_with_ctc_matches_keras(real_keras):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(8, 9, 4)).astype(np.float32)
    y = np.array([[1, 2, 0], [3, 0, 0], [1, 1, 2], [2, 0, 0]] * 2, np.float32)
    _fit_both(real_keras, lambda k: k.Sequential([k.Input((9, 4)), k.layers.Dense(5)]), x, y,
              lambda k: k.losses.CTC())
