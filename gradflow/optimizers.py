"""Optimizers with the Keras 3 update rules, updating parameters in place on their own device.

Each step runs in-place ufuncs of the parameter's array module (NumPy or CuPy), so nothing leaves
the device and no per-element Python runs: tensor by tensor, or, for a set of small parameters
stepped together step after step, once over flat buffers holding all of them (far fewer calls).
On the CPU (NumPy arrays, float32/float64) the stock Adam, AdamW, SGD, RMSprop, Adagrad, Adamax and
Nadam rules run as fused Numba kernels (``gradflow.kernels.cpu.optim``: one pass over each parameter and
its slots, the same bits as the ufuncs) for steps of at least ``_KERNEL_MIN_SIZE`` values under
``config.kernels="auto"`` (any size under ``"numba"``; never under ``"numpy"`` or the reference backend).
Slot variables (momentum, velocity, ...) are created lazily, keyed by parameter identity, with the
parameter's shape, dtype and device. ``get_state(params)`` / ``set_state(state, params)`` give an
exact resume.

Public API: ``opt.step(params)``, ``opt.apply_gradients([(grad, param), ...])``,
``opt.get_state(params) -> dict[str, np.ndarray]``, ``opt.set_state(state, params)``,
``opt.learning_rate`` (settable), ``opt.iterations``, ``get_config``/``from_config``, ``get(identifier)``.

A step is atomic with respect to Ctrl-C: SIGINT is held back while the in-place updates run (every
parameter, slot and ``iterations`` change together) and delivered as soon as they are done, so an
interrupted training run always stops exactly at the end of a completed step (see
``gradflow.trainers.step.sigint_deferred``).
"""
from __future__ import annotations

import difflib
import importlib
import math
import numbers
import re
import sys
import warnings
from collections.abc import MutableMapping

import numpy as np

from . import config, initializers, schedules
from . import optimizers_legacy as legacy
from ._interrupts import sigint_deferred
from ._naming import snake_case, unique_name
from ._registry import register_module
from .autograd.grad_mode import no_grad
from .autograd.tensor import Parameter, Tensor
from .backend import array_module, device_of, get_backend, is_cupy_array
from .saving.serialization import deserialize_keras_object, serialize_keras_object
from .schedules import LearningRateSchedule
from .variables import Variable

__all__ = [
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam", "Lion", "Lamb",
    "Ftrl", "Adafactor", "Muon", "ScheduleFreeAdamW",
    "get", "serialize", "deserialize", "schedules",
    # metrics
    "LossScaleOptimizer",
    # utilsopt
    "MultiOptimizer", "OptimizerMap", "legacy",
]


# -- argument checks ----------------------------------------------------------------------------

def _real(cls, name, value, lo=None, hi=None, hi_open=False, allow_none=False):
    """``value`` as a float after checking it is a finite number in [lo, hi] (or [lo, hi))."""
    if value is None and allow_none:
        return None
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{cls}: `{name}` must be a finite number, got {name}={value!r}")
    value = float(value)
    if lo is not None and value < lo:
        raise ValueError(f"{cls}: `{name}` must be >= {lo}, got {name}={value!r}")
    if hi is not None and (value >= hi if hi_open else value > hi):
        interval = f"[{lo}, {hi})" if hi_open else f"[{lo}, {hi}]"
        raise ValueError(f"{cls}: `{name}` must be in {interval}, got {name}={value!r}")
    return value


def _short_name(variable) -> str:
    """Keras's ``variable.name``: the last part of its path (``kernel`` for ``sequential/dense/kernel``)."""
    return str(getattr(variable, "path", None) or variable.name or "variable").rsplit("/", 1)[-1]


