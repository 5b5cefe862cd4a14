"""What ``model.compile`` sets up: the loss (with its fused logits form) and the metrics.

``CompiledLoss`` resolves the loss once, finds the fused (softmax|sigmoid + cross-entropy)
form for the model's last layer, reduces per-sample losses the Keras way (sum of the
sample-weighted losses divided by their number) and checks/converts targets once per call
of fit/evaluate (sparse labels in range, one-hot width, shapes). ``CompiledMetrics`` builds
the metric objects once the output shape is known ('accuracy' depends on it) and updates them
without reading anything back from the device.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import losses
from .. import metrics as metrics_mod
from ..autograd.tensor import Tensor
from ..backend import array_module, is_cupy_array
from ..layers.symbolic import flatten
from ..ops import cast as _cast

__all__ = ["CompiledLoss", "CompiledMetrics", "CompileMetrics", "loss_identifier_name", "apply_activation",
           "class_weights_for"]

#: built-in losses that compare y_true and y_pred elementwise (targets must match the output shape)
_ELEMENTWISE = {
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "hinge", "squared_hinge", "categorical_hinge", "log_cosh",
    "binary_crossentropy", "kl_divergence", "poisson", "cosine_similarity", "huber",
}


def loss_identifier_name(identifier) -> str:
    """A short name for a loss identifier, for messages and configs."""
    if isinstance(identifier, str):
        return identifier
    return getattr(identifier, "name", None) or getattr(identifier, "__name__", None) or type(identifier).__name__


def _host(arr):
    return arr.get() if is_cupy_array(arr) else np.asarray(arr)


def apply_activation(name: str, logits: Tensor) -> Tensor:
    """softmax/sigmoid of fused logits, without recording a graph (for metrics only)."""
    a = logits.data
    xp = array_module(a)
    if name == "softmax":
        e = xp.exp(a - a.max(axis=-1, keepdims=True))
        out = e / e.sum(axis=-1, keepdims=True)
    else:  # sigmoid
        out = 0.5 * (1.0 + xp.tanh(0.5 * a))
    return Tensor._wrap(out.astype(a.dtype, copy=False))


def class_weights_for(y, class_weight: dict, output_shape, where: str = "class_weight"):
    """Per-sample weights (NumPy float) from a ``{class_id: weight}`` dict; missing classes weigh 1."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"{where} must be a dict mapping class ids to weights, got {type(class_weight).__name__}")
    for k, v in class_weight.items():
        if isinstance(k, bool) or not isinstance(k, (numbers.Integral, np.integer)) or k < 0:
            raise ValueError(f"{where}: keys must be class ids (ints >= 0), got {k!r}")
        if not isinstance(v, (numbers.Real, np.floating, np.integer)) or not np.isfinite(float(v)):
            raise ValueError(f"{where}: weights must be finite numbers, got {v!r} for class {k}")
    y = _host(y)
    if y.ndim >= 2 and y.shape[-1] > 1:
        labels = y.argmax(axis=-1)
    else:
        labels = np.rint(y.reshape(len(y), -1)[:, 0] if y.ndim >= 2 else y).astype(np.int64)
    labels = labels.reshape(len(y), -1)[:, 0] if labels.ndim > 1 else labels
    table = np.ones(max(int(labels.max(initial=0)) + 1, max(class_weight, default=0) + 1), dtype=np.float64)
    for k, v in class_weight.items():
        table[int(k)] = float(v)
    return table[np.clip(labels, 0, None)]


