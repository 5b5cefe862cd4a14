"""Callbacks that write files: ModelCheckpoint (the model or its weights), CSVLogger (epoch logs),
BackupAndRestore (resume an interrupted ``fit`` where it stopped) and TensorBoard (event files,
through tensorboardX: ``pip install "gradflow-keras[tensorboard]"``). Keras 3's names and arguments.
On a data-parallel job only rank 0 writes."""
from __future__ import annotations

import collections.abc
import csv
import os
import shutil
import time
import warnings

import numpy as np

from ..distribution import writes_files
from ..saving.saving_lib import atomic_write, weights_from_bytes, weights_to_bytes
from .callback import Callback
from .monitor import MonitorCallback

__all__ = ["ModelCheckpoint", "CSVLogger", "BackupAndRestore", "TensorBoard"]


class ModelCheckpoint(MonitorCallback):
    """Save the model (``model.save(path)``) or its weights (``model.save_weights(path)``) (Keras defaults:
    ``monitor='val_loss', verbose=0, save_best_only=False, save_weights_only=False, mode='auto',
    save_freq='epoch', initial_value_threshold=None``).

    ``filepath`` may hold ``{epoch:02d}`` (1-based, as Keras) and any log key, e.g. ``{val_loss:.2f}``;
    with an integer ``save_freq`` it saves every that many batches (``{batch}`` is 1-based too).
    With ``save_best_only`` it saves only when ``monitor`` improves (on ``initial_value_threshold``
    first); when ``monitor`` is missing from the logs it warns and saves, as Keras. As Keras, a
    ``.keras`` path needs ``save_weights_only=False``.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"Unrecognized save_freq: {save_freq!r}. Expected save_freq are 'epoch' or integer "
                             f"values >= 1")
        self.verbose = verbose
        self.filepath = os.fspath(filepath)
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.save_freq = save_freq
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = None
        self._current_epoch = 0
        if save_weights_only and self.filepath.endswith(".keras"):
            raise ValueError(f"When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided must "
                             f"end in `.weights.h5` (Keras weights format). Received: filepath={self.filepath}")

    def on_epoch_begin(self, epoch, logs=None):
        self._current_epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save(self._current_epoch, batch, logs)

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor_op is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs)

    def _should_save_on_batch(self, batch) -> bool:
        """Keras's count: batches since the last save, across epochs (a batch index that does not grow
        starts a new epoch)."""
        if self.save_freq == "epoch":
            return False
        if self._last_batch_seen is None or batch <= self._last_batch_seen:
            self._batches_seen_since_last_saving += batch + 1
        else:
            self._batches_seen_since_last_saving += batch - self._last_batch_seen
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def _path(self, epoch, batch, logs):
        fields = dict(logs or {})
        fields["epoch"] = epoch + 1
        if batch is not None and "batch" not in fields:
            fields["batch"] = batch + 1
        try:
            return self.filepath.format(**fields)
        except (KeyError, IndexError) as e:
            raise KeyError(f"ModelCheckpoint: cannot format filepath {self.filepath!r}: {e!r} is not among "
                           f"the available fields {sorted(fields)}") from None

    def _should_save(self, epoch, logs, path) -> bool:
        if not self.save_best_only:
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: saving model to {path}")
            return True
        current = (logs or {}).get(self.monitor)
        if current is None:
            warnings.warn(f"Can save best model only with {self.monitor} available.", stacklevel=4)
            return True
        if np.ndim(current) > 0:
            warnings.warn(f"Can save best model only when `monitor` is a scalar value. Received: {current}. "
                          f"Falling back to `save_best_only=False`.", stacklevel=4)
            return True
        if self.monitor_op is None:
            self._set_monitor_op()
        before = "None" if self.best is None else f"{self.best:.5f}"
        if self._is_improvement(current, self.best):
            if self.verbose > 0:
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {before} to {current:.5f}, "
                      f"saving model to {path}")
            self.best = current
            return True
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {before}")
        return False

    def _save(self, epoch, batch, logs):
        path = self._path(epoch, batch, logs)
        if not self._should_save(epoch, logs, path):
            return
        directory = os.path.dirname(path)
        if directory:
            os.makedirs(directory, exist_ok=True)
        if os.path.isdir(path):
            raise IsADirectoryError(f"Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an "
                                    f"existing directory: {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}")


class CSVLogger(Callback):
    """Stream each epoch's logs to a CSV file: an ``epoch`` column then the log keys in sorted order
    (Keras defaults: ``separator=','``, ``append=False``; appending to a non-empty file writes no header)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self.sep = separator
        self.append = append
        self.keys = None
        self._file = None
        self._writer = None
        self._skip = False

    def on_train_begin(self, logs=None):
        self._write_header = True
        self._skip = not writes_files()  # data parallel: rank 0 logs the job's (global) figures
        if self._skip:
            return
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as f:
                self._write_header = not f.readline()
        self._close()
        directory = os.path.dirname(self.filename)
        if directory:
            os.makedirs(directory, exist_ok=True)
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = None
        self.keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._file is None:  # used without on_train_begin
            self.on_train_begin()
        if self._skip:
            return
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(k.startswith("val_") for k in self.keys):
                self.keys += [f"val_{k}" for k in self.keys]  # Keras: NA columns for a validation to come
        if self._writer is None:
            sep = self.sep

            class Dialect(csv.excel):
                delimiter = sep

            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self.keys, dialect=Dialect)
            if self._write_header:
                self._writer.writeheader()
        row = {"epoch": epoch}
        row.update((k, _csv_value(logs.get(k, "NA"))) for k in self.keys)
        self._writer.writerow(row)
        self._file.flush()

    def on_train_end(self, logs=None):
        self._close()

    def _close(self):
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._file = None
        self._writer = None


