"""The one registry of named objects: what a config or a ``get(name)`` may instantiate.

Two kinds of entries live here, and nowhere else:

* **built-ins**, by kind (``"layers"``, ``"initializers"``, ``"regularizers"``, ``"losses"``,
  ``"metrics"``, ``"optimizers"``, ``"schedules"``, ``"activations"``): each module registers
  its own classes (or functions) when it is imported; every ``Layer`` subclass registers itself
  (``Layer.__init_subclass__``);
* **the user's objects** (Keras 3's ``object_registration``): those decorated with
  :func:`register_keras_serializable` (under ``"package>Name"``), and those passed as
  ``custom_objects`` or in an active :class:`CustomObjectScope`.

It imports nothing of gradflow, so every module can register and look up here without an
import circle; :mod:`gradflow.saving` finds classes here and never imports models or layers.
``import gradflow`` imports the Keras-style submodules on first use, so the package installs a
*loader* (:func:`set_loader`) that a lookup calls once, on a miss, to import the modules that
register the built-ins.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

__all__ = ["register", "register_all", "register_module", "registered", "find", "find_class", "set_loader", "claim",
           "is_internal",
           "NameRegistry", "register_keras_serializable", "get_registered_object", "get_registered_name",
           "registered_name", "CustomObjectScope", "custom_object_scope", "get_custom_objects", "CLASS_KINDS"]

#: the kinds a config's ``class_name`` is looked up in, in this order (a layer named like an
#: initializer, ``Identity``, is the layer)
CLASS_KINDS = ("layers", "regularizers", "initializers", "losses", "metrics", "optimizers", "schedules")

_BUILTINS: dict[str, dict[str, object]] = {}
_CUSTOM_OBJECTS: dict[str, object] = {}
_CUSTOM_NAMES: dict[object, str] = {}
_SCOPE = threading.local()
_LOADER: list[Callable[[], None]] = []  # at most one: the package's "import every registering module"


# -- built-ins --------------------------------------------------------------------------------
def register(kind: str, name: str, obj: object) -> None:
    """Make ``obj`` known as ``name`` among the ``kind`` built-ins (a later entry replaces one)."""
    _BUILTINS.setdefault(kind, {})[name] = obj


def is_internal(cls) -> bool:
    """Whether ``cls`` is gradflow's but private to it: defined in a private module (``applications._layers``)
    or inside a function, so it is no public Keras name's class."""
    parts = str(getattr(cls, "__module__", "") or "").split(".")
    return parts[0] == "gradflow" and (any(p.startswith("_") for p in parts[1:])
                                       or "<locals>" in getattr(cls, "__qualname__", ""))


def claim(kind: str, name: str, cls: type) -> bool:
    """Register ``cls`` as ``name`` among the ``kind`` built-ins unless it would shadow the class a config of
    that name means: a user's class never replaces one of gradflow's (custom_objects does that), and a
    gradflow-internal class never replaces a public one (an application's private ``Normalization`` built
    after the public layer must not become ``Normalization`` in configs). True when registered."""
    table = registered(kind)
    existing = table.get(name)
    if existing is not None and existing is not cls:
        existing_ours = str(getattr(existing, "__module__", "")).startswith("gradflow.")
        if existing_ours and not str(cls.__module__).startswith("gradflow."):
            return False
        if existing_ours and is_internal(cls) and not is_internal(existing):
            return False
    table[name] = cls
    return True


def register_all(kind: str, objects: Iterable[object]) -> None:
    """Register each class or function under its ``__name__``."""
    for obj in objects:
        register(kind, obj.__name__, obj)  # type: ignore[attr-defined]


def register_module(kind: str, namespace: dict) -> None:
    """Register the public classes of a module that a config can rebuild (``from_config``), under
    their module-level names (aliases too); called at the end of the module with ``globals()``."""
    module = namespace["__name__"]
    for name, obj in list(namespace.items()):
        if not name.startswith("_") and isinstance(obj, type) and obj.__module__ == module \
                and hasattr(obj, "from_config"):
            register(kind, name, obj)
            register(kind, obj.__name__, obj)


