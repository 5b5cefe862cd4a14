"""Port of keras-io ``examples/timeseries/timeseries_weather_forecasting.py`` ("Timeseries forecasting for
weather prediction": windows of past observations made with ``keras.preprocessing.timeseries_dataset_from_array``
(``sampling_rate`` keeps one point an hour), an ``LSTM(32)`` and a ``Dense(1)`` predicting the temperature
``future`` steps after the window, trained with EarlyStopping and a best-only weights ModelCheckpoint).

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). Substitutions: the Jena climate CSV (downloaded with ``get_file``, read with
pandas) -> 7 synthetic correlated features made here with numpy (temperature is feature 1, as in the
selected columns), 4000 rows instead of 420,551; ``past = 720, future = 72, step = 6`` -> 60, 12, 3;
``batch_size = 256`` -> 64; ``epochs = 10`` -> 3; ``LSTM(32)`` -> ``LSTM(16)``; ``model_checkpoint.h5`` ->
``model_checkpoint.weights.h5`` (Keras 3 names weights files so); ``dataset_train.take(1)`` -> ``next(iter(...))``
and ``dataset_val.take(5)`` -> the first 5 batches, as gradflow's dataset is a PyDataset (no tf.data);
plots dropped. Real Keras builds this dataset on tf.data, which is not installed here, so its run reads
gradflow's windows through a ``keras.utils.PyDataset`` view (``KerasView``).

Compared with Keras: gradflow takes the Keras model's initial weights and both read the batches in order
(``shuffle=False``); the histories and the validation predictions must agree.
"""
import numpy as np

import gradflow as keras
from gradflow import layers  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

ROWS = 4000  # the example: 420,551 rows of the Jena climate record
split_fraction = 0.715
train_split = int(split_fraction * ROWS)
step = 3  # the example: 6

past = 60  # the example: 720
future = 12  # the example: 72
learning_rate = 0.001
batch_size = 64  # the example: 256
epochs = 3  # the example: 10
UNITS = 16  # the example: 32


def make_features(seed=0):
    """7 features (pressure, temperature, ...) that drift with a daily cycle; temperature is column 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(ROWS)
    day = np.sin(2 * np.pi * t / 144)
    slow = np.cumsum(rng.normal(0, 0.05, ROWS))
    temperature = 10 + 8 * day + slow + rng.normal(0, 0.3, ROWS)
    cols = [1000 - 0.5 * slow + rng.normal(0, 0.5, ROWS), temperature]
    for i in range(5):
        cols.append((i + 1) * temperature * 0.1 + rng.normal(0, 0.5 + 0.1 * i, ROWS))
    return np.stack(cols, axis=1)


def normalize(data, train_split):
    data_mean = data[:train_split].mean(axis=0)
    data_std = data[:train_split].std(axis=0)
    return (data - data_mean) / data_std


def make_datasets(k):
    features = normalize(make_features(), train_split).astype("float32")
    train_data = features[:train_split]
    val_data = features[train_split:]
    # The training labels start at observation past + future.
    start = past + future
    end = start + train_split
    x_train = train_data[:, :7]
    y_train = features[start:end][:, [1]]
    sequence_length = int(past / step)
    dataset_train = keras.preprocessing.timeseries_dataset_from_array(
        x_train, y_train, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)
    # The validation windows leave out the last past + future rows, which have no label.
    x_end = len(val_data) - past - future
    label_start = train_split + past + future
    x_val = val_data[:x_end][:, :7]
    y_val = features[label_start:][:, [1]]
    dataset_val = keras.preprocessing.timeseries_dataset_from_array(
        x_val, y_val, sequence_length=sequence_length, sampling_rate=step, batch_size=batch_size)
    if k is not keras:
        dataset_train, dataset_val = keras_view(k, dataset_train), keras_view(k, dataset_val)
    return dataset_train, dataset_val


def keras_view(k, dataset):
    """gradflow's dataset as a Keras PyDataset (Keras would build it on tf.data, absent here)."""

    class KerasView(k.utils.PyDataset):
        def __len__(self):
            return len(dataset)

        def __getitem__(self, index):
            return dataset[index]

    return KerasView()


def build_model(k, inputs):
    inputs = k.layers.Input(shape=(inputs.shape[1], inputs.shape[2]))
    lstm_out = k.layers.LSTM(UNITS)(inputs)
    outputs = k.layers.Dense(1)(lstm_out)
    model = k.Model(inputs=inputs, outputs=outputs)
    model.compile(optimizer=k.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model


def train(k, model, dataset_train, dataset_val, shuffle=True):
    path_checkpoint = "model_checkpoint.weights.h5"  # the example: model_checkpoint.h5
    es_callback = k.callbacks.EarlyStopping(monitor="val_loss", min_delta=0, patience=5)
    modelckpt_callback = k.callbacks.ModelCheckpoint(
        monitor="val_loss", filepath=path_checkpoint, verbose=0, save_weights_only=True, save_best_only=True)
    return model.fit(dataset_train, epochs=epochs, validation_data=dataset_val,
                     callbacks=[es_callback, modelckpt_callback], verbose=0, shuffle=shuffle)


def test_timeseries_weather_forecasting(summary_params, tmp_path):
    dataset_train, dataset_val = make_datasets(keras)
    inputs, targets = next(iter(dataset_train))
    assert inputs.shape == (batch_size, past // step, 7) and targets.shape == (batch_size, 1)
    # the first window's target is the temperature past + future rows after its first step
    features = normalize(make_features(), train_split).astype("float32")
    np.testing.assert_array_equal(inputs[0], features[0:past:step])
    assert targets[0, 0] == features[past + future, 1]

    model = build_model(keras, inputs)
    params, _ = summary_params(model)
    assert params["total"] == 4 * (7 * UNITS + UNITS * UNITS + UNITS) + UNITS + 1
    history = train(keras, model, dataset_train, dataset_val)
    assert set(history.history) == {"loss", "val_loss"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert (tmp_path / "model_checkpoint.weights.h5").exists()
    for i, (x, y) in enumerate(dataset_val):
        if i == 5:
            break
        pred = model.predict(x, verbose=0)
        assert pred.shape == y.shape and np.isfinite(pred).all()


def test_same_as_keras(real_keras):
    g_train, g_val = make_datasets(keras)
    k_train, k_val = make_datasets(real_keras)
    inputs = next(iter(g_train))[0]
    km, gm = build_model(real_keras, inputs), build_model(keras, inputs)
    gm.set_weights(km.get_weights())
    hk = train(real_keras, km, k_train, k_val, shuffle=False).history
    hg = train(keras, gm, g_train, g_val, shuffle=False).history
    assert set(hg) == set(hk)
    for key in hk:
        np.testing.assert_allclose(hg[key], hk[key], rtol=2e-4, atol=1e-5, err_msg=key)
    x = g_val[0][0]
    np.testing.assert_allclose(gm.predict(x, verbose=0), km.predict(x, verbose=0), atol=2e-4)
