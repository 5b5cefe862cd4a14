"""The functional API (Keras 3 semantics): symbolic inputs, graphs, several inputs and outputs,
shared and nested layers, errors, the trainer's multi-output rules, configs and files."""
import numpy as np
import pytest

import gradflow as keras
from gradflow import layers


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    r = (x[:, 2:3] * 2.0).astype(np.float32)
    return x, y, r


def test_input_is_symbolic_and_layers_infer_shapes():
    x = keras.Input(shape=(28, 28, 1), name="img")
    assert x.shape == (None, 28, 28, 1) and x.name == "img" and x.dtype == "float32"
    h = layers.Conv2D(4, 3, activation="relu")(x)
    assert h.shape == (None, 26, 26, 4)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Flatten()(h)
    assert h.shape == (None, 13 * 13 * 4)
    out = layers.Dense(10)(h)
    model = keras.Model(x, out, name="cnn")
    assert model.inputs == [x] and model.outputs == [out] and model.output_shape == (None, 10)
    assert [l.name for l in model.layers][0] == "img"  # Keras 3 lists the InputLayer in a functional model
    assert model.get_layer("dense").output is out and model.get_layer("dense").input is h
    assert model.count_params() == (3 * 3 * 1 * 4 + 4) + (13 * 13 * 4 * 10 + 10)


def test_custom_layer_with_only_build_and_call_gets_its_shape_by_running():
    class Scale(keras.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, inputs):  # no training argument: Keras passes it only when call takes it
            return inputs * self.w

    inp = keras.Input(shape=(5,))
    out = Scale()(layers.Dense(3)(inp))
    assert out.shape == (None, 3)
    model = keras.Model(inp, out)
    assert len(model.weights) == 3
    np.testing.assert_allclose(model.predict(np.ones((2, 5), np.float32), verbose=0),
                               model.layers[1](np.ones((2, 5), np.float32)).numpy(), rtol=1e-6)


def test_incompatible_symbolic_input_names_layer_and_shapes():
    inp = keras.Input(shape=(4,))
    dense = layers.Dense(3, name="proj")
    dense(inp)
    with pytest.raises(ValueError, match=r"Dense layer 'proj'.*last dimension 4.*\(None, 6\)"):
        dense(keras.Input(shape=(6,)))
    with pytest.raises(ValueError, match=r"Concatenate layer .*same rank.*\(None, 4\).*\(None, 2, 2\)"):
        layers.concatenate([inp, keras.Input(shape=(2, 2))])


def test_disconnected_graph_is_a_clear_error():
    a, b = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="b")
    out = layers.Dense(2)(layers.add([a, b]))
    with pytest.raises(ValueError, match=r"Graph disconnected.*'b'.*add"):
        keras.Model(a, out)
    with pytest.raises(TypeError, match="symbolic tensors"):
        keras.Model(a, np.ones(3))


def test_multi_input_multi_output_fit_with_keras_names():
    x, y, r = _data()
    a = keras.Input(shape=(8,), name="features")
    b = keras.Input(shape=(1,), name="extra")
    h = layers.Dense(16, activation="relu")(layers.concatenate([a, b]))
    cls = layers.Dense(2, activation="softmax", name="cls")(h)
    reg = layers.Dense(1, name="reg")(h)
    model = keras.Model([a, b], {"cls": cls, "reg": reg})
    assert model.output_names == ["cls", "reg"] and model.input_names == ["features", "extra"]
    model.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
                  loss_weights={"cls": 1.0, "reg": 0.5}, metrics={"cls": ["accuracy"], "reg": ["mae"]})
    extra = r + 1
    hist = model.fit({"features": x, "extra": extra}, {"cls": y, "reg": r}, epochs=3, batch_size=16, verbose=0,
                     validation_split=0.25)
    assert set(hist.history) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae", "val_loss",
                                 "val_cls_loss", "val_reg_loss", "val_cls_accuracy", "val_reg_mae"}
    total = hist.history["loss"][-1]
    # the reported total is the weighted sum of the per-output losses (no regularisation here)
    approx = hist.history["cls_loss"][-1] + 0.5 * hist.history["reg_loss"][-1]
    assert abs(total - approx) < 1e-4 * max(1.0, abs(total))
    pred = model.predict([x, extra], verbose=0)
    assert isinstance(pred, dict) and pred["cls"].shape == (64, 2) and pred["reg"].shape == (64, 1)
    logs = model.evaluate([x, extra], [y, r], verbose=0, return_dict=True)
    assert set(logs) == {"loss", "cls_loss", "reg_loss", "cls_accuracy", "reg_mae"}


