"""Inputs of fit/evaluate/predict checked against the model and turned into mini-batches on the
compute device.

The checks (structure, sample counts, dtypes, target shapes, sample and class weights, NaN/Inf)
work on a :class:`ModelSpec`, a small frozen description of the model's inputs, outputs and
losses, not on the model itself.

Two kinds of source, as in Keras:

* arrays (NumPy, CuPy, Python lists, anything with ``__array__``): checked and converted once
  per call (dtype, device), then each pass over the data is one gather (when shuffling) and
  cheap views, so a training step costs no per-batch conversion;
* batch sources: a Sequence-like object (``__len__`` + ``__getitem__`` returning ``(x, y)`` or
  ``(x, y, sample_weight)``, with an optional ``on_epoch_end()``), a generator or any other
  iterable of such batches; each batch is converted as it arrives.
"""
from __future__ import annotations

import itertools
import math
import numbers
import warnings
from dataclasses import dataclass

import numpy as np

from .. import config
from ..autograd.tensor import Tensor
from ..backend import array_module, is_cupy_array
from ..distribution import current_strategy
from ..layers.symbolic import flatten, pack_as
from ..random import generator
from .compile_utils import class_weights_for

__all__ = [
    "is_array_data", "is_batch_source", "as_array", "split_validation", "ArraySource",
    "BatchSource", "BatchStream", "check_batch_size", "unpack_batch", "take_rows", "flatten_arrays",
    "unflatten_arrays", "num_samples", "NonFiniteDataError", "check_finite", "ModelSpec", "split_x",
    "check_same_length", "convert_for_model", "with_class_weights",
]

#: datasets larger than this stay on the host and go to the GPU one batch at a time
DEVICE_RESIDENT_LIMIT = 1 << 30


def is_array_data(x) -> bool:
    """In-memory array data (as opposed to a source of ready-made batches)."""
    if x is None:
        return False
    if isinstance(x, list) and _is_batch_list(x):
        return False
    if isinstance(x, (np.ndarray, list, tuple, numbers.Number, np.generic)) or is_cupy_array(x):
        return True

    if isinstance(x, Tensor):
        return True
    return hasattr(x, "__array__") or hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__")


def _is_batch_list(x: list) -> bool:
    """A list of ``(x, y)`` / ``(x, y, sw)`` tuples of arrays: ready-made batches, not data rows."""
    first = x[0] if x else None
    return (isinstance(first, tuple) and len(first) in (2, 3)
            and all(hasattr(a, "shape") or a is None for a in first))


