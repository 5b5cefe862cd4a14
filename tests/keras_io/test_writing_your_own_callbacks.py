"""Port of keras-io ``guides/writing_your_own_callbacks.py`` (Keras 3 edition,
``guides/keras_core/writing_your_own_callbacks.py``).

Only the imports change; the callbacks record what they print, so the test can check it. MNIST ->
synthetic 784-d vectors with 256 train / 256 test samples (1000 / 1000 in the guide);
``np.Inf`` -> ``np.inf`` (removed in NumPy 2).
"""
import numpy as np
import pytest

import gradflow as keras


# Define the Keras model to add callbacks to
def get_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(
        optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
        loss="mean_squared_error",
        metrics=["mean_absolute_error"],
    )
    return model


@pytest.fixture
def data(mnist_vectors):
    x_train, y_train = mnist_vectors(256, seed=0)
    x_test, y_test = mnist_vectors(256, seed=1)
    return x_train, y_train.astype("float32"), x_test, y_test.astype("float32")


class CustomCallback(keras.callbacks.Callback):
    """The guide's callback; it prints `list(logs.keys())` at every hook, this one records them."""

    def __init__(self):
        super().__init__()
        self.events = []

    def _log(self, hook, logs, index=None):
        keys = sorted(logs.keys())  # raises if logs is None, as `list(logs.keys())` in the guide would
        self.events.append((hook, index, keys))

    def on_train_begin(self, logs=None):
        self._log("train_begin", logs)

    def on_train_end(self, logs=None):
        self._log("train_end", logs)

    def on_epoch_begin(self, epoch, logs=None):
        self._log("epoch_begin", logs, epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._log("epoch_end", logs, epoch)

    def on_test_begin(self, logs=None):
        self._log("test_begin", logs)

    def on_test_end(self, logs=None):
        self._log("test_end", logs)

    def on_predict_begin(self, logs=None):
        self._log("predict_begin", logs)

    def on_predict_end(self, logs=None):
        self._log("predict_end", logs)

    def on_train_batch_begin(self, batch, logs=None):
        self._log("train_batch_begin", logs, batch)

    def on_train_batch_end(self, batch, logs=None):
        self._log("train_batch_end", logs, batch)

    def on_test_batch_begin(self, batch, logs=None):
        self._log("test_batch_begin", logs, batch)

    def on_test_batch_end(self, batch, logs=None):
        self._log("test_batch_end", logs, batch)

    def on_predict_batch_begin(self, batch, logs=None):
        self._log("predict_batch_begin", logs, batch)

    def on_predict_batch_end(self, batch, logs=None):
        self._log("predict_batch_end", logs, batch)


METRICS = ["loss", "mean_absolute_error"]
EPOCH_KEYS = ["loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error"]


def test_hooks_order_and_log_keys(data):
    x_train, y_train, x_test, y_test = data
    model = get_model()
    cb = CustomCallback()
    model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5, callbacks=[cb])
    # 256 samples, half kept for validation -> one training batch and one validation batch of 128.
    # The log keys are what Keras 3 prints when running the guide.
    assert cb.events == [
        ("train_begin", None, []),
        ("epoch_begin", 0, []),
        ("train_batch_begin", 0, []),
        ("train_batch_end", 0, METRICS),
        ("test_begin", None, []),
        ("test_batch_begin", 0, []),
        ("test_batch_end", 0, METRICS),
        ("test_end", None, METRICS),
        ("epoch_end", 0, EPOCH_KEYS),
        ("train_end", None, EPOCH_KEYS),
    ]

    cb = CustomCallback()
    model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[cb])
    assert cb.events == [
        ("test_begin", None, []),
        ("test_batch_begin", 0, []),
        ("test_batch_end", 0, METRICS),
        ("test_batch_begin", 1, []),
        ("test_batch_end", 1, METRICS),
        ("test_end", None, METRICS),
    ]

    cb = CustomCallback()
    res = model.predict(x_test, batch_size=128, callbacks=[cb], verbose=0)
    assert res.shape == (256, 1)
    assert cb.events == [
        ("predict_begin", None, []),
        ("predict_batch_begin", 0, []),
        ("predict_batch_end", 0, ["outputs"]),
        ("predict_batch_begin", 1, []),
        ("predict_batch_end", 1, ["outputs"]),
        ("predict_end", None, []),
    ]


def test_two_epochs_hook_order(data):
    x_train, y_train, _, _ = data
    model = get_model()
    cb = CustomCallback()
    model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0, callbacks=[cb])
    hooks = [(hook, index) for hook, index, _ in cb.events]
    assert hooks == [
        ("train_begin", None),
        ("epoch_begin", 0), ("train_batch_begin", 0), ("train_batch_end", 0),
        ("train_batch_begin", 1), ("train_batch_end", 1), ("epoch_end", 0),
        ("epoch_begin", 1), ("train_batch_begin", 0), ("train_batch_end", 0),
        ("train_batch_begin", 1), ("train_batch_end", 1), ("epoch_end", 1),
        ("train_end", None),
    ]


