"""Port of keras-io ``examples/nlp/bidirectional_lstm_imdb.py`` ("Bidirectional LSTM on IMDB").

Only the imports change. IMDB (``max_features = 20000``, ``maxlen = 200``) -> 512 + 128 synthetic
left-padded token sequences (``max_features = 100``, ``maxlen = 12``) labelled by which of two small sets
of "sentiment" tokens they contain; the model keeps its layers (an ``Embedding``, two stacked
``Bidirectional(LSTM)``, a sigmoid ``Dense``) with ``Embedding(max_features, 16)`` and ``LSTM(8)`` in
place of 128 and 64; ``fit(batch_size=32, epochs=2)`` -> ``epochs=5``. The same program then runs on real
Keras 3 (``k`` below) and must reach a similar accuracy.
"""
import numpy as np

import gradflow as keras
from gradflow import layers  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

max_features = 100  # Only consider the top 100 words (20k in the example)
maxlen = 12  # Only consider the first 12 words of each movie review (200 in the example)
embed_dim, units = 16, 8  # the example: Embedding(max_features, 128), LSTM(64)


def make_model(k, max_features=max_features, embed_dim=embed_dim, units=units):
    k_layers = k.layers
    # Input for variable-length sequences of integers
    inputs = k.Input(shape=(None,), dtype="int32")
    # Embed each integer in a `embed_dim`-dimensional vector
    x = k_layers.Embedding(max_features, embed_dim)(inputs)
    # Add 2 bidirectional LSTMs
    x = k_layers.Bidirectional(k_layers.LSTM(units, return_sequences=True))(x)
    x = k_layers.Bidirectional(k_layers.LSTM(units))(x)
    # Add a classifier
    outputs = k_layers.Dense(1, activation="sigmoid")(x)
    return k.Model(inputs, outputs)


def reviews(n, seed):
    """IMDB after ``pad_sequences(..., maxlen=maxlen)``: 5..maxlen tokens left-padded with 0, common words
    (ids 12..max_features-1) and 3..5 "sentiment" words: 2..6 for label 1, 7..11 for label 0."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, size=n)
    x = np.zeros((n, maxlen), dtype="int32")
    for i in range(n):
        length = rng.integers(5, maxlen + 1)
        review = rng.integers(12, max_features, size=length)
        spots = rng.choice(length, size=rng.integers(3, 6), replace=False)
        review[spots] = rng.integers(2, 7, size=len(spots)) if y[i] else rng.integers(7, 12, size=len(spots))
        x[i, maxlen - length:] = review
    return x, y.astype("float32")


def lstm_params(input_dim, units):
    # 4 gates, each with an input kernel (input_dim x units), a recurrent kernel (units x units), a bias
    return 4 * (input_dim * units + units * units + units)


def expected_params(max_features, embed_dim, units):
    return (max_features * embed_dim  # Embedding
            + 2 * lstm_params(embed_dim, units)  # Bidirectional: a forward and a backward LSTM
            + 2 * lstm_params(2 * units, units)  # the second one reads both directions' sequences
            + 2 * units + 1)  # Dense(1)


def train_and_evaluate(k, seed=0):
    k.utils.set_random_seed(seed)
    model = make_model(k)
    (x_train, y_train), (x_val, y_val) = reviews(512, seed=0), reviews(128, seed=1)
    model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, batch_size=32, epochs=5, validation_data=(x_val, y_val), verbose=0)
    return model, history


def test_bidirectional_lstm_imdb(summary_params):
    model = make_model(keras)
    params, text = summary_params(model)
    # Embedding 100*16 = 1,600; each LSTM(8) on 16 features 4*(16*8 + 8*8 + 8) = 800, two directions 1,600;
    # each LSTM(8) on the 2*8 = 16 concatenated features also 800 -> 1,600; Dense(1) 16+1 = 17 -> 4,817
    assert expected_params(max_features, embed_dim, units) == 4817
    assert params == {"total": 4817, "trainable": 4817, "non_trainable": 0}
    for shape in ["(None, None, 16)", "(None, 16)", "(None, 1)"]:
        assert shape in text

    model, history = train_and_evaluate(keras)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1, 2, 3, 4]
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.8  # chance is 0.5

    # Variable-length input: the model takes sequences of any length.
    short = reviews(4, seed=2)[0][:, -9:]
    assert model.predict(short, verbose=0).shape == (4, 1)


def test_example_size_model_parameter_count():
    model = make_model(keras, max_features=20000, embed_dim=128, units=64)
    # 20,000*128 = 2,560,000 + 2*4*(128*64 + 64*64 + 64) = 98,816 twice -> 2,757,761 (the example's summary)
    assert model.count_params() == expected_params(20000, 128, 64) == 2757761


def test_same_program_on_real_keras_reaches_a_similar_accuracy(real_keras):
    k = real_keras
    km, hk = train_and_evaluate(k)
    gm, hg = train_and_evaluate(keras)
    assert km.count_params() == gm.count_params() == 4817
    assert set(hg.history) == set(hk.history)
    assert hk.history["val_accuracy"][-1] > 0.8
    assert abs(hg.history["val_accuracy"][-1] - hk.history["val_accuracy"][-1]) < 0.15


def test_pad_sequences_as_in_the_example():
    # this will truncate sequences longer than maxlen words and zero-pad sequences shorter than maxlen words.
    x = keras.preprocessing.sequence.pad_sequences([[3, 4], list(range(1, 21))], maxlen=maxlen)
    assert x.shape == (2, maxlen)
    assert list(x[0, -3:]) == [0, 3, 4] and x[1, 0] == 9
