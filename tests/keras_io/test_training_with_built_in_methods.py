"""Port of keras-io ``guides/training_with_built_in_methods.py`` (Keras 3 edition,
``guides/keras_core/training_with_built_in_methods.py``).

Only the imports change. Left out: the tf.data / PyDataset / torch DataLoader sections and TensorBoard.
Substitutions: MNIST -> synthetic 784-d vectors; ``ops.one_hot`` (not in gradflow.ops) ->
``keras.utils.to_categorical``; the multi-input model's ``Conv1D`` + ``GlobalMaxPooling1D`` time-series
branch -> a ``Dense`` branch on a flat vector input.
"""
import os

import numpy as np
import pytest

import gradflow as keras
from gradflow import layers, ops


def get_uncompiled_model():
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs=inputs, outputs=outputs)
    return model


def get_compiled_model():
    model = get_uncompiled_model()
    model.compile(
        optimizer="rmsprop",
        loss="sparse_categorical_crossentropy",
        metrics=["sparse_categorical_accuracy"],
    )
    return model


@pytest.fixture
def mnist(mnist_vectors):
    x_train, y_train = mnist_vectors(320, seed=0)
    x_test, y_test = mnist_vectors(128, seed=1)
    y_train = y_train.astype("float32")
    y_test = y_test.astype("float32")
    # Reserve samples for validation (10,000 in the guide)
    x_val = x_train[-64:]
    y_val = y_train[-64:]
    x_train = x_train[:-64]
    y_train = y_train[:-64]
    return x_train, y_train, x_val, y_val, x_test, y_test


def test_first_end_to_end_example(mnist):
    x_train, y_train, x_val, y_val, x_test, y_test = mnist
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(),  # Optimizer
        # Loss function to minimize
        loss=keras.losses.SparseCategoricalCrossentropy(),
        # List of metrics to monitor
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    history = model.fit(
        x_train,
        y_train,
        batch_size=64,
        epochs=2,
        # We pass some validation for monitoring validation loss and metrics at the end of each epoch
        validation_data=(x_val, y_val),
        verbose=0,
    )
    assert set(history.history) == {
        "loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy",
    }
    assert history.history["loss"][1] < history.history["loss"][0]

    results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
    assert len(results) == 2  # test loss, test acc
    assert results[1] > 0.5

    predictions = model.predict(x_test[:3], verbose=0)
    assert predictions.shape == (3, 10)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)  # softmax probabilities


def test_string_identifiers_compile(mnist):
    x_train, y_train, *_ = mnist
    model = get_compiled_model()
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    history = model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
    assert set(history.history) == {"loss", "sparse_categorical_accuracy"}


def custom_mean_squared_error(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


class CustomMSE(keras.losses.Loss):
    def __init__(self, regularization_factor=0.1, name="custom_mse"):
        super().__init__(name=name)
        self.regularization_factor = regularization_factor

    def call(self, y_true, y_pred):
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        reg = ops.mean(ops.square(0.5 - y_pred), axis=-1)
        return mse + reg * self.regularization_factor


def test_custom_losses(mnist):
    x_train, y_train, _, _, x_test, y_test = mnist
    # We need to one-hot encode the labels to use MSE (guide: ops.one_hot(y_train, num_classes=10))
    y_train_one_hot = keras.utils.to_categorical(y_train, num_classes=10)
    y_test_one_hot = keras.utils.to_categorical(y_test, num_classes=10)

    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=custom_mean_squared_error)
    history = model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, verbose=0)
    assert set(history.history) == {"loss"}
    p = model.predict(x_test, verbose=0)
    np.testing.assert_allclose(model.evaluate(x_test, y_test_one_hot, batch_size=len(x_test), verbose=0),
                               np.mean((y_test_one_hot - p) ** 2), rtol=1e-4)

    model = get_uncompiled_model()
    model.compile(optimizer=keras.optimizers.Adam(), loss=CustomMSE())
    model.fit(x_train, y_train_one_hot, batch_size=64, epochs=1, verbose=0)
    p = model.predict(x_test, verbose=0)
    expected = np.mean((y_test_one_hot - p) ** 2) + 0.1 * np.mean((0.5 - p) ** 2)
    np.testing.assert_allclose(model.evaluate(x_test, y_test_one_hot, batch_size=len(x_test), verbose=0),
                               expected, rtol=1e-4)


