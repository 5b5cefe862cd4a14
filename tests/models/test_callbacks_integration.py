"""fit with gradflow.callbacks: History, EarlyStopping, ModelCheckpoint, batch hooks, stop_training."""
import os

import numpy as np
import pytest

from gradflow import callbacks
from gradflow.models import load_model
from gradflow.optimizers import SGD


def compiled(mk, lr=0.05):
    model = mk.mlp()
    model.compile(optimizer=SGD(learning_rate=lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_hooks_are_called_in_keras_order(mk):
    x, y = mk.people(12)
    calls = []

    class Recorder(callbacks.Callback):
        def on_train_begin(self, logs=None):
            calls.append("train_begin")

        def on_epoch_begin(self, epoch, logs=None):
            calls.append(f"epoch_begin {epoch}")

        def on_train_batch_end(self, batch, logs=None):
            calls.append(f"batch_end {batch} {sorted(logs)}")

        def on_test_begin(self, logs=None):
            calls.append("test_begin")

        def on_epoch_end(self, epoch, logs=None):
            calls.append(f"epoch_end {epoch} {sorted(logs)}")

        def on_train_end(self, logs=None):
            calls.append("train_end")

    rec = Recorder()
    model = compiled(mk)
    model.fit(x, y, batch_size=6, epochs=2, validation_data=(x, y), callbacks=[rec], verbose=0)
    assert rec.model is model and rec.params["epochs"] == 2 and rec.params["steps"] == 2
    assert calls == [
        "train_begin",
        "epoch_begin 0", "batch_end 0 ['accuracy', 'loss']", "batch_end 1 ['accuracy', 'loss']", "test_begin",
        "epoch_end 0 ['accuracy', 'loss', 'val_accuracy', 'val_loss']",
        "epoch_begin 1", "batch_end 0 ['accuracy', 'loss']", "batch_end 1 ['accuracy', 'loss']", "test_begin",
        "epoch_end 1 ['accuracy', 'loss', 'val_accuracy', 'val_loss']",
        "train_end",
    ]


def test_batch_logs_are_running_means(mk):
    x, y = mk.people(12)
    seen = []
    model = compiled(mk, lr=0.0)
    cb = callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs["loss"]))
    hist = model.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[cb], verbose=0)
    assert len(seen) == 3 and seen[-1] == pytest.approx(hist.history["loss"][0])


def test_early_stopping_stops(mk):
    x, y = mk.people(20)
    model = compiled(mk, lr=0.0)  # nothing improves, so patience runs out
    stop = callbacks.EarlyStopping(monitor="loss", patience=2)
    hist = model.fit(x, y, epochs=20, shuffle=False, callbacks=[stop], verbose=0)
    assert len(hist.epoch) == 3 and stop.stopped_epoch == 2 and model.stop_training


def test_early_stopping_restores_best_weights(mk):
    x, y = mk.people(20)
    model = compiled(mk, lr=5.0)  # a huge step: the validation loss gets worse
    stop = callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
    snapshots = []
    keep = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: snapshots.append(model.get_weights()))
    hist = model.fit(x, y, epochs=10, validation_data=(x, y), callbacks=[keep, stop], verbose=0)
    best = int(np.argmin(hist.history["val_loss"]))
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), snapshots[best]))


def test_model_checkpoint_writes_files(mk, tmp_path):
    x, y = mk.people(16)
    model = compiled(mk)
    full = callbacks.ModelCheckpoint(str(tmp_path / "model_{epoch:02d}.gflow"))
    weights = callbacks.ModelCheckpoint(str(tmp_path / "w.safetensors"), save_weights_only=True)
    model.fit(x, y, epochs=2, validation_data=(x, y), callbacks=[full, weights], verbose=0)
    assert sorted(os.listdir(tmp_path)) == ["model_01.gflow", "model_02.gflow", "w.safetensors"]
    restored = load_model(tmp_path / "model_02.gflow")
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = mk.mlp()
    other.load_weights(tmp_path / "w.safetensors")
    for a, b in zip(other.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_stop_training_from_a_batch_hook(mk):
    x, y = mk.people(20)
    model = compiled(mk)

    class StopAfterTwo(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 1:
                self.model.stop_training = True

    hist = model.fit(x, y, batch_size=5, epochs=5, callbacks=[StopAfterTwo()], verbose=0)
    assert hist.epoch == [0] and model.optimizer.iterations == 2


def test_user_history_is_the_model_history(mk):
    x, y = mk.people(8)
    model = compiled(mk)
    mine = callbacks.History()
    result = model.fit(x, y, epochs=2, callbacks=[mine], verbose=0)
    assert result is mine and model.history is mine and len(mine.history["loss"]) == 2


def test_evaluate_and_predict_callbacks(mk):
    x, y = mk.people(8)
    model = compiled(mk)
    seen = []

    class Recorder(callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            seen.append(("test", batch))

        def on_predict_batch_end(self, batch, logs=None):
            seen.append(("predict", batch, logs["outputs"].shape))

    model.evaluate(x, y, batch_size=4, callbacks=[Recorder()], verbose=0)
    model.predict(x, batch_size=4, callbacks=[Recorder()], verbose=0)
    assert seen == [("test", 0), ("test", 1), ("predict", 0, (4, 2)), ("predict", 1, (4, 2))]
