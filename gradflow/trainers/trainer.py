"""The Keras training API of a model: compile, fit, evaluate, predict and the ``*_on_batch`` calls.

A mixin for every model kind (which supplies the methods of
:class:`gradflow.trainers.protocol.TrainableModel`). ``make_train_function`` /
``make_test_function`` / ``make_predict_function`` (Keras 3's names) are the one place that
chooses between the built-in step (``trainers.step``) and a user's ``train_step``/``test_step``/
``predict_step``; fit, evaluate, predict and the ``*_on_batch`` calls all go through them. The loops
live in ``trainers.loops``, the input checks in ``trainers.data_adapter``, the distribution in a
strategy object (``gradflow.distribution.current_strategy()``) and progress printing in the
``ProgbarLogger`` callback.

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

import inspect
import numbers
import warnings

import numpy as np

from .. import config as gf_config
from .. import metrics as metrics_mod
from .. import optimizers
from .._threads import owned_cpu_threads, training_threads
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Tensor
from ..backend import _instance, get_backend, is_cupy_array
from ..callbacks import CallbackList, TerminateOnNaN
from ..distribution import current_strategy
from ..layers.symbolic import flatten, pack_as
from ..saving.compile_config import deserialize_compile_args, serialize_compile_args
from . import data_adapter as da
from . import loops
from .compile_utils import CompiledLoss, CompileMetrics
from .step import (
    Accumulator,
    NonFiniteLossError,
    custom_predict_function,
    custom_step,
    fast_step,
    nonfinite_message,
    predict_function,
    raw,
    to_logs,
)

__all__ = ["Trainer", "NotCompiledError", "NonFiniteLossError", "resolve_verbose"]


class NotCompiledError(RuntimeError, ValueError):
    """fit/evaluate/train_on_batch was called before ``compile``."""


def resolve_verbose(verbose) -> int:
    """'auto' -> 1 (a live bar on a terminal; elsewhere Progbar prints only each epoch's last line);
    0 on every data-parallel process but the first (one log per job)."""
    if not current_strategy().is_chief:
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



#: what ``compile`` sets: restored as a whole when a compile fails
_COMPILE_STATE = ("optimizer", "_compile_args", "_losses", "_loss_weights", "_compiled_metrics", "_loss_tracker",
                  "train_function", "test_function", "predict_function", "compiled")


class Trainer:
    """compile/fit/evaluate/predict and the Keras 3 override points, for every kind of model.

    The model supplies what :class:`gradflow.trainers.protocol.TrainableModel` declares (the
    forward function, input and output names, the Layer API); see :class:`gradflow.models.Model`.
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
        self.train_function = None
        self.test_function = None
        self.predict_function = None

    # -- compile ------------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None, weighted_metrics=None,
                run_eagerly=False, steps_per_execution=1, jit_compile="auto", auto_scale_loss=True) -> None:
        """Set the optimizer, loss(es) and metrics (names or objects), as ``keras.Model.compile``.

        With several outputs, ``loss``/``loss_weights``/``metrics`` may be lists (output order)
        or dicts keyed by output name; one loss applies to every output. ``run_eagerly``,
        ``steps_per_execution`` and ``jit_compile`` are accepted for compatibility and have no effect
        (gradflow always runs eagerly). ``auto_scale_loss``: under the mixed_float16 policy the optimizer
        is wrapped in a LossScaleOptimizer, as Keras does.
        """
        opt = optimizers.get(optimizer)
        if loss_weights is not None and not isinstance(loss_weights, (list, tuple, dict, numbers.Real)):
            raise ValueError(f"compile: loss_weights must be a number, a list or a dict, got {loss_weights!r}")
        for what, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise ValueError(f"compile: {what} must be a list (or a dict keyed by output name), got "
                                 f"{what}={value!r}")
        if loss is not None and not isinstance(loss, (list, tuple, dict)):
            CompiledLoss(loss)  # a bad name fails here, not at fit
        policy = getattr(self, "dtype_policy", None)
        if auto_scale_loss and policy is not None and policy.name == "mixed_float16" and \
                not isinstance(opt, optimizers.LossScaleOptimizer):
            opt = optimizers.LossScaleOptimizer(opt, name="loss_scale_optimizer")  # as Keras's compile
        before = {name: self.__dict__.get(name) for name in _COMPILE_STATE}
        self.optimizer = opt
        self._compile_args = {"loss": loss, "metrics": metrics, "weighted_metrics": weighted_metrics,
                              "loss_weights": loss_weights}
        self._losses = self._loss_weights = self._compiled_metrics = None
        self._loss_tracker = metrics_mod.Mean(name="loss")
        self.train_function = self.test_function = self.predict_function = None
        self.compiled = True
        if self.built:
            try:
                self._resolve_compile()
            except BaseException:  # compile changes nothing until it has succeeded
                self.__dict__.update(before)
                raise

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
        for value in list(vars(self).values()) + self._sublayer_metrics():  # sublayers' metrics: Keras 3
            if isinstance(value, metrics_mod.Metric) and value is not self._loss_tracker and value not in out:
                out.append(value)
        return out

    @property
    def metrics_names(self) -> list[str]:
        """Keras 3's: the names of ``metrics`` (``['loss', 'compile_metrics']`` after compile)."""
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        for m in self.metrics:
            m.reset_state()

    def get_metrics_result(self) -> dict:
        """The current value of every metric in ``metrics`` as plain floats (nested results merged)."""
        logs = {}
        for m in self.metrics:
            logs.update(to_logs({m.name: m.result()}))
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
            yt = entry.prepare_targets(raw(yt), tuple(yp.shape), yp.dtype, where="compute_loss: y") \
                if yt is not None else None
            value = entry.reducer(False)(yt, yp, raw(sw))
            value = value * w if w != 1.0 else value
            total = value if total is None else total + value
        for penalty in self.losses:
            total = penalty if total is None else total + penalty
        if total is None:
            return Tensor(np.zeros((), dtype=self._dtype()))
        return total

    def _call_compute_loss(self, x, ys, preds, sws):
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
        (Keras 3). This is the built-in fast step that ``fit`` runs; override it with gradflow's
        autograd: ``loss.backward()`` then ``self.optimizer.apply(grads, self.trainable_weights)``
        (see README), or call ``super().train_step(data)`` from an override."""
        return self._default_step_logs(self._default_step("train"), data)

    def test_step(self, data):
        """Loss and metrics of ``data`` in inference mode (Keras 3): the built-in test step."""
        return self._default_step_logs(self._default_step("test"), data)

    def predict_step(self, data):
        """The model's outputs for ``data`` (``x`` or ``(x,)``) in inference mode."""
        x = data[0] if isinstance(data, tuple) else data
        return self(x, training=False)

    def _default_step(self, kind):
        """The built-in step of ``kind``, kept while the optimizer and the compiled losses are the same."""
        cache = self.__dict__.setdefault("_default_steps", {})
        key = (kind, id(self.optimizer), self._losses is not None)
        if key not in cache:
            cache.clear()
            cache[key] = fast_step(self, kind, current_strategy())
        return cache[key]

    def _default_step_logs(self, step, data):
        x, y, sw = da.unpack_batch(data, "train_step")
        xs = [raw(v) for v in (flatten(x) if isinstance(x, (list, tuple, dict)) else [x])]
        names = self._output_names()
        ys = [raw(v) for v in self._align(y, names, "y")]
        ys = [e.prepare_targets(v, tuple(s), self._dtype()) if e is not None and v is not None else v
              for e, v, s in zip(self._loss_entries(), ys, self._output_shapes())]
        sws = [raw(v) for v in self._align_weights(sw, names)]
        loss = step(xs, ys, sws)
        self._loss_tracker.update_state(loss, sample_weight=len(xs[0]))
        return self.get_metrics_result()

    # -- the step functions (Keras 3's make_*_function) -----------------------------------------
    def make_train_function(self, force: bool = False):
        """``self.train_function``: ``step(xs, ys, sws)`` on the data adapter's flat arrays, returning
        the batch loss (None for a user's step), with ``step.logs(acc)`` for the logs so far. It is
        the built-in fast step, or the model's own ``train_step`` when the class overrides it: the
        one place where that is decided. Kept until ``compile`` or ``force``."""
        if self.train_function is None or force:
            self.train_function = self._step_function("train")
        return self.train_function

    def make_test_function(self, force: bool = False):
        """``self.test_function``: as ``make_train_function``, for ``test_step`` (inference mode)."""
        if self.test_function is None or force:
            self.test_function = self._step_function("test")
        return self.test_function

    def make_predict_function(self, force: bool = False):
        """``self.predict_function``: ``predict(xs) -> list of output arrays``, the built-in forward
        pass or the model's own ``predict_step``."""
        if self.predict_function is None or force:
            if self._overrides("predict_step"):
                self.predict_function = custom_predict_function(self)
            else:
                self.predict_function = predict_function(self, current_strategy())
        return self.predict_function

    def _step_function(self, kind: str):
        strategy = current_strategy()
        if self._overrides(f"{kind}_step"):
            strategy.check_custom_step(self, kind)
            return custom_step(self, kind)
        return fast_step(self, kind, strategy)

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
        backend = get_backend()
        w = next(self._iter_weights(), None)
        if w is None:
            return backend
        if is_cupy_array(w.data):
            return backend if backend.device == "cuda" else _instance("cupy")
        return backend if backend.device == "cpu" else _instance("numpy")

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
                with no_grad():
                    out = self(pack_as(template, sample) if template is not None else sample[0], training=False)
                self._clear_losses()
                self._built_from(out, spec)
        elif not self.built:
            self.build(shapes[0] if len(shapes) == 1 else shapes)
        else:
            self.check_input_shape(actual[0] if len(actual) == 1 else actual)
        self._resolve_compile()

    def _data_spec(self) -> da.ModelSpec:
        """What the data checks need to know about this (built, compiled) model."""
        names = self._input_names()
        inputs = getattr(self, "inputs", None)
        dtype = self._dtype()
        input_dtypes = None
        if inputs:  # integer inputs a functional model declares (Input(dtype='int32')) stay integer
            input_dtypes = tuple(np.dtype(t.dtype) if np.dtype(t.dtype).kind in "iubO" else dtype for t in inputs)
        try:
            shapes = tuple(self._output_shapes())
        except (TypeError, IndexError):
            shapes = ()
        outputs = self._output_names()
        return da.ModelSpec(
            input_names=None if names is None else tuple(names), output_names=tuple(outputs), output_shapes=shapes,
            losses=tuple(self._losses or [None] * len(outputs)), dtype=dtype, input_dtypes=input_dtypes,
            needs_targets=bool(self._compile_args and self._compile_args.get("loss") is not None),
            free_sample_weights=self._overrides("compute_loss") or self._overrides("train_step"))

    def _convert_batch(self, x, y, sw, where: str, need_y: bool, class_weight=None, backend=None):
        """Check and convert one batch (or a whole array set) for the model, building it first if
        needed (``data_adapter.convert_for_model``). Returns flat tuples."""
        xs, template = da.split_x(x, self._input_names(), where)
        da.check_same_length(xs, where)
        if need_y and y is None and self._compile_args and self._compile_args.get("loss") is not None:
            raise ValueError(f"{where}: targets are missing; pass y= (or batches of (x, y)) to train or evaluate")
        self._ready_for(xs, template, where)
        return da.convert_for_model(self._data_spec(), xs, y, sw, where, need_y, class_weight, backend)

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
            sws = tuple(da.with_class_weights(self._data_spec(), ys, sws, class_weight, where))
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
        if gf_config.max_epochs() and gf_config.max_epochs() < epochs:  # keras.config.set_max_epochs
            warnings.warn(f"Limiting epochs to {gf_config.max_epochs()}", stacklevel=2)
            epochs = gf_config.max_epochs()
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
        train_fn = self.make_train_function(force=True)
        if hasattr(train_fn, "on_nonfinite"):
            # TerminateOnNaN stops cleanly at the end of the batch; the step leaves that batch's update out
            train_fn.on_nonfinite[0] = "skip" if any(isinstance(cb, TerminateOnNaN) for cb in cbs) else "raise"
        test_fn = self.make_test_function(force=True) if val_stream is not None else None
        strategy = current_strategy()
        strategy.agree({"x": da.describe(x), "y": da.describe(y), "sample_weight": da.describe(sample_weight),
                        "batch_size": batch_size, "epochs": epochs, "initial_epoch": initial_epoch,
                        "steps_per_epoch": stream.target, "shuffle": shuffle,
                        "validation_split": float(validation_split),
                        "validation_data": da.describe(validation_data)}, "fit")
        strategy.start_fit(self)  # every process starts from the same weights (and shuffles alike)
        self.stop_training = False
        cbs.on_train_begin({})
        # BackupAndRestore (Keras 3's hand-off): a restored backup resumes at its epoch
        restored = self.__dict__.pop("_initial_epoch", None) or initial_epoch
        initial_epoch = strategy.resume_epoch(self, initial_epoch, restored)
        logs = loops.run_epochs(self, stream, val_stream, train_fn, test_fn, cbs, epochs, initial_epoch, val_freq,
                                self._compute_backend().device == "cuda")
        if epochs > 0 and hasattr(self.optimizer, "finalize_variable_values"):  # use_ema: the averages (Keras)
            self.optimizer.finalize_variable_values(self.trainable_weights)
        cbs.on_train_end(logs)
        return self.history

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
                             + (f" of length {len(validation_data)}"
                                if isinstance(validation_data, (tuple, list)) else ""))
        vx, vy = validation_data[0], validation_data[1]
        vsw = validation_data[2] if len(validation_data) == 3 else None
        source, _ = self._source(vx, vy, vsw, batch_size, False, "fit (validation_data)", True)
        return da.BatchStream(source, steps, "validation_steps")

    def _peek_build(self, source) -> None:
        """Build an unbuilt model from the first batch of a batch source (without losing it)."""
        first = source.peek()
        xs, template = da.split_x(first[0], self._input_names(), "fit")
        self._ready_for(xs, template, "fit")

    # -- evaluate / predict -------------------------------------------------------------------
    @owned_cpu_threads
    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None, steps=None,
                 callbacks=None, return_dict=False):
        """Loss and metrics on the data, in inference mode: the scalar loss when there are no
        metrics, else ``[loss, *metrics]``, or a dict with ``return_dict=True``."""
        self._assert_compiled("evaluate")
        stream, cbs = self._one_pass(x, y, sample_weight, batch_size, verbose, steps, callbacks, "evaluate")
        test_fn = self.make_test_function(force=True)
        logs = loops.evaluate_stream(self, stream, test_fn, cbs, self._compute_backend().device == "cuda")
        return self._format_result(logs, return_dict)

    def _one_pass(self, x, y, sample_weight, batch_size, verbose, steps, callbacks, where):
        """(batch stream, callbacks) for one pass of evaluate/predict."""
        verbose = resolve_verbose(verbose)
        source, _ = self._source(x, y, sample_weight, da.check_batch_size(batch_size), False, where,
                                 where != "predict")
        if isinstance(source, da.BatchSource) and not self.built:
            self._peek_build(source)
        stream = da.BatchStream(source, steps, "steps")
        return stream, self._callback_list(callbacks, verbose=verbose, epochs=1, steps=stream.target, history=False)

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
            if n is not None and 0 < n <= da.check_batch_size(batch_size):
                return self.predict_on_batch(x, where="predict")  # one batch, nothing to report: no pass machinery
        return self._predict_pass(x, batch_size, verbose, steps, callbacks)

    @owned_cpu_threads
    def _predict_pass(self, x, batch_size, verbose, steps, callbacks):
        stream, cbs = self._one_pass(x, None, None, batch_size, verbose, steps, callbacks, "predict")
        outputs = loops.predict_stream(self, stream, self.make_predict_function(force=True), cbs)
        if not outputs:
            raise ValueError("predict: the input produced no batches")
        joined = [_concat([batch[k] for batch in outputs]) for k in range(len(outputs[0]))]
        return self._pack_outputs(joined)

    # -- single batches -----------------------------------------------------------------------
    def _one_batch(self, kind, x, y, sample_weight, class_weight=None, return_dict=False):
        backend = self._compute_backend()
        xs, ys, sws = self._convert_batch(x, y, sample_weight, f"{kind}_on_batch", True, class_weight, backend)
        step = self.make_train_function(force=True) if kind == "train" else self.make_test_function(force=True)
        if step.reset is not None:
            step.reset()
        self.reset_metrics()
        acc = Accumulator(backend.device == "cuda")
        if kind == "train":
            try:
                loss = step(xs, ys, sws)
                flush = getattr(step, "flush", None)
                if flush is not None:
                    flush()
            except NonFiniteLossError as exc:
                raise NonFiniteLossError(nonfinite_message(exc.value, "train_on_batch", exc.weight), exc.value,
                                         exc.weight) from None
        else:
            with no_grad():
                loss = step(xs, ys, sws)
        if loss is not None:
            acc.add(loss, len(xs[0]))
        return self._format_result(step.logs(acc), return_dict)

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
        predict = self.make_predict_function(force=True)
        workers = len(xs[0]) > SMALL_INFERENCE_ROWS  # xs: the converted input arrays
        with training_threads(backend.device, workers=workers), no_grad():
            out = predict(xs)
        return self._pack_outputs([_concat([o]) for o in out])

    # -- callbacks ----------------------------------------------------------------------------
    def _callback_list(self, callbacks, verbose, epochs, steps, history: bool):
        """The callbacks of one fit/evaluate/predict call, with History (fit) and, when ``verbose``,
        a ProgbarLogger added as Keras 3 adds them."""
        cl = CallbackList(callbacks, add_history=history, add_progbar=verbose != 0, model=self)
        cl.set_params({"verbose": verbose, "epochs": epochs, "steps": steps})
        if history:
            self.history = cl.history
        return cl

#: a one-batch predict of at most this many rows flushes denormals on the calling thread only, as an
#: inference ``model(x)`` does: flushing Numba's workers and restoring them after costs two pool
#: launches (~50 us on 2 cores), a third of a one-sample forward pass of a small CNN
SMALL_INFERENCE_ROWS = 32


def _rows_given(x):
    """Samples in ``x`` when it is an array or a list/tuple/dict of arrays (the first one's), else None."""
    if isinstance(x, dict):
        x = next(iter(x.values()), None)
    elif isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        x = x[0]
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else None


def _concat(parts):
    """One NumPy array from per-batch outputs (on a GPU: one concatenation there, one copy back)."""
    first = parts[0]
    if is_cupy_array(first):
        import cupy  # noqa: PLC0415 - only with CuPy arrays

        return cupy.asnumpy(cupy.concatenate(parts) if len(parts) > 1 else first)
    return np.concatenate(parts) if len(parts) > 1 else np.array(first, copy=True)


def _tensor(value):
    if value is None or isinstance(value, Tensor):
        return value
    return Tensor._wrap(value) if hasattr(value, "shape") else Tensor(value)