def registered(kind: str) -> dict[str, object]:
    """The live table of a kind (name -> object); modules keep a reference to their own."""
    return _BUILTINS.setdefault(kind, {})


def set_loader(loader: Callable[[], None]) -> None:
    """Install the function that imports every module registering built-ins (the package's)."""
    _LOADER[:] = [loader]


def _load() -> bool:
    """Run the loader once; True when it ran (so a lookup is worth repeating)."""
    if not _LOADER:
        return False
    loader = _LOADER.pop()
    loader()
    return True


def find(kind: str, name: str) -> object | None:
    """The ``kind`` built-in called ``name``, importing the registering modules on a first miss."""
    table = registered(kind)
    if name not in table:
        _load()
    return table.get(name)


def find_class(name: str, kinds: Iterable[str] = CLASS_KINDS) -> type | None:
    """The first class called ``name`` among ``kinds`` (a config's ``class_name``), or None."""
    kinds = tuple(kinds)
    for attempt in range(2):
        for kind in kinds:
            found = _BUILTINS.get(kind, {}).get(name)
            if isinstance(found, type):
                return found
        if attempt == 0 and not _load():
            break
    return None


# -- the user's objects (Keras 3's object_registration) ---------------------------------------
def register_keras_serializable(package: str = "Custom", name: str | None = None):
    """Decorator: register a class (or function) for loading under ``"package>name"``."""
    def decorator(obj):
        key = f"{package}>{name or obj.__name__}"
        if isinstance(obj, type) and not hasattr(obj, "get_config"):
            raise ValueError(f"register_keras_serializable: {obj.__name__} needs a get_config() method")
        _CUSTOM_OBJECTS[key] = obj
        _CUSTOM_NAMES[obj] = key
        return obj

    return decorator


def get_registered_name(obj) -> str:
    """The name ``obj`` was registered under, else its ``__name__``."""
    return _CUSTOM_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def registered_name(obj) -> str | None:
    """The ``"package>name"`` key of a registered object, None for others."""
    try:
        return _CUSTOM_NAMES.get(obj)
    except TypeError:  # an unhashable object is never registered
        return None


def get_custom_objects() -> dict:
    """The global registry of custom objects (mutable, as Keras's)."""
    return _CUSTOM_OBJECTS


class CustomObjectScope:
    """``with CustomObjectScope({"MyLayer": MyLayer}): load_model(...)``."""

    def __init__(self, *objects):
        self.objects = {}
        for mapping in objects:
            self.objects.update(mapping or {})

    def __enter__(self):
        stack = getattr(_SCOPE, "stack", None)
        if stack is None:
            stack = _SCOPE.stack = []
        stack.append(self.objects)
        return self

    def __exit__(self, *exc):
        _SCOPE.stack.pop()
        return False


custom_object_scope = CustomObjectScope


def get_registered_object(name: str, custom_objects: dict | None = None, module_objects: dict | None = None):
    """The object called ``name`` in custom_objects, the active scopes, the registry or ``module_objects``."""
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    for scope in reversed(getattr(_SCOPE, "stack", None) or []):
        if name in scope:
            return scope[name]
    if name in _CUSTOM_OBJECTS:
        return _CUSTOM_OBJECTS[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


# -- Keras's get / serialize / deserialize rules over one kind ---------------------------------
class NameRegistry:
    """``get(identifier)`` and (de)serialisation for one kind of built-in (initializers, regularizers).

    One place for the rules every ``get(identifier)`` follows: a name, an instance, a class, a
    ``{"class_name", "config"}`` dict or a plain callable; unknown names suggest the closest one.
    Only registered names can be instantiated from a config (no arbitrary imports).
    """

    def __init__(self, kind: str, base: type, table: str, expects: str, allow_none: bool = False):
        self.kind, self.base, self.expects, self.allow_none = kind, base, expects, allow_none
        self.names = registered(table)

    def unknown(self, name: str) -> ValueError:
        """ValueError naming the closest valid name (lower-case spellings preferred)."""
        import difflib  # noqa: PLC0415 - error path only: difflib (and heapq) add ~1 ms to import gradflow

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
