"""Keras 3's name scopes, for variable paths only: a layer's weights sit at ``<parent path>/<layer>/<name>``,
where the parent path is the scope the layer was first built or called in (``sequential/dense/kernel``,
``outer/inner_dense/kernel`` for a sublayer built inside its owner, ``dense/kernel`` at top level).

Scopes open where Keras opens them: around ``build`` and a layer's first (building) call, concrete or
symbolic. Later calls open none, so running a built model costs nothing here."""
from __future__ import annotations

import threading

__all__ = ["current_path", "name_scope", "weight_path"]

_LOCAL = threading.local()


def current_path() -> str:
    """The innermost open scope's path ('' outside every scope)."""
    stack = getattr(_LOCAL, "stack", None)
    return stack[-1] if stack else ""


def _own_path(layer) -> str:
    parent = layer.__dict__.get("_parent_path")
    if parent is None:
        parent = current_path()
    return f"{parent}/{layer.name}" if parent else layer.name


class name_scope:
    """``with name_scope(layer):`` the layer's scope; its parent path is fixed the first time (Keras's
    ``_open_name_scope``), so reopening it elsewhere later keeps its weights' paths."""

    __slots__ = ("layer",)

    def __init__(self, layer):
        self.layer = layer

    def __enter__(self):
        d = self.layer.__dict__
        if d.get("_parent_path") is None:
            d["_parent_path"] = current_path()
        stack = _LOCAL.__dict__.setdefault("stack", [])
        stack.append(_own_path(self.layer))
        return self

    def __exit__(self, *exc) -> bool:
        _LOCAL.stack.pop()
        return False


def weight_path(layer, name: str) -> str:
    """The ``.path`` of ``layer``'s weight ``name`` created now (Keras's ``add_weight`` scope)."""
    return f"{_own_path(layer)}/{name}"