def _flag(cls, name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{cls}: `{name}` must be True or False, got {name}={value!r}")
    return bool(value)


def _lerp_(xp, acc, target, c, tmp):
    """``acc += c * (target - acc)`` in place (Keras's moment update); ``tmp`` is scratch and may be ``target``."""
    xp.subtract(target, acc, out=tmp)
    xp.multiply(tmp, c, out=tmp)
    xp.add(acc, tmp, out=acc)


class _Entry:
    """Per-parameter bookkeeping: the slot arrays, a scratch buffer, and what they were built for."""

    __slots__ = ("param", "data", "xp", "slots", "tmp", "decay")

    def __init__(self, param, data, xp, slots, tmp, decay):
        self.param, self.data, self.xp, self.slots, self.tmp, self.decay = param, data, xp, slots, tmp, decay


class _Layout:
    """Flat buffers for a set of same-dtype, same-device parameters stepped together: the step's
    parameters at positions ``pos``; those at positions ``rest`` (large ones, on the CPU) step one by one."""

    __slots__ = ("xp", "entries", "datas", "slots", "tmp", "g", "views", "pos", "rest")

    def __init__(self, xp, entries, datas, slots, tmp, g, views, pos, rest):
        self.xp, self.entries, self.datas, self.slots, self.tmp, self.g, self.views = (
            xp, entries, datas, slots, tmp, g, views)
        self.pos, self.rest = pos, rest


#: the dtypes the fused CPU kernels (``gradflow.kernels.cpu.optim``) update
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_kernel_module = None  # gradflow.kernels.cpu.optim once imported; False: it cannot load here
#: under ``config.kernels="auto"`` a step updating fewer values than this keeps the NumPy path: there the
#: step takes well under a millisecond either way, and a first run (an empty kernel cache) would wait
#: about a second for the kernel to compile; ``config.kernels="numba"`` uses the kernels at any size
_KERNEL_MIN_SIZE = 1 << 17
#: optimizer class -> whether it runs its fused kernel (its update rule is the one the kernel implements)
_kernel_classes: dict[type, bool] = {}


def _fused_kernels():
    """``gradflow.kernels.cpu.optim`` (imported on the first step that can use it), or None where the
    fused kernels must not run: another kernel set asked for (``config.kernels`` other than ``auto`` or
    ``numba``), the ``reference`` backend, or Numba not loadable."""
    global _kernel_module
    if config.kernels not in ("auto", "numba") or get_backend().name == "reference":
        return None
    if _kernel_module is None:
        try:  # by name: no import edge, and Numba loads only when an optimizer first steps
            _kernel_module = importlib.import_module("gradflow.kernels.cpu.optim")
        except Exception:  # noqa: BLE001 - no Numba (or it fails to load): the NumPy path, always correct
            _kernel_module = False
    return _kernel_module or None


def _fusable(w, *arrays) -> bool:
    """Whether the fused kernel can update ``w`` (a NumPy float32/float64 array) with ``arrays``
    (its gradient and slots): all C-contiguous NumPy arrays of ``w``'s dtype and shape."""
    if w.__class__ is not np.ndarray or w.dtype not in _KERNEL_DTYPES or not w.flags.c_contiguous:
        return False
    for a in arrays:
        if a.__class__ is not np.ndarray or a.dtype != w.dtype or a.shape != w.shape or not a.flags.c_contiguous:
            return False
    return True


#: on the CPU, parameters are stepped as one flat set only while their mean size is at most this
#: (beyond it the per-call overhead saved is small next to the extra copy of the gradients)
_FLAT_MAX_MEAN_SIZE = 1 << 15
#: on the CPU, a parameter larger than this steps on its own beside the flat set of the small ones: one
#: pass (one kernel call) of its own costs less than copying its gradient into the flat buffer and its
#: update back out of it (model T: its 640k-value embedding alone, the 22 small weights as one set)
_FLAT_MAX_SIZE = 1 << 14
_UNSEEN = object()


class Optimizer:
    """Base optimizer (Keras 3 semantics).

    Args: ``learning_rate`` (float >= 0, a ``LearningRateSchedule`` called with ``iterations``, or a
    no-argument callable), ``weight_decay=None`` (decoupled: ``w -= w * weight_decay * lr`` before the
    update), ``clipnorm=None`` (per tensor), ``clipvalue=None``, ``global_clipnorm=None`` (at most one
    of the three), ``name``.

    Subclasses name their slots in ``_slot_names(self)``, give per-step scalars in
    ``_coefficients(lr, t)`` (``t = iterations + 1``), and in ``_direction(xp, g, slots, tmp, c)``
    update the slots in place and return ``(d, add)``: ``d`` one of the ``slots``/``tmp`` buffers
    and ``w += d`` if ``add`` else ``w -= d``. The same code runs on one tensor or, for a set of
    small parameters stepped together again and again, on all of them at once as flat buffers
    (the slots of each parameter are then views into those buffers).
    """

    _n_tmp = 1  # scratch buffers per parameter used by _direction
    #: Keras's base arguments every optimizer takes through ``**kwargs`` (what a .keras config may hold)
    _COMMON = ("use_ema", "ema_momentum", "ema_overwrite_frequency")

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        cls = type(self).__name__
        # Keras's base arguments (in every Keras optimizer config): accepted where they change nothing
        self.use_ema = _flag(cls, "use_ema", kwargs.pop("use_ema", False))
        self.ema_momentum = _real(cls, "ema_momentum", kwargs.pop("ema_momentum", 0.99), lo=0, hi=1)
        self.ema_overwrite_frequency = kwargs.pop("ema_overwrite_frequency", None)
        freq = self.ema_overwrite_frequency
        if self.use_ema and freq and (isinstance(freq, bool) or not isinstance(freq, int) or freq < 1):
            raise ValueError(f"`ema_overwrite_frequency` must be an integer >= 1 or None. Received: "
                             f"ema_overwrite_frequency={freq}")
        self._ema: dict[int, tuple] = {}  # id(param) -> (param, its moving average: a Parameter)
        self.loss_scale_factor = kwargs.pop("loss_scale_factor", None)
        self.gradient_accumulation_steps = kwargs.pop("gradient_accumulation_steps", None)
        for arg, value in (("loss_scale_factor", self.loss_scale_factor),
                           ("gradient_accumulation_steps", self.gradient_accumulation_steps)):
            if value is not None:
                raise ValueError(f"{cls}: `{arg}` is not supported by gradflow (use its default), got "
                                 f"{arg}={value!r}")
        if kwargs:
            raise ValueError(f"{cls}: argument(s) not recognized: {sorted(kwargs)}")
        # Keras's auto_name less its session counter (adam_1...): configs stay comparable across sessions
        self.name = str(name) if name is not None else snake_case(cls)
        self.weight_decay = _real(cls, "weight_decay", weight_decay, lo=0, allow_none=True)
        self.clipnorm = _real(cls, "clipnorm", clipnorm, lo=0, allow_none=True)
        self.clipvalue = _real(cls, "clipvalue", clipvalue, lo=0, allow_none=True)
        self.global_clipnorm = _real(cls, "global_clipnorm", global_clipnorm, lo=0, allow_none=True)
        for arg in ("clipnorm", "clipvalue", "global_clipnorm"):
            if getattr(self, arg) == 0.0:
                raise ValueError(f"{cls}: `{arg}` must be > 0 (or None to turn it off), got 0")
        if sum(v is not None for v in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError(f"{cls}: only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set; got "
                             f"clipnorm={clipnorm}, clipvalue={clipvalue}, global_clipnorm={global_clipnorm}")
        self._lr = None
        self.learning_rate = learning_rate
        self._iterations = 0
        self._entries: dict[int, _Entry] = {}
        self._layouts: dict[tuple, _Layout] = {}
        self._last_key = None
        self._exclude_ids: set[int] = set()
        self._exclude_names: tuple[str, ...] = ()
        self._exclude_pattern: re.Pattern | None = None
        self._built = False
        self._variables: list[Parameter] = []
        self._trainable_variables: list = []
        self._trainable_variables_indices: dict[int, int] = {}

    # -- learning rate and iterations -------------------------------------------------------
    @property
    def learning_rate(self) -> float:
        """The learning rate of the next step (a schedule is evaluated at ``iterations``)."""
        return self._current_lr()

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule) or (callable(value) and not isinstance(value, numbers.Real)):
            self._lr = value
        else:
            self._lr = _real(type(self).__name__, "learning_rate", value, lo=0)

    def _current_lr(self) -> float:
        lr = self._lr
        if lr.__class__ is float:
            return lr
        value = lr(self._iterations) if isinstance(lr, LearningRateSchedule) else lr()
        return float(value)

    @property
    def iterations(self) -> int:
        """How many updates were applied (what schedules see as ``step``)."""
        return self._iterations

    @iterations.setter
    def iterations(self, value):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
            raise ValueError(f"{type(self).__name__}: `iterations` must be an integer >= 0, got {value!r}")
        self._iterations = int(value)

    # -- what subclasses define ----------------------------------------------------------------
    def _slot_names(self) -> tuple[str, ...]:
        return ()

    def _slot_initial_value(self, slot: str) -> float:
        return 0.0

    def _coefficients(self, lr: float, t: int) -> tuple:
        raise NotImplementedError

    def _direction(self, xp, g, slots, tmp, c):
        raise NotImplementedError

    def _run_kernel(self, k, out, g, slots, c, keep, decay, apply) -> bool:
        """Optimizers with a fused CPU kernel override this: the update of ``_direction`` in one pass
        through ``k`` (``gradflow.kernels.cpu.optim``) on 1-D contiguous arrays. ``apply``: ``out`` is the
        parameter (decayed by ``keep`` first when ``decay``); else ``out`` receives ``d``. Returns ``add``
        as ``_direction`` does."""
        raise NotImplementedError

    def _kernels(self, size):
        """The fused kernels module when this optimizer runs its kernel on the NumPy backend for a step
        updating ``size`` values (see ``_KERNEL_MIN_SIZE``), else None. A subclass that changes the update
        rule (``_direction``, ``_coefficients``) keeps the NumPy path."""
        cls = type(self)
        ok = _kernel_classes.get(cls)
        if ok is None:
            owner = next(k for k in cls.__mro__ if "_run_kernel" in k.__dict__)
            ok = _kernel_classes[cls] = owner is not Optimizer and all(
                getattr(cls, n) is getattr(owner, n) for n in ("_direction", "_coefficients", "_run_kernel"))
        if not ok or (size < _KERNEL_MIN_SIZE and config.kernels == "auto"):
            return None
        return _fused_kernels()

    def _begin_step(self) -> None:
        """Hook for optimizer-wide state advanced once per step (Nadam's momentum cache)."""

    def _global_state(self) -> dict:
        return {}

    def _set_global_state(self, state: dict) -> None:
        pass

    # -- applying gradients ------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars) -> int:
        """Keras style: update each parameter from its gradient; ``grads_and_vars`` is a list of
        ``(grad, param)`` with ``grad`` a Tensor, an array or None (skipped with a warning).
        Frozen parameters (``trainable=False``) are skipped. Returns ``iterations``."""
        pairs, missing, seen = [], [], 0
        for g, p in grads_and_vars:
            seen += 1
            if g is None:
                missing.append(getattr(p, "name", None) or f"#{seen - 1}")
            elif getattr(p, "trainable", True):
                pairs.append((g, p))
        if seen == 0:
            return self._iterations
        if missing:
            if len(missing) == seen:
                raise ValueError(f"{type(self).__name__}: no gradients provided for any variable")
            warnings.warn(f"gradients do not exist for variables {missing} when minimizing the loss",
                          stacklevel=2)
        if pairs:
            self._apply(pairs)
        return self._iterations

    def apply(self, grads, params) -> int:
        """``apply_gradients(zip(grads, params))``."""
        return self.apply_gradients(zip(grads, params))

    def step(self, params, apply_if=None) -> None:
        """Update every trainable parameter in ``params`` from its ``.grad`` (those whose grad is None are
        skipped); a step with nothing to update changes nothing, ``iterations`` included.

        ``apply_if``: a 0-d boolean array on the parameters' device (``all_finite``'s, or a
        ``FiniteGate``'s): where it is False the step leaves every parameter and slot as it was,
        decided on the device without a host read. ``iterations`` counts the step either way
        (``FiniteGate.check(optimizer)`` takes back the steps that did not apply)."""
        pairs = []
        for p in params:
            g = p.grad
            if g is not None and getattr(p, "trainable", True):
                pairs.append((g, p))
        if pairs:
            self._apply(pairs, apply_if)

    def build(self, var_list) -> None:
        """Create the slots of every trainable parameter now (they are otherwise made on first use).

        Keras's custom-optimizer pattern overrides this: ``super().build(var_list)`` then
        ``add_variable_from_reference(var, "momentum")`` per variable, read back in ``update_step``
        through ``_get_variable_index(variable)``."""
        var_list = [p for p in var_list if getattr(p, "trainable", True)]
        self._trainable_variables = list(var_list)
        self._trainable_variables_indices = {id(p): i for i, p in enumerate(var_list)}
        if self.use_ema:  # Keras: the averages come first, before the subclass's slots
            self._ema_averages(var_list)
        if not self._custom_update_step():
            for p in var_list:
                self._entry(p)
        self._built = True

    # -- Keras's custom-optimizer API (build + update_step) ------------------------------------
    def update_step(self, gradient, variable, learning_rate) -> None:
        """Override with Keras's signature to write an optimizer: update ``variable`` (a Parameter) in
        place from ``gradient`` (a Tensor) with ``assign``/``assign_add``/``assign_sub``; the optimizer
        calls it once per trainable variable each step, under ``no_grad``."""
        raise NotImplementedError(f"{type(self).__name__} must implement update_step(gradient, variable, "
                                  f"learning_rate)")

    @classmethod
    def _custom_update_step(cls) -> bool:
        return cls.update_step is not Optimizer.update_step

    def add_variable(self, shape, initializer="zeros", dtype=None, aggregation="none", layout=None,
                     name=None) -> Parameter:
        """A non-trainable optimizer variable (Keras's ``add_variable``), tracked in ``variables``: a
        ``Variable`` named ``name`` (``variable``, ``variable_1``... when None) whose ``path`` is
        ``<optimizer name>/<name>``, as Keras makes it under the optimizer's name scope."""
        dtype = np.dtype(dtype) if dtype is not None else np.dtype(np.float32)
        shape = tuple(int(s) for s in shape)
        values = initializers.get(initializer)(shape, dtype=dtype)
        values = values.data if isinstance(values, Tensor) else values
        name = unique_name("variable") if name is None else str(name)
        var = Variable._owned(values, dtype, f"{self.name}/{name}", trainable=False,
                              aggregation="none" if aggregation is None else aggregation, name=name)
        self._variables.append(var)
        return var

    def add_variable_from_reference(self, reference_variable, name=None, initializer="zeros") -> Parameter:
        """A variable of ``reference_variable``'s shape, dtype and device (Keras's slot pattern), named as
        Keras names it: ``<reference path, '/' -> '_'>_<name>`` (``sequential_dense_kernel_momentum``)."""
        name = name or "var"
        ref = getattr(reference_variable, "path", None) or str(reference_variable.name or "variable")
        var = self.add_variable(tuple(reference_variable.shape), initializer=initializer,
                                dtype=reference_variable.data.dtype,
                                name=f"{ref.replace('/', '_').replace(':', '_')}_{name}")
        xp = array_module(reference_variable.data)
        if xp is not np:
            var.data = xp.asarray(var.data)
        return var

    def add_optimizer_variables(self, trainable_variables, name, initializer="zeros"):
        """One variable per trainable variable for each of ``name`` (a string or a list of them)."""
        names = [name] if isinstance(name, str) else list(name)
        inits = initializer if isinstance(initializer, (list, tuple)) else [initializer] * len(names)
        out = tuple([self.add_variable_from_reference(v, n, init) for v in trainable_variables]
                    for n, init in zip(names, inits))
        return out[0] if isinstance(name, str) else out

    def _get_variable_index(self, variable) -> int:
        return self._trainable_variables_indices[id(variable)]

    @property
    def variables(self) -> list:
        """The optimizer's own variables (those made with ``add_variable``)."""
        return list(self._variables)

    def assign(self, variable, value) -> None:
        variable.assign(value)

    def assign_add(self, variable, value) -> None:
        variable.assign_add(value)

    def assign_sub(self, variable, value) -> None:
        variable.assign_sub(value)

    def _commit_custom(self, pairs, grads, lr, apply_if=None) -> None:
        """One step through the subclass's ``update_step`` (Keras's custom-optimizer pattern)."""
        if not self._built:
            self.build([p for _, p in pairs])
        unknown = [p for _, p in pairs if id(p) not in self._trainable_variables_indices]
        if unknown:
            raise ValueError(f"{type(self).__name__}: variable {unknown[0].name!r} was not in the var_list the "
                             f"optimizer was built with")
        saved = None
        if apply_if is not None:
            written = [p.data for _, p in pairs] + [v.data for v in self._variables]
            saved = [a.copy() for a in written]
        with no_grad():
            for _, p in pairs:  # Keras: every weight decays, then every update step runs
                wd = self._weight_decay_for(p)
                if wd and self._uses_weight_decay(p):
                    p.data *= 1.0 - lr * wd
            for g, (_, p) in zip(grads, pairs):
                self.update_step(Tensor(g), p, Tensor(np.asarray(lr, dtype=p.data.dtype)))
        self._apply_constraints(pairs)
        if saved is not None:
            rollback_unless(apply_if, written, saved)
        self._iterations += 1

    def _weight_decay_for(self, variable):
        """The decoupled weight decay of ``variable`` in a build + update_step optimizer (Muon: per kind)."""
        return self.weight_decay

    def _apply_constraints(self, pairs) -> None:
        """``w = constraint(w)`` for each updated weight that has one (Keras: after the update)."""
        todo = [p for _, p in pairs if getattr(p, "constraint", None) is not None]
        if not todo:
            return
        with no_grad():
            for p in todo:
                value = p.constraint(p)
                p.data[...] = value.data if isinstance(value, Tensor) else value

    def _apply(self, pairs, apply_if=None) -> None:
        lr = self._current_lr()
        grads = [self._grad_array(g, p) for g, p in pairs]
        if self.clipnorm is not None or self.clipvalue is not None or self.global_clipnorm is not None:
            grads = self._clip(grads)
        commit = self._commit_custom if self._custom_update_step() else self._commit
        if self.use_ema:
            sigint_deferred(self._commit_with_ema, commit, pairs, grads, lr, apply_if)
        else:
            sigint_deferred(commit, pairs, grads, lr, apply_if)

    # -- exponential moving average of the weights (Keras's use_ema) ----------------------------
    def _ema_averages(self, params) -> list:
        """The moving average of each of ``params`` (made, zero, for those that have none yet)."""
        out = []
        for p in params:
            pair = self._ema.get(id(p))
            if pair is None or pair[0] is not p:
                base = (getattr(p, "name", None) or "variable").replace("/", "_")
                avg = Parameter(array_module(p.data).zeros(p.data.shape, dtype=p.data.dtype),
                                name=f"{base}_average", trainable=False)
                pair = self._ema[id(p)] = (p, avg)
            out.append(pair[1])
        return out

    @property
    def _model_variables_moving_average(self) -> list:
        """Keras's name: the averages, in the order of the weights they follow."""
        if not self.use_ema or not self._ema:
            raise AttributeError("_model_variables_moving_average")  # as in Keras: none before the first build
        return [avg for _, avg in self._ema.values()]

    def _commit_with_ema(self, commit, pairs, grads, lr, apply_if=None) -> None:
        """One step, then Keras's average update ``avg = m * avg + (1 - m) * w`` (``m = 0`` at the first
        step) of every weight the optimizer follows, in the weights' dtype; every
        ``ema_overwrite_frequency`` steps the weights take their averages."""
        first = self._iterations == 0
        self._ema_averages([p for _, p in pairs])
        followed = list(self._ema.values())
        overwrite = bool(self.ema_overwrite_frequency) and (self._iterations + 1) % self.ema_overwrite_frequency == 0
        saved = written = None
        if apply_if is not None:
            written = [avg.data for _, avg in followed] + ([p.data for p, _ in followed] if overwrite else [])
            saved = [a.copy() for a in written]
        commit(pairs, grads, lr, apply_if)
        for p, avg in followed:
            w, a = p.data, avg.data
            m = w.dtype.type(0.0 if first else self.ema_momentum)
            a[...] = m * a + (w.dtype.type(1) - m) * w
        if overwrite:
            self._overwrite_with_averages([p for p, _ in followed])
        if saved is not None:
            rollback_unless(apply_if, written, saved)

    def _overwrite_with_averages(self, var_list) -> None:
        for p in var_list:
            pair = self._ema.get(id(p))
            if pair is not None and pair[0] is p:
                p.data[...] = pair[1].data

    def finalize_variable_values(self, var_list) -> None:
        """With ``use_ema``, the weights take their moving averages (what ``fit`` does at its end, as Keras)."""
        if not self.use_ema:
            return
        with no_grad():
            self._overwrite_with_averages(list(var_list))  # the weights that have an average

    def _commit(self, pairs, grads, lr, apply_if=None) -> None:
        """Every in-place change of one step: slots, parameters, then ``iterations`` (run with Ctrl-C
        held back, so an interrupt never leaves some of them at the next step and some at this one).
        With ``apply_if`` the arrays the step writes are copied first and copied back where it is False."""
        layout = self._layout_for(pairs)
        saved = None
        if apply_if is not None:
            written = self._written_arrays(pairs, layout)
            saved = [a.copy() for a in written]
        self._begin_step()
        c = self._coefficients(lr, self._iterations + 1)
        keep = None if not self.weight_decay else 1.0 - lr * self.weight_decay
        kern = self._kernels(sum(g.size for g in grads))
        if layout is not None:
            self._step_flat(layout, pairs, grads, c, keep, kern)
        else:
            self._step_each(pairs, grads, c, keep, kern)
        self._apply_constraints(pairs)
        if saved is not None:
            rollback_unless(apply_if, written, saved)
        self._iterations += 1

    def _written_arrays(self, pairs, layout) -> list:
        """The arrays one step changes in place: the parameters and their slots (the flat buffers
        when the step runs on a layout, whose views the entries' slots are)."""
        out = []
        if layout is not None:
            out.extend(layout.datas)
            out.extend(layout.slots)
            pairs = [pairs[i] for i in layout.rest]
        for _, p in pairs:
            e = self._entry(p)
            out.append(p.data)
            out.extend(e.slots)
        return out

    def _step_each(self, pairs, grads, c, keep, kern=None) -> None:
        """One tensor at a time (each in one pass through ``kern``, the fused kernels, where it applies)."""
        entries, direction = self._entries, self._direction
        for g, (_, p) in zip(grads, pairs):
            w = p.data
            e = entries.get(id(p))
            if e is None or e.data is not w:
                e = self._entry(p)
            if kern is not None and _fusable(w, *e.slots):
                if g.__class__ is np.ndarray and not g.flags.c_contiguous:
                    g = np.ascontiguousarray(g)
                if _fusable(w, g):  # one pass: decay, slots and parameter
                    decay = keep is not None and e.decay
                    self._run_kernel(kern, w.reshape(-1), g.reshape(-1), [s.reshape(-1) for s in e.slots], c,
                                     keep if decay else 1.0, decay, True)
                    continue
            xp = e.xp
            if keep is not None and e.decay:
                xp.multiply(w, keep, out=w)
            d, add = direction(xp, g, e.slots, e.tmp, c)
            if add:
                xp.add(w, d, out=w)
            else:
                xp.subtract(w, d, out=w)

    def _step_flat(self, layout, pairs, grads, c, keep, kern=None) -> None:
        """All parameters of ``layout`` at once (one ufunc per operation, or one pass through ``kern``),
        then one write per parameter; the large ones outside the flat buffers one by one."""
        xp = layout.xp
        xp.concatenate([grads[i].reshape(-1) for i in layout.pos], out=layout.g)
        if kern is not None and xp is np and _fusable(layout.g, *layout.slots, *layout.tmp):
            d = layout.tmp[0]  # the slots and d in one pass over the flat buffers
            add = self._run_kernel(kern, d, layout.g, layout.slots, c, 1.0, False, False)
        else:
            d, add = self._direction(xp, layout.g, layout.slots, layout.tmp, c)
        if keep is not None:
            for e, w in zip(layout.entries, layout.datas):
                if e.decay:
                    xp.multiply(w, keep, out=w)
        op = xp.add if add else xp.subtract
        for w, dv in zip(layout.datas, layout.views[id(d)]):
            op(w, dv, out=w)
        if layout.rest:
            self._step_each([pairs[i] for i in layout.rest], [grads[i] for i in layout.rest], c, keep, kern)

    def _grad_array(self, g, p):
        """The gradient as an array of the parameter's shape, dtype and device."""
        if isinstance(g, Tensor):
            g = g.data
        w = p.data if isinstance(p, Tensor) else None
        if w is None:
            raise TypeError(f"{type(self).__name__} updates gradflow Tensors/Parameters, got {type(p).__name__}")
        if g.__class__ is not w.__class__:
            if device_of(g) != device_of(w) and hasattr(g, "shape"):
                raise ValueError(f"gradient for parameter {p.name!r} is on {device_of(g)} but the parameter is on "
                                 f"{device_of(w)}; move one of them with .to(...)")
            g = array_module(w).asarray(g)
        if g.shape != w.shape:
            raise ValueError(f"gradient for parameter {p.name!r} has shape {g.shape}, expected {w.shape}")
        if g.dtype != w.dtype:
            g = g.astype(w.dtype)
        return g

    def _clip(self, grads):
        """Keras clipping: per-tensor norm, global norm (NaN everywhere when it is not finite), or value."""
        if self.clipvalue is not None:
            v = self.clipvalue
            return [array_module(g).clip(g, -v, v) for g in grads]
        if self.clipnorm is not None:
            return [_scaled(g, _sq_norm(g), self.clipnorm) for g in grads]
        total = sum(_sq_norm(g) for g in grads)
        return [_scaled(g, total, self.global_clipnorm, nan_if_not_finite=True) for g in grads]

    # -- slots --------------------------------------------------------------------------------
    def _entry(self, p) -> _Entry:
        """The entry of ``p``: the current one, or a new one (slots moved to the parameter's new
        array, device or dtype when its data was replaced; fresh slots for a parameter never seen)."""
        w = p.data if isinstance(p, Tensor) else None
        if w is None:
            raise TypeError(f"{type(self).__name__} updates gradflow Tensors/Parameters, got {type(p).__name__}")
        old = self._entries.get(id(p))
        if old is not None and old.param is p and old.data is w:
            return old
        xp = array_module(w)
        if old is not None and old.param is p:
            if any(s.shape != w.shape for s in old.slots):
                raise ValueError(f"parameter {p.name!r} changed shape from {old.slots[0].shape} to {w.shape} "
                                 f"after the optimizer created its slots")
            slots = tuple(xp.array(s if xp is not np else _host(s), dtype=w.dtype) for s in old.slots)
            for key in [k for k in self._layouts if id(p) in k]:
                del self._layouts[key]  # its flat buffers no longer hold this parameter's slots
        else:
            slots = tuple(xp.full(w.shape, self._slot_initial_value(n), dtype=w.dtype) for n in self._slot_names())
        tmp = tuple(xp.empty(w.shape, dtype=w.dtype) for _ in range(self._n_tmp))
        e = _Entry(p, w, xp, slots, tmp, self._uses_weight_decay(p))
        self._entries[id(p)] = e
        return e

    def _layout_for(self, pairs):
        """The flat layout for exactly these parameters (None: step them one by one). It is built
        when the same set comes twice in a row; a refusal is remembered (stored as None)."""
        key = tuple([id(p) for _, p in pairs])
        layout = self._layouts.get(key, _UNSEEN)
        if layout is None:
            return None
        if layout is not _UNSEEN:
            if all(pairs[i][1].data is w for i, w in zip(layout.pos, layout.datas)):
                return layout
            del self._layouts[key]  # a parameter got new data (moved, replaced): rebuild now
        elif key != self._last_key:
            self._last_key = key
            return None
        layout = self._layouts[key] = self._make_layout(key, [p for _, p in pairs])
        return layout

    def _make_layout(self, key, params):
        if len(params) < 2 or len(set(key)) != len(key):
            return None
        entries = [self._entry(p) for p in params]
        pos = list(range(len(entries)))
        if entries[0].xp is np:
            pos = [i for i in pos if entries[i].data.size <= _FLAT_MAX_SIZE]
            if len(pos) < 2:
                return None
            entries = [entries[i] for i in pos]
        xp, dtype = entries[0].xp, entries[0].data.dtype
        if any(e.xp is not xp or e.data.dtype != dtype for e in entries):
            return None
        sizes = [e.data.size for e in entries]
        total = sum(sizes)
        if total == 0 or (xp is np and total > _FLAT_MAX_MEAN_SIZE * len(entries)):
            return None
        flat = set(pos)
        rest = [i for i in range(len(params)) if i not in flat]
        bounds = np.cumsum([0] + sizes).tolist()

        def split(buf):
            return [buf[a:b].reshape(e.data.shape) for a, b, e in zip(bounds, bounds[1:], entries)]

        n_slots = len(entries[0].slots)
        slots = tuple(xp.concatenate([e.slots[j].reshape(-1) for e in entries]) for j in range(n_slots))
        tmp = tuple(xp.empty(total, dtype=dtype) for _ in range(self._n_tmp))
        views = {id(buf): split(buf) for buf in slots + tmp}
        for i, e in enumerate(entries):
            e.slots = tuple(views[id(buf)][i] for buf in slots)
            e.tmp = tuple(views[id(buf)][i] for buf in tmp)
        members = set(key)
        for other in [k for k in self._layouts if members.intersection(k)]:
            del self._layouts[other]  # its other members keep their (still valid) views
        return _Layout(xp, entries, [e.data for e in entries], slots, tmp, xp.empty(total, dtype=dtype), views,
                       pos, rest)

    def exclude_from_weight_decay(self, var_list=None, var_names=None) -> None:
        """Leave these parameters (or those whose Keras name, ``kernel`` for ``dense/kernel``, one of the
        ``var_names`` regular expressions finds, as Keras's ``re.search``) undecayed."""
        self._exclude_ids = {id(v) for v in (var_list or ())}
        self._exclude_names = tuple(var_names or ())
        self._exclude_pattern = re.compile("|".join(sorted(set(self._exclude_names)))) if var_names else None
        for e in self._entries.values():
            e.decay = self._uses_weight_decay(e.param)

    def _uses_weight_decay(self, p) -> bool:
        if id(p) in self._exclude_ids:
            return False
        pattern = getattr(self, "_exclude_pattern", None)
        return pattern is None or pattern.search(_short_name(p)) is None

    # -- state for an exact resume -----------------------------------------------------------
    @property
    def built(self) -> bool:
        """Whether the optimizer has made its per-weight state (at its first step), as in Keras."""
        return self._built or bool(self._entries)

    @built.setter
    def built(self, value) -> None:
        self._built = bool(value)

    def variables_size(self) -> tuple[int, int]:
        """(number of values, bytes) of the optimizer's variables as Keras counts them in ``summary()``:
        the iteration counter (int32, as Keras 3 keeps it on its torch and JAX backends), a constant
        learning rate (float32), optimizer-wide values and every slot of every weight it has stepped."""
        count, nbytes = 1, 4
        if self._lr.__class__ is float:
            count, nbytes = count + 1, nbytes + 4
        n_global = len(self._global_state())
        count, nbytes = count + n_global, nbytes + 4 * n_global
        for e in self._entries.values():
            for s in e.slots:
                count += int(s.size)
                nbytes += int(s.size) * s.dtype.itemsize
        return count, nbytes

    def get_state(self, params) -> dict:
        """``{"iterations": ..., "param_{i}/{slot}": ...}`` as NumPy arrays, ``i`` the index in ``params``
        (plus ``learning_rate`` when it is a constant, and optimizer-wide state such as Nadam's)."""
        state = {"iterations": np.asarray(self._iterations, dtype=np.int64)}
        if self._lr.__class__ is float:
            state["learning_rate"] = np.asarray(self._lr, dtype=np.float64)
        for key, value in self._global_state().items():
            state[key] = np.asarray(value, dtype=np.float64)
        names = self._slot_names()
        for i, p in enumerate(params):
            e = self._entries.get(id(p))
            if e is None or e.param is not p:
                continue
            for n, s in zip(names, e.slots):
                state[f"param_{i}/{n}"] = _host(s).copy()
        for j, v in enumerate(self._variables):  # a build + update_step optimizer's own variables
            state[f"variable_{j}"] = _host(v.data).copy()
        for i, p in enumerate(params):  # use_ema: the moving averages
            pair = self._ema.get(id(p))
            if pair is not None and pair[0] is p:
                state[f"param_{i}/average"] = _host(pair[1].data).copy()
        return state

    def set_state(self, state: dict, params) -> None:
        """Restore what ``get_state(params)`` returned; everything is checked before anything changes."""
        cls = type(self).__name__
        params = list(params)
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{cls}.set_state: params[{i}] is a {type(p).__name__}, not a gradflow Tensor")
        names = self._slot_names()
        globals_ = set(self._global_state())
        variables: dict[int, np.ndarray] = {}
        if self._custom_update_step() and not self.built and any(k.startswith("variable_") for k in state):
            self.build(params)  # its variables exist only once built
        for key in ("iterations", *sorted(globals_)):
            if key not in state:
                raise ValueError(f"{cls}.set_state: the state has no {key!r} entry")
        scalars: dict[str, float] = {}
        per_param: dict[int, dict] = {}
        averages: dict[int, np.ndarray] = {}
        for key, value in state.items():
            arr = _as_numpy(value)
            if self.use_ema and key.startswith("param_") and key.endswith("/average") and key[6:-8].isdigit():
                i = int(key[6:-8])
                if i >= len(params) or arr.shape != tuple(params[i].shape):
                    raise ValueError(f"{cls}.set_state: {key!r} does not match the parameters given")
                averages[i] = arr
                continue
            if arr.dtype.kind not in "fiub":
                raise ValueError(f"{cls}.set_state: {key!r} must hold numbers, got dtype {arr.dtype}")
            if key in ("iterations", "learning_rate") or key in globals_:
                if arr.size != 1 or not np.isfinite(arr).all():
                    raise ValueError(f"{cls}.set_state: {key!r} must be one finite number, got {value!r}")
                scalars[key] = float(arr.reshape(()))
                continue
            if key.startswith("variable_") and key[9:].isdigit():
                j = int(key[9:])
                if j >= len(self._variables) or arr.shape != tuple(self._variables[j].shape):
                    raise ValueError(f"{cls}.set_state: {key!r} does not match the optimizer's variables")
                variables[j] = arr
                continue
            head, _, slot = key.partition("/")
            if not head.startswith("param_") or not head[6:].isdigit() or slot not in names:
                raise ValueError(f"{cls}.set_state: unknown state entry {key!r}; expected 'iterations', "
                                 f"'learning_rate', {sorted(globals_)} or 'param_<i>/<slot>' with slot in "
                                 f"{list(names)}")
            i = int(head[6:])
            if i >= len(params):
                raise ValueError(f"{cls}.set_state: {key!r} refers to parameter {i} but only {len(params)} were given")
            if arr.shape != tuple(params[i].shape):
                raise ValueError(f"{cls}.set_state: {key!r} has shape {arr.shape} but parameter {i} "
                                 f"({params[i].name!r}) has shape {tuple(params[i].shape)}")
            per_param.setdefault(i, {})[slot] = arr
        for i, slots in per_param.items():
            if len(slots) != len(names):
                raise ValueError(f"{cls}.set_state: parameter {i} has slots {sorted(slots)}, expected {list(names)}")
        iterations = scalars["iterations"]
        if iterations < 0 or iterations != int(iterations):
            raise ValueError(f"{cls}.set_state: 'iterations' must be an integer >= 0, got {iterations}")
        if scalars.get("learning_rate", 0.0) < 0:
            raise ValueError(f"{cls}.set_state: 'learning_rate' must be >= 0, got {scalars['learning_rate']}")
        sigint_deferred(self._restore, params, names, globals_, scalars, per_param, int(iterations))
        for j, arr in variables.items():
            self._variables[j].assign(arr)
        for i, arr in averages.items():
            avg = self._ema_averages([params[i]])[0]
            avg.data[...] = array_module(avg.data).asarray(arr, dtype=avg.data.dtype)

    def _restore(self, params, names, globals_, scalars, per_param, iterations) -> None:
        """The changes of ``set_state``, all checked before (run with Ctrl-C held back)."""
        self._layouts.clear()
        self._last_key = None
        self._iterations = iterations
        if "learning_rate" in scalars and self._lr.__class__ is float:
            self._lr = scalars["learning_rate"]
        self._set_global_state({k: scalars[k] for k in globals_})
        for i, p in enumerate(params):
            self._entries.pop(id(p), None)
            if i in per_param:
                e = self._entry(p)
                for n, s in zip(names, e.slots):
                    s[...] = e.xp.asarray(per_param[i][n], dtype=s.dtype)

    # -- config --------------------------------------------------------------------------------
    def get_config(self) -> dict:
        """The constructor arguments, JSON-able (a schedule becomes its ``serialize`` dict)."""
        lr = self._lr
        if isinstance(lr, LearningRateSchedule):
            lr = schedules.serialize(lr)
        elif lr.__class__ is not float:
            raise ValueError(f"{type(self).__name__}.get_config: a callable learning rate ({lr!r}) cannot be "
                             f"serialised; use a LearningRateSchedule subclass with get_config()")
        return {"name": self.name, "learning_rate": lr, "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm, "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
                "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
                "ema_overwrite_frequency": self.ema_overwrite_frequency, "loss_scale_factor": self.loss_scale_factor,
                "gradient_accumulation_steps": self.gradient_accumulation_steps}

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None):
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"], custom_objects)
        return cls(**config)

    def __repr__(self):
        lr = self._lr if self._lr.__class__ is float else type(self._lr).__name__
        return f"{type(self).__name__}(learning_rate={lr}, iterations={self._iterations})"