def _csv_value(v):
    if isinstance(v, str):
        return v
    if isinstance(v, collections.abc.Iterable) and not (isinstance(v, np.ndarray) and v.ndim == 0):
        return f'"[{", ".join(map(str, v))}]"'
    return v


class BackupAndRestore(Callback):
    """Back up the weights, optimizer state and epoch to ``backup_dir`` (each epoch, or every
    ``save_freq`` batches); a later ``fit`` with the same callback restores them and continues from
    the next epoch. The backup is deleted when training completes (``delete_checkpoint``).

    One backup is one file (``backup.safetensors``: the weights, the optimizer's state and the epoch
    together), written to a temporary file and renamed over the last one, so a crash at any moment
    leaves a whole backup, never weights of one epoch with the epoch count of another. With
    ``double_checkpoint`` the previous backup is kept beside it (``backup.prev.safetensors``); when
    the latest cannot be read, the previous one is restored instead, with a warning saying so."""

    FILE = "backup.safetensors"
    PREVIOUS = "backup.prev.safetensors"
    KIND = "gradflow.backup"

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        if not backup_dir:
            raise ValueError("BackupAndRestore: backup_dir must be a directory path")
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"BackupAndRestore: save_freq must be 'epoch' or a positive int, got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq, self.double_checkpoint, self.delete_checkpoint = save_freq, bool(double_checkpoint), \
            bool(delete_checkpoint)
        self._latest = os.path.join(self.backup_dir, self.FILE)
        self._previous = os.path.join(self.backup_dir, self.PREVIOUS)
        self._epoch = 0
        self._batches = 0

    def on_train_begin(self, logs=None):
        model = self.model
        paths = [p for p in (self._latest, self._previous) if os.path.exists(p)]
        if not paths:
            return
        if not model.built:
            raise ValueError("BackupAndRestore: the model must be built before fit() to restore a backup; build it "
                             "(model.build(input_shape), or call it on a batch) first")
        failures = []
        for path in paths:
            try:
                epoch, weights, opt_state = self._read(path)
            except (OSError, ValueError, KeyError) as exc:
                failures.append(f"{path}: {exc}")
                continue
            if failures:
                warnings.warn(f"BackupAndRestore: the latest backup could not be read ({failures[0]}); restoring the "
                              f"previous one ({path}, epoch {epoch})", RuntimeWarning, stacklevel=2)
            model.set_weights(weights)
            if opt_state and getattr(model, "optimizer", None) is not None:
                model.optimizer.set_state(opt_state, model._optimizer_params())
            self._epoch = epoch
            model._initial_epoch = epoch
            return
        raise ValueError("BackupAndRestore: no backup in " + self.backup_dir + " can be read (" + "; ".join(failures)
                         + "); delete the folder to start afresh")

    def _read(self, path):
        """(epoch, weights, optimizer state) of one backup file, checked against the model before use."""
        with open(path, "rb") as f:
            keys, arrays, meta = weights_from_bytes(f.read(), path, kind=self.KIND)
        weights = [a for k, a in zip(keys, arrays) if k.startswith("weight/")]
        opt_state = {k[len("optimizer/"):]: a for k, a in zip(keys, arrays) if k.startswith("optimizer/")}
        params = self.model.weights
        if len(weights) != len(params) or any(tuple(a.shape) != tuple(p.shape) for a, p in zip(weights, params)):
            raise ValueError(f"it holds {len(weights)} weights that do not fit the model's {len(params)}")
        return int(meta["epoch"]), weights, opt_state

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
        if not writes_files():  # data parallel: rank 0's backup is the job's
            return
        model = self.model
        names = [f"weight/{i}" for i in range(len(model.weights))]
        arrays = [np.asarray(w.numpy()) for w in model.weights]
        opt = getattr(model, "optimizer", None)
        if opt is not None and getattr(opt, "built", False):
            state = opt.get_state(model._optimizer_params())
            names += [f"optimizer/{k}" for k in state]
            arrays += [np.asarray(v) for v in state.values()]
        data = weights_to_bytes(names, arrays, kind=self.KIND, extra={"epoch": self._epoch})
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._latest):
            os.replace(self._latest, self._previous)
        atomic_write(self._latest, lambda f: f.write(data))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and writes_files() and not getattr(self.model, "stop_training_interrupted", False):
            for path in (self._latest, self._previous):
                if os.path.exists(path):
                    os.remove(path)
            if os.path.isdir(self.backup_dir):  # Keras removes the whole folder
                shutil.rmtree(self.backup_dir, ignore_errors=True)


