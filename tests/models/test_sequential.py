"""Sequential structure: add/pop/get_layer, building, calling, weights, freezing, nesting, reuse."""
import numpy as np
import pytest

import gradflow as gf
from gradflow.layers import Dense, Dropout, Input, InputLayer
from gradflow.models import Sequential


def test_first_layer_input_shape_builds_immediately(mk):
    model = mk.mlp()
    assert model.built
    assert model.input_shape == (None, 2) and model.output_shape == (None, 2)
    assert model.count_params() == (2 * 16 + 16) + (16 * 32 + 32) + (32 * 2 + 2)
    assert [l.name for l in model.layers] == ["dense", "dense_1", "dense_2"]
    assert model.name == "sequential"
    assert Sequential().name == "sequential_1"


def test_input_layer_builds_and_is_not_listed():
    model = Sequential([Input(shape=(3,)), Dense(4)])
    assert model.built and model.output_shape == (None, 4)
    assert len(model.layers) == 1 and not any(isinstance(l, InputLayer) for l in model.layers)
    model2 = Sequential()
    model2.add(InputLayer(shape=(5,)))
    assert not model2.built
    model2.add(Dense(2))
    assert model2.built and model2.layers[0].kernel.shape == (5, 2)


def test_add_builds_incrementally_and_validates():
    model = Sequential()
    with pytest.raises(TypeError, match="only gradflow Layer instances"):
        model.add("dense")
    with pytest.raises(TypeError, match="Layer"):
        model.add(np.zeros(3))
    model.add(Dense(4, input_shape=(3,)))
    assert model.built
    model.add(Dense(2))
    assert model.layers[1].built and model.output_shape == (None, 2)
    with pytest.raises(ValueError, match="already in model"):
        model.add(Dense(2, name="dense_1"))
    with pytest.raises(ValueError, match="must come first"):
        model.add(Input(shape=(3,)))


def test_unbuilt_model_builds_on_build_call_and_on_first_call():
    model = Sequential([Dense(4), Dense(2)])
    assert not model.built
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    model.build((None, 3))
    assert model.built and model.count_params() == 3 * 4 + 4 + 4 * 2 + 2
    other = Sequential([Dense(4)])
    out = other(np.ones((5, 7), np.float32))
    assert out.shape == (5, 4) and other.built and other.input_shape == (None, 7)


def test_build_without_shape_is_a_clear_error():
    with pytest.raises(ValueError, match="needs an input shape"):
        Sequential([Dense(2)]).build()


def test_pop_and_get_layer(mk):
    model = mk.mlp()
    assert model.get_layer("dense_1") is model.layers[1]
    assert model.get_layer(index=-1) is model.layers[2]
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="index 7"):
        model.get_layer(index=7)
    with pytest.raises(ValueError, match="exactly one"):
        model.get_layer()
    last = model.pop()
    assert last.name == "dense_2" and len(model.layers) == 2
    assert model.built and model.output_shape == (None, 32)
    model.pop(), model.pop()
    with pytest.raises(IndexError, match="no layers"):
        model.pop()


def test_call_on_tensor_and_input_shape_check(mk):
    model = mk.mlp()
    x = gf.Tensor(np.ones((4, 2), np.float32))
    out = model(x)
    assert isinstance(out, gf.Tensor) and out.shape == (4, 2)
    np.testing.assert_allclose(out.numpy().sum(1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 2\), found shape=\(4, 3\)"):
        model(np.ones((4, 3), np.float32))


def test_weights_order_and_get_set_weights(mk):
    model = mk.mlp()
    names = [w.name for w in model.weights]
    assert names == ["dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias", "dense_2/kernel", "dense_2/bias"]
    ws = model.get_weights()
    new = [np.full_like(w, i) for i, w in enumerate(ws)]
    model.set_weights(new)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), new))
    ws[0][...] = 99  # get_weights returns copies
    assert model.get_weights()[0][0, 0] == 0


def test_set_weights_validates_everything_first(mk):
    model = mk.mlp()
    before = model.get_weights()
    with pytest.raises(ValueError, match="has 6 weight arrays.*got 5"):
        model.set_weights(before[:5])
    bad = [w + 1 for w in before]
    bad[-1] = np.zeros(3, np.float32)
    with pytest.raises(ValueError, match=r"weight #5 \('dense_2/bias'\) expects shape \(2,\), got \(3,\)"):
        model.set_weights(bad)
    assert mk.weights_equal(model.get_weights(), before)  # nothing changed, not even the first five
    with pytest.raises(TypeError, match="numbers"):
        model.set_weights([w.astype(str) for w in before])
    assert mk.weights_equal(model.get_weights(), before)


def test_trainable_setter_freezes_every_layer(mk):
    model = mk.mlp()
    total = model.count_params()
    model.trainable = False
    assert model.trainable_weights == [] and len(model.non_trainable_weights) == 6
    assert all(not l.trainable for l in model.layers)
    model.trainable = True
    model.layers[0].trainable = False
    assert len(model.trainable_weights) == 4
    assert sum(w.size for w in model.non_trainable_weights) == 2 * 16 + 16
    assert sum(w.size for w in model.weights) == total


