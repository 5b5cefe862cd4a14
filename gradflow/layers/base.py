"""``Layer``: the Keras-style building block — lazy build, named weights, trainable flag, config.

Subclasses implement ``build(input_shape)`` (creating weights with ``add_weight``), ``call(x,
training)`` and, where cheap, ``compute_output_shape``. Every subclass is registered by class
name so configs can be rebuilt without pickle (``layer_class(name)``).
"""
from __future__ import annotations

import difflib
import functools
import inspect
import threading
import warnings

import numpy as np

from .. import constraints, dtype_policies, initializers, regularizers
from .._naming import clear_session, snake_case, unique_name
from .._registry import claim, registered
from ..autograd.grad_mode import no_grad
from ..autograd.tensor import Parameter, Tensor
from ..backend import get_backend, is_cupy_array
from ..metrics import Metric
from ..ops import cast, to_device
from ..ops import cast as _cast
from ..random import SeedGenerator
from ..saving.layer_hooks import SavingHooks
from ..saving.saving_lib import WEIGHT_GUARD
from ..summary import unique_weights
from ..variables import Variable
from ._args import shape_arg
from ._name_scope import name_scope, weight_path
from .input_spec import assert_input_compatibility
from .symbolic import KerasTensor, Node, any_symbolic, flatten, map_structure, pack_as

__all__ = ["Layer", "unique_weights", "layer_class", "registered_layers", "register_alias", "clear_session",
           "snake_case", "to_tensor", "get_keras_mask", "set_keras_mask"]

_REGISTRY = registered("layers")  # the one registry's table of layer (and model) classes


def layer_class(name: str) -> type:
    """The registered Layer class called ``name`` (the only ones a config may instantiate)."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"unknown layer class {name!r}{hint}") from None


def registered_layers() -> dict[str, type]:
    return dict(_REGISTRY)


def register_alias(alias: str, cls: type) -> None:
    """Let configs name ``cls`` by another class name too (Keras 2's ``MaxPool2D`` etc.)."""
    _REGISTRY[alias] = cls


#: compute dtypes of the mixed-policy layers whose ``call`` is running (innermost last)
_MIXED_COMPUTE: list[np.dtype] = []


def to_tensor(x, dtype=None) -> Tensor:
    """Wrap arrays/lists as Tensors (float data to the layer dtype; a float Tensor of another float dtype is cast,
    differentiably, as Keras's autocast does)."""
    if isinstance(x, Tensor):
        if (dtype is not None and x.dtype != dtype and x.dtype.kind == "f" and np.dtype(dtype).kind == "f"
                and x.dtype not in _MIXED_COMPUTE):  # a mixed layer's inputs stay in its compute dtype
            return cast(x, dtype)
        return x
    arr = x if hasattr(x, "__array_interface__") or hasattr(x, "__cuda_array_interface__") else np.asarray(x)
    if dtype is not None and arr.dtype.kind in "fiub" and arr.dtype != dtype:
        arr = arr.astype(dtype)
    return Tensor(arr)


class _CallContext(threading.local):
    """The ``training`` flag of the outermost layer call, inherited by the layers it calls
    (Keras 3: a nested ``Dropout`` called without ``training=`` follows the model's call). One per
    thread: models called from several threads at once (a server, simulated ranks) must not see
    each other's flag (a shared one was left at ``False`` by two threads racing)."""

    def __init__(self):
        self.training = None
        self.depth = 0
        self.outer = None  # the layer of the outermost call: add_loss marks it as adding losses


_CONTEXT = _CallContext()


def _call_params(cls):
    """The parameters of ``cls.call`` (empty when they cannot be read), read once per class."""
    params = cls.__dict__.get("_call_params_cache")
    if params is None:
        try:
            params = inspect.signature(cls.call).parameters
        except (TypeError, ValueError):
            params = {}
        cls._call_params_cache = params
    return params


def _call_flags(cls) -> tuple[bool, bool, dict]:
    """(``call`` accepts ``training``, accepts ``mask``, defaults of its keyword arguments), cached per class."""
    flags = cls.__dict__.get("_call_flags_cache")
    if flags is None:
        params = _call_params(cls)
        var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        defaults = {n: p.default for n, p in params.items() if p.default is not inspect.Parameter.empty}
        flags = ("training" in params or var_kw, "mask" in params or var_kw, defaults)
        cls._call_flags_cache = flags
    return flags


def get_keras_mask(x):
    """The mask a tensor carries (``x._keras_mask``; Keras's ``backend.get_keras_mask``), or None."""
    return getattr(x, "_keras_mask", None)


def set_keras_mask(x, mask) -> None:
    """Attach ``mask`` to ``x`` (None removes it), as Keras's ``backend.set_keras_mask``."""
    if mask is None:
        if getattr(x, "_keras_mask", None) is not None:
            x._keras_mask = None
        return
    x._keras_mask = mask


def _any_mask(structure) -> bool:
    """Whether a tensor in ``structure`` (a tensor, or lists/tuples/dicts of them) carries a mask."""
    if isinstance(structure, (list, tuple, dict)):
        return any(getattr(t, "_keras_mask", None) is not None for t in flatten(structure))
    return getattr(structure, "_keras_mask", None) is not None


def _is_tensor_argument(value) -> bool:
    """Keras's CallSpec: a tensor, or a non-empty nesting of tensors (None allowed)."""
    if isinstance(value, (Tensor, KerasTensor)):
        return True
    if isinstance(value, (list, tuple, dict)) and value:
        flat = flatten(value)
        return all(v is None or isinstance(v, (Tensor, KerasTensor)) for v in flat) and any(v is not None
                                                                                         for v in flat)
    return False


def _call_names(cls) -> tuple:
    """The names of ``call``'s parameters (without ``self``), cached per class."""
    names = cls.__dict__.get("_call_names_cache")
    if names is None:
        names = tuple(n for n, p in _call_params(cls).items()
                      if p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD))[1:]
        cls._call_names_cache = names
    return names


