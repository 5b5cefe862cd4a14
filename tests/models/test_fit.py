"""fit/evaluate/predict semantics: reported losses, weights, validation, data sources, verbosity."""
import re

import numpy as np
import pytest

from gradflow import losses, regularizers
from gradflow.layers import Dense
from gradflow.models import Sequential
from gradflow.optimizers import SGD, Adam


def per_sample_ce(probs, y):
    p = np.clip(probs[np.arange(len(y)), y].astype(np.float64), 1e-7, 1 - 1e-7)
    return -np.log(p)


def test_learns_a_separable_problem(mk):
    x, y = mk.people(80)
    model = mk.mlp()
    model.compile(optimizer=Adam(learning_rate=0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    assert model.history is history and history.epoch == list(range(15))
    loss, acc = model.evaluate(x, y, verbose=0)
    assert acc > 0.9 and loss < 0.4


def test_epoch_loss_is_the_sample_mean_of_batch_losses(mk):
    """With a zero learning rate the epoch loss is the mean per-sample loss over all samples,
    even when the last batch is smaller (running mean weighted by batch size)."""
    x, y = mk.people(10)
    model = mk.mlp()
    model.compile(optimizer=SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    expected = per_sample_ce(model.predict(x, verbose=0), y).mean()
    hist = model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    assert hist.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(x, y, batch_size=3, verbose=0) == pytest.approx(expected, rel=1e-5)


def test_sample_weight_and_class_weight_follow_keras_reduction(mk):
    x, y = mk.people(12)
    model = mk.mlp()
    model.compile(optimizer=SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    ce = per_sample_ce(model.predict(x, verbose=0), y)
    sw = np.linspace(0.5, 2.0, len(x)).astype(np.float32)
    hist = model.fit(x, y, sample_weight=sw, batch_size=12, epochs=1, verbose=0)
    assert hist.history["loss"][0] == pytest.approx((ce * sw).sum() / len(x), rel=1e-5)  # sum(l*w) / N
    cw = {0: 0.25, 1: 3.0}
    hist = model.fit(x, y, class_weight=cw, batch_size=12, epochs=1, verbose=0)
    w = np.where(y == 1, 3.0, 0.25)
    assert hist.history["loss"][0] == pytest.approx((ce * w).sum() / len(x), rel=1e-5)
    assert model.evaluate(x, y, sample_weight=sw, batch_size=12, verbose=0) == pytest.approx(
        (ce * sw).sum() / len(x), rel=1e-5)


def test_regularizer_penalty_is_added_to_the_reported_loss(mk):
    x, y = mk.people(20)
    model = Sequential([Dense(16, input_shape=(2,), activation="relu", kernel_regularizer=regularizers.l2(0.01)),
                        Dense(2, activation="softmax")])
    model.compile(optimizer=SGD(learning_rate=0.0), loss="sparse_categorical_crossentropy")
    kernel = model.layers[0].get_weights()[0].astype(np.float64)
    penalty = 0.01 * (kernel ** 2).sum()
    ce = per_sample_ce(model.predict(x, verbose=0), y).mean()
    assert model.evaluate(x, y, verbose=0) == pytest.approx(ce + penalty, rel=1e-5)
    hist = model.fit(x, y, batch_size=5, epochs=1, verbose=0)
    assert hist.history["loss"][0] == pytest.approx(ce + penalty, rel=1e-5)
    assert model.train_on_batch(x, y) == pytest.approx(ce + penalty, rel=1e-5)


def test_fused_and_plain_losses_agree(mk):
    """The softmax+crossentropy fusion gives the same loss as the probability form."""
    x, y = mk.people(16)
    fused = mk.mlp()
    plain = mk.mlp()
    plain.set_weights(fused.get_weights())
    fused.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    plain.compile(optimizer=SGD(0.1), loss=lambda t, p: losses.sparse_categorical_crossentropy(t, p))
    assert fused.evaluate(x, y, verbose=0) == pytest.approx(plain.evaluate(x, y, verbose=0), rel=1e-5)
    fused.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    plain.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    for a, b in zip(fused.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_validation_split_holds_out_the_last_fraction(mk):
    x, y = mk.people(40)
    model = mk.mlp()
    model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, validation_split=0.25, batch_size=5, epochs=2, verbose=0)
    # validation runs after each epoch's updates, on x[30:] (the last 25 %, taken before shuffling)
    val_loss, val_acc = model.evaluate(x[30:], y[30:], batch_size=5, verbose=0)
    assert hist.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert hist.history["val_accuracy"][-1] == pytest.approx(val_acc)
    assert len(hist.history["loss"]) == 2


def test_validation_data_and_freq(mk):
    x, y = mk.people(30)
    xv, yv = mk.people(9, seed=5)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, y, validation_data=(xv, yv), validation_freq=2, batch_size=10, epochs=4, verbose=0)
    assert len(hist.history["val_loss"]) == 2 and len(hist.history["loss"]) == 4
    assert hist.history["val_loss"][-1] == pytest.approx(model.evaluate(xv, yv, verbose=0)[0], rel=1e-6)
    sw = np.ones(len(xv), np.float32)
    hist = model.fit(x, y, validation_data=(xv, yv, sw), epochs=1, verbose=0)
    assert "val_accuracy" in hist.history


def test_fit_on_python_lists(mk):
    x, y = mk.people(12)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hist = model.fit(x.tolist(), y.tolist(), batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    assert model.predict(x.tolist(), verbose=0).shape == (12, 2)


def test_fit_on_a_sequence_calls_on_epoch_end(mk):
    x, y = mk.people(20)

    class Batches:
        def __init__(self):
            self.ended = 0

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return x[i * 5:(i + 1) * 5], y[i * 5:(i + 1) * 5]

        def on_epoch_end(self):
            self.ended += 1

    seq = Batches()
    model = mk.mlp()
    model.compile(optimizer=SGD(0.0), loss="sparse_categorical_crossentropy")
    hist = model.fit(seq, epochs=3, verbose=0)
    assert seq.ended == 3 and len(hist.history["loss"]) == 3
    expected = per_sample_ce(model.predict(x, verbose=0), y).mean()
    assert hist.history["loss"][-1] == pytest.approx(expected, rel=1e-5)
    assert model.evaluate(seq, verbose=0) == pytest.approx(expected, rel=1e-5)
    assert model.predict(seq, verbose=0).shape == (20, 2)


def test_fit_on_a_generator_with_steps_per_epoch(mk):
    x, y = mk.people(20)

    def forever():
        while True:
            for i in range(0, 20, 5):
                yield x[i:i + 5], y[i:i + 5], np.ones(5, np.float32)

    model = Sequential([Dense(4, activation="relu"), Dense(2, activation="softmax")])  # built from the first batch
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(forever(), steps_per_epoch=3, epochs=2, verbose=0)
    assert model.built and len(hist.history["loss"]) == 2
    batches = [(x[i:i + 5], y[i:i + 5]) for i in range(0, 20, 5)]
    hist = model.fit(iter(batches), epochs=1, verbose=0)  # a one-shot iterator: one epoch of 4 batches
    assert len(hist.history["loss"]) == 1
    hist = model.fit(batches, epochs=2, verbose=0, validation_data=batches)  # a list is re-iterable
    assert len(hist.history["val_loss"]) == 2


def test_generator_running_out_stops_training_with_a_warning(mk):
    x, y = mk.people(10)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    gen = ((x[i:i + 5], y[i:i + 5]) for i in (0, 5))
    with pytest.warns(RuntimeWarning, match="ran out of data"):
        hist = model.fit(gen, epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 1


def test_steps_per_epoch_on_arrays(mk):
    x, y = mk.people(20)
    model = mk.mlp()
    model.compile(optimizer=SGD(0.1), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=5, steps_per_epoch=3, epochs=3, verbose=0)
    assert model.optimizer.iterations == 9


def test_predict_is_inference_and_returns_numpy(mk):
    x, _ = mk.people(23)
    model = mk.mlp()
    p1 = model.predict(x, batch_size=10, verbose=0)
    p2 = model.predict(x, batch_size=7, verbose=0)
    assert isinstance(p1, np.ndarray) and p1.shape == (23, 2) and p1.dtype == np.float32
    np.testing.assert_allclose(p1, p2, rtol=1e-6)
    np.testing.assert_allclose(p1.sum(1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(model.predict_on_batch(x[:3]), p1[:3], rtol=1e-6)
    np.testing.assert_allclose(model(x[:3]).numpy(), p1[:3], rtol=1e-6)


def test_evaluate_return_forms(mk):
    x, y = mk.people(10)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert isinstance(model.evaluate(x, y, verbose=0), float)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy", "crossentropy"])
    res = model.evaluate(x, y, verbose=0)
    assert isinstance(res, list) and len(res) == 3
    d = model.evaluate(x, y, verbose=0, return_dict=True)
    assert list(d) == ["loss", "accuracy", "crossentropy"] and d["loss"] == pytest.approx(res[0])
    assert model.metrics_names == ["loss", "compile_metrics"]  # Keras 3


def test_on_batch_calls(mk):
    x, y = mk.people(8)
    model = mk.mlp()
    model.compile(optimizer=SGD(0.5), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    before = model.get_weights()
    loss, acc = model.train_on_batch(x, y)
    assert not mk.weights_equal(before, model.get_weights()) and model.optimizer.iterations == 1
    expected = per_sample_ce(model.predict(x, verbose=0), y).mean()
    logs = model.test_on_batch(x, y, return_dict=True)
    assert logs["loss"] == pytest.approx(expected, rel=1e-5) and 0 <= logs["accuracy"] <= 1
    assert model.test_on_batch(x, y, return_dict=True) == logs  # per batch, not accumulated


def test_categorical_and_binary_losses(mk):
    x, y = mk.people(16)
    onehot = np.eye(2, dtype=np.float32)[y]
    model = mk.mlp()
    model.compile(optimizer="adam", loss="categorical_crossentropy", metrics=["accuracy"])
    hist = model.fit(x, onehot, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(hist.history["loss"][0])
    binary = mk.mlp(n_out=1, activation="sigmoid")
    binary.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
    hist = binary.fit(x, y, batch_size=4, epochs=2, verbose=0)  # (N,) labels for a (N, 1) output
    assert 0 <= hist.history["accuracy"][-1] <= 1
    reg = mk.mlp(n_out=1, activation=None)
    reg.compile(optimizer="sgd", loss="mse", metrics=["mae"])
    hist = reg.fit(x, x[:, 0], batch_size=4, epochs=1, verbose=0)
    assert set(hist.history) == {"loss", "mae"}


def test_verbose_levels(mk, capsys):
    x, y = mk.people(12)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=2, verbose=0)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    model.fit(x, y, batch_size=4, epochs=2, verbose=1)  # captured stdout is not a terminal: final lines only
    out = capsys.readouterr().out
    assert "\r" not in out
    lines = out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert re.match(r"^3/3 \u2501{20} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}$", lines[1])
    model.fit(x, y, batch_size=4, epochs=1, verbose="auto")
    assert capsys.readouterr().out.startswith("Epoch 1/1\n3/3 \u2501")
    model.evaluate(x, y, batch_size=4, verbose=2)
    assert re.match(r"^3/3 - \d+s - \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4}\n$",
                    capsys.readouterr().out)


def test_initial_epoch_continues_numbering(mk, capsys):
    x, y = mk.people(8)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    hist = model.fit(x, y, epochs=5, initial_epoch=3, verbose=2)
    assert hist.epoch == [3, 4]
    out = capsys.readouterr().out
    assert "Epoch 4/5" in out and "Epoch 5/5" in out and "Epoch 1/5" not in out


def test_fit_on_an_image_data_generator_flow(mk):
    from gradflow.utils.image_generator import ImageDataGenerator

    x, y = mk.images(n=10, size=4, channels=1, classes=2)
    from gradflow.layers import Flatten

    model = Sequential([Flatten(input_shape=(4, 4, 1)), Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    flow = ImageDataGenerator(horizontal_flip=True).flow(x, y, batch_size=4)
    hist = model.fit(flow, epochs=3, verbose=0)
    assert len(hist.history["loss"]) == 3 and flow.epoch == 3  # on_epoch_end once per epoch


def test_compile_takes_objects(mk):
    from gradflow import metrics, optimizers

    x, y = mk.people(16)
    model = mk.mlp()
    acc = metrics.SparseCategoricalAccuracy()
    model.compile(optimizer=optimizers.RMSprop(learning_rate=0.01), loss=losses.SparseCategoricalCrossentropy(),
                  metrics=[acc, "crossentropy"], weighted_metrics=["accuracy"])
    hist = model.fit(x, y, sample_weight=np.ones(16, np.float32), batch_size=4, epochs=2, verbose=0)
    assert list(hist.history) == ["loss", "sparse_categorical_accuracy", "crossentropy", "accuracy"]
    assert model.metrics[0].name == "loss"  # Keras 3: the loss tracker, then the compiled metrics
    assert model.metrics[1].metrics[0] is acc
    assert hist.history["accuracy"] == hist.history["sparse_categorical_accuracy"]  # unit weights


def test_weighted_metric_with_a_clashing_name_gets_a_prefix(mk):
    x, y = mk.people(8)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])
    hist = model.fit(x, y, epochs=1, verbose=0)
    assert list(hist.history) == ["loss", "accuracy", "weighted_accuracy"]


def test_verbose_1_on_a_terminal_shows_a_live_bar(mk, monkeypatch):
    import io
    import sys

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    term = Terminal()
    monkeypatch.setattr(sys, "stdout", term)
    x, y = mk.people(40)
    model = mk.mlp()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=4, epochs=1, verbose=1, validation_split=0.5)
    text = term.getvalue()
    assert text.startswith("Epoch 1/1\n") and "\r" in text and text.endswith("\n")
    final = re.sub(r"\x1b\[\d+m", "", text.rstrip("\n").split("\r")[-1])  # without its colours
    assert re.match(r"^5/5 \u2501{20} \d+s \d+(us|ms|s)/step - loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: "
                    r"\d\.\d{4} - val_accuracy: \d\.\d{4}\s*$", final)
