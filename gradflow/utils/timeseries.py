"""``timeseries_dataset_from_array`` (Keras 3, keras/src/utils/timeseries_dataset_utils.py): sliding
windows over an array, batched, as a dataset ``fit``/``evaluate``/``predict`` take."""
from __future__ import annotations

import numpy as np

from .py_dataset import PyDataset

__all__ = ["timeseries_dataset_from_array"]


class _TimeseriesDataset(PyDataset):
    """Batches of windows ``data[start + p : start + p + sequence_length * sampling_rate : sampling_rate]``
    (with ``targets[start + p]`` when there are targets), cut as they are asked for.

    Like a Keras ``tf.data`` dataset, ``fit(shuffle=True)`` does not reorder it: it shuffles itself when
    made with ``shuffle=True`` (once, then again after every epoch, as tf.data's reshuffling does)."""

    #: read by gradflow's data adapter: fit's ``shuffle`` leaves this dataset's order alone (as tf.data)
    _fit_shuffles = False

    def __init__(self, data, targets, sequence_length, sampling_rate, batch_size, positions, shuffle, seed,
                 start_index):
        super().__init__()
        self.data, self.targets = data, targets
        self.sequence_length, self.sampling_rate = sequence_length, sampling_rate
        self.batch_size, self.positions, self.start_index = batch_size, positions, start_index
        self._shuffle = shuffle
        self._rng = np.random.RandomState(seed)
        if shuffle:
            self._rng.shuffle(self.positions)

    def __len__(self):
        if self.batch_size is None:
            return len(self.positions)
        return -(-len(self.positions) // self.batch_size)

    def __getitem__(self, index):
        if not -len(self) <= index < len(self):
            raise IndexError(f"batch {index} of a timeseries dataset of {len(self)} batches")
        index %= len(self)
        size = self.batch_size or 1
        starts = self.positions[index * size:(index + 1) * size] + self.start_index
        steps = np.arange(self.sequence_length) * self.sampling_rate
        windows = self.data[starts[:, None] + steps[None, :]]
        targets = None if self.targets is None else self.targets[starts]
        if self.batch_size is None:
            windows = windows[0]
            targets = None if targets is None else targets[0]
        return windows if targets is None else (windows, targets)

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def on_epoch_end(self) -> None:
        if self._shuffle:
            self._rng.shuffle(self.positions)


def _check_int(name: str, value, low: int, n: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"timeseries_dataset_from_array: {name} must be an int, got {value!r}")
    if value < low:
        raise ValueError(f"`{name}` must be higher than {low - 1}. Received: {name}={value}")
    if n is not None and value >= n:
        raise ValueError(f"`{name}` must be lower than the length of the data. Received: {name}={value}, for "
                         f"data of length {n}")
    return int(value)


def timeseries_dataset_from_array(data, targets, sequence_length, sequence_stride=1, sampling_rate=1,
                                  batch_size=128, shuffle=False, seed=None, start_index=None, end_index=None,
                                  format="tf"):
    """Sliding windows over ``data`` (its first axis is time), as Keras 3.

    Window ``i`` starts at ``start_index + p_i`` with ``p_i = i * sequence_stride`` and holds
    ``sequence_length`` steps ``sampling_rate`` apart, all before ``end_index``; its target is
    ``targets[start_index + p_i]`` (None: the dataset yields windows only). Batches hold
    ``batch_size`` windows (None: single windows). ``shuffle`` shuffles the windows with ``seed``.

    Returns a ``PyDataset`` (gradflow has no tf.data): ``len()`` batches, indexable and iterable,
    taken as is by ``fit``/``evaluate``/``predict``. ``format`` is accepted for Keras's signature
    ('tf' or 'grain'); both give this dataset.
    """
    n = len(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: start_index={start_index}")
        if start_index >= n:
            raise ValueError(f"`start_index` must be lower than the length of the data. Received: "
                             f"start_index={start_index}, for data of length {n}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: start_index={start_index}, "
                             f"and end_index={end_index} ")
        if end_index >= n:
            raise ValueError(f"`end_index` must be lower than the length of the data. Received: "
                             f"end_index={end_index}, for data of length {n}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: end_index={end_index}")
    sampling_rate = _check_int("sampling_rate", sampling_rate, 1, n)
    sequence_stride = _check_int("sequence_stride", sequence_stride, 1, n)
    sequence_length = _check_int("sequence_length", sequence_length, 1)
    if batch_size is not None:
        batch_size = _check_int("batch_size", batch_size, 1)
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    start = int(start_index or 0)
    end = n if end_index is None else int(end_index)
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        targets = np.asarray(targets)
        num_seqs = min(num_seqs, len(targets) - start)
    if num_seqs <= 0:
        raise ValueError(f"timeseries_dataset_from_array: no window of {sequence_length} steps (sampling_rate "
                         f"{sampling_rate}) fits between start_index={start} and end_index={end}")
    positions = np.arange(0, num_seqs, sequence_stride)
    if shuffle and seed is None:
        seed = np.random.randint(1_000_000)
    return _TimeseriesDataset(np.asarray(data), targets, sequence_length, sampling_rate, batch_size, positions,
                              bool(shuffle), seed, start)