def _host(arr) -> np.ndarray:
    return arr if isinstance(arr, np.ndarray) else arr.get()


# -- device-side finite checks (no host read per step) -------------------------------------------
def all_finite(arrays):
    """A 0-d boolean array on the arrays' device: whether every one of ``arrays`` (a loss, the
    stateful weights...) is free of NaN and Inf. One reduction per array, no host read, so a GPU
    keeps queueing the step (gate it with ``Optimizer.step(params, apply_if=...)``)."""
    xp = array_module(arrays[0])
    ok = xp.isfinite(arrays[0]).all()
    for a in arrays[1:]:
        ok = xp.logical_and(ok, xp.isfinite(a).all())
    return ok


def rollback_unless(ok, arrays, saved) -> None:
    """Copy ``saved[i]`` back into ``arrays[i]`` where the 0-d device flag ``ok`` is False (on the
    device: the batch-norm statistics a rejected batch changed, say)."""
    if not arrays:
        return
    xp = array_module(arrays[0])
    bad = xp.logical_not(ok)
    for a, s in zip(arrays, saved):
        xp.copyto(a, s, where=bad)


class FiniteGate:
    """Gates a run of training steps on the device with the rollback semantics of a host check
    after every step: ``update(flag)`` returns the step's ``apply_if``, True while every step since
    the last ``check()`` was finite, so from the first non-finite step on nothing applies (the
    weights stay those after the last good step). ``check()`` reads one number back (call it every
    N steps, at the epoch's end, or when a loss value is needed anyway) and says which step failed.

    Trainer use, per step: ``ok = gate.update(all_finite([loss] + stateful))``;
    ``rollback_unless(ok, stateful, saved)``; ``optimizer.step(params, apply_if=ok)``; then
    ``bad = gate.check(optimizer)`` every N steps: None, or the index (since the previous check)
    of the first step that did not apply, with ``optimizer.iterations`` already corrected.
    """

    def __init__(self) -> None:
        self.steps = 0      # steps gated since the last check (host count)
        self._good = None   # 0-d int64 on the device: steps applied since the last check

    def update(self, flag):
        """``flag`` (0-d boolean device array) and'ed with "every earlier step since the last check
        applied"; the result is the ``apply_if`` of this step. No host read."""
        xp = array_module(flag)
        if self._good is None or array_module(self._good) is not xp:
            self._good = xp.zeros((), dtype=np.int64)
        ok = xp.logical_and(flag, self._good == self.steps)
        self._good += ok
        self.steps += 1
        return ok

    def check(self, optimizer=None) -> int | None:
        """One host read: None when every step since the last check applied, else the index of the
        first that did not (later ones did not apply either). With ``optimizer``, its
        ``iterations`` drop by the steps that did not apply. Starts a new run of steps."""
        steps, self.steps = self.steps, 0
        if self._good is None or steps == 0:
            return None
        good = int(_host(self._good))
        self._good[...] = 0
        if good == steps:
            return None
        if optimizer is not None:
            optimizer.iterations = optimizer.iterations - (steps - good)
        return good


