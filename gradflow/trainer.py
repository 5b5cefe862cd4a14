"""The Keras training API of a model: compile, fit, evaluate, predict and the ``*_on_batch`` calls.

A mixin for :class:`gradflow.models.Sequential` (which supplies layers, weights and the
forward pass). The loops are written for a small per-step cost: data is checked and converted
once per call, batches are pre-sliced views, the step function is built once per call with
everything it needs bound locally, the loss is accumulated on the device and metrics are
read back only when a line is printed or a callback asks.

Reported losses follow Keras 3: each batch's loss is the sum of its sample-weighted
per-sample losses divided by their number, plus the layers' regularization penalties; the
epoch value is the mean over batches weighted by batch size.
"""
from __future__ import annotations

import functools

import numbers

import numpy as np

from ._threads import owned_cpu_threads
from . import data_adapter as da
from .autograd.grad_mode import no_grad
from .autograd.tensor import Tensor
from .backend import is_cupy_array
from .compile_utils import CompiledLoss, CompiledMetrics, apply_activation, class_weights_for
from .progbar import Progbar

__all__ = ["Trainer", "NotCompiledError", "resolve_verbose"]


class NotCompiledError(RuntimeError, ValueError):
    """fit/evaluate/train_on_batch was called before ``compile``."""


def resolve_verbose(verbose) -> int:
    """'auto' -> 1 (a live bar on a terminal; elsewhere Progbar prints only each epoch's last line)."""
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


def _loss_weight(loss_weights) -> float:
    if loss_weights is None:
        return 1.0
    if isinstance(loss_weights, dict):
        if len(loss_weights) != 1:
            raise ValueError(f"compile: a single-output model takes one loss weight, got {loss_weights!r}")
        loss_weights = next(iter(loss_weights.values()))
    elif isinstance(loss_weights, (list, tuple)):
        if len(loss_weights) != 1:
            raise ValueError(f"compile: a single-output model takes one loss weight, got {len(loss_weights)}")
        loss_weights = loss_weights[0]
    if isinstance(loss_weights, bool) or not isinstance(loss_weights, numbers.Real):
        raise ValueError(f"compile: loss_weights must be a number, got {loss_weights!r}")
    return float(loss_weights)


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


def _calls(layers) -> list:
    """The layers' ``call`` functions, BatchNormalization -> ReLU (-> MaxPooling2D) fused (models.fused_layers)."""
    from .models import fused_layers  # noqa: PLC0415 - models imports this module

    return [functools.partial(layer.call, **fused) if fused else layer.call for layer, fused in fused_layers(layers)]


class _Plan:
    """Everything a training/inference step needs, bound once per fit/evaluate/predict call."""

    def __init__(self, model, need_loss: bool):
        layers = model._layers
        if not layers:
            raise ValueError(f"model {model.name!r} has no layers; add some before training or predicting")
        self.model = model
        self.params = model._optimizer_params()
        self.fused_activation = None
        loss = model._compiled_loss if need_loss else None
        if loss is not None:
            loss.resolve_fused(layers[-1])
            self.fused_activation = loss.fused_activation
        if self.fused_activation is not None:
            self.body = _calls(layers[:-1])
            self.head = layers[-1].call_pre_activation
        else:
            self.body = _calls(layers)
            self.head = None
        self.infer_body = _calls(layers)
        self.reduce = loss.reducer(self.fused_activation is not None) if loss is not None else None
        self.has_reg = bool(model.regularization_losses())
        metrics = model._compiled_metrics
        self.metrics = metrics if metrics is not None and metrics.all else None
        self.optimizer = model.optimizer

    def forward(self, x, training: bool):
        """Model output (logits when the fused loss applies) for raw array ``x``."""
        h = Tensor._wrap(x)
        for f in self.body:
            h = f(h, training=training)
        if self.head is not None:
            h = self.head(h, training=training)
        return h

    def predict(self, x):
        h = Tensor._wrap(x)
        for f in self.infer_body:
            h = f(h, training=False)
        return h

    def loss_of(self, y, out, sw):
        loss = self.reduce(y, out, sw)
        if self.has_reg:
            for penalty in self.model.regularization_losses():
                loss = loss + penalty
        return loss

    def update_metrics(self, y, out, sw) -> None:
        if self.metrics is not None:
            pred = apply_activation(self.fused_activation, out) if self.fused_activation else out
            self.metrics.update(y, pred, sw)

    def make_train_step(self):
        params, forward, loss_of = self.params, self.forward, self.loss_of
        update_metrics = self.update_metrics if self.metrics is not None else None
        opt_step = self.optimizer.step

        def train_step(x, y, sw):
            for p in params:
                p.grad = None
            out = forward(x, True)
            loss = loss_of(y, out, sw)
            if loss.requires_grad:
                loss.backward()
                opt_step(params)
            if update_metrics is not None:
                update_metrics(y, out, sw)
            return loss.data

        return train_step

    def make_test_step(self):
        forward, loss_of = self.forward, self.loss_of
        update_metrics = self.update_metrics if self.metrics is not None else None

        def test_step(x, y, sw):
            out = forward(x, False)
            loss = loss_of(y, out, sw)
            if update_metrics is not None:
                update_metrics(y, out, sw)
            return loss.data

        return test_step