def is_batch_source(x) -> bool:
    """A generator, iterator, iterable or Sequence-like object yielding batches."""
    if x is None or is_array_data(x) or isinstance(x, (str, bytes, dict)):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__") or (hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def describe(value):
    """What the data-parallel ranks compare before a fit: each array's shape and dtype (nested like
    ``value``), a batch source's type name, None for None."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    shape = getattr(value, "shape", None)
    if shape is not None and hasattr(value, "dtype"):
        return [list(map(int, shape)), str(value.dtype)]
    if isinstance(value, list) and value and not any(isinstance(v, (dict, tuple)) or hasattr(v, "shape")
                                                     for v in value):
        try:  # a plain list of rows: its array's shape
            arr = np.asarray(value)
            if arr.dtype != object:
                return describe(arr)
        except (ValueError, TypeError):
            pass
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    return type(value).__name__


def _looks_like_labels(name: str) -> bool:
    """Whether the data named ``name`` is a target (``y``, ``y['out']``, validation targets...)."""
    return ": y" in name or name.startswith("y") or "target" in name or "label" in name


def as_array(value, name: str):
    """``value`` as a NumPy or CuPy array with a numeric dtype and at least one row.

    Raises ValueError/TypeError naming ``name`` for ragged lists, strings/objects, scalars
    and empty data.
    """
    if isinstance(value, Tensor):
        arr = value.data
    elif isinstance(value, np.ndarray) or is_cupy_array(value):
        arr = value
    else:
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{name}: could not turn the data into an array ({exc}); "
                             f"expected a NumPy array or a list of equally shaped rows") from None
    if arr.dtype.kind in "US" and not _looks_like_labels(name):
        pass  # strings for a model's string input (Input(dtype="string")): convert_for_model checks the dtype
    elif arr.dtype.kind not in "biuf":
        _refuse(arr, name)
    if arr.ndim == 0:
        raise ValueError(f"{name} must have a batch axis, got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty (shape {tuple(arr.shape)}); expected at least one sample")
    return arr


def _refuse(arr, name: str):
    """The TypeError for data that is not numbers."""
    what = {"O": "Python objects (a ragged list or mixed types?)", "U": "strings", "S": "bytes",
            "c": "complex numbers"}.get(arr.dtype.kind, f"dtype {arr.dtype}")
    if arr.dtype.kind in "USO" and _looks_like_labels(name):
        fix = ("class names must become integer class ids first: `names, y = np.unique(y, "
               "return_inverse=True)` gives ids 0..k-1 (names[i] is class i's name)")
    else:
        fix = "convert it with np.asarray(..., dtype='float32') first"
    raise TypeError(f"{name} must hold numbers (int, float or bool), got {what} (dtype {arr.dtype}); {fix}")


class NonFiniteDataError(ValueError):
    """``fit``/``evaluate`` data holds NaN or Inf (raised before the first step)."""


#: rows of at most this many elements are scanned at a time for the exact count (bounded scratch memory)
_SCAN_ELEMENTS = 1 << 22


def check_finite(arr, name: str, original_dtype=None) -> None:
    """Raise :class:`NonFiniteDataError` naming ``name``, the number of NaN/Inf values and the index of
    the first one when the float array ``arr`` holds any. One reduction over the data when it is clean
    (a sum: NaN or Inf anywhere makes it non-finite); the exact scan runs only when that sum is not
    finite, in chunks of rows so it never needs a mask of the whole array."""
    if arr is None or arr.dtype.kind not in "fc" or arr.size == 0:
        return
    xp = np if isinstance(arr, np.ndarray) else _module_of(arr)
    with np.errstate(all="ignore"):
        total = arr.sum(dtype=np.float32 if arr.dtype.itemsize < 4 else None)  # float16 would overflow
    if bool(xp.isfinite(total)):
        return
    rows = max(1, _SCAN_ELEMENTS // max(1, arr.size // len(arr)))
    count, first = 0, None
    for start in range(0, len(arr), rows):
        bad = ~xp.isfinite(arr[start:start + rows])
        n = int(bad.sum())
        if n and first is None:
            where = np.unravel_index(int(xp.argmax(bad.reshape(-1))), bad.shape)
            first = (start + int(where[0]),) + tuple(int(i) for i in where[1:])
        count += n
    if not count:
        return  # the sum overflowed, every value is finite
    value = arr[first]
    value = float(value.get() if hasattr(value, "get") else value)
    index = ", ".join(str(i) for i in first)
    cast = ""
    if original_dtype is not None and np.dtype(original_dtype) != arr.dtype:
        cast = f" (after conversion from {np.dtype(original_dtype)} to {arr.dtype}, whose range ends at " \
               f"{float(np.finfo(arr.dtype).max):.4g})"
    raise NonFiniteDataError(
        f"{name} holds {count} non-finite value{'s' if count != 1 else ''} (NaN or Inf){cast}; the first is "
        f"at index [{index}] ({value}). Training on it would turn every weight into NaN: clean the data first "
        f"(np.nan_to_num, or drop those samples), or set gradflow.config.check_finite = False to use it anyway")


def _module_of(arr):
    return array_module(arr)


def check_batch_size(batch_size, name: str = "batch_size", default: int = 32) -> int:
    if batch_size is None:
        return default
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"{name} must be >= 1, got {batch_size}")
    return int(batch_size)


def take_rows(arr, index):
    """``arr[index]`` for a row slice or an index array (on the array's own device)."""
    return None if arr is None else arr[index]


def flatten_arrays(arrays) -> tuple[list, list]:
    """``(x, y, sw)`` -> (flat list of arrays, layout): each of x, y, sw is None, one array or a
    tuple of arrays (several model inputs or outputs); ``unflatten_arrays`` undoes it."""
    flat, layout = [], []
    for part in arrays:
        if isinstance(part, tuple):
            layout.append(len(part))
            flat.extend(part)
        else:
            layout.append(-1)
            flat.append(part)
    return flat, layout


def unflatten_arrays(flat, layout) -> tuple:
    out, i = [], 0
    for n in layout:
        if n < 0:
            out.append(flat[i])
            i += 1
        else:
            out.append(tuple(flat[i:i + n]))
            i += n
    return tuple(out)


def num_samples(part) -> int:
    """Rows of an array, or of the first array of a tuple of them."""
    first = part[0] if isinstance(part, tuple) else part
    return len(first)


def split_validation(arrays, validation_split: float):
    """Split equally long arrays into (train, validation): the validation part is the LAST
    ``validation_split`` fraction, taken before any shuffling (as Keras does)."""
    flat, layout = flatten_arrays(arrays)
    n = len(next(a for a in flat if a is not None))
    split_at = int(math.floor(n * (1.0 - validation_split)))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"validation_split={validation_split} of {n} samples leaves "
            f"{split_at} for training and {n - split_at} for validation; both need at least one sample")
    train = [None if a is None else a[:split_at] for a in flat]
    val = [None if a is None else a[split_at:] for a in flat]
    return unflatten_arrays(train, layout), unflatten_arrays(val, layout)


