"""Callbacks against a tiny fake model and a fake fit loop."""
import csv
import math
import os

import numpy as np
import pytest

from gradflow import callbacks as cbs
from gradflow.callbacks.monitor import resolve_mode
from gradflow.optimizers import SGD, schedules


class FakeModel:
    """Just what callbacks touch: weights, stop_training, an optimizer, save/save_weights."""

    def __init__(self, lr=0.1, metrics_names=()):
        self.weights = [np.zeros(2)]
        self.stop_training = False
        self.optimizer = SGD(lr)
        self.saved = []
        self.metrics_names = list(metrics_names)

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]

    def save(self, path):
        self.saved.append(("model", path))
        with open(path, "w") as f:
            f.write("model")

    def save_weights(self, path):
        self.saved.append(("weights", path))
        with open(path, "w") as f:
            f.write("weights")


def fit(model, callbacks, epoch_logs, batches=2, batch_logs=None):
    """A fit loop as Keras runs it: epoch ``e``'s weights are ``[e, e]`` and its logs ``epoch_logs[e]``."""
    cl = cbs.CallbackList(callbacks, add_history=True, model=model, epochs=len(epoch_logs), steps=batches)
    model.stop_training = False
    cl.on_train_begin()
    epochs_run = 0
    for epoch, logs in enumerate(epoch_logs):
        cl.on_epoch_begin(epoch)
        for b in range(batches):
            cl.on_train_batch_begin(b)
            cl.on_train_batch_end(b, dict(batch_logs[epoch][b]) if batch_logs else {"loss": 1.0})
            if model.stop_training:
                break
        model.weights = [np.full(2, float(epoch))]
        logs = dict(logs)
        cl.on_epoch_end(epoch, logs)
        epochs_run += 1
        if model.stop_training:
            break
    cl.on_train_end()
    return cl.history, epochs_run


def losses(*values, key="val_loss"):
    return [{key: v, "loss": v} for v in values]


# -- base, list, history -------------------------------------------------------------------------------

def test_callback_list_fans_out_every_hook_in_order():
    calls = []

    class Recorder(cbs.Callback):
        def __init__(self, tag):
            super().__init__()
            self.tag = tag

        def __getattribute__(self, name):
            if name.startswith("on_") and name not in ("on_batch_begin", "on_batch_end"):
                tag = object.__getattribute__(self, "tag")
                return lambda *a, **k: calls.append((tag, name, a))
            return object.__getattribute__(self, name)

    a, b = Recorder("a"), Recorder("b")
    model = FakeModel()
    cl = cbs.CallbackList([a, b], model=model, verbose=0, epochs=3)
    assert a.model is model and b.params == {"verbose": 0, "epochs": 3}
    for hook in cbs.HOOKS:
        args = (1, {"x": 1}) if "batch" in hook or "epoch" in hook else ({"x": 1},)
        getattr(cl, hook)(*args)
    assert [c[:2] for c in calls] == [(t, h) for h in cbs.HOOKS for t in ("a", "b")]


def test_train_batch_hooks_call_the_old_names():
    seen = []

    class Old(cbs.Callback):
        def on_batch_end(self, batch, logs=None):
            seen.append(batch)

    cbs.CallbackList([Old()]).on_train_batch_end(4, {})
    assert seen == [4]


def test_has_batch_hooks():
    assert not cbs.CallbackList([cbs.History(), cbs.EarlyStopping()], add_history=True).has_batch_hooks()
    assert cbs.CallbackList([cbs.TerminateOnNaN()]).has_batch_hooks()
    assert cbs.CallbackList([cbs.LambdaCallback(on_train_batch_end=print)]).has_batch_hooks()
    assert not cbs.CallbackList([cbs.LambdaCallback(on_train_batch_end=print)]).has_batch_hooks("test")


def test_callback_list_rejects_non_callbacks():
    with pytest.raises(TypeError, match="Callback"):
        cbs.CallbackList([lambda: None])


def test_history_records_epoch_logs():
    model = FakeModel()
    history, n = fit(model, [], losses(3.0, 2.0, 1.0))
    assert n == 3
    assert history.epoch == [0, 1, 2]
    assert history.history == {"val_loss": [3.0, 2.0, 1.0], "loss": [3.0, 2.0, 1.0]}
    assert model.history is history


# -- EarlyStopping ---------------------------------------------------------------------------------------

def test_early_stopping_patience():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="val_loss", patience=2)
    _, n = fit(model, [es], losses(1.0, 0.5, 0.6, 0.7, 0.8, 0.1))
    assert n == 4 and es.stopped_epoch == 3 and model.stop_training
    assert es.best == 0.5 and es.best_epoch == 1


