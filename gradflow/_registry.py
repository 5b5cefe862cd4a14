"""Keras-style lookup of named objects (initializers, regularizers): get / serialize / deserialize.

One place for the rules every ``get(identifier)`` follows: a name, an instance, a class, a
``{"class_name", "config"}`` dict or a plain callable; unknown names suggest the closest one.
Only names in the table can be instantiated from a config (no arbitrary imports).
"""
from __future__ import annotations

import difflib

__all__ = ["NameRegistry"]


class NameRegistry:
    def __init__(self, kind: str, base: type, names: dict[str, type], expects: str, allow_none: bool = False):
        self.kind, self.base, self.names, self.expects, self.allow_none = kind, base, names, expects, allow_none

    def unknown(self, name: str) -> ValueError:
        """ValueError naming the closest valid name (lower-case spellings preferred)."""
        lower = [n for n in self.names if n == n.lower()]
        close = difflib.get_close_matches(name, lower, n=1) or difflib.get_close_matches(name, list(self.names), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else f"; valid names: {', '.join(lower)}"
        return ValueError(f"unknown {self.kind} {name!r}{hint}")

    def serialize(self, obj):
        """``{"class_name": ..., "config": {...}}`` for built-ins, a function's name otherwise."""
        if obj is None and self.allow_none:
            return None
        if isinstance(obj, self.base):
            return {"class_name": type(obj).__name__, "config": obj.get_config()}
        name = getattr(obj, "__name__", None)
        if name is None:
            raise ValueError(f"cannot serialize {self.kind} {obj!r}")
        return name

    def deserialize(self, config: dict):
        """The object described by ``{"class_name": ..., "config": {...}}`` (registered names only)."""
        name = config.get("class_name")
        if name not in self.names:
            raise self.unknown(str(name))
        return self.names[name].from_config(dict(config.get("config") or {}))

    def get(self, identifier):
        """An object from a name, an instance, a class, a config dict or a callable."""
        if (identifier is None and self.allow_none) or isinstance(identifier, self.base):
            return identifier
        if isinstance(identifier, str):
            cls = self.names.get(identifier)
            if cls is None:  # a user's object: registered, in custom_objects or a custom_object_scope
                from .saving.object_registration import get_registered_object

                found = get_registered_object(identifier)
                if found is None:
                    raise self.unknown(identifier)
                return found() if isinstance(found, type) else found
            return cls()
        if isinstance(identifier, dict):
            return self.deserialize(identifier)
        if isinstance(identifier, type) and issubclass(identifier, self.base):
            return identifier()
        if callable(identifier):
            return identifier
        raise ValueError(f"could not interpret {self.kind} {identifier!r}: expected a name, "
                         f"{'an' if self.base.__name__[0] in 'AEIOU' else 'a'} {self.base.__name__}, {self.expects}")
