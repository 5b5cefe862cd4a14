"""Port of keras-io ``examples/timeseries/timeseries_anomaly_detection.py`` ("Timeseries anomaly detection
using an Autoencoder": a Conv1D / Conv1DTranspose reconstruction autoencoder trained on a normal series;
windows whose reconstruction MAE exceeds the worst training MAE are anomalies).

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). Substitutions: the NAB CSV files (``art_daily_small_noise`` and
``art_daily_jumpsup``, read with pandas) -> synthetic daily cycles made here with numpy (a noisy periodic
series for training; the same with a block jumped up for testing); ``TIME_STEPS = 288`` (a day of 5-minute
points) -> 32 with 32 points a day; Conv1D/Conv1DTranspose filters 32 and 16 -> 8 and 4; ``epochs=50`` ->
6 (EarlyStopping kept); ``batch_size=128`` -> 32; plots dropped (their data is still computed and checked).

Compared with Keras: gradflow takes the Keras model's initial weights and both train with
``shuffle=False`` and Dropout rate 0 (the two frameworks draw different dropout masks); the histories,
the reconstruction errors and the anomalies found must agree.
"""
import numpy as np

import gradflow as keras
from gradflow import layers  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

TIME_STEPS = 32  # the example: 288
PER_DAY = 32
FILTERS = (8, 4)  # the example: (32, 16)
EPOCHS = 6  # the example: 50


def make_series(days=8, jump_at=None, seed=0):
    """One value per step: a daily cycle plus noise (the NAB stand-in); ``jump_at`` lifts a stretch."""
    rng = np.random.default_rng(seed)
    t = np.arange(days * PER_DAY)
    values = 20 + 10 * np.sin(2 * np.pi * t / PER_DAY) + rng.normal(0, 0.5, size=t.shape)
    if jump_at is not None:
        values[jump_at:jump_at + PER_DAY // 2] += 40
    return values.reshape(-1, 1).astype("float32")


# Generated training sequences for use in the model (the example's create_sequences).
def create_sequences(values, time_steps=TIME_STEPS):
    output = []
    for i in range(len(values) - time_steps + 1):
        output.append(values[i: (i + time_steps)])
    return np.stack(output)


def prepare():
    train_values = make_series(seed=0)
    training_mean, training_std = train_values.mean(), train_values.std()
    x_train = create_sequences((train_values - training_mean) / training_std)
    test_values = make_series(days=5, jump_at=3 * PER_DAY, seed=1)
    x_test = create_sequences((test_values - training_mean) / training_std)
    return x_train, x_test


def build_model(k, x_train, dropout=0.2):
    model = k.Sequential(
        [
            k.layers.Input(shape=(x_train.shape[1], x_train.shape[2])),
            k.layers.Conv1D(filters=FILTERS[0], kernel_size=7, padding="same", strides=2, activation="relu"),
            k.layers.Dropout(rate=dropout),
            k.layers.Conv1D(filters=FILTERS[1], kernel_size=7, padding="same", strides=2, activation="relu"),
            k.layers.Conv1DTranspose(filters=FILTERS[1], kernel_size=7, padding="same", strides=2,
                                     activation="relu"),
            k.layers.Dropout(rate=dropout),
            k.layers.Conv1DTranspose(filters=FILTERS[0], kernel_size=7, padding="same", strides=2,
                                     activation="relu"),
            k.layers.Conv1DTranspose(filters=1, kernel_size=7, padding="same"),
        ]
    )
    model.compile(optimizer=k.optimizers.Adam(learning_rate=0.001), loss="mse")
    return model


def train(k, model, x_train, shuffle=True):
    return model.fit(
        x_train,
        x_train,
        epochs=EPOCHS,
        batch_size=32,
        validation_split=0.1,
        callbacks=[k.callbacks.EarlyStopping(monitor="val_loss", patience=5, mode="min")],
        verbose=0,
        shuffle=shuffle,
    )


def detect(model, x_train, x_test):
    # Get train MAE loss; the worst training window sets the threshold.
    x_train_pred = model.predict(x_train, verbose=0)
    train_mae_loss = np.mean(np.abs(x_train_pred - x_train), axis=1)
    threshold = np.max(train_mae_loss)
    # Get test MAE loss.
    x_test_pred = model.predict(x_test, verbose=0)
    test_mae_loss = np.mean(np.abs(x_test_pred - x_test), axis=1)
    test_mae_loss = test_mae_loss.reshape(-1)
    # Detect all the samples which are anomalies.
    anomalies = test_mae_loss > threshold
    # data i is an anomaly if samples [(i - timesteps + 1) to (i)] are anomalies
    anomalous_data_indices = []
    for data_idx in range(TIME_STEPS - 1, len(x_test) - TIME_STEPS + 1):
        if np.all(anomalies[data_idx - TIME_STEPS + 1: data_idx]):
            anomalous_data_indices.append(data_idx)
    return train_mae_loss, test_mae_loss, threshold, anomalies, anomalous_data_indices


def test_timeseries_anomaly_detection(summary_params):
    x_train, x_test = prepare()
    assert x_train.shape == (8 * PER_DAY - TIME_STEPS + 1, TIME_STEPS, 1)
    model = build_model(keras, x_train)
    params, text = summary_params(model)
    # Conv1D 7*1*8+8 = 64; Conv1D 7*8*4+4 = 228; Conv1DTranspose 7*4*4+4 = 116; 7*4*8+8 = 232; 7*8*1+1 = 57
    assert params["total"] == 697
    assert "(None, 8, 4)" in text and "(None, 32, 1)" in text
    history = train(keras, model, x_train)
    assert set(history.history) == {"loss", "val_loss"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    train_mae, test_mae, threshold, anomalies, _ = detect(model, x_train, x_test)
    assert train_mae.shape == (len(x_train), 1) and test_mae.shape == (len(x_test),)
    assert np.isfinite(threshold)
    # the windows that hold the jump (steps 96..111) reconstruct worse than any training window
    jump_windows = np.arange(3 * PER_DAY - TIME_STEPS + 1, 3 * PER_DAY + PER_DAY // 2)
    assert anomalies[jump_windows].mean() > 0.5
    assert not anomalies[: 3 * PER_DAY - TIME_STEPS - 4].any()


def test_same_as_keras(real_keras):
    x_train, x_test = prepare()
    km, gm = build_model(real_keras, x_train, dropout=0.0), build_model(keras, x_train, dropout=0.0)
    assert [tuple(w.shape) for w in gm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    gm.set_weights(km.get_weights())
    hk = train(real_keras, km, x_train, shuffle=False).history
    hg = train(keras, gm, x_train, shuffle=False).history
    assert set(hg) == set(hk)
    for key in hk:
        np.testing.assert_allclose(hg[key], hk[key], rtol=2e-4, atol=1e-5, err_msg=key)
    for wk, wg in zip(km.get_weights(), gm.get_weights()):
        np.testing.assert_allclose(wg, wk, atol=2e-4)
    k_train, k_test, k_threshold, k_anomalies, k_indices = detect(km, x_train, x_test)
    g_train, g_test, g_threshold, g_anomalies, g_indices = detect(gm, x_train, x_test)
    np.testing.assert_allclose(g_train, k_train, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(g_test, k_test, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(g_threshold, k_threshold, rtol=1e-3)
    margin = np.abs(k_test - k_threshold) > 1e-3 * k_threshold  # decisions away from the threshold
    np.testing.assert_array_equal(g_anomalies[margin], k_anomalies[margin])
