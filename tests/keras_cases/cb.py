"""Differential cases: callbacks (and the optimizers' use_ema) against real Keras.

Each case runs the same tiny model (same weights, same data) through Keras's ``fit`` and gradflow's
``fit`` with the callback and compares what the callback does: the hooks it sees and their ``logs``,
its counters, the learning rates, the files it writes.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
import contextlib
import io
import os
import re
import struct
import tempfile
import warnings

import numpy as np
from keras_coverage import case

_RNG = np.random.default_rng(11)
_X = _RNG.normal(size=(8, 3)).astype("float32")
_Y = (_X @ np.array([[0.5], [-1.0], [0.25]], dtype="float32") + 0.1).astype("float32")
_XV = _RNG.normal(size=(4, 3)).astype("float32")
_YV = (_XV @ np.array([[0.5], [-1.0], [0.25]], dtype="float32")).astype("float32")
_W0 = [_RNG.normal(size=(3, 2)).astype("float32") * 0.5, np.zeros(2, "float32"),
       _RNG.normal(size=(2, 1)).astype("float32") * 0.5, np.zeros(1, "float32")]


def _model(mod, optimizer=None, metrics=("mae",)):
    """Dense(2, tanh) -> Dense(1) with the shared weights, compiled with ``optimizer`` (SGD(0.1))."""
    model = mod.Sequential([mod.Input((3,)), mod.layers.Dense(2, activation="tanh"), mod.layers.Dense(1)])
    model.set_weights([w.copy() for w in _W0])
    model.compile(optimizer=optimizer if optimizer is not None else mod.optimizers.SGD(0.1), loss="mse",
                  metrics=list(metrics))
    return model


def _fit(mod, callbacks, epochs=3, validation=True, optimizer=None, model=None, **kwargs):
    model = model if model is not None else _model(mod, optimizer)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        history = model.fit(_X, _Y, batch_size=4, epochs=epochs, shuffle=False, verbose=0, callbacks=callbacks,
                            validation_data=(_XV, _YV) if validation else None, **kwargs)
    return model, history


def _recorder(mod):
    """A Callback subclass recording (hook, index, sorted logs keys) on either side."""

    class Recorder(mod.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.calls = []
            self.values = []

        def _rec(self, hook, index, logs):
            self.calls.append((hook, index, tuple(sorted(logs or {}))))
            self.values.append({k: float(v) for k, v in (logs or {}).items() if np.ndim(v) == 0})

    for hook in ("on_train_begin", "on_train_end", "on_test_begin", "on_test_end", "on_predict_begin",
                 "on_predict_end"):
        setattr(Recorder, hook, lambda self, logs=None, _h=hook: self._rec(_h, None, logs))
    for hook in ("on_epoch_begin", "on_epoch_end", "on_train_batch_begin", "on_train_batch_end",
                 "on_test_batch_begin", "on_test_batch_end", "on_predict_batch_begin", "on_predict_batch_end"):
        setattr(Recorder, hook, lambda self, i, logs=None, _h=hook: self._rec(_h, i, logs))
    return Recorder()


def _close(ours, theirs, what, rtol=2e-5, atol=2e-6):
    np.testing.assert_allclose(np.asarray(ours, dtype="float64"), np.asarray(theirs, dtype="float64"), rtol=rtol,
                               atol=atol, err_msg=what)


def _same_values(ours, theirs, what):
    assert len(ours) == len(theirs), (what, len(ours), len(theirs))
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert sorted(a) == sorted(b), (what, i, sorted(a), sorted(b))
        for key in a:
            _close(a[key], b[key], f"{what} #{i} {key}", rtol=1e-4, atol=1e-5)


def _raises(exc, fn):
    try:
        fn()
    except exc:
        return
    raise AssertionError(f"{fn} did not raise {exc.__name__}")


def _weights(model):
    return [np.asarray(w) for w in model.get_weights()]


# -- Callback, CallbackList, History, LambdaCallback -----------------------------------------------
@case("callbacks", "Callback")
def callback_hooks(k, gf):
    """The hooks fit/evaluate/predict call, in order, with the same logs keys and values."""
    records = []
    for mod in (k, gf):
        rec = _recorder(mod)
        model, _ = _fit(mod, [rec], epochs=2)
        assert rec.model is model and rec.params["epochs"] == 2 and rec.params["steps"] == 2, rec.params
        with contextlib.redirect_stdout(io.StringIO()):
            model.evaluate(_XV, _YV, batch_size=2, verbose=0, callbacks=[rec])
            model.predict(_XV, batch_size=2, verbose=0, callbacks=[rec])
        records.append(rec)
    theirs, ours = records
    assert ours.calls == theirs.calls, "\n".join(map(str, zip(ours.calls, theirs.calls)))
    _same_values(ours.values, theirs.values, "logs")
    base_k, base_g = k.callbacks.Callback(), gf.callbacks.Callback()
    assert base_g.params == base_k.params and base_g.model is None
    for hook in ("on_batch_begin", "on_batch_end", "on_epoch_begin", "on_train_batch_end", "on_predict_end"):
        assert callable(getattr(base_g, hook))


@case("callbacks", "CallbackList")
def callback_list(k, gf):
    """Default History/ProgbarLogger, set_model/set_params propagation, the same hook calls."""
    out = []
    for mod in (k, gf):
        a, b = _recorder(mod), _recorder(mod)
        model = _model(mod)
        cbl = mod.callbacks.CallbackList([a, b], add_history=True, add_progbar=True, model=model, verbose=0,
                                         epochs=1, steps=2)
        kinds = [type(cb).__name__ for cb in cbl.callbacks]
        assert a.model is model and b.params == {"verbose": 0, "epochs": 1, "steps": 2}, b.params
        with contextlib.redirect_stdout(io.StringIO()):
            cbl.on_train_begin()
            cbl.on_epoch_begin(0)
            cbl.on_train_batch_begin(0)
            cbl.on_train_batch_end(0, {"loss": 1.5})
            cbl.on_epoch_end(0, {"loss": 1.5})
            cbl.on_train_end()
        out.append((kinds, a.calls, b.calls, model.history.history if mod is gf else cbl.callbacks[2].history))
    assert out[0][0] == out[1][0], (out[0][0], out[1][0])
    assert out[0][1:] == out[1][1:], (out[0][1:], out[1][1:])
    for mod in (k, gf):  # a given History is not doubled
        h = mod.callbacks.History()
        assert [type(c).__name__ for c in mod.callbacks.CallbackList([h], add_history=True).callbacks] == ["History"]


@case("callbacks", "History")
def history(k, gf):
    """The History fit returns: epochs, keys and values; model.history is it."""
    (km, kh), (gm, gh) = _fit(k, None), _fit(gf, None)
    assert gh.epoch == kh.epoch == [0, 1, 2] and sorted(gh.history) == sorted(kh.history), (gh.history, kh.history)
    for key in kh.history:
        _close(gh.history[key], kh.history[key], key, rtol=1e-4, atol=1e-5)
    assert gm.history is gh and km.history is kh
    assert gh.params == {**kh.params}, (gh.params, kh.params)


@case("callbacks", "LambdaCallback")
def lambda_callback(k, gf):
    out = []
    for mod in (k, gf):
        seen = []
        cb = mod.callbacks.LambdaCallback(
            on_epoch_begin=lambda e, logs: seen.append(("eb", e)),
            on_epoch_end=lambda e, logs: seen.append(("ee", e, sorted(logs))),
            on_train_batch_end=lambda b, logs: seen.append(("be", b, sorted(logs))),
            on_train_begin=lambda logs: seen.append(("tb",)), on_train_end=lambda logs: seen.append(("te",)),
            on_test_end=lambda logs: seen.append(("test_end", sorted(logs))))
        _fit(mod, [cb], epochs=2)
        out.append(seen)
    assert out[0] == out[1], (out[0], out[1])


# -- steering callbacks ------------------------------------------------------------------------------
@case("callbacks", "EarlyStopping")
def early_stopping(k, gf):
    """stopped_epoch, best, wait, best_epoch, the epochs run and restored weights; defaults and errors."""
    settings = [dict(monitor="loss", patience=1, min_delta=10.0, verbose=1),
                dict(monitor="val_loss", patience=1, baseline=1e-6, restore_best_weights=True),
                dict(monitor="val_mae", patience=1, mode="max", start_from_epoch=1, restore_best_weights=True)]
    for kwargs in settings:
        out = []
        for mod in (k, gf):
            cb = mod.callbacks.EarlyStopping(**kwargs)
            model, hist = _fit(mod, [cb], epochs=3)
            out.append((cb, hist.epoch, _weights(model)))
        (kc, ke, kw), (gc, ge, gw) = out
        assert ge == ke, (kwargs, ge, ke)
        for attr in ("stopped_epoch", "wait", "best_epoch", "patience", "min_delta", "baseline", "start_from_epoch"):
            assert getattr(gc, attr) == getattr(kc, attr), (kwargs, attr, getattr(gc, attr), getattr(kc, attr))
        _close(gc.best, kc.best, f"best {kwargs}", rtol=1e-4)
        for a, b in zip(gw, kw):
            _close(a, b, f"weights {kwargs}", rtol=1e-4, atol=1e-5)
    kd, gd = k.callbacks.EarlyStopping(), gf.callbacks.EarlyStopping()
    for attr in ("monitor", "patience", "min_delta", "verbose", "mode", "baseline", "restore_best_weights",
                 "start_from_epoch", "wait", "stopped_epoch", "best_weights"):
        assert getattr(gd, attr) == getattr(kd, attr), attr
    for mod in (k, gf):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            cb = mod.callbacks.EarlyStopping(mode="bogus")
        assert cb.mode == "auto" and caught, mod
        with warnings.catch_warnings(record=True) as caught:  # a missing monitor warns and stops nothing
            warnings.simplefilter("always")
            cb = mod.callbacks.EarlyStopping(monitor="val_nope", mode="min")
            _model_cb = _model(mod)
            cb.set_model(_model_cb)
            cb.on_train_begin()
            cb.on_epoch_end(0, {"loss": 1.0})
        assert any("val_nope" in str(w.message) for w in caught) and cb.wait == 0, mod


def _lr_sequence(mod, cbs, epochs=4, optimizer=None):
    seen = []
    probe = mod.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: seen.append(float(np.asarray(model.optimizer.learning_rate))))
    model = _model(mod, optimizer)
    _, hist = _fit(mod, list(cbs) + [probe], epochs=epochs, model=model)
    return seen, hist


@case("callbacks", "LearningRateScheduler")
def learning_rate_scheduler(k, gf):
    """The lr each epoch starts with, the logged learning_rate, one- and two-argument schedules, errors."""
    schedules = [lambda epoch: 0.1 / (epoch + 1), lambda epoch, lr: lr * 0.5 if epoch else lr,
                 lambda epoch, lr: float(np.float32(0.05))]
    for fn in schedules:
        (klr, kh), (glr, gh) = (_lr_sequence(mod, [mod.callbacks.LearningRateScheduler(fn)]) for mod in (k, gf))
        _close(glr, klr, "lr sequence", rtol=1e-6)
        _close(gh.history["learning_rate"], kh.history["learning_rate"], "logged lr", rtol=1e-6)
        for key in kh.history:
            _close(gh.history[key], kh.history[key], key, rtol=1e-4, atol=1e-5)
    for bad in (lambda epoch: 1, lambda epoch: "x"):  # not a float: ValueError on both
        for mod in (k, gf):
            _raises(ValueError, lambda: _fit(mod, [mod.callbacks.LearningRateScheduler(bad)], epochs=1))
    for mod in (k, gf):
        cb = mod.callbacks.LearningRateScheduler(lambda e: 0.1)
        assert cb.verbose == 0
        cb = mod.callbacks.LearningRateScheduler(lambda e: 0.25, verbose=1)
        cb.set_model(_model(mod))
        with contextlib.redirect_stdout(io.StringIO()) as out:
            cb.on_epoch_begin(0)
        assert "Epoch 1: LearningRateScheduler setting learning rate to 0.25." in out.getvalue(), out.getvalue()


@case("callbacks", "ReduceLROnPlateau")
def reduce_lr_on_plateau(k, gf):
    """The lr sequence, wait, cooldown_counter and best; min_lr; factor >= 1 refused."""
    settings = [dict(monitor="loss", factor=0.5, patience=1, min_delta=10.0, cooldown=1, min_lr=0.02),
                dict(monitor="val_loss", factor=0.2, patience=2, min_delta=1e-4),
                dict(monitor="val_mae", factor=0.5, patience=1, mode="max", min_delta=0.0)]
    for kwargs in settings:
        out = []
        for mod in (k, gf):
            cb = mod.callbacks.ReduceLROnPlateau(**kwargs)
            lrs, hist = _lr_sequence(mod, [cb], epochs=5)
            out.append((cb, lrs, hist))
        (kc, klr, kh), (gc, glr, gh) = out
        _close(glr, klr, f"lr sequence {kwargs}", rtol=1e-6)
        _close(gh.history["learning_rate"], kh.history["learning_rate"], "logged lr", rtol=1e-6)
        for attr in ("wait", "cooldown_counter", "cooldown", "patience", "factor", "min_lr"):
            assert getattr(gc, attr) == getattr(kc, attr), (kwargs, attr, getattr(gc, attr), getattr(kc, attr))
        _close(gc.best, kc.best, "best", rtol=1e-4)
    kd, gd = k.callbacks.ReduceLROnPlateau(), gf.callbacks.ReduceLROnPlateau()
    for attr in ("monitor", "factor", "patience", "verbose", "mode", "min_delta", "cooldown", "min_lr", "wait",
                 "cooldown_counter", "best"):
        assert getattr(gd, attr) == getattr(kd, attr), (attr, getattr(gd, attr), getattr(kd, attr))
    for mod in (k, gf):
        _raises(ValueError, lambda: mod.callbacks.ReduceLROnPlateau(factor=1.0))
        mod.callbacks.ReduceLROnPlateau(epsilon=1e-3)  # Keras ignores extra keywords


@case("callbacks", "TerminateOnNaN")
def terminate_on_nan(k, gf):
    """A NaN loss stops training at that batch (stop_training), or raises RuntimeError with raise_error."""
    x = _X.copy()
    x[5] = np.nan  # the second batch of the first epoch
    out = []
    for mod in (k, gf):
        rec = _recorder(mod)
        model = _model(mod)
        with contextlib.redirect_stdout(io.StringIO()) as printed, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with _finite_checks_off(mod):
                hist = model.fit(x, _Y, batch_size=4, epochs=3, shuffle=False, verbose=0,
                                 callbacks=[mod.callbacks.TerminateOnNaN(), rec])
        out.append(([c[:2] for c in rec.calls], hist.epoch, model.stop_training, printed.getvalue().strip()))
        assert mod.callbacks.TerminateOnNaN().raise_error is False
        with _finite_checks_off(mod):
            _raises(RuntimeError, lambda: _model(mod).fit(x, _Y, batch_size=4, epochs=1, shuffle=False, verbose=0,
                                                           callbacks=[mod.callbacks.TerminateOnNaN(True)]))
    assert out[0] == out[1], out


@contextlib.contextmanager
def _finite_checks_off(mod):
    """gradflow refuses NaN inputs before training (config.check_finite); Keras has no such check."""
    cfg = getattr(mod, "config", None)
    if mod.__name__ != "gradflow" or not hasattr(cfg, "check_finite"):
        yield
        return
    old = cfg.check_finite
    cfg.check_finite = False
    try:
        yield
    finally:
        cfg.check_finite = old


# -- callbacks that write files ----------------------------------------------------------------------
def _read_csv(path, sep=","):
    """The rows of a file that may hold ``,`` and ``;`` separated parts (appended with another separator)."""
    with open(path, newline="") as f:
        return [re.split("[,;]", line.rstrip("\r\n")) for line in f], open(path, newline="").read().count("\r\n")


def _same_csv(ours, theirs, what):
    (ours, ours_crlf), (theirs, theirs_crlf) = ours, theirs
    assert ours_crlf == theirs_crlf, (what, "line endings")
    assert len(ours) == len(theirs), (what, ours, theirs)
    for a, b in zip(ours, theirs):
        assert len(a) == len(b), (what, a, b)
        for x, y in zip(a, b):
            if x == y:
                continue
            _close(float(x), float(y), f"{what}: {a} vs {b}", rtol=1e-4, atol=1e-5)


@case("callbacks", "CSVLogger")
def csv_logger(k, gf):
    """The same header and rows: with validation, without (Keras adds val_ columns of NA), appended, `;`."""
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for mod in (k, gf):
            path = os.path.join(tmp, f"{mod.__name__}.csv")
            _fit(mod, [mod.callbacks.CSVLogger(path)], epochs=2)
            first = _read_csv(path)
            _fit(mod, [mod.callbacks.CSVLogger(path, separator=";", append=True)], epochs=1, validation=False)
            appended = _read_csv(path, ";")
            path2 = os.path.join(tmp, f"{mod.__name__}2.csv")
            _fit(mod, [mod.callbacks.CSVLogger(path2, separator=";")], epochs=1, validation=False)
            rows.append((first, appended, _read_csv(path2, ";")))
            cb = mod.callbacks.CSVLogger(path)
            assert (cb.sep, cb.append, cb.filename, cb.keys) == (",", False, path, None)
        for what, ours, theirs in zip(("with validation", "appended", "no validation"), rows[1], rows[0]):
            _same_csv(ours, theirs, what)


def _checkpoint_names(mod, tmp, kwargs, epochs=3):
    folder = os.path.join(tmp, mod.__name__ + str(abs(hash(str(kwargs)))))
    kwargs = dict(kwargs)
    kwargs["filepath"] = os.path.join(folder, kwargs["filepath"])
    cb = mod.callbacks.ModelCheckpoint(**kwargs)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, _ = _fit(mod, [cb], epochs=epochs)
    names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
    return names, cb, model, [str(w.message) for w in caught], folder


@case("callbacks", "ModelCheckpoint")
def model_checkpoint(k, gf):
    """The files written (names from the format placeholders, save_best_only, save_weights_only, save_freq,
    initial_value_threshold), best, the saved weights; defaults and argument errors."""
    settings = [dict(filepath="w-{epoch:02d}-{val_loss:.1f}.weights.h5", save_weights_only=True),
                dict(filepath="best-{epoch}.weights.h5", save_weights_only=True, save_best_only=True,
                     monitor="loss"),
                dict(filepath="b{epoch}-{batch}.weights.h5", save_weights_only=True, save_freq=3),
                dict(filepath="t{epoch}.weights.h5", save_weights_only=True, save_best_only=True,
                     initial_value_threshold=0.0),
                dict(filepath="m{epoch}.weights.h5", save_weights_only=True, save_best_only=True, monitor="nope",
                     mode="min"),
                dict(filepath="model.keras", save_best_only=True, mode="max", monitor="val_mae")]
    with tempfile.TemporaryDirectory() as tmp:
        for kwargs in settings:
            (kn, kc, km, kwarn, kdir), (gn, gc, gm, gwarn, gdir) = (_checkpoint_names(mod, tmp, kwargs)
                                                                    for mod in (k, gf))
            assert gn == kn, (kwargs, gn, kn)
            assert (gc.best is None) == (kc.best is None), (kwargs, gc.best, kc.best)
            if kc.best is not None:
                _close(gc.best, kc.best, f"best {kwargs}", rtol=1e-4)
            assert bool(gwarn) == bool(kwarn), (kwargs, gwarn, kwarn)
            if kn and kn[-1].endswith(".weights.h5"):  # the last file holds the model's weights of then
                fresh_k, fresh_g = _model(k), _model(gf)
                fresh_k.load_weights(os.path.join(kdir, kn[-1]))
                fresh_g.load_weights(os.path.join(gdir, gn[-1]))
                for a, b in zip(_weights(fresh_g), _weights(fresh_k)):
                    _close(a, b, f"saved weights {kwargs}", rtol=1e-4, atol=1e-5)
    kd, gd = k.callbacks.ModelCheckpoint("x.keras"), gf.callbacks.ModelCheckpoint("x.keras")
    for attr in ("monitor", "verbose", "save_best_only", "save_weights_only", "mode", "save_freq", "best",
                 "filepath", "min_delta"):
        assert getattr(gd, attr) == getattr(kd, attr), (attr, getattr(gd, attr), getattr(kd, attr))
    for mod in (k, gf):
        for bad in (dict(filepath="x.keras", save_freq="batch"), dict(filepath="x.keras", save_weights_only=True)):
            _raises(ValueError, lambda: mod.callbacks.ModelCheckpoint(**bad))


class _Interrupt(Exception):
    pass


def _interrupter(mod, at_epoch, at_batch=None):
    def stop(hook_epoch, hook_batch):
        if hook_epoch == at_epoch and hook_batch == at_batch:
            raise _Interrupt

    state = {"epoch": 0}
    return mod.callbacks.LambdaCallback(
        on_epoch_begin=lambda e, logs: state.update(epoch=e),
        on_epoch_end=lambda e, logs: stop(e, None),
        on_train_batch_end=lambda b, logs: stop(state["epoch"], b))


@case("callbacks", "BackupAndRestore")
def backup_and_restore(k, gf):
    """An interrupted fit resumes from the backup: the same epochs run, the same weights (SGD with momentum,
    so the optimizer's state is restored too); the folder is gone after a completed fit; errors."""
    with tempfile.TemporaryDirectory() as tmp:
        for save_freq, at in (("epoch", (0, None)), (3, (1, 0))):
            out = []
            for mod in (k, gf):
                folder = os.path.join(tmp, f"{mod.__name__}-{save_freq}")
                model = _model(mod, mod.optimizers.SGD(0.1, momentum=0.9))
                backup = mod.callbacks.BackupAndRestore(folder, save_freq=save_freq)
                _raises(_Interrupt, lambda: _fit(mod, [backup, _interrupter(mod, *at)], epochs=3, model=model,
                                                  validation=False))
                left = os.path.isdir(folder) and bool(os.listdir(folder))
                fresh = _model(mod, mod.optimizers.SGD(0.1, momentum=0.9))
                _, hist = _fit(mod, [mod.callbacks.BackupAndRestore(folder, save_freq=save_freq)], epochs=3,
                               model=fresh, validation=False)
                out.append((left, hist.epoch, _weights(fresh), os.path.exists(folder)))
            (kl, ke, kw, kx), (gl, ge, gw, gx) = out
            assert (gl, ge, gx) == (kl, ke, kx), (save_freq, (gl, ge, gx), (kl, ke, kx))
            for a, b in zip(gw, kw):
                _close(a, b, f"resumed weights save_freq={save_freq}", rtol=1e-4, atol=1e-5)
    kd, gd = k.callbacks.BackupAndRestore("d"), gf.callbacks.BackupAndRestore("d")
    for attr in ("backup_dir", "save_freq", "double_checkpoint", "delete_checkpoint"):
        assert getattr(gd, attr) == getattr(kd, attr), attr
    for mod in (k, gf):
        _raises(ValueError, lambda: mod.callbacks.BackupAndRestore(""))
        _raises(ValueError, lambda: mod.callbacks.BackupAndRestore("d", save_freq="batch"))


@case("callbacks", "ProgbarLogger")
def progbar_logger(k, gf):
    """The lines fit(verbose=2) prints (epoch headers, one summary per epoch, same keys), params, defaults."""
    outs = []
    for mod in (k, gf):
        model = _model(mod)
        bar = mod.callbacks.ProgbarLogger()
        with contextlib.redirect_stdout(io.StringIO()) as printed, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.fit(_X, _Y, batch_size=4, epochs=2, shuffle=False, verbose=2, callbacks=[bar],
                      validation_data=(_XV, _YV))
        lines = [line.strip() for line in printed.getvalue().splitlines() if line.strip()]
        outs.append((lines, bar.verbose, bar.epochs, bar.target))
    (kl, kv, ke, kt), (gl, gv, ge, gt) = outs
    assert (gv, ge, gt) == (kv, ke, kt), ((gv, ge, gt), (kv, ke, kt))
    assert [line for line in gl if line.startswith("Epoch")] == [line for line in kl if line.startswith("Epoch")]

    def keys(lines):
        return [[part.strip() for part in line.split(" - ") if ":" in part] for line in lines
                if line.startswith("2/2")]

    assert len(keys(gl)) == len(keys(kl)) == 2, (gl, kl)
    assert keys(gl) == keys(kl), (gl, kl)  # the same metrics, in the same order, with the same 4 digits


# -- the optimizers' moving averages (use_ema) and SwapEMAWeights -----------------------------------
def _ema_steps(mod, name, kwargs, steps=5):
    """``steps`` updates of two variables from the same gradients: (weights, averages, iterations)."""
    rng = np.random.default_rng(3)
    w0 = [rng.normal(size=(3, 2)).astype("float32"), rng.normal(size=(2,)).astype("float32")]
    grads = [[rng.normal(size=w.shape).astype("float32") for w in w0] for _ in range(steps)]
    if mod.__name__ == "gradflow":
        variables = [mod.Parameter(w.copy()) for w in w0]
        convert = np.copy
    else:
        variables = [mod.Variable(w.copy()) for w in w0]
        convert = mod.ops.convert_to_tensor
    opt = getattr(mod.optimizers, name)(use_ema=True, **kwargs)
    for g in grads:
        opt.apply_gradients(zip([convert(x) for x in g], variables))
    averages = [np.asarray(a.numpy() if hasattr(a, "numpy") else a) for a in opt._model_variables_moving_average]
    return [np.asarray(v.numpy()) for v in variables], averages, int(np.asarray(opt.iterations)), opt


@case("callbacks", "SwapEMAWeights")
def ema_and_swap(k, gf):
    """use_ema: the same weights and averages after several steps (Adam; SGD with ema_overwrite_frequency),
    config and argument errors; SwapEMAWeights: the same validation numbers, predictions and final weights."""
    for name, kwargs in (("Adam", {"ema_momentum": 0.9}), ("SGD", {"ema_overwrite_frequency": 2, "momentum": 0.5}),
                         ("SGD", {"ema_overwrite_frequency": 3, "ema_momentum": 0.5, "learning_rate": 0.1})):
        (kw, ka, ki, ko), (gw, ga, gi, go) = (_ema_steps(mod, name, kwargs) for mod in (k, gf))
        assert gi == ki, (name, kwargs)
        for a, b in zip(gw + ga, kw + ka):
            _close(a, b, f"{name}{kwargs}", rtol=1e-6, atol=1e-7)
        g_cfg, k_cfg = go.get_config(), ko.get_config()
        for key in ("use_ema", "ema_momentum", "ema_overwrite_frequency"):
            assert g_cfg[key] == k_cfg[key], key
        assert gf.optimizers.deserialize(k.optimizers.serialize(ko)).use_ema is True
    for mod in (k, gf):
        _raises(ValueError, lambda: mod.optimizers.SGD(use_ema=True, ema_momentum=1.5))
        _raises(ValueError, lambda: mod.optimizers.SGD(use_ema=True, ema_overwrite_frequency=1.5))
    # SwapEMAWeights in fit: validation with the averages, fit ends on them (finalize_variable_values)
    for swap_on_epoch in (False, True):
        out = []
        for mod in (k, gf):
            model = _model(mod, mod.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5))
            _, hist = _fit(mod, [mod.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch)], epochs=2, model=model)
            with contextlib.redirect_stdout(io.StringIO()):
                ev = model.evaluate(_XV, _YV, verbose=0, callbacks=[mod.callbacks.SwapEMAWeights()])
            out.append((hist.history, ev, _weights(model)))
        (kh, ke, kw), (gh, ge, gw) = out
        for key in kh:
            _close(gh[key], kh[key], f"{key} swap_on_epoch={swap_on_epoch}", rtol=1e-4, atol=1e-5)
        _close(ge, ke, "evaluate", rtol=1e-4, atol=1e-5)
        for a, b in zip(gw, kw):
            _close(a, b, "final weights", rtol=1e-4, atol=1e-5)
    for mod in (k, gf):
        assert mod.callbacks.SwapEMAWeights().swap_on_epoch is False
        model = _model(mod)  # an optimizer without use_ema: refused at the first swap
        _raises(ValueError, lambda: _fit(mod, [mod.callbacks.SwapEMAWeights()], epochs=1, model=model))


