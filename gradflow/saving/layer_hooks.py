"""Keras 3's saving hooks on every layer (``Layer`` inherits :class:`SavingHooks`).

* ``save_own_variables(store)`` / ``load_own_variables(store)``: the layer's own variables (not its
  sublayers'), trainable ones first, in a dict-like ``store`` keyed ``"0"``, ``"1"``, ... as Keras
  keeps them (``<layer path>/vars/<i>`` in an h5 file). A layer overrides them to save other state.
* ``save_assets(dir_path)`` / ``load_assets(dir_path)``: files of the layer's own (a vocabulary, a
  lookup table) in a folder of its own; the defaults save nothing.
* ``get_build_config()`` / ``build_from_config(config)``: the input shape the layer was built for,
  and building it again from that before its variables are loaded.

``save``/``load_model`` (both formats), ``save_weights``/``load_weights`` call them through
:func:`overrides` and :mod:`gradflow.saving.walk`; this module imports nothing from layers or models.
"""
from __future__ import annotations

import numpy as np

__all__ = ["SavingHooks", "overrides", "own_variables", "user_defines"]


#: gradflow layers whose Keras counterparts save only their named weights (their own save_own_variables):
#: a keras.Variable a subclass tracks as an attribute is not among them
_NAMED_WEIGHTS = frozenset({"Dense", "EinsumDense", "Embedding", "_Conv"})


def own_variables(layer) -> list:
    """The variables ``layer`` created itself, Keras's order: trainable ones first, then the others."""
    params = list(getattr(layer, "_params", {}).values())
    extra = layer.__dict__.get("_attr_variables")
    if extra and any(k.__name__ in _NAMED_WEIGHTS and k.__module__.startswith("gradflow.")
                     for k in type(layer).__mro__):
        params = [p for p in params if id(p) not in extra]
    return [p for p in params if p.trainable] + [p for p in params if not p.trainable]


def _as_shape(shape):
    """A build config's JSON shape (lists) as the tuple ``build`` takes; nested structures keep their nesting."""
    if isinstance(shape, (list, tuple)) and all(d is None or isinstance(d, int) for d in shape):
        return tuple(shape)
    if isinstance(shape, dict):
        return {k: _as_shape(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return [_as_shape(s) for s in shape]
    return shape


def _jsonable(shape):
    if isinstance(shape, dict):
        return {k: _jsonable(v) for k, v in shape.items()}
    if isinstance(shape, (list, tuple)):
        return [_jsonable(s) if isinstance(s, (list, tuple, dict)) else (None if s is None else int(s))
                for s in shape]
    return shape


class SavingHooks:
    """Keras 3's four pairs of saving hooks, with Keras's default behaviour."""

    def save_own_variables(self, store) -> None:
        """Put this layer's own variables in ``store`` under ``"0"``, ``"1"``, ... (Keras order)."""
        for i, v in enumerate(own_variables(self)):
            store[str(i)] = v.numpy()

    def load_own_variables(self, store) -> None:
        """Set this layer's own variables from ``store`` (as ``save_own_variables`` wrote it). The count
        and every shape are checked before any variable changes."""
        variables = own_variables(self)
        if len(store.keys()) != len(variables):
            if not variables and not self.built:  # Keras: an unbuilt layer with nothing stored loads fine
                return
            raise ValueError(f"Layer '{self.name}' expected {len(variables)} variables, but received "
                             f"{len(store.keys())} variables during loading. Expected: "
                             f"{[v.name for v in variables]}")
        values = []
        for i, v in enumerate(variables):
            value = np.asarray(store[str(i)])
            if tuple(value.shape) != tuple(v.shape):
                raise ValueError(f"Layer '{self.name}': variable {v.name!r} expects shape {tuple(v.shape)}, "
                                 f"the file has {tuple(value.shape)}")
            values.append(value)
        for v, value in zip(variables, values):
            v.assign(value)

    def save_assets(self, dir_path) -> None:
        """Write this layer's files into the folder ``dir_path`` (nothing by default)."""

    def load_assets(self, dir_path) -> None:
        """Read what ``save_assets`` wrote in ``dir_path`` (nothing by default)."""

    def get_build_config(self):
        """``{"input_shape": ...}`` of a built layer (what ``build_from_config`` needs), else None."""
        shape = getattr(self, "input_shape", None)
        if not getattr(self, "built", False) or shape is None:
            return None
        return {"input_shape": _jsonable(shape)}

    def build_from_config(self, config) -> None:
        """Build the layer for the input shape of ``get_build_config()`` (Keras: ``input_shape`` or
        ``shapes_dict``), so its variables exist before they are loaded."""
        if not config or getattr(self, "built", False):
            return
        if "input_shape" in config:
            self._build_once(_as_shape(config["input_shape"]))  # build, mark built, record the shape
        elif "shapes_dict" in config:
            shapes = {k: _as_shape(v) for k, v in config["shapes_dict"].items()}
            self.build(**shapes)
            self.built = True


def overrides(obj, name: str) -> bool:
    """Whether ``obj``'s class defines hook ``name`` itself rather than taking the default above."""
    method = getattr(type(obj), name, None)
    return method is not None and method is not getattr(SavingHooks, name)


def user_defines(obj, name: str) -> bool:
    """Whether the class that gives ``obj`` its ``name`` method is the user's (not one of gradflow's)."""
    for klass in type(obj).__mro__:
        if name in klass.__dict__:
            return not klass.__module__.startswith("gradflow.")
    return False