class LossAndErrorPrintingCallback(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.lines = []
        self.train_batch_losses, self.test_batch_losses, self.epoch_logs = [], [], []

    def on_train_batch_end(self, batch, logs=None):
        self.train_batch_losses.append(logs["loss"])
        self.lines.append("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_test_batch_end(self, batch, logs=None):
        self.test_batch_losses.append(logs["loss"])
        self.lines.append("Up to batch {}, the average loss is {:7.2f}.".format(batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs.append(dict(logs))
        self.lines.append(
            "The average loss for epoch {} is {:7.2f} "
            "and mean absolute error is {:7.2f}.".format(epoch, logs["loss"], logs["mean_absolute_error"])
        )


def test_usage_of_logs_dict(data):
    x_train, y_train, x_test, y_test = data
    model = get_model()
    cb = LossAndErrorPrintingCallback()
    history = model.fit(x_train, y_train, batch_size=128, epochs=2, verbose=0, callbacks=[cb])
    assert len(cb.train_batch_losses) == 4 and len(cb.epoch_logs) == 2
    # Batch logs are running averages over the epoch so far, so an epoch's logs equal its last batch's.
    assert cb.epoch_logs[0]["loss"] == pytest.approx(cb.train_batch_losses[1], rel=1e-6)
    assert cb.epoch_logs[1]["loss"] == pytest.approx(cb.train_batch_losses[3], rel=1e-6)
    assert history.history["loss"] == pytest.approx([e["loss"] for e in cb.epoch_logs], rel=1e-6)
    assert cb.lines[2].startswith("The average loss for epoch 0 is")

    cb = LossAndErrorPrintingCallback()
    res = model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[cb])
    assert len(cb.test_batch_losses) == 2
    assert res[0] == pytest.approx(cb.test_batch_losses[-1], rel=1e-6)


class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    """Stop training when the loss is at its min, i.e. the loss stops decreasing.

    Arguments:
        patience: Number of epochs to wait after min has been hit. After this
        number of no improvement, training stops.
    """

    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        # best_weights to store the weights at which the minimum loss occurs.
        self.best_weights = None

    def on_train_begin(self, logs=None):
        # The number of epoch it has waited when loss is no longer minimum.
        self.wait = 0
        # The epoch the training stops at.
        self.stopped_epoch = 0
        # Initialize the best as infinity.
        self.best = np.inf

    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if np.less(current, self.best):
            self.best = current
            self.wait = 0
            # Record the best weights if current results is better (less).
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0:
            self.message = f"Epoch {self.stopped_epoch + 1}: early stopping"


def test_early_stopping_at_min_loss(data):
    x_train, y_train, _, _ = data
    model = get_model()
    stopper = EarlyStoppingAtMinLoss()
    history = model.fit(x_train, y_train, batch_size=64, epochs=30, verbose=0,
                        callbacks=[LossAndErrorPrintingCallback(), stopper])
    losses = history.history["loss"]
    # patience=0: training stops at the first epoch whose loss is not a new minimum.
    first_worse = next((i for i in range(1, len(losses)) if not losses[i] < min(losses[:i])), None)
    assert first_worse is not None, "RMSprop(0.1) on this data should not improve for 30 epochs in a row"
    assert len(losses) == first_worse + 1
    assert stopper.stopped_epoch == first_worse
    # ... and the weights were restored from the end of the best epoch
    for a, b in zip(model.get_weights(), stopper.best_weights):
        np.testing.assert_array_equal(a, b)
    assert stopper.message == f"Epoch {first_worse + 1}: early stopping"


class CustomLearningRateScheduler(keras.callbacks.Callback):
    """Learning rate scheduler which sets the learning rate according to schedule.

    Arguments:
        schedule: a function that takes an epoch index
            (integer, indexed from 0) and current learning rate
            as inputs and returns a new learning rate as output (float).
    """

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.seen = []

    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        # Get the current learning rate from model's optimizer.
        lr = self.model.optimizer.learning_rate
        # Call schedule function to get the scheduled learning rate.
        scheduled_lr = self.schedule(epoch, lr)
        # Set the value back to the optimizer before this epoch starts
        self.model.optimizer.learning_rate = scheduled_lr
        self.seen.append(f"Epoch {epoch}: Learning rate is {float(np.array(scheduled_lr))}.")

    def on_epoch_end(self, epoch, logs=None):
        self.seen[-1] = (self.seen[-1], float(np.array(self.model.optimizer.learning_rate)))


LR_SCHEDULE = [
    # (epoch to start, learning rate) tuples
    (3, 0.05),
    (6, 0.01),
    (9, 0.005),
    (12, 0.001),
]


def lr_schedule(epoch, lr):
    """Helper function to retrieve the scheduled learning rate based on epoch."""
    if epoch < LR_SCHEDULE[0][0] or epoch > LR_SCHEDULE[-1][0]:
        return lr
    for i in range(len(LR_SCHEDULE)):
        if epoch == LR_SCHEDULE[i][0]:
            return LR_SCHEDULE[i][1]
    return lr


def test_learning_rate_scheduling(data):
    x_train, y_train, _, _ = data
    model = get_model()
    scheduler = CustomLearningRateScheduler(lr_schedule)
    history = model.fit(x_train, y_train, batch_size=64, epochs=15, verbose=0,
                        callbacks=[LossAndErrorPrintingCallback(), scheduler])
    assert len(history.epoch) == 15
    expected = [0.1] * 3 + [0.05] * 3 + [0.01] * 3 + [0.005] * 3 + [0.001] * 3
    assert [lr for _, lr in scheduler.seen] == pytest.approx(expected, rel=1e-6)
    assert scheduler.seen[3][0] == "Epoch 3: Learning rate is 0.05."
