"""Port of keras-io ``examples/nlp/addition_rnn.py`` ("Sequence to sequence learning for performing
number addition", Keras 3 edition: ``Sequential`` with ``layers.Input``, an encoder ``LSTM``,
``RepeatVector``, a decoder ``LSTM(return_sequences=True)`` and a softmax ``Dense`` on every step).

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). The example makes its own data, so nothing is downloaded. Substitutions:
``TRAINING_SIZE = 50000`` -> 1200, ``DIGITS = 3`` -> 2, ``LSTM(128)`` -> ``LSTM(32)``, 29 one-epoch
``fit`` calls -> 6; the questions are drawn from a seeded ``np.random.default_rng`` rather than the global
``np.random`` so both frameworks see the same data, and the 10 random validation samples printed after each
epoch -> the first 10 (``ctable.decode`` is still used to check them).

Compared with Keras: gradflow takes the Keras model's initial weights (``set_weights``) and both train
with ``shuffle=False``; the histories (loss, accuracy, val_loss, val_accuracy), the final weights and the
predictions must be equal within float32 tolerance.
"""
import numpy as np

import gradflow as keras
from gradflow import layers  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

# Parameters for the model and dataset (the example: 50000, 3, True).
TRAINING_SIZE = 1200
DIGITS = 2
REVERSE = True
# Maximum length of input is 'int + int' (e.g., '34+67').
MAXLEN = DIGITS + 1 + DIGITS
UNITS = 32  # the example: 128
EPOCHS = 6  # the example: range(1, 30)


class CharacterTable:
    """One-hot encodes strings over a fixed alphabet and decodes one-hot rows or probabilities back."""

    def __init__(self, chars):
        self.chars = sorted(set(chars))
        self.char_indices = {c: i for i, c in enumerate(self.chars)}
        self.indices_char = {i: c for i, c in enumerate(self.chars)}

    def encode(self, C, num_rows):
        x = np.zeros((num_rows, len(self.chars)))
        for i, c in enumerate(C):
            x[i, self.char_indices[c]] = 1
        return x

    def decode(self, x, calc_argmax=True):
        if calc_argmax:
            x = x.argmax(axis=-1)
        return "".join(self.indices_char[int(i)] for i in x)


chars = "0123456789+ "
ctable = CharacterTable(chars)


def make_data(seed=0):
    rng = np.random.default_rng(seed)
    questions, expected, seen = [], [], set()
    while len(questions) < TRAINING_SIZE:
        def f():
            return int("".join(rng.choice(list("0123456789")) for _ in range(rng.integers(1, DIGITS + 1))))

        a, b = f(), f()
        key = tuple(sorted((a, b)))  # skip questions seen already, and x+y == y+x
        if key in seen:
            continue
        seen.add(key)
        q = f"{a}+{b}"
        query = q + " " * (MAXLEN - len(q))
        ans = str(a + b)
        ans += " " * (DIGITS + 1 - len(ans))
        if REVERSE:
            query = query[::-1]
        questions.append(query)
        expected.append(ans)

    x = np.zeros((len(questions), MAXLEN, len(chars)), dtype=bool)
    y = np.zeros((len(questions), DIGITS + 1, len(chars)), dtype=bool)
    for i, sentence in enumerate(questions):
        x[i] = ctable.encode(sentence, MAXLEN)
    for i, sentence in enumerate(expected):
        y[i] = ctable.encode(sentence, DIGITS + 1)
    indices = np.arange(len(y))
    rng.shuffle(indices)
    x, y = x[indices], y[indices]
    split_at = len(x) - len(x) // 10
    return (x[:split_at], y[:split_at]), (x[split_at:], y[split_at:])


def build_model(k, num_layers=1):
    model = k.Sequential()
    # "Encode" the input sequence using a LSTM
    model.add(k.layers.Input((MAXLEN, len(chars))))
    model.add(k.layers.LSTM(UNITS))
    # The decoder's input: the encoder's last output, repeated for each output character
    model.add(k.layers.RepeatVector(DIGITS + 1))
    for _ in range(num_layers):
        model.add(k.layers.LSTM(UNITS, return_sequences=True))
    # A softmax over the characters at every output step
    model.add(k.layers.Dense(len(chars), activation="softmax"))
    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])
    return model


def train(model, data, epochs=EPOCHS, shuffle=True):
    (x_train, y_train), (x_val, y_val) = data
    history = {}
    for _ in range(epochs):
        h = model.fit(x_train, y_train, batch_size=32, epochs=1, validation_data=(x_val, y_val), verbose=0,
                      shuffle=shuffle)
        for key, values in h.history.items():
            history.setdefault(key, []).extend(values)
    return history


def test_addition_rnn(summary_params):
    data = make_data()
    (x_train, y_train), (x_val, y_val) = data
    assert x_train.shape == (1080, MAXLEN, 12) and y_train.shape == (1080, DIGITS + 1, 12)
    assert x_val.shape == (120, MAXLEN, 12)

    model = build_model(keras)
    params, text = summary_params(model)
    # LSTM(32) on 12 features 4*(12*32 + 32*32 + 32) = 5,760; LSTM(32) on 32: 4*(32*32*2 + 32) = 8,320;
    # Dense(12) on every step 32*12 + 12 = 396 -> 14,476
    assert params["total"] == 14476
    assert "(None, 3, 32)" in text and "(None, 3, 12)" in text

    history = train(model, data)
    assert set(history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history["loss"][-1] < history["loss"][0]
    assert history["val_accuracy"][-1] > 0.3  # per-character accuracy; chance is 1/12

    for ind in range(10):
        rowx, rowy = x_val[np.array([ind])], y_val[np.array([ind])]
        preds = np.argmax(model.predict(rowx, verbose=0), axis=-1)
        q = ctable.decode(rowx[0])
        correct = ctable.decode(rowy[0])
        guess = ctable.decode(preds[0], calc_argmax=False)
        assert len(q) == MAXLEN and len(guess) == len(correct) == DIGITS + 1
        assert set(guess) <= set(chars)


def test_same_as_keras(real_keras):
    data = make_data()
    km, gm = build_model(real_keras), build_model(keras)
    assert [tuple(w.shape) for w in gm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    gm.set_weights(km.get_weights())
    hk = train(km, data, epochs=3, shuffle=False)
    hg = train(gm, data, epochs=3, shuffle=False)
    assert set(hg) == set(hk)
    for key in hk:
        np.testing.assert_allclose(hg[key], hk[key], rtol=2e-4, atol=1e-5, err_msg=key)
    for wk, wg in zip(km.get_weights(), gm.get_weights()):
        np.testing.assert_allclose(wg, wk, atol=2e-4)
    x_val = data[1][0][:16]
    np.testing.assert_allclose(gm.predict(x_val, verbose=0), km.predict(x_val, verbose=0), atol=1e-4)