class CompiledLoss:
    """The compiled loss: per-sample function, its fused logits form, reduction and target rules."""

    def __init__(self, identifier):
        self.identifier = identifier
        if isinstance(identifier, losses.Loss):
            self.loss_obj = identifier
        elif isinstance(identifier, (str, dict)) or (
                isinstance(identifier, type) and issubclass(identifier, losses.Loss)):
            fn = losses.get(identifier)  # raises a clear error for unknown names
            try:
                self.loss_obj = losses._loss_object(identifier) if not isinstance(identifier, type) else identifier()
            except (ValueError, TypeError):
                self.loss_obj = losses.LossFunctionWrapper(fn)
        elif callable(identifier):
            self.loss_obj = losses.LossFunctionWrapper(identifier)
        else:
            raise TypeError(f"compile(loss=...) takes a loss name, a Loss instance or a function; got {identifier!r}")
        self.kind = losses.canonical_name(identifier if not isinstance(identifier, dict) else self.loss_obj)
        self.name = loss_identifier_name(identifier)
        self.fused = None
        self.fused_activation = None

    # -- resolving against the model ------------------------------------------------------
    def resolve_fused(self, last_layer) -> None:
        """Use the logits form when the last layer ends in softmax/sigmoid and the loss matches."""
        self.fused = self.fused_activation = None
        act = getattr(last_layer, "activation_name", None)
        if act in ("softmax", "sigmoid") and hasattr(last_layer, "call_pre_activation"):
            fn = losses.fused_loss(self.loss_obj, act)
            if fn is not None:
                self.fused = getattr(fn, "loss", None) or losses.LossFunctionWrapper(fn)
                self.fused_activation = act

    def _simple(self, loss_obj) -> bool:
        """Keras's default reduction with no mask: the fast ``mean`` path applies."""
        return (loss_obj.reduction == "sum_over_batch_size"
                and type(loss_obj)._output_mask is losses.Loss._output_mask
                and (type(loss_obj)._mask is losses.Loss._mask or getattr(loss_obj, "ignore_class", None) is None))

    def reducer(self, fused: bool):
        """``f(y_true, y_pred, sample_weight) -> scalar Tensor`` (the trainer applies loss weights).
        An output that carries a mask (``_keras_mask``) has it folded into the sample weights, as
        Keras's ``Loss.__call__`` does."""
        plain = self._plain_reducer(fused)
        loss_obj = self.fused if fused else self.loss_obj
        squeeze = self.kind == "sparse_categorical_crossentropy"

        def masked(y, out, sw, mask):
            if squeeze and y.ndim == out.ndim:
                y = y.reshape(y.shape[:-1])
            per = loss_obj.call(y, out)
            keep = mask.data if isinstance(mask, Tensor) else mask
            own = loss_obj._mask(y, out)  # ignore_class: Keras ANDs the loss's own mask in
            if own is not None:
                keep = keep & own
            return losses.reduce_weighted_values(per, sw, keep, loss_obj.reduction)

        def reduce(y, out, sw):
            mask = getattr(out, "_keras_mask", None)
            if out.dtype == np.float16:  # a mixed_float16 output: the loss computes in float32, as Keras's
                out = _cast(out, np.float32)
            return plain(y, out, sw) if mask is None else masked(y, out, sw, mask)

        return reduce

    def _plain_reducer(self, fused: bool):
        loss_obj = self.fused if fused else self.loss_obj
        # sparse labels keep the caller's (N, 1) shape (metrics see it, as in Keras); the loss takes (N,)
        squeeze = self.kind == "sparse_categorical_crossentropy"
        if not self._simple(loss_obj):
            if not squeeze:
                return loss_obj
            return lambda y, out, sw: loss_obj(y.reshape(y.shape[:-1]) if y.ndim == out.ndim else y, out, sw)
        per_sample = loss_obj.call

        def reduce(y, out, sw):
            if squeeze and y.ndim == out.ndim:
                y = y.reshape(y.shape[:-1])
            per = per_sample(y, out)
            if sw is None:
                value = per.mean() if per.ndim else per
            else:
                w = sw if sw.ndim >= per.ndim else sw.reshape(sw.shape + (1,) * (per.ndim - sw.ndim))
                value = (per * w).sum() / per.size
            return value
        return reduce

    # -- targets --------------------------------------------------------------------------
    def prepare_targets(self, y, output_shape, dtype, where: str = "y"):
        """Check ``y`` against the model output and convert it once: int64 labels for the sparse
        loss, the model's float dtype otherwise. Raises ValueError naming expected vs actual."""
        out = tuple(output_shape)
        n_classes = out[-1] if len(out) >= 2 else None
        if self.kind == "sparse_categorical_crossentropy":
            expected = out[1:-1]
            given = y
            if y.ndim == len(out) and y.shape[-1] == 1 and n_classes != 1:
                y = y.reshape(y.shape[:-1])
            if tuple(y.shape[1:]) != expected:
                hint = ""
                if tuple(y.shape[1:]) == out[1:]:
                    hint = " (one-hot targets? use loss='categorical_crossentropy', or pass integer class ids)"
                elif len(out) > 2 and y.ndim == 1:
                    hint = (f" (the model's output keeps the input's axes {out[1:-1]}: a Dense layer on a "
                            f"{len(out)}-D input acts on the last axis only; put a Flatten() or a global pooling "
                            f"layer before it)")
                raise ValueError(
                    f"{where}: sparse_categorical_crossentropy expects one integer class id per sample, "
                    f"targets of shape (N,{' ' + ', '.join(map(str, expected)) if expected else ''}) "
                    f"for a model output of shape {out}; got targets of shape {tuple(y.shape)}{hint}")
            host = _host(y)
            if host.dtype.kind == "f":
                if not np.all(np.isfinite(host)) or np.any(host != np.floor(host)):
                    bad = host[~np.isfinite(host) | (host != np.floor(host))].ravel()[0]
                    raise ValueError(f"{where}: sparse class labels must be whole numbers, got {bad!r}")
            ignore = getattr(self.loss_obj, "ignore_class", None)
            lab = host.astype(np.int64)
            check = lab if ignore is None else lab[lab != ignore]
            if check.size and (check.min() < 0 or check.max() >= n_classes):
                bad = int(check.min()) if check.min() < 0 else int(check.max())
                raise ValueError(
                    f"{where}: labels must be class ids in [0, {n_classes}) for a model with {n_classes} outputs "
                    f"(output shape {out}); got label {bad}")
            return array_module(given).asarray(given).astype(np.int64, copy=False)
        if self.kind == "categorical_crossentropy":
            if y.ndim == len(out) - 1 or (y.ndim == len(out) and y.shape[-1] == 1 and n_classes != 1):
                raise ValueError(
                    f"{where}: categorical_crossentropy expects one-hot targets of shape (N, {n_classes}) for a model "
                    f"output of shape {out}; got targets of shape {tuple(y.shape)} (integer class ids? use "
                    f"loss='sparse_categorical_crossentropy' or gradflow.utils.to_categorical)")
            if y.shape[-1] != n_classes:
                raise ValueError(
                    f"{where}: one-hot targets have width {y.shape[-1]} but the model has {n_classes} outputs "
                    f"(targets {tuple(y.shape)}, output {out})")
            if tuple(y.shape[1:]) != out[1:]:
                raise ValueError(f"{where}: targets of shape {tuple(y.shape)} do not match the model output {out}")
            return y.astype(dtype, copy=False)
        if self.kind in _ELEMENTWISE:
            if y.ndim == len(out) - 1 and out[-1] == 1:
                y = y.reshape(y.shape + (1,))
            if tuple(y.shape[1:]) != out[1:]:
                raise ValueError(
                    f"{where}: {self.kind} compares targets with outputs elementwise, so targets must have shape "
                    f"(N, {', '.join(map(str, out[1:]))}) for a model output of shape {out}; got {tuple(y.shape)}")
            return y.astype(dtype, copy=False)
        return y.astype(dtype, copy=False) if y.dtype.kind in "fb" else y


