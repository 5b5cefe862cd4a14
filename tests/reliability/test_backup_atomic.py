"""BackupAndRestore as a set: one backup is one atomically replaced file (weights, optimizer state and
epoch together), and a damaged latest backup falls back to the previous one with a warning."""
import os

import numpy as np
import pytest

import gradflow as keras


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    return model


class _Stop(keras.callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_end(self, epoch, logs=None):
        if epoch + 1 == self.at:
            raise KeyboardInterrupt  # a crash after this epoch's backup


X, Y = np.ones((16, 3), np.float32), np.zeros((16, 2), np.float32)


def test_one_file_holds_the_whole_backup(tmp_path):
    folder = tmp_path / "b"
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=5, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(folder), _Stop(2)])
    assert sorted(os.listdir(folder)) == ["backup.safetensors"]  # no separate epoch file to disagree with
    resumed = _model()
    history = resumed.fit(X, Y, epochs=5, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(folder)])
    assert len(history.history["loss"]) == 3  # epochs 3-5 only: the epoch came with the weights


def test_a_damaged_latest_backup_falls_back_to_the_previous_one(tmp_path):
    folder = tmp_path / "b"
    model = _model()
    with pytest.raises(KeyboardInterrupt):
        model.fit(X, Y, epochs=5, verbose=0, callbacks=[
            keras.callbacks.BackupAndRestore(folder, double_checkpoint=True), _Stop(3)])
    (folder / "backup.safetensors").write_bytes(b"\x00" * 64)  # the latest is damaged
    resumed = _model()
    with pytest.warns(RuntimeWarning, match="latest backup could not be read.*restoring the previous one.*epoch 2"):
        history = resumed.fit(X, Y, epochs=5, verbose=0,
                              callbacks=[keras.callbacks.BackupAndRestore(folder, double_checkpoint=True)])
    assert len(history.history["loss"]) == 3  # resumed after epoch 2, from the previous backup
    folder.mkdir(exist_ok=True)  # a completed fit removed the folder (Keras)
    (folder / "backup.safetensors").write_bytes(b"\x00" * 64)
    (folder / "backup.prev.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ValueError, match="no backup in .* can be read"):
        _model().fit(X, Y, epochs=5, verbose=0, callbacks=[keras.callbacks.BackupAndRestore(folder)])
