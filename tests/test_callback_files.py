"""BackupAndRestore resumes an interrupted fit exactly; TensorBoard writes event files TensorBoard reads."""
import struct

import numpy as np
import pytest

import gradflow as keras


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x[:, :1] * 2 - x[:, 1:2]).astype("float32")


def _model():
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    return model


class _Crash(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 2:
            raise KeyboardInterrupt("simulated interruption after epoch 3")


def test_backup_and_restore_resumes_where_training_stopped(tmp_path):
    x, y = _data()
    reference = _model()
    reference.fit(x, y, epochs=6, batch_size=16, shuffle=False, verbose=0)

    model = _model()
    backup = keras.callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=6, batch_size=16, shuffle=False, verbose=0, callbacks=[backup, _Crash()])
    assert (tmp_path / "backup" / "backup.safetensors").exists()
    resumed = _model()  # a fresh process would rebuild the model like this
    history = resumed.fit(x, y, epochs=6, batch_size=16, shuffle=False, verbose=0,
                          callbacks=[keras.callbacks.BackupAndRestore(tmp_path / "backup")])
    assert history.epoch == [3, 4, 5]  # continued after the three epochs that were backed up
    for a, b in zip(resumed.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not (tmp_path / "backup" / "backup.safetensors").exists()  # deleted once training completed


def _scalars(path):
    """(tag, step, value) of every scalar in a TensorBoard event file (TFRecord framing + Event protos)."""
    from tensorboardX.proto import event_pb2

    out, data = [], path.read_bytes()
    pos = 0
    while pos < len(data):
        (length,) = struct.unpack("<Q", data[pos:pos + 8])
        record = data[pos + 12:pos + 12 + length]
        pos += 12 + length + 4
        event = event_pb2.Event.FromString(record)
        for v in event.summary.value:
            out.append((v.tag, event.step, v.simple_value))
    return out


def test_tensorboard_writes_event_files(tmp_path):
    pytest.importorskip("tensorboardX")
    x, y = _data()
    model = _model()
    history = model.fit(x, y, epochs=3, batch_size=16, validation_split=0.25, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(log_dir=tmp_path / "logs", histogram_freq=1)])
    train = [f for f in (tmp_path / "logs" / "train").iterdir()]
    val = [f for f in (tmp_path / "logs" / "validation").iterdir()]
    assert len(train) == 1 and len(val) == 1
    losses = [(step, value) for tag, step, value in _scalars(train[0]) if tag == "epoch_loss"]
    assert [s for s, _ in losses] == [0, 1, 2]
    np.testing.assert_allclose([v for _, v in losses], history.history["loss"], rtol=1e-6)
    val_losses = [v for tag, _, v in _scalars(val[0]) if tag == "epoch_loss"]
    np.testing.assert_allclose(val_losses, history.history["val_loss"], rtol=1e-6)