def _as_numpy(value) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.data
    return value.get() if is_cupy_array(value) else np.asarray(value)


def _sq_norm(g):
    """Sum of squares of ``g``: a float on the CPU, a 0-d device array on the GPU (no host sync)."""
    flat = g.reshape(-1)
    s = array_module(g).dot(flat, flat)
    return float(s) if isinstance(g, np.ndarray) else s


def _scaled(g, sq_norm, clip, nan_if_not_finite=False):
    """``g * clip / max(norm, clip)`` (Keras ``clip_by_norm``); a new array, never ``g`` changed in place."""
    if isinstance(sq_norm, float):
        norm = math.sqrt(sq_norm)
        if norm <= clip:  # also False for NaN
            return g
        scale = clip / max(norm, clip)
        if nan_if_not_finite and not math.isfinite(norm):
            scale = math.nan
        return g * scale
    xp = array_module(sq_norm)
    norm = xp.sqrt(sq_norm)
    scale = clip / xp.maximum(norm, clip)
    if nan_if_not_finite:
        scale = scale + (norm - norm)
    return g * scale.astype(g.dtype)


# -- the optimizers -----------------------------------------------------------------------------

class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum (Keras defaults: ``learning_rate=0.01,
    momentum=0.0, nesterov=False``).

    ``m = momentum * m - lr * g; w += m``; with ``nesterov``: ``w += momentum * m - lr * g``;
    without momentum: ``w -= lr * g``.
    """

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.momentum = _real("SGD", "momentum", momentum, lo=0, hi=1)
        self.nesterov = _flag("SGD", "nesterov", nesterov)
        self._n_tmp = 2 if self.nesterov and self.momentum != 0 else 1

    def _slot_names(self):
        return ("momentum",) if self.momentum != 0 else ()

    def _coefficients(self, lr, t):
        return lr, self.momentum

    def _direction(self, xp, g, slots, tmp, c):
        lr, mu = c
        step = xp.multiply(g, lr, out=tmp[0])
        if not slots:
            return step, False
        m = slots[0]
        xp.multiply(m, mu, out=m)
        xp.subtract(m, step, out=m)
        if not self.nesterov:
            return m, True
        d = xp.multiply(m, mu, out=tmp[1])
        xp.subtract(d, step, out=d)
        return d, True

    def _run_kernel(self, k, out, g, slots, c, keep, decay, apply):
        lr, mu = c
        k.sgd_update(out, g, slots[0] if slots else g, lr, mu, keep, decay, bool(slots), self.nesterov, apply)
        return True

    def get_config(self):
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class Adam(Optimizer):
    """Adam (Keras defaults: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False``).

    ``m += (g - m)(1 - b1); v += (g² - v)(1 - b2); alpha = lr sqrt(1 - b2^t) / (1 - b1^t);
    w -= alpha m / (sqrt(v) + eps)`` (``v`` replaced by its running max with ``amsgrad``).
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _real(cls, "beta_1", beta_1, lo=0, hi=1, hi_open=True)
        self.beta_2 = _real(cls, "beta_2", beta_2, lo=0, hi=1, hi_open=True)
        self.epsilon = _real(cls, "epsilon", epsilon, lo=0)
        self.amsgrad = _flag(cls, "amsgrad", amsgrad)

    def _slot_names(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def _coefficients(self, lr, t):
        b1, b2 = self.beta_1, self.beta_2
        alpha = lr * math.sqrt(1.0 - b2 ** t) / (1.0 - b1 ** t)
        return 1.0 - b1, 1.0 - b2, alpha, self.epsilon

    def _direction(self, xp, g, slots, tmp, c):
        c1, c2, alpha, eps = c
        m, v = slots[0], slots[1]
        t = tmp[0]
        _lerp_(xp, m, g, c1, t)
        xp.square(g, out=t)
        _lerp_(xp, v, t, c2, t)
        if len(slots) == 3:
            v = xp.maximum(slots[2], v, out=slots[2])
        xp.sqrt(v, out=t)
        xp.add(t, eps, out=t)
        xp.divide(m, t, out=t)
        xp.multiply(t, alpha, out=t)
        return t, False

    def _run_kernel(self, k, out, g, slots, c, keep, decay, apply):
        c1, c2, alpha, eps = c
        amsgrad = len(slots) == 3
        k.adam_update(out, g, slots[0], slots[1], slots[2] if amsgrad else slots[1], c1, c2, alpha, eps, keep,
                      decay, amsgrad, apply)
        return False

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras defaults: ``learning_rate=0.001, weight_decay=0.004,
    beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False``): ``w -= w * weight_decay * lr`` first."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        if weight_decay is None:
            raise ValueError("AdamW: `weight_decay` must be a float, got None")
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, clipnorm, clipvalue,
                         global_clipnorm, name, **kwargs)


