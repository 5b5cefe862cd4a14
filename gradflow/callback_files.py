"""Callbacks that write training state to files: ``BackupAndRestore`` (resume an interrupted
``fit`` where it stopped) and ``TensorBoard`` (event files TensorBoard reads, through tensorboardX:
``pip install "gradflow[tensorboard]"``). Keras 3's names and arguments."""
from __future__ import annotations

import json
import os

import numpy as np

from .callbacks import Callback

__all__ = ["BackupAndRestore", "TensorBoard"]


class BackupAndRestore(Callback):
    """Back up the weights, optimizer state and epoch to ``backup_dir`` (each epoch, or every
    ``save_freq`` batches); a later ``fit`` with the same callback restores them and continues from
    the next epoch. The backup is deleted when training completes (``delete_checkpoint``).
    Files are written atomically, so a crash mid-save leaves the previous backup whole."""

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a directory path")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive int, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.double_checkpoint, self.delete_checkpoint = save_freq, bool(double_checkpoint), \
            bool(delete_checkpoint)
        self._weights = os.path.join(self.backup_dir, "latest.weights.safetensors")
        self._optimizer = os.path.join(self.backup_dir, "latest.optimizer.safetensors")
        self._meta = os.path.join(self.backup_dir, "training_metadata.json")
        self._epoch = 0
        self._batches = 0

    def on_train_begin(self, logs=None):
        model = self.model
        if not os.path.exists(self._meta):
            return
        if not model.built:
            raise ValueError("BackupAndRestore: the model must be built before fit() to restore a backup; build it "
                             "(model.build(input_shape), or call it on a batch) first")
        from .saving.saving_lib import weights_from_bytes

        with open(self._meta) as f:
            meta = json.load(f)
        model.load_weights(self._weights)
        if os.path.exists(self._optimizer) and getattr(model, "optimizer", None) is not None:
            with open(self._optimizer, "rb") as f:
                keys, arrays, _ = weights_from_bytes(f.read(), self._optimizer, kind="gradflow.optimizer")
            model.optimizer.set_state(dict(zip(keys, arrays)), model._optimizer_params())
        self._epoch = int(meta["epoch"])
        model._initial_epoch = self._epoch

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.save_freq == "epoch":
            self._save()

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches % self.save_freq == 0:
                self._save()

    def _save(self):
        from .distribution import writes_files
        from .saving.saving_lib import atomic_write, weights_to_bytes

        if not writes_files():  # data parallel: rank 0's backup is the job's
            return
        model = self.model
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights):
            for path in (self._weights, self._optimizer, self._meta):
                if os.path.exists(path):
                    os.replace(path, path + ".prev")
        model.save_weights(self._weights)
        opt = getattr(model, "optimizer", None)
        if opt is not None and getattr(opt, "built", False):
            state = opt.get_state(model._optimizer_params())
            names = list(state)
            data = weights_to_bytes(names, [np.asarray(state[k]) for k in names], kind="gradflow.optimizer")
            atomic_write(self._optimizer, lambda f: f.write(data))
        meta = json.dumps({"epoch": self._epoch}).encode()
        atomic_write(self._meta, lambda f: f.write(meta))

    def on_train_end(self, logs=None):
        from .distribution import writes_files

        if self.delete_checkpoint and writes_files() and not getattr(self.model, "stop_training_interrupted", False):
            for path in (self._weights, self._optimizer, self._meta):
                for p in (path, path + ".prev"):
                    if os.path.exists(p):
                        os.remove(p)


class TensorBoard(Callback):
    """Write the epoch's losses and metrics (``train/`` and ``validation/`` runs under ``log_dir``),
    the learning rate, and with ``histogram_freq`` the weight histograms, as TensorBoard event files.
    ``update_freq`` 'epoch' (default) or 'batch' / an int for batch-level scalars."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False, write_steps_per_second=False,
                 update_freq="epoch", profile_batch=0, embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        try:
            import tensorboardX  # noqa: F401
        except ImportError:
            raise ImportError('the TensorBoard callback writes event files through tensorboardX: '
                              'pip install "gradflow[tensorboard]"') from None
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq = int(histogram_freq)
        self.update_freq = update_freq
        if update_freq not in ("epoch", "batch") and (isinstance(update_freq, bool) or not isinstance(update_freq, int)):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or an int, got {update_freq!r}")
        self.write_steps_per_second = bool(write_steps_per_second)
        self._writers = {}
        self._step = 0

    def _writer(self, run):
        from .distribution import writes_files

        if not writes_files():  # data parallel: rank 0 logs the job's (global) figures
            return _NoWriter()
        if run not in self._writers:
            from tensorboardX import SummaryWriter

            self._writers[run] = SummaryWriter(os.path.join(self.log_dir, run))
        return self._writers[run]

    def on_train_begin(self, logs=None):
        self._step = 0

    def on_train_batch_end(self, batch, logs=None):
        self._step += 1
        every = 1 if self.update_freq == "batch" else self.update_freq
        if self.update_freq != "epoch" and self._step % every == 0:
            for key, value in (logs or {}).items():
                if np.ndim(value) == 0:
                    self._writer("train").add_scalar(f"batch_{key}", float(value), self._step)

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if np.ndim(value) != 0:
                continue
            run, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(run).add_scalar(f"epoch_{name}", float(value), epoch)
        opt = getattr(self.model, "optimizer", None)
        if opt is not None:
            self._writer("train").add_scalar("epoch_learning_rate", float(opt.learning_rate), epoch)
        if self.histogram_freq and (epoch + 1) % self.histogram_freq == 0:
            for w in self.model.weights:
                self._writer("train").add_histogram(w.name, w.numpy(), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class _NoWriter:
    """Stands in for a SummaryWriter on the data-parallel ranks that write nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
