"""keras.applications: Keras's parameter counts and, where Keras is installed, the same layers, weight
shapes and outputs as Keras 3's own models on the same weights."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import applications


def _offline(url):
    raise OSError("no network")


COUNTS = {"ResNet50": 25_636_712, "MobileNetV2": 3_538_984}  # Keras's documented totals


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_parameter_counts_equal_keras(name):
    assert getattr(applications, name)(weights=None).count_params() == COUNTS[name]


def test_vgg16_with_top_has_keras_count():
    model = applications.VGG16(weights=None)
    assert model.count_params() == 138_357_544 and model.output_shape == (None, 1000)


def test_heads_pooling_and_errors(tmp_path, monkeypatch):
    base = applications.ResNet50(include_top=False, weights=None, input_shape=(64, 64, 3), pooling="avg")
    assert base.output_shape == (None, 2048)
    small = applications.MobileNetV2(include_top=True, weights=None, classes=10, input_shape=(224, 224, 3))
    assert small.output_shape == (None, 10)
    monkeypatch.setenv("GRADFLOW_MODELS", str(tmp_path / "models"))  # offline: a clear error, nothing built
    monkeypatch.setattr(gf.datasets._files, "_open_url", _offline)
    with pytest.raises(applications.WeightsUnavailableError, match=r"cannot be downloaded.*weights=None"):
        applications.VGG16(weights="imagenet")
    with pytest.raises(ValueError, match=r"include_top=True the input must be \(224, 224, 3\)"):
        applications.VGG16(weights="imagenet", input_shape=(32, 32, 3))
    with pytest.raises(FileNotFoundError, match="no weights file"):
        applications.VGG19(weights=str(tmp_path / "missing.safetensors"))
    tiny = applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    tiny.save_weights(tmp_path / "m.weights.safetensors")
    again = applications.MobileNetV2(include_top=False, weights=str(tmp_path / "m.weights.safetensors"),
                                     input_shape=(32, 32, 3), alpha=0.35)
    for a, b in zip(tiny.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_transfer_learning_on_a_frozen_base():
    base = applications.MobileNetV2(include_top=False, weights=None, input_shape=(32, 32, 3), alpha=0.35)
    base.trainable = False
    inputs = gf.Input(shape=(32, 32, 3))
    x = base(inputs, training=False)
    x = gf.layers.GlobalAveragePooling2D()(x)
    model = gf.Model(inputs, gf.layers.Dense(2, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = [w.copy() for w in base.get_weights()]
    rng = np.random.default_rng(0)
    model.fit(rng.random((16, 32, 32, 3), dtype=np.float32), rng.integers(0, 2, 16), epochs=1, batch_size=8, verbose=0)
    for a, b in zip(before, base.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("name,kwargs", [
    ("VGG16", {"include_top": False, "input_shape": (32, 32, 3)}),
    ("VGG19", {"include_top": False, "input_shape": (32, 32, 3), "pooling": "max"}),
    ("ResNet50", {"include_top": False, "input_shape": (64, 64, 3), "pooling": "avg"}),
    ("MobileNetV2", {"include_top": False, "input_shape": (64, 64, 3), "alpha": 0.5}),
    ("MobileNetV2", {"include_top": True, "input_shape": (224, 224, 3), "classes": 7}),
])
def test_same_model_as_keras(real_keras, name, kwargs):
    keras = real_keras
    import torch

    keras.backend.clear_session()
    gf.backend.clear_session()  # both start their automatic names afresh
    k_model = getattr(keras.applications, name)(weights=None, **kwargs)
    g_model = getattr(applications, name)(weights=None, **kwargs)
    assert g_model.name == k_model.name
    assert [l.name for l in g_model.layers] == [l.name for l in k_model.layers]
    assert [tuple(w.shape) for w in g_model.weights] == [tuple(w.shape) for w in k_model.weights]
    assert g_model.count_params() == k_model.count_params()
    weights = k_model.get_weights()
    rng = np.random.default_rng(0)
    # non-trivial batch-norm statistics, so inference exercises them
    for i, layer in enumerate(k_model.layers):
        if type(layer).__name__ == "BatchNormalization":
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(rng.normal(0, 0.1, mean.shape).astype("float32"))
            var.assign(rng.uniform(0.5, 1.5, var.shape).astype("float32"))
    g_model.set_weights(k_model.get_weights())
    x = rng.random((2, *kwargs["input_shape"]), dtype=np.float32)
    with torch.no_grad():
        k_out = k_model(torch.tensor(x), training=False).numpy()
    g_out = g_model.predict(x, verbose=0)
    scale = max(1.0, float(np.abs(k_out).max()))
    np.testing.assert_allclose(g_out, k_out, rtol=1e-4, atol=1e-4 * scale)
    assert len(weights) == len(g_model.get_weights())