def test_loss_list_per_output_and_single_loss_broadcast():
    x, _, r = _data()
    inp = keras.Input(shape=(8,))
    o1, o2 = layers.Dense(1, name="o1")(inp), layers.Dense(1, name="o2")(inp)
    model = keras.Model(inp, [o1, o2])
    model.compile(optimizer="sgd", loss="mse")  # one loss for every output (Keras 3)
    hist = model.fit(x, [r, -r], epochs=1, verbose=0)
    assert {"o1_loss", "o2_loss"} <= set(hist.history)
    with pytest.raises(ValueError, match="2 outputs.*list must have 2 entries"):
        model.compile(optimizer="sgd", loss=["mse"])
    with pytest.raises(ValueError, match=r"keys \['nope'\] are not outputs"):
        model.compile(optimizer="sgd", loss={"nope": "mse"})  # resolved at once: the model is built


def test_shared_layer_shares_weights():
    a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))
    shared = layers.Dense(3, name="shared")
    out = layers.subtract([shared(a), shared(b)])
    model = keras.Model([a, b], out)
    assert len(model.weights) == 2 and len(shared._inbound_nodes) == 2
    x = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    np.testing.assert_allclose(model.predict([x, x], verbose=0), np.zeros((5, 3)), atol=1e-6)


def test_nested_models_and_frozen_base_called_with_training_false():
    inp = keras.Input(shape=(6,))
    base = keras.Sequential([layers.Dense(5, activation="relu"), layers.BatchNormalization()], name="base")
    base.build((None, 6))
    base.trainable = False
    x = base(inp, training=False)
    out = layers.Dense(1)(x)
    model = keras.Model(inp, out)
    assert [l.name for l in model.layers] == [model.layers[0].name, "base", "dense_1"]
    before = [w.copy() for w in base.get_weights()]
    model.compile(optimizer="adam", loss="mse")
    data = np.random.default_rng(0).normal(size=(32, 6)).astype(np.float32)
    model.fit(data, data[:, :1], epochs=2, verbose=0)
    for w0, w1 in zip(before, base.get_weights()):  # frozen: no update, moving statistics untouched
        np.testing.assert_array_equal(w0, w1)
    outer = keras.Model(inp, model(inp))  # a functional model used as a layer
    np.testing.assert_allclose(outer.predict(data, verbose=0), model.predict(data, verbose=0), rtol=1e-6)


