"""Keras 3's newer optimizers (Lion, Lamb, Ftrl, Adafactor, Muon) and schedules in gradflow: they train a
model, resume exactly from get_state/set_state, and take Keras's base arguments (their steps against real
Keras are in tests/keras_cases/optimizers.py)."""
import numpy as np
import pytest

import gradflow as keras
from gradflow import optimizers

NEW = ["Lion", "Lamb", "Ftrl", "Adafactor", "Muon", "ScheduleFreeAdamW"]


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, x @ rng.normal(size=(4, 2)).astype("float32")


@pytest.mark.parametrize("name", NEW)
def test_trains_a_model(name):
    x, y = _data()
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    lr = {"Ftrl": 0.5, "Adafactor": 0.1, "Muon": 0.02, "ScheduleFreeAdamW": 0.02}.get(name, 0.01)
    model.compile(optimizer=getattr(optimizers, name)(learning_rate=lr), loss="mse")
    hist = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert hist.history["loss"][-1] < 0.7 * hist.history["loss"][0]


@pytest.mark.parametrize("name", NEW)
def test_state_resumes_exactly(name):
    rng = np.random.default_rng(1)
    shapes = [(3, 5), (5,), (2, 3, 4)]
    grads = [[rng.normal(size=s).astype("float32") for s in shapes] for _ in range(4)]
    params = [keras.Parameter(rng.normal(size=s).astype("float32")) for s in shapes]
    twin = [keras.Parameter(p.numpy().copy()) for p in params]
    a, b = getattr(optimizers, name)(), getattr(optimizers, name)()
    for g in grads[:2]:
        a.apply_gradients(zip(g, params))
        b.apply_gradients(zip(g, twin))
    c = getattr(optimizers, name)()
    c.set_state(b.get_state(twin), twin)
    for g in grads[2:]:
        a.apply_gradients(zip(g, params))
        c.apply_gradients(zip(g, twin))
    for p, q in zip(params, twin):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_keras_base_arguments():
    opt = optimizers.Adam(use_ema=False, ema_momentum=0.9, loss_scale_factor=None, gradient_accumulation_steps=None)
    cfg = opt.get_config()
    assert cfg["ema_momentum"] == 0.9 and cfg["use_ema"] is False
    assert optimizers.Adam.from_config(cfg).get_config() == cfg
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        optimizers.SGD(use_ema=True, ema_overwrite_frequency=0.5)
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.SGD(momentun=0.9)


def test_argument_checks_follow_keras():
    with pytest.raises(ValueError, match="beta_1"):
        optimizers.Lion(beta_1=0.0)
    with pytest.raises(ValueError, match="learning_rate_power"):
        optimizers.Ftrl(learning_rate_power=0.5)
    with pytest.raises(ValueError, match="decay_steps"):
        optimizers.schedules.PolynomialDecay(0.1, 0)


def test_new_schedules_values():
    s = optimizers.schedules.PolynomialDecay(1.0, 4, end_learning_rate=0.0, power=1.0)
    assert [s(i) for i in (0, 2, 4, 8)] == [1.0, 0.5, 0.0, 0.0]
    r = optimizers.schedules.CosineDecayRestarts(1.0, 2, t_mul=1.0, m_mul=0.5)
    np.testing.assert_allclose([r(0), r(1), r(2), r(4)], [1.0, 0.5, 0.5, 0.25], atol=1e-12)