def test_nested_sequential_is_a_layer(mk):
    inner = Sequential([Dense(8, activation="relu"), Dense(4)], name="block")
    outer = Sequential([Dense(5, input_shape=(3,)), inner, Dense(2, activation="softmax")])
    assert outer.built and inner.built
    assert inner.output_shape == (None, 4) and outer.output_shape == (None, 2)
    assert outer.count_params() == (3 * 5 + 5) + (5 * 8 + 8 + 8 * 4 + 4) + (4 * 2 + 2)
    assert len(outer.weights) == 8
    out = outer(np.ones((2, 3), np.float32))
    assert out.shape == (2, 2)
    assert inner.count_params() == 5 * 8 + 8 + 8 * 4 + 4


def test_layers_reused_in_a_new_model_share_weights(mk):
    base = mk.mlp()
    feature_layers = base.layers[:2]
    new = Sequential(feature_layers + [Dense(3, activation="softmax", name="head")])
    assert new.built and new.output_shape == (None, 3)
    assert new.layers[0].kernel is base.layers[0].kernel  # the same Parameter objects
    assert new.count_params() == (2 * 16 + 16) + (16 * 32 + 32) + (32 * 3 + 3)


def test_reused_layer_with_wrong_input_is_rejected(mk):
    base = mk.mlp()
    with pytest.raises(ValueError):
        Sequential([Dense(4, input_shape=(7,)), base.layers[1]])


def test_to_cpu_returns_model_and_keeps_values(mk):
    model = mk.mlp()
    before = model.get_weights()
    assert model.to("cpu") is model
    assert mk.weights_equal(model.get_weights(), before)


def test_dropout_only_in_training():
    model = Sequential([Dense(50, input_shape=(4,), kernel_initializer="ones"), Dropout(0.5)])
    x = np.ones((3, 4), np.float32)
    inf1, inf2 = model(x).numpy(), model(x, training=False).numpy()
    np.testing.assert_array_equal(inf1, inf2)
    train = model(x, training=True).numpy()
    assert (train == 0).any() and not (inf1 == 0).any()


def test_config_round_trip(mk):
    model = mk.mlp()
    clone = Sequential.from_config(model.get_config())
    assert clone.built and clone.get_config() == model.get_config()
    assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_json_round_trip_like_the_keras_tutorial(mk):
    from gradflow.models import model_from_json

    model = mk.mlp()
    json_string = model.to_json()
    clone = model_from_json(json_string)
    assert clone.get_config() == model.get_config() and clone.built
    with pytest.raises(ValueError, match="unknown layer class 'Evil'"):
        model_from_json('{"class_name": "Sequential", "config": {"layers": [{"class_name": "Evil", "config": {}}]}}')
    with pytest.raises(ValueError, match="not valid JSON"):
        model_from_json("{oops")


@pytest.mark.parametrize("frozen_bn", [False, True], ids=["training_bn", "frozen_bn"])
def test_batch_norm_relu_pool_runs_are_fused_with_the_same_result(monkeypatch, frozen_bn):
    """Sequential runs BatchNormalization -> Activation('relu') -> MaxPooling2D as one fused op,
    BatchNormalization -> Activation('relu') as another and Conv2D(activation='relu') -> MaxPooling2D
    as a third; training with and without the fusions gives
    the same outputs and weights (a frozen BN uses its moving statistics and still passes the
    ReLU-masked gradient to the conv below)."""
    import gradflow.models as gm
    from gradflow.layers import Activation, BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
    from gradflow.models import Sequential
    from gradflow.optimizers import SGD

    def make():
        gf.utils.set_random_seed(3)
        m = Sequential([Conv2D(32, 3, padding="same", input_shape=(7, 6, 2)), BatchNormalization(),
                        Activation("relu"), MaxPooling2D(2), Conv2D(16, 3, padding="same"), BatchNormalization(),
                        Activation("relu"), Conv2D(8, 3, padding="same", activation="relu"), MaxPooling2D(2),
                        Flatten(), Dense(3, activation="softmax")])
        m.layers[1].trainable = m.layers[5].trainable = not frozen_bn
        m.compile(optimizer=SGD(0.1, momentum=0.9), loss="sparse_categorical_crossentropy")
        return m

    plan = [fused for _, fused in gm.fused_layers(make().layers)]
    assert [sorted(f) for f in plan] == [[], ["activation", "pool"], [], ["activation"], ["pool"], [], []]
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((16, 7, 6, 2)).astype(np.float32), rng.integers(0, 3, 16)
    fused = make()
    fused.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    monkeypatch.setattr(gm, "fused_layers", lambda layers: [(layer, {}) for layer in layers])
    plain = make()
    plain.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused.predict(x, verbose=0), plain.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(fused(x, training=True).numpy(), plain(x, training=True).numpy(), rtol=1e-5, atol=1e-6)