def _wrap_build(build):
    """Keras wraps ``build``: a layer built by hand (``layer.build(shape)``) is built."""
    @functools.wraps(build)
    def build_wrapper(self, *args, **kwargs):
        with name_scope(self):  # variable paths: sublayers built here sit under this layer
            result = build(self, *args, **kwargs)
        self.built = True
        return result

    build_wrapper._gradflow_build_wrapper = True
    return build_wrapper


def _scoped_build(build):
    """A model's own ``build`` in its name scope (Keras: ``sequential/dense/kernel``)."""
    @functools.wraps(build)
    def scoped_build(self, *args, **kwargs):
        with name_scope(self):
            return build(self, *args, **kwargs)

    scoped_build._gradflow_scoped = True
    return scoped_build


def _call_with_activity_loss(layer):
    """``layer``'s class ``call``, then ``add_loss(activity_regularizer(output) / batch size)`` for each
    output Tensor (Keras 3's ``Layer.__call__``)."""
    call = type(layer).call

    def activity_call(*args, **kwargs):
        out = call(layer, *args, **kwargs)
        reg = layer.activity_regularizer
        for t in flatten(out) if reg is not None else ():
            if isinstance(t, Tensor):
                loss = reg(t)
                layer.add_loss(loss / t.shape[0] if t.ndim and t.shape[0] else loss)
        return out

    activity_call.__wrapped__ = call  # type: ignore[attr-defined]
    return activity_call


def _is_shape(value) -> bool:
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, (int, np.integer)) for d in value)


def _shapes_of(structure):
    """A single shape tuple, or the same nesting of shape tuples."""
    return map_structure(lambda t: tuple(t.shape), structure)


_HALF = frozenset({"float16", "bfloat16"})


def _autocast(inputs, dtype: np.dtype):
    """Keras's autocast where half precision is involved: floating Tensors to ``dtype`` (differentiably)
    when either side is float16/bfloat16 (float32/float64 inputs keep passing through as before)."""
    def cast(v):
        if isinstance(v, Tensor) and v.dtype.kind == "f" and v.dtype != dtype and (
                v.dtype.name in _HALF or dtype.name in _HALF):
            return _cast(v, dtype)
        return v
    return cast(inputs) if isinstance(inputs, Tensor) else map_structure(cast, inputs)


class _CastVariables:
    """While a mixed-policy layer's ``call`` runs, its trainable float variables read as Tensors of the
    compute dtype (cast in the graph, so gradients reach the float32 variables), as Keras's AutocastScope."""

    def __init__(self, layer, dtype: np.dtype):
        self.layer, self.dtype, self.saved = layer, dtype, {}

    def __enter__(self):
        _MIXED_COMPUTE.append(self.dtype)
        d = self.layer.__dict__
        self.saved = {k: v for k, v in d.items() if isinstance(v, Parameter) and v.trainable
                      and v.dtype.kind == "f" and v.dtype != self.dtype}
        for key, var in self.saved.items():
            d[key] = _cast(var, self.dtype)

    def __exit__(self, *exc):
        _MIXED_COMPUTE.pop()
        self.layer.__dict__.update(self.saved)


def _convert_inputs(inputs, dtype):
    """Arrays and lists of arrays as Tensors (float data in the layer's dtype)."""
    if isinstance(inputs, Tensor):
        return to_tensor(inputs, dtype)
    if isinstance(inputs, (list, tuple, dict)) and all(hasattr(v, "shape") for v in flatten(inputs)) and inputs:
        return map_structure(lambda v: to_tensor(v, dtype), inputs)
    return to_tensor(inputs, dtype)


def _is_tracked_value(value, empty: bool) -> bool:
    """A layer, or a list/tuple/dict holding layers (or, with ``empty``, still empty: filled later)."""
    if isinstance(value, Layer):
        return True
    if isinstance(value, (list, tuple)):
        return (empty and not value) or any(_is_tracked_value(v, False) for v in value)
    if isinstance(value, dict):
        return (empty and not value) or any(_is_tracked_value(v, False) for v in value.values())
    return False


def _track_variable(layer, name: str, value) -> None:
    """A ``keras.Variable`` made outside ``add_weight`` and assigned to ``layer.<name>`` becomes one of the
    layer's own weights (Keras 3's tracker), in assignment order; ``_attr_variables`` names them."""
    params = layer.__dict__.get("_params")
    if params is None or any(p is value for p in params.values()):
        return
    key, i = name, 0
    while key in params:
        i += 1
        key = f"{name}_{i}"
    params[key] = value
    layer.__dict__.setdefault("_attr_variables", set()).add(id(value))