class CategoricalTruePositives(keras.metrics.Metric):
    def __init__(self, name="categorical_true_positives", **kwargs):
        super().__init__(name=name, **kwargs)
        self.true_positives = self.add_variable(shape=(), name="ctp", initializer="zeros")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        values = ops.cast(y_true, "int32") == ops.cast(y_pred, "int32")
        values = ops.cast(values, "float32")
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, "float32")
            values = ops.multiply(values, sample_weight)  # not reached: no sample weights below
        self.true_positives.assign_add(ops.sum(values))

    def result(self):
        return self.true_positives

    def reset_state(self):
        # The state of the metric will be reset at the start of each epoch.
        self.true_positives.assign(0.0)


def test_custom_metric(mnist):
    x_train, y_train, _, _, x_test, y_test = mnist
    model = get_uncompiled_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[CategoricalTruePositives()],
    )
    history = model.fit(x_train, y_train.reshape(-1, 1), batch_size=64, epochs=3, verbose=0)
    assert set(history.history) == {"loss", "categorical_true_positives"}
    ctp = history.history["categorical_true_positives"]
    assert all(0 <= float(v) <= len(x_train) for v in ctp)  # reset every epoch, so at most one epoch's count
    assert float(ctp[-1]) > 0

    # evaluate resets the metric, then counts the correctly classified test samples
    results = model.evaluate(x_test, y_test.reshape(-1, 1), verbose=0, return_dict=True)
    correct = int(np.sum(np.argmax(model.predict(x_test, verbose=0), axis=1) == y_test))
    assert float(results["categorical_true_positives"]) == correct


class ActivityRegularizationLayer(layers.Layer):
    def call(self, inputs):
        self.add_loss(ops.sum(inputs) * 0.1)
        return inputs  # Pass-through layer.


def test_add_loss_in_layer_adds_to_main_loss(mnist):
    x_train, y_train, _, _, x_test, y_test = mnist
    inputs = keras.Input(shape=(784,), name="digits")
    x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
    # Insert activity regularization as a layer
    x = ActivityRegularizationLayer()(x)
    x = layers.Dense(64, activation="relu", name="dense_2")(x)
    outputs = layers.Dense(10, name="predictions")(x)

    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # The displayed loss will be much higher than before due to the regularization component.
    model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)

    # One batch: loss = mean cross-entropy + 0.1 * sum of dense_1's activations over the batch.
    logits = model.predict(x_test, verbose=0).astype("float64")
    log_probs = logits - logits.max(axis=1, keepdims=True)
    log_probs -= np.log(np.exp(log_probs).sum(axis=1, keepdims=True))
    ce = -np.mean(log_probs[np.arange(len(y_test)), y_test.astype("int64")])
    hidden = keras.Model(model.inputs, model.get_layer("dense_1").output).predict(x_test, verbose=0)
    expected = ce + 0.1 * hidden.astype("float64").sum()
    loss = model.evaluate(x_test, y_test, batch_size=len(x_test), verbose=0)
    np.testing.assert_allclose(loss, expected, rtol=1e-4)
    assert loss > ce


class LogisticEndpoint(keras.layers.Layer):
    def __init__(self, name=None):
        super().__init__(name=name)
        self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

    def call(self, targets, logits, sample_weights=None):
        # Compute the training-time loss value and add it to the layer using `self.add_loss()`.
        loss = self.loss_fn(targets, logits, sample_weights)
        self.add_loss(loss)

        # Return the inference-time prediction tensor (for `.predict()`).
        return ops.softmax(logits)


def test_logistic_endpoint_compiled_without_loss():
    inputs = keras.Input(shape=(3,), name="inputs")
    targets = keras.Input(shape=(10,), name="targets")
    logits = keras.layers.Dense(10)(inputs)
    predictions = LogisticEndpoint(name="predictions")(targets, logits)

    model = keras.Model(inputs=[inputs, targets], outputs=predictions)
    model.compile(optimizer="adam")  # No loss argument!

    rng = np.random.default_rng(0)
    data = {
        "inputs": rng.random((64, 3)).astype("float32"),
        "targets": rng.random((64, 10)).astype("float32"),
    }
    history = model.fit(data, epochs=5, batch_size=16, verbose=0)
    assert set(history.history) == {"loss"}
    assert history.history["loss"][-1] < history.history["loss"][0]
    preds = model.predict(data, verbose=0)
    np.testing.assert_allclose(preds.sum(axis=1), 1.0, rtol=1e-5)


def test_validation_split(mnist):
    x_train, y_train, *_ = mnist
    model = get_compiled_model()
    history = model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1, verbose=0)
    assert set(history.history) == {
        "loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy",
    }


