"""The step machinery: one atomic training step, the test step and the predict function.

A :class:`StepPlan` binds once per fit/evaluate call everything a step needs (the forward
function, the loss reducers, metrics, the parameters, the distribution strategy), so the step
itself is a short closure. A train step is all-or-nothing: Ctrl-C is held back until it ends
(:func:`sigint_deferred`), and a batch whose loss (or a moving statistic its forward pass
updated) is not finite changes nothing, neither weights nor batch-norm statistics nor optimizer
state (:class:`NonFiniteLossError`). Losses of outputs whose last layer ends in softmax/sigmoid
run in the fused logits form unless ``compute_loss`` is overridden.

``fast_step`` builds the built-in steps; ``custom_step`` wraps a user's ``train_step`` /
``test_step``; the trainer's ``make_*_function`` chooses between them.
"""
from __future__ import annotations

import math

import numpy as np

from .. import config
from .._interrupts import sigint_deferred
from ..autograd.tensor import Tensor
from ..backend import is_cupy_array
from ..layers.symbolic import flatten, rank_adjusted
from ..losses import labels_checked
from ..optimizers import FiniteGate, all_finite, rollback_unless
from .compile_utils import apply_activation

__all__ = ["sigint_deferred", "NonFiniteLossError", "nonfinite_message", "Accumulator", "StepPlan", "fast_step",
           "custom_step", "predict_function", "custom_predict_function", "to_logs", "compiled_logs", "feed"]


# -- non-finite losses ------------------------------------------------------------------------------
#: on a GPU, steps between the host reads that check the device-side finiteness gate (the steps
#: after a non-finite one apply nothing, so a later check loses nothing but time)
GATE_CHECK_STEPS = 50

class NonFiniteLossError(RuntimeError):
    """A training batch's loss (or a statistic its forward pass updates, such as batch norm's moving
    variance) was NaN or Inf; the batch was not applied. ``value``: the loss; ``weight``: the name of
    the weight that turned non-finite, or None when it was the loss."""

    def __init__(self, message: str, value: float = math.nan, weight: str | None = None, steps_back: int = 0):
        super().__init__(message)
        self.value = value
        self.weight = weight
        self.steps_back = steps_back  # the failing step came this many steps before the one that reported it


def nonfinite_message(value: float, at: str, weight: str | None = None) -> str:
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


def stateful_weights(model) -> list:
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


# -- losses and logs --------------------------------------------------------------------------------
class Accumulator:
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


def to_logs(values) -> dict:
    """A train/test_step's return value as flat ``{name: float}`` logs (nested dicts merged in)."""
    out = {}
    if values is None:
        return out
    if not isinstance(values, dict):
        raise TypeError(f"train_step/test_step must return a dict of metric values, got {type(values).__name__}")
    for k, v in values.items():
        if isinstance(v, dict):
            out.update(to_logs(v))
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


def _keep_mask(pred: Tensor, logits: Tensor) -> Tensor:
    """``pred`` carrying the mask of the logits it came from (metrics apply it, as in Keras)."""
    mask = getattr(logits, "_keras_mask", None)
    if mask is not None:
        pred._keras_mask = mask
    return pred


def compiled_logs(model, acc: Accumulator) -> dict:
    """``{"loss": mean batch loss, **compiled metric results}``."""
    logs = {"loss": acc.result()}
    if model._compiled_metrics is not None:
        logs.update(model._compiled_metrics.results())
    for m in model._sublayer_metrics():  # metrics layers update in call (Keras logs every model.metrics)
        logs.update(to_logs({m.name: m.result()}))
    return logs


def _as_loss(value, model):
    if value is None:
        raise ValueError(f"model {model.name!r}: compute_loss() returned None; it must return the scalar loss Tensor")
    return value if isinstance(value, Tensor) else Tensor(value)


def raw(value):
    """The array of a Tensor (anything else as it is)."""
    if value is None:
        return None
    return value.data if isinstance(value, Tensor) else value


def feed(model, xs, graph: bool):
    """The model's input from the adapter's flat arrays: the flat list of Tensors for a graph
    model (Sequential/Functional), else the structure its ``call`` takes."""
    if not graph:
        return model._x_for_step(xs)
    inputs = getattr(model, "inputs", None) or ()
    if len(inputs) == len(xs):  # Keras's rank rule: (N,) feeds Input(shape=(1,)), (N, 3, 1) feeds (3,)
        xs = [a.reshape(rank_adjusted(a.shape, tuple(t.shape))) for a, t in zip(xs, inputs)]
    return [Tensor._wrap(a) for a in xs]


def _adds_losses(model) -> bool:
    """Whether the model (or a layer in it) has called ``add_loss``."""
    return any(layer._adds_loss for layer in model._flatten_layers())