class CompiledMetrics:
    """The metric objects of ``compile(metrics=..., weighted_metrics=...)``, built on first use."""

    def __init__(self, metrics=None, weighted_metrics=None):
        self.specs = _as_list(metrics, "metrics")
        self.weighted_specs = _as_list(weighted_metrics, "weighted_metrics")
        self.metrics: list = []
        self.weighted: list = []
        self.built = False

    def build(self, loss_identifier, output_shape) -> None:
        if self.built:
            return
        used: set[str] = {"loss"}
        self.metrics = [self._named(metrics_mod.get(m, loss=loss_identifier, output_shape=output_shape), used, "")
                        for m in self.specs]
        self.weighted = [self._named(metrics_mod.get(m, loss=loss_identifier, output_shape=output_shape), used,
                                     "weighted_") for m in self.weighted_specs]
        self.built = True

    @staticmethod
    def _named(metric, used: set, prefix: str):
        name = metric.name
        if name in used:
            base = prefix + name if prefix and prefix + name not in used else name
            name, i = base, 1
            while name in used:
                name = f"{base}_{i}"
                i += 1
            try:
                metric.name = name
            except AttributeError:
                pass
        used.add(name)
        return metric

    @property
    def all(self) -> list:
        return self.metrics + self.weighted

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.all]

    def update(self, y, pred, sw) -> None:
        mask = getattr(pred, "_keras_mask", None)
        if mask is not None:
            self._update_masked(y, pred, sw, mask)
            return
        for m in self.metrics:
            m.update_state(y, pred)
        for m in self.weighted:
            m.update_state(y, pred, sample_weight=sw)

    def _update_masked(self, y, pred, sw, mask) -> None:
        """Keras's ``MeanMetricWrapper.update_state``: the output's mask (as 0/1) multiplies the
        sample weights; other metrics do not see it."""
        keep = mask.data if isinstance(mask, Tensor) else mask
        xp = array_module(keep)
        float_mask = keep.astype(np.float32)
        weighted = float_mask
        if sw is not None:
            w = xp.asarray(sw.data if isinstance(sw, Tensor) else sw).astype(np.float32)
            if w.ndim < float_mask.ndim:
                w = w.reshape(w.shape + (1,) * (float_mask.ndim - w.ndim))
            weighted = w * float_mask
        for m in self.metrics:
            if isinstance(m, metrics_mod.MeanMetricWrapper):
                m.update_state(y, pred, sample_weight=float_mask)
            else:
                m.update_state(y, pred)
        for m in self.weighted:
            m.update_state(y, pred, sample_weight=weighted if isinstance(m, metrics_mod.MeanMetricWrapper) else sw)

    def reset(self) -> None:
        for m in self.all:
            m.reset_state()

    def results(self) -> dict:
        """Each metric's result for the logs: a Python float (Keras's logs hold floats), or a NumPy
        array for a metric with one value per threshold."""
        return {m.name: _log_value(m.result()) for m in self.all}