def test_feature_extraction_from_sequential_layers():
    seq = keras.Sequential([keras.Input(shape=(10, 10, 1)), layers.Conv2D(2, 3, activation="relu"),
                            layers.Flatten(), layers.Dense(3)])
    extractor = keras.Model(inputs=seq.inputs, outputs=[l.output for l in seq.layers])
    x = np.random.default_rng(0).normal(size=(4, 10, 10, 1)).astype(np.float32)
    feats = extractor.predict(x, verbose=0)
    assert [f.shape for f in feats] == [(4, 8, 8, 2), (4, 128), (4, 3)]
    np.testing.assert_allclose(feats[-1], seq.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_symbolic_arithmetic_records_nodes():
    inp = keras.Input(shape=(3,))
    out = 1.0 - inp * 2.0
    model = keras.Model(inp, out)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_allclose(model.predict(x, verbose=0), 1.0 - 2.0 * x)


def test_graph_fusions_apply_in_functional_models():
    inp = keras.Input(shape=(8, 8, 1))
    h = layers.Conv2D(4, 3, activation="relu")(inp)
    h = layers.MaxPooling2D(2)(h)
    h = layers.Conv2D(4, 1)(h)
    h = layers.BatchNormalization()(h)
    h = layers.Activation("relu")(h)
    h = layers.MaxPooling2D(3)(h)
    out = layers.Dense(2, activation="softmax")(layers.Flatten()(h))
    model = keras.Model(inp, out)
    forward = model._make_forward()
    assert forward.steps == len(model._nodes) - 3  # conv+pool and bn+relu+pool ran as one step each


def test_functional_config_roundtrip_and_files(tmp_path):
    x, y, r = _data()
    a = keras.Input(shape=(8,), name="a")
    shared = layers.Dense(4, activation="relu", name="shared")
    h = layers.add([shared(a), shared(a * 0.5)])
    out = [layers.Dense(2, activation="softmax", name="p")(h), layers.Dense(1, name="q")(h)]
    model = keras.Model(a, out, name="two_heads")
    model.compile(optimizer="adam", loss=["sparse_categorical_crossentropy", "mse"], metrics=[["accuracy"], []])
    model.fit(x, [y, r], epochs=1, verbose=0)
    rebuilt = keras.Model.from_config(model.get_config())
    assert [l.name for l in rebuilt.layers] == [l.name for l in model.layers]
    assert rebuilt.count_params() == model.count_params()
    path = tmp_path / "two_heads.gflow"
    model.save(path)
    loaded = keras.models.load_model(path)
    for p, q in zip(model.predict(x, verbose=0), loaded.predict(x, verbose=0)):
        np.testing.assert_allclose(p, q, rtol=1e-6)
    assert loaded.optimizer.iterations == model.optimizer.iterations
    loaded.fit(x, [y, r], epochs=1, verbose=0)  # compile settings came back too
    clone = keras.models.clone_model(model)
    assert clone.count_params() == model.count_params() and clone.layers[1] is not model.layers[1]
    assert len(clone.get_layer("shared")._inbound_nodes) == 2
    assert keras.models.model_from_json(model.to_json()).output_names == ["p", "q"]


def test_a_functional_subclass_with_inputs_and_outputs_keeps_its_methods():
    class Custom(keras.Model):
        def describe(self):
            return f"custom {len(self.layers)}"

    inp = keras.Input(shape=(3,))
    model = Custom(inp, layers.Dense(2)(inp))
    assert isinstance(model, Custom) and model.describe() == "custom 2"
    assert model.predict(np.ones((1, 3), np.float32), verbose=0).shape == (1, 2)


def test_a_subclass_taking_two_models_positionally_is_not_a_graph_model():
    # keras-io's VAE(encoder, decoder): two positional arguments to the subclass are not (inputs, outputs);
    # as in Keras 3, only what reaches Model.__init__ decides
    class Pair(keras.Model):
        def __init__(self, first, second, **kwargs):
            super().__init__(**kwargs)
            self.first, self.second = first, second

        def call(self, x):
            return self.second(self.first(x))

    model = Pair(layers.Dense(3), layers.Dense(2))
    assert not isinstance(model, keras.models.Functional)
    assert model(np.ones((4, 5), np.float32)).shape == (4, 2)

    class Forwarding(keras.Model):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.extra = 1

    inp = keras.Input(shape=(3,))
    model = Forwarding(inputs=inp, outputs=layers.Dense(2)(inp))
    assert model.extra == 1 and model.predict(np.ones((1, 3), np.float32), verbose=0).shape == (1, 2)


class _Gate(keras.Layer):
    """``call(x, gate, scale=1.0)``: a second tensor passed positionally, a plain keyword value."""

    def call(self, x, gate, scale=1.0):
        return x * gate * scale


def test_a_layer_called_on_several_tensors_replays_saves_and_clones(tmp_path):
    a, g = keras.Input(shape=(3,), name="a"), keras.Input(shape=(3,), name="g")
    out = layers.Dense(2)(_Gate(name="gate")(a, g, scale=2.0))
    model = keras.Model([a, g], out)
    x = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    gate = (x > 0).astype(np.float32)
    expected = (x * gate * 2.0) @ model.layers[-1].kernel.numpy() + model.layers[-1].bias.numpy()
    np.testing.assert_allclose(model.predict([x, gate], verbose=0), expected, rtol=1e-5, atol=1e-6)
    model.save(tmp_path / "gate.gflow")
    loaded = keras.models.load_model(tmp_path / "gate.gflow", custom_objects={"_Gate": _Gate})
    np.testing.assert_allclose(loaded.predict([x, gate], verbose=0), expected, rtol=1e-5, atol=1e-6)
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict([x, gate], verbose=0), expected, rtol=1e-5, atol=1e-6)
