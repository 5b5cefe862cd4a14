"""The Keras training API of a model: compile, fit, evaluate, predict and the ``*_on_batch`` calls.

A mixin for :class:`gradflow.models.Sequential` (which supplies layers, weights and the
forward pass). The loops are written for a small per-step cost: data is checked and converted
once per call, batches are pre-sliced views, the step function is built once per call with
everything it needs bound locally, the loss is accumulated on the device and metrics are
read back only when a line is printed or a callback asks.

Reported losses follow Keras 3: each batch's loss is the sum of its sample-weighted
per-sample losses divided by their number, plus the layers' regularization penalties; the
epoch value is the mean over batches weighted by batch size.

Faults leave the model consistent: ``fit``/``evaluate`` refuse NaN/Inf data before the first step
(``gradflow.config.check_finite``); a batch whose loss is not finite is not applied (weights, batch
norm statistics and optimizer state stay as after the previous batch) and stops ``fit`` with
:class:`NonFiniteLossError`, or cleanly with ``callbacks.TerminateOnNaN``; Ctrl-C during a built-in
train step takes effect when that step is complete.
"""
from __future__ import annotations

import math
import numbers

import numpy as np

from .. import config
from .._threads import owned_cpu_threads, training_threads
from ..distribution import multi_process
from ..optimizers import sigint_deferred
from . import data_adapter as da
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..backend import is_cupy_array
from ..layers.base import _ADD_LOSS_USED
from ..layers.symbolic import flatten, pack_as
from ..progbar import Progbar
from ..saving.compile_config import deserialize_compile_args, serialize_compile_args
from .compile_utils import CompiledLoss, CompileMetrics, apply_activation, class_weights_for

__all__ = ["Trainer", "NotCompiledError", "NonFiniteLossError", "resolve_verbose"]


class NotCompiledError(RuntimeError, ValueError):
    """fit/evaluate/train_on_batch was called before ``compile``."""


class NonFiniteLossError(RuntimeError):
    """A training batch's loss (or a statistic its forward pass updates, such as batch norm's moving
    variance) was NaN or Inf; the batch was not applied. ``value``: the loss; ``weight``: the name of
    the weight that turned non-finite, or None when it was the loss."""

    def __init__(self, message: str, value: float = math.nan, weight: str | None = None):
        super().__init__(message)
        self.value = value
        self.weight = weight


def _nonfinite_message(value: float, at: str, weight: str | None = None) -> str:
    what = f"the loss is {value}" if weight is None else \
        f"the forward pass made {weight!r} NaN or Inf (the loss was {value})"
    stop = "" if weight is not None else \
        "pass callbacks=[keras.callbacks.TerminateOnNaN()] to stop cleanly instead, or "
    return (f"{at}: {what}; that batch's update was not applied, so the weights and the optimizer state are "
            f"those after the previous batch. Lower the learning rate, clip the gradients (e.g. optimizer "
            f"clipnorm=1.0) or look for overflow in the data, model and loss; {stop}set "
            f"gradflow.config.check_finite = False to apply such updates anyway (as Keras does)")


def _is_finite(value) -> bool:
    """Whether a 0-d loss array is finite (on a GPU this waits for the step's forward and backward)."""
    return math.isfinite(value.get() if is_cupy_array(value) else value)


def _array_finite(a) -> bool:
    with np.errstate(all="ignore"):
        return _is_finite(a.sum())


def _all_finite(arrays) -> bool:
    """Whether every array is free of NaN/Inf: one sum each, one host read in all (a GPU syncs once)."""
    if not arrays:
        return True
    with np.errstate(all="ignore"):
        total = arrays[0].sum()
        for a in arrays[1:]:
            total = total + a.sum()
        return _is_finite(total)


def _stateful_weights(model) -> list:
    """The non-trainable float weights of trainable layers (batch norm's moving statistics and the
    like): the ones a training forward pass may change in place, so a rejected batch restores them."""
    out, seen = [], set()
    for layer in model._flatten_layers():
        if not layer.trainable:
            continue
        for p in layer._params.values():
            if not p.trainable and p.data.dtype.kind == "f" and id(p) not in seen:
                seen.add(id(p))
                out.append(p)
    return out


def _rows(parts, rows: slice):
    return None if parts is None else tuple(None if a is None else a[rows] for a in parts)


def resolve_verbose(verbose) -> int:
    """'auto' -> 1 (a live bar on a terminal; elsewhere Progbar prints only each epoch's last line);
    0 on every data-parallel process but the first (one log per job)."""
    dist = multi_process()
    if dist is not None and not dist.is_chief:
        return 0
    if verbose == "auto" or verbose is None:
        return 1
    if isinstance(verbose, (bool, np.bool_)):
        return int(verbose)
    if isinstance(verbose, (int, np.integer)) and 0 <= verbose <= 2:
        return int(verbose)
    raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")


def _check_int(value, name: str, low: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"compile: {what} must be a number, got {value!r}")
    return float(value)


def per_output(value, names: list, what: str, broadcast: bool = True) -> list:
    """``value`` spread over the outputs ``names``: a dict by output name, a list in output
    order, or (``broadcast``) one value for every output (Keras 3's rules)."""
    n = len(names)
    if value is None:
        return [None] * n
    if isinstance(value, dict):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"compile({what}=...): keys {unknown} are not outputs of the model; its outputs are "
                             f"{names}")
        return [value.get(name) for name in names]
    if isinstance(value, (list, tuple)) and n > 1:
        if len(value) != n:
            raise ValueError(f"compile({what}=...): for a model with {n} outputs {names}, a list must have {n} "
                             f"entries, got {len(value)}")
        return list(value)
    if isinstance(value, (list, tuple)) and n == 1 and what in ("loss", "loss_weights"):
        if len(value) != 1:
            raise ValueError(f"compile({what}=...): a single-output model ({names}) takes one "
                             f"{'loss weight' if what == 'loss_weights' else 'loss'}, got {len(value)}")
        return [value[0]]
    if not broadcast and n > 1:
        raise ValueError(f"compile({what}=...): for a model with {n} outputs {names}, pass a list with one entry "
                         f"per output or a dict keyed by output name")
    return [value] * n


class _Accumulator:
    """Sum of ``value * weight`` and of weights: a float on the CPU, a device scalar on a GPU
    (so adding a batch's loss never waits for the device)."""

    __slots__ = ("total", "count", "gpu")

    def __init__(self, gpu: bool):
        self.gpu = gpu
        self.total = 0.0
        self.count = 0

    def add(self, value, n: int) -> None:
        if self.gpu:
            self.total = value.astype(np.float64) * n + self.total
        else:
            self.total += float(value) * n
        self.count += n

    def result(self) -> float:
        if not self.count:
            return float("nan")
        total = self.total
        if self.gpu and not isinstance(total, float):
            total = float(total.get())
        return total / self.count


