"""One training path: ``make_train_function``/``make_test_function``/``make_predict_function`` decide
between the built-in step and a user's override, for fit, evaluate, predict and the ``*_on_batch``
calls alike; progress printing is the ``ProgbarLogger`` callback, added only when ``verbose``."""
import io
import sys

import numpy as np
import pytest

import gradflow as keras
from gradflow import callbacks, layers


class Counting(keras.Sequential):
    """A Sequential whose steps count their calls and defer to the built-in ones."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.calls = {"train": 0, "test": 0, "predict": 0}

    def train_step(self, data):
        self.calls["train"] += 1
        return super().train_step(data)

    def test_step(self, data):
        self.calls["test"] += 1
        return super().test_step(data)

    def predict_step(self, data):
        self.calls["predict"] += 1
        return super().predict_step(data)


def _counting(mk):
    model = Counting([layers.Dense(8, input_shape=(2,), activation="relu"), layers.Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def test_an_overridden_step_is_used_by_every_entry_point(mk):
    x, y = mk.people(12)
    model = _counting(mk)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, validation_data=(x, y))
    assert model.calls == {"train": 6, "test": 6, "predict": 0}
    model.train_on_batch(x[:4], y[:4])
    model.test_on_batch(x[:4], y[:4])
    model.evaluate(x, y, batch_size=6, verbose=0)
    assert model.calls == {"train": 7, "test": 9, "predict": 0}
    model.predict(x, batch_size=4, verbose=0)
    model.predict_on_batch(x[:3])
    model.predict(x[:2], verbose=0)  # the one-batch shortcut goes through the same function
    assert model.calls["predict"] == 5


def test_make_functions_choose_once_and_are_cached_until_compile(mk):
    plain = mk.mlp()
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    fn = plain.make_train_function()
    assert fn is plain.make_train_function() and fn is plain.train_function
    assert hasattr(fn, "on_nonfinite")  # the built-in atomic step
    assert plain.make_train_function(force=True) is not fn
    plain.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert plain.train_function is None and plain.test_function is None and plain.predict_function is None
    custom = _counting(mk)
    assert not hasattr(custom.make_train_function(), "on_nonfinite")  # the user's step, wrapped


def test_the_default_train_step_is_the_fast_step(mk):
    """Calling the built-in train_step directly equals train_on_batch (one path, one result)."""
    x, y = mk.people(8)
    a, b = mk.mlp(), mk.mlp()
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    a.train_on_batch(x, y)
    logs = b.train_step((x, y))
    assert set(logs) >= {"loss"}
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def _progbars(cbs):
    return [cb for cb in cbs if isinstance(cb, callbacks.ProgbarLogger)]


def test_fit_adds_a_progbar_logger_only_when_verbose(mk, monkeypatch, capsys):
    x, y = mk.people(8)
    model = mk.mlp()
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    made = []
    original = callbacks.CallbackList.__init__

    def record(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(callbacks.CallbackList, "__init__", record)
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=1)
    assert history is model.history
    assert len(_progbars(made[-1])) == 1 and made[-1].history is history
    assert capsys.readouterr().out.startswith("Epoch 1/1\n2/2 \u2501")
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert _progbars(made[-1]) == [] and capsys.readouterr().out == ""
    mine = callbacks.ProgbarLogger()
    model.fit(x, y, batch_size=4, epochs=2, verbose=2, callbacks=[mine])
    assert _progbars(made[-1]) == [mine]  # the user's own logger, not a second one
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Epoch 1/2" and out[2] == "Epoch 2/2" and len(out) == 4
    model.evaluate(x, y, verbose=0)
    assert _progbars(made[-1]) == []
    model.evaluate(x, y, verbose=2)
    assert len(_progbars(made[-1])) == 1


def test_a_quiet_progbar_asks_for_no_per_batch_calls(mk, monkeypatch):
    logger = callbacks.ProgbarLogger()
    logger.set_params({"verbose": 2, "epochs": 1, "steps": 3})
    assert not callbacks.CallbackList([logger]).has_batch_hooks("train")
    logger.set_params({"verbose": 1, "epochs": 1, "steps": 3})
    assert not callbacks.CallbackList([logger]).has_batch_hooks("train")  # captured stdout: final lines only

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stdout", Terminal())
    assert callbacks.CallbackList([logger]).has_batch_hooks("train")
    logger.on_train_begin()
    assert not callbacks.CallbackList([logger]).has_batch_hooks("test")  # validation inside fit is silent


def test_batch_logs_are_built_once_and_lazily_for_the_bar():
    built = []

    def logs_of():
        built.append(1)
        return {"loss": 1.0}

    class Reader(callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            self.logs = logs

    logger, reader = callbacks.ProgbarLogger(), Reader()
    logger.set_params({"verbose": 2, "epochs": 1, "steps": 3})
    cl = callbacks.CallbackList([logger])
    cl.batch_end("train", 0, logs_of)
    assert built == []  # nothing drawn: the logs were never needed
    cl = callbacks.CallbackList([reader, logger, Reader()])
    cl.batch_end("train", 0, logs_of)
    assert built == [1] and reader.logs == {"loss": 1.0}


def test_data_parallel_refuses_an_overridden_step(mk):
    from gradflow.distribution import DataParallel, DataParallelStrategy, FakeCommunicator

    model = _counting(mk)
    with pytest.raises(NotImplementedError, match="overrides train_step"):
        DataParallelStrategy(DataParallel(communicator=FakeCommunicator())).check_custom_step(model, "train")


def test_every_model_kind_implements_the_trainer_protocol(mk):
    from gradflow.trainers.protocol import TrainableModel

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    inputs = keras.Input((2,))
    functional = keras.Model(inputs, layers.Dense(2)(inputs))
    for model in (mk.mlp(), functional, Sub()):
        assert isinstance(model, TrainableModel), type(model).__name__


class _Penalty(layers.Layer):
    def call(self, x):
        self.add_loss(10.0)
        return x


def test_add_loss_counts_from_the_first_step_of_a_fresh_model(mk):
    x, y = mk.people(8)
    model = keras.Sequential([layers.Dense(2, input_shape=(2,), activation="softmax"), _Penalty()])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert model.train_on_batch(x, y) > 10.0
    plain = keras.Sequential([layers.Dense(2, input_shape=(2,), activation="softmax")])
    plain.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    assert plain.train_on_batch(x, y) < 10.0  # a model without add_loss has no such term
    model(x)
    model(x)
    assert len(model.losses) == 1  # an outermost call starts from no added losses


def test_an_overridden_train_step_gets_x_itself_when_fit_has_no_targets():
    # Keras's pack_x_y_sample_weight: fit(x) passes x (keras-io's VAE calls self.encoder(data)), fit([x])
    # passes ([x],), fit(x, y) passes (x, y)
    seen = []

    class Recording(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, x):
            return self.dense(x)

        def train_step(self, data):
            seen.append(type(data).__name__ if not isinstance(data, tuple) else
                        tuple(type(d).__name__ for d in data))
            return {}

    x = np.zeros((4, 3), np.float32)
    model = Recording()
    model.compile(optimizer="sgd")
    model.fit(x, epochs=1, batch_size=4, verbose=0)
    model.fit([x], epochs=1, batch_size=4, verbose=0)
    model.fit(x, np.zeros((4, 1), np.float32), epochs=1, batch_size=4, verbose=0)
    assert seen[0] not in ("tuple", "list") and not isinstance(seen[0], tuple)
    assert seen[1] == ("list",)
    assert len(seen[2]) == 2
