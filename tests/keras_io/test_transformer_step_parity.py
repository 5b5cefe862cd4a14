"""Model T of issue 24 (keras-io's transformer text classifier: token + position embedding,
MultiHeadAttention, FFN, two LayerNormalizations) takes the same training steps on gradflow, where
attention and layer norm run on the fused kernels, as on Keras 3 (torch backend): the same initial
weights, Adam, dropout off so both sides compute the same function; losses and weights after three
steps agree, and everything stays float32."""
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "torch")  # before Keras is first imported
pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import gradflow  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")

MAXLEN, VOCAB, EMBED, HEADS, FF = 24, 200, 32, 2, 32


def _model(k, causal):
    layers = k.layers

    class TransformerBlock(layers.Layer):
        def __init__(self):
            super().__init__()
            self.att = layers.MultiHeadAttention(num_heads=HEADS, key_dim=EMBED)
            self.ffn = k.Sequential([layers.Dense(FF, activation="relu"), layers.Dense(EMBED)])
            self.layernorm1 = layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = layers.LayerNormalization(epsilon=1e-6)

        def call(self, inputs):
            out1 = self.layernorm1(inputs + self.att(inputs, inputs, use_causal_mask=causal))
            return self.layernorm2(out1 + self.ffn(out1))

    class TokenAndPositionEmbedding(layers.Layer):
        def __init__(self):
            super().__init__()
            self.token_emb = layers.Embedding(input_dim=VOCAB, output_dim=EMBED)
            self.pos_emb = layers.Embedding(input_dim=MAXLEN, output_dim=EMBED)

        def call(self, x):
            positions = self.pos_emb(k.ops.arange(start=0, stop=k.ops.shape(x)[-1], step=1))
            return self.token_emb(x) + positions

    inputs = layers.Input(shape=(MAXLEN,))
    x = TransformerBlock()(TokenAndPositionEmbedding()(inputs))
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(20, activation="relu")(x)
    outputs = layers.Dense(2, activation="softmax")(x)
    return k.Model(inputs=inputs, outputs=outputs)


@pytest.mark.parametrize("causal", [False, True], ids=["full", "causal"])
def test_model_t_training_steps_match_keras(causal):
    rng = np.random.default_rng(0)
    x = rng.integers(0, VOCAB, size=(3, 16, MAXLEN))
    y = rng.integers(0, 2, size=(3, 16))
    km, gm = _model(keras, causal), _model(gradflow, causal)
    gm.set_weights(km.get_weights())
    for model, k in ((km, keras), (gm, gradflow)):
        model.compile(optimizer=k.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    for step in range(3):
        lk = float(np.asarray(km.train_on_batch(x[step], y[step])))
        lg = float(np.asarray(gm.train_on_batch(x[step], y[step])))
        assert abs(lk - lg) < 2e-5 * max(1.0, abs(lk)), (step, lk, lg)
    for wk, wg in zip(km.get_weights(), gm.get_weights()):
        assert np.asarray(wg).dtype == np.float32
        np.testing.assert_allclose(np.asarray(wg), np.asarray(wk), rtol=1e-4, atol=2e-5)
    pred = gm.predict(x[0], verbose=0)
    assert pred.dtype == np.float32
    np.testing.assert_allclose(pred, np.asarray(km.predict(x[0], verbose=0)), rtol=1e-4, atol=1e-5)