class RMSprop(Optimizer):
    """RMSprop (Keras defaults: ``learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False``).

    ``v = rho v + (1 - rho) g²``; ``d = lr g / sqrt(v + eps)`` (centered: ``sqrt(v - mg² + eps)`` with
    ``mg = rho mg + (1 - rho) g``); with momentum ``m = momentum m + d; w -= m``, else ``w -= d``.
    """

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        cls = type(self).__name__
        self.rho = _real(cls, "rho", rho, lo=0, hi=1, hi_open=True)
        self.momentum = _real(cls, "momentum", momentum, lo=0, hi=1)
        self.epsilon = _real(cls, "epsilon", epsilon, lo=0)
        self.centered = _flag(cls, "centered", centered)

    def _slot_names(self):
        names = ("velocity",)
        if self.momentum > 0:
            names += ("momentum",)
        if self.centered:
            names += ("average_gradient",)
        return names

    def _coefficients(self, lr, t):
        return lr, self.rho, 1.0 - self.rho, self.epsilon, self.momentum

    def _direction(self, xp, g, slots, tmp, c):
        lr, rho, one_m_rho, eps, mu = c
        v, t = slots[0], tmp[0]
        xp.multiply(v, rho, out=v)
        xp.square(g, out=t)
        xp.multiply(t, one_m_rho, out=t)
        xp.add(v, t, out=v)
        if self.centered:
            mg = slots[-1]
            xp.multiply(mg, rho, out=mg)
            xp.multiply(g, one_m_rho, out=t)
            xp.add(mg, t, out=mg)
            xp.square(mg, out=t)
            xp.subtract(v, t, out=t)
            xp.add(t, eps, out=t)
        else:
            xp.add(v, eps, out=t)
        xp.sqrt(t, out=t)
        xp.divide(g, t, out=t)
        xp.multiply(t, lr, out=t)
        if mu > 0:
            m = slots[1]
            xp.multiply(m, mu, out=m)
            xp.add(m, t, out=m)
            return m, False
        return t, False

    def _run_kernel(self, k, out, g, slots, c, keep, decay, apply):
        lr, rho, one_m_rho, eps, mu = c
        v = slots[0]
        k.rmsprop_update(out, g, v, slots[1] if mu > 0 else v, slots[-1] if self.centered else v, lr, rho,
                         one_m_rho, eps, mu, keep, decay, mu > 0, self.centered, apply)
        return False

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon,
                "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (Keras defaults: ``learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7``).

    ``acc += g²; w -= lr g / sqrt(acc + eps)``.
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        cls = type(self).__name__
        self.initial_accumulator_value = _real(cls, "initial_accumulator_value", initial_accumulator_value, lo=0)
        self.epsilon = _real(cls, "epsilon", epsilon, lo=0)

    def _slot_names(self):
        return ("accumulator",)

    def _slot_initial_value(self, slot):
        return self.initial_accumulator_value

    def _coefficients(self, lr, t):
        return lr, self.epsilon

    def _direction(self, xp, g, slots, tmp, c):
        lr, eps = c
        acc, t = slots[0], tmp[0]
        xp.square(g, out=t)
        xp.add(acc, t, out=acc)
        xp.add(acc, eps, out=t)
        xp.sqrt(t, out=t)
        xp.divide(g, t, out=t)
        xp.multiply(t, lr, out=t)
        return t, False

    def _run_kernel(self, k, out, g, slots, c, keep, decay, apply):
        lr, eps = c
        k.adagrad_update(out, g, slots[0], lr, eps, keep, decay, apply)
        return False

    def get_config(self):
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta (Keras defaults: ``learning_rate=0.001, rho=0.95, epsilon=1e-7``).

    ``ag = rho ag + (1 - rho) g²; d = sqrt(ad + eps) g / sqrt(ag + eps); ad = rho ad + (1 - rho) d²;
    w -= lr d``.
    """

    _n_tmp = 2

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        cls = type(self).__name__
        self.rho = _real(cls, "rho", rho, lo=0, hi=1, hi_open=True)
        self.epsilon = _real(cls, "epsilon", epsilon, lo=0)

    def _slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def _coefficients(self, lr, t):
        return lr, self.rho, 1.0 - self.rho, self.epsilon

    def _direction(self, xp, g, slots, tmp, c):
        lr, rho, one_m_rho, eps = c
        ag, ad = slots
        d, t2 = tmp
        xp.multiply(ag, rho, out=ag)
        xp.square(g, out=t2)
        xp.multiply(t2, one_m_rho, out=t2)
        xp.add(ag, t2, out=ag)
        xp.add(ad, eps, out=d)
        xp.sqrt(d, out=d)
        xp.multiply(d, g, out=d)
        xp.add(ag, eps, out=t2)
        xp.sqrt(t2, out=t2)
        xp.divide(d, t2, out=d)
        xp.multiply(ad, rho, out=ad)
        xp.square(d, out=t2)
        xp.multiply(t2, one_m_rho, out=t2)
        xp.add(ad, t2, out=ad)
        xp.multiply(d, lr, out=d)
        return d, False

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adamax(Optimizer):
    """Adamax (Keras defaults: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``).

    ``m += (g - m)(1 - b1); u = max(b2 u, |g|); w -= lr m / ((1 - b1^t)(u + eps))``.
    """

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _real(cls, "beta_1", beta_1, lo=0, hi=1, hi_open=True)
        self.beta_2 = _real(cls, "beta_2", beta_2, lo=0, hi=1, hi_open=True)
        self.epsilon = _real(cls, "epsilon", epsilon, lo=0)

    def _slot_names(self):
        return ("momentum", "norm")

    def _coefficients(self, lr, t):
        return 1.0 - self.beta_1, self.beta_2, lr / (1.0 - self.beta_1 ** t), self.epsilon

    def _direction(self, xp, g, slots, tmp, c):
        c1, b2, step, eps = c
        m, u = slots
        t = tmp[0]
        _lerp_(xp, m, g, c1, t)
        xp.multiply(u, b2, out=u)
        xp.abs(g, out=t)
        xp.maximum(u, t, out=u)
        xp.add(u, eps, out=t)
        xp.divide(m, t, out=t)
        xp.multiply(t, step, out=t)
        return t, False

    def _run_kernel(self, k, out, g, slots, c, keep, decay, apply):
        c1, b2, step, eps = c
        k.adamax_update(out, g, slots[0], slots[1], c1, b2, step, eps, keep, decay, apply)
        return False

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam, Adam with Nesterov momentum (Keras defaults: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999,
    epsilon=1e-7``), with Keras' momentum-cache schedule ``u_t = b1 (1 - 0.5 * 0.96^t)``:

    ``prod *= u_t`` (once per step); ``m += (g - m)(1 - b1); v += (g² - v)(1 - b2);
    m_hat = u_{t+1} m / (1 - prod u_{t+1}) + (1 - u_t) g / (1 - prod); v_hat = v / (1 - b2^t);
    w -= lr m_hat / (sqrt(v_hat) + eps)``.
    """

    _n_tmp = 2

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        cls = type(self).__name__
        self.beta_1 = _real(cls, "beta_1", beta_1, lo=0, hi=1, hi_open=True)
        self.beta_2 = _real(cls, "beta_2", beta_2, lo=0, hi=1, hi_open=True)
        self.epsilon = _real(cls, "epsilon", epsilon, lo=0)
        self._u_product = 1.0

    def _slot_names(self):
        return ("momentum", "velocity")

    def _begin_step(self):
        self._u_product *= self.beta_1 * (1.0 - 0.5 * 0.96 ** (self._iterations + 1))

    def _global_state(self):
        return {"u_product": self._u_product}

    def _set_global_state(self, state):
        self._u_product = state.get("u_product", 1.0)

    def _coefficients(self, lr, t):
        b1, b2 = self.beta_1, self.beta_2
        u_t = b1 * (1.0 - 0.5 * 0.96 ** t)
        u_t1 = b1 * (1.0 - 0.5 * 0.96 ** (t + 1))
        prod = self._u_product
        a = u_t1 / (1.0 - prod * u_t1)          # weight of m in m_hat
        b = (1.0 - u_t) / (1.0 - prod)          # weight of g in m_hat (> 0)
        return 1.0 - b1, 1.0 - b2, 1.0 / (1.0 - b2 ** t), a / b, b * lr, self.epsilon

    def _direction(self, xp, g, slots, tmp, c):
        c1, c2, v_scale, a_over_b, b_lr, eps = c
        m, v = slots
        num, den = tmp
        _lerp_(xp, m, g, c1, den)
        xp.square(g, out=den)
        _lerp_(xp, v, den, c2, den)
        xp.multiply(v, v_scale, out=den)
        xp.sqrt(den, out=den)
        xp.add(den, eps, out=den)
        xp.multiply(m, a_over_b, out=num)       # (a m + b g) = b (m a/b + g)
        xp.add(num, g, out=num)
        xp.multiply(num, b_lr, out=num)
        xp.divide(num, den, out=num)
        return num, False

    def _run_kernel(self, k, out, g, slots, c, keep, decay, apply):
        c1, c2, v_scale, a_over_b, b_lr, eps = c
        k.nadam_update(out, g, slots[0], slots[1], c1, c2, v_scale, a_over_b, b_lr, eps, keep, decay, apply)
        return False

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