def test_class_weight_and_sample_weight(mnist):
    x_train, y_train, _, _, x_test, y_test = mnist
    class_weight = {i: 1.0 for i in range(10)}
    # Set weight "2" for class "5", making this class 2x more important
    class_weight[5] = 2.0

    model = get_compiled_model()
    history = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    sample_weight = np.ones(shape=(len(y_train),))
    sample_weight[y_train == 5] = 2.0
    model = get_compiled_model()
    history = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    # Keras 3 losses reduce with "sum_over_batch_size": doubling every weight doubles the loss.
    plain = model.evaluate(x_test, y_test, verbose=0, return_dict=True)["loss"]
    doubled = model.evaluate(x_test, y_test, sample_weight=np.full(len(y_test), 2.0), verbose=0,
                             return_dict=True)["loss"]
    np.testing.assert_allclose(doubled, 2 * plain, rtol=1e-4)


def _multi_io_model():
    image_input = keras.Input(shape=(32, 32, 3), name="img_input")
    timeseries_input = keras.Input(shape=(20,), name="ts_input")  # guide: shape (None, 10) + Conv1D

    x1 = layers.Conv2D(3, 3)(image_input)
    x1 = layers.GlobalMaxPooling2D()(x1)

    x2 = layers.Dense(3)(timeseries_input)  # guide: Conv1D(3, 3) -> GlobalMaxPooling1D()

    x = layers.concatenate([x1, x2])

    score_output = layers.Dense(1, name="score_output")(x)
    class_output = layers.Dense(5, name="class_output")(x)

    return keras.Model(inputs=[image_input, timeseries_input], outputs=[score_output, class_output])


def _multi_io_data(n=64):
    rng = np.random.default_rng(0)
    img_data = rng.random(size=(n, 32, 32, 3)).astype("float32")
    ts_data = rng.random(size=(n, 20)).astype("float32")
    score_targets = rng.random(size=(n, 1)).astype("float32")
    class_targets = rng.random(size=(n, 5)).astype("float32")
    return img_data, ts_data, score_targets, class_targets


def test_multi_input_multi_output_losses_and_metrics():
    model = _multi_io_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.MeanSquaredError(),
            keras.losses.CategoricalCrossentropy(),
        ],
        metrics=[
            [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            [keras.metrics.CategoricalAccuracy()],
        ],
    )
    img_data, ts_data, score_targets, class_targets = _multi_io_data()
    history = model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1, verbose=0)
    assert set(history.history) == {
        "loss", "score_output_loss", "class_output_loss",
        "score_output_mean_absolute_percentage_error", "score_output_mean_absolute_error",
        "class_output_categorical_accuracy",
    }

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "score_output": keras.losses.MeanSquaredError(),
            "class_output": keras.losses.CategoricalCrossentropy(),
        },
        metrics={
            "score_output": [
                keras.metrics.MeanAbsolutePercentageError(),
                keras.metrics.MeanAbsoluteError(),
            ],
            "class_output": [keras.metrics.CategoricalAccuracy()],
        },
        loss_weights={"score_output": 2.0, "class_output": 1.0},
    )
    history = model.fit(
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
        batch_size=32,
        epochs=1,
        verbose=0,
    )
    h = history.history
    assert set(h) == {
        "loss", "score_output_loss", "class_output_loss",
        "score_output_mean_absolute_percentage_error", "score_output_mean_absolute_error",
        "class_output_categorical_accuracy",
    }
    results = model.evaluate([img_data, ts_data], [score_targets, class_targets], batch_size=64, verbose=0,
                             return_dict=True)
    np.testing.assert_allclose(results["loss"], 2.0 * results["score_output_loss"] + results["class_output_loss"],
                               rtol=1e-4)


def test_multi_output_fit_on_lists_and_dicts():
    model = _multi_io_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.MeanSquaredError(),
            keras.losses.CategoricalCrossentropy(),
        ],
    )
    img_data, ts_data, score_targets, class_targets = _multi_io_data()
    # Fit on lists
    model.fit([img_data, ts_data], [score_targets, class_targets], batch_size=32, epochs=1, verbose=0)
    # Alternatively, fit on dicts
    history = model.fit(
        {"img_input": img_data, "ts_input": ts_data},
        {"score_output": score_targets, "class_output": class_targets},
        batch_size=32,
        epochs=1,
        verbose=0,
    )
    assert set(history.history) == {"loss", "score_output_loss", "class_output_loss"}


def _simulate_early_stopping(values, min_delta, patience, epochs):
    """Keras 3's EarlyStopping rule (monitor a loss, mode "min", no baseline): how many epochs run."""
    best, wait = np.inf, 0
    for epoch, value in enumerate(values):
        wait += 1
        if value < best - min_delta:  # an improvement is a drop by more than min_delta
            best, wait = value, 0
            continue
        if wait >= patience and epoch > 0:
            return epoch + 1
    return epochs


