"""Port of keras-io ``examples/nlp/text_classification_with_transformer.py`` ("Text classification
with Transformer"; its Keras 3 edition: ``import keras``, ``from keras import ops, layers``).

Only the imports change. IMDB (25,000 + 25,000 reviews, ``vocab_size = 20000``, ``maxlen = 200``) ->
384 + 128 synthetic left-padded token sequences (``vocab_size = 200``, ``maxlen = 24``) whose label
is which of two small sets of "sentiment" tokens they contain; the model is the example's
(``embed_dim = 32``, ``num_heads = 2``, ``ff_dim = 32``), trained as written (batch 32, 2 epochs,
Adam) -- here 4 epochs so that 12 batches an epoch reach the same place. The same program then runs on
real Keras 3 (``k`` below) and must reach a similar accuracy.
"""
import numpy as np

import gradflow as keras
from gradflow import layers, ops  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

vocab_size = 200  # Only consider the top 200 words (20k in the example)
maxlen = 24  # Only consider the first 24 words of each review (200 in the example)
embed_dim = 32  # Embedding size for each token
num_heads = 2  # Number of attention heads
ff_dim = 32  # Hidden layer size in feed forward network inside transformer


def build_program(k):
    """The example's layers and model, written against ``k`` (gradflow or Keras)."""
    k_layers, k_ops = k.layers, k.ops

    class TransformerBlock(k_layers.Layer):
        def __init__(self, embed_dim, num_heads, ff_dim, rate=0.1):
            super().__init__()
            self.att = k_layers.MultiHeadAttention(num_heads=num_heads, key_dim=embed_dim)
            self.ffn = k.Sequential(
                [
                    k_layers.Dense(ff_dim, activation="relu"),
                    k_layers.Dense(embed_dim),
                ]
            )
            self.layernorm1 = k_layers.LayerNormalization(epsilon=1e-6)
            self.layernorm2 = k_layers.LayerNormalization(epsilon=1e-6)
            self.dropout1 = k_layers.Dropout(rate)
            self.dropout2 = k_layers.Dropout(rate)

        def call(self, inputs):
            attn_output = self.att(inputs, inputs)
            attn_output = self.dropout1(attn_output)
            out1 = self.layernorm1(inputs + attn_output)
            ffn_output = self.ffn(out1)
            ffn_output = self.dropout2(ffn_output)
            return self.layernorm2(out1 + ffn_output)

    class TokenAndPositionEmbedding(k_layers.Layer):
        def __init__(self, maxlen, vocab_size, embed_dim):
            super().__init__()
            self.token_emb = k_layers.Embedding(input_dim=vocab_size, output_dim=embed_dim)
            self.pos_emb = k_layers.Embedding(input_dim=maxlen, output_dim=embed_dim)

        def call(self, x):
            maxlen = k_ops.shape(x)[-1]
            positions = k_ops.arange(start=0, stop=maxlen, step=1)
            positions = self.pos_emb(positions)
            x = self.token_emb(x)
            return x + positions

    def make_model(maxlen, vocab_size):
        inputs = k_layers.Input(shape=(maxlen,))
        embedding_layer = TokenAndPositionEmbedding(maxlen, vocab_size, embed_dim)
        x = embedding_layer(inputs)
        transformer_block = TransformerBlock(embed_dim, num_heads, ff_dim)
        x = transformer_block(x)
        x = k_layers.GlobalAveragePooling1D()(x)
        x = k_layers.Dropout(0.1)(x)
        x = k_layers.Dense(20, activation="relu")(x)
        x = k_layers.Dropout(0.1)(x)
        outputs = k_layers.Dense(2, activation="softmax")(x)
        return k.Model(inputs=inputs, outputs=outputs)

    return make_model, TransformerBlock, TokenAndPositionEmbedding


