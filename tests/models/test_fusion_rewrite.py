"""Fusion is a rewrite of the model graph: layers keep Keras's ``call`` signatures, and a subclass
that overrides ``call`` or ``convolution_op`` is never fused, trains correctly, while the plain
built-ins in the same model still fuse."""
import inspect

import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L
from gradflow import ops
from gradflow.autograd import no_grad
from gradflow.models import Model, Sequential
from gradflow.models.fusion import fused_layers, head_fusable, is_fusable
from gradflow.optimizers import SGD


class OwnCallConv(L.Conv2D):
    """A Conv2D whose ``call`` adds a term of its own (so a fused op skipping it would differ)."""

    calls = 0

    def call(self, inputs):
        type(self).calls += 1
        return super().call(inputs) + 0.5 * ops.tanh(inputs[..., :1])


class StandardizedConv2D(L.Conv2D):
    """Keras's weight-standardization recipe: only ``convolution_op`` changes."""

    calls = 0

    def convolution_op(self, inputs, kernel):
        type(self).calls += 1
        mean, var = ops.moments(kernel, axes=[0, 1, 2], keepdims=True)
        return ops.conv(inputs, (kernel - mean) / ops.sqrt(var + 1e-10), strides=list(self.strides),
                        padding=self.padding, data_format=self.data_format)


class ConfigOnlyConv(L.Conv2D):
    """A subclass that adds a config key only: it may still fuse."""

    def __init__(self, *args, tag="x", **kwargs):
        super().__init__(*args, **kwargs)
        self.tag = tag

    def get_config(self):
        return {**super().get_config(), "tag": self.tag}


def _layers(conv_cls):
    """conv -> BN -> ReLU -> MaxPool, conv(relu) -> MaxPool (both with ``conv_cls``), then a plain
    Conv2D(relu) -> MaxPool, Flatten, Dense(softmax)."""
    return [conv_cls(4, 3, padding="same", name="c1"), L.BatchNormalization(name="bn"), L.Activation("relu", name="r"),
            L.MaxPooling2D(2, name="p1"),
            conv_cls(4, 3, padding="same", activation="relu", name="c2"), L.MaxPooling2D(2, name="p2"),
            L.Conv2D(4, 3, padding="same", activation="relu", name="c3"), L.MaxPooling2D(2, name="p3"),
            L.Flatten(name="f"), L.Dense(3, activation="softmax", name="d")]


class OneByOne(Model):
    """The same layers called one by one (no plan, so no fusion): the unfused reference."""

    def __init__(self, layers):
        super().__init__()
        self.stack = layers

    def call(self, x, training=None):
        for layer in self.stack:
            x = layer(x, training=training)
        return x


def _sequential(conv_cls):
    return Sequential([gf.Input((8, 8, 3))] + _layers(conv_cls))


def _functional(conv_cls):
    inp = gf.Input((8, 8, 3))
    x = inp
    for layer in _layers(conv_cls):
        x = layer(x)
    return Model(inp, x)


def _data(n=12):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 8, 8, 3)).astype(np.float32), rng.integers(0, 3, n)


def _reference(model, conv_cls):
    ref = OneByOne(_layers(conv_cls))
    ref.build((None, 8, 8, 3))
    ref.set_weights(model.get_weights())
    return ref


def _specs(model, inference):
    return {layer.name: set(spec) for layer, spec in fused_layers(model.layers, inference=inference)}


@pytest.mark.parametrize("conv_cls", [OwnCallConv, StandardizedConv2D])
def test_overriding_subclasses_are_not_fused_and_the_built_ins_still_are(conv_cls):
    model = _sequential(conv_cls)
    train, infer = _specs(model, False), _specs(model, True)
    assert train == {"c1": set(), "bn": {"activation", "pool"}, "c2": set(), "p2": set(), "c3": {"pool"},
                     "f": set(), "d": set()}
    assert infer == {"c1": set(), "bn": {"activation", "pool"}, "c2": set(), "p2": set(),
                     "c3": {"activation", "pool"}, "f": {"infer"}, "d": {"infer"}}
    assert not is_fusable(model.get_layer("c1"), L.Conv2D) and is_fusable(model.get_layer("c3"), L.Conv2D)
    # the functional graph plans the same steps: the custom convs alone, the built-in runs fused
    forward = _functional(conv_cls)._make_forward()
    assert forward.steps == 10 - 2 - 1  # BN+ReLU+pool and conv+pool fused
    assert forward.inference_steps == 10 - 2 - 1  # the same runs (c3 with ReLU and pooling in its epilogue)


def test_a_subclass_that_only_adds_a_config_key_still_fuses():
    model = _sequential(ConfigOnlyConv)
    assert _specs(model, True)["c1"] == {"bn", "activation", "pool"}
    assert _specs(model, False)["c2"] == {"pool"}


