"""Where each layer of a model keeps its state in a file: Keras 3's paths (``saving_lib._walk_saveable``).

A model is visited depth first from the root (path ``""``): a Sequential or functional model's
``layers`` come first (``layers/<class name in snake case, numbered _1, _2...>``); any other layer's
sublayers follow under the attribute that holds them, attributes sorted by name with private ones
last (a list or dict of layers is a container: ``<attr>/<snake name>``). Each layer is visited once
(at the first path that reaches it). gradflow's own layers keep the fixed layouts
:mod:`gradflow.saving.keras_format` knows (attention projections); RNN wrappers are walked by
attribute; the user's layers go through their ``save_own_variables`` / ``load_own_variables`` /
``save_assets`` / ``load_assets`` hooks.
"""
from __future__ import annotations

from .._naming import snake_case
from .._registry import find_class
from .layer_hooks import SavingHooks, overrides

__all__ = ["saveables", "join", "fixed_layout", "is_a"]

#: gradflow layers whose weights Keras keeps in sub-objects (see keras_format._SUBGROUPS)
_NESTED = ("MultiHeadAttention", "GroupQueryAttention")
#: gradflow classes whose Keras class has another name, so another path (``layers/<snake case>``)
_KERAS_CLASS_NAMES = {"GroupQueryAttention": "GroupedQueryAttention"}
#: gradflow layers that hold other layers as Keras's do (``rnn/cell``, ``rnn/cell/cells/<cell>``,
#: ``bidirectional/forward_layer``, ``time_distributed/layer``): visited by attribute, like models, so any
#: nesting of them (a Bidirectional RNN of StackedRNNCells) lands where Keras keeps it
_WRAPPERS = ("RNN", "StackedRNNCells", "Bidirectional", "TimeDistributed")


def is_a(obj, class_name: str) -> bool:
    """``isinstance(obj, <the registered layer class class_name>)``, without importing models."""
    cls = find_class(class_name, ("layers",))
    return cls is not None and isinstance(obj, cls)


def join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _hooked(obj) -> bool:
    return any(overrides(obj, h) for h in ("save_own_variables", "load_own_variables", "save_assets", "load_assets"))


def fixed_layout(obj):
    """The gradflow class name whose fixed layout ``obj``'s weights follow, or None when its state goes
    through its hooks and its sublayers are visited by attribute (models, the user's layers)."""
    if is_a(obj, "Model") or any(is_a(obj, name) for name in _WRAPPERS):
        return None
    cls = type(obj)
    if cls.__module__.startswith("gradflow.") and not _hooked(obj):  # (a lookup layer's state goes by its hooks)
        return cls.__name__
    if not _hooked(obj):  # a user's subclass of an RNN or attention layer keeps its parent's layout
        for base in cls.__mro__:
            if base.__module__.startswith("gradflow.") and base.__name__ in _NESTED:
                return base.__name__
    return None


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name


def _children(obj) -> list:
    if is_a(obj, "Sequential") or is_a(obj, "Functional"):
        return [("layers", list(obj.layers))]
    tracked = dict(obj.__dict__.get("_tracked") or {})
    if is_a(obj, "Model"):
        tracked.setdefault("layers", list(obj.layers))
    return sorted(tracked.items(), key=lambda kv: _name_key(kv[0]))


def _unique(name: str, used: dict) -> str:
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def saveables(model) -> list:
    """``[(path, layer, fixed)]`` for ``model`` and every layer below it, in Keras's visiting order;
    ``fixed`` is :func:`fixed_layout`'s answer."""
    out: list = []
    visited: set = set()

    def visit(obj, path: str) -> None:
        if id(obj) in visited:
            return
        visited.add(id(obj))
        fixed = fixed_layout(obj)
        out.append((path, obj, fixed))
        if fixed is not None:
            return
        for attr, child in _children(obj):
            if isinstance(child, SavingHooks):
                visit(child, join(path, attr))
            elif isinstance(child, (list, tuple, dict)):
                container(child, join(path, attr), set())

    def container(value, path: str, seen: set) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        used: dict = {}
        for item in (value.values() if isinstance(value, dict) else value):
            if isinstance(item, SavingHooks):
                cls = type(item).__name__
                visit(item, join(path, _unique(snake_case(_KERAS_CLASS_NAMES.get(cls, cls)), used)))
            elif isinstance(item, (list, tuple, dict)):
                container(item, join(path, _unique("container", used)), seen)

    visit(model, "")
    return out