# -- TensorBoard --------------------------------------------------------------------------------------
def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC_TABLE = _crc32c_table()


def _masked_crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for b in data:
        crc = _CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _read_events(folder):
    """[(run, tag, step, value)] of every event file under ``folder``, each record's TFRecord framing and
    both masked CRC32Cs checked; value: a float (scalars), 'histogram', or the tensor's plugin name."""
    from tensorboardX.proto import event_pb2  # noqa: PLC0415 - the reader gradflow's writer ships with

    out = []
    for run in sorted(os.listdir(folder)):
        for name in sorted(os.listdir(os.path.join(folder, run))):
            assert name.startswith("events.out.tfevents."), name
            data = open(os.path.join(folder, run, name), "rb").read()
            pos = 0
            while pos < len(data):
                header = data[pos:pos + 8]
                (length,) = struct.unpack("<Q", header)
                (len_crc,) = struct.unpack("<I", data[pos + 8:pos + 12])
                assert len_crc == _masked_crc32c(header), "length CRC"
                body = data[pos + 12:pos + 12 + length]
                (body_crc,) = struct.unpack("<I", data[pos + 12 + length:pos + 16 + length])
                assert body_crc == _masked_crc32c(body), "data CRC"
                pos += 16 + length
                event = event_pb2.Event.FromString(body)
                for v in event.summary.value:
                    kind = v.WhichOneof("value")
                    value = (v.simple_value if kind == "simple_value" else "histogram" if kind == "histo"
                             else v.metadata.plugin_data.plugin_name)
                    out.append((run, v.tag, int(event.step), value))
    return out