def test_early_stopping_patience_zero_stops_at_first_non_improvement():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="loss")
    _, n = fit(model, [es], losses(1.0, 0.9, 0.95, 0.5))
    assert n == 3


def test_early_stopping_min_delta():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="val_loss", min_delta=0.1, patience=1)
    # improvements of 0.05 do not count
    _, n = fit(model, [es], losses(1.0, 0.95, 0.9, 0.85, 0.8))
    assert n == 2


def test_early_stopping_mode_max_and_auto():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="val_accuracy", patience=1)  # auto -> max
    _, n = fit(model, [es], losses(0.5, 0.6, 0.55, 0.5, 0.9, key="val_accuracy"))
    assert n == 3 and es.best == 0.6
    es = cbs.EarlyStopping(monitor="val_accuracy", patience=1, mode="min")
    _, n = fit(model, [es], losses(0.5, 0.6, 0.55, 0.5, 0.9, key="val_accuracy"))
    assert n == 2
    for name, want in [("val_auc", "max"), ("precision", "max"), ("val_recall", "max"), ("acc", "max"),
                       ("val_loss", "min"), ("mse", "min"), ("mean_absolute_error", "min")]:
        assert resolve_mode("auto", name, model) == want, name


def test_mode_auto_uses_a_metric_direction_when_the_model_has_one():
    class Metric:
        name, direction = "score", "up"

    model = FakeModel()
    model.metrics = [Metric()]
    assert resolve_mode("auto", "val_score", model) == "max"


def test_early_stopping_restore_best_weights():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    fit(model, [es], losses(1.0, 0.2, 0.6, 0.7, 0.8))
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])  # epoch 1 was best


def test_early_stopping_restores_at_the_end_even_without_stopping():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="val_loss", patience=5, restore_best_weights=True)
    _, n = fit(model, [es], losses(1.0, 0.2, 0.6))
    assert n == 3 and not model.stop_training
    np.testing.assert_array_equal(model.weights[0], [1.0, 1.0])


def test_early_stopping_baseline_and_start_from_epoch():
    model = FakeModel()
    values = (0.9, 0.8, 0.85, 0.7, 0.75, 0.76)
    es = cbs.EarlyStopping(monitor="val_loss", patience=2, baseline=0.5)
    _, n = fit(model, [es], losses(*values))  # improvements that miss the baseline do not reset the wait
    assert n == 3
    _, n = fit(model, [cbs.EarlyStopping(monitor="val_loss", patience=2)], losses(*values))
    assert n == 6
    es = cbs.EarlyStopping(monitor="val_loss", patience=0, start_from_epoch=3)
    _, n = fit(model, [es], losses(1.0, 2.0, 3.0, 1.0, 2.0, 0.1))
    assert n == 5


def test_early_stopping_missing_monitor_warns_and_skips():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="val_loss", patience=0)
    with pytest.warns(UserWarning, match="val_loss"):
        _, n = fit(model, [es], [{"loss": 1.0}, {"loss": 2.0}, {"loss": 3.0}])
    assert n == 3


def test_early_stopping_is_reusable():
    model = FakeModel()
    es = cbs.EarlyStopping(monitor="val_loss", patience=1)
    fit(model, [es], losses(0.1, 0.2, 0.3))
    _, n = fit(model, [es], losses(5.0, 4.0, 3.0, 2.0))  # a new fit starts from scratch
    assert n == 4


# -- ModelCheckpoint --------------------------------------------------------------------------------------

def test_model_checkpoint_formats_the_path(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "ckpt" / "model-{epoch:02d}-{val_loss:.2f}.keras")
    fit(model, [cbs.ModelCheckpoint(pattern)], losses(0.5, 0.25))
    want = [str(tmp_path / "ckpt" / "model-01-0.50.keras"), str(tmp_path / "ckpt" / "model-02-0.25.keras")]
    assert model.saved == [("model", p) for p in want]
    assert all(os.path.exists(p) for p in want)


def test_model_checkpoint_save_best_only_and_weights(tmp_path):
    model = FakeModel()
    path = str(tmp_path / "best.weights.h5")
    ck = cbs.ModelCheckpoint(path, monitor="val_loss", save_best_only=True, save_weights_only=True)
    fit(model, [ck], losses(1.0, 0.5, 0.7, 0.4, 0.6))
    assert [kind for kind, _ in model.saved] == ["weights"] * 3  # epochs 1, 2, 4
    assert ck.best == 0.4


