"""Model M's and U's blocks (issue 24): a plain ``ReLU()`` layer after BatchNormalization fuses into the
batch-norm kernel in training as ``Activation('relu')`` does, and both M-like and U-like models train
exactly as their layers called one by one (no plan, no fusion)."""
import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L
from gradflow.models import Model
from gradflow.models.fusion import fused_layers
from gradflow.optimizers import SGD


def _mobilenet_like():
    return [L.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="c0"),
            L.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw"), L.BatchNormalization(name="bn1"),
            L.ReLU(name="r1"), L.Conv2D(6, 1, use_bias=False, name="pw"), L.BatchNormalization(name="bn2"),
            L.ReLU(name="r2"), L.GlobalAveragePooling2D(name="gap"), L.Dense(3, activation="softmax", name="d")]


def _autoencoder_like():
    return [L.Conv2D(4, 3, activation="relu", padding="same", name="c1"), L.MaxPooling2D(2, padding="same"),
            L.Conv2DTranspose(5, 3, strides=2, activation="relu", padding="same", name="t1"),
            L.Conv2DTranspose(3, 3, strides=2, activation="relu", padding="valid", name="t2"),
            L.Conv2D(1, 3, activation="sigmoid", padding="same", name="out")]


class OneByOne(Model):
    def __init__(self, layers):
        super().__init__()
        self.stack = layers

    def call(self, x, training=None):
        for layer in self.stack:
            x = layer(x, training=training)
        return x


def test_batch_norm_then_relu_layer_fuses_in_training():
    specs = {layer.name: spec for layer, spec in fused_layers(_mobilenet_like(), inference=False)}
    assert specs["bn1"] == {"activation": "relu"} and specs["bn2"] == {"activation": "relu"}
    assert "r1" not in specs and "r2" not in specs  # absorbed
    capped = fused_layers([L.BatchNormalization(name="b"), L.ReLU(max_value=6.0, name="r6")], inference=False)
    assert [layer.name for layer, _ in capped] == ["b", "r6"]  # ReLU6 is not a plain ReLU: not fused


@pytest.mark.parametrize("make, shape, loss", [
    (_mobilenet_like, (8, 8, 3), "sparse_categorical_crossentropy"),
    (_autoencoder_like, (6, 6, 1), "binary_crossentropy"),
], ids=["M", "U"])
def test_models_train_like_their_layers_one_by_one(make, shape, loss):
    rng = np.random.default_rng(3)
    x = rng.random((8, *shape), dtype=np.float32)
    inp = gf.Input(shape)
    out = inp
    for layer in make():
        out = layer(out)
    model = Model(inp, out)
    ref = OneByOne(make())
    ref.build((None, *shape))
    ref.set_weights(model.get_weights())
    y = (rng.integers(0, 3, 8) if loss.startswith("sparse")
         else rng.random((8, *model.output_shape[1:]), dtype=np.float32))
    np.testing.assert_allclose(model.predict(x, verbose=0), ref.predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    for m in (model, ref):
        m.compile(optimizer=SGD(0.1), loss=loss)
        m.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=2e-5)