class _FakeSummary:
    """Stands in for ``tensorflow.summary`` (absent here) under Keras's TensorBoard: records what it writes."""

    def __init__(self):
        self.records, self._default, self._record_if = [], [], []

    def create_file_writer(self, logdir):
        summary = self

        class Writer:
            def as_default(self, step=None):
                @contextlib.contextmanager
                def ctx():
                    summary._default.append((os.path.basename(logdir), step))
                    try:
                        yield
                    finally:
                        summary._default.pop()
                return ctx()

            def flush(self):
                pass

            def close(self):
                pass

        return Writer()

    @contextlib.contextmanager
    def record_if(self, condition):
        self._record_if.append(condition)
        try:
            yield
        finally:
            self._record_if.pop()

    def _write(self, tag, value, step):
        if not self._default or (self._record_if and not self._record_if[-1]()):
            return
        run, default_step = self._default[-1]
        self.records.append((run, tag, int(np.asarray(default_step if step is None else step)), value))

    def scalar(self, name, data, step=None):
        self._write(name, float(np.asarray(data)), step)

    def histogram(self, name, data, step=None):
        self._write(name, "histogram", step)


def _tags(records):
    """The records with layer numbering (dense_3 -> dense) taken out and time-based values dropped."""
    out = []
    for run, tag, step, value in records:
        tag = re.sub(r"_\d+/", "/", tag)
        if "steps_per_second" in tag or not isinstance(value, float):
            value = None
        out.append((run, tag, step, value))
    return out