@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
@pytest.mark.parametrize("conv_cls", [OwnCallConv, StandardizedConv2D])
def test_overriding_subclasses_train_like_the_layers_one_by_one(conv_cls, build):
    x, y = _data()
    model = build(conv_cls)
    ref = _reference(model, conv_cls)
    plain = build(L.Conv2D)
    plain.set_weights(model.get_weights())
    with no_grad():
        want = ref(x).numpy()
        conv_cls.calls = 0
        got = model(x).numpy()  # the inference plan
        assert conv_cls.calls == 2  # both custom convs ran their own code
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
        assert np.abs(plain(x).numpy() - want).max() > 1e-3  # the override changes the result
    np.testing.assert_allclose(model.predict(x, verbose=0), want, rtol=1e-5, atol=1e-6)
    for m in (model, ref):
        m.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
    assert any(not np.allclose(a, b) for a, b in zip(model.get_weights(), plain.get_weights()))  # it trained


def test_plain_built_ins_train_like_the_layers_one_by_one():
    """The control: the same model of built-ins fuses everywhere and equals the unfused reference."""
    x, y = _data()
    model = _sequential(L.Conv2D)
    assert _specs(model, True)["c1"] == {"bn", "activation", "pool"}
    ref = _reference(model, L.Conv2D)
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for m in (model, ref):
        m.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)


def test_a_dense_head_with_its_own_call_is_not_fused_with_the_loss():
    class Tempered(L.Dense):
        def call(self, inputs, training=None):
            return ops.softmax(self._pre_activation(inputs, training) / 2.0)

    assert head_fusable(L.Dense(2, activation="softmax"))
    head = Tempered(3, activation="softmax")
    assert not head_fusable(head) and not is_fusable(head, L.Dense)
    model = Sequential([gf.Input((4,)), L.Dense(5, activation="relu"), head])
    assert model._head_layers() == [None]
    x = np.random.default_rng(1).normal(size=(6, 4)).astype(np.float32)
    z = model.layers[0](x).numpy() @ head.kernel.numpy() + head.bias.numpy()
    e = np.exp((z - z.max(1, keepdims=True)) / 2.0)
    np.testing.assert_allclose(model.predict(x, verbose=0), e / e.sum(1, keepdims=True), rtol=1e-5, atol=1e-6)


def test_conv_subclasses_of_other_ranks_use_convolution_op(rng):
    """Conv1D and Conv3D run through ``convolution_op`` too, so the same recipe works on them."""
    for base, shape in ((L.Conv1D, (2, 9, 3)), (L.Conv3D, (2, 5, 5, 5, 3))):
        class Doubled(base):
            def convolution_op(self, inputs, kernel):
                return super().convolution_op(inputs, 2.0 * kernel)

        x = rng.normal(size=shape).astype(np.float32)
        plain, doubled = base(4, 3, activation="relu"), Doubled(4, 3, activation="relu")
        plain(x)
        doubled(x)
        plain.set_weights([w * (2.0 if i == 0 else 1.0) for i, w in enumerate(doubled.get_weights())])
        np.testing.assert_allclose(doubled(x).numpy(), plain(x).numpy(), rtol=1e-5, atol=1e-6)


def test_call_signatures_equal_keras(real_keras):
    for name in ("Conv2D", "BatchNormalization", "Dense", "Conv1D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D",
                 "SeparableConv2D"):
        ours, theirs = getattr(L, name), getattr(real_keras.layers, name)
        assert str(inspect.signature(ours.call)) == str(inspect.signature(theirs.call)), name
    for name in ("Conv1D", "Conv2D", "Conv3D", "Conv2DTranspose", "DepthwiseConv2D", "SeparableConv2D"):
        ours, theirs = getattr(L, name), getattr(real_keras.layers, name)
        assert hasattr(ours, "convolution_op") == hasattr(theirs, "convolution_op"), name
        if hasattr(theirs, "convolution_op"):
            assert str(inspect.signature(ours.convolution_op)) == str(inspect.signature(theirs.convolution_op))


def test_built_in_softmax_heads_stay_fused_with_the_loss():
    for layer in (L.Dense(3, activation="softmax"), L.Conv1D(3, 2, activation="softmax"),
                  L.Conv2D(3, 2, activation="sigmoid"), L.Conv3D(3, 2, activation="softmax"),
                  L.Conv2DTranspose(3, 2, activation="softmax"), L.SeparableConv2D(3, 2, activation="softmax"),
                  L.Activation("softmax"), StandardizedConv2D(3, 2, activation="softmax")):
        assert head_fusable(layer), type(layer).__name__
    assert not head_fusable(OwnCallConv(3, 2, activation="softmax"))
    assert not head_fusable(L.Dense(3, activation="relu"))