def reviews(n, seed):
    """An IMDB stand-in after ``pad_sequences(..., maxlen=maxlen)``: reviews of 8..maxlen tokens, left-padded
    with 0, of common words (ids 20..vocab_size-1) and 2..4 "sentiment" words: ids 2..10 for label 1
    (positive), 11..19 for label 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = np.zeros((n, maxlen), dtype="int64")
    for i in range(n):
        length = rng.integers(8, maxlen + 1)
        review = rng.integers(20, vocab_size, size=length)
        spots = rng.choice(length, size=rng.integers(2, 5), replace=False)
        review[spots] = rng.integers(2, 11, size=len(spots)) if y[i] else rng.integers(11, 20, size=len(spots))
        x[i, maxlen - length:] = review
    return x, y.astype("int64")


# Parameters, by hand (E = embed_dim = 32, H = num_heads = 2, key_dim = E):
#   token_emb vocab_size*E, pos_emb maxlen*E;
#   MultiHeadAttention: query/key/value kernels E*H*E + biases H*E = 2,048 + 64 = 2,112 each; output
#   H*E*E + E = 2,080 -> 8,416; ffn E*ff_dim+ff_dim = 1,056 + ff_dim*E+E = 1,056 -> 2,112;
#   two LayerNormalization 2*(E+E) = 128 -> TransformerBlock 10,656;
#   Dense(20) E*20+20 = 660; Dense(2) 20*2+2 = 42.
TRANSFORMER_BLOCK = 8416 + 2112 + 128


def expected_params(vocab, length):
    return vocab * embed_dim + length * embed_dim + TRANSFORMER_BLOCK + 660 + 42


def train_and_evaluate(k, seed=0):
    """The example's "Train and Evaluate" on the synthetic reviews: ``(model, history)``."""
    k.utils.set_random_seed(seed)
    make_model, _, _ = build_program(k)
    (x_train, y_train), (x_val, y_val) = reviews(384, seed=0), reviews(128, seed=1)
    model = make_model(maxlen, vocab_size)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=4, validation_data=(x_val, y_val), verbose=0)
    return model, history


def test_text_classification_with_transformer(summary_params):
    model, history = train_and_evaluate(keras)

    # 200*32 = 6,400 + 24*32 = 768 + 10,656 + 660 + 42 = 18,526
    assert expected_params(vocab_size, maxlen) == 18526
    params, text = summary_params(model)
    # After fit, Keras 3's total also counts the optimizer's variables: Adam's two moments per weight
    # (2*18,526) + its iteration count and learning rate = 37,054 -> 55,580.
    assert params == {"total": 55580, "trainable": 18526, "non_trainable": 0}
    assert "Optimizer params: 37,054" in text
    assert model.count_params() == 18526
    for shape in ["(None, 24, 32)", "(None, 32)", "(None, 20)", "(None, 2)"]:
        assert shape in text

    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1, 2, 3]
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.85  # chance is 0.5
    assert h["val_loss"][-1] < 0.5 * np.log(2)

    preds = model.predict(reviews(16, seed=2)[0], verbose=0)
    assert preds.shape == (16, 2)
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, rtol=1e-5)


def test_example_size_model_parameter_count():
    make_model, TransformerBlock, TokenAndPositionEmbedding = build_program(keras)
    model = make_model(200, 20000)  # the example's maxlen and vocab_size
    # 20,000*32 = 640,000 + 200*32 = 6,400 + 10,656 + 660 + 42 = 657,758
    assert model.count_params() == expected_params(20000, 200) == 657758
    assert [type(layer).__name__ for layer in model.layers][1:3] == ["TokenAndPositionEmbedding", "TransformerBlock"]


def test_same_program_on_real_keras_reaches_a_similar_accuracy(real_keras):
    k = real_keras
    km, hk = train_and_evaluate(k)
    gm, hg = train_and_evaluate(keras)
    assert km.count_params() == gm.count_params() == 18526
    assert set(hg.history) == set(hk.history)
    assert hk.history["val_accuracy"][-1] > 0.85
    assert abs(hg.history["val_accuracy"][-1] - hk.history["val_accuracy"][-1]) < 0.1


def test_pad_sequences_as_in_the_example():
    # The example pads the loaded reviews: x_train = keras.utils.pad_sequences(x_train, maxlen=maxlen)
    x = keras.utils.pad_sequences([[5, 6, 7], [8], list(range(1, 30))], maxlen=maxlen)
    assert x.shape == (3, maxlen) and str(x.dtype) == "int32"
    assert list(x[0, -4:]) == [0, 5, 6, 7] and list(x[2, :2]) == [6, 7]  # pre-padding, pre-truncating