def test_early_stopping_callback(mnist):
    x_train, y_train, *_ = mnist
    model = get_compiled_model()
    callbacks = [
        keras.callbacks.EarlyStopping(
            # Stop training when `val_loss` is no longer improving
            monitor="val_loss",
            # "no longer improving" being defined as "no better than 1e-2 less"
            min_delta=1e-2,
            # "no longer improving" being further defined as "for at least 2 epochs"
            patience=2,
            verbose=1,
        )
    ]
    history = model.fit(x_train, y_train, epochs=20, batch_size=64, callbacks=callbacks, validation_split=0.2,
                        verbose=0)
    val_loss = history.history["val_loss"]
    assert len(history.epoch) == _simulate_early_stopping(val_loss, 1e-2, 2, 20)


class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs):
        self.per_batch_losses = []

    def on_batch_end(self, batch, logs):
        self.per_batch_losses.append(logs.get("loss"))


def test_loss_history_callback(mnist):
    x_train, y_train, *_ = mnist
    model = get_compiled_model()
    cb = LossHistory()
    model.fit(x_train, y_train, epochs=2, batch_size=64, callbacks=[cb], verbose=0)
    assert len(cb.per_batch_losses) == 2 * 4  # 256 samples / 64 per batch, two epochs
    assert all(np.isfinite(float(v)) for v in cb.per_batch_losses)


def test_model_checkpoint_save_best_only(mnist):
    x_train, y_train, _, _, x_test, _ = mnist
    model = get_compiled_model()
    callbacks = [
        keras.callbacks.ModelCheckpoint(
            # Path where to save the model; overwrite only if `val_loss` has improved.
            # The saved model name will include the current epoch.
            filepath="mymodel_{epoch}.keras",
            save_best_only=True,  # Only save a model if `val_loss` has improved.
            monitor="val_loss",
            verbose=1,
        )
    ]
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, callbacks=callbacks, validation_split=0.2,
                        verbose=0)
    val_loss = history.history["val_loss"]
    expected = {"mymodel_1.keras"} | ({"mymodel_2.keras"} if val_loss[1] < val_loss[0] else set())
    assert set(f for f in os.listdir(".") if f.startswith("mymodel_")) == expected
    reloaded = keras.models.load_model("mymodel_1.keras")
    assert reloaded.predict(x_test[:2], verbose=0).shape == (2, 10)


def test_checkpoint_fault_tolerance(mnist):
    x_train, y_train, _, _, x_test, _ = mnist
    # Prepare a directory to store all the checkpoints.
    checkpoint_dir = "./ckpt"
    if not os.path.exists(checkpoint_dir):
        os.makedirs(checkpoint_dir)

    def make_or_restore_model():
        # Either restore the latest model, or create a fresh one if there is no checkpoint available.
        checkpoints = [checkpoint_dir + "/" + name for name in os.listdir(checkpoint_dir)]
        if checkpoints:
            latest_checkpoint = max(checkpoints, key=os.path.getmtime)
            return keras.models.load_model(latest_checkpoint)
        return get_compiled_model()

    model = make_or_restore_model()
    callbacks = [
        # This callback saves the model every 4 batches (100 in the guide).
        # We include the training loss in the saved model name.
        keras.callbacks.ModelCheckpoint(filepath=checkpoint_dir + "/model-loss={loss:.2f}.keras", save_freq=4)
    ]
    model.fit(x_train, y_train, epochs=1, callbacks=callbacks, verbose=0)  # 256 / 32 = 8 batches
    saved = os.listdir(checkpoint_dir)
    assert saved and all(name.startswith("model-loss=") and name.endswith(".keras") for name in saved)

    restored = make_or_restore_model()  # the last save came after the last batch
    np.testing.assert_allclose(restored.predict(x_test, verbose=0), model.predict(x_test, verbose=0),
                               rtol=1e-6, atol=1e-7)


def test_learning_rate_schedule_passed_to_optimizer():
    initial_learning_rate = 0.1
    lr_schedule = keras.optimizers.schedules.ExponentialDecay(
        initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
    )
    optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
    assert float(np.asarray(lr_schedule(0))) == pytest.approx(0.1)
    assert float(np.asarray(lr_schedule(99999))) == pytest.approx(0.1)
    assert float(np.asarray(lr_schedule(100000))) == pytest.approx(0.096)
    assert optimizer is not None