def test_model_checkpoint_mode_max_with_epoch_in_name(tmp_path):
    model = FakeModel()
    pattern = str(tmp_path / "m{epoch}.keras")
    ck = cbs.ModelCheckpoint(pattern, monitor="val_accuracy", save_best_only=True)
    fit(model, [ck], losses(0.5, 0.4, 0.7, key="val_accuracy"))
    assert [p for _, p in model.saved] == [str(tmp_path / "m1.keras"), str(tmp_path / "m3.keras")]


def test_model_checkpoint_missing_monitor_warns_and_saves(tmp_path):
    model = FakeModel()
    ck = cbs.ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True)
    with pytest.warns(UserWarning, match="val_loss"):
        fit(model, [ck], [{"loss": 1.0}])
    assert len(model.saved) == 1  # as Keras: saved anyway


def test_model_checkpoint_batch_frequency_and_bad_field(tmp_path):
    model = FakeModel()
    ck = cbs.ModelCheckpoint(str(tmp_path / "e{epoch}-b{batch}.keras"), save_freq=2)
    fit(model, [ck], losses(1.0, 1.0), batches=3)
    names = [os.path.basename(p) for _, p in model.saved]
    assert names == ["e1-b2.keras", "e2-b1.keras", "e2-b3.keras"]
    with pytest.raises(KeyError, match="val_acc"):
        fit(FakeModel(), [cbs.ModelCheckpoint(str(tmp_path / "{val_acc}.keras"))], losses(1.0))
    with pytest.raises(ValueError, match="save_freq"):
        cbs.ModelCheckpoint("x.keras", save_freq="batch")


# -- learning rate callbacks --------------------------------------------------------------------------------

def test_learning_rate_scheduler_sets_the_optimizer_rate():
    model = FakeModel(lr=0.1)
    seen = []
    sched = cbs.LearningRateScheduler(lambda epoch, lr: lr * 0.5 if epoch > 0 else lr)
    spy = cbs.LambdaCallback(on_epoch_begin=lambda epoch, logs: seen.append(model.optimizer.learning_rate))
    history, _ = fit(model, [sched, spy], losses(1.0, 1.0, 1.0))
    assert seen == [0.1, 0.05, 0.025]
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025]
    one_arg = cbs.LearningRateScheduler(lambda epoch: 0.01 * (epoch + 1))
    fit(model, [one_arg], losses(1.0, 1.0))
    assert model.optimizer.learning_rate == 0.02
    with pytest.raises(ValueError, match="float"):
        fit(model, [cbs.LearningRateScheduler(lambda epoch, lr: "fast")], losses(1.0))


def test_learning_rate_scheduler_replaces_an_optimizer_schedule():
    model = FakeModel()
    model.optimizer = SGD(schedules.ExponentialDecay(0.1, 10, 0.5))
    fit(model, [cbs.LearningRateScheduler(lambda epoch, lr: 0.003)], losses(1.0))
    assert model.optimizer.learning_rate == 0.003


