"""The optimizers' use_ema (Keras 3's moving averages of the weights) and SwapEMAWeights, without Keras:
the average's recurrence by hand, the overwrite frequency, state round trips, the swap hooks."""
import numpy as np
import pytest

import gradflow as gf


def _steps(opt, n=4, seed=0):
    rng = np.random.default_rng(seed)
    w = gf.Parameter(rng.normal(size=(3,)).astype("float32"))
    history = []
    for _ in range(n):
        g = rng.normal(size=(3,)).astype("float32")
        opt.apply_gradients([(g, w)])
        history.append(w.numpy().copy())
    return w, history


def test_average_follows_keras_recurrence_in_float32():
    opt = gf.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.9)
    w, history = _steps(opt)
    (avg,) = opt._model_variables_moving_average
    want = history[0].copy()  # the first step: momentum 0, the average is the weights
    m = np.float32(0.9)
    for h in history[1:]:
        want = m * want + (np.float32(1) - m) * h
    assert avg.data.dtype == np.float32
    np.testing.assert_array_equal(avg.numpy(), want)
    np.testing.assert_array_equal(w.numpy(), history[-1])


def test_overwrite_frequency_puts_the_average_in_the_weights():
    opt = gf.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5, ema_overwrite_frequency=2)
    w, history = _steps(opt, n=4)
    (avg,) = opt._model_variables_moving_average
    np.testing.assert_array_equal(w.numpy(), avg.numpy())  # step 4 overwrote
    assert opt.iterations == 4


def test_state_round_trip_and_errors():
    opt = gf.optimizers.Adam(use_ema=True)
    w, _ = _steps(opt, n=3)
    state = opt.get_state([w])
    assert sorted(state) == ["iterations", "learning_rate", "param_0/average", "param_0/momentum",
                             "param_0/velocity"]
    other = gf.optimizers.Adam(use_ema=True)
    w2 = gf.Parameter(w.numpy().copy())
    other.set_state(state, [w2])
    np.testing.assert_array_equal(other._model_variables_moving_average[0].numpy(), state["param_0/average"])
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        gf.optimizers.SGD(use_ema=True, ema_overwrite_frequency=0.5)
    with pytest.raises(AttributeError):
        gf.optimizers.SGD(use_ema=True)._model_variables_moving_average  # noqa: B018 - none before a step


def test_swap_ema_weights_in_fit():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 1)).astype("float32")
    model = gf.Sequential([gf.Input((3,)), gf.layers.Dense(1)])
    model.compile(gf.optimizers.SGD(0.1, use_ema=True, ema_momentum=0.5), "mse")
    seen = []
    probe = gf.callbacks.LambdaCallback(on_test_begin=lambda logs: seen.append(model.get_weights()[0].copy()))
    model.fit(x, y, epochs=2, batch_size=4, verbose=0, validation_data=(x, y),
              callbacks=[gf.callbacks.SwapEMAWeights(), probe])
    (avg, _) = model.optimizer._model_variables_moving_average
    np.testing.assert_array_equal(seen[-1], avg.numpy())  # validation ran on the averages
    np.testing.assert_array_equal(model.get_weights()[0], avg.numpy())  # fit ends on them
    plain = gf.Sequential([gf.Input((3,)), gf.layers.Dense(1)])
    plain.compile("sgd", "mse")
    with pytest.raises(ValueError, match="use_ema"):
        plain.fit(x, y, epochs=1, verbose=0, validation_data=(x, y), callbacks=[gf.callbacks.SwapEMAWeights()])


def test_keras_file_holds_the_averages_in_keras_order(tmp_path):
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(8, 3)).astype("float32"), rng.normal(size=(8, 2)).astype("float32")
    model = gf.Sequential([gf.Input((3,)), gf.layers.Dense(2)])
    model.compile(gf.optimizers.Adam(use_ema=True), "mse")
    model.fit(x, y, epochs=1, batch_size=4, verbose=0)
    model.save(tmp_path / "m.keras")
    back = gf.saving.load_model(tmp_path / "m.keras")
    params = back._optimizer_params()
    assert back.optimizer.use_ema
    for key, value in model.optimizer.get_state(model._optimizer_params()).items():
        if key != "learning_rate":  # a float32 in the file
            np.testing.assert_array_equal(back.optimizer.get_state(params)[key], value, err_msg=key)
