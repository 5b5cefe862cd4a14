"""The import graph of ``gradflow`` has no circles of three or more modules.

Dependencies point one way (DESIGN.md): trainers use models, models use layers, layers use
ops, ops use autograd and dispatch, dispatch uses kernels and backend; ``saving/`` finds
classes through the registry and never imports models or layers; ``ops/`` never imports
layers.  This test reads every module of the package with :mod:`ast` (no import is run) and
builds the graph of what imports what, then fails on any strongly-connected component of
three or more modules.

How an import becomes an edge:

* Every ``import`` / ``from ... import`` statement counts, at module level and inside
  functions, classes or ``if TYPE_CHECKING:`` blocks alike (an import inside a function is
  still a dependency, only a later one).  Relative imports are resolved against the module's
  package.
* ``from pkg import name`` is an edge to ``pkg.name`` when that is a module of ``gradflow``,
  else to ``pkg`` itself.
* A package's ``__init__`` is the node of the package: ``import gradflow.layers`` or
  ``from gradflow.layers import Dense`` depends on everything ``layers/__init__.py``
  imports.  The implicit import of a parent package that Python performs before a submodule
  (``gradflow.ops.nn`` runs ``gradflow/ops/__init__.py`` first) is not an edge: otherwise
  every module would depend on ``gradflow/__init__.py`` and the graph would be one circle.
* Only modules of ``gradflow`` are nodes; third-party and standard-library imports are
  ignored.

Two-module circles (a module and the one helper it shares state with) are tolerated; three
or more fail. The layering rules of DESIGN.md that can be read off single edges are checked too.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import gradflow

PACKAGE = "gradflow"
#: package name -> its folder; ``gradflow.kernels`` installs from the top-level kernels/ folder
ROOTS = {PACKAGE: Path(gradflow.__file__).resolve().parent,
         f"{PACKAGE}.kernels": Path(importlib.util.find_spec(f"{PACKAGE}.kernels").origin).resolve().parent}
MAX_CIRCLE = 2

#: (importer prefix, forbidden prefix, why): layering rules of DESIGN.md
FORBIDDEN = [
    ("gradflow.saving", "gradflow.models", "saving/ finds classes through the registry"),
    ("gradflow.saving", "gradflow.layers", "saving/ finds classes through the registry"),
    ("gradflow.saving", "gradflow.trainers", "trainers and callbacks use saving, not the reverse"),
    ("gradflow.saving", "gradflow.callbacks", "trainers and callbacks use saving, not the reverse"),
    ("gradflow.layers", "gradflow.models", "models use layers"),
    ("gradflow.layers", "gradflow.trainers", "trainers use models, models use layers"),
    ("gradflow.layers", "gradflow.callbacks", "callbacks sit above layers"),
    ("gradflow.ops", "gradflow.layers", "ops sit below layers"),
    ("gradflow.ops", "gradflow.models", "ops sit below models"),
    ("gradflow.ops", "gradflow.saving", "ops sit below saving"),
    ("gradflow.ops", "gradflow.random", "gradflow.random draws through ops (dropout)"),
    ("gradflow.ops", "gradflow.creation", "gradflow.creation draws from gradflow.random; ops.creation is below"),
    ("gradflow.dispatch", "gradflow.ops", "ops use dispatch"),
    ("gradflow.autograd", "gradflow.ops", "autograd sits below ops (ops attach Tensor's methods)"),
    ("gradflow._registry", "gradflow.", "the registry imports nothing of gradflow"),
]


def module_files() -> dict[str, Path]:
    """Map every dotted module name of the package to its source file."""
    found: dict[str, Path] = {}
    for package, root in ROOTS.items():
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute module named by a (possibly relative) ``from`` import."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """``(target, line, local)`` for every import of a package module in ``module``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local_lines = {
        inner.lineno
        for func in ast.walk(tree)
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(func)
        if isinstance(inner, (ast.Import, ast.ImportFrom))
    }
    is_package = path.name == "__init__.py"
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = _resolve(module, is_package, node)
            names = [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            target = _owner(name, modules)
            if target is not None and target != module:
                found.append((target, node.lineno, node.lineno in local_lines))
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (anywhere in its source)."""
    modules = module_files()
    return {
        name: {target for target, _, _ in imports_of(name, path, modules)}
        for name, path in modules.items()
    }


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix if prefix.endswith(".") else prefix + ".")


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components in no particular order."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert "gradflow.autograd.tensor" in graph
    assert "gradflow.ops" in graph["gradflow"]


def test_the_walk_finds_a_planted_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"f"}, "f": {"e"}}
    sizes = sorted(len(c) for c in strongly_connected(graph))
    assert sizes == [1, 2, 3]


def test_no_import_circle_of_three_or_more_modules():
    circles = [c for c in strongly_connected(import_graph()) if len(c) > MAX_CIRCLE]
    assert not circles, "import circles:\n" + "\n".join(
        f"  {len(c)} modules: " + ", ".join(c) for c in circles
    )


def test_layering_rules():
    graph = import_graph()
    broken = [f"{src} imports {dst} ({why})" for src, targets in graph.items() for dst in sorted(targets)
              for src_prefix, dst_prefix, why in FORBIDDEN
              if _under(src, src_prefix) and _under(dst, dst_prefix) and not _under(dst, src_prefix)]
    assert not broken, "\n".join(broken)
