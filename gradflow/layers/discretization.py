"""Discretization (Keras 3): bucket numbers by boundaries, given or learned by ``adapt`` from quantiles."""
from __future__ import annotations

import numpy as np

from ._args import describe
from ._data_layer import DataLayer, as_output, encode_categorical, host_array

__all__ = ["Discretization"]


def summarize(values, epsilon):
    """Keras's approximate quantile summary of ``values``: ``[boundaries, weights]`` (every ``epsilon``-th)."""
    values = np.sort(np.reshape(values, [-1]))
    elements = np.size(values)
    step = max(elements / (1.0 / epsilon), 1)
    boundaries = values[int(step - 1)::int(step)]
    return np.stack([boundaries, np.ones_like(boundaries) * step])


def compress_summary(summary, epsilon):
    """A summary thinned to about ``1 / epsilon`` points by interpolating its cumulative weights."""
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + np.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = np.interp(percents, cum_weight_percents, summary[0])
    cum_weights = np.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - np.concatenate((np.array([0]), cum_weights[:-1]))
    return np.stack((new_bins, new_weights)).astype("float32")


def merge_summaries(prev_summary, next_summary, epsilon):
    merged = np.concatenate((prev_summary, next_summary), axis=1)
    merged = np.take(merged, np.argsort(merged[0]), axis=1)
    return compress_summary(merged, epsilon)


def get_bin_boundaries(summary, num_bins):
    return compress_summary(summary, 1.0 / num_bins)[0, :-1]


class Discretization(DataLayer):
    """``np.digitize(x, bin_boundaries)``: bucket ``i`` holds ``boundaries[i-1] <= x < boundaries[i]``.

    Pass ``bin_boundaries``, or ``num_bins`` and ``adapt(data)`` (Keras's quantile summary, ``epsilon``
    its error). ``output_mode`` ``int`` (int32, as Keras), ``one_hot``, ``multi_hot`` or ``count``.
    """

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False,
                 dtype=None, name=None, **kwargs):
        super().__init__(name=name, dtype=dtype, **kwargs)
        if sparse:
            raise ValueError(f"{describe(self)}: sparse=True is not supported by gradflow (its outputs are dense "
                             f"Tensors); pass sparse=False")
        if output_mode not in ("int", "one_hot", "multi_hot", "count"):
            raise ValueError(f"The `output_mode` argument value of the Discretization layer must be one of ('int', "
                             f"'one_hot', 'multi_hot', 'count'). Received: output_mode={output_mode!r}")
        if num_bins is not None and num_bins < 0:
            raise ValueError(f"`num_bins` must be greater than or equal to 0. Received: `num_bins={num_bins}`")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(f"Both `num_bins` and `bin_boundaries` should not be set. Received: "
                             f"`num_bins={num_bins}` and `bin_boundaries={bin_boundaries}`")
        if num_bins is None and bin_boundaries is None:
            raise ValueError("You need to set either `num_bins` or `bin_boundaries`.")
        self.bin_boundaries = None if bin_boundaries is None else list(bin_boundaries)
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = False
        self.summary = None if self.bin_boundaries else np.array([[], []], dtype="float32")

    def output_dtype(self) -> str:
        return self.dtype.name if self.output_mode != "int" else "int32"

    def adapt(self, data, steps=None):
        """Learn ``num_bins - 1`` boundaries (quantiles) from ``data``: an array, or an iterable of batches."""
        if self.num_bins is None:
            raise ValueError("Cannot adapt a Discretization layer that has been initialized with `bin_boundaries`, "
                             "use `num_bins` instead.")
        self.reset_state()
        if hasattr(data, "__iter__") and not isinstance(data, (np.ndarray, list, tuple)) and not hasattr(data, "data"):
            for i, batch in enumerate(data):
                if steps is not None and i >= steps:
                    break
                self.update_state(batch)
        else:
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        data = np.array(host_array(data)).astype("float32")
        self.summary = merge_summaries(summarize(data, self.epsilon), self.summary, self.epsilon)

    def finalize_state(self):
        if self.num_bins is None:
            return
        self.bin_boundaries = get_bin_boundaries(self.summary, self.num_bins).tolist()

    def reset_state(self):
        if self.num_bins is None:
            return
        self.summary = np.array([[], []], dtype="float32")

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins
        if self.output_mode == "one_hot":
            if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
                return tuple(input_shape[:-1]) + (depth,)
            return tuple(input_shape) + (depth,)
        if input_shape and len(input_shape) >= 2:
            return (input_shape[0],) + tuple(input_shape[2:]) + (depth,)
        return (depth,)

    def load_own_variables(self, store):
        if len(store) == 1:
            self.summary = np.asarray(store["0"])

    def call(self, inputs):
        if self.bin_boundaries is None:
            raise ValueError("You need to either pass the `bin_boundaries` argument at construction time or call "
                             "`adapt(dataset)` before you can start using the `Discretization` layer.")
        x = host_array(inputs)
        if x.dtype.kind not in "fiub":
            raise TypeError(f"{describe(self)}: expects numbers, got an array of dtype {x.dtype}")
        indices = np.digitize(x.astype(self.dtype if self.dtype.kind == "f" else np.float32),
                              np.asarray(self.bin_boundaries, dtype=np.float32))
        return as_output(encode_categorical(indices, self.output_mode, len(self.bin_boundaries) + 1,
                                            self.output_dtype()))

    def get_config(self) -> dict:
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins, "epsilon": self.epsilon,
                "output_mode": self.output_mode, "sparse": self.sparse, "name": self.name, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            config = dict(config)
            bin_boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = bin_boundaries
            return layer
        return cls(**config)
