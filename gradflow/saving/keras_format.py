"""Keras 3's ``.keras`` files in and out: a zip of ``metadata.json``, ``config.json`` (Keras's object
configs) and ``model.weights.h5`` (HDF5, through h5py: ``pip install "gradflow-keras[keras-files]"``).

Reading translates Keras's configs into gradflow's (DTypePolicy dicts to names, arguments gradflow
does not take dropped when they hold their neutral value, anything else an error naming the layer
and the argument) and reads the weights in Keras's order, walking the file's groups the way Keras
wrote them (``layers/<class name, numbered>/vars/<i>``, recurrent cells, attention projections,
nested models). Writing does the reverse. Only classes gradflow has are ever built, and no code is
ever unpickled: HDF5 datasets are read as plain arrays.

Reading is as careful as gradflow's own format: the zip members are bounded (config.json and
metadata.json at 16 MB, the weights at what the rebuilt model can hold), the JSON's nesting is
bounded, the model is rebuilt under a budget of the values the weights file can store, and the HDF5
file may hold only plain groups and datasets: external storage, soft and external links and virtual
datasets are refused (they would read other files of this machine). Each dataset's shape and dtype
is checked against its weight before it is read; integer data for a float weight and values that
overflow the weight's dtype are errors naming the weight.
"""
from __future__ import annotations

import inspect
import io
import json
import os
import warnings
import zipfile
from datetime import datetime, timezone

import numpy as np

from .._registry import find, get_registered_object
from ..ops import _symbolic
from .layer_hooks import overrides, own_variables, user_defines
from .saving_lib import (
    ModelFileError,
    _weight_budget,
    apply_hooks,
    asset_entries,
    atomic_write,
    checked_cast,
    parse_json,
)
from .serialization import deserialize_keras_object, serialize_keras_object
from .walk import is_a, saveables

__all__ = ["is_keras_archive", "load_keras_model", "save_keras_model", "save_keras_weights", "load_keras_weights"]

KERAS_VERSION = "3.15.1"  # the format version gradflow writes (read by Keras 3.x)
_SUBGROUPS = {  # where Keras keeps a layer's weights below its own group, in weight order (RNNs and their
    # wrappers are walked by attribute instead: saving/walk.py)
    "MultiHeadAttention": ["query_dense", "key_dense", "value_dense", "output_dense"],
    # kvars: Keras's GroupedQueryAttention keeps its EinsumDense sublayers (and an empty dropout and softmax)
    "GroupQueryAttention": ["_query_dense", "_key_dense", "_gate_dense", "_value_dense", "_output_dense"],
}
_EMPTY_SUBGROUPS = {"GroupQueryAttention": ["_dropout_layer", "_softmax"]}  # written for Keras, never read
_MODEL_CLASSES = ("Functional", "Sequential", "Model")


def _h5py():
    try:
        import h5py  # noqa: PLC0415 - optional dependency (h5py)
    except ImportError:
        raise ImportError('reading or writing Keras .keras files needs h5py: '
                          'pip install "gradflow-keras[keras-files]"') from None
    return h5py


def is_keras_archive(members: dict) -> bool:
    return "model.weights.h5" in members and "config.json" in members and "metadata.json" in members


# -- Keras config -> gradflow config ---------------------------------------------------------
#: Keras-only arguments gradflow leaves out when they hold these (Keras's default) values
_KERAS_DEFAULTS = {"renorm_momentum": 0.99, "zero_output_for_mask": True, "use_cudnn": "auto", "ema_momentum": 0.99,
                   "gain": 1.0}


def _neutral(key, value) -> bool:
    if key in _KERAS_DEFAULTS and value == _KERAS_DEFAULTS[key]:
        return True
    return value is None or value is False or (isinstance(value, (int, float)) and value == 0) or value == {} \
        or value == [] or key in ("shared_object_id", "autocast")


def _accepted(cls) -> set:
    """The keyword arguments ``cls(...)`` takes, following ``**kwargs`` up the base classes."""
    names = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters
        except (TypeError, ValueError):
            break
        names |= {n for n, p in params.items() if p.kind not in (inspect.Parameter.VAR_KEYWORD,
                                                                    inspect.Parameter.VAR_POSITIONAL)}
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            break
    names |= set(getattr(cls, "_COMMON", ()))  # a Layer's common arguments (name, trainable, dtype...)
    return names - {"self"}


def _clean(cls, config: dict, where: str) -> dict:
    """Keep the arguments ``cls`` takes; drop the others where they hold a neutral or Keras-default
    value; any other argument is an error naming it (gradflow would compute something else)."""
    accepted = _accepted(cls)
    out = {}
    for key, value in config.items():
        if key in accepted:
            out[key] = value
        elif not _neutral(key, value):
            raise ValueError(f"{where}: {cls.__name__} argument {key}={value!r} is not supported by gradflow")
    return out


