"""Regularizers: Keras 3 values and defaults, differentiable penalties, get/config, bad arguments."""
import json

import numpy as np
import pytest

import gradflow as gf
from gradflow import regularizers as R


@pytest.fixture
def weight(rng):
    return gf.Parameter(rng.standard_normal((4, 3)), dtype=np.float64)


def test_l2_value_and_gradient(weight):
    w = weight.numpy().copy()
    loss = R.l2(0.01)(weight)
    assert loss.shape == () and loss.requires_grad
    np.testing.assert_allclose(loss.item(), 0.01 * (w ** 2).sum(), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(weight.grad.numpy(), 0.02 * w, rtol=1e-12)


def test_l1_value_and_gradient(weight):
    w = weight.numpy().copy()
    loss = R.L1(0.3)(weight)
    np.testing.assert_allclose(loss.item(), 0.3 * np.abs(w).sum(), rtol=1e-12)
    loss.backward()
    np.testing.assert_allclose(weight.grad.numpy(), 0.3 * np.sign(w), rtol=1e-12)


def test_l1_l2(weight):
    w = weight.numpy().copy()
    loss = R.L1L2(l1=0.1, l2=0.2)(weight)
    np.testing.assert_allclose(loss.item(), 0.1 * np.abs(w).sum() + 0.2 * (w ** 2).sum(), rtol=1e-12)
    gf.gradcheck(lambda p: R.L1L2(0.1, 0.2)(p), [w + np.sign(w) * 0.01])
    zero = R.get("l1_l2")(weight)  # Keras 3: L1L2 defaults to zero penalties
    assert zero.item() == 0.0 and zero.shape == ()


def test_keras3_defaults():
    assert R.L2().l2 == 0.01 and R.L1().l1 == 0.01
    assert R.get("l2").get_config() == {"l2": 0.01}
    assert R.get("L1").get_config() == {"l1": 0.01}
    assert R.L1L2().get_config() == {"l1": 0.0, "l2": 0.0}
    assert R.L1L2(l1=None).l1 == 0.0


def test_float32_penalty():
    p = gf.Parameter(np.ones((2, 2), np.float32))
    loss = R.L2(0.5)(p)
    assert loss.dtype == np.float32 and loss.item() == 2.0


def test_get_identifiers():
    assert R.get(None) is None
    inst = R.L2(0.1)
    assert R.get(inst) is inst
    assert isinstance(R.get(R.L1), R.L1)
    assert isinstance(R.get({"class_name": "L1L2", "config": {"l1": 0.5, "l2": 0.0}}), R.L1L2)

    def custom(w):
        return (w * w).sum()

    assert R.get(custom) is custom
    with pytest.raises(ValueError, match="unknown regularizer 'l_2'; did you mean 'l2'"):
        R.get("l_2")
    with pytest.raises(ValueError, match="could not interpret"):
        R.get(0.01)


@pytest.mark.parametrize("bad", [lambda: R.L2(-0.1), lambda: R.L1("x"), lambda: R.L1L2(l1=float("nan"))])
def test_bad_factors(bad):
    with pytest.raises(ValueError, match="non-negative float"):
        bad()


@pytest.mark.parametrize("reg", [R.L1(0.2), R.L2(0.3), R.L1L2(0.1, 0.4)])
def test_config_round_trip(reg):
    cfg = json.loads(json.dumps(R.serialize(reg)))
    clone = R.get(cfg)
    assert type(clone) is type(reg) and clone.get_config() == reg.get_config()
    assert R.serialize(None) is None