# -- the plan ---------------------------------------------------------------------------------------
class StepPlan:
    """Everything a training/test step needs, bound once per fit/evaluate call.

    Works on the flat lists the data adapter hands out: ``xs`` (one array per model input),
    ``ys`` and ``sws`` (one per output, or None).
    """

    def __init__(self, model, strategy):
        self.model = model
        self.strategy = strategy
        self.params = model._optimizer_params()
        n_out = len(model._output_names())
        losses = model._loss_entries()
        self.custom_loss = model._overrides("compute_loss")
        heads = model._head_layers()
        fused = [None] * n_out
        if not self.custom_loss:
            for k, (entry, head) in enumerate(zip(losses, heads)):
                if entry is not None and head is not None:
                    entry.resolve_fused(head)
                    if entry.fused_activation is not None:
                        fused[k] = entry.fused_activation
        self.fused = fused
        self.forward_fn = model._make_forward(frozenset(k for k, f in enumerate(fused) if f is not None))
        self.reducers = [None if e is None else e.reducer(fused[k] is not None) for k, e in enumerate(losses)]
        self.weights = model._loss_weight_list()
        self.track_outputs = sum(r is not None for r in self.reducers) > 1
        self.reg = model._regularized()
        metrics = model._compiled_metrics
        self.metrics = metrics if metrics is not None and metrics.all else None
        self.optimizer = model.optimizer
        self.graph = model._input_names() is not None  # Sequential/Functional take the flat list
        self.output_accs = None
        # add_loss terms: known from the model; a fresh model's layers first add them in the first forward
        self.adds_losses = _adds_losses(model)
        self.checked_adds = self.adds_losses

    def feed(self, xs):
        """The model's input from the adapter's flat arrays."""
        return feed(self.model, xs, self.graph)

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
        with labels_checked():  # the data adapter checked the targets once (prepare_targets)
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
        if not self.checked_adds:
            self.checked_adds = True
            self.adds_losses = _adds_losses(model)
        if self.adds_losses:
            for extra in model._collect_added_losses():
                total = extra if total is None else total + extra
        if total is None:
            raise ValueError(f"model {model.name!r} was compiled without a loss for its outputs "
                             f"{model._output_names()} and no layer called add_loss(); pass loss= to compile()")
        return total

    def update_metrics(self, ys, outs, sws) -> None:
        if self.metrics is not None and ys is not None:
            preds = [_keep_mask(apply_activation(f, o), o) if f else o for f, o in zip(self.fused, outs)]
            self.metrics.update(ys, preds, sws)

    def clear(self) -> None:
        if self.adds_losses:
            self.model._clear_losses()

    def train_step(self):
        """``train_step(xs, ys, sws) -> loss array``: one atomic step (Ctrl-C waits for its end; a
        non-finite loss applies nothing). ``train_step.on_nonfinite[0]`` is ``"raise"`` (raise
        NonFiniteLossError) or ``"skip"`` (leave the update out and go on: TerminateOnNaN stops)."""
        params, forward, loss_of, clear = self.params, self.forward, self.loss_of, self.clear
        update_metrics = self.update_metrics if self.metrics is not None else None
        opt_step = self.optimizer.step
        check = bool(config.check_finite)
        stateful = stateful_weights(self.model)
        saved = [p.data.copy() for p in stateful] if check else []
        guarded = stateful if check else []
        on_nonfinite = ["raise"]
        strategy = self.strategy
        shard, backward, gather, global_loss = strategy.shard, strategy.backward, strategy.gather, strategy.global_loss
        # on a GPU the finiteness check stays on the device (no host read per step): a FiniteGate
        # closes at the first non-finite step and is read every GATE_CHECK_STEPS steps (flush)
        gate = FiniteGate() if check and self.model._compute_backend().device == "cuda" else None
        optimizer = self.optimizer
        scaled = hasattr(optimizer, "scale_loss")

        def flush():
            if gate is None:
                return
            steps = gate.steps
            bad = gate.check(optimizer)
            if bad is not None:  # weights, statistics and optimizer state are as after the last good step
                if on_nonfinite[0] == "raise":
                    raise NonFiniteLossError(nonfinite_message(math.nan, "train step"), math.nan,
                                             steps_back=steps - 1 - bad)

        def body(xs, ys, sws):
            for p in params:
                p.grad = None
            clear()
            for i, p in enumerate(guarded):
                buf, data = saved[i], p.data
                if buf.shape == data.shape and buf.__class__ is data.__class__:
                    buf[...] = data  # (a step the gate rejects puts this back: after the last good step)
                else:  # the weight was moved or replaced since the step was built
                    saved[i] = data.copy()
            local_xs, local_ys, local_sws, share, split = shard(xs, ys, sws)
            outs = forward(local_xs, True)
            loss = loss_of(local_xs, local_ys, outs, local_sws)
            if loss.requires_grad:
                if scaled:  # LossScaleOptimizer: backward from loss * scale, report the loss itself
                    scale = optimizer.dynamic_scale
                    value = backward(optimizer.scale_loss(loss), share, params, stateful) / scale
                else:
                    value = backward(loss, share, params, stateful)
                if gate is not None:
                    ok = gate.update(all_finite([value] + [p.data for p in guarded]))
                    rollback_unless(ok, [p.data for p in guarded], saved)
                    opt_step(params, apply_if=ok)
                    if gate.steps >= GATE_CHECK_STEPS:
                        flush()
                else:
                    broken = None
                    if check:
                        finite = _is_finite(value)
                        if finite and guarded and not _all_finite([p.data for p in guarded]):
                            # a statistic the forward pass updated overflowed although the loss did not
                            broken = next((p for p, buf in zip(guarded, saved)
                                           if not _array_finite(p.data) and _array_finite(buf)), None)
                    if check and (not finite or broken is not None):
                        for p, buf in zip(guarded, saved):
                            p.data[...] = buf
                        if broken is not None or on_nonfinite[0] == "raise":
                            number = float(value.get() if is_cupy_array(value) else value)
                            name = None if broken is None else broken.name
                            raise NonFiniteLossError(nonfinite_message(number, "train step", name), number, name)
                    else:
                        opt_step(params)
            else:
                value = global_loss(loss.data, share)
            if update_metrics is not None:
                update_metrics(ys, gather(outs, split), sws)
            return value

        def train_step(xs, ys, sws):
            return sigint_deferred(body, xs, ys, sws)

        train_step.on_nonfinite = on_nonfinite
        train_step.flush = flush
        return train_step

    def test_step(self):
        """``test_step(xs, ys, sws) -> loss array`` in inference mode."""
        forward, loss_of, clear = self.forward, self.loss_of, self.clear
        update_metrics = self.update_metrics if self.metrics is not None else None
        shard, gather, global_loss = self.strategy.shard, self.strategy.gather, self.strategy.global_loss

        def test_step(xs, ys, sws):
            clear()
            local_xs, local_ys, local_sws, share, split = shard(xs, ys, sws)
            outs = forward(local_xs, False)
            loss = loss_of(local_xs, local_ys, outs, local_sws)
            if update_metrics is not None:
                update_metrics(ys, gather(outs, split), sws)
            return global_loss(loss.data, share)

        return test_step


