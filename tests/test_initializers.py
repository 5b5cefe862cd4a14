"""Initializers: Keras fan rules, statistics on big shapes, orthogonality, seeding, dtypes, get/config."""
import json
import math

import numpy as np
import pytest

import gradflow as gf
from gradflow import initializers as I

DENSE = (400, 600)          # fan_in 400, fan_out 600
CONV = (3, 3, 48, 64)       # fan_in 432, fan_out 576


def test_compute_fans():
    assert I.compute_fans(()) == (1, 1)
    assert I.compute_fans((7,)) == (7, 7)
    assert I.compute_fans((3, 5)) == (3, 5)
    assert I.compute_fans((3, 5, 4, 8)) == (60, 120)  # receptive field 15 multiplies


@pytest.mark.parametrize("shape", [DENSE, CONV])
@pytest.mark.parametrize("name,scale,mode", [
    ("glorot_uniform", 1.0, "fan_avg"), ("he_uniform", 2.0, "fan_in"), ("lecun_uniform", 1.0, "fan_in")])
def test_uniform_limits_and_std(shape, name, scale, mode):
    fan_in, fan_out = I.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    limit = math.sqrt(3 * scale / n)
    w = np.asarray(I.get(name)(shape))  # a Tensor, as Keras's backend tensor
    assert w.shape == shape and w.dtype == np.float32
    assert np.abs(w).max() <= limit and np.abs(w).max() > 0.99 * limit
    assert abs(w.mean()) < 0.01 * limit
    assert abs(w.std() / (limit / math.sqrt(3)) - 1) < 0.02


@pytest.mark.parametrize("shape", [DENSE, CONV])
@pytest.mark.parametrize("name,scale,mode", [
    ("glorot_normal", 1.0, "fan_avg"), ("he_normal", 2.0, "fan_in"), ("lecun_normal", 1.0, "fan_in")])
def test_truncated_normal_std_and_bounds(shape, name, scale, mode):
    fan_in, fan_out = I.compute_fans(shape)
    n = {"fan_in": fan_in, "fan_avg": (fan_in + fan_out) / 2}[mode]
    std = math.sqrt(scale / n)
    w = np.asarray(I.get(name)(shape)).astype(np.float64)
    assert abs(w.std() / std - 1) < 0.02                       # the truncation is compensated
    assert np.abs(w).max() <= 2 * std / 0.87962566103423978 * (1 + 1e-6)
    assert abs(w.mean()) < 0.01 * std


def test_variance_scaling_variants():
    w = np.asarray(I.VarianceScaling(scale=3.0, mode="fan_out", distribution="untruncated_normal")(DENSE))
    assert abs(w.std() / math.sqrt(3.0 / 600) - 1) < 0.02
    assert np.abs(w).max() > 2.5 * math.sqrt(3.0 / 600)         # not truncated
    w = np.asarray(I.VarianceScaling(mode="fan_avg", distribution="uniform")(DENSE))
    assert np.abs(w).max() <= math.sqrt(3 / 500)
    with pytest.raises(ValueError, match="mode"):
        I.VarianceScaling(mode="fan_mid")
    with pytest.raises(ValueError, match="distribution"):
        I.VarianceScaling(distribution="cauchy")
    with pytest.raises(ValueError, match="scale"):
        I.VarianceScaling(scale=0)


def test_simple_distributions():
    w = np.asarray(I.RandomNormal()((300, 300)))
    assert abs(w.std() - 0.05) < 0.002 and abs(w.mean()) < 0.001
    w = np.asarray(I.RandomUniform(-0.2, 0.4)((300, 300)))
    assert w.min() >= -0.2 and w.max() < 0.4 and abs(w.mean() - 0.1) < 0.005
    w = np.asarray(I.TruncatedNormal(mean=1.0, stddev=0.1)((300, 300)))
    assert np.abs(w - 1.0).max() <= 0.2 + 1e-6 and abs(w.mean() - 1.0) < 0.002
    np.testing.assert_array_equal(I.get("zeros")((2, 3)), 0)
    np.testing.assert_array_equal(I.get("ones")((4,)), 1)
    np.testing.assert_array_equal(I.Constant(2.5)((2, 2)), 2.5)
    np.testing.assert_array_equal(I.Identity(gain=2.0)((2, 3)), 2 * np.eye(2, 3))