def _log_value(value):
    arr = np.asarray(value.numpy() if isinstance(value, Tensor) else value)
    return float(arr) if arr.ndim == 0 else arr


def _as_list(value, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, dict):
        raise TypeError(f"compile({what}=...) takes a list for a single-output model, got a dict")
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


class CompileMetrics:
    """All outputs' compiled metrics, Keras 3's ``compile_metrics`` entry of ``model.metrics``:
    ``update_state(y_true, y_pred, sample_weight)`` takes the model's output structure and
    ``result()`` a dict. With several outputs each name is prefixed ``{output}_``."""

    name = "compile_metrics"

    def __init__(self, metrics, weighted, prefixes, loss_specs, output_shapes):
        self.outputs = []
        used: set[str] = {"loss"}
        for specs, wspecs, prefix, loss, shape in zip(metrics, weighted, prefixes, loss_specs, output_shapes):
            cm = CompiledMetrics(specs, wspecs)
            cm.build(loss, shape)
            for m in cm.all:
                full = f"{prefix}_{m.name}" if prefix else m.name
                base, i = full, 1
                while full in used:
                    full, i = f"{base}_{i}", i + 1
                used.add(full)
                if full != m.name:
                    try:
                        m.name = full
                    except AttributeError:
                        pass
            self.outputs.append(cm)

    @property
    def all(self) -> list:
        return [m for cm in self.outputs for m in cm.all]

    @property
    def metrics(self) -> list:
        return self.all

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.all]

    def update(self, ys, preds, sws) -> None:
        sws = sws or (None,) * len(ys)
        for cm, y, p, sw in zip(self.outputs, ys, preds, sws):
            if y is not None and cm.all:
                cm.update(y, p, sw)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        def split(v):
            if v is None:
                return [None] * len(self.outputs)
            flat = flatten(v) if isinstance(v, (list, tuple, dict)) else [v]
            if len(flat) == 1 and len(self.outputs) > 1:
                flat = flat * len(self.outputs)
            return [f.data if isinstance(f, Tensor) else f for f in flat]

        preds = [p if isinstance(p, Tensor) else Tensor._wrap(p) for p in split(y_pred)]
        self.update(split(y_true), preds, split(sample_weight))

    def reset(self) -> None:
        for cm in self.outputs:
            cm.reset()

    reset_state = reset

    def results(self) -> dict:
        out = {}
        for cm in self.outputs:
            out.update(cm.results())
        return out

    result = results

    def __repr__(self):
        return f"<CompileMetrics {self.names}>"
