"""The epoch and batch loops of fit/evaluate/predict.

The loops run a step function (from ``make_*_function``) over a batch stream and call the
callbacks. The hot path does nothing per batch beyond the step and adding its loss: per-batch
hooks (and building their logs) run only when a callback asks for them
(``CallbackList.has_batch_hooks``; a ProgbarLogger does only when it draws a live bar).
"""
from __future__ import annotations

from ..autograd.grad_mode import no_grad
from .step import Accumulator, NonFiniteLossError, nonfinite_message

__all__ = ["run_epochs", "run_batches", "evaluate_stream", "predict_stream"]


def run_epochs(model, stream, val_stream, train_fn, test_fn, cbs, epochs: int, initial_epoch: int, val_freq,
               gpu: bool) -> dict:
    """Epochs ``initial_epoch..epochs-1`` of ``fit``; returns the last epoch's logs."""
    logs: dict = {}
    hooks = cbs.has_batch_hooks("train")
    for epoch in range(initial_epoch, epochs):
        model.reset_metrics()
        cbs.on_epoch_begin(epoch, {})
        acc = Accumulator(gpu)
        steps = run_batches(model, stream.epoch(), train_fn, acc, cbs, hooks, "train", epoch)
        if steps == 0:
            stream.warn_exhausted(0)
            break
        logs = train_fn.logs(acc)
        if val_stream is not None and val_freq(epoch):
            val_logs = evaluate_stream(model, val_stream, test_fn, cbs, gpu)
            logs.update({"val_" + k: v for k, v in val_logs.items()})
        stream.source.on_epoch_end()
        cbs.record_steps(steps)
        cbs.on_epoch_end(epoch, logs)
        if model.stop_training or stream.exhausted:
            if stream.exhausted:
                stream.warn_exhausted(steps)
            break
    return logs


def run_batches(model, batches, step, acc, cbs, hooks: bool, mode: str, epoch=None) -> int:
    """Run ``step`` on every batch; returns the number of steps taken. A non-finite loss names the
    epoch and batch it happened at."""
    counter = [0]
    flush = getattr(step, "flush", None)
    try:
        steps = _batch_loop(model, batches, step, acc, cbs, hooks, mode, counter)
        if flush is not None:  # a device-side finiteness gate is read at least once per epoch
            flush()
        return steps
    except NonFiniteLossError as exc:
        batch = counter[0] - exc.steps_back  # a GPU's gate reports later than the batch that failed
        at = f"fit: epoch {epoch + 1}, batch {batch}" if epoch is not None else f"{mode}: batch {batch}"
        raise NonFiniteLossError(nonfinite_message(exc.value, at, exc.weight), exc.value, exc.weight) from None


def _batch_loop(model, batches, step, acc, cbs, hooks: bool, mode: str, counter: list) -> int:
    reset = step.reset
    if reset is not None:
        reset()
    steps = 0
    if not hooks:  # the hot path: nothing to report per batch
        for x, y, sw in batches:
            counter[0] = steps
            loss = step(x, y, sw)
            if loss is not None:
                acc.add(loss, len(x[0]))
            steps += 1
            if model.stop_training:
                break
        return steps
    begin = getattr(cbs, f"on_{mode}_batch_begin")
    logs_of = step.logs
    for x, y, sw in batches:
        counter[0] = steps
        begin(steps, {})
        loss = step(x, y, sw)
        if loss is not None:
            acc.add(loss, len(x[0]))
        steps += 1
        cbs.batch_end(mode, steps - 1, lambda: logs_of(acc))
        if model.stop_training and mode == "train":
            break
    return steps


def evaluate_stream(model, stream, test_fn, cbs, gpu: bool) -> dict:
    """One pass of ``test_fn`` over ``stream`` in inference mode (evaluate, and fit's validation)."""
    model.reset_metrics()
    hooks = cbs.has_batch_hooks("test")
    cbs.on_test_begin({})
    acc = Accumulator(gpu)
    with no_grad():
        steps = run_batches(model, stream.epoch(), test_fn, acc, cbs, hooks, "test")
    stream.source.on_epoch_end()
    logs = test_fn.logs(acc) if steps else {"loss": float("nan")}
    cbs.record_steps(steps)
    cbs.on_test_end(logs)
    return logs


def predict_stream(model, stream, predict_fn, cbs) -> list:
    """Per-batch output arrays of ``predict_fn`` over ``stream``."""
    hooks = cbs.has_batch_hooks("predict")
    outputs = []
    cbs.on_predict_begin({})
    with no_grad():
        for i, (xs, _, _) in enumerate(stream.epoch()):
            if hooks:
                cbs.on_predict_batch_begin(i, {})
            out = predict_fn(xs)
            outputs.append(out)
            if hooks:
                cbs.batch_end("predict", i, lambda out=out: {"outputs": model._pack_outputs(out)})
    cbs.record_steps(len(outputs))
    cbs.on_predict_end({})
    return outputs