@pytest.mark.parametrize("shape", [(30, 50), (50, 30), (3, 3, 4, 36), (40, 40)])
def test_orthogonal(shape):
    w = np.asarray(I.Orthogonal(gain=1.5)(shape, dtype=np.float64))
    m = w.reshape(-1, shape[-1])
    small = min(m.shape)
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, 2.25 * np.eye(small), atol=1e-10)
    with pytest.raises(ValueError, match="rank >= 2"):
        I.Orthogonal()((5,))


def test_seeding():
    a = I.GlorotUniform(seed=42)((5, 6))
    np.testing.assert_array_equal(a, I.GlorotUniform(seed=42)((5, 6)))  # explicit seed: same every call
    init = I.HeNormal(seed=1)
    np.testing.assert_array_equal(init((4, 4)), init((4, 4)))
    assert not np.array_equal(a, I.GlorotUniform(seed=43)((5, 6)))
    gf.random.seed(3)
    x1, x2 = I.he_uniform()((10,)), I.he_uniform()((10,))
    gf.random.seed(3)
    np.testing.assert_array_equal(x1, I.he_uniform()((10,)))
    np.testing.assert_array_equal(x2, I.he_uniform()((10,)))
    assert not np.array_equal(x1, x2)


def test_dtype_and_backend():
    assert I.GlorotUniform()((3, 3), dtype="float64").dtype == np.float64
    with gf.use_backend("reference"):
        assert I.get("he_normal")((3, 3)).dtype == np.float64
        f64 = I.GlorotNormal(seed=5)((6, 7))
    f32 = I.GlorotNormal(seed=5)((6, 7))
    np.testing.assert_allclose(f32, f64, rtol=1e-6)  # same draws in both precisions


def test_get_identifiers():
    assert isinstance(I.get("glorot_uniform"), I.GlorotUniform)
    assert isinstance(I.get("GlorotUniform"), I.GlorotUniform)
    assert isinstance(I.get(I.HeNormal), I.HeNormal)
    inst = I.Orthogonal()
    assert I.get(inst) is inst
    assert isinstance(I.get("normal"), I.RandomNormal) and isinstance(I.get("uniform"), I.RandomUniform)
    assert isinstance(I.get({"class_name": "Constant", "config": {"value": 3.0}}), I.Constant)

    def fn(shape, dtype=None):
        return np.full(shape, 7.0)

    assert I.get(fn) is fn
    with pytest.raises(ValueError, match="unknown initializer 'he_norml'; did you mean 'he_normal'"):
        I.get("he_norml")
    with pytest.raises(ValueError, match="could not interpret"):
        I.get(5)


@pytest.mark.parametrize("init", [
    I.Zeros(), I.Ones(), I.Constant(0.5), I.RandomNormal(0.1, 0.2, seed=1), I.RandomUniform(-1, 1, seed=2),
    I.TruncatedNormal(stddev=0.3), I.VarianceScaling(2.0, "fan_out", "uniform", seed=4), I.GlorotUniform(seed=5),
    I.GlorotNormal(), I.HeUniform(), I.HeNormal(seed=6), I.LecunUniform(), I.LecunNormal(), I.Orthogonal(2.0, seed=7),
    I.Identity(3.0)])
def test_config_round_trip(init):
    cfg = json.loads(json.dumps(I.serialize(init)))
    clone = I.get(cfg)
    assert type(clone) is type(init) and clone.get_config() == init.get_config()
    assert type(init).from_config(init.get_config()).get_config() == init.get_config()
    if getattr(init, "seed", None) is not None:
        np.testing.assert_array_equal(clone((4, 5)), init((4, 5)))
