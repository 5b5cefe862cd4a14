"""NaN/Inf never trains silently: data is checked before the first step, a non-finite batch loss
stops fit without applying that batch (weights, batch norm statistics and optimizer state stay as
after the previous batch), TerminateOnNaN stops cleanly at the same state."""
import numpy as np
import pytest

import gradflow as keras
from gradflow.layers import BatchNormalization, Dense
from gradflow.trainers.data_adapter import NonFiniteDataError
from gradflow.trainers.trainer import NonFiniteLossError

# the overflowing batches below make NumPy warn on the way; the tests check what the trainer does about it
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def regression(seed=0, n=64):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    return x, y


def model_with_bn():
    model = keras.Sequential([keras.Input(shape=(4,)), Dense(8, activation="relu"), BatchNormalization(), Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def snapshot(model):
    state = model.optimizer.get_state(model._optimizer_params())
    return [w.copy() for w in model.get_weights()], {k: np.asarray(v).copy() for k, v in state.items()}


def assert_same(a, b):
    (wa, oa), (wb, ob) = a, b
    assert len(wa) == len(wb) and all(np.array_equal(x, y) for x, y in zip(wa, wb))
    assert sorted(oa) == sorted(ob) and all(np.array_equal(oa[k], ob[k]) for k in oa)


@pytest.mark.parametrize("where", ["x", "y", "sample_weight", "validation x", "validation y"])
def test_fit_refuses_non_finite_data_before_the_first_step(where):
    x, y = regression()
    sw = np.ones(len(x), dtype="float32")
    vx, vy = x[:8].copy(), y[:8].copy()
    target = {"x": x, "y": y, "sample_weight": sw, "validation x": vx, "validation y": vy}[where]
    target.flat[5] = np.inf if where == "y" else np.nan
    target.flat[7] = np.nan
    model = model_with_bn()
    before = snapshot(model)
    with pytest.raises(NonFiniteDataError) as info:
        model.fit(x, y, sample_weight=sw, validation_data=(vx, vy), batch_size=8, epochs=1, verbose=0)
    message = str(info.value)
    name = where.split()[-1]
    assert f": {name} holds 2 non-finite values" in message
    assert ("validation_data" in message) == where.startswith("validation")
    first = np.unravel_index(5, target.shape)
    assert f"at index [{', '.join(str(int(i)) for i in first)}]" in message
    assert "check_finite" in message
    assert_same(snapshot(model), before)
    assert model.optimizer.iterations == 0


def test_evaluate_and_batch_sources_are_checked_too():
    x, y = regression()
    model = model_with_bn()
    bad = x.copy()
    bad[3, 1] = -np.inf
    with pytest.raises(NonFiniteDataError, match=r"evaluate: x holds 1 non-finite value .*index \[3, 1\]"):
        model.evaluate(bad, y, verbose=0)
    batches = [(x[:8], y[:8]), (bad[:8], y[:8])]
    with pytest.raises(NonFiniteDataError, match=r"fit: x holds 1 non-finite"):
        model.fit(iter(batches), epochs=1, verbose=0)
    assert model.optimizer.iterations == 1  # the clean first batch trained, the bad one did not
    # float64 data beyond float32's range turns into inf in the conversion: named as such
    with pytest.raises(NonFiniteDataError, match="after conversion from float64 to float32"):
        model.fit(x.astype("float64") * 1e300, y, epochs=1, verbose=0)


def test_the_check_can_be_turned_off(monkeypatch):
    x, y = regression()
    x[0, 0] = np.nan
    model = model_with_bn()
    monkeypatch.setattr(keras.config, "check_finite", False)
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # Keras's behaviour: trains into NaN
    assert np.isnan(history.history["loss"][-1])
    assert np.isnan(model.get_weights()[0]).all()


def exploding_data():
    """Finite data whose sample 37 (batch 4 at batch size 8) overflows float32 in the loss."""
    x, y = regression()
    y[37] = 3e30
    return x, y


class Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.after = []

    def on_train_batch_end(self, batch, logs=None):
        self.after.append(snapshot(self.model))


def test_a_non_finite_loss_stops_fit_before_its_update():
    x, y = exploding_data()
    model = model_with_bn()
    seen = Snapshots()
    with pytest.raises(NonFiniteLossError) as info:
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0, callbacks=[seen])
    message = str(info.value)
    assert message.startswith("fit: epoch 1, batch 4: the loss is ")
    assert "not applied" in message and "TerminateOnNaN" in message and "check_finite" in message
    assert not np.isfinite(info.value.value)
    assert len(seen.after) == 4
    assert model.optimizer.iterations == 4
    assert_same(snapshot(model), seen.after[-1])  # batch norm's moving statistics included
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_train_on_batch_refuses_a_non_finite_loss():
    x, y = exploding_data()
    model = model_with_bn()
    model.train_on_batch(x[:8], y[:8])
    before = snapshot(model)
    with pytest.raises(NonFiniteLossError, match="^train_on_batch: the loss is"):
        model.train_on_batch(x[32:40], y[32:40])
    assert_same(snapshot(model), before)


def test_terminate_on_nan_stops_cleanly_at_the_last_finite_batch(capsys):
    x, y = exploding_data()
    model = model_with_bn()
    seen = Snapshots()
    ended = []
    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0,
                        callbacks=[keras.callbacks.TerminateOnNaN(), seen,
                                   keras.callbacks.LambdaCallback(on_train_end=lambda logs: ended.append(1))])
    assert "Batch 4: Invalid loss, terminating training" in capsys.readouterr().out
    assert ended == [1] and len(history.history["loss"]) == 1
    assert model.optimizer.iterations == 4
    assert_same(snapshot(model), seen.after[3])
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_terminate_on_nan_raise_error():
    x, y = exploding_data()
    model = model_with_bn()
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 4"):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
                  callbacks=[keras.callbacks.TerminateOnNaN(raise_error=True)])
    assert model.optimizer.iterations == 4
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_a_forward_pass_that_overflows_batch_norm_statistics_is_not_applied():
    """The loss stays finite (batch norm normalises the huge sample away) but the moving variance
    would become inf, breaking inference: refused like a non-finite loss."""
    x, y = regression()
    x[37] = 3e30
    model = model_with_bn()
    seen = Snapshots()
    with pytest.raises(NonFiniteLossError, match=r"fit: epoch 1, batch 4: the forward pass made "
                                                 r"'batch_normalization(_\d+)?/moving_variance' NaN or Inf"):
        model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0, callbacks=[seen])
    assert model.optimizer.iterations == 4
    assert_same(snapshot(model), seen.after[-1])
    assert all(np.isfinite(w).all() for w in model.get_weights())