def test_reduce_lr_on_plateau():
    model = FakeModel(lr=1.0)
    rl = cbs.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2, min_lr=0.2)
    history, _ = fit(model, [rl], losses(1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0))
    # no improvement after epoch 0: reduce at epochs 2, 4, 6 (to 0.5, 0.25, then clamped to 0.2)
    assert history.history["learning_rate"] == [1.0, 1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert model.optimizer.learning_rate == 0.2


def test_reduce_lr_on_plateau_min_delta_cooldown_and_mode():
    model = FakeModel(lr=1.0)
    rl = cbs.ReduceLROnPlateau(monitor="val_loss", factor=0.1, patience=1, min_delta=0.1, cooldown=2)
    fit(model, [rl], losses(1.0, 0.95, 0.9, 0.85, 0.8, 0.75))
    # 0.95 is no improvement beyond min_delta -> reduce at epoch 1; cooldown epochs 2, 3; at 4: 0.8 vs
    # best 1.0 is an improvement; 0.75 is not -> reduce at 5
    assert model.optimizer.learning_rate == pytest.approx(0.01)
    model = FakeModel(lr=1.0)
    rl = cbs.ReduceLROnPlateau(monitor="val_accuracy", factor=0.5, patience=1)
    fit(model, [rl], losses(0.5, 0.6, 0.7, key="val_accuracy"))
    assert model.optimizer.learning_rate == 1.0  # accuracy going up is improvement (auto -> max)
    with pytest.raises(ValueError, match="factor"):
        cbs.ReduceLROnPlateau(factor=1.0)


def test_reduce_lr_on_plateau_missing_monitor_warns():
    model = FakeModel(lr=1.0)
    with pytest.warns(UserWarning, match="val_loss"):
        fit(model, [cbs.ReduceLROnPlateau(patience=0)], [{"loss": 1.0}] * 3)
    assert model.optimizer.learning_rate == 1.0


# -- CSVLogger, TerminateOnNaN, LambdaCallback --------------------------------------------------------------

def test_csv_logger_writes_sorted_columns(tmp_path):
    path = tmp_path / "log.csv"
    model = FakeModel(metrics_names=["loss", "val_loss", "val_accuracy"])
    fit(model, [cbs.CSVLogger(path)], [{"loss": 1.5, "val_loss": 2.0}, {"loss": 0.5, "val_loss": 1.0}])
    with open(path) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["epoch", "loss", "val_loss"]  # as Keras: the first epoch's keys
    assert rows[1] == ["0", "1.5", "2.0"]
    assert rows[2] == ["1", "0.5", "1.0"]


def test_csv_logger_append_and_separator(tmp_path):
    path = tmp_path / "log.tsv"
    fit(FakeModel(), [cbs.CSVLogger(path, separator="\t")], [{"loss": 1.0}])
    fit(FakeModel(), [cbs.CSVLogger(path, separator="\t", append=True)], [{"loss": 2.0}])
    # as Keras: without validation keys, val_ columns (NA) are added
    assert path.read_text().splitlines() == ["epoch\tloss\tval_loss", "0\t1.0\tNA", "0\t2.0\tNA"]
    fit(FakeModel(), [cbs.CSVLogger(path, separator="\t")], [{"loss": 3.0}])  # overwrite
    assert path.read_text().splitlines() == ["epoch\tloss\tval_loss", "0\t3.0\tNA"]


def test_terminate_on_nan(capsys):
    model = FakeModel()
    batch_logs = [[{"loss": 1.0}, {"loss": 1.0}], [{"loss": 1.0}, {"loss": math.nan}], [{"loss": 1.0}] * 2]
    _, n = fit(model, [cbs.TerminateOnNaN()], losses(1.0, 1.0, 1.0), batch_logs=batch_logs)
    assert n == 2 and model.stop_training
    assert "Invalid loss" in capsys.readouterr().out
    model = FakeModel()
    _, n = fit(model, [cbs.TerminateOnNaN()], losses(1.0), batch_logs=[[{"loss": math.inf}, {"loss": 1.0}]])
    assert model.stop_training


def test_lambda_callback():
    events = []
    cb = cbs.LambdaCallback(
        on_train_begin=lambda logs: events.append("train_begin"),
        on_epoch_begin=lambda epoch, logs: events.append(("epoch_begin", epoch)),
        on_epoch_end=lambda epoch, logs: events.append(("epoch_end", epoch, logs["loss"])),
        on_train_batch_end=lambda batch, logs: events.append(("batch_end", batch)),
        on_train_end=lambda logs: events.append("train_end"),
        on_test_begin=lambda logs: events.append("test_begin"),
    )
    fit(FakeModel(), [cb], losses(0.5), batches=2)
    assert events == ["train_begin", ("epoch_begin", 0), ("batch_end", 0), ("batch_end", 1),
                      ("epoch_end", 0, 0.5), "train_end"]
    cb.on_test_begin({})
    assert events[-1] == "test_begin"
    with pytest.raises(ValueError, match="unknown hook"):
        cbs.LambdaCallback(on_epoch_ending=print)


def test_verbose_messages(tmp_path, capsys):
    model = FakeModel(lr=1.0)
    fit(model, [
        cbs.EarlyStopping(monitor="val_loss", patience=1, verbose=1, restore_best_weights=True),
        cbs.ModelCheckpoint(str(tmp_path / "m.keras"), save_best_only=True, verbose=1),
        cbs.ModelCheckpoint(str(tmp_path / "n.keras"), verbose=1),
        cbs.ReduceLROnPlateau(patience=1, verbose=1),
        cbs.LearningRateScheduler(lambda epoch, lr: lr, verbose=1),
    ], losses(1.0, 2.0, 3.0))
    out = capsys.readouterr().out
    for text in ["early stopping", "Restoring model weights", "improved from None to 1.00000",
                 "did not improve from 1.00000", "saving model to", "reducing learning rate to 0.1",
                 "LearningRateScheduler setting learning rate to 1.0"]:
        assert text in out, text
