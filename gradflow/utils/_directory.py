"""Datasets of the files under a directory, one subdirectory per class: the file walking, labelling,
splitting and batching that image_, text_ and audio_dataset_from_directory share."""
from __future__ import annotations

import os

import numpy as np

from .py_dataset import PyDataset

__all__ = ["from_directory"]


def _list_files(fn_name, directory, labels, class_names, extensions, follow_links):
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"{fn_name}: no directory {os.fspath(directory)!r}")
    classes = sorted(d for d in os.listdir(directory) if os.path.isdir(os.path.join(directory, d)))
    if class_names is not None:
        if sorted(class_names) != classes:
            raise ValueError(f"{fn_name}: class_names {class_names} do not match the subdirectories {classes}")
        classes = list(class_names)
    paths, ids = [], []
    if labels == "inferred":
        for k, name in enumerate(classes):
            for root, _, files in sorted(os.walk(os.path.join(directory, name), followlinks=follow_links)):
                for f in sorted(files):
                    if f.lower().endswith(extensions):
                        paths.append(os.path.join(root, f))
                        ids.append(k)
    else:
        for root, _, files in sorted(os.walk(directory, followlinks=follow_links)):
            paths += [os.path.join(root, f) for f in sorted(files) if f.lower().endswith(extensions)]
        if labels is not None:
            ids = list(labels)
            if len(ids) != len(paths):
                raise ValueError(f"{fn_name}: {len(ids)} labels for {len(paths)} files")
    if not paths:
        raise ValueError(f"{fn_name}: no files ({', '.join(extensions)}) under {directory!r}")
    return paths, ids, classes


class _FileDataset(PyDataset):
    """Batches of ``(values, labels)``; ``load(paths)`` turns a batch of paths into its values."""

    def __init__(self, paths, labels, n_classes, batch_size, load, label_mode, shuffle, seed, int_dtype="int32"):
        super().__init__()
        self.paths, self.labels, self.n_classes = list(paths), labels, n_classes
        self.batch_size, self.load, self.label_mode, self.int_dtype = batch_size, load, label_mode, int_dtype
        self._rng = np.random.default_rng(seed)
        self._shuffle = shuffle
        self._order = np.arange(len(self.paths))
        if shuffle:
            self._rng.shuffle(self._order)

    def __len__(self):
        return -(-len(self.paths) // self.batch_size) if self.batch_size else len(self.paths)

    def __getitem__(self, index):
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} of a dataset of {len(self)} batches")
        size = self.batch_size or 1
        picks = self._order[index * size:(index + 1) * size]
        values = self.load([self.paths[i] for i in picks])
        if self.batch_size is None:
            values = values[0]
        if self.labels is None:
            return values
        ids = self.labels[picks]
        labels = ids.astype(self.int_dtype) if self.label_mode == "int" else ids.astype("float32")[:, None] \
            if self.label_mode == "binary" else np.eye(self.n_classes, dtype="float32")[ids]
        return values, (labels if self.batch_size else labels[0])

    def on_epoch_end(self) -> None:
        if self._shuffle:
            self._rng.shuffle(self._order)


def from_directory(fn_name, directory, labels, label_mode, class_names, batch_size, shuffle, seed,
                   validation_split, subset, follow_links, verbose, extensions, load, int_dtype="int32"):
    """A ``_FileDataset`` (or the training/validation pair) of the files under ``directory`` with one of
    ``extensions``: labels inferred from the class subdirectories or given, shuffled once with ``seed``
    (1337 by default, as Keras), ``load(paths)`` giving a batch's values; int labels as ``int_dtype``."""
    if label_mode not in ("int", "categorical", "binary", None):
        raise ValueError(f"{fn_name}: label_mode must be 'int', 'categorical', 'binary' or None, got {label_mode!r}")
    paths, ids, classes = _list_files(fn_name, directory, labels, class_names, extensions, follow_links)
    if label_mode == "binary" and labels == "inferred" and len(classes) != 2:
        raise ValueError(f"{fn_name}: label_mode='binary' needs 2 classes, found {classes}")
    ids_arr = np.asarray(ids, dtype=np.int64) if labels is not None and label_mode is not None else None
    order = np.random.default_rng(seed if seed is not None else 1337).permutation(len(paths))
    paths = [paths[i] for i in order]
    ids_arr = None if ids_arr is None else ids_arr[order]
    if verbose:
        print(f"Found {len(paths)} files belonging to {len(classes)} classes.")

    def make(sl):
        ds = _FileDataset(paths[sl], None if ids_arr is None else ids_arr[sl], len(classes), batch_size, load,
                          label_mode, shuffle, seed, int_dtype)
        ds.class_names = classes
        return ds

    if validation_split:
        if subset not in ("training", "validation", "both"):
            raise ValueError(f"{fn_name}: with validation_split, pass subset='training', 'validation' or 'both'")
        n_val = int(validation_split * len(paths))
        train, val = make(slice(0, len(paths) - n_val)), make(slice(len(paths) - n_val, len(paths)))
        return {"training": train, "validation": val, "both": (train, val)}[subset]
    return make(slice(None))