class _Plan:
    """Everything a training/inference step needs, bound once per fit/evaluate/predict call.

    Works on the flat lists the data adapter hands out: ``xs`` (one array per model input),
    ``ys`` and ``sws`` (one per output, or None). Losses of outputs whose last layer ends in
    softmax/sigmoid run in the fused logits form unless ``compute_loss`` is overridden.
    """

    def __init__(self, model, need_loss: bool):
        self.model = model
        self.params = model._optimizer_params() if need_loss else []
        n_out = len(model._output_names())
        self.n_out = n_out
        losses = model._loss_entries() if need_loss else [None] * n_out
        self.custom_loss = need_loss and model._overrides("compute_loss")
        heads = model._head_layers()
        fused = [None] * n_out
        if need_loss and not self.custom_loss:
            for k, (entry, head) in enumerate(zip(losses, heads)):
                if entry is not None and head is not None:
                    entry.resolve_fused(head)
                    if entry.fused_activation is not None:
                        fused[k] = entry.fused_activation
        self.fused = fused
        heads_on = frozenset(k for k, f in enumerate(fused) if f is not None)
        self.forward_fn = model._make_forward(heads_on)
        self.predict_fn = model._make_forward(frozenset()) if heads_on else self.forward_fn
        self.reducers = [None if e is None else e.reducer(fused[k] is not None) for k, e in enumerate(losses)]
        self.weights = model._loss_weight_list() if need_loss else [1.0] * n_out
        self.track_outputs = sum(r is not None for r in self.reducers) > 1
        self.reg = model._regularized() if need_loss else []
        metrics = model._compiled_metrics
        self.metrics = metrics if metrics is not None and metrics.all else None
        self.optimizer = model.optimizer
        self.graph = model._input_names() is not None  # Sequential/Functional take the flat list
        self.output_accs = None
        self.dist = multi_process()

    def shard(self, xs, ys, sws):
        """Data parallel: ``(xs, ys, sws, share, split)``, this process's rows of a global batch and
        their share of it. A batch smaller than the job runs whole on every process (share 1/size,
        nothing to gather). Alone: the batch as given, share 1.0."""
        dist = self.dist
        n = len(xs[0])
        if dist is None:
            return xs, ys, sws, 1.0, False
        if n < dist.size:
            return xs, ys, sws, 1.0 / dist.size, False
        rows = dist.shard(n)
        return _rows(xs, rows), _rows(ys, rows), _rows(sws, rows), (rows.stop - rows.start) / n, True

    def global_outputs(self, outs, split: bool) -> list:
        """Data parallel: every process's output rows, in batch order (for metrics and predict)."""
        if not split:
            return outs
        return [Tensor._wrap(self.dist.gather_rows(o.data)) for o in outs]

    def global_loss(self, local):
        """The global batch's loss: the sum over processes of each one's ``loss * share``."""
        if self.dist is None:
            return local
        total = self.dist.sum(float(local.get() if is_cupy_array(local) else local))
        return np.asarray(total, dtype=local.dtype)

    def predict(self, xs) -> list:
        if self.dist is None:
            return self.predict_fn(self.feed(xs), False)
        local, _, _, _, split = self.shard(xs, None, None)
        return self.global_outputs(self.predict_fn(self.feed(local), False), split)

    def feed(self, xs):
        """The model's input from the adapter's flat arrays."""
        return _feed(self.model, xs, self.graph)

    def forward(self, xs, training: bool) -> list:
        """Model outputs (logits where the fused loss applies), one Tensor per output."""
        return self.forward_fn(self.feed(xs), training)

    def loss_of(self, xs, ys, outs, sws):
        model = self.model
        if self.custom_loss:
            preds = [apply_activation(f, o) if f else o for f, o in zip(self.fused, outs)]
            return _as_loss(model._call_compute_loss(self.feed(xs), ys, preds, sws), model)
        total = None
        accs = self.output_accs
        for k, reduce in enumerate(self.reducers):
            if reduce is None:
                continue
            value = reduce(ys[k], outs[k], None if sws is None else sws[k])
            if accs is not None:
                accs[k].add(value.data, len(ys[k]))
            w = self.weights[k]
            value = value * w if w != 1.0 else value
            total = value if total is None else total + value
        for reg, p in self.reg:
            penalty = reg(p)
            total = penalty if total is None else total + penalty
        if _ADD_LOSS_USED[0]:
            for extra in model._collect_added_losses():
                total = extra if total is None else total + extra
        if total is None:
            raise ValueError(f"model {model.name!r} was compiled without a loss for its outputs "
                             f"{model._output_names()} and no layer called add_loss(); pass loss= to compile()")
        return total

    def update_metrics(self, ys, outs, sws) -> None:
        if self.metrics is not None and ys is not None:
            preds = [apply_activation(f, o) if f else o for f, o in zip(self.fused, outs)]
            self.metrics.update(ys, preds, sws)

    def _clear(self):
        if _ADD_LOSS_USED[0]:
            self.model._clear_losses()

    def make_train_step(self):
        """``train_step(xs, ys, sws) -> loss array``: one atomic step (Ctrl-C waits for its end; a
        non-finite loss applies nothing). ``train_step.on_nonfinite[0]`` is ``"raise"`` (raise
        NonFiniteLossError) or ``"skip"`` (leave the update out and go on: TerminateOnNaN stops)."""
        params, forward, loss_of, clear = self.params, self.forward, self.loss_of, self._clear
        update_metrics = self.update_metrics if self.metrics is not None else None
        opt_step = self.optimizer.step
        check = bool(config.check_finite)
        stateful = _stateful_weights(self.model) if check else []
        saved = [p.data.copy() for p in stateful]
        on_nonfinite = ["raise"]
        dist, shard, global_outputs, global_loss = self.dist, self.shard, self.global_outputs, self.global_loss
        moving = _stateful_weights(self.model) if dist is not None else []

        def body(xs, ys, sws):
            for p in params:
                p.grad = None
            clear()
            for i, p in enumerate(stateful):
                buf, data = saved[i], p.data
                if buf.shape == data.shape and buf.__class__ is data.__class__:
                    buf[...] = data
                else:  # the weight was moved or replaced since the step was built
                    saved[i] = data.copy()
            global_ys, global_sws, split = ys, sws, False
            if dist is not None:  # this process's rows; the summed gradients are the global batch's
                xs, ys, sws, share, split = shard(xs, ys, sws)
            outs = forward(xs, True)
            loss = loss_of(xs, ys, outs, sws)
            if dist is not None:
                loss = loss * share
            value = loss.data
            if loss.requires_grad:
                if dist is None:
                    loss.backward()
                else:  # the all-reduce runs in buckets alongside the backward pass
                    dist.backward(loss, params)
                    value = global_loss(loss.data)
                    dist.average_state([p.data for p in moving])
                broken = None
                if check:
                    finite = _is_finite(value)
                    if finite and stateful and not _all_finite([p.data for p in stateful]):
                        # a statistic the forward pass updated overflowed although the loss did not
                        broken = next((p for p, buf in zip(stateful, saved)
                                       if not _array_finite(p.data) and _array_finite(buf)), None)
                if check and (not finite or broken is not None):
                    for p, buf in zip(stateful, saved):
                        p.data[...] = buf
                    if broken is not None or on_nonfinite[0] == "raise":
                        number = float(value.get() if is_cupy_array(value) else value)
                        name = None if broken is None else broken.name
                        raise NonFiniteLossError(_nonfinite_message(number, "train step", name), number, name)
                else:
                    opt_step(params)
            elif dist is not None:
                value = global_loss(loss.data)
            if update_metrics is not None:
                update_metrics(global_ys, global_outputs(outs, split), global_sws)
            return value

        def train_step(xs, ys, sws):
            return sigint_deferred(body, xs, ys, sws)

        train_step.on_nonfinite = on_nonfinite
        return train_step

    def make_test_step(self):
        forward, loss_of, clear = self.forward, self.loss_of, self._clear
        update_metrics = self.update_metrics if self.metrics is not None else None

        shard, global_outputs, global_loss = self.shard, self.global_outputs, self.global_loss

        def test_step(xs, ys, sws):
            clear()
            local_xs, local_ys, local_sws, share, split = shard(xs, ys, sws)
            outs = forward(local_xs, False)
            loss = loss_of(local_xs, local_ys, outs, local_sws)
            if update_metrics is not None:
                update_metrics(ys, global_outputs(outs, split), sws)
            return loss.data if self.dist is None else global_loss(loss.data * share)

        return test_step


