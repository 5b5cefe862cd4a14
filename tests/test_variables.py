"""gradflow.Variable against Keras 3's keras.Variable: construction, updates, conversions, use in
ops and as a layer weight."""
import copy
import pickle

import numpy as np
import pytest

import gradflow as gf
from gradflow import Variable

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")


def _dtype(t):
    return str(t.dtype).replace("torch.", "")


@pytest.mark.parametrize("make", [
    lambda k: k.Variable(np.ones((2, 3), dtype="float32"), name="w"),
    lambda k: k.Variable(np.arange(4), name="i", trainable=False),  # Keras on torch: int ones can't train
    lambda k: k.Variable([1.0, 2.0], name="l"),
    lambda k: k.Variable(3, name="s", trainable=False),
    lambda k: k.Variable("zeros", shape=(2, 2), name="z"),
    lambda k: k.Variable(k.initializers.Ones(), shape=(3,), dtype="float64", name="o", trainable=False),
])
def test_construction_equals_keras(real_keras, make):
    theirs, ours = make(real_keras), make(gf)
    assert isinstance(ours, Variable) and isinstance(ours, gf.Tensor)
    assert ours.shape == tuple(theirs.shape)
    assert str(ours.dtype) == theirs.dtype
    assert ours.name == theirs.name and ours.path == theirs.path
    assert ours.trainable == theirs.trainable
    assert ours.aggregation == theirs.aggregation and ours.synchronization == theirs.synchronization
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("call", [
    lambda k: k.Variable("zeros"),  # an initializer needs a shape
    lambda k: k.Variable(np.ones(2), name="a/b"),
    lambda k: k.Variable(np.ones(2), aggregation="max"),
    lambda k: k.Variable(np.ones(2), synchronization="sometimes"),
    lambda k: k.Variable(np.ones(2)).assign(np.ones(3)),
])
def test_errors_equal_keras(real_keras, call):
    with pytest.raises(ValueError) as theirs:
        call(real_keras)
    with pytest.raises(ValueError) as ours:
        call(gf)
    assert str(ours.value).split(".")[0] == str(theirs.value).split(".")[0]


def test_updates_and_conversions_equal_keras(real_keras):
    k = real_keras
    theirs, ours = k.Variable(np.full((2, 2), 1.5, dtype="float32")), Variable(np.full((2, 2), 1.5, dtype="float32"))
    for op, value in (("assign", np.eye(2)), ("assign_add", np.ones((2, 2))), ("assign_sub", 0.25 * np.ones((2, 2)))):
        getattr(theirs, op)(value.astype("float32"))
        got = getattr(ours, op)(value.astype("float32"))
        np.testing.assert_allclose(np.asarray(got), ours.numpy())
        np.testing.assert_allclose(ours.numpy(), theirs.numpy())
        assert ours.dtype == np.float32
    np.testing.assert_allclose((ours * 2 + 1).numpy(), (theirs * 2 + 1).detach().numpy())
    np.testing.assert_allclose(np.asarray(ours), theirs.numpy())
    np.testing.assert_allclose(ours[0].numpy(), theirs[0].detach().numpy())
    np.testing.assert_allclose(gf.ops.matmul(ours, ours).numpy(), k.ops.matmul(theirs, theirs).detach().numpy())
    assert float(Variable(np.float32(2.5))) == float(k.Variable(np.float32(2.5), trainable=False)) == 2.5
    assert int(Variable(7)) == int(k.Variable(7, trainable=False)) == 7
    assert ours.value is ours  # Keras on torch: the value is the variable's own tensor
    assert ours.ndim == 2 and repr(ours).startswith("<Variable path=")


def test_gradients_flow_and_trainable():
    v = Variable(np.array([1.0, 2.0, 3.0], dtype="float32"), name="v")
    loss = (v * v).sum()
    loss.backward()
    np.testing.assert_allclose(v.grad.numpy(), [2.0, 4.0, 6.0])
    frozen = Variable(np.ones(2, dtype="float32"), trainable=False)
    assert not frozen.requires_grad
    frozen.trainable = True
    assert frozen.requires_grad and frozen.trainable
    assert not Variable(np.arange(3)).requires_grad  # int variables never need gradients


def test_layer_weights_are_variables():
    layer = gf.layers.Dense(3)
    layer.build((None, 2))
    assert all(isinstance(w, Variable) for w in layer.weights)
    assert layer.kernel.path.endswith("/kernel") and layer.kernel.trainable
    before = layer.kernel.numpy().copy()
    layer.kernel.assign_add(np.ones((2, 3), dtype="float32"))
    np.testing.assert_allclose(layer.kernel.numpy(), before + 1)
    y = layer(np.ones((1, 2), dtype="float32"))
    np.testing.assert_allclose(y.numpy(), np.ones((1, 2)) @ layer.kernel.numpy() + layer.bias.numpy(), rtol=1e-6)
    model = gf.Sequential([gf.Input((2,)), gf.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.fit(np.ones((4, 2), dtype="float32"), np.zeros((4, 1), dtype="float32"), epochs=1, verbose=0)
    assert all(isinstance(w, Variable) for w in model.trainable_weights)


def test_copies_and_pickles_keep_the_flags():
    frozen = Variable(np.ones(2, dtype="float32"), name="f")
    frozen.requires_grad = False  # a frozen layer's weight: trainable, but no gradient for now
    for clone in (copy.deepcopy(frozen), pickle.loads(pickle.dumps(frozen))):
        assert isinstance(clone, Variable) and clone.path == "f"
        assert clone.trainable and not clone.requires_grad
        np.testing.assert_array_equal(clone.numpy(), frozen.numpy())