def unpack_batch(batch, where: str):
    """``(x, y, sample_weight)`` from what a batch source yielded: x, (x,), (x, y) or (x, y, sw)."""
    if isinstance(batch, dict):
        raise TypeError(f"{where}: batches must be x, (x, y) or (x, y, sample_weight); got a dict")
    if isinstance(batch, tuple):
        items = batch
    elif isinstance(batch, list) and len(batch) in (2, 3) and all(
            b is None or (is_array_data(b) and not isinstance(b, (list, tuple, numbers.Number))) for b in batch):
        items = tuple(batch)  # e.g. a PyTorch DataLoader's [x, y]
    else:
        items = (batch,)
    if len(items) == 1:
        return items[0], None, None
    if len(items) == 2:
        return items[0], items[1], None
    if len(items) == 3:
        return items
    raise ValueError(f"{where}: a batch must be x, (x, y) or (x, y, sample_weight); got a tuple of {len(items)} items")


def _to_device(arr, backend):
    if arr is None:
        return None
    if backend.device == "cuda" and not is_cupy_array(arr):
        if arr.nbytes > DEVICE_RESIDENT_LIMIT:
            return arr  # stays on the host; batches move one at a time
        return backend.asarray(arr)
    return arr


def _permutation(n: int):
    """A shuffled index from gradflow's seeded generator, as a NumPy array. Data parallel: rank 0's,
    on every rank (each rank's generator also draws its own dropout masks, so they drift apart)."""
    def draw():
        perm = generator().random(n).argsort()  # CuPy's Generator has no permutation()
        return perm if isinstance(perm, np.ndarray) else perm.get()

    return current_strategy().from_chief(draw)


