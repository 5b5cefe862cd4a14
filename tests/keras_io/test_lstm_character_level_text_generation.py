"""Port of keras-io ``examples/generative/lstm_character_level_text_generation.py`` ("Character-level text
generation with LSTM"): one ``LSTM`` over one-hot characters, a softmax ``Dense``, ``RMSprop(0.01)``, and
a sampling loop that feeds the model's own predictions back at four temperatures.

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). Substitutions: the Nietzsche download -> a 3,000-character synthetic corpus
(sentences made of 12 words, so the next character is learnable); ``maxlen = 40`` -> 20; ``LSTM(128)`` ->
``LSTM(32)``; 40 epochs -> 2; 400 generated characters per temperature -> 10; the global ``random`` and
``np.random`` -> seeded generators.

Compared with Keras: gradflow takes the Keras model's initial weights (``set_weights``), both fit with
``shuffle=False``, and the losses, the final weights, the predictions and the generated text (same
sampling seed) must be equal.
"""
import random

import numpy as np

import gradflow as keras
from gradflow import layers  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

maxlen = 20  # the example: 40
step = 3
units = 32  # the example: 128
WORDS = ["the", "will", "to", "power", "is", "not", "truth", "of", "man", "and", "free", "spirit"]


def make_text(n_chars=3000, seed=0):
    rng = np.random.default_rng(seed)
    sentences = []
    while sum(len(s) for s in sentences) < n_chars:
        sentences.append(" ".join(rng.choice(WORDS, size=rng.integers(4, 9))) + ". ")
    return "".join(sentences)[:n_chars].lower()


def vectorize(text):
    chars = sorted(set(text))
    char_indices = {c: i for i, c in enumerate(chars)}
    indices_char = {i: c for i, c in enumerate(chars)}
    # cut the text in semi-redundant sequences of maxlen characters
    sentences, next_chars = [], []
    for i in range(0, len(text) - maxlen, step):
        sentences.append(text[i: i + maxlen])
        next_chars.append(text[i + maxlen])
    x = np.zeros((len(sentences), maxlen, len(chars)), dtype=bool)
    y = np.zeros((len(sentences), len(chars)), dtype=bool)
    for i, sentence in enumerate(sentences):
        for t, char in enumerate(sentence):
            x[i, t, char_indices[char]] = 1
        y[i, char_indices[next_chars[i]]] = 1
    return chars, char_indices, indices_char, x, y


def build_model(k, num_chars):
    model = k.Sequential([
        k.Input(shape=(maxlen, num_chars)),
        k.layers.LSTM(units),
        k.layers.Dense(num_chars, activation="softmax"),
    ])
    optimizer = k.optimizers.RMSprop(learning_rate=0.01)
    model.compile(loss="categorical_crossentropy", optimizer=optimizer)
    return model


def sample(preds, temperature=1.0, rng=np.random):
    # helper function to sample an index from a probability array
    preds = np.asarray(preds).astype("float64")
    preds = np.log(preds) / temperature
    exp_preds = np.exp(preds)
    preds = exp_preds / np.sum(exp_preds)
    probas = rng.multinomial(1, preds, 1)
    return np.argmax(probas)


def generate(model, text, char_indices, indices_char, start_index, diversity, n=10, seed=0):
    rng = np.random.RandomState(seed)
    sentence = text[start_index: start_index + maxlen]
    generated = sentence
    for _ in range(n):
        x_pred = np.zeros((1, maxlen, len(char_indices)))
        for t, char in enumerate(sentence):
            x_pred[0, t, char_indices[char]] = 1.0
        preds = model.predict(x_pred, verbose=0)[0]
        next_index = sample(preds, diversity, rng)
        next_char = indices_char[next_index]
        sentence = sentence[1:] + next_char
        generated += next_char
    return generated


def run_program(k, epochs=2, batch_size=128):
    text = make_text()
    chars, char_indices, indices_char, x, y = vectorize(text)
    model = build_model(k, len(chars))
    losses, texts = [], []
    chooser = random.Random(0)
    for _epoch in range(epochs):
        losses += model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0).history["loss"]
        start_index = chooser.randint(0, len(text) - maxlen - 1)
        for diversity in [0.2, 0.5, 1.0, 1.2]:
            texts.append(generate(model, text, char_indices, indices_char, start_index, diversity))
    return model, losses, texts, (chars, x, y)


def test_lstm_character_level_text_generation():
    model, losses, texts, (chars, x, y) = run_program(keras)
    assert len(chars) == 18  # the letters of the 12 words, space and full stop
    assert x.shape == (994, maxlen, 18) and y.shape == (994, 18)
    # LSTM(32) on 18 characters 4*(18*32 + 32*32 + 32) = 6,528; Dense 32*18 + 18 = 594 -> 7,122
    assert model.count_params() == 7122
    assert losses[-1] < losses[0] < np.log(18) + 0.5
    assert len(texts) == 8 and all(len(t) == maxlen + 10 and set(t) <= set(chars) for t in texts)
    # the next character is right more often than chance
    probs = model.predict(x[:64], verbose=0)
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)
    assert (probs.argmax(-1) == y[:64].argmax(-1)).mean() > 0.15  # chance: 1/18


def test_same_as_keras(real_keras):
    text = make_text()
    chars, char_indices, indices_char, x, y = vectorize(text)
    km, gm = build_model(real_keras, len(chars)), build_model(keras, len(chars))
    gm.set_weights(km.get_weights())
    fit = {"batch_size": 128, "epochs": 2, "shuffle": False, "verbose": 0}
    hk, hg = km.fit(x, y, **fit).history, gm.fit(x, y, **fit).history
    assert set(hg) == set(hk) == {"loss"}
    np.testing.assert_allclose(hg["loss"], hk["loss"], rtol=2e-4)
    for wk, wg in zip(km.get_weights(), gm.get_weights()):
        np.testing.assert_allclose(wg, wk, atol=2e-4)
    np.testing.assert_allclose(gm.predict(x[:32], verbose=0), km.predict(x[:32], verbose=0), atol=1e-4)
    for diversity in [1.0]:
        assert (generate(gm, text, char_indices, indices_char, 7, diversity, n=5)
                == generate(km, text, char_indices, indices_char, 7, diversity, n=5))