def _from_keras(value, where: str):
    """A Keras config value with every nested object config made gradflow's."""
    if isinstance(value, list):
        return [_from_keras(v, where) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") == "DTypePolicy":
        return value.get("config", {}).get("name", "float32")
    if value.get("class_name") == "__keras_tensor__":
        return value
    value = {k: v for k, v in value.items() if k != "shared_object_id"}
    if str(value.get("module") or "").startswith("keras.src.ops.") and "inbound_nodes" in value:
        return _op_from_keras(value, where)
    if "class_name" in value and isinstance(value.get("config"), dict):
        cls = _gradflow_class(value, where)
        config = {k: _from_keras(v, where) for k, v in value["config"].items()}
        if value["class_name"] in _MODEL_CLASSES:
            config = _model_config(value["class_name"], config, where)
        elif cls is not None:
            config = _clean(cls, config, f"{where}: layer {config.get('name', value['class_name'])!r}")
        out = {"class_name": value["class_name"], "config": config}
        if _user_registered(value):  # "package>name": the user's class, looked up by it first (as Keras)
            out["registered_name"] = value["registered_name"]
        for key in ("name", "inbound_nodes", "build_config"):
            if key in value:
                out[key] = _from_keras(value[key], where) if key != "inbound_nodes" else value[key]
        return out
    return {k: _from_keras(v, where) for k, v in value.items()}


def _gradflow_class(entry: dict, where: str):
    """The gradflow class a Keras entry names (layers, initializers, regularizers); None for others."""
    name = entry["class_name"]
    module = str(entry.get("module") or "")
    if _user_registered(entry):  # never a built-in of the same class name
        found = get_registered_object(entry["registered_name"])
        return found if isinstance(found, type) else None
    if "initializers" in module:
        return find("initializers", name)
    if "regularizers" in module:
        return find("regularizers", name)
    layer = find("layers", name)
    if layer is not None:
        return layer
    if module.startswith("keras.layers") or module.startswith("keras.src.layers"):
        raise ValueError(f"{where}: the Keras layer {name!r} is not available in gradflow")
    return None


def _user_registered(entry: dict) -> bool:
    """Whether an entry names a user's class registered as ``"package>name"`` (Keras writes None for its own
    classes, gradflow its class name): ``registered_name`` then decides the class, not ``class_name``."""
    registered = entry.get("registered_name")
    return isinstance(registered, str) and bool(registered) and registered != entry.get("class_name")


def _model_config(class_name, config, where):
    config.pop("dtype", None)
    return config


# -- ops in functional graphs (gradflow's OpLayer nodes, Keras's Operation nodes) ---------------
#: gradflow op -> (Keras module under keras.src.ops, Operation class, how many of the op's leading
#: parameters are the call's arguments, the Keras constructor arguments the other parameters become, in order)
_KERAS_OPS = {
    "reshape": ("numpy", "Reshape", 1, ("newshape",)), "transpose": ("numpy", "Transpose", 1, ("axes",)),
    "concatenate": ("numpy", "Concatenate", 1, ("axis",)), "stack": ("numpy", "Stack", 1, ("axis",)),
    "mean": ("numpy", "Mean", 1, ("axis", "keepdims")), "sum": ("numpy", "Sum", 1, ("axis", "keepdims")),
    "max": ("numpy", "Max", 1, ("axis", "keepdims")), "min": ("numpy", "Min", 1, ("axis", "keepdims")),
    "expand_dims": ("numpy", "ExpandDims", 1, ("axis",)), "squeeze": ("numpy", "Squeeze", 1, ("axis",)),
    "add": ("numpy", "Add", 2, ()), "subtract": ("numpy", "Subtract", 2, ()), "multiply": ("numpy", "Multiply", 2, ()),
    "divide": ("numpy", "Divide", 2, ()), "matmul": ("numpy", "Matmul", 2, ()), "power": ("numpy", "Power", 2, ()),
    "maximum": ("numpy", "Maximum", 2, ()), "minimum": ("numpy", "Minimum", 2, ()),
    "negative": ("numpy", "Negative", 1, ()), "abs": ("numpy", "Absolute", 1, ()), "exp": ("numpy", "Exp", 1, ()),
    "log": ("numpy", "Log", 1, ()), "sqrt": ("numpy", "Sqrt", 1, ()), "square": ("numpy", "Square", 1, ()),
    "tanh": ("numpy", "Tanh", 1, ()), "relu": ("nn", "Relu", 1, ()), "sigmoid": ("nn", "Sigmoid", 1, ()),
    "softmax": ("nn", "Softmax", 1, ("axis",)), "cast": ("core", "Cast", 1, ("dtype",)),
}
_OP_ALIASES = {"sub": "subtract", "mul": "multiply", "div": "divide", "pow": "power", "neg": "negative"}
_FROM_KERAS_OPS = {(f"keras.src.ops.{mod}", cls): op for op, (mod, cls, _, _) in _KERAS_OPS.items()}


def _is_tensor_entry(value) -> bool:
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _json_args(value):
    """Op arguments as JSON: tuples as lists, dtypes by name (Keras's config of the same call)."""
    if isinstance(value, (list, tuple)):
        return [_json_args(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_args(v) for k, v in value.items()}
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return np.dtype(value).name
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": value.tolist(), "dtype": value.dtype.name}}
    return value


def _op_to_keras(entry: dict) -> dict | None:
    """A gradflow ``OpLayer`` node as the Keras Operation node Keras 3 writes for the same call: the call's
    tensors (and constants in their places) in the node's args, the op's other arguments in its config;
    None for an op outside the table (it is then written as gradflow's own OpLayer, which only gradflow reads)."""
    cfg = entry["config"]
    op = _OP_ALIASES.get(cfg["op"], cfg["op"])
    if op not in _KERAS_OPS:
        return None
    module, class_name, n_call, config_names = _KERAS_OPS[op]
    args, kwargs = _symbolic.decode(cfg["arguments"])
    params = list(inspect.signature(_symbolic.get_op(cfg["op"])).parameters)
    bound = dict(zip(params, args), **kwargs)
    nodes = entry.get("inbound_nodes") or [{}]
    node_args = nodes[0].get("args") or []
    tensors = node_args[0] if len(node_args) == 1 and isinstance(node_args[0], list) else list(node_args)

    def fill(value):
        if isinstance(value, _symbolic.Slot):
            return tensors[value.index]
        if isinstance(value, (list, tuple)):
            return [fill(v) for v in value]
        return _json_args(value)

    call_args = [fill(bound[p]) for p in params[:n_call] if p in bound]
    config = {"name": cfg["name"]}
    for param, key in zip(params[n_call:], config_names):
        if param in bound:
            config[key] = _json_args(bound[param])
    return {"module": f"keras.src.ops.{module}", "class_name": class_name, "config": config,
            "registered_name": class_name, "name": entry.get("name", cfg["name"]),
            "inbound_nodes": [{"args": call_args, "kwargs": {}}]}


def _op_from_keras(entry: dict, where: str) -> dict:
    """A Keras Operation node (``keras.src.ops.numpy.Reshape`` ...) as gradflow's ``OpLayer`` entry."""
    op = _FROM_KERAS_OPS.get((entry.get("module"), entry.get("class_name")))
    config = entry.get("config") or {}
    name = config.get("name") or entry.get("name")
    if op is None:
        raise ValueError(f"{where}: the Keras op {entry.get('module')}.{entry.get('class_name')} (node {name!r}) is "
                         f"not available in gradflow; supported: {sorted(cls for _, cls in _FROM_KERAS_OPS)}")
    nodes = entry.get("inbound_nodes") or []
    if len(nodes) != 1 or (nodes[0].get("kwargs") or {}):
        raise ValueError(f"{where}: op node {name!r}: expected one call with positional arguments")
    _, _, n_call, config_names = _KERAS_OPS[op]
    tensors: list = []

    def slot(value):
        if _is_tensor_entry(value):
            tensors.append(value)
            return _symbolic.Slot(len(tensors) - 1)
        if isinstance(value, list):
            return [slot(v) for v in value]
        return value

    args = [slot(v) for v in nodes[0].get("args") or []]
    params = list(inspect.signature(_symbolic.get_op(op)).parameters)
    if len(args) > n_call:
        raise ValueError(f"{where}: op node {name!r}: {len(args)} call arguments, {op} takes {n_call}")
    unknown = set(config) - set(config_names) - {"name"}
    if unknown:
        raise ValueError(f"{where}: op node {name!r}: Keras {entry.get('class_name')} arguments {sorted(unknown)} "
                         f"are not supported by gradflow")
    kwargs = {param: config[key] for param, key in zip(params[n_call:], config_names) if key in config}
    template = [args, kwargs]
    node_args = [tensors[0]] if len(tensors) == 1 else [tensors]
    return {"class_name": "OpLayer",
            "config": {"name": name, "op": op, "arguments": _symbolic.encode(template)},
            "name": entry.get("name", name), "inbound_nodes": [{"args": node_args, "kwargs": {}}]}


# -- weights ----------------------------------------------------------------------------------
def _child(group, name: str, where: str):
    """``group[name]`` when it is a hard link to a plain group or dataset; soft and external links (which
    can name other files, or loop) are refused, and so are datasets stored outside the file."""
    h5py = _h5py()
    link = group.get(name, getlink=True)
    if link is None:
        raise KeyError(name)
    if not isinstance(link, h5py.HardLink):
        raise ModelFileError(f"{where}: {group.name.rstrip('/')}/{name} is a {type(link).__name__}; a weights file "
                             f"may hold only plain groups and datasets (links could read other files)")
    obj = group[name]
    if isinstance(obj, h5py.Dataset):
        if obj.external:
            raise ModelFileError(f"{where}: dataset {obj.name} keeps its values in external file(s) "
                                 f"{[e[0] for e in obj.external]}; not allowed in a weights file")
        if obj.is_virtual:
            raise ModelFileError(f"{where}: dataset {obj.name} is a virtual dataset (it maps other files); not "
                                 f"allowed in a weights file")
    return obj


def _has(group, name: str) -> bool:
    return group.get(name, getlink=True) is not None


def _group_datasets(group, class_name: str, where: str) -> list:
    """A layer's datasets (unread) in Keras's weight order: its own ``vars/0..n``, then known sub-objects."""
    out = []
    if _has(group, "vars"):
        vars_ = _child(group, "vars", where)
        out += [_child(vars_, str(i), where) for i in range(len(vars_))]
    for sub in _SUBGROUPS.get(class_name, []):
        if _has(group, sub):
            inner = _child(group, sub, where)
            out += _group_datasets(inner, "", where)
    return out


def _at(root, path: str, where: str):
    """The group at ``path`` below ``root`` (each step a plain hard link), or None when it is not there."""
    group = root
    for name in [p for p in path.split("/") if p]:
        if not _has(group, name):
            return None
        group = _child(group, name, where)
    return group


def _store_of(group, where: str) -> dict:
    """The ``vars`` datasets of a layer's group, unread, by key."""
    if group is None or not _has(group, "vars"):
        return {}
    vars_ = _child(group, "vars", where)
    return {key: _child(vars_, key, where) for key in vars_.keys()}


def _weights_plan(model, root, where: str):
    """What loading ``root`` (an open h5 file of Keras's layout) into ``model`` will do, every value read and
    checked first: ``(assignments, hook_calls)``, ``[(weight, array)]`` and ``[(layer, {key: array})]`` for
    the layers whose ``load_own_variables`` is their own. Nothing in the model changes here."""
    assigns, hooks = [], []
    for path, layer, fixed in saveables(model):
        group = _at(root, path, where)
        if fixed is not None:
            params = layer.weights
            if not params:
                continue
            if group is None:
                raise ValueError(f"{where}: no weights for layer {layer.name!r} (looked for {path or '/'})")
            datasets = _group_datasets(group, fixed, where)
            if len(datasets) != len(params):
                raise ModelFileError(f"{where}: {path}: the file holds {len(datasets)} weight arrays for the "
                                     f"{len(params)} of layer {layer.name!r}")
            assigns += [(p, _read_checked(d, p.name, p.shape, p.dtype, where)) for d, p in zip(datasets, params)]
            continue
        store = _store_of(group, where)
        if overrides(layer, "load_own_variables"):
            for key, d in store.items():
                if not isinstance(d, _h5py().Dataset):
                    raise ModelFileError(f"{where}: {path}/vars/{key} is not a dataset")
            hooks.append((layer, {key: np.asarray(d[()]) for key, d in store.items()}))
            continue
        own = own_variables(layer)
        if len(store) != len(own):
            raise ModelFileError(f"{where}: Layer '{layer.name}' expected {len(own)} variables, but received "
                                 f"{len(store)} variables during loading (at {path or '/'}/vars). Expected: "
                                 f"{[v.name for v in own]}")
        for i, p in enumerate(own):
            if str(i) not in store:
                raise ModelFileError(f"{where}: no variable {i} for layer {layer.name!r} at {path or '/'}/vars")
            assigns.append((p, _read_checked(store[str(i)], p.name, p.shape, p.dtype, where)))
    covered = {id(p) for p, _ in assigns} | {id(p) for layer, _ in hooks for p in layer._params.values()}
    missing = [p.name for p in model.weights if id(p) not in covered]
    if missing:
        raise ModelFileError(f"{where}: the file has no values for the model's weights {missing}")
    return assigns, hooks


def apply_plan(model, plan, where: str) -> None:
    """Assign a :func:`_weights_plan` and run its layers' ``load_own_variables``; when one of those fails,
    every weight gets its value from before back and the error names the file."""
    assigns, hooks = plan
    snapshot = [(p, p.numpy().copy()) for p in model.weights]
    try:
        for p, value in assigns:
            p.assign(value)
        for layer, store in hooks:
            layer.load_own_variables(store)
    except Exception as exc:
        for p, value in snapshot:
            p.assign(value)
        raise ModelFileError(f"{where}: loading the weights failed, the model is unchanged "
                             f"({type(exc).__name__}: {exc})") from exc


def _read_checked(dataset, name: str, shape: tuple, dtype, where: str) -> np.ndarray:
    """One dataset's values as ``dtype``, after checking its shape and kind (before reading it) and that
    no value overflows ``dtype`` (a float64 1e300 is no float32 weight)."""
    if tuple(dataset.shape) != tuple(shape):
        raise ModelFileError(f"{where}: weight {name!r} expects shape {tuple(shape)}, the file has "
                             f"{tuple(dataset.shape)}")
    kind = dataset.dtype.kind
    if np.dtype(dtype).kind == "f" and kind != "f" or np.dtype(dtype).kind != "f" and kind == "f":
        raise ModelFileError(f"{where}: weight {name!r} is {np.dtype(dtype)} but the file stores {dataset.dtype} "
                             f"(no silent casts between integers and floats)")
    return checked_cast(np.asarray(dataset[()]), dtype, name, where)


def load_keras_model(members: dict, where: str, custom_objects=None, compile: bool = True):
    """The gradflow model of a Keras ``.keras`` archive: ``members`` maps ``config.json`` and
    ``metadata.json`` to their (bounded) bytes and ``model.weights.h5`` to a callable
    ``open_weights(limit)`` that returns the member's bytes when it is at most ``limit`` bytes."""
    h5py = _h5py()
    config = parse_json(members["config.json"], f"{where}: config.json")
    weights = members["model.weights.h5"]
    stored = max(weights.size, 0) // 2  # the most values the weights member can hold (float16 at least)
    try:
        entry = _from_keras(config, where)
        with _weight_budget(stored + _BUDGET_SLACK, stored, where, "model.weights.h5"):
            model = deserialize_keras_object(entry, custom_objects=custom_objects)
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"{where}: cannot rebuild the Keras model in gradflow: {type(exc).__name__}: {exc}") \
            from exc
    if not model.built:
        raise ModelFileError(f"{where}: the Keras model has no input shape, so its weights cannot be placed")
    params = model.weights
    model_bytes = sum(int(p.data.size) * 8 for p in params)
    limit = 4 * model_bytes + _H5_SLACK  # the weights, the optimizer's slots (up to 3 per weight), HDF5 overhead
    raw = weights(limit)
    compile_cfg = config.get("compile_config") if compile and isinstance(config, dict) else None
    compiled, optimizer_arrays = False, None
    try:
        with h5py.File(io.BytesIO(raw), "r") as f:
            plan = _weights_plan(model, f, where)
            if compile_cfg:
                compiled = _try_compile(model, compile_cfg, where)
            if compiled and _has(f, "optimizer") and _has(_child(f, "optimizer", where), "vars"):
                opt_vars = _child(_child(f, "optimizer", where), "vars", where)
                optimizer_arrays = _optimizer_values(
                    model, [_child(opt_vars, str(i), where) for i in range(len(opt_vars))], where)
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelFileError(f"{where}: unreadable model.weights.h5 ({type(exc).__name__}: {exc})") from None
    apply_plan(model, plan, where)
    apply_hooks(model, {}, members.get("assets"), where, variables=False)
    if optimizer_arrays is not None:
        _set_optimizer_arrays(model, optimizer_arrays, where)
    return model


def _try_compile(model, cfg: dict, where: str) -> bool:
    """Compile ``model`` with a Keras compile config; when that fails, the model still loads (uncompiled)
    with a warning saying what was left out."""
    try:
        _compile_from_keras(model, cfg)
    except Exception as exc:
        warnings.warn(f"{where}: the model loaded, but its Keras compile settings could not be restored "
                      f"({type(exc).__name__}: {exc}); call compile() yourself", RuntimeWarning, stacklevel=4)
        return False
    return True


#: bytes a weights file may hold beyond its arrays (HDF5 headers and metadata)
_H5_SLACK = 16 << 20
#: elements a rebuilt model may allocate beyond what its weights member can store
_BUDGET_SLACK = 1 << 20
def _compile_from_keras(model, cfg: dict) -> None:
    if user_defines(model, "compile_from_config"):  # the model's own hook reads what its get_compile_config wrote
        model.compile_from_config(cfg)
        return
    opt = cfg.get("optimizer")
    if isinstance(opt, dict):
        cls = find("optimizers", opt.get("class_name", ""))
        if cls is None:
            raise ValueError(f"unknown optimizer {opt.get('class_name')!r}")
        opt = cls(**_clean(cls, dict(opt.get("config") or {}), "optimizer"))
    model.compile(optimizer=opt, loss=cfg.get("loss"), metrics=cfg.get("metrics"),
                  loss_weights=cfg.get("loss_weights"), weighted_metrics=cfg.get("weighted_metrics"))


# -- gradflow -> Keras ------------------------------------------------------------------------
def _to_keras(value):
    """A gradflow config value with every nested object config made Keras's."""
    if isinstance(value, list):
        return [_to_keras(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") == "__keras_tensor__":
        return value
    if "class_name" in value and isinstance(value.get("config"), dict):
        name = value["class_name"]
        module = str(value.get("module") or "")
        layer = "layers" in module.split(".")  # a layer named like an initializer (Identity) stays a layer
        if _user_registered(value):  # a user's registered class, even one named like a built-in (Dense)
            keras_module = module or None
        elif not layer and ("initializers" in module or _is(name, "initializers")):
            keras_module = "keras.initializers"
        elif not layer and ("regularizers" in module or _is(name, "regularizers")):
            keras_module = "keras.regularizers"
        elif name in ("Functional", "Model"):
            keras_module, name = "keras.src.models.functional", "Functional"
        elif name == "Sequential":
            keras_module = "keras"
        elif name == "OpLayer" and (as_keras := _op_to_keras(value)) is not None:
            return as_keras
        elif name == "OpLayer":
            op = value["config"]["op"]
            warnings.warn(f"the op {op!r} (node {value['config'].get('name')!r}) has no Keras counterpart in "
                          f"gradflow's table ({', '.join(sorted(_KERAS_OPS))}): it is written as gradflow's OpLayer, "
                          f"so gradflow loads this file and Keras does not; wrap it in a layer for Keras",
                          stacklevel=2)
            keras_module = "gradflow.layers"
        else:
            cls = find("layers", name)
            if name == "TensorOp":
                raise ValueError("arithmetic on symbolic tensors (gradflow's TensorOp layer) has no Keras "
                                 "counterpart; use a Lambda or a merge layer to write a .keras file")
            own = cls is not None and cls.__module__.startswith("gradflow.")
            keras_module = "keras.layers" if own else module  # a user's class keeps its module and registration
        config = _to_keras(value["config"])
        if name == "Sequential":
            config = _keras_sequential_config(config, value["config"])
        elif name != "InputLayer":
            for key in _INPUT_ARGS:  # Keras 3 layers take no input shape: an InputLayer carries it
                config.pop(key, None)
        keras_own = (keras_module or "").startswith("keras")
        out = {"module": keras_module, "class_name": name, "config": config,
               "registered_name": None if keras_own else value.get("registered_name")}
        for key in ("name", "inbound_nodes", "build_config"):
            if key in value:
                out[key] = value[key]
        return out
    return {k: _to_keras(v) for k, v in value.items()}


_INPUT_ARGS = ("batch_input_shape", "input_shape", "batch_size")  # not input_dim: Embedding takes one


def _keras_sequential_config(config: dict, original: dict) -> dict:
    """A Sequential config as Keras 3 writes it: a first layer built with ``input_shape=`` becomes an
    ``InputLayer`` entry with ``batch_shape`` (Keras 3 refuses ``batch_input_shape`` on a layer)."""
    layers = list(config.get("layers") or [])
    if layers and layers[0].get("class_name") != "InputLayer":
        first = (original.get("layers") or [{}])[0].get("config") or {}
        shape = first.get("batch_input_shape")
        if shape is not None:
            layers.insert(0, {"module": "keras.layers", "class_name": "InputLayer",
                              "config": {"batch_shape": list(shape), "dtype": first.get("dtype", "float32"),
                                         "sparse": False, "ragged": False, "name": "input_layer",
                                         "optional": False},
                              "registered_name": None})
    for entry in layers:
        if entry.get("class_name") != "InputLayer" and isinstance(entry.get("config"), dict):
            for key in _INPUT_ARGS:
                entry["config"].pop(key, None)
    return {**config, "layers": layers}


def _is(class_name, kind) -> bool:
    return isinstance(find(kind, class_name), type)


class _H5Store:
    """The dict-like ``store`` a layer's ``save_own_variables`` fills: the ``vars`` group at its path."""

    def __init__(self, group, name: str):
        self.vars = group.require_group("vars")
        self.vars.attrs["name"] = name

    def __setitem__(self, key, value) -> None:
        value = value.numpy() if hasattr(value, "numpy") else np.asarray(value)
        self.vars.create_dataset(str(key), data=value)

    def __getitem__(self, key):
        return np.asarray(self.vars[str(key)][()])

    def __contains__(self, key) -> bool:
        return str(key) in self.vars

    def keys(self):
        return list(self.vars.keys())

    def __len__(self) -> int:
        return len(self.vars)


def write_weights(root, model) -> None:
    """Every layer's state into the open h5 file ``root``, at Keras's paths (:mod:`.walk`)."""
    for path, layer, fixed in saveables(model):
        group = root.require_group(path) if path else root
        if fixed is not None:
            _write_group(group, layer, fixed)
        else:
            layer.save_own_variables(_H5Store(group, layer.name))


def _write_group(group, layer, name: str) -> None:
    """One gradflow layer's weights where Keras keeps them (see ``_group_datasets``)."""
    weights = [w.numpy() for w in layer.weights]
    if name in ("MultiHeadAttention", "GroupQueryAttention"):
        group.create_group("vars")
        per = 2 if layer.use_bias else 1
        subs = [sub for sub in _SUBGROUPS[name] if sub != "_gate_dense" or layer.use_gate]
        for i, sub in enumerate(subs):
            vars_ = group.create_group(sub).create_group("vars")
            for j, w in enumerate(weights[i * per:(i + 1) * per]):
                vars_.create_dataset(str(j), data=w)
        for sub in _EMPTY_SUBGROUPS.get(name, []):
            group.create_group(sub).create_group("vars")
        return
    vars_ = group.create_group("vars")
    for i, w in enumerate(weights):
        vars_.create_dataset(str(i), data=w)


def _write_optimizer(f, model) -> None:
    vars_ = f.create_group("optimizer").create_group("vars")
    for i, arr in enumerate(_optimizer_arrays(model)):
        vars_.create_dataset(str(i), data=arr)


def _optimizer_arrays(model) -> list:
    """The optimizer's variables in Keras's order: iteration, learning rate (when constant), then each
    trainable weight's slots (Keras's and gradflow's slot names and orders agree)."""
    opt = model.optimizer
    params = model._optimizer_params()
    state = opt.get_state(params)
    out = [np.asarray(state["iterations"], dtype=np.int64)]
    if "learning_rate" in state:
        out.append(np.asarray(state["learning_rate"], dtype=np.float32))
    if getattr(opt, "use_ema", False):  # Keras: the moving averages come before the slots
        out += [state.get(f"param_{i}/average", np.zeros(p.shape, p.dtype)) for i, p in enumerate(params)]
    for i in range(len(params)):
        for slot in opt._slot_names():
            key = f"param_{i}/{slot}"
            if key not in state:
                raise ValueError(f"the optimizer has no {slot!r} state for weight {params[i].name!r} (a weight that "
                                 f"was frozen when it stepped); save after a step of every trainable weight")
            out.append(state[key])
    return out


def _optimizer_values(model, datasets, where) -> list:
    """The optimizer variables' values, each checked against the variable it will fill (count, shape, kind)
    before it is read; a mismatch is an error, as in Keras."""
    opt = model.optimizer
    params = model._optimizer_params()
    names = opt._slot_names()
    has_lr = opt.get_config().get("learning_rate") is not None and not isinstance(
        opt.get_config().get("learning_rate"), dict)
    n_ema = len(params) if getattr(opt, "use_ema", False) else 0
    expected = 1 + int(has_lr) + n_ema + len(params) * len(names)
    if len(datasets) != expected:
        raise ModelFileError(f"{where}: the file holds {len(datasets)} optimizer variables, the model's optimizer "
                             f"({type(opt).__name__}) needs {expected}")
    specs = [("iterations", (), np.int64)] + ([("learning_rate", (), np.float32)] if has_lr else [])
    specs += [(f"{p.name}/average", tuple(p.shape), p.dtype) for p in params[:n_ema]]
    specs += [(f"{p.name}/{slot}", tuple(p.shape), p.dtype) for p in params for slot in names]
    out = []
    for d, (name, shape, dtype) in zip(datasets, specs):
        if name == "iterations":  # Keras stores int64; an integer count either way
            if tuple(d.shape) != () or d.dtype.kind not in "iu":
                raise ModelFileError(f"{where}: optimizer variable 'iterations' is {d.dtype}{tuple(d.shape)}, "
                                     f"expected an integer scalar")
            out.append(np.asarray(d[()], dtype=np.int64))
        else:
            out.append(_read_checked(d, f"optimizer {name}", shape, dtype, where))
    return out


def _set_optimizer_arrays(model, arrays, where) -> None:
    opt = model.optimizer
    params = model._optimizer_params()
    names = opt._slot_names()
    n_ema = len(params) if getattr(opt, "use_ema", False) else 0
    has_lr = len(arrays) == 2 + n_ema + len(params) * len(names)
    state = {"iterations": np.asarray(arrays[0], dtype=np.int64)}
    rest = arrays[1:]
    if has_lr:
        state["learning_rate"], rest = np.asarray(rest[0], dtype=np.float64), rest[1:]
    for i in range(n_ema):
        state[f"param_{i}/average"] = rest[i]
    rest = rest[n_ema:]
    for i in range(len(params)):
        for j, slot in enumerate(names):
            state[f"param_{i}/{slot}"] = rest[i * len(names) + j]
    opt.set_state(state, params)


def _keras_compile_config(model) -> dict:
    args = model._compile_args or {}
    opt = model.optimizer

    def plain(value):
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        name = getattr(value, "name", None) or getattr(value, "__name__", None)
        if not isinstance(name, str):
            raise ValueError(f"cannot write {value!r} in a .keras compile config")
        return name

    return {"optimizer": {"module": "keras.optimizers", "class_name": type(opt).__name__, "config": opt.get_config(),
                          "registered_name": None},
            "loss": plain(args.get("loss")), "loss_weights": args.get("loss_weights"),
            "metrics": plain(args.get("metrics")), "weighted_metrics": plain(args.get("weighted_metrics")),
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}


def save_keras_model(model, path) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file (architecture and weights; Keras loads it)."""
    h5py = _h5py()
    if not model.built:
        raise ValueError(f"cannot save model {model.name!r}: it is not built yet")
    entry = _to_keras(serialize_keras_object(model))
    if is_a(model, "Sequential"):
        entry["build_config"] = {"input_shape": list(model.input_shape)}
    opt = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    if opt is not None:
        entry["compile_config"] = (serialize_keras_object(model.get_compile_config())  # as Keras: objects in it
                                   if user_defines(model, "get_compile_config") else _keras_compile_config(model))
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write_weights(f, model)
        if opt is not None and opt.built:
            _write_optimizer(f, model)
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.now(timezone.utc).strftime("%Y-%m-%d@%H:%M:%S")}
    payload = [("metadata.json", json.dumps(metadata).encode()), ("config.json", json.dumps(entry).encode()),
               ("model.weights.h5", buffer.getvalue())] + asset_entries(model)

    def write(fh):
        with zipfile.ZipFile(fh, "w") as zf:
            for name, data in payload:
                zf.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data,
                            compress_type=zipfile.ZIP_STORED if name.endswith(".h5") else zipfile.ZIP_DEFLATED)

    atomic_write(os.fspath(path), write)


# -- weights alone: Keras 3's .weights.h5 (and the weights inside a .keras file) ------------------
def _h5_limit(model) -> int:
    """The most a weights file for ``model`` may take: its weights, the optimizer's slots (up to 3 per
    weight) and HDF5 overhead."""
    return 4 * sum(int(p.data.size) * 8 for p in model.weights) + _H5_SLACK


def save_keras_weights(model, path) -> None:
    """Write ``model``'s weights (and a built optimizer's variables, as Keras does) in Keras 3's
    ``.weights.h5`` layout, so ``keras_model.load_weights(path)`` reads them."""
    h5py = _h5py()
    if not model.built:
        raise ValueError(f"cannot save the weights of model {model.name!r}: it is not built yet; call "
                         f"build(input_shape) or give the first layer input_shape=")
    opt = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        write_weights(f, model)
        if opt is not None and opt.built:
            _write_optimizer(f, model)
    data = buffer.getvalue()
    atomic_write(os.fspath(path), lambda fh: fh.write(data))


def load_keras_weights(model, read, where: str, assets=None) -> None:
    """Load Keras-layout h5 weights into ``model``: ``read(limit)`` returns the h5 bytes (refusing more than
    ``limit``). Every value is read and checked before the model changes; a failure leaves it unchanged."""
    h5py = _h5py()
    if not model.built:
        raise ValueError(f"cannot load weights into model {model.name!r}: it is not built yet; call "
                         f"build(input_shape) or give the first layer input_shape= first")
    raw = read(_h5_limit(model))
    try:
        with h5py.File(io.BytesIO(raw), "r") as f:
            plan = _weights_plan(model, f, where)
    except ModelFileError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelFileError(f"{where}: unreadable h5 weights ({type(exc).__name__}: {exc})") from None
    snapshot = [(p, p.numpy().copy()) for p in model.weights]
    apply_plan(model, plan, where)
    if assets is not None:
        try:
            apply_hooks(model, {}, assets, where, variables=False)
        except ModelFileError:
            for p, value in snapshot:
                p.assign(value)
            raise
