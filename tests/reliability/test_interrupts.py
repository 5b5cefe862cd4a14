"""Ctrl-C at any point of a training step leaves the model exactly at the end of a completed step.

Real SIGINTs are sent to the main thread after random delays while ``fit`` runs; after each
interrupted run, every weight (batch norm statistics included), every optimizer slot and
``iterations`` must equal, all together, what an uninterrupted run had after the same number of
steps.
"""
import signal
import threading
import time

import numpy as np
import pytest

import gradflow as keras
from gradflow.layers import BatchNormalization, Dense, Embedding, Flatten

pytestmark = pytest.mark.skipif(threading.current_thread() is not threading.main_thread(),
                                reason="signals reach only the main thread")


def state_of(model):
    params = model._optimizer_params()
    opt = model.optimizer.get_state(params)
    return [w.copy() for w in model.get_weights()] + [np.asarray(opt[k]).copy() for k in sorted(opt)]


def restore(model, snapshot_weights, snapshot_opt):
    model.set_weights(snapshot_weights)
    model.optimizer.set_state(snapshot_opt, model._optimizer_params())


def same(a, b) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


class Recorder(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.states = {}

    def on_train_batch_end(self, batch, logs=None):
        self.states[self.model.optimizer.iterations] = state_of(self.model)


class ByHand(keras.Model):
    """A README-style custom train_step: only the optimizer's own atomicity protects it. A large
    embedding table makes most of each step the optimizer's in-place update."""

    def __init__(self):
        super().__init__()
        self.table = Embedding(131072, 8)
        self.flat = Flatten()
        self.head = Dense(3)

    def call(self, x, training=False):
        return self.head(self.flat(self.table(x)))

    def train_step(self, data):
        x, y = data
        loss = self.compute_loss(y=y, y_pred=self(x, training=True))
        self.zero_grad()
        loss.backward()
        self.optimizer.apply([v.grad for v in self.trainable_weights], self.trainable_weights)
        return {"loss": loss}


def built_in():
    return keras.Sequential([keras.Input(shape=(48,)), Dense(192, activation="relu"), BatchNormalization(),
                             Dense(192, activation="relu"), Dense(3)])


@pytest.mark.parametrize("make", [built_in, ByHand], ids=["fit with batch norm", "custom train_step"])
def test_sigint_at_random_points_leaves_a_completed_step(make, monkeypatch):
    monkeypatch.setattr(keras.config, "kernels", "numpy")  # the same kernels every run (no timing-based choice)
    rng = np.random.default_rng(3)
    n = 48 if make is built_in else 24
    x = rng.standard_normal((n, 48)).astype("float32") if make is built_in else rng.integers(0, 131072, (n, 2))
    y = rng.integers(0, 3, n)
    model = make()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)  # slots exist from here on
    w0 = model.get_weights()
    opt0 = model.optimizer.get_state(model._optimizer_params())
    start = model.optimizer.iterations

    epochs = 2
    t0 = time.perf_counter()
    model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)
    duration = time.perf_counter() - t0  # how long the runs below take when nothing stops them
    restore(model, w0, opt0)
    recorder = Recorder()
    model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=[recorder])
    reference = recorder.states
    reference[start] = None  # filled below (the state before any step of the run)
    restore(model, w0, opt0)
    reference[start] = state_of(model)
    assert len(reference) == 1 + epochs * (n // 4)

    main = threading.main_thread().ident
    handler = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C raises KeyboardInterrupt, whatever ran before
    try:
        interrupted, mid_run = interrupt_at_random(model, x, y, epochs, duration, reference, main, rng, w0, opt0)
    finally:
        signal.signal(signal.SIGINT, handler)
    assert interrupted >= 12, f"only {interrupted} of 24 SIGINTs landed inside fit (handler before: {handler!r})"
    assert len(mid_run) >= 8  # ... at many different steps


def interrupt_at_random(model, x, y, epochs, duration, reference, main, rng, w0, opt0):
    interrupted, mid_run = 0, set()
    for trial in range(24):
        restore(model, w0, opt0)
        delay = float(rng.uniform(0.0, duration))
        timer = threading.Timer(delay, signal.pthread_kill, (main, signal.SIGINT))
        try:
            try:
                timer.start()
                model.fit(x, y, batch_size=4, epochs=epochs, shuffle=False, verbose=0)
                timer.cancel()
            except KeyboardInterrupt:
                interrupted += 1
            timer.join()
            for _ in range(1000):  # a SIGINT sent just after fit returned is handled here
                pass
        except KeyboardInterrupt:
            pass
        k = model.optimizer.iterations
        assert k in reference, f"trial {trial}: iterations {k} is not a step of the run"
        consistent = same(state_of(model), reference[k])
        assert consistent, (
            f"trial {trial} (SIGINT after {delay * 1e3:.1f} ms): weights, slots and iterations ({k}) are not "
            f"those of one completed step")
        mid_run.add(k)
    return interrupted, mid_run
