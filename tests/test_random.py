"""gradflow.random against Keras 3's keras.random: shapes, dtypes, argument errors, seeding,
and each distribution's moments (deterministic seeds, tolerances of several standard errors)."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import random as R

N = 20000  # samples for the moment checks: standard error of a mean ~ sigma / 141

DRAWS = [  # (name, args, kwargs)
    ("normal", ((3, 4),), {}),
    ("normal", ((2,),), {"mean": 1.0, "stddev": 2.0, "dtype": "float64"}),
    ("uniform", ((3, 4),), {}),
    ("uniform", ((5,),), {"minval": -1.0, "maxval": 3.0, "dtype": "float64"}),
    ("randint", ((3, 4), 0, 7), {}),
    ("randint", ((6,), -3, 3), {"dtype": "int64"}),
    ("truncated_normal", ((3, 4),), {}),
    ("gamma", ((3, 4), 2.0), {}),
    ("beta", ((3, 4), 1.0, 2.0), {}),
    ("binomial", ((3, 4), 5, 0.5), {}),
    ("binomial", ((2,), 5, 0.5), {"dtype": "float64"}),
]


@pytest.mark.parametrize("name,args,kwargs", DRAWS)
def test_shapes_and_dtypes_equal_keras(real_keras, name, args, kwargs):
    theirs = getattr(real_keras.random, name)(*args, seed=1, **kwargs)
    ours = getattr(R, name)(*args, seed=1, **kwargs)
    assert isinstance(ours, gf.Tensor)
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype) == str(theirs.dtype).replace("torch.", "")


def test_categorical_shuffle_dropout_shapes_equal_keras(real_keras):
    k = real_keras
    logits = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.2, 0.2]], dtype="float32"))
    for kwargs in ({}, {"dtype": "int64"}):
        theirs, ours = k.random.categorical(logits, 5, seed=1, **kwargs), R.categorical(logits, 5, seed=1, **kwargs)
        assert ours.shape == tuple(theirs.shape) and str(ours.dtype) == str(theirs.dtype).replace("torch.", "")
    x = np.arange(24, dtype="float32").reshape(2, 3, 4)
    for axis in (0, 1, 2):
        theirs, ours = k.random.shuffle(x, axis=axis, seed=1), R.shuffle(x, axis=axis, seed=1)
        assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float32
    torch = pytest.importorskip("torch")  # present with the real_keras fixture
    theirs = k.random.dropout(torch.ones(4, 6), 0.5, noise_shape=(1, 6), seed=1)
    ours = R.dropout(np.ones((4, 6), dtype="float32"), 0.5, noise_shape=(1, 6), seed=1)
    assert ours.shape == tuple(theirs.shape) and ours.dtype == np.float32


@pytest.mark.parametrize("call", [
    lambda r: r.uniform((2,), dtype="int32"),
    lambda r: r.randint((2,), 0, 3, dtype="float32"),
    lambda r: r.categorical(np.zeros(3, dtype="float32"), 2),
    lambda r: r.normal((2,), seed="a"),
    lambda r: r.normal((2,), seed=1.5),
    lambda r: r.SeedGenerator(1.5),
    lambda r: r.SeedGenerator(1, bogus=True),
])
def test_argument_errors_equal_keras(real_keras, call):
    with pytest.raises(ValueError) as theirs:
        call(real_keras.random)
    with pytest.raises(ValueError) as ours:
        call(R)
    assert str(ours.value).split(".")[0] == str(theirs.value).split(".")[0]


def test_seed_generator_equals_keras(real_keras):
    theirs, ours = real_keras.random.SeedGenerator(5, name="sg"), R.SeedGenerator(5, name="sg")
    assert ours.get_config() == theirs.get_config() == {"seed": 5, "name": "sg"}
    assert ours.state.name == theirs.state.name and ours.state.path == theirs.state.path
    assert ours.state.shape == tuple(theirs.state.shape) and str(ours.state.dtype) == theirs.state.dtype
    assert not ours.state.trainable
    for ordered in (True, True, False, True):
        np.testing.assert_array_equal(ours.next(ordered).numpy(), np.asarray(theirs.next(ordered)))
        np.testing.assert_array_equal(ours.state.numpy(), np.asarray(theirs.state.value))
    clone = R.SeedGenerator.from_config(ours.get_config())
    assert clone.get_config() == ours.get_config()
    assert R.SeedGenerator().get_config()["seed"] is None


def test_seeds_repeat():
    for name, args, kwargs in DRAWS:
        fn = getattr(R, name)
        np.testing.assert_array_equal(fn(*args, seed=3, **kwargs).numpy(), fn(*args, seed=3, **kwargs).numpy())
        a, b = R.SeedGenerator(9), R.SeedGenerator(9)
        first = fn(*args, seed=a, **kwargs).numpy()
        np.testing.assert_array_equal(first, fn(*args, seed=b, **kwargs).numpy())  # same seed, same stream
        if name not in ("binomial", "randint"):  # discrete draws of a few values may repeat by chance
            assert not np.array_equal(first, fn(*args, seed=a, **kwargs).numpy())  # the stream advances
    gf.random.seed(11)
    x = R.normal((5,)).numpy()
    gf.random.seed(11)
    np.testing.assert_array_equal(x, R.normal((5,)).numpy())  # seed=None: gradflow's global stream


def _moments(t):
    a = np.asarray(t, dtype=np.float64)
    return a.mean(), a.var()


def test_continuous_moments():
    m, v = _moments(R.normal((N,), mean=2.0, stddev=3.0, seed=1))
    assert abs(m - 2.0) < 0.1 and abs(v - 9.0) < 0.4
    u = R.uniform((N,), minval=-1.0, maxval=3.0, seed=2).numpy()
    assert u.min() >= -1.0 and u.max() < 3.0
    m, v = _moments(u)
    assert abs(m - 1.0) < 0.05 and abs(v - 16 / 12) < 0.05
    t = R.truncated_normal((N,), mean=1.0, stddev=2.0, seed=3).numpy()
    assert np.abs(t - 1.0).max() <= 4.0 + 1e-5
    m, v = _moments(t)
    assert abs(m - 1.0) < 0.05 and abs(np.sqrt(v) - 2.0 * 0.87962566) < 0.03
    m, v = _moments(R.gamma((N,), 3.0, seed=4))
    assert abs(m - 3.0) < 0.08 and abs(v - 3.0) < 0.25
    m, v = _moments(R.beta((N,), 2.0, 5.0, seed=5))
    assert abs(m - 2 / 7) < 0.01 and abs(v - 10 / (49 * 8)) < 0.003


def test_discrete_moments():
    r = R.randint((N,), 2, 8, seed=6).numpy()
    assert r.min() == 2 and r.max() == 7
    np.testing.assert_allclose(np.bincount(r - 2) / N, 1 / 6, atol=0.015)
    m, v = _moments(R.binomial((N,), 10, 0.3, seed=7))
    assert abs(m - 3.0) < 0.05 and abs(v - 2.1) < 0.1
    probs = np.array([[0.1, 0.2, 0.7], [0.5, 0.25, 0.25]])
    c = R.categorical(np.log(probs), N, seed=8).numpy()
    for row in range(2):
        np.testing.assert_allclose(np.bincount(c[row], minlength=3) / N, probs[row], atol=0.015)


def test_dropout_and_shuffle():
    x = np.ones((200, 100), dtype="float32")
    y = R.dropout(x, 0.3, seed=1).numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.7)}
    assert abs((y == 0).mean() - 0.3) < 0.01
    shared = R.dropout(x, 0.5, noise_shape=(1, None), seed=2).numpy()
    assert (shared == shared[:1]).all()  # one mask row for every sample
    assert (R.dropout(x, 1.0).numpy() == 0).all() and (R.dropout(x, 0.0).numpy() == 1).all()
    t = gf.Tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    s = R.shuffle(t, axis=1, seed=3)
    for row in range(3):
        assert sorted(s.numpy()[row]) == list(np.arange(4.0) + 4 * row)  # each row a permutation of itself
    (s * s).sum().backward()  # differentiable, like Keras's gather
    np.testing.assert_allclose(t.grad.numpy(), 2 * t.numpy())
    np.testing.assert_array_equal(np.sort(R.shuffle(np.arange(50), seed=4).numpy()), np.arange(50))


def _seeded_layer(k):
    class Noisy(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = k.random.SeedGenerator(3)

        def build(self, input_shape):
            self.w = self.add_weight(shape=(2,), initializer="ones", name="w")

        def call(self, x):
            return x * self.w + k.random.normal((2,), seed=self.seed_generator)

    return Noisy(name="noisy")


def test_layers_count_seed_state_in_variables_not_weights(real_keras, tmp_path):
    counts = []
    for k in (real_keras, gf):
        layer = _seeded_layer(k)
        model = k.Sequential([k.Input((2,)), layer])
        counts.append((len(model.weights), len(model.variables), len(model.non_trainable_variables),
                       len(model.trainable_variables), len(layer.variables)))
    assert counts[0] == counts[1] == (1, 2, 1, 1, 2)
    state = model.variables[-1]
    assert state.name == "seed_generator_state" and state.dtype == np.int32
    before = int(state.numpy()[1])
    model(np.ones((1, 2), dtype="float32"))  # a draw advances the generator's state
    assert state.numpy()[1] == before + 1