class TensorBoard(Callback):
    """Write TensorBoard event files (through tensorboardX) under ``log_dir``: in ``train/`` the epoch's
    losses and metrics (``epoch_<name>``), ``epoch_learning_rate`` (and ``epoch_steps_per_second`` with
    ``write_steps_per_second``), with ``update_freq`` 'batch' or N the batch logs (``batch_<name>`` every
    N batches) and with ``histogram_freq`` the weights (``<weight path>/histogram``, at epochs 0, N, 2N...);
    in ``validation/`` the epoch's ``val_`` values (``epoch_<name>``) and each evaluation's
    (``evaluation_<name>_vs_iterations`` at the optimizer's iterations); with ``write_graph`` the model's
    JSON config (tag ``keras``, the graph_keras_model plugin) at set_model. What Keras 3 writes on its torch
    backend, tag for tag; ``profile_batch`` is refused there and here."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        try:
            import tensorboardX  # noqa: F401,PLC0415 - optional dependency (tensorboardX)
        except ImportError:
            raise ImportError('the TensorBoard callback writes event files through tensorboardX: '
                              'pip install "gradflow-keras[tensorboard]"') from None
        if update_freq not in ("epoch", "batch") and (
                isinstance(update_freq, bool) or not isinstance(update_freq, int)):
            raise ValueError(f"TensorBoard: update_freq must be 'epoch', 'batch' or an int, got {update_freq!r}")
        if profile_batch:
            raise ValueError(f"Profiling is not yet available with the gradflow backend. Received: "
                             f"profile_batch={profile_batch} (must be 0)")
        self.log_dir = str(log_dir)
        self.histogram_freq = histogram_freq
        self.write_graph = write_graph
        self.write_images = write_images
        self.write_steps_per_second = write_steps_per_second
        self.update_freq = 1 if update_freq == "batch" else update_freq
        self.embeddings_freq = embeddings_freq
        self.embeddings_metadata = embeddings_metadata
        self._writers = {}
        self._global_train_batch = 0
        self._global_test_batch = 0
        self._previous_epoch_iterations = 0
        self._batch_start_time = 0.0
        self._epoch_start_time = 0.0

    def set_model(self, model):
        super().set_model(model)
        self._train_dir = os.path.join(self.log_dir, "train")
        self._val_dir = os.path.join(self.log_dir, "validation")
        self._close_writers()
        if self.write_graph and model is not None and type(model).__name__ in ("Functional", "Sequential"):
            self._write_model_config(model)

    def _writer(self, run):
        if not writes_files():  # data parallel: rank 0 logs the job's (global) figures
            return _NoWriter()
        if run not in self._writers:
            from tensorboardX import SummaryWriter  # noqa: PLC0415 - optional dependency (tensorboardX)

            self._writers[run] = SummaryWriter(self._train_dir if run == "train" else self._val_dir)
        return self._writers[run]

    def _write_model_config(self, model):
        """Keras's ``keras_model_summary``: the model's JSON as a string tensor, tag 'keras', step 0."""
        from tensorboardX.proto import summary_pb2, tensor_pb2, types_pb2  # noqa: PLC0415 - optional dependency

        try:
            json_string = model.to_json()
        except Exception as exc:  # noqa: BLE001 - Keras: a model that cannot be serialised is skipped
            warnings.warn(f"Model failed to serialize as JSON. Ignoring... {exc}", stacklevel=3)
            return
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="graph_keras_model", content=b"1"))
        tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[json_string.encode()])
        summary = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="keras", metadata=metadata,
                                                                       tensor=tensor)])
        writer = self._writer("train")
        if not isinstance(writer, _NoWriter):
            writer._get_file_writer().add_summary(summary, 0)

    def _scalar(self, run, tag, value, step):
        self._writer(run).add_scalar(tag, float(value), int(step))

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._previous_epoch_iterations = 0

    def on_train_end(self, logs=None):
        self._close_writers()

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "iterations"):
            for name, value in (logs or {}).items():
                if np.ndim(value) == 0:
                    self._scalar("validation", f"evaluation_{name}_vs_iterations", value, optimizer.iterations)
            self._flush()

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        if self.write_steps_per_second:
            self._batch_start_time = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch" or self._global_train_batch % self.update_freq != 0:
            return  # Keras: batch summaries go to no writer, or are not recorded at this step
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._batch_start_time, 1e-9)
            self._scalar("train", "batch_steps_per_second", 1.0 / elapsed, self._global_train_batch)
        if isinstance(logs, dict):
            for name, value in logs.items():
                if np.ndim(value) == 0:
                    self._scalar("train", f"batch_{name}", value, self._global_train_batch)

    def on_test_batch_begin(self, batch, logs=None):
        self._global_test_batch += 1

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._previous_epoch_iterations = float(self.model.optimizer.iterations)
            self._epoch_start_time = time.time()

    def on_epoch_end(self, epoch, logs=None):
        self._log_epoch_metrics(epoch, logs)
        if self.histogram_freq and epoch % self.histogram_freq == 0:
            prefix = f"{getattr(self.model, 'name', '')}/"
            for layer in getattr(self.model, "layers", ()):
                for weight in layer.weights:
                    name = (getattr(weight, "path", None) or weight.name).replace(":", "_")
                    if prefix != "/" and not name.startswith(prefix):  # Keras's paths start at the model
                        name = prefix + name
                    self._writer("train").add_histogram(f"{name}/histogram", _host_array(weight), epoch)
        self._flush()

    def _log_epoch_metrics(self, epoch, logs):
        if not logs:
            return
        train_logs = {k: v for k, v in logs.items() if not k.startswith("val_")}
        val_logs = {k: v for k, v in logs.items() if k.startswith("val_")}
        optimizer = getattr(self.model, "optimizer", None)
        optimizer = getattr(optimizer, "inner_optimizer", optimizer)
        if hasattr(optimizer, "optimizers"):
            for opt in optimizer.optimizers:
                train_logs[f"learning_rate_{opt.name}"] = float(opt.learning_rate)
        elif optimizer is not None and hasattr(optimizer, "learning_rate"):
            train_logs["learning_rate"] = float(optimizer.learning_rate)
        if self.write_steps_per_second:
            elapsed = max(time.time() - self._epoch_start_time, 1e-9)
            train_logs["steps_per_second"] = (float(optimizer.iterations) - self._previous_epoch_iterations) / elapsed
        for name, value in train_logs.items():
            if np.ndim(value) == 0:
                self._scalar("train", f"epoch_{name}", value, epoch)
        for name, value in val_logs.items():
            if np.ndim(value) == 0:
                self._scalar("validation", f"epoch_{name[4:]}", value, epoch)

    def _flush(self):
        for writer in self._writers.values():
            writer.flush()

    def _close_writers(self):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


def _host_array(weight):
    data = weight.numpy() if hasattr(weight, "numpy") else weight
    return np.asarray(data)


class _NoWriter:
    """Stands in for a SummaryWriter on the data-parallel ranks that write nothing."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None