# -- optimizers written as Keras's build + update_step (per tensor) -------------------------------

class _KerasStyle(Optimizer):
    """Base of the optimizers below: Keras's ``build``/``update_step`` on the raw arrays of each tensor."""

    def _scalar_lr(self, learning_rate) -> float:
        return float(learning_rate.data) if isinstance(learning_rate, Tensor) else float(learning_rate)


class Lion(_KerasStyle):
    """Lion (Keras defaults: ``learning_rate=0.001, beta_1=0.9, beta_2=0.99``):
    ``w -= lr * sign(b1 m + (1 - b1) g); m = b2 m + (1 - b2) g``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        if not isinstance(beta_1, numbers.Real) or beta_1 <= 0 or beta_1 > 1:
            raise ValueError("Argument `beta_1` must be in the [0, 1] range. Otherwise, the optimizer degenerates "
                             f"to SignSGD. Received: beta_1={beta_1}.")
        self.beta_1 = _real("Lion", "beta_1", beta_1)
        self.beta_2 = _real("Lion", "beta_2", beta_2)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums = self.add_optimizer_variables(self._trainable_variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        lr, g, w = self._scalar_lr(learning_rate), gradient.data, variable.data
        xp = array_module(w)
        m = self._momentums[self._get_variable_index(variable)].data
        b1, b2 = self.beta_1, self.beta_2
        w -= (lr * xp.sign(m * b1 + g * (1.0 - b1))).astype(w.dtype, copy=False)
        m[...] = m * b2 + g * (1.0 - b2)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Lamb(_KerasStyle):
    """LAMB (Keras defaults: ``learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7``): Adam's
    bias-corrected step ``u = m_hat / (sqrt(v_hat) + eps)`` scaled per tensor by ``||w|| / ||u||``."""

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None,
                 clipnorm=None, clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = _real("Lamb", "beta_1", beta_1)
        self.beta_2 = _real("Lamb", "beta_2", beta_2)
        self.epsilon = _real("Lamb", "epsilon", epsilon)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(self._trainable_variables,
                                                                         ["momentum", "velocity"])

    def update_step(self, gradient, variable, learning_rate):
        lr, g, w = self._scalar_lr(learning_rate), gradient.data, variable.data
        xp = array_module(w)
        i = self._get_variable_index(variable)
        m, v = self._momentums[i].data, self._velocities[i].data
        t = self._iterations + 1
        m += (g - m) * (1.0 - self.beta_1)
        v += (g * g - v) * (1.0 - self.beta_2)
        update = (m / (1.0 - self.beta_1 ** t)) / (xp.sqrt(v / (1.0 - self.beta_2 ** t)) + self.epsilon)
        w_norm = float(xp.sqrt(xp.sum(w.astype(np.float64) ** 2)))
        g_norm = float(xp.sqrt(xp.sum(update.astype(np.float64) ** 2)))
        ratio = w_norm / g_norm if w_norm > 0 and g_norm > 0 else 1.0
        w -= (update * (ratio * lr)).astype(w.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Ftrl(_KerasStyle):
    """FTRL-proximal (Keras defaults: ``learning_rate=0.001, learning_rate_power=-0.5,
    initial_accumulator_value=0.1``, no regularisation, ``beta=0.0``), Keras's update rule."""

    def __init__(self, learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
                 l1_regularization_strength=0.0, l2_regularization_strength=0.0,
                 l2_shrinkage_regularization_strength=0.0, beta=0.0, weight_decay=None, clipnorm=None,
                 clipvalue=None, global_clipnorm=None, name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        checks = (("initial_accumulator_value", initial_accumulator_value, "positive or zero"),
                  ("l1_regularization_strength", l1_regularization_strength, "positive or zero"),
                  ("l2_regularization_strength", l2_regularization_strength, "positive or zero"),
                  ("l2_shrinkage_regularization_strength", l2_shrinkage_regularization_strength, "positive or zero"))
        for arg, value, what in checks:
            if _real("Ftrl", arg, value) < 0.0:
                raise ValueError(f"`{arg}` needs to be {what}. Received: {arg}={value}.")
        if _real("Ftrl", "learning_rate_power", learning_rate_power) > 0.0:
            raise ValueError("`learning_rate_power` needs to be negative or zero. Received: "
                             f"learning_rate_power={learning_rate_power}.")
        self.learning_rate_power = float(learning_rate_power)
        self.initial_accumulator_value = float(initial_accumulator_value)
        self.l1_regularization_strength = float(l1_regularization_strength)
        self.l2_regularization_strength = float(l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = float(l2_shrinkage_regularization_strength)
        self.beta = _real("Ftrl", "beta", beta)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._accumulators, self._linears = self.add_optimizer_variables(
            self._trainable_variables, ["accumulator", "linear"],
            initializer=[initializers.Constant(self.initial_accumulator_value), "zeros"])

    def update_step(self, gradient, variable, learning_rate):
        lr, g, w = self._scalar_lr(learning_rate), gradient.data, variable.data
        i = self._get_variable_index(variable)
        accum, linear = self._accumulators[i].data, self._linears[i].data
        p = self.learning_rate_power
        l2 = self.l2_regularization_strength + self.beta / (2.0 * lr)
        grad_to_use = g + 2.0 * self.l2_shrinkage_regularization_strength * w
        new_accum = accum + g * g
        linear += grad_to_use - (new_accum ** -p - accum ** -p) / lr * w
        quadratic = new_accum ** -p / lr + 2.0 * l2
        l1 = self.l1_regularization_strength
        clipped = array_module(w).clip(linear, -l1, l1)
        w[...] = (clipped - linear) / quadratic
        accum[...] = new_accum

    def get_config(self):
        return {**super().get_config(), "learning_rate_power": self.learning_rate_power,
                "initial_accumulator_value": self.initial_accumulator_value,
                "l1_regularization_strength": self.l1_regularization_strength,
                "l2_regularization_strength": self.l2_regularization_strength,
                "l2_shrinkage_regularization_strength": self.l2_shrinkage_regularization_strength,
                "beta": self.beta}


class Adafactor(_KerasStyle):
    """Adafactor (Keras defaults: ``learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30,
    epsilon_2=1e-3, clip_threshold=1.0, relative_step=True``): second moments factored over the last
    two axes of weights of rank >= 2, Keras's update rule."""

    def __init__(self, learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
                 relative_step=True, weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_2_decay = _real("Adafactor", "beta_2_decay", beta_2_decay)
        self.epsilon_1 = _real("Adafactor", "epsilon_1", epsilon_1)
        self.epsilon_2 = _real("Adafactor", "epsilon_2", epsilon_2)
        self.clip_threshold = _real("Adafactor", "clip_threshold", clip_threshold)
        self.relative_step = _flag("Adafactor", "relative_step", relative_step)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._r, self._c, self._v = [], [], []
        for var in self._trainable_variables:
            shape = tuple(var.shape)
            if len(shape) < 2:
                self._r.append(self.add_variable((), dtype=var.data.dtype, name=_short_name(var)))
                self._c.append(self.add_variable((), dtype=var.data.dtype, name=_short_name(var)))
            else:
                self._r.append(self.add_variable(shape[:-1], dtype=var.data.dtype, name=_short_name(var)))
                self._c.append(self.add_variable(shape[:-2] + shape[-1:], dtype=var.data.dtype, name=_short_name(var)))
            self._v.append(self.add_variable_from_reference(var, "velocity"))

    def update_step(self, gradient, variable, learning_rate):
        lr, g, w = self._scalar_lr(learning_rate), gradient.data, variable.data
        xp = array_module(w)
        t = float(self._iterations + 1)
        if self._lr.__class__ is float and self.relative_step:
            lr = min(lr, 1.0 / math.sqrt(t))
        i = self._get_variable_index(variable)
        r, c, v = self._r[i].data, self._c[i].data, self._v[i].data
        rho_t = min(lr, 1.0 / math.sqrt(t))
        alpha_t = max(self.epsilon_2, float(xp.sqrt(xp.mean(w * w)))) * rho_t
        sq = g * g + self.epsilon_1
        beta_2_t = 1.0 - t ** self.beta_2_decay
        if w.ndim >= 2:
            r[...] = beta_2_t * r + (1.0 - beta_2_t) * sq.mean(axis=-1)
            c[...] = beta_2_t * c + (1.0 - beta_2_t) * sq.mean(axis=-2)
            v[...] = xp.expand_dims(r / r.mean(axis=-1, keepdims=True), -1) * xp.expand_dims(c, -2)
        else:
            v[...] = beta_2_t * v + (1.0 - beta_2_t) * sq
        u = g / xp.sqrt(v)
        u_hat = u / max(1.0, float(xp.sqrt(xp.mean(u * u))) / self.clip_threshold)
        w -= (alpha_t * u_hat).astype(w.dtype, copy=False)

    def get_config(self):
        return {**super().get_config(), "beta_2_decay": self.beta_2_decay, "epsilon_1": self.epsilon_1,
                "epsilon_2": self.epsilon_2, "clip_threshold": self.clip_threshold,
                "relative_step": self.relative_step}


class Muon(_KerasStyle):
    """Muon (Keras defaults): 2-D weights follow momentum orthogonalised by ``ns_steps`` Newton-Schulz
    iterations (``muon_a/b/c``), scaled by ``sqrt(max(n, m)) * rms_rate``; other weights (and embeddings
    and ``exclude_layers`` matches, by name) follow AdamW with ``adam_beta_1/2``, ``adam_lr_ratio`` and
    ``adam_weight_decay``."""

    def __init__(self, learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004,
                 epsilon=1e-7, weight_decay=0.004, clipnorm=None, clipvalue=None, global_clipnorm=None, name=None,
                 exclude_layers=None, exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750, muon_c=2.0315,
                 adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.adam_beta_1 = _real("Muon", "adam_beta_1", adam_beta_1)
        self.adam_beta_2 = _real("Muon", "adam_beta_2", adam_beta_2)
        self.epsilon = _real("Muon", "epsilon", epsilon)
        self.muon_a, self.muon_b, self.muon_c = float(muon_a), float(muon_b), float(muon_c)
        self.adam_lr_ratio = adam_lr_ratio
        self.momentum = _real("Muon", "momentum", momentum)
        self.ns_steps = int(ns_steps)
        self.nesterov = _flag("Muon", "nesterov", nesterov)
        self.exclude_embeddings = _flag("Muon", "exclude_embeddings", exclude_embeddings)
        self.exclude_layers = list(exclude_layers or [])
        self.adam_weight_decay = _real("Muon", "adam_weight_decay", adam_weight_decay, allow_none=True)
        self.rms_rate = _real("Muon", "rms_rate", rms_rate, allow_none=True)

    def _should_use_adamw(self, variable) -> bool:
        if len(variable.shape) != 2:
            return True
        path = getattr(variable, "name", None) or ""
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(keyword, path) for keyword in self.exclude_layers)

    def _weight_decay_for(self, variable):
        return self.adam_weight_decay if self._should_use_adamw(variable) else self.weight_decay

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self.momentums = [self.add_variable_from_reference(v, "momentum") for v in self._trainable_variables]
        self.adam_velocities = [self.add_variable_from_reference(v, "velocity") if self._should_use_adamw(v)
                                else None for v in self._trainable_variables]

    def update_step(self, gradient, variable, learning_rate):
        lr, g, w = self._scalar_lr(learning_rate), gradient.data, variable.data
        i = self._get_variable_index(variable)
        m, v = self.momentums[i].data, self.adam_velocities[i]
        if v is not None:
            lr *= self.adam_lr_ratio
            t = self._iterations + 1
            alpha = lr * math.sqrt(1.0 - self.adam_beta_2 ** t) / (1.0 - self.adam_beta_1 ** t)
            m += (g - m) * (1.0 - self.adam_beta_1)
            v.data[...] += (g * g - v.data) * (1.0 - self.adam_beta_2)
            w -= ((m * alpha) / (array_module(w).sqrt(v.data) + self.epsilon)).astype(w.dtype, copy=False)
            return
        m += g + m * (self.momentum - 1.0)
        update = self._newton_schulz(g + self.momentum * m if self.nesterov else m)
        step = lr * update
        if self.rms_rate is not None:
            step = step * (math.sqrt(max(step.shape[0], step.shape[1])) * self.rms_rate)
        w -= step.astype(w.dtype, copy=False)

    def _newton_schulz(self, x):
        """Keras's quintic Newton-Schulz iteration towards the orthogonal factor of ``x`` (2-D)."""
        xp = array_module(x)
        a, b, c = self.muon_a, self.muon_b, self.muon_c
        tall = x.shape[-2] > x.shape[-1]
        if tall:
            x = xp.swapaxes(x, -1, -2)
        x = x / (xp.sqrt(xp.sum(x * x, axis=(-2, -1), keepdims=True)) + 1e-7)
        for _ in range(self.ns_steps):
            gram = x @ xp.swapaxes(x, -1, -2)
            x = a * x + (b * gram + c * gram @ gram) @ x
        return xp.swapaxes(x, -1, -2) if tall else x

    def get_config(self):
        return {**super().get_config(), "adam_beta_1": self.adam_beta_1, "adam_beta_2": self.adam_beta_2,
                "epsilon": self.epsilon, "exclude_layers": self.exclude_layers, "muon_a": self.muon_a,
                "muon_b": self.muon_b, "muon_c": self.muon_c, "adam_lr_ratio": self.adam_lr_ratio,
                "momentum": self.momentum, "ns_steps": self.ns_steps, "nesterov": self.nesterov,
                "exclude_embeddings": self.exclude_embeddings, "adam_weight_decay": self.adam_weight_decay,
                "rms_rate": self.rms_rate}


class ScheduleFreeAdamW(_KerasStyle):
    """Schedule-free AdamW (Keras defaults: ``learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8,
    warmup_steps=0``): the weights are the interpolation ``y`` between the averaged iterate ``x`` and the
    base sequence ``z`` (the ``momentum`` slot), which takes Adam-normalised gradient steps."""

    def __init__(self, learning_rate=0.0025, beta_1=0.9, beta_2=0.999, epsilon=1e-8, warmup_steps=0,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 name=None, **kwargs):
        super().__init__(learning_rate, weight_decay, clipnorm, clipvalue, global_clipnorm, name, **kwargs)
        self.beta_1 = _real("ScheduleFreeAdamW", "beta_1", beta_1)
        self.beta_2 = _real("ScheduleFreeAdamW", "beta_2", beta_2)
        self.epsilon = _real("ScheduleFreeAdamW", "epsilon", epsilon)
        self.warmup_steps = warmup_steps

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._momentums, self._velocities = self.add_optimizer_variables(self._trainable_variables,
                                                                         ["momentum", "velocity"])
        for z, var in zip(self._momentums, self._trainable_variables):
            z.data[...] = var.data

    def update_step(self, gradient, variable, learning_rate):
        lr, g, w = self._scalar_lr(learning_rate), gradient.data, variable.data
        xp = array_module(w)
        t = float(self._iterations + 1)
        if self.warmup_steps > 0:
            lr *= min(t / self.warmup_steps, 1.0)
        i = self._get_variable_index(variable)
        z, v = self._momentums[i].data, self._velocities[i].data
        z_old = z.copy()
        v += (g * g - v) * (1.0 - self.beta_2)
        denom = xp.sqrt(v / (1.0 - self.beta_2 ** t)) + self.epsilon
        z -= (lr * g / denom).astype(w.dtype, copy=False)
        b1, weight = self.beta_1, 1.0 / t
        x_old = (w - (1.0 - b1) * z_old) / b1
        x_new = (1.0 - weight) * x_old + weight * z
        w[...] = (1.0 - b1) * z + b1 * x_new

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "warmup_steps": self.warmup_steps}


# -- dynamic loss scaling (mixed_float16) ------------------------------------------------------
class LossScaleOptimizer(Optimizer):
    """Keras's dynamic loss scaling around ``inner_optimizer``: the trainer multiplies the loss by
    ``dynamic_scale`` (``scale_loss``) before the backward pass so float16 gradients do not underflow;
    ``apply``/``step`` divide the gradients by it again. A step whose gradients are not all finite is
    skipped and the scale halves; after ``dynamic_growth_steps`` finite steps in a row it doubles."""

    _DEFAULTS = {"weight_decay": None, "clipnorm": None, "global_clipnorm": None, "clipvalue": None,
                 "use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                 "gradient_accumulation_steps": None}

    def __init__(self, inner_optimizer, initial_scale=2.0 ** 15, dynamic_growth_steps=2000, name=None, **kwargs):
        if not kwargs.pop("dynamic", True):
            raise ValueError("LossScaleOptimizer no longer supports `dynamic=False`. Instead, simply set "
                             "`loss_scale_factor` directly on the `inner_optimizer`.")
        for arg in [a for a in kwargs if a in self._DEFAULTS]:
            if kwargs.pop(arg) != self._DEFAULTS[arg]:
                raise ValueError(f"LossScaleOptimizer does not support `{arg}`. Instead, set `{arg}` on the "
                                 "`inner_optimizer`.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: `{'`, `'.join(kwargs)}`.")
        super().__init__(learning_rate=0.0, name=name)
        self.inner_optimizer = get(inner_optimizer)
        self.initial_scale = float(initial_scale)
        self.dynamic_growth_steps = int(dynamic_growth_steps)
        self.dynamic_scale = self.initial_scale
        self.step_counter = 0

    @property  # type: ignore[override]
    def learning_rate(self) -> float:
        inner = self.__dict__.get("inner_optimizer")
        return inner.learning_rate if inner is not None else self._current_lr()

    @learning_rate.setter
    def learning_rate(self, value):
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:
            inner.learning_rate = value
        else:
            Optimizer.learning_rate.fset(self, value)  # type: ignore[attr-defined]

    @property  # type: ignore[override]
    def iterations(self) -> int:
        inner = self.__dict__.get("inner_optimizer")
        return inner.iterations if inner is not None else self._iterations

    @iterations.setter
    def iterations(self, value):
        inner = self.__dict__.get("inner_optimizer")
        if inner is not None:
            inner.iterations = value
        else:
            Optimizer.iterations.fset(self, value)  # type: ignore[attr-defined]

    @property
    def variables(self) -> list:
        return list(self.inner_optimizer.variables)

    def scale_loss(self, loss):
        """``loss * dynamic_scale`` (what the backward pass starts from)."""
        return loss * self.dynamic_scale

    def build(self, var_list) -> None:
        self.inner_optimizer.build(var_list)
        self._built = True

    def _finite(self, grads) -> bool:
        total = 0.0
        with np.errstate(all="ignore"):
            for g in grads:
                data = g.data if isinstance(g, Tensor) else g
                total = total + float(data.sum())
        return math.isfinite(total)

    def _advance(self, finite: bool) -> None:
        if not finite:
            self.step_counter = 0
            self.dynamic_scale *= 0.5
        elif self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter = 0
            self.dynamic_scale *= 2.0
        else:
            self.step_counter += 1

    def apply_gradients(self, grads_and_vars) -> int:
        pairs = list(grads_and_vars)
        finite = self._finite([g for g, _ in pairs if g is not None])
        if finite:
            inv = 1.0 / self.dynamic_scale
            self.inner_optimizer.apply_gradients([(None if g is None else g * inv, v) for g, v in pairs])
        self._advance(finite)
        return self.iterations

    def step(self, params, apply_if=None) -> None:
        params = list(params)
        grads = [p.grad for p in params if p.grad is not None]
        finite = self._finite(grads)
        if finite:
            inv = 1.0 / self.dynamic_scale
            for p in params:
                if p.grad is not None:
                    p.grad = p.grad * inv
            self.inner_optimizer.step(params, apply_if)
        self._advance(finite)

    def finalize_variable_values(self, var_list) -> None:
        """The inner optimizer's (its use_ema averages), as Keras's."""
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self) -> dict:
        return {"name": self.name, "inner_optimizer": serialize_keras_object(self.inner_optimizer),
                "initial_scale": self.initial_scale, "dynamic_growth_steps": self.dynamic_growth_steps}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        inner = config.pop("inner_optimizer")
        if isinstance(inner, dict):
            inner = deserialize(inner, custom_objects)
        return cls(inner, **config)


# -- one optimizer per group of variables ------------------------------------------------------
def _var_path(variable) -> str:
    return getattr(variable, "path", None) or getattr(variable, "name", None) or ""


class OptimizerMap(MutableMapping):
    """Keras's map from variable paths to optimizers: ``map[path]`` is the optimizer whose key equals
    ``path``, else the one whose key (a regular expression) ``re.fullmatch``-es it, else
    ``default_optimizer``; calling the map with a variable looks its ``path`` up."""

    def __init__(self, default_optimizer, optimizer_map=None):
        if not isinstance(default_optimizer, Optimizer):
            raise TypeError(f"default_optimizer must be a Keras Optimizer instance. Received: {default_optimizer}")
        if optimizer_map is not None and not isinstance(optimizer_map, dict):
            raise TypeError(f"optimizer_map must be a dictionary. Received: {optimizer_map}")
        self._default_optimizer = default_optimizer
        self._optimizer_map = optimizer_map or {}

    @property
    def default_optimizer(self):
        return self._default_optimizer

    def __getitem__(self, key):
        if key in self._optimizer_map:
            return self._optimizer_map[key]
        matching = [pattern for pattern in self._optimizer_map if re.fullmatch(pattern, key)]
        if len(matching) > 1:
            raise ValueError(f"Multiple optimizers assigned to variable {key}.")
        return self._optimizer_map[matching[0]] if matching else self._default_optimizer

    def __setitem__(self, key, optimizer):
        if key in self._optimizer_map:
            raise ValueError(f"'{key}' already exists in the OptimizerMap with value {self._optimizer_map[key]}. "
                             "Please make sure to not use duplicated keys.")
        if not isinstance(key, str):
            raise ValueError(f"key must be a string. Received: {key}")
        if not isinstance(optimizer, Optimizer):
            raise ValueError(f"optimizer must be a Keras Optimizer instance. Received: {optimizer}")
        if isinstance(optimizer, LossScaleOptimizer):
            raise ValueError("optimizer cannot be LossScaleOptimizer.")
        if isinstance(optimizer, MultiOptimizer):
            raise ValueError("optimizer cannot be MultiOptimizer.")
        self._optimizer_map[key] = optimizer

    def __delitem__(self, key):
        del self._optimizer_map[key]

    def __len__(self):
        return len(self._optimizer_map)

    def __iter__(self):
        return iter(self._optimizer_map)

    def __call__(self, variable):
        return self[_var_path(variable)]

    def get_config(self) -> dict:
        return {"default_optimizer": serialize_keras_object(self._default_optimizer),
                "optimizer_map": serialize_keras_object(self._optimizer_map)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        return cls(deserialize_keras_object(config["default_optimizer"], custom_objects),
                   deserialize_keras_object(config["optimizer_map"], custom_objects))


class MultiOptimizer(Optimizer):
    """Keras's wrapper that steps each variable with the optimizer ``optimizer_map(variable)`` gives (an
    ``OptimizerMap`` or any callable). It has no learning rate of its own (reading or setting it raises);
    ``optimizers`` lists the inner ones, ``iterations`` counts the steps of the whole."""

    def __init__(self, optimizer_map, loss_scale_factor=None, name=None):
        super().__init__(learning_rate=0.0, loss_scale_factor=loss_scale_factor, name=name)
        self._optimizer_map = optimizer_map
        inner: list[Optimizer] = []
        for opt in [*getattr(optimizer_map, "values", list)(), getattr(optimizer_map, "default_optimizer", None)]:
            if opt is not None and not any(opt is o for o in inner):
                inner.append(opt)
        self._inner_optimizers = inner
        self._var_to_optimizer_idx: dict[int, int] = {}

    @property  # type: ignore[override]
    def learning_rate(self):
        raise AttributeError("Learning rate cannot be accessed on a MultiOptimizer. Access the learning rate on "
                             "the individual sub-optimizers instead.")

    @learning_rate.setter
    def learning_rate(self, value):
        if "_inner_optimizers" in self.__dict__:
            raise AttributeError("Learning rate cannot be set on a MultiOptimizer. Set the learning rate on the "
                                 "individual sub-optimizers instead.")
        Optimizer.learning_rate.fset(self, value)  # type: ignore[attr-defined]

    @property
    def optimizers(self) -> list:
        return self._inner_optimizers

    @property
    def variables(self) -> list:
        out = list(self._variables)
        for opt in self._inner_optimizers:
            out.extend(opt.variables)
        return out

    def _index_of(self, var) -> int:
        idx = self._var_to_optimizer_idx.get(id(var))
        if idx is not None:
            return idx
        opt = self._optimizer_map(var)
        if not isinstance(opt, Optimizer):
            raise ValueError(f"Optimizer for variable {var} is not an Optimizer instance.")
        if isinstance(opt, LossScaleOptimizer):
            raise ValueError("LossScaleOptimizer cannot be used inside an MultiOptimizer.")
        if isinstance(opt, MultiOptimizer):
            raise ValueError("MultiOptimizer cannot be used inside an MultiOptimizer.")
        found = [i for i, o in enumerate(self._inner_optimizers) if o is opt]
        if not found:
            self._inner_optimizers.append(opt)
        idx = found[0] if found else len(self._inner_optimizers) - 1
        self._var_to_optimizer_idx[id(var)] = idx
        return idx

    def _groups(self, items, var_of):
        groups: list[list] = [[] for _ in self._inner_optimizers]
        for item in items:
            idx = self._index_of(var_of(item))
            groups.extend([] for _ in range(len(self._inner_optimizers) - len(groups)))
            groups[idx].append(item)
        return groups

    def build(self, var_list) -> None:
        if self.built:
            return
        var_list = [p for p in var_list if getattr(p, "trainable", True)]
        for opt, variables in zip(self._inner_optimizers, self._groups(var_list, lambda v: v)):
            if variables:
                opt.build(variables)
        self._trainable_variables = list(var_list)
        self._trainable_variables_indices = {id(p): i for i, p in enumerate(var_list)}
        self._built = True

    def apply_gradients(self, grads_and_vars) -> int:
        pairs = [(g, v) for g, v in grads_and_vars]
        if not pairs:
            return self._iterations
        if not self.built:
            self.build([v for _, v in pairs])
        for opt, sub in zip(self._inner_optimizers, self._groups(pairs, lambda pair: pair[1])):
            if sub:
                opt.apply_gradients(sub)
        self._iterations += 1
        return self._iterations

    def step(self, params, apply_if=None) -> None:
        params = [p for p in params if p.grad is not None and getattr(p, "trainable", True)]
        if not params:
            return
        if not self.built:
            self.build(params)
        for opt, sub in zip(self._inner_optimizers, self._groups(params, lambda p: p)):
            if sub:
                opt.step(sub, apply_if)
        self._iterations += 1

    def finalize_variable_values(self, var_list) -> None:
        """Each inner optimizer finalizes its own variables (their use_ema averages), as Keras's."""
        for opt, variables in zip(self._inner_optimizers, self._groups(list(var_list), lambda v: v)):
            if variables:
                opt.finalize_variable_values(variables)

    def get_state(self, params) -> dict:
        """``iterations`` and each inner optimizer's state under ``optimizer_<k>/``."""
        params = list(params)
        state = {"iterations": np.asarray(self._iterations, dtype=np.int64)}
        for k, (opt, sub) in enumerate(zip(self._inner_optimizers, self._groups(params, lambda p: p))):
            for key, value in opt.get_state(sub).items():
                state[f"optimizer_{k}/{key}"] = value
        return state

    def set_state(self, state: dict, params) -> None:
        params = list(params)
        groups = self._groups(params, lambda p: p)
        parts: list[dict] = [{} for _ in self._inner_optimizers]
        for key, value in state.items():
            head, _, rest = key.partition("/")
            if key == "iterations":
                continue
            if not head.startswith("optimizer_") or not head[10:].isdigit() or int(head[10:]) >= len(parts):
                raise ValueError(f"MultiOptimizer.set_state: unknown state entry {key!r}")
            parts[int(head[10:])][rest] = value
        if "iterations" not in state:
            raise ValueError("MultiOptimizer.set_state: the state has no 'iterations' entry")
        for opt, sub, part in zip(self._inner_optimizers, groups, parts):
            if part:
                opt.set_state(part, sub)
        self._iterations = int(_as_numpy(state["iterations"]).reshape(()))

    def get_config(self) -> dict:
        return {"optimizer_map": serialize_keras_object(self._optimizer_map),
                "loss_scale_factor": self.loss_scale_factor, "name": self.name}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer_map"] = deserialize_keras_object(config["optimizer_map"], custom_objects)
        return cls(**config)


# -- lookup and serialisation ------------------------------------------------------------------

_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
            "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion, "lamb": Lamb, "ftrl": Ftrl,
            "adafactor": Adafactor, "muon": Muon, "schedulefreeadamw": ScheduleFreeAdamW,
            # metrics
            "lossscaleoptimizer": LossScaleOptimizer,
            # utilsopt
            "multioptimizer": MultiOptimizer}


def serialize(optimizer: Optimizer) -> dict:
    """``{"class_name": ..., "config": ...}``, JSON-able."""
    return {"class_name": type(optimizer).__name__, "config": optimizer.get_config()}


def deserialize(config: dict, custom_objects: dict | None = None) -> Optimizer:
    """The optimizer that ``serialize`` described (``custom_objects`` maps extra class names)."""
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"an optimizer config must be a dict with 'class_name' and 'config', got {config!r}")
    name = config["class_name"]
    custom = custom_objects or {}
    cls = custom.get(name) or _BY_NAME.get(str(name).lower())
    if cls is None:
        _unknown(name)
    return cls.from_config(config.get("config", {}), custom_objects)


def _unknown(name):
    close = difflib.get_close_matches(str(name).lower(), list(_BY_NAME), n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"unknown optimizer {name!r}.{hint} Valid names: {', '.join(_BY_NAME)}")


def get(identifier) -> Optimizer:
    """An optimizer from a name ('adam', case-insensitive), an instance, a class, or a config dict."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    if isinstance(identifier, str):
        cls = _BY_NAME.get(identifier.strip().lower())
        if cls is None:
            _unknown(identifier)
        return cls()
    if isinstance(identifier, dict):
        return deserialize(identifier)
    raise ValueError(f"cannot interpret {identifier!r} as an optimizer; pass a name such as 'adam', an Optimizer "
                     f"instance or a config dict")


register_module("optimizers", globals())
sys.modules.setdefault(f"{__name__}.legacy", legacy)  # `import gradflow.optimizers.legacy`, as in Keras