class ArraySource:
    """In-memory arrays ``(x, y, sample_weight)`` cut into batches of ``batch_size``.

    ``shuffle``: True (every sample, each pass), ``"batch"`` (only the order of batches) or
    False. Arrays are moved to the compute device once; a shuffled pass gathers once and then
    hands out views, an unshuffled pass reuses the same views every time.
    """

    restartable = True

    def __init__(self, arrays, batch_size: int, shuffle=False, backend=None):
        arrays, self._layout = flatten_arrays(arrays)
        self.n = len(arrays[0])
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.backend = backend
        self.arrays = tuple(_to_device(a, backend) for a in arrays) if backend is not None else tuple(arrays)
        self._host = backend is not None and backend.device == "cuda" and not is_cupy_array(self.arrays[0])
        self.size = max(1, -(-self.n // batch_size))
        self._fixed = None

    def _cut(self, arrays):
        bs, n = self.batch_size, self.n
        out = []
        for start in range(0, n, bs):
            sl = slice(start, min(start + bs, n))
            batch = [None if a is None else a[sl] for a in arrays]
            if self._host:
                batch = [None if a is None else self.backend.asarray(a) for a in batch]
            out.append(unflatten_arrays(batch, self._layout))
        return out

    def new_pass(self) -> list:
        """The batches of one pass over the data (a list of ``(x, y, sw)`` tuples)."""
        if self.shuffle is True and self.n > 1:
            perm = _permutation(self.n)
            if any(is_cupy_array(a) for a in self.arrays if a is not None):
                import cupy  # noqa: PLC0415 - only reached with CuPy arrays

                dperm = cupy.asarray(perm)
            else:
                dperm = perm
            arrays = tuple(None if a is None else a[dperm if is_cupy_array(a) else perm] for a in self.arrays)
            return self._cut(arrays)
        if self._fixed is None:
            self._fixed = self._cut(self.arrays)
        if self.shuffle == "batch" and len(self._fixed) > 1:
            return [self._fixed[i] for i in _permutation(len(self._fixed))]
        return self._fixed

    def on_epoch_end(self) -> None:
        pass


class BatchSource:
    """Ready-made batches from a Sequence-like object, an iterable or a one-shot iterator.

    ``convert(x, y, sw) -> (x, y, sw)`` checks and converts each batch. ``size`` is the number
    of batches per pass (None when unknown); ``restartable`` is False for generators/iterators,
    which can be consumed only once.
    """

    def __init__(self, data, convert, shuffle=False, where: str = "x"):
        self.data = data
        self.convert = convert
        self.where = where
        # the Sequence protocol wins when present (an ImageDataGenerator flow has __next__ too)
        self.sequence = hasattr(data, "__getitem__") and hasattr(data, "__len__")
        # a dataset that orders itself (as a Keras tf.data dataset) says so: fit's shuffle leaves it alone
        self.shuffle = bool(shuffle) and self.sequence and getattr(data, "_fit_shuffles", True)
        self.restartable = self.sequence or not hasattr(data, "__next__")
        try:
            self.size = len(data) if self.sequence else (len(data) if hasattr(data, "__len__") else None)
        except TypeError:
            self.size = None
        if self.size == 0:
            raise ValueError(f"{where}: the batch source is empty (len() == 0)")
        self._iterator = None
        self._pending = None

    def peek(self):
        """The first batch as ``(x, y, sw)`` before conversion, without losing it."""
        if self.sequence:
            return unpack_batch(self.data[0], self.where)
        if self.restartable:
            try:
                return unpack_batch(next(iter(self.data)), self.where)
            except StopIteration:
                raise ValueError(f"{self.where}: the batch source yielded no batches") from None
        if self._pending is None:
            try:
                self._pending = next(self.data)
            except StopIteration:
                raise ValueError(f"{self.where}: the generator yielded no batches") from None
        return unpack_batch(self._pending, self.where)

    def new_pass(self):
        if self.sequence:
            order = _permutation(self.size) if self.shuffle else range(self.size)
            return (self._convert(self.data[int(i)]) for i in order)
        if self.restartable:
            return (self._convert(b) for b in iter(self.data))
        if self._iterator is None:
            head = [] if self._pending is None else [self._pending]
            self._pending = None
            self._iterator = (self._convert(b) for b in itertools.chain(head, self.data))
        return self._iterator

    def _convert(self, batch):
        return self.convert(*unpack_batch(batch, self.where))

    def on_epoch_end(self) -> None:
        hook = getattr(self.data, "on_epoch_end", None)
        if callable(hook):
            hook()


class BatchStream:
    """Hands out the batches of each epoch: a full pass, or ``steps`` batches drawn from a
    running iterator that starts a new pass when one runs out (Keras's steps_per_epoch)."""

    def __init__(self, source, steps=None, steps_name: str = "steps_per_epoch"):
        if steps is not None:
            steps = check_batch_size(steps, steps_name)
        cap = config.max_steps_per_epoch()  # keras.config.set_max_steps_per_epoch
        if cap and (steps is None or cap < steps):
            warnings.warn(f"Limiting {steps_name} to {cap}", stacklevel=3)
            steps = cap
        self.source = source
        self.steps = steps
        self._it = None
        self.exhausted = False
        self.warned = False

    @property
    def target(self):
        return self.steps if self.steps is not None else self.source.size

    def epoch(self):
        """An iterable of batches for one epoch."""
        if self.steps is None:
            return self.source.new_pass()
        return self._take(self.steps)

    def _take(self, steps):
        taken = 0
        restarted = False
        while taken < steps:
            if self._it is None:
                self._it = iter(self.source.new_pass())
            try:
                batch = next(self._it)
            except StopIteration:
                self._it = None
                if not self.source.restartable or restarted and taken == 0:
                    self.exhausted = True
                    return
                restarted = True
                continue
            restarted = False
            taken += 1
            yield batch

    def warn_exhausted(self, steps_done: int, what: str = "training") -> None:
        if not self.warned:
            self.warned = True
            warnings.warn(
                f"Your input ran out of data; interrupting {what} after {steps_done} step(s). Make sure "
                f"the generator can produce at least steps_per_epoch * epochs batches, or pass a "
                f"re-iterable source (a list or a Sequence-like object).", RuntimeWarning, stacklevel=4)


# -- checking data against a model ------------------------------------------------------------------
@dataclass(frozen=True)
class ModelSpec:
    """What the input checks need to know about a model, taken once it is built and compiled.

    ``input_names``: a graph model's inputs (None: a subclassed model, any structure);
    ``input_dtypes``: per input the dtype its array is cast to; ``output_names``/``output_shapes``:
    per output; ``losses``: per output the compiled loss (``prepare_targets``) or None; ``dtype``:
    the model's float dtype; ``needs_targets``: compiled with a loss; ``free_sample_weights``: a
    custom ``compute_loss``/``train_step`` takes sample weights of any shape."""

    input_names: tuple | None
    output_names: tuple
    output_shapes: tuple
    losses: tuple
    dtype: np.dtype
    input_dtypes: tuple | None = None
    needs_targets: bool = False
    free_sample_weights: bool = False


def split_x(x, input_names, where: str):
    """(flat list of arrays, structure template or None) for what the caller passed as x."""
    if input_names is None:  # subclassed: any structure its call() takes
        if isinstance(x, (dict, tuple)) or (isinstance(x, list) and x and all(hasattr(v, "shape") for v in x)):
            flat = flatten(x)
            return [as_array(v, f"{where}: x") for v in flat], pack_as(x, list(range(len(flat))))
        return [as_array(x, f"{where}: x")], None
    names, n = list(input_names), len(input_names)
    if isinstance(x, dict):
        missing = [k for k in names if k not in x]
        unknown = sorted(set(x) - set(names))
        if missing or unknown:
            raise ValueError(f"{where}: x is a dict but the model's inputs are {names}; missing {missing}"
                             + (f", unknown {unknown}" if unknown else ""))
        return [as_array(x[k], f"{where}: x[{k!r}]") for k in names], None
    if n > 1:
        if not isinstance(x, (list, tuple)) or len(x) != n:
            got = f"a {type(x).__name__} of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
            raise ValueError(f"{where}: the model has {n} inputs {names}; pass x as a list of {n} arrays or a "
                             f"dict keyed by input name, got {got}")
        return [as_array(v, f"{where}: x[{i}] ({names[i]!r})") for i, v in enumerate(x)], None
    if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
        x = x[0]
    return [as_array(x, f"{where}: x")], None


def check_same_length(xs, where: str) -> int:
    """The number of samples, after checking every input holds as many."""
    n = len(xs[0])
    for i, a in enumerate(xs[1:], 1):
        if len(a) != n:
            raise ValueError(f"{where}: every input must hold the same number of samples; input 0 has {n}, "
                             f"input {i} has {len(a)}")
    return n


def _split_y(spec: ModelSpec, y, where: str) -> list:
    names = list(spec.output_names)
    n = len(names)
    if isinstance(y, dict):
        unknown = sorted(set(y) - set(names))
        if unknown:
            raise ValueError(f"{where}: y has keys {unknown} that are not outputs of the model; outputs: {names}")
        return [None if y.get(k) is None else as_array(y[k], f"{where}: y[{k!r}]") for k in names]
    if n > 1:
        flat = list(y) if isinstance(y, (list, tuple)) else [y]
        if len(flat) != n:
            # Keras 3 (CompileLoss): outputs compiled with a None loss take no target, so y may hold
            # only the targets of the outputs that have a loss, in output order
            with_loss = [k for k, e in enumerate(spec.losses) if e is not None]
            if not 0 < len(with_loss) < n or len(flat) != len(with_loss):
                raise ValueError(f"{where}: the model has {n} outputs {names}; pass y as a list of {n} arrays or "
                                 f"a dict keyed by output name" + (
                                     f" (or one array for each of the {len(with_loss)} outputs with a loss: "
                                     f"{[names[k] for k in with_loss]})" if 0 < len(with_loss) < n else ""))
            placed: list = [None] * n
            for k, v in zip(with_loss, flat):
                placed[k] = v
            flat = placed
        return [None if v is None else as_array(v, f"{where}: y[{i}] ({names[i]!r})") for i, v in enumerate(flat)]
    if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape"):
        y = y[0]
    return [as_array(y, f"{where}: y")]


def _split_sw(spec: ModelSpec, sw, where: str) -> list:
    names = spec.output_names
    if isinstance(sw, dict):
        return [None if sw.get(k) is None else as_array(sw[k], f"{where}: sample_weight[{k!r}]") for k in names]
    if isinstance(sw, (list, tuple)) and len(names) > 1 and len(sw) == len(names) and \
            all(v is None or hasattr(v, "shape") for v in sw):
        return [None if v is None else as_array(v, f"{where}: sample_weight[{i}]") for i, v in enumerate(sw)]
    arr = as_array(sw, f"{where}: sample_weight")
    return [arr] * len(names)


def _input_labels(spec: ModelSpec, n: int, where: str) -> list:
    """How errors name each input array: ``fit: x``, ``fit: x['image']``, ``fit: x[1]``."""
    if n == 1:
        return [f"{where}: x"]
    names = spec.input_names
    if names is not None and len(names) == n:
        return [f"{where}: x[{name!r}]" for name in names]
    return [f"{where}: x[{i}]" for i in range(n)]


def _sw_label(spec: ModelSpec, k: int, where: str) -> str:
    names = spec.output_names
    return f"{where}: sample_weight" if len(names) == 1 else f"{where}: sample_weight[{names[k]!r}]"


def _prefix_of(shape: tuple, full: tuple) -> bool:
    """``shape`` is a non-empty leading part of ``full`` (None in ``full`` matches any size)."""
    return 0 < len(shape) <= len(full) and all(f is None or s == f for s, f in zip(shape, full))


def _check_sample_weight_shapes(spec: ModelSpec, sws, n: int, where: str) -> list:
    """Each output's sample weights checked against its per-sample loss, ``(n,) + output_shape[1:-1]``:
    one weight per sample (``(n,)``, or ``(n, 1)``, taken as ``(n,)``), or per leading axes of the
    loss values (``(n, T)`` for a sequence output). A custom ``compute_loss``/``train_step`` takes any."""
    if spec.free_sample_weights:
        return sws
    shapes, names = spec.output_shapes, spec.output_names
    out = []
    for k, a in enumerate(sws):
        if a is None or k >= len(shapes) or not shapes[k]:
            out.append(a)
            continue
        loss_shape = (n,) + tuple(shapes[k][1:-1])
        shape = tuple(int(d) for d in a.shape)
        if len(shape) >= 2 and shape[-1] == 1 and _prefix_of(shape[:-1], loss_shape):
            a = a.reshape(a.shape[:-1])
        elif not _prefix_of(shape, loss_shape):
            expected = " or ".join(str(loss_shape[:i]) for i in range(1, len(loss_shape) + 1))
            output = f"output {names[k]!r}" if len(names) > 1 else "output"
            raise ValueError(f"{_sw_label(spec, k, where)} has shape {shape}, but the model's {output} of shape "
                             f"{tuple(shapes[k])} takes sample weights of shape {expected} (one weight per "
                             f"sample{', or per sample and step' if len(loss_shape) > 1 else ''}); per-class "
                             f"weights go in class_weight={{class: weight}}")
        out.append(a)
    return out


def with_class_weights(spec: ModelSpec, ys, sws, class_weight, where: str = "fit") -> list:
    """Per-output sample weights times the ``class_weight`` of each sample's class (on the targets' device)."""
    shapes, dtype, names = spec.output_shapes, spec.dtype, spec.output_names
    out = []
    for k, (y, s) in enumerate(zip(ys, sws or (None,) * len(ys))):
        if y is None:
            out.append(s)
            continue
        units = shapes[k][-1] if len(shapes[k]) >= 2 else 1
        if isinstance(class_weight, dict) and isinstance(units, numbers.Integral):
            n_classes = units if units > 1 else 2  # one sigmoid unit: classes 0 and 1
            bad = sorted(c for c in class_weight
                         if isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= n_classes)
            if bad:
                output = f"output {names[k]!r}" if len(names) > 1 else "output"
                raise ValueError(f"{where}: class_weight names class {bad[0]}"
                                 + (f" (and {len(bad) - 1} more)" if len(bad) > 1 else "")
                                 + f", but the model's {output} of shape {tuple(shapes[k])} has {units} "
                                   f"unit{'s' if units != 1 else ''}, so it can only predict classes 0 to "
                                   f"{n_classes - 1}")
        c = array_module(y).asarray(class_weights_for(y, class_weight, shapes[k]).astype(dtype))
        out.append(c if s is None else s * c.reshape(c.shape + (1,) * (s.ndim - 1)))
    return out


def _broadcasts(given: tuple, full: tuple) -> bool:
    """``given`` broadcasts to ``full`` without growing it (NumPy's rule, from the right)."""
    try:
        return np.broadcast_shapes(given, full) == full
    except ValueError:
        return False


def target_shape(loss, y_shape, output_shape) -> tuple:
    """The output shape the targets of ``y_shape`` are checked against, as Keras's losses see them.

    The output's ``None`` axes past the batch take the targets' sizes (targets (N, 42, 40) for an output
    (None, None, 40)). For a loss that compares elementwise (``mean_squared_error``, ...), targets of the
    output's rank (after Keras's ``squeeze_or_expand_to_same_rank``) that broadcast against the output
    are accepted as they are, as Keras's loss functions accept them."""
    out = tuple(output_shape)
    if not out:
        return out
    y_shape = tuple(int(d) for d in y_shape)
    out = out[:1] + tuple(y_shape[i] if d is None and i < len(y_shape) else d for i, d in enumerate(out[1:], 1))
    if getattr(loss, "kind", None) in _BROADCASTING and None not in out[1:] and len(y_shape) == len(out):
        if tuple(y_shape[1:]) != out[1:] and _broadcasts(tuple(y_shape[1:]), out[1:]):
            return out[:1] + tuple(y_shape[1:])
    return out


def _prepare_targets(loss, y, output_shape, dtype, where: str):
    """The compiled loss's target check and conversion against ``target_shape``; targets it refuses are
    checked again against the model's own output shape, so the error names that shape."""
    shape = target_shape(loss, y.shape, output_shape)
    if shape == tuple(output_shape):
        return loss.prepare_targets(y, output_shape, dtype, where=where)
    try:
        return loss.prepare_targets(y, shape, dtype, where=where)
    except ValueError:
        return loss.prepare_targets(y, output_shape, dtype, where=where)


#: losses whose function broadcasts targets against the output elementwise (Keras's same-rank rule first)
_BROADCASTING = frozenset({
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "log_cosh", "poisson", "huber", "kl_divergence",
})


def convert_for_model(spec: ModelSpec, xs, y, sw, where: str, need_y: bool, class_weight=None, backend=None):
    """Check and convert one batch (or a whole array set) for a built model: inputs in their
    dtypes, targets checked against the outputs, sample weights as floats, NaN/Inf refused
    (``config.check_finite``). Returns flat tuples ``(xs, ys or None, sws or None)``."""
    n = len(xs[0])
    dtype = spec.dtype
    check = need_y and config.check_finite
    given = [a.dtype for a in xs]
    wanted = spec.input_dtypes if spec.input_dtypes is not None and len(spec.input_dtypes) == len(xs) else \
        [dtype] * len(xs)
    for label, a, want in zip(_input_labels(spec, len(xs), where), xs, wanted):
        if a.dtype.kind in "US" and np.dtype(want).kind != "O":
            _refuse(a, label)  # strings only for a string input
    with np.errstate(over="ignore"):  # values beyond the dtype's range become inf: check_finite names them
        xs = [a if a.dtype.kind in "US" else a.astype(want, copy=False) if a.dtype != want else a
              for a, want in zip(xs, wanted)]
    if check:
        for label, a, was in zip(_input_labels(spec, len(xs), where), xs, given):
            check_finite(a, label, was)
    names = spec.output_names
    ys = None
    if y is not None:
        ys = _split_y(spec, y, where)
        for k, a in enumerate(ys):
            if a is not None and len(a) != n:
                raise ValueError(f"{where}: x and y must hold the same number of samples; got {n} in x and "
                                 f"{len(a)} in y" + (f"[{names[k]!r}]" if len(names) > 1 else ""))
        shapes = spec.output_shapes
        label = (lambda k: f"{where}: y[{names[k]!r}]") if len(names) > 1 else (lambda k: f"{where}: y")
        given = [None if a is None else a.dtype for a in ys]
        ys = [a if a is None else (_prepare_targets(e, a, shapes[k], dtype, label(k)) if e is not None
                                   else (a.astype(dtype, copy=False) if a.dtype.kind == "f" else a))
              for k, (e, a) in enumerate(zip(spec.losses, ys))]
        if check:
            for k, (a, was) in enumerate(zip(ys, given)):
                check_finite(a, label(k), was)
    sws = None
    if sw is not None:
        sws = _split_sw(spec, sw, where)
        for a in sws:
            if a is not None and len(a) != n:
                raise ValueError(f"{where}: sample_weight must have one entry per sample; got {len(a)} for "
                                 f"{n} samples")
        sws = _check_sample_weight_shapes(spec, sws, n, where)
    if class_weight is not None and ys is not None:
        sws = with_class_weights(spec, ys, sws, class_weight, where)
    if sws is not None:
        given = [None if a is None else a.dtype for a in sws]
        sws = [None if a is None else a.astype(dtype, copy=False) for a in sws]
        if check:
            for k, (a, was) in enumerate(zip(sws, given)):
                check_finite(a, _sw_label(spec, k, where), was)
    if backend is not None and backend.device == "cuda":
        def conv(parts):
            return None if parts is None else [None if a is None else backend.asarray(a) for a in parts]

        xs, ys, sws = conv(xs), conv(ys), conv(sws)
    return tuple(xs), (None if ys is None else tuple(ys)), (None if sws is None else tuple(sws))