@case("callbacks", "TensorBoard")
def tensorboard(k, gf):
    """The summaries (run, tag, step, value) Keras's TensorBoard writes on torch (its tf.summary calls
    recorded) are what gradflow writes in real event files (TFRecord framing and CRCs checked)."""
    settings = [dict(), dict(update_freq="batch", histogram_freq=2, write_steps_per_second=True),
                dict(update_freq=3, write_steps_per_second=False)]
    with tempfile.TemporaryDirectory() as tmp:
        for i, kwargs in enumerate(settings):
            fake = _FakeSummary()
            kcb = k.callbacks.TensorBoard(log_dir=os.path.join(tmp, f"k{i}"), write_graph=False, **kwargs)
            kcb._summary_module = fake
            _fit(k, [kcb], epochs=3)
            gdir = os.path.join(tmp, f"g{i}")
            _fit(gf, [gf.callbacks.TensorBoard(log_dir=gdir, write_graph=False, **kwargs)], epochs=3)
            theirs, ours = sorted(_tags(fake.records), key=str), sorted(_tags(_read_events(gdir)), key=str)
            if kwargs.get("update_freq") == 3:
                # Keras's record_if(step % 3 == 0) of the last batch stays active at the epoch's end (and in
                # on_test_end), so it drops the epoch summaries of most epochs; gradflow writes them all
                theirs, ours = ([r for r in rs if r[1].startswith("batch_")] for rs in (theirs, ours))
            assert [r[:3] for r in ours] == [r[:3] for r in theirs], (kwargs, sorted({r[:3] for r in ours} ^ {r[:3] for r in theirs}))
            for a, b in zip(ours, theirs):
                if isinstance(b[3], float):
                    _close(a[3], b[3], str(a), rtol=1e-4, atol=1e-5)
        gdir = os.path.join(tmp, "graph")
        _fit(gf, [gf.callbacks.TensorBoard(log_dir=gdir)], epochs=1, validation=False)
        assert ("train", "keras", 0, "graph_keras_model") in _read_events(gdir)
    kd, gd = k.callbacks.TensorBoard(), gf.callbacks.TensorBoard()
    for attr in ("log_dir", "histogram_freq", "write_graph", "write_images", "write_steps_per_second", "update_freq",
                 "embeddings_freq", "embeddings_metadata"):
        assert getattr(gd, attr) == getattr(kd, attr), attr
    assert gf.callbacks.TensorBoard(update_freq="batch").update_freq == k.callbacks.TensorBoard(
        update_freq="batch").update_freq == 1
    for mod in (k, gf):
        _raises(ValueError, lambda: mod.callbacks.TensorBoard(profile_batch=2))