# -- what make_*_function returns -------------------------------------------------------------------
def fast_step(model, kind: str, strategy):
    """The built-in ``step(xs, ys, sws) -> batch loss`` of ``kind`` ('train' or 'test'), with
    ``step.logs(acc) -> dict`` (the logs after the batches so far) and ``step.reset()``."""
    plan = StepPlan(model, strategy)
    step = plan.train_step() if kind == "train" else plan.test_step()
    step.plan = plan
    if not plan.track_outputs:
        step.logs = lambda acc: compiled_logs(model, acc)
        step.reset = None
        return step
    gpu = model._compute_backend().device == "cuda"
    names = model._output_names()

    def reset():
        plan.output_accs = [Accumulator(gpu) for _ in names]

    def logs(acc):
        out = compiled_logs(model, acc)
        for k, a in enumerate(plan.output_accs):
            if plan.reducers[k] is not None:  # data parallel: each process summed its own rows
                out[f"{names[k]}_loss"] = strategy.mean(a.result(), a.count)
        return out

    reset()
    step.reset, step.logs = reset, logs
    return step


def custom_step(model, kind: str):
    """The model's own ``train_step``/``test_step`` as ``step(xs, ys, sws) -> None``; its returned
    dict is the logs (``step.logs(acc)``)."""
    user_step = getattr(model, f"{kind}_step")
    state = {"logs": {}}

    def step(xs, ys, sws):
        x = model._x_for_step(xs)
        if ys is None:  # Keras's pack_x_y_sample_weight: fit(x) passes x itself, fit([x]) passes ([x],)
            data = (x,) if isinstance(x, (tuple, list)) else x
        else:
            data = (x, model._pack_targets(ys)) if sws is None else (x, model._pack_targets(ys),
                                                                       model._pack_targets(sws))
        state["logs"] = to_logs(user_step(data))
        return None

    step.logs = lambda acc: dict(state["logs"])
    step.reset = None
    return step


def predict_function(model, strategy):
    """The built-in ``predict(xs) -> list of output arrays`` in inference mode."""
    forward = model._make_forward(frozenset())
    graph = model._input_names() is not None
    shard, gather = strategy.shard, strategy.gather

    def predict(xs):
        local, _, _, _, split = shard(xs, None, None)
        return [o.data for o in gather(forward(feed(model, local, graph), False), split)]

    return predict


def custom_predict_function(model):
    """The model's own ``predict_step`` as ``predict(xs) -> list of output arrays``."""
    def predict(xs):
        return [raw(o) for o in flatten(model.predict_step((model._x_for_step(xs),)))]

    return predict