def _layers_in(value):
    if isinstance(value, Layer):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _layers_in(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _layers_in(v)


class Layer(SavingHooks):
    """Base class of every layer (Keras 3 semantics).

    Calling a layer on arrays/Tensors runs it; calling it on symbolic tensors (``keras.Input``)
    records a :class:`~gradflow.layers.symbolic.Node` and returns symbolic outputs whose shapes
    come from ``compute_output_shape`` (or a one-sample run of ``call`` when a layer has none).
    ``training=`` and ``mask=`` reach ``call`` only when its signature takes them. Layers
    assigned as attributes (also inside lists and dicts) are tracked: their weights are this
    layer's weights too.
    """

    #: models check the caller's real batch shape (Keras: "found shape=(4, 3)"); layers see (None, ...)
    _checks_batch_shape = False
    #: set on a layer once its call (or a sublayer's) ran ``add_loss``: only then are losses cleared/collected
    _adds_loss = False
    #: Keras's ``supports_masking``: the layer passes masks on (``compute_mask``); a class that
    #: overrides ``compute_mask`` supports masking unless it says otherwise (Keras 3's default)
    supports_masking = False
    #: ``compute_mask`` gives None when no mask comes in (merge layers, pooling): calls without masks skip it
    _mask_needs_input = False
    #: warn when a mask comes in and this layer drops it (Keras's layers do; its ops, such as the
    #: arithmetic on symbolic tensors, are Operations that drop masks silently)
    _mask_warning = True
    _COMMON = ("name", "trainable", "dtype", "input_shape", "batch_input_shape", "batch_size", "input_dim")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "compute_mask" in cls.__dict__ and "supports_masking" not in cls.__dict__:
            cls.supports_masking = True
        build = cls.__dict__.get("build")
        if (build is not None and not hasattr(cls, "_make_forward")  # models build their own way
                and not getattr(build, "_gradflow_build_wrapper", False)):
            cls.build = _wrap_build(build)
        elif build is not None and not getattr(build, "_gradflow_scoped", False):
            cls.build = _scoped_build(build)  # a model's build: its layers' variable paths under its name
        if cls.__name__.startswith("_"):  # private helper bases are not config targets
            return
        claim("layers", cls.__name__, cls)  # never shadowing a public layer (a user's or an internal class)

    def __new__(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.__dict__["_init_args"] = (args, kwargs)  # for the automatic get_config of user classes
        return obj

    def __init__(self, name=None, trainable=True, dtype=None, input_shape=None,
                 batch_input_shape=None, batch_size=None, input_dim=None, **kwargs):
        kwargs.pop("autocast", None)
        activity_regularizer = kwargs.pop("activity_regularizer", None)
        if kwargs:
            bad = ", ".join(sorted(kwargs))
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s): {bad}")
        if name is not None and (not isinstance(name, str) or not name or "/" in name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string without '/', got {name!r}")
        self.name = name or unique_name(snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self._dtype_policy = dtype_policies.get(dtype)  # metrics: dtype= takes a policy (or its name)
        # a policy other than the global one (a float32 head in a mixed model) casts half inputs in plans too
        self._explicit_dtype = dtype is not None and self._dtype_policy != dtype_policies.dtype_policy()
        self.dtype = dtype_policies.numpy_dtype(self._dtype_policy.variable_dtype)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        if batch_input_shape is not None:
            self._batch_input_shape = shape_arg(self, "batch_input_shape", batch_input_shape)
        elif input_shape is not None:
            arg = "input_dim" if input_dim is not None and input_shape == (input_dim,) else "input_shape"
            shape = shape_arg(self, arg, (input_shape,) if isinstance(input_shape, (int, np.integer)) else input_shape,
                              shown=input_dim if arg == "input_dim" else input_shape)
            shape_arg(self, "batch_size", (batch_size,), shown=batch_size)
            self._batch_input_shape = (batch_size,) + shape
        else:
            self._batch_input_shape = None
        self.built = False
        self.input_shape = None
        self.output_shape = None
        self._params: dict[str, Parameter] = {}
        self._regularizers: dict[str, object] = {}
        self._inbound_nodes: list = []
        self._added_losses: list = []
        if activity_regularizer is not None:
            self.activity_regularizer = activity_regularizer

    def __setattr__(self, name, value):
        """Track layers assigned as attributes (directly or in lists/dicts), as Keras does."""
        d = self.__dict__
        tracked = d.get("_tracked")
        if value is not self and _is_tracked_value(value, not name.startswith("_")):
            if tracked is None:
                tracked = d["_tracked"] = {}
            tracked[name] = value
        elif tracked is not None and name in tracked:
            del tracked[name]
        if isinstance(value, Variable) and getattr(value, "_free", False):  # a free keras.Variable: the layer's
            _track_variable(self, name, value)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        tracked = self.__dict__.get("_tracked")
        if tracked is not None:
            tracked.pop(name, None)
        object.__delattr__(self, name)

    def _sublayers(self) -> list:
        """The layers this one holds (attribute order), without duplicates."""
        tracked = self.__dict__.get("_tracked")
        if not tracked:
            return []
        seen, out = {id(self)}, []
        for value in tracked.values():
            for layer in _layers_in(value):
                if id(layer) not in seen:
                    seen.add(id(layer))
                    out.append(layer)
        return out

    def _flatten_layers(self, include_self: bool = True) -> list:
        """This layer and every layer below it, depth first, each once."""
        seen, out = set(), []

        def walk(layer):
            if id(layer) in seen:
                return
            seen.add(id(layer))
            out.append(layer)
            for sub in layer._sublayers():
                walk(sub)

        walk(self)
        return out if include_self else out[1:]

    @property
    def input_spec(self):
        """Keras's ``InputSpec`` (or a list of them, one per input) that calls are checked against."""
        return self.__dict__.get("_input_spec")

    @input_spec.setter
    def input_spec(self, value) -> None:
        self.__dict__["_input_spec"] = value

    def _check_input_spec(self, inputs) -> None:
        spec = self.__dict__.get("_input_spec")
        if spec is not None:
            assert_input_compatibility(spec, inputs, self.name)

    # -- weights --------------------------------------------------------------------------
    def add_weight(self, shape=None, initializer=None, dtype=None, trainable=True, autocast=True, regularizer=None,
                   constraint=None, aggregation="none", name=None, **kwargs) -> Parameter:
        """Create, register and return a weight (Keras 3 signature; ``layer.<name>`` reads it too).

        ``initializer`` defaults to 'glorot_uniform' for float weights, 'zeros' otherwise (Keras 3)."""
        if kwargs:
            raise TypeError(f"{type(self).__name__}.add_weight: unexpected keyword argument(s): {', '.join(kwargs)}")
        if shape is None:
            shape = ()
        try:
            shape = tuple(int(s) for s in ((shape,) if isinstance(shape, (int, np.integer)) else shape))
        except (TypeError, ValueError):
            raise ValueError(f"layer {self.name!r}: add_weight shape must be a tuple of ints, got {shape!r}") from None
        if any(s < 0 for s in shape):
            raise ValueError(f"layer {self.name!r}: add_weight shape must hold sizes >= 0, got {shape}")
        guard = getattr(WEIGHT_GUARD, "check", None)
        if guard is not None:  # e.g. a model file's budget: may refuse before anything is allocated
            guard(self, shape)
        if name is None:
            base, i = "variable", 0
            name = base
            while name in self._params:
                i += 1
                name = f"{base}_{i}"
        dtype = np.dtype(dtype) if dtype is not None else self.dtype
        if initializer is None:
            initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
        values = initializers.get(initializer)(shape, dtype=dtype)
        param = Variable._owned(values, dtype, f"{self.name}/{name}", trainable=trainable)
        param._path = weight_path(self, name)  # Keras's path (parents' names too); the name stays layer-based
        param.requires_grad = trainable and self._trainable
        param.constraint = constraints.get(constraint)
        self._params[name] = param
        if regularizer is not None:
            self._regularizers[name] = regularizers.get(regularizer)
        return param

    def _own_trainable(self) -> list:
        return [p for p in self._params.values() if p.trainable] if self._trainable else []

    def _own_non_trainable(self) -> list:
        if not self._trainable:
            return list(self._params.values())
        return [p for p in self._params.values() if not p.trainable]

    def _iter_weights(self):
        """The weights in ``weights`` order, lazily (a lookup that needs only the first, such as a
        model's dtype or device on every predict call, stops there; repeats are not removed)."""
        yield from self._own_trainable()
        yield from self._own_non_trainable()
        for sub in self._sublayers():
            yield from sub._iter_weights()

    @property
    def weights(self) -> list[Parameter]:
        """Own weights (trainable ones first), then each sublayer's: Keras order."""
        return unique_weights(list(self._iter_weights()))

    @property
    def trainable_weights(self) -> list[Parameter]:
        if not self._trainable:
            return []
        return unique_weights(self._own_trainable() + [w for sub in self._sublayers() for w in sub.trainable_weights])

    @property
    def non_trainable_weights(self) -> list[Parameter]:
        if not self._trainable:
            return self.weights
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    trainable_variables = property(lambda self: self.trainable_weights)

    @property
    def variables(self) -> list:
        """``weights`` plus the state of the SeedGenerators the layers hold (Keras 3: in
        ``variables`` and ``non_trainable_variables``, never in ``weights`` or saved files)."""
        return self.weights + self._seed_states()

    @property
    def non_trainable_variables(self) -> list:
        return self.non_trainable_weights + self._seed_states()

    def _seed_states(self) -> list:
        return [value.state for layer in self._flatten_layers() for value in vars(layer).values()
                if isinstance(value, SeedGenerator)]

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze (or unfreeze) this layer and every layer it holds, as in Keras."""
        self._trainable = bool(value)
        for p in self._params.values():
            p.requires_grad = p.trainable and self._trainable
        for sub in self._sublayers():
            sub.trainable = value

    def count_params(self) -> int:
        return int(sum(p.size for p in self.weights))

    def get_weights(self) -> list[np.ndarray]:
        """Weights as NumPy arrays, in ``weights`` order (Keras layouts)."""
        return [p.numpy().copy() for p in self.weights]

    def set_weights(self, weights) -> None:
        """Set every weight at once; checks the count and every shape before changing anything."""
        params = self.weights
        weights = list(weights)
        if len(weights) != len(params):
            raise ValueError(f"set_weights: {type(self).__name__} {self.name!r} has {len(params)} weight arrays "
                             f"({', '.join(p.name for p in params) or 'none; is it built?'}), got {len(weights)}")
        arrays = []
        for i, (p, w) in enumerate(zip(params, weights)):
            arr = w.numpy() if isinstance(w, Tensor) else (w.get() if is_cupy_array(w) else np.asarray(w))
            if tuple(arr.shape) != tuple(p.shape):
                raise ValueError(f"{type(self).__name__} {self.name!r}: set_weights: weight #{i} ({p.name!r}) "
                                 f"expects shape {tuple(p.shape)}, got {tuple(arr.shape)}")
            if arr.dtype.kind not in "fiub":
                raise TypeError(f"{type(self).__name__} {self.name!r}: weight {p.name!r} needs numbers, "
                                f"got dtype {arr.dtype}")
            arrays.append(arr)
        for p, arr in zip(params, arrays):
            p.assign(arr)

    def _regularized(self) -> list:
        """``(penalty, weight)`` pairs of this layer and its sublayers."""
        return [(reg, layer._params[n]) for layer in self._flatten_layers() for n, reg in layer._regularizers.items()]

    def regularization_losses(self) -> list[Tensor]:
        """The penalty of every regularised weight, as scalar Tensors (added to the loss)."""
        return [reg(p) for reg, p in self._regularized()]

    # -- activity regularization (Keras 3: a loss on each output, divided by the batch size) --------
    @property
    def activity_regularizer(self):
        return self.__dict__.get("_activity_regularizer")

    @activity_regularizer.setter
    def activity_regularizer(self, value) -> None:
        reg = regularizers.get(value)
        self.__dict__["_activity_regularizer"] = reg
        if reg is None:
            self.__dict__.pop("call", None)
        elif "call" not in self.__dict__:  # on the instance, so models' planned passes run it too
            self.__dict__["call"] = _call_with_activity_loss(self)

    def add_loss(self, loss) -> None:
        """Add a loss term (a scalar Tensor) from ``call``: fit adds it to the compiled loss."""
        self.__dict__["_adds_loss"] = True
        if _CONTEXT.outer is not None:
            _CONTEXT.outer.__dict__["_adds_loss"] = True
        if not isinstance(loss, Tensor):
            loss = Tensor(loss)
        if loss.ndim:
            loss = loss.sum() if loss.size == 1 else loss.mean()
        self._added_losses.append(loss)

    def _clear_losses(self) -> None:
        for layer in self._flatten_layers():
            if layer.__dict__.get("_added_losses"):
                layer._added_losses = []

    def _collect_added_losses(self) -> list:
        return [l for layer in self._flatten_layers() for l in layer.__dict__.get("_added_losses", ())]

    @property
    def metrics(self) -> list:
        """The metrics this layer and the layers it holds keep as attributes (Keras's
        ``layer.metrics``): a layer that updates them in ``call`` has them logged by ``fit``."""
        return self._own_metrics() + self._sublayer_metrics()

    def _own_metrics(self) -> list:
        return [v for v in vars(self).values() if isinstance(v, Metric)]

    def _sublayer_metrics(self) -> list:
        """Metrics held by the layers below this one (a nested model's own trainer metrics aside)."""
        out: list = []
        for layer in self._flatten_layers(include_self=False):
            if hasattr(layer, "_make_forward"):  # a model: its compiled metrics belong to its own trainer
                continue
            out.extend(m for m in layer._own_metrics() if all(m is not o for o in out))
        return out

    @property
    def losses(self) -> list[Tensor]:
        """Regularization penalties plus the losses ``add_loss`` recorded in the last call."""
        return self.regularization_losses() + self._collect_added_losses()

    # -- building and calling -------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create weights for ``input_shape`` (batch axis included, as None). A subclass's ``build``
        called by hand marks the layer built, as in Keras."""
        self.built = True

    # -- masks (Keras 3's rules, layers/layer.py) -----------------------------------------
    def compute_mask(self, inputs, previous_mask):
        """The mask of the outputs (Keras: the incoming mask, unchanged)."""
        return previous_mask

    def _populate_masks(self, inputs, args, kwargs):
        """Fill ``kwargs`` with the masks ``call`` takes and return the incoming mask (Keras's
        ``__call__`` step 6): with one tensor argument, ``mask`` from its ``_keras_mask`` (unless
        given); with several, ``<name>_mask`` for each tensor argument ``<name>`` that ``call``
        takes. The incoming mask is ``mask=`` when given, else the first input's masks."""
        names = _call_names(type(self))
        tensors = {}
        bound = ((names[0], inputs),) if names else ()
        bound += tuple(zip(names[1:], args)) + tuple(kwargs.items())
        for name, value in bound:
            if _is_tensor_argument(value):
                tensors[name] = value
        if len(tensors) == 1:
            if "mask" in names and kwargs.get("mask") is None:
                kwargs["mask"] = map_structure(get_keras_mask, next(iter(tensors.values())))
        elif len(tensors) > 1:
            for name, value in tensors.items():
                key = f"{name}_mask"
                if key in names and kwargs.get(key) is None:
                    kwargs[key] = map_structure(get_keras_mask, value)
        mask = kwargs.get("mask")
        if mask is not None and any(m is not None for m in flatten(mask)):
            return mask
        return map_structure(get_keras_mask, inputs)

    def _set_mask_metadata(self, inputs, outputs, previous_mask) -> None:
        """Attach ``compute_mask``'s masks to outputs that carry none yet (Keras)."""
        flat_outputs = flatten(outputs)
        if all(get_keras_mask(x) is not None for x in flat_outputs):
            return
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None:
            return
        for tensor, mask in zip(flat_outputs, flatten(masks)):
            if mask is not None and get_keras_mask(tensor) is None:
                set_keras_mask(tensor, mask)

    def _warn_mask_dropped(self) -> None:
        if not self._mask_warning:
            return
        warnings.warn(f"Layer '{self.name}' (of type {type(self).__name__}) was passed an input with a mask "
                      f"attached to it. However, this layer does not support masking and will therefore destroy "
                      f"the mask information. Downstream layers will not see the mask.", stacklevel=3)

    def _makes_masks(self) -> bool:
        """Whether calls may produce a mask with none coming in (``compute_mask`` overridden)."""
        return (self.supports_masking and not self._mask_needs_input
                and type(self).compute_mask is not Layer.compute_mask)

    def _masks_involved(self, inputs, args, kwargs) -> bool:
        """Whether this call must run Keras's mask logic (cheap when no tensor carries a mask)."""
        if _any_mask(inputs) or self._makes_masks():
            return True
        if kwargs and (kwargs.get("mask") is not None or any(_any_mask(v) for v in kwargs.values())):
            return True
        return bool(args) and any(_any_mask(a) for a in args)

    def _call_with_masks(self, inputs, args, kwargs, training):
        """``_invoke`` with Keras's mask rules around it: masks passed to ``call`` where it takes
        them, ``compute_mask``'s result attached to the outputs (``_keras_mask``)."""
        previous = self._populate_masks(inputs, args, kwargs)
        outputs = self._invoke(inputs, args, kwargs, training)
        if self.supports_masking:
            self._set_mask_metadata(inputs, outputs, previous)
        elif any(m is not None for m in flatten(previous)):
            self._warn_mask_dropped()
        return outputs

    def _symbolic_masks(self, inputs, args, kwargs, outputs) -> None:
        """Attach to symbolic ``outputs`` the masks a real call would give them: ``compute_mask`` run
        on zeros of the inputs' shapes (its result's presence and shape is what a graph needs; a
        mask passed on unchanged stays the same symbolic tensor)."""
        kwargs = dict(kwargs)
        previous = self._populate_masks(inputs, args, kwargs)
        incoming = any(m is not None for m in flatten(previous))
        if not self.supports_masking:
            if incoming:
                self._warn_mask_dropped()
            return
        if not incoming and not self._makes_masks():
            return
        xp = get_backend().xp

        def zeros(t, fill=1, dtype=None):
            return Tensor(xp.zeros(tuple(fill if d is None else d for d in t.shape), dtype=dtype or t.dtype))

        concrete_inputs = map_structure(zeros, inputs)
        stand_ins = {}

        def stand_in(m):
            if m is None:
                return None
            c = zeros(m, 1, bool) if isinstance(m, KerasTensor) else m
            if isinstance(m, KerasTensor):
                c.data[...] = True
                stand_ins[id(c)] = m
            return c

        with no_grad():
            masks = self.compute_mask(concrete_inputs, map_structure(stand_in, previous))
        if masks is None:
            return
        flat_out = flatten(outputs)
        for out, m in zip(flat_out, flatten(masks)):
            if m is None or get_keras_mask(out) is not None:
                continue
            symbolic = stand_ins.get(id(m))
            if symbolic is None:
                dims = [None] + [None if i < len(out.shape) and out.shape[i] is None else int(d)
                                 for i, d in enumerate(m.shape) if i > 0]
                symbolic = KerasTensor(dims, "bool")
            out._keras_mask = symbolic

    def compute_output_shape(self, input_shape):
        """Output shape for ``input_shape`` (batch axis as None); default: run ``call`` on one sample."""
        return map_structure(lambda kt: kt.shape, self._probe_outputs(input_shape, {}))

    def _probe_outputs(self, input_shape, arguments: dict, extra=None, dtypes=None):
        """Symbolic outputs found by running ``call`` on zeros of ``input_shape`` (unknown sizes as 1;
        sizes that change with an unknown input size come out as None, found by a second run).
        ``extra``: ``(args, kwargs)`` of further arguments whose symbolic tensors become zeros too;
        ``dtypes``: the inputs' dtypes (integer inputs stay integer), else the layer's."""
        shapes = [input_shape] if _is_shape(input_shape) else flatten_shapes(input_shape)
        structure = input_shape if not _is_shape(input_shape) else None
        dtypes = dtypes or [self.dtype] * len(shapes)
        args, kwargs = extra or ((), {})
        extra_shapes = [t.shape for t in flatten([args, kwargs]) if isinstance(t, KerasTensor)]
        xp = get_backend().xp
        unknown = any(d is None for s in shapes + extra_shapes for d in s[1:])

        def zeros(shape, dtype, fill):  # (masks, boolean, are all True: every step kept)
            make = xp.ones if np.dtype(dtype).kind == "b" else xp.zeros
            return Tensor(make(tuple(fill if d is None else d for d in shape), dtype=dtype))

        runs = []
        for fill in ((1, 2) if unknown else (1,)):
            arrays = [zeros(s, dt, fill) for s, dt in zip(shapes, dtypes)]
            inputs = arrays[0] if structure is None else pack_shapes_as(structure, arrays)
            real_args, real_kwargs = map_structure(
                lambda v, fill=fill: zeros(v.shape, v.dtype, fill) if isinstance(v, KerasTensor) else v,
                [list(args), kwargs])
            with no_grad():
                out = self._invoke(inputs, tuple(real_args), {**arguments, **real_kwargs},
                                   arguments.get("training", False))
            runs.append(out)
        self._clear_losses()
        batch_unknown = shapes[0][0] is None if shapes and shapes[0] else True
        flat_runs = [flatten(r) for r in runs]

        def spec(i, t):
            dims = list(t.shape)
            if dims and batch_unknown:
                dims[0] = None
            for other in flat_runs[1:]:
                dims = [None if (d is None or d != o) else d for d, o in zip(dims, other[i].shape)]
            out = KerasTensor(dims, t.dtype)
            mask = getattr(t, "_keras_mask", None)
            if mask is not None:  # the call returned a masked tensor (e.g. a sublayer's): so will real calls
                out._keras_mask = KerasTensor([None if k >= len(dims) or dims[k] is None else s
                                               for k, s in enumerate(mask.shape)], "bool")
                if batch_unknown and out._keras_mask.shape:
                    out._keras_mask.shape = (None,) + out._keras_mask.shape[1:]
            return out

        return pack_as(runs[0], [spec(i, t) for i, t in enumerate(flat_runs[0])])

    def check_input_shape(self, input_shape) -> None:
        """Raise a clear error if this layer cannot take ``input_shape`` (subclasses extend).

        Runs before ``build`` and on every call after it, so a changed input (say a Dense
        fed a different last dimension) fails with the layer's name, not deep inside an op.
        """

    def build_from_shape(self, input_shape) -> tuple:
        """Build (once) and record input/output shapes; returns the output shape."""
        input_shape = self._build_once(input_shape)
        self.output_shape = self.compute_output_shape(input_shape)
        return self.output_shape

    def _build_once(self, input_shape):
        """Check ``input_shape`` and run ``build`` the first time; records the input shape."""
        input_shape = tuple(input_shape) if _is_shape(input_shape) else input_shape
        self.check_input_shape(input_shape)
        if not self.built:
            try:
                self.build(input_shape)
            except Exception as exc:
                if hasattr(exc, "add_note"):
                    exc.add_note(f"(while building {type(self).__name__} layer {self.name!r} for input shape "
                                 f"{input_shape})")
                raise
            self.built = True
        self.input_shape = input_shape
        return input_shape

    def _prepare(self, inputs) -> Tensor:
        """The input as a Tensor, the layer built for it (or its shape checked if already built)."""
        x = to_tensor(inputs, self.dtype)
        shape = (None,) + tuple(x.shape[1:])
        if not self.built:
            self.build_from_shape(shape)
        else:
            self.check_input_shape(shape)
        return x

    @property
    def dtype_policy(self):
        """The layer's DTypePolicy (Keras): ``compute_dtype`` for inputs and math, ``variable_dtype`` for weights."""
        policy = self.__dict__.get("_dtype_policy")
        return policy if policy is not None else dtype_policies.DTypePolicy(self.dtype.name)

    @dtype_policy.setter
    def dtype_policy(self, value):
        self._dtype_policy = dtype_policies.get(value)
        self.dtype = dtype_policies.numpy_dtype(self._dtype_policy.variable_dtype)

    @property
    def compute_dtype(self) -> str:
        return self.dtype_policy.compute_dtype

    @property
    def variable_dtype(self) -> str:
        return self.dtype_policy.variable_dtype

    def _invoke(self, inputs, args, kwargs, training):
        """``call`` with ``training``/``mask`` passed only where its signature takes them."""
        takes_training, takes_mask, defaults = _call_flags(type(self))
        if takes_training:
            if training is None:
                training = defaults.get("training", None)
            kwargs["training"] = training
        else:
            kwargs.pop("training", None)
        if not takes_mask:
            kwargs.pop("mask", None)
        ctx = _CONTEXT
        previous = ctx.training
        ctx.training = training
        ctx.depth += 1
        try:
            policy = self.__dict__.get("_dtype_policy")
            if policy is not None and not hasattr(self, "_make_forward"):  # (models: Keras's Functional does
                # not convert its inputs; its layers do)
                compute = dtype_policies.numpy_dtype(policy.compute_dtype)
                if policy.is_mixed:
                    with _CastVariables(self, compute):
                        out = self.call(_autocast(inputs, compute), *args, **kwargs)
                    return _autocast(out, compute)
                inputs = _autocast(inputs, compute)
            return self.call(inputs, *args, **kwargs)
        finally:
            ctx.depth -= 1
            ctx.training = previous

    def __call__(self, *args, **kwargs):
        if not args:
            names = _call_names(type(self))
            first = names[0] if names and names[0] in kwargs else "inputs"
            if first not in kwargs:
                raise TypeError(f"{type(self).__name__} layer {self.name!r} was called without inputs")
            args = (kwargs.pop(first),)  # the first input by keyword: layer(logits=..., targets=...)
        inputs = args[0]
        if any_symbolic(inputs):
            return self._symbolic_call(inputs, args[1:], kwargs)
        training = kwargs.pop("training", None)
        if training is None:
            training = _CONTEXT.training
        if _CONTEXT.depth == 0:
            _CONTEXT.outer = self
            if self._adds_loss:
                self._clear_losses()
        x = _convert_inputs(inputs, self.dtype)
        self._check_input_spec(x)
        if not self.built:
            with name_scope(self):  # sublayers built by this first call sit under this layer (variable paths)
                shapes = ((None,) + tuple(x.shape[1:]) if isinstance(x, Tensor) else
                          map_structure(lambda t: (None,) + tuple(t.shape[1:]), x))
                if type(self).compute_output_shape is Layer.compute_output_shape:
                    # no shape rule: build, then take the output shape from this call rather than a probe run
                    self._build_once(shapes)
                    self._check_input_spec(x)  # build may set it (Keras checks again)
                    out = self._run(x, args[1:], kwargs, training)
                    self.output_shape = map_structure(lambda t: (None,) + tuple(t.shape[1:]), out)
                    return out
                self.build_from_shape(shapes)
                self._check_input_spec(x)
                return self._run(x, args[1:], kwargs, training)
        else:
            real = self._checks_batch_shape
            self.check_input_shape((tuple(x.shape) if real else (None,) + tuple(x.shape[1:])) if isinstance(x, Tensor)
                                   else _shapes_of(x))
        return self._run(x, args[1:], kwargs, training)

    def _run(self, x, args, kwargs, training):
        """``_invoke``, with the mask rules only when a mask is involved (no cost otherwise)."""
        if self._masks_involved(x, args, kwargs):
            return self._call_with_masks(x, args, kwargs, training)
        return self._invoke(x, args, kwargs, training)

    def _symbolic_call(self, inputs, args, kwargs):
        """Record this call in the graph: build for the symbolic shapes, infer the outputs."""
        flat = flatten(inputs)
        bad = [type(v).__name__ for v in flat if not isinstance(v, KerasTensor)]
        if bad:
            raise TypeError(f"{type(self).__name__} layer {self.name!r} was called on a mix of symbolic tensors "
                            f"(keras.Input and layer outputs) and concrete values ({', '.join(bad)}); pass only "
                            f"symbolic tensors when building a model")
        # further positional arguments and keyword arguments may hold symbolic tensors too (Keras 3:
        # LogisticEndpoint()(targets, logits)); plain keyword values are recorded as the node's arguments
        self._check_input_spec(inputs)
        tensor_kwargs = {k: v for k, v in kwargs.items() if any_symbolic(v)}
        static = {k: v for k, v in kwargs.items() if k not in tensor_kwargs}
        extra = (tuple(args), tensor_kwargs) if args or tensor_kwargs else None
        shapes = tuple(flat[0].shape) if isinstance(inputs, KerasTensor) else _shapes_of(inputs)
        dtypes = [np.dtype(t.dtype) if np.dtype(t.dtype).kind in "iub" else self.dtype for t in flat]
        no_rule = type(self).compute_output_shape is Layer.compute_output_shape
        scope = name_scope(self).__enter__() if not self.built else None  # variable paths, as Keras
        try:
            if not self.built and (no_rule or extra):
                self._build_once(shapes)
            elif not self.built:
                self.build_from_shape(shapes)
                self._check_input_spec(inputs)
            else:
                self.check_input_shape(shapes)
                self.input_shape = shapes
            if "training" in static or no_rule or extra:
                outputs = self._probe_outputs(shapes, static, self._probe_masks(inputs, args, kwargs, extra), dtypes)
                self.output_shape = map_structure(lambda kt: kt.shape, outputs)
            else:
                out_shape = self.compute_output_shape(shapes)
                self.output_shape = out_shape
                dtype = self._output_dtype(flat)
                outputs = (KerasTensor(out_shape, dtype) if _is_shape(out_shape) else
                           map_structure_shapes(lambda s: KerasTensor(s, dtype), out_shape))
        except Exception as exc:
            if hasattr(exc, "add_note") and not any("while calling" in n for n in getattr(exc, "__notes__", ())):
                exc.add_note(f"(while calling {type(self).__name__} layer {self.name!r} on symbolic inputs of shape "
                             f"{shapes})")
            raise
        finally:
            if scope is not None:
                scope.__exit__()
        if self._masks_involved(inputs, args, kwargs):
            self._symbolic_masks(inputs, args, kwargs, outputs)
        node = Node(self, inputs, outputs, static, extra)
        for i, t in enumerate(node.flat_outputs):
            t._node, t._index = node, i
        self._inbound_nodes.append(node)
        return outputs

    def _probe_masks(self, inputs, args, kwargs, extra):
        """``extra`` plus the symbolic masks ``call`` would be given (a probe run of ``call`` then
        sees a mask where a real call does: Keras's symbolic calls pass them too)."""
        if not self._masks_involved(inputs, args, kwargs):
            return extra
        filled = dict(kwargs)
        self._populate_masks(inputs, args, filled)
        masks = {k: v for k, v in filled.items()
                 if k not in kwargs and any(isinstance(m, KerasTensor) for m in flatten(v))}
        if not masks:
            return extra
        rest, tensor_kwargs = extra or ((), {})
        return tuple(rest), {**tensor_kwargs, **masks}

    def _output_dtype(self, flat_inputs) -> str:
        if self.dtype.kind == "f":
            return self.compute_dtype
        return (flat_inputs[0].dtype if flat_inputs else self.dtype.name)

    def call(self, inputs, training: bool = False):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__}.call is not implemented")

    # -- graph ----------------------------------------------------------------------------
    def _node_attribute(self, attr: str, what: str):
        if not self._inbound_nodes:
            raise AttributeError(f"layer {self.name!r} has never been called on symbolic inputs, so it has no "
                                 f"{what} yet; build a model with keras.Input and call the layer on it")
        return getattr(self._inbound_nodes[0], attr)

    input = property(lambda self: self._node_attribute("inputs", "input"),
                     doc="The symbolic input of the layer's first call (Keras semantics).")
    output = property(lambda self: self._node_attribute("outputs", "output"),
                      doc="The symbolic output of the layer's first call (Keras semantics).")

    # -- devices --------------------------------------------------------------------------
    def to(self, device: str) -> "Layer":
        """Move every weight (of this layer and the layers it holds) to ``device`` in place."""
        for p in self.weights:
            p.data = to_device(p.detach(), device).data
            p.grad = None
        return self

    # -- config ---------------------------------------------------------------------------
    def get_config(self) -> dict:
        """JSON-able constructor arguments (subclasses extend). For a user's layer that does not
        define ``get_config``, the arguments its constructor was called with, when they are plain values."""
        policy = self.__dict__.get("_dtype_policy")
        cfg = {"name": self.name, "trainable": self._trainable,
               "dtype": policy.name if policy is not None and policy.is_mixed else self.dtype.name}
        if self.activity_regularizer is not None:
            cfg["activity_regularizer"] = regularizers.serialize(self.activity_regularizer)
        if self._batch_input_shape is not None:
            cfg["batch_input_shape"] = list(self._batch_input_shape)
        if not type(self).__module__.startswith("gradflow.") and type(self).get_config is Layer.get_config:
            cfg.update(_auto_config(self))
        return cfg

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} built={self.built}>"


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain(v) for k, v in value.items())
    return False


def _auto_config(layer) -> dict:
    """The constructor's keyword arguments (positional ones by parameter name), if all are plain."""
    args, kwargs = layer.__dict__.get("_init_args", ((), {}))
    try:
        bound = inspect.signature(type(layer).__init__).bind(layer, *args, **kwargs)
    except TypeError:
        return {}
    values = {}
    for name, value in list(bound.arguments.items())[1:]:
        kind = inspect.signature(type(layer).__init__).parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            values.update(value)
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            values[name] = value
    if not _plain(values):
        raise NotImplementedError(
            f"{type(layer).__name__} layer {layer.name!r}: its constructor takes values that are not plain "
            f"(numbers, strings, lists, dicts), so gradflow cannot write its config by itself; define "
            f"get_config() returning the constructor arguments (and from_config if they need rebuilding)")
    return values


def flatten_shapes(structure) -> list:
    """The shape tuples in a nesting of shapes (lists of shape tuples, dicts of them)."""
    if _is_shape(structure):
        return [tuple(structure)]
    if isinstance(structure, dict):
        return [s for k in sorted(structure) for s in flatten_shapes(structure[k])]
    return [s for item in structure for s in flatten_shapes(item)]


def pack_shapes_as(structure, flat):
    it = iter(flat)

    def rebuild(s):
        if _is_shape(s):
            return next(it)
        if isinstance(s, dict):
            built = {k: rebuild(s[k]) for k in sorted(s)}
            return {k: built[k] for k in s}
        return type(s)(rebuild(x) for x in s)

    return rebuild(structure)


def map_structure_shapes(fn, structure):
    return pack_shapes_as(structure, [fn(s) for s in flatten_shapes(structure)])


def _param_attr(self, item):
    """``layer.kernel``, ``layer.bias``, ``layer.moving_mean``... read the named weights."""
    params = self.__dict__.get("_params")
    if params is not None and item in params:
        return params[item]
    raise AttributeError(f"{type(self).__name__!s} object has no attribute {item!r}")


Layer.__getattr__ = _param_attr