class Trainer:
    """compile/fit/evaluate/predict for a model with ``_layers``, ``weights`` and ``build``."""

    def _init_trainer(self) -> None:
        self.optimizer = None
        self.compiled = False
        self.stop_training = False
        self.history = None
        self._compiled_loss = None
        self._compiled_metrics = None
        self._compile_args = None

    # -- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True) -> None:
        """Set the optimizer, loss and metrics (names or objects), as ``keras.Model.compile``.

        ``run_eagerly``, ``steps_per_execution``, ``jit_compile`` and ``auto_scale_loss`` are
        accepted for compatibility and have no effect (gradflow always runs eagerly).
        """
        from . import optimizers

        opt = optimizers.get(optimizer)
        compiled_loss = CompiledLoss(loss, _loss_weight(loss_weights)) if loss is not None else None
        compiled_metrics = CompiledMetrics(metrics, weighted_metrics)
        self.optimizer = opt
        self._compiled_loss = compiled_loss
        self._compiled_metrics = compiled_metrics
        self._compile_args = {"loss": loss, "metrics": metrics, "weighted_metrics": weighted_metrics,
                              "loss_weights": loss_weights}
        self.compiled = True
        if self.built and compiled_loss is not None:
            compiled_metrics.build(loss, self.output_shape)

    @property
    def loss(self):
        """The loss given to ``compile`` (None before)."""
        return self._compiled_loss.identifier if self._compiled_loss is not None else None

    @property
    def metrics(self) -> list:
        """The compiled metric objects (built once the output shape is known)."""
        return list(self._compiled_metrics.all) if self._compiled_metrics is not None else []

    @property
    def metrics_names(self) -> list[str]:
        return ["loss"] + [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        if self._compiled_metrics is not None:
            self._compiled_metrics.reset()

    def _optimizer_params(self) -> list:
        """The parameters the optimizer updates: trainable ones, in weight order."""
        return [p for p in self.trainable_weights if p.requires_grad]

    def _assert_compiled(self, what: str, need_loss: bool = True) -> None:
        if not self.compiled:
            raise NotCompiledError(f"You must call compile() before {what}(): model {self.name!r} has no optimizer "
                                   f"or loss yet, e.g. model.compile(optimizer='adam', "
                                   f"loss='sparse_categorical_crossentropy', metrics=['accuracy'])")
        if need_loss and self._compiled_loss is None:
            raise ValueError(f"{what}(): model {self.name!r} was compiled without a loss; pass loss= to compile()")

    def _compile_config(self) -> dict:
        """JSON-able compile settings (registered names/configs only) for saving."""
        from . import losses, metrics as metrics_mod, optimizers

        args = self._compile_args or {}
        loss = args.get("loss")
        if loss is None or isinstance(loss, str):
            loss_cfg = loss
        else:
            try:
                loss_cfg = losses.serialize(loss)
            except ValueError:
                loss_cfg = {"unregistered": getattr(loss, "__name__", type(loss).__name__)}

        def metric_cfg(m):
            if isinstance(m, str):
                return m
            try:
                return metrics_mod.serialize(m) if isinstance(m, metrics_mod.Metric) else losses.serialize(m)
            except (ValueError, TypeError, AttributeError):
                return {"unregistered": getattr(m, "name", None) or getattr(m, "__name__", repr(m))}

        def metric_list(value):
            if value is None:
                return None
            return [metric_cfg(m) for m in (value if isinstance(value, (list, tuple)) else [value])]

        lw = args.get("loss_weights")
        return {"optimizer": optimizers.serialize(self.optimizer), "loss": loss_cfg,
                "metrics": metric_list(args.get("metrics")),
                "weighted_metrics": metric_list(args.get("weighted_metrics")),
                "loss_weights": None if lw is None else _loss_weight(lw)}

    def _compile_from_config(self, cfg: dict) -> None:
        from . import optimizers

        def check(value, what):
            if isinstance(value, dict) and "unregistered" in value:
                raise ValueError(f"the saved {what} {value['unregistered']!r} is not a registered gradflow {what}")
            return value

        from . import losses, metrics as metrics_mod

        loss = check(cfg.get("loss"), "loss")
        if isinstance(loss, dict):
            loss = losses.deserialize(loss)

        def metric(m):
            m = check(m, "metric")
            return metrics_mod.deserialize(m) if isinstance(m, dict) else m

        metrics = [metric(m) for m in cfg.get("metrics") or []] or None
        weighted = [metric(m) for m in cfg.get("weighted_metrics") or []] or None
        self.compile(optimizer=optimizers.deserialize(cfg["optimizer"]), loss=loss, metrics=metrics,
                     weighted_metrics=weighted, loss_weights=cfg.get("loss_weights"))

    # -- data ---------------------------------------------------------------------------------
    def _compute_backend(self):
        from .backend import _instance, get_backend

        backend = get_backend()
        for w in self.weights:
            if is_cupy_array(w.data):
                return backend if backend.device == "cuda" else _instance("cupy")
            return backend if backend.device == "cpu" else _instance("numpy")
        return backend

    def _ready_for(self, x_shape, where: str) -> tuple:
        """Build for ``x_shape`` if needed (else check it); build the metrics; the output shape."""
        shape = (None,) + tuple(int(d) for d in x_shape[1:])
        if not self.built:
            self.build(shape)
        else:
            self.check_input_shape((x_shape[0],) + shape[1:])
        if self._compiled_metrics is not None and self._compiled_loss is not None:
            self._compiled_metrics.build(self._compiled_loss.identifier, self.output_shape)
        return self.output_shape

    def _convert_batch(self, x, y, sw, where: str, need_y: bool, class_weight=None, backend=None):
        """Check and convert one batch (or a whole array set) for the model: x in the model's
        dtype, targets checked against the output, sample weights as floats."""
        x = da.as_array(x, f"{where}: x")
        n = len(x)
        if need_y and y is None:
            raise ValueError(f"{where}: targets are missing; pass y= (or batches of (x, y)) to train or evaluate")
        if y is not None:
            y = da.as_array(y, f"{where}: y")
            if len(y) != n:
                raise ValueError(f"{where}: x and y must hold the same number of samples; got {n} in x and "
                                 f"{len(y)} in y")
        if sw is not None:
            sw = da.as_array(sw, f"{where}: sample_weight")
            if len(sw) != n:
                raise ValueError(f"{where}: sample_weight must have one entry per sample; got {len(sw)} for "
                                 f"{n} samples")
        out_shape = self._ready_for(x.shape, where)
        dtype = self._dtype()
        x = x.astype(dtype, copy=False) if x.dtype != dtype else x
        if y is not None and self._compiled_loss is not None:
            y = self._compiled_loss.prepare_targets(y, out_shape, dtype, where=f"{where}: y")
        if class_weight is not None and y is not None:
            cw = class_weights_for(y, class_weight, out_shape)
            cw = cw if not is_cupy_array(y) else backend.asarray(cw)
            sw = cw if sw is None else sw * cw.reshape(cw.shape + (1,) * (sw.ndim - 1))
        if sw is not None:
            sw = sw.astype(dtype, copy=False)
        if backend is not None and backend.device == "cuda":
            x, y, sw = (None if a is None else backend.asarray(a) for a in (x, y, sw))
        return x, y, sw

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
        if not da.is_array_data(x):
            raise TypeError(f"{where}: x must be an array (NumPy, CuPy, list) or a generator/Sequence of batches, "
                            f"got {type(x).__name__}")
        x, y, sw = self._convert_batch(x, y, sample_weight, where, need_y, None, None)
        val = None
        if validation_split:
            (x, y, sw), val = da.split_validation((x, y, sw), validation_split)
        if class_weight is not None and y is not None:
            cw = class_weights_for(y, class_weight, self.output_shape).astype(self._dtype())
            sw = cw if sw is None else sw * cw.reshape(cw.shape + (1,) * (sw.ndim - 1))
        return da.ArraySource((x, y, sw), batch_size, shuffle=shuffle, backend=backend), val

    # -- fit ----------------------------------------------------------------------------------
    @owned_cpu_threads
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None, validation_freq=1):
        """Train for ``epochs`` epochs (Keras semantics); returns the ``History`` callback.

        ``x``/``y``: arrays (NumPy, CuPy, lists) or, for ``x`` alone, a generator/Sequence of
        ``(x, y[, sample_weight])`` batches. ``validation_split`` holds out the LAST fraction of
        the arrays (before shuffling); ``validation_data`` is ``(x, y[, sw])`` or a batch source.
        Everything is checked before the first step, so a bad call changes no weights.
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
        plan = _Plan(self, need_loss=True)
        train_step = plan.make_train_step()
        test_step = plan.make_test_step() if val_stream is not None else None
        gpu = self._compute_backend().device == "cuda"
        self.stop_training = False
        train_hooks = cbs.has_batch_hooks("train")
        cbs.on_train_begin()
        logs = {}
        for epoch in range(initial_epoch, epochs):
            self.reset_metrics()
            cbs.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            bar = Progbar(stream.target, verbose=verbose) if verbose else None
            acc = _Accumulator(gpu)
            steps = self._run_batches(stream.epoch(), train_step, acc, cbs, train_hooks, bar, "train")
            if steps == 0:
                stream.warn_exhausted(0)
                break
            logs = self._logs(acc)
            if val_stream is not None and val_freq(epoch):
                val_logs = self._evaluate_stream(val_stream, test_step, cbs, gpu)
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
        self._ready_for(da.as_array(first[0], "fit: x").shape, "fit")

    def _run_batches(self, batches, step, acc, cbs, hooks: bool, bar, mode: str) -> int:
        """Run ``step`` on every batch; returns the number of steps taken."""
        dynamic = bar is not None and bar._dynamic and bar.verbose == 1
        begin = getattr(cbs, f"on_{mode}_batch_begin")
        end = getattr(cbs, f"on_{mode}_batch_end")
        steps = 0
        if not hooks and not dynamic:  # the hot path: nothing to report per batch
            for x, y, sw in batches:
                acc.add(step(x, y, sw), len(x))
                steps += 1
                if self.stop_training:
                    break
            return steps
        for x, y, sw in batches:
            if hooks:
                begin(steps)
            acc.add(step(x, y, sw), len(x))
            steps += 1
            if hooks:
                end(steps - 1, self._logs(acc))
            if dynamic:
                bar.update(steps, lambda: self._logs(acc))
            if self.stop_training and mode == "train":
                break
        return steps

    def _logs(self, acc) -> dict:
        logs = {"loss": acc.result()}
        if self._compiled_metrics is not None:
            logs.update(self._compiled_metrics.results())
        return logs

    def _evaluate_stream(self, stream, test_step, cbs, gpu, bar=None) -> dict:
        self.reset_metrics()
        hooks = cbs.has_batch_hooks("test")
        cbs.on_test_begin()
        acc = _Accumulator(gpu)
        with no_grad():
            steps = self._run_batches(stream.epoch(), test_step, acc, cbs, hooks, bar, "test")
        stream.source.on_epoch_end()
        logs = self._logs(acc) if steps else {"loss": float("nan")}
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
        verbose = resolve_verbose(verbose)
        batch_size = da.check_batch_size(batch_size)
        source, _ = self._source(x, y, sample_weight, batch_size, False, "evaluate", True)
        if isinstance(source, da.BatchSource) and not self.built:
            self._peek_build(source)
        stream = da.BatchStream(source, steps, "steps")
        cbs = self._callback_list(callbacks, verbose=verbose, epochs=1, steps=stream.target, history=False)
        plan = _Plan(self, need_loss=True)
        bar = Progbar(stream.target, verbose=verbose) if verbose else None
        logs = self._evaluate_stream(stream, plan.make_test_step(), cbs, self._compute_backend().device == "cuda", bar)
        return self._format_result(logs, return_dict)

    def _format_result(self, logs: dict, return_dict: bool):
        if return_dict:
            return dict(logs)
        if len(logs) == 1:
            return logs["loss"]
        return [logs["loss"]] + [v for k, v in logs.items() if k != "loss"]

    @owned_cpu_threads
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None) -> np.ndarray:
        """Outputs for ``x`` in inference mode (dropout off, batch norm on moving statistics),
        as one NumPy array (on a GPU the batches stay on the device until one final copy)."""
        verbose = resolve_verbose(verbose)
        batch_size = da.check_batch_size(batch_size)
        source, _ = self._source(x, None, None, batch_size, False, "predict", False)
        if isinstance(source, da.BatchSource) and not self.built:
            self._peek_build(source)
        stream = da.BatchStream(source, steps, "steps")
        cbs = self._callback_list(callbacks, verbose=verbose, epochs=1, steps=stream.target, history=False)
        plan = _Plan(self, need_loss=False)
        bar = Progbar(stream.target, verbose=verbose) if verbose else None
        hooks = cbs.has_batch_hooks("predict")
        outputs = []
        cbs.on_predict_begin()
        with no_grad():
            for i, (xb, _, _) in enumerate(stream.epoch()):
                if hooks:
                    cbs.on_predict_batch_begin(i)
                out = plan.predict(xb).data
                outputs.append(out)
                if hooks:
                    cbs.on_predict_batch_end(i, {"outputs": out})
                if bar is not None:
                    bar.update(i + 1, None, finalize=False)
        if bar is not None:
            bar.update(len(outputs), None, finalize=True)
        cbs.on_predict_end()
        if not outputs:
            raise ValueError("predict: the input produced no batches")
        first = outputs[0]
        if is_cupy_array(first):
            import cupy  # noqa: PLC0415 - only with CuPy arrays

            return cupy.asnumpy(cupy.concatenate(outputs) if len(outputs) > 1 else first)
        return np.concatenate(outputs) if len(outputs) > 1 else np.array(first, copy=True)

    # -- single batches -----------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns that batch's loss (and metrics)."""
        self._assert_compiled("train_on_batch")
        backend = self._compute_backend()
        x, y, sw = self._convert_batch(x, y, sample_weight, "train_on_batch", True, class_weight, backend)
        plan = _Plan(self, need_loss=True)
        self.reset_metrics()
        acc = _Accumulator(backend.device == "cuda")
        acc.add(plan.make_train_step()(x, y, sw), len(x))
        return self._format_result(self._logs(acc), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch in inference mode."""
        self._assert_compiled("test_on_batch")
        backend = self._compute_backend()
        x, y, sw = self._convert_batch(x, y, sample_weight, "test_on_batch", True, None, backend)
        plan = _Plan(self, need_loss=True)
        self.reset_metrics()
        acc = _Accumulator(backend.device == "cuda")
        with no_grad():
            acc.add(plan.make_test_step()(x, y, sw), len(x))
        return self._format_result(self._logs(acc), return_dict)

    def predict_on_batch(self, x) -> np.ndarray:
        """Outputs for one batch in inference mode, as a NumPy array."""
        backend = self._compute_backend()
        x, _, _ = self._convert_batch(x, None, None, "predict_on_batch", False, None, backend)
        with no_grad():
            out = _Plan(self, need_loss=False).predict(x).data
        return backend.to_numpy(out).copy() if not is_cupy_array(out) else out.get()

    # -- callbacks ----------------------------------------------------------------------------
    def _callback_list(self, callbacks, verbose, epochs, steps, history: bool):
        from .callbacks import CallbackList

        cl = CallbackList(callbacks, add_history=history, model=self)
        cl.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
        if history:
            self.history = cl.history
        return cl