def _as_loss(value, model):
    if value is None:
        raise ValueError(f"model {model.name!r}: compute_loss() returned None; it must return the scalar loss Tensor")
    return value if isinstance(value, Tensor) else Tensor(value)


def _to_logs(values) -> dict:
    """A train/test_step's return value as flat ``{name: float}`` logs (nested dicts merged in)."""
    out = {}
    if values is None:
        return out
    if not isinstance(values, dict):
        raise TypeError(f"train_step/test_step must return a dict of metric values, got {type(values).__name__}")
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(_to_logs(v))
        else:
            out[k] = _scalar(v)
    return out


def _scalar(v) -> float:
    if isinstance(v, Tensor):
        v = v.data
    if is_cupy_array(v):
        v = v.get()
    try:
        return float(np.asarray(v))
    except (TypeError, ValueError):
        return v


class Trainer:
    """compile/fit/evaluate/predict and the Keras 3 override points, for every kind of model.

    The model supplies ``_make_forward``, ``_output_names``, ``_input_names``, ``_head_layers``,
    ``_pack_outputs`` and the Layer API (weights, build); see :class:`gradflow.models.Model`.
    """

    def _init_trainer(self) -> None:
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._compile_args = None
        self._losses = None
        self._loss_weights = None
        self._compiled_metrics = None
        self._loss_tracker = None
        self._x_template = None

    # -- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True) -> None:
        """Set the optimizer, loss(es) and metrics (names or objects), as ``keras.Model.compile``.

        With several outputs, ``loss``/``loss_weights``/``metrics`` may be lists (output order)
        or dicts keyed by output name; one loss applies to every output. ``run_eagerly``,
        ``steps_per_execution``, ``jit_compile`` and ``auto_scale_loss`` are accepted for
        compatibility and have no effect (gradflow always runs eagerly).
        """
        from .. import metrics as metrics_mod
        from .. import optimizers

        opt = optimizers.get(optimizer)
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict, numbers.Real)):
            raise ValueError(f"compile: loss_weights must be a number, a list or a dict, got {loss_weights!r}")
        for what, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise ValueError(f"compile: {what} must be a list (or a dict keyed by output name), got "
                                 f"{what}={value!r}")
        if loss is not None and not isinstance(loss, (list, tuple, dict)):
            CompiledLoss(loss)  # a bad name fails here, not at fit
        self.optimizer = opt
        self._compile_args = {"loss": loss, "metrics": metrics, "weighted_metrics": weighted_metrics,
                              "loss_weights": loss_weights}
        self._losses = self._loss_weights = self._compiled_metrics = None
        self._loss_tracker = metrics_mod.Mean(name="loss")
        self.compiled = True
        if self.built:
            self._resolve_compile()

    def _resolve_compile(self) -> None:
        """Per-output losses, weights and metrics, once the outputs are known (at the first batch for
        a subclassed model)."""
        if self._losses is not None or not self.compiled or self.output_shape is None:
            return  # a subclassed model resolves at its first batch, when its outputs are known
        args = self._compile_args
        names = self._output_names()
        loss_specs = per_output(args["loss"], names, "loss")
        weights = per_output(args["loss_weights"], names, "loss_weights")
        self._losses = [None if spec is None else CompiledLoss(spec) for spec in loss_specs]
        self._loss_weights = [1.0 if w is None else _number(w, "loss_weights") for w in weights]
        shapes = self._output_shapes()
        def metric_specs(value, what):
            if len(names) > 1 or isinstance(value, dict):
                return per_output(value, names, what, broadcast=False)
            return [value]

        self._compiled_metrics = CompileMetrics(metric_specs(args["metrics"], "metrics"),
                                                metric_specs(args["weighted_metrics"], "weighted_metrics"),
                                                names if len(names) > 1 else [None], loss_specs, shapes)

    def _output_shapes(self) -> list:
        shape = self.output_shape
        if isinstance(shape, dict):
            return [tuple(shape[k]) for k in sorted(shape)]
        if isinstance(shape, list) or (isinstance(shape, tuple) and shape and isinstance(shape[0], (tuple, list))):
            return [tuple(s) for s in shape]
        return [tuple(shape)]

    def _loss_entries(self) -> list:
        self._resolve_compile()
        return list(self._losses)

    def _loss_weight_list(self) -> list:
        self._resolve_compile()
        return list(self._loss_weights)

    def _overrides(self, method: str) -> bool:
        """Whether the model's class replaces Keras's ``method`` (train_step, compute_loss...)."""
        return getattr(type(self), method) is not getattr(Trainer, method)

    @property
    def loss(self):
        """The loss given to ``compile`` (None before)."""
        return self._compile_args["loss"] if self._compile_args else None

    @property
    def compiled_loss(self):
        return self._losses

    @property
    def metrics(self) -> list:
        """Keras 3's list: the loss tracker, the compiled metrics container, per-output loss
        trackers, then metrics the model holds as attributes."""
        out = []
        if self.compiled and self._loss_tracker is not None:
            out.append(self._loss_tracker)
            if self._compiled_metrics is not None and self._compiled_metrics.all:
                out.append(self._compiled_metrics)
        from ..metrics import Metric

        for value in vars(self).values():
            if isinstance(value, Metric) and value is not self._loss_tracker and value not in out:
                out.append(value)
        return out

    @property
    def metrics_names(self) -> list[str]:
        names = ["loss"]
        if self._compiled_metrics is not None:
            names += self._compiled_metrics.names
        return names

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self) -> dict:
        """The current value of every metric in ``metrics`` as plain floats (nested results merged)."""
        logs = {}
        for m in self.metrics:
            logs.update(_to_logs({m.name: m.result()}))
        return logs

    def _optimizer_params(self) -> list:
        """The parameters the optimizer updates: trainable ones, in weight order."""
        return [p for p in self.trainable_weights if p.requires_grad]

    def zero_grad(self) -> None:
        """Clear the gradients of every weight (before ``loss.backward()`` in a custom train_step)."""
        for p in self.weights:
            p.grad = None

    def _assert_compiled(self, what: str, need_loss: bool = True) -> None:
        if not self.compiled:
            raise NotCompiledError(f"You must call compile() before {what}(): model {self.name!r} has no optimizer "
                                   f"or loss yet, e.g. model.compile(optimizer='adam', "
                                   f"loss='sparse_categorical_crossentropy', metrics=['accuracy'])")
        # a model compiled without a loss may still train on add_loss() terms: the first step says
        # "compiled without a loss" if there are none

    # -- the Keras 3 override points -----------------------------------------------------------
    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The total loss: the compiled loss(es) on ``y``/``y_pred`` plus regularization penalties
        and ``add_loss`` terms (Keras 3's ``compute_loss``; override it for a custom loss)."""
        names = self._output_names()
        preds = self._align(y_pred, names, "y_pred")
        ys = self._align(y, names, "y") if y is not None else [None] * len(names)
        sws = self._align_weights(sample_weight, names)
        total = None
        for entry, w, yt, yp, sw in zip(self._loss_entries(), self._loss_weight_list(), ys, preds, sws):
            if entry is None:
                continue
            yt = entry.prepare_targets(_raw(yt), tuple(yp.shape), yp.dtype, where="compute_loss: y") \
                if yt is not None else None
            value = entry.reducer(False)(yt, yp, _raw(sw))
            value = value * w if w != 1.0 else value
            total = value if total is None else total + value
        for penalty in self.losses:
            total = penalty if total is None else total + penalty
        if total is None:
            return Tensor(np.zeros((), dtype=self._dtype()))
        return total

    def _call_compute_loss(self, x, ys, preds, sws):
        import inspect

        params = inspect.signature(self.compute_loss).parameters
        kwargs = {"x": x, "y": self._pack_targets(ys), "y_pred": self._pack_outputs(preds),
                  "sample_weight": None if sws is None or all(s is None for s in sws) else self._pack_targets(sws)}
        if "training" in params:
            kwargs["training"] = True
        return self.compute_loss(**kwargs)

    def _pack_targets(self, values):
        values = [None if v is None else (v if isinstance(v, Tensor) else Tensor._wrap(v)) for v in values]
        return self._pack_outputs(values) if len(values) > 1 else values[0]

    def _align(self, value, names, what):
        if isinstance(value, dict):
            return [_tensor(value.get(n)) for n in names]
        flat = flatten(value) if isinstance(value, (list, tuple)) else [value]
        if len(flat) != len(names):
            raise ValueError(f"compute_loss: {what} has {len(flat)} entries for a model with outputs {names}")
        return [_tensor(v) for v in flat]

    def _align_weights(self, sw, names):
        if sw is None:
            return [None] * len(names)
        if isinstance(sw, dict):
            return [sw.get(n) for n in names]
        if isinstance(sw, (list, tuple)):
            return list(sw)
        return [sw] * len(names)

    def train_step(self, data):
        """One optimizer step on ``data`` = ``(x, y[, sample_weight])``; returns the metric results
        (Keras 3). Override it with gradflow's autograd: ``loss.backward()`` then
        ``self.optimizer.apply(grads, self.trainable_weights)`` (see README)."""
        plan, step = self._default_step("train")
        return self._default_step_logs(plan, step, data)

    def test_step(self, data):
        """Loss and metrics of ``data`` in inference mode (Keras 3); override to customise."""
        plan, step = self._default_step("test")
        return self._default_step_logs(plan, step, data)

    def predict_step(self, data):
        """The model's outputs for ``data`` (``x`` or ``(x,)``) in inference mode."""
        x = data[0] if isinstance(data, tuple) else data
        return self(x, training=False)

    def _default_step(self, kind):
        cache = self.__dict__.setdefault("_default_steps", {})
        key = (kind, id(self.optimizer), self._losses is not None)
        if key not in cache:
            plan = _Plan(self, need_loss=True)
            cache.clear()
            cache[key] = (plan, plan.make_train_step() if kind == "train" else plan.make_test_step())
        return cache[key]

    def _default_step_logs(self, plan, step, data):
        x, y, sw = da.unpack_batch(data, "train_step")
        xs = [_raw(v) for v in (flatten(x) if isinstance(x, (list, tuple, dict)) else [x])]
        names = self._output_names()
        ys = [_raw(v) for v in self._align(y, names, "y")]
        ys = [e.prepare_targets(v, tuple(s), self._dtype()) if e is not None and v is not None else v
              for e, v, s in zip(self._loss_entries(), ys, self._output_shapes())]
        sws = [_raw(v) for v in self._align_weights(sw, names)]
        loss = step(xs, ys, sws)
        self._loss_tracker.update_state(loss, sample_weight=len(xs[0]))
        return self.get_metrics_result()

    # -- compile settings in files (Keras 3's hooks) -------------------------------------------
    def get_compile_config(self) -> dict | None:
        """The arguments given to ``compile`` as JSON-able data (registered names and configs), or
        None before ``compile``; saved in model files and restored by ``compile_from_config``."""
        if not self.compiled:
            return None
        return serialize_compile_args(self.optimizer, self._compile_args or {})

    def compile_from_config(self, config: dict) -> None:
        """``compile`` with the settings of ``get_compile_config()`` (a fresh optimizer)."""
        self.compile(**deserialize_compile_args(config))

    # -- data ---------------------------------------------------------------------------------
    def _compute_backend(self):
        from ..backend import _instance, get_backend

        backend = get_backend()
        w = next(self._iter_weights(), None)
        if w is None:
            return backend
        if is_cupy_array(w.data):
            return backend if backend.device == "cuda" else _instance("cupy")
        return backend if backend.device == "cpu" else _instance("numpy")

    def _split_x(self, x, where: str):
        """(flat list of arrays, structure template or None) for what the caller passed as x."""
        names = self._input_names()
        if names is None:  # subclassed: any structure its call() takes
            if isinstance(x, (dict, tuple)) or (isinstance(x, list) and x and all(hasattr(v, "shape") for v in x)):
                flat = flatten(x)
                return [da.as_array(v, f"{where}: x") for v in flat], pack_as(x, list(range(len(flat))))
            return [da.as_array(x, f"{where}: x")], None
        n = len(names)
        if isinstance(x, dict):
            missing = [k for k in names if k not in x]
            unknown = sorted(set(x) - set(names))
            if missing or unknown:
                raise ValueError(f"{where}: x is a dict but the model's inputs are {names}; missing {missing}"
                                 + (f", unknown {unknown}" if unknown else ""))
            return [da.as_array(x[k], f"{where}: x[{k!r}]") for k in names], None
        if n > 1:
            if not isinstance(x, (list, tuple)) or len(x) != n:
                got = f"a {type(x).__name__} of {len(x)}" if isinstance(x, (list, tuple)) else type(x).__name__
                raise ValueError(f"{where}: the model has {n} inputs {names}; pass x as a list of {n} arrays or a "
                                 f"dict keyed by input name, got {got}")
            return [da.as_array(v, f"{where}: x[{i}] ({names[i]!r})") for i, v in enumerate(x)], None
        if isinstance(x, (list, tuple)) and len(x) == 1 and hasattr(x[0], "shape"):
            x = x[0]
        return [da.as_array(x, f"{where}: x")], None

    def _input_dtypes(self, xs, dtype) -> list:
        """What each input array is cast to: the model's float dtype, except integer inputs that a
        functional model declares as integer (``Input(dtype='int32')``)."""
        inputs = getattr(self, "inputs", None)
        if not inputs or len(inputs) != len(xs):
            return [dtype] * len(xs)
        return [np.dtype(t.dtype) if np.dtype(t.dtype).kind in "iub" else dtype for t in inputs]

    def _split_y(self, y, where: str) -> list:
        names = self._output_names()
        n = len(names)
        if isinstance(y, dict):
            unknown = sorted(set(y) - set(names))
            if unknown:
                raise ValueError(f"{where}: y has keys {unknown} that are not outputs of the model; outputs: {names}")
            return [None if y.get(k) is None else da.as_array(y[k], f"{where}: y[{k!r}]") for k in names]
        if n > 1:
            if not isinstance(y, (list, tuple)) or len(y) != n:
                raise ValueError(f"{where}: the model has {n} outputs {names}; pass y as a list of {n} arrays or a "
                                 f"dict keyed by output name")
            return [None if v is None else da.as_array(v, f"{where}: y[{i}] ({names[i]!r})") for i, v in enumerate(y)]
        if isinstance(y, (list, tuple)) and len(y) == 1 and hasattr(y[0], "shape"):
            y = y[0]
        return [da.as_array(y, f"{where}: y")]

    def _split_sw(self, sw, where: str) -> list:
        names = self._output_names()
        if isinstance(sw, dict):
            return [None if sw.get(k) is None else da.as_array(sw[k], f"{where}: sample_weight[{k!r}]")
                    for k in names]
        if isinstance(sw, (list, tuple)) and len(names) > 1 and len(sw) == len(names) and \
                all(v is None or hasattr(v, "shape") for v in sw):
            return [None if v is None else da.as_array(v, f"{where}: sample_weight[{i}]") for i, v in enumerate(sw)]
        arr = da.as_array(sw, f"{where}: sample_weight")
        return [arr] * len(names)

    def _ready_for(self, xs, template, where: str) -> None:
        """Build for the data if needed (else check its shape); resolve the compiled losses/metrics."""
        shapes = [(None,) + tuple(int(d) for d in a.shape[1:]) for a in xs]
        actual = [tuple(int(d) for d in a.shape) for a in xs]
        names = self._input_names()
        if names is None:
            if template is not None:
                if self._x_template is not None and flatten(self._x_template) != flatten(template):
                    raise ValueError(f"{where}: x has a different structure than the model was first called with")
                self._x_template = template
            spec = pack_as(template, shapes) if template is not None else shapes[0]
            no_call = type(self).call.__qualname__ == "Model.call"  # e.g. a GAN that only defines train_step
            if (not self.built or self.output_shape is None) and not (no_call and self._overrides("train_step")):
                sample = [a[:1] for a in xs]
                from ..autograd.grad_mode import no_grad as _ng

                with _ng():
                    out = self(pack_as(template, sample) if template is not None else sample[0], training=False)
                self._clear_losses()
                self._built_from(out, spec)
        elif not self.built:
            self.build(shapes[0] if len(shapes) == 1 else shapes)
        else:
            self.check_input_shape(actual[0] if len(actual) == 1 else actual)
        self._resolve_compile()

    def _convert_batch(self, x, y, sw, where: str, need_y: bool, class_weight=None, backend=None):
        """Check and convert one batch (or a whole array set) for the model: inputs in the model's
        dtype, targets checked against the outputs, sample weights as floats. Returns flat tuples."""
        xs, template = self._split_x(x, where)
        n = len(xs[0])
        for i, a in enumerate(xs[1:], 1):
            if len(a) != n:
                raise ValueError(f"{where}: every input must hold the same number of samples; input 0 has {n}, "
                                 f"input {i} has {len(a)}")
        if need_y and y is None and self._compile_args and self._compile_args.get("loss") is not None:
            raise ValueError(f"{where}: targets are missing; pass y= (or batches of (x, y)) to train or evaluate")
        self._ready_for(xs, template, where)
        dtype = self._dtype()
        check = need_y and config.check_finite
        given = [a.dtype for a in xs]
        with np.errstate(over="ignore"):  # values beyond the dtype's range become inf: check_finite names them
            xs = [a.astype(want, copy=False) if a.dtype != want else a
                  for a, want in zip(xs, self._input_dtypes(xs, dtype))]
        if check:
            for label, a, was in zip(self._input_labels(len(xs), where), xs, given):
                da.check_finite(a, label, was)
        names = self._output_names()
        ys = None
        if y is not None:
            ys = self._split_y(y, where)
            for k, a in enumerate(ys):
                if a is not None and len(a) != n:
                    raise ValueError(f"{where}: x and y must hold the same number of samples; got {n} in x and "
                                     f"{len(a)} in y" + (f"[{names[k]!r}]" if len(names) > 1 else ""))
            shapes = self._output_shapes()
            entries = self._losses or [None] * len(names)
            label = (lambda k: f"{where}: y[{names[k]!r}]") if len(names) > 1 else (lambda k: f"{where}: y")
            given = [None if a is None else a.dtype for a in ys]
            ys = [a if a is None else (e.prepare_targets(a, shapes[k], dtype, where=label(k)) if e is not None
                                       else (a.astype(dtype, copy=False) if a.dtype.kind == "f" else a))
                  for k, (e, a) in enumerate(zip(entries, ys))]
            if check:
                for k, (a, was) in enumerate(zip(ys, given)):
                    da.check_finite(a, label(k), was)
        sws = None
        if sw is not None:
            sws = self._split_sw(sw, where)
            for a in sws:
                if a is not None and len(a) != n:
                    raise ValueError(f"{where}: sample_weight must have one entry per sample; got {len(a)} for "
                                     f"{n} samples")
            sws = self._check_sample_weight_shapes(sws, n, where)
        if class_weight is not None and ys is not None:
            sws = self._with_class_weights(ys, sws, class_weight, where)
        if sws is not None:
            given = [None if a is None else a.dtype for a in sws]
            sws = [None if a is None else a.astype(dtype, copy=False) for a in sws]
            if check:
                for k, (a, was) in enumerate(zip(sws, given)):
                    da.check_finite(a, self._sw_label(k, where), was)
        if backend is not None and backend.device == "cuda":
            conv = (lambda parts: None if parts is None else [None if a is None else backend.asarray(a) for a in parts])
            xs, ys, sws = conv(xs), conv(ys), conv(sws)
        return tuple(xs), (None if ys is None else tuple(ys)), (None if sws is None else tuple(sws))

    def _input_labels(self, n: int, where: str) -> list:
        """How errors name each input array: ``fit: x``, ``fit: x['image']``, ``fit: x[1]``."""
        if n == 1:
            return [f"{where}: x"]
        names = self._input_names()
        if names is not None and len(names) == n:
            return [f"{where}: x[{name!r}]" for name in names]
        return [f"{where}: x[{i}]" for i in range(n)]

    def _sw_label(self, k: int, where: str) -> str:
        names = self._output_names()
        return f"{where}: sample_weight" if len(names) == 1 else f"{where}: sample_weight[{names[k]!r}]"

    def _check_sample_weight_shapes(self, sws, n: int, where: str) -> list:
        """Each output's sample weights checked against its per-sample loss, ``(n,) + output_shape[1:-1]``:
        one weight per sample (``(n,)``, or ``(n, 1)``, taken as ``(n,)``), or per leading axes of the
        loss values (``(n, T)`` for a sequence output). A custom ``compute_loss``/``train_step`` takes any."""
        if self._overrides("compute_loss") or self._overrides("train_step"):
            return sws
        try:
            shapes = self._output_shapes()
        except (TypeError, IndexError):
            return sws
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
                names = self._output_names()
                expected = " or ".join(str(loss_shape[:i]) for i in range(1, len(loss_shape) + 1))
                output = f"output {names[k]!r}" if len(names) > 1 else "output"
                raise ValueError(f"{self._sw_label(k, where)} has shape {shape}, but the model's {output} of shape "
                                 f"{tuple(shapes[k])} takes sample weights of shape {expected} (one weight per "
                                 f"sample{', or per sample and step' if len(loss_shape) > 1 else ''}); per-class "
                                 f"weights go in class_weight={{class: weight}}")
            out.append(a)
        return out

    def _with_class_weights(self, ys, sws, class_weight, where: str = "fit") -> list:
        """Per-output sample weights times the ``class_weight`` of each sample's class (on the targets' device)."""
        from ..backend import array_module

        shapes, dtype = self._output_shapes(), self._dtype()
        names = self._output_names()
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

    def _source(self, x, y, sample_weight, batch_size, shuffle, where, need_y, class_weight=None,
                validation_split=0.0):
        """(training source, validation arrays or None) for arrays or a batch source."""
        backend = self._compute_backend()
        if x is None:
            raise ValueError(f"{where}: x is required (arrays, or a generator/Sequence of batches)")
        if da.is_batch_source(x):
            if y is not None:
                raise ValueError(f"{where}: y must not be given when x is a generator/Sequence of batches; the "
                                 f"batches carry the targets as (x, y) or (x, y, sample_weight)")
            if sample_weight is not None:
                raise ValueError(f"{where}: sample_weight must not be given when x yields batches; yield "
                                 f"(x, y, sample_weight) instead")
            if validation_split:
                raise ValueError(f"{where}: validation_split needs array inputs; with a generator pass "
                                 f"validation_data= instead")

            def convert(xb, yb, swb):
                return self._convert_batch(xb, yb, swb, where, need_y, class_weight, backend)

            return da.BatchSource(x, convert, shuffle=shuffle, where=f"{where}: x"), None
        if not (da.is_array_data(x) or isinstance(x, dict)):
            raise TypeError(f"{where}: x must be an array (NumPy, CuPy, list), a list/dict of arrays (one per model "
                            f"input) or a generator/Sequence of batches, got {type(x).__name__}")
        xs, ys, sws = self._convert_batch(x, y, sample_weight, where, need_y, None, None)
        val = None
        if validation_split:
            (xs, ys, sws), val = da.split_validation((xs, ys, sws), validation_split)
        if class_weight is not None and ys is not None:
            sws = tuple(self._with_class_weights(ys, sws, class_weight, where))
        return da.ArraySource((xs, ys, sws), batch_size, shuffle=shuffle, backend=backend), val

    # -- fit ----------------------------------------------------------------------------------
    @owned_cpu_threads
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs (Keras semantics); returns the ``History`` callback.

        ``x``/``y``: arrays (NumPy, CuPy, lists), lists or dicts of arrays for several inputs or
        outputs, or, for ``x`` alone, a generator/Sequence of ``(x, y[, sample_weight])`` batches.
        ``validation_split`` holds out the LAST fraction of the arrays (before shuffling);
        ``validation_data`` is ``(x, y[, sw])`` or a batch source. Everything is checked before
        the first step, so a bad call changes no weights: NaN/Inf in x, y, sample_weight or the
        validation data raise ``NonFiniteDataError`` (``gradflow.config.check_finite = False`` turns
        this off). A batch whose loss is NaN/Inf is not applied and raises ``NonFiniteLossError``
        (with ``callbacks.TerminateOnNaN`` training stops cleanly instead); Ctrl-C takes effect at the
        end of the step it lands in, so the model is always at the end of a completed step.
        """
        self._assert_compiled("fit")
        verbose = resolve_verbose(verbose)
        batch_size = da.check_batch_size(batch_size)
        epochs = _check_int(epochs, "epochs")
        initial_epoch = _check_int(initial_epoch, "initial_epoch")
        if isinstance(validation_split, bool) or not isinstance(validation_split, numbers.Real) or \
                not 0.0 <= float(validation_split) < 1.0:
            raise ValueError(f"validation_split must be a float in [0, 1), got {validation_split!r}")
        if shuffle not in (True, False, "batch"):
            raise ValueError(f"shuffle must be True, False or 'batch', got {shuffle!r}")
        val_freq = self._validation_freq(validation_freq)
        if validation_data is not None:
            validation_split = 0.0
        source, val_arrays = self._source(x, y, sample_weight, batch_size, shuffle, "fit", True, class_weight,
                                          float(validation_split))
        stream = da.BatchStream(source, steps_per_epoch)
        val_stream = self._validation_stream(validation_data, val_arrays, validation_batch_size or batch_size,
                                             validation_steps)
        if isinstance(source, da.BatchSource) and not self.built:
            self._peek_build(source)
        cbs = self._callback_list(callbacks, verbose=verbose, epochs=epochs, steps=stream.target, history=True)
        train_step, epoch_logs = self._step_runner("train")
        if hasattr(train_step, "on_nonfinite"):
            from ..callbacks import TerminateOnNaN

            # TerminateOnNaN stops cleanly at the end of the batch; the step leaves that batch's update out
            train_step.on_nonfinite[0] = "skip" if any(isinstance(cb, TerminateOnNaN) for cb in cbs) else "raise"
        test_step, val_epoch_logs = self._step_runner("test") if val_stream is not None else (None, None)
        gpu = self._compute_backend().device == "cuda"
        dist = multi_process()
        if dist is not None:  # every process starts from rank 0's weights (and shuffles as it does)
            dist.broadcast_model(self)
        self.stop_training = False
        train_hooks = cbs.has_batch_hooks("train")
        cbs.on_train_begin({})
        # BackupAndRestore (Keras 3's hand-off): a restored backup resumes at its epoch
        requested = initial_epoch
        initial_epoch = self.__dict__.pop("_initial_epoch", None) or initial_epoch
        if dist is not None:  # only rank 0 writes backups (its disk may be its own): its restore counts
            seen = dist.comm.allgather(initial_epoch)
            if any(e != requested for e in seen):  # some rank restored: all take rank 0's state and epoch
                dist.broadcast_model(self)
            initial_epoch = seen[0]
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch, {})
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            bar = Progbar(stream.target, verbose=verbose) if verbose else None
            acc = _Accumulator(gpu)
            steps = self._run_batches(stream.epoch(), train_step, acc, cbs, train_hooks, bar, "train", epoch_logs,
                                      epoch)
            if steps == 0:
                stream.warn_exhausted(0)
                break
            logs = epoch_logs(acc)
            if val_stream is not None and val_freq(epoch):
                val_logs = self._evaluate_stream(val_stream, test_step, val_epoch_logs, cbs, gpu)
                logs.update({"val_" + k: v for k, v in val_logs.items()})
            if bar is not None:
                bar.update(steps, logs, finalize=True)
            source.on_epoch_end()
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training or stream.exhausted:
                if stream.exhausted:
                    stream.warn_exhausted(steps)
                break
        cbs.on_train_end(logs)
        return self.history

    def _step_runner(self, kind: str):
        """``(step(xs, ys, sws) -> batch loss or logs dict, logs(acc) -> dict)``: the fast built-in step,
        or the model's own ``train_step``/``test_step`` when it overrides them."""
        if self._overrides(f"{kind}_step"):
            if multi_process() is not None:
                raise NotImplementedError(f"model {self.name!r} overrides {kind}_step: data-parallel training "
                                          f"runs the built-in steps only (they shard each batch and all-reduce "
                                          f"the gradients)")
            user_step = getattr(self, f"{kind}_step")
            state = {"logs": {}}

            def step(xs, ys, sws):
                x = self._x_for_step(xs)
                data = (x,) if ys is None else ((x, self._pack_targets(ys)) if sws is None else
                                                (x, self._pack_targets(ys), self._pack_targets(sws)))
                state["logs"] = _to_logs(user_step(data))
                return None

            return step, lambda acc: dict(state["logs"])
        plan = _Plan(self, need_loss=True)
        step = plan.make_train_step() if kind == "train" else plan.make_test_step()
        if not plan.track_outputs:
            return step, self._logs
        gpu = self._compute_backend().device == "cuda"
        names = self._output_names()

        def reset():
            plan.output_accs = [_Accumulator(gpu) for _ in names]

        def logs_of(acc):
            logs = self._logs(acc)
            for k, a in enumerate(plan.output_accs):
                if plan.reducers[k] is not None:  # data parallel: each process summed its own rows
                    logs[f"{names[k]}_loss"] = a.result() if plan.dist is None else \
                        plan.dist.sum(a.result() * a.count) / plan.dist.sum(a.count)
            return logs

        reset()
        step.reset = reset
        return step, logs_of

    def _x_for_step(self, xs):
        wrapped = [Tensor._wrap(a) for a in xs]
        template = self._x_template
        if template is not None:
            return pack_as(template, wrapped)
        names = self._input_names()
        if names is not None and len(names) > 1:
            return wrapped
        return wrapped[0]

    def _validation_freq(self, freq):
        if isinstance(freq, (list, tuple, set, frozenset)):
            wanted = {_check_int(e, "validation_freq entries", 1) for e in freq}
            return lambda epoch: epoch + 1 in wanted
        freq = _check_int(freq, "validation_freq", 1)
        return lambda epoch: (epoch + 1) % freq == 0

    def _validation_stream(self, validation_data, val_arrays, batch_size, steps):
        batch_size = da.check_batch_size(batch_size, "validation_batch_size")
        if validation_data is None:
            if val_arrays is None:
                return None
            return da.BatchStream(da.ArraySource(val_arrays, batch_size, backend=self._compute_backend()), steps,
                                  "validation_steps")
        if da.is_batch_source(validation_data) and not isinstance(validation_data, tuple):
            source, _ = self._source(validation_data, None, None, batch_size, False, "fit (validation_data)", True)
            return da.BatchStream(source, steps, "validation_steps")
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight), "
                             f"or a generator/Sequence of batches; got {type(validation_data).__name__}"
                             + (f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else ""))
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        source, _ = self._source(vx, vy, vsw, batch_size, False, "fit (validation_data)", True)
        return da.BatchStream(source, steps, "validation_steps")

    def _peek_build(self, source) -> None:
        """Build an unbuilt model from the first batch of a batch source (without losing it)."""
        first = source.peek()
        xs, template = self._split_x(first[0], "fit")
        self._ready_for(xs, template, "fit")

    def _run_batches(self, batches, step, acc, cbs, hooks: bool, bar, mode: str, logs_of, epoch=None) -> int:
        """Run ``step`` on every batch; returns the number of steps taken."""
        steps = [0]
        try:
            return self._batch_loop(batches, step, acc, cbs, hooks, bar, mode, logs_of, steps)
        except NonFiniteLossError as exc:
            at = f"fit: epoch {epoch + 1}, batch {steps[0]}" if epoch is not None else f"{mode}: batch {steps[0]}"
            raise NonFiniteLossError(_nonfinite_message(exc.value, at, exc.weight), exc.value, exc.weight) from None

    def _batch_loop(self, batches, step, acc, cbs, hooks, bar, mode, logs_of, counter) -> int:
        dynamic = bar is not None and bar._dynamic and bar.verbose == 1
        begin = getattr(cbs, f"on_{mode}_batch_begin")
        end = getattr(cbs, f"on_{mode}_batch_end")
        reset = getattr(step, "reset", None)
        if reset is not None:
            reset()
        steps = 0
        if not hooks and not dynamic:  # the hot path: nothing to report per batch
            for x, y, sw in batches:
                counter[0] = steps
                loss = step(x, y, sw)
                if loss is not None:
                    acc.add(loss, len(x[0]))
                steps += 1
                if self.stop_training:
                    break
            return steps
        for x, y, sw in batches:
            counter[0] = steps
            if hooks:
                begin(steps, {})
            loss = step(x, y, sw)
            if loss is not None:
                acc.add(loss, len(x[0]))
            steps += 1
            if hooks:
                end(steps - 1, logs_of(acc))
            if dynamic:
                bar.update(steps, lambda: logs_of(acc))
            if self.stop_training and mode == "train":
                break
        return steps

    def _logs(self, acc) -> dict:
        logs = {"loss": acc.result()}
        if self._compiled_metrics is not None:
            logs.update(self._compiled_metrics.results())
        return logs

    def _evaluate_stream(self, stream, test_step, logs_of, cbs, gpu, bar=None) -> dict:
        self.reset_metrics()
        hooks = cbs.has_batch_hooks("test")
        cbs.on_test_begin({})
        acc = _Accumulator(gpu)
        with no_grad():
            steps = self._run_batches(stream.epoch(), test_step, acc, cbs, hooks, bar, "test", logs_of)
        stream.source.on_epoch_end()
        logs = logs_of(acc) if steps else {"loss": float("nan")}
        if bar is not None:
            bar.update(steps, logs, finalize=True)
        cbs.on_test_end(logs)
        return logs

    # -- evaluate / predict -------------------------------------------------------------------
    @owned_cpu_threads
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on the data, in inference mode: the scalar loss when there are no
        metrics, else ``[loss, *metrics]``, or a dict with ``return_dict=True``."""
        self._assert_compiled("evaluate")
        stream, cbs, bar = self._one_pass(x, y, sample_weight, batch_size, verbose, steps, callbacks, "evaluate")
        test_step, logs_of = self._step_runner("test")
        logs = self._evaluate_stream(stream, test_step, logs_of, cbs, self._compute_backend().device == "cuda", bar)
        return self._format_result(logs, return_dict)

    def _one_pass(self, x, y, sample_weight, batch_size, verbose, steps, callbacks, where):
        """(batch stream, callbacks, progress bar or None) for one pass of evaluate/predict."""
        verbose = resolve_verbose(verbose)
        source, _ = self._source(x, y, sample_weight, da.check_batch_size(batch_size), False, where,
                                 where != "predict")
        if isinstance(source, da.BatchSource) and not self.built:
            self._peek_build(source)
        stream = da.BatchStream(source, steps, "steps")
        cbs = self._callback_list(callbacks, verbose=verbose, epochs=1, steps=stream.target, history=False)
        return stream, cbs, (Progbar(stream.target, verbose=verbose) if verbose else None)

    def _format_result(self, logs: dict, return_dict: bool):
        if return_dict:
            return dict(logs)
        if len(logs) == 1:
            return next(iter(logs.values()))
        order = ["loss"] if "loss" in logs else []
        return [logs[k] for k in order] + [v for k, v in logs.items() if k != "loss"]

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for ``x`` in inference mode (dropout off, batch norm on moving statistics), as
        NumPy arrays in the model's output structure (one array, a list or a dict)."""
        if callbacks is None and steps is None and resolve_verbose(verbose) == 0:
            n = _rows_given(x)
            if n is not None and 0 < n <= da.check_batch_size(batch_size) and not self._overrides("predict_step") \
                    and multi_process() is None:
                return self.predict_on_batch(x, where="predict")  # one batch, nothing to report: no pass machinery
        return self._predict_pass(x, batch_size, verbose, steps, callbacks)

    @owned_cpu_threads
    def _predict_pass(self, x, batch_size, verbose, steps, callbacks):
        stream, cbs, bar = self._one_pass(x, None, None, batch_size, verbose, steps, callbacks, "predict")
        custom = self._overrides("predict_step")
        plan = None if custom else _Plan(self, need_loss=False)
        hooks = cbs.has_batch_hooks("predict")
        outputs = []
        cbs.on_predict_begin({})
        with no_grad():
            for i, (xs, _, _) in enumerate(stream.epoch()):
                if hooks:
                    cbs.on_predict_batch_begin(i, {})
                if custom:
                    out = [_raw(o) for o in flatten(self.predict_step((self._x_for_step(xs),)))]
                else:
                    out = [o.data for o in plan.predict(xs)]
                outputs.append(out)
                if hooks:
                    cbs.on_predict_batch_end(i, {"outputs": self._pack_outputs(out)})
                if bar is not None:
                    bar.update(i + 1, None, finalize=False)
        if bar is not None:
            bar.update(len(outputs), None, finalize=True)
        cbs.on_predict_end({})
        if not outputs:
            raise ValueError("predict: the input produced no batches")
        joined = [_concat([batch[k] for batch in outputs]) for k in range(len(outputs[0]))]
        return self._pack_outputs(joined)

    # -- single batches -----------------------------------------------------------------------
    def _one_batch(self, kind, x, y, sample_weight, class_weight=None, return_dict=False):
        backend = self._compute_backend()
        xs, ys, sws = self._convert_batch(x, y, sample_weight, f"{kind}_on_batch", True, class_weight, backend)
        step, logs_of = self._step_runner(kind)
        self.reset_metrics()
        acc = _Accumulator(backend.device == "cuda")
        if kind == "train":
            try:
                loss = step(xs, ys, sws)
            except NonFiniteLossError as exc:
                raise NonFiniteLossError(_nonfinite_message(exc.value, "train_on_batch", exc.weight), exc.value,
                                         exc.weight) from None
        else:
            with no_grad():
                loss = step(xs, ys, sws)
        if loss is not None:
            acc.add(loss, len(xs[0]))
        return self._format_result(logs_of(acc), return_dict)

    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns that batch's loss (and metrics)."""
        self._assert_compiled("train_on_batch")
        return self._one_batch("train", x, y, sample_weight, class_weight, return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch in inference mode."""
        self._assert_compiled("test_on_batch")
        return self._one_batch("test", x, y, sample_weight, None, return_dict)

    def predict_on_batch(self, x, where: str = "predict_on_batch"):
        """Outputs for one batch in inference mode, as NumPy arrays in the output structure."""
        backend = self._compute_backend()
        xs, _, _ = self._convert_batch(x, None, None, where, False, None, backend)
        with training_threads(backend.device), no_grad():
            if multi_process() is None:  # what _Plan.predict does, without building a plan (one-sample latency)
                outs = self._make_forward(frozenset())(_feed(self, xs, self._input_names() is not None), False)
            else:
                outs = _Plan(self, need_loss=False).predict(xs)
            out = [o.data for o in outs]
        return self._pack_outputs([_concat([o]) for o in out])

    # -- callbacks ----------------------------------------------------------------------------
    def _callback_list(self, callbacks, verbose, epochs, steps, history: bool):
        from ..callbacks import CallbackList

        cl = CallbackList(callbacks, add_history=history, model=self)
        cl.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
        if history:
            self.history = cl.history
        return cl


def _rows_given(x):
    """Samples in ``x`` when it is an array or a list/tuple/dict of arrays (the first one's), else None."""
    if isinstance(x, dict):
        x = next(iter(x.values()), None)
    elif isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        x = x[0]
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else None


def _feed(model, xs, graph: bool):
    """The model's input from the adapter's flat arrays: the flat list of Tensors for a graph
    model (Sequential/Functional), else the structure its ``call`` takes."""
    return [Tensor._wrap(a) for a in xs] if graph else model._x_for_step(xs)


def _prefix_of(shape: tuple, full: tuple) -> bool:
    """``shape`` is a non-empty leading part of ``full`` (None in ``full`` matches any size)."""
    return 0 < len(shape) <= len(full) and all(f is None or s == f for s, f in zip(shape, full))


def _concat(parts):
    """One NumPy array from per-batch outputs (on a GPU: one concatenation there, one copy back)."""
    first = parts[0]
    if is_cupy_array(first):
        import cupy  # noqa: PLC0415 - only with CuPy arrays

        return cupy.asnumpy(cupy.concatenate(parts) if len(parts) > 1 else first)
    return np.concatenate(parts) if len(parts) > 1 else np.array(first, copy=True)


def _raw(value):
    if value is None:
        return None
    return value.data if isinstance(value, Tensor) else value


def _tensor(value):
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor._wrap(value) if hasattr(value, "shape") else Tensor(value)

