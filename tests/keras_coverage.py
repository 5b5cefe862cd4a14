"""How much of Keras 3's public API gradflow has, and how much of it computes what Keras computes.

``python -m tests.keras_coverage [namespace ...] [--missing] [--failing]`` prints, for each Keras
namespace of issue 23, Keras's public names (from the installed Keras, on its torch backend, less what
only makes sense inside another framework), how many ``gradflow.<namespace>`` has, how many have a
differential case, and how many pass it.

A differential case is a function ``case(k, gf)`` (``k`` the real ``keras`` module, ``gf`` ``gradflow``)
that runs the same inputs through both and raises (an ``AssertionError``) where they differ. Register
one with ``@case("activations", "glu", ...)`` in any module of ``tests/keras_cases/``: every module there
is loaded by path, so the registry works under ``python -m`` and under pytest's importlib mode alike.
"""
from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

#: Keras's namespaces that issue 23 counts, in the order of its table
NAMESPACES = ("layers", "ops", "ops.numpy", "ops.nn", "ops.image", "ops.linalg", "metrics", "losses", "constraints",
              "optimizers", "optimizers.schedules", "utils", "config", "tree", "mixed_precision", "activations",
              "initializers", "backend", "callbacks", "datasets", "applications")
#: what only makes sense inside another framework (not counted)
EXCLUDED = frozenset({"JaxLayer", "FlaxLayer", "TFSMLayer", "TorchModuleWrapper", "export", "quantizers",
                      "OrbaxCheckpoint"})

Case = Callable[[object, object], None]
#: (namespace, name) -> every case registered for it, in registration order: a module that checks more of
#: a name than another module does registers its own case, and the report runs them all
REGISTERED: dict[tuple[str, str], list[Case]] = {}
#: (namespace, name) -> one callable that runs every case registered for it
CASES: dict[tuple[str, str], Case] = {}
CASES_DIR = Path(__file__).resolve().parent / "keras_cases"


def case(namespace: str, *names: str):
    """Register the decorated ``fn(k, gf)`` as a differential case of each of ``names`` in ``namespace``
    (a case for several names may take a third argument, the name). A name may have cases in several
    modules: each is registered, and all of them run."""
    def register(fn):
        for name in names:
            key = (namespace, name)
            REGISTERED.setdefault(key, []).append(_bind(fn, name))
            CASES[key] = _run_all(key)
        return fn
    return register


def _bind(fn, name):
    if fn.__code__.co_argcount >= 3:
        def bound(k, gf):
            return fn(k, gf, name)
    else:
        def bound(k, gf):
            return fn(k, gf)
    bound._fn = fn  # type: ignore[attr-defined]
    return bound


def _run_all(key):
    def run(k, gf):
        for fn in REGISTERED[key]:
            fn(k, gf)
    return run


def case_identity(fn) -> tuple:
    """What makes two registered cases one run: a case taking the name runs once per name, a two-argument
    case registered for several names runs once for all of them."""
    inner = fn._fn
    return (id(inner),) if inner.__code__.co_argcount < 3 else (id(inner), id(fn))


_loaded = False


def case_module(stem: str):
    """``tests/keras_cases/<stem>.py``, imported once by path (the folder is not a package) and kept in
    ``sys.modules`` as ``_keras_cases_<stem>``: the tests that run a module's cases and the coverage report
    share one copy. Its ``from keras_coverage import case`` resolves to this module."""
    sys.modules.setdefault("keras_coverage", sys.modules[__name__])
    name = f"_keras_cases_{stem}"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, CASES_DIR / f"{stem}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[name]
            raise
    return module


def load_cases() -> dict[tuple[str, str], Case]:
    """Import every module of ``tests/keras_cases/`` (once) so that their cases are registered here."""
    global _loaded
    if not _loaded:
        _loaded = True
        sys.modules.setdefault("tests.keras_coverage", sys.modules[__name__])
        for path in sorted(CASES_DIR.glob("*.py")):
            if not path.name.startswith("_"):
                case_module(path.stem)
    return CASES


def real_keras():
    """Keras on its torch backend (set before Keras is first imported)."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras  # noqa: PLC0415 - optional heavy dependency, only for this report

    return keras


def _resolve(root, dotted: str):
    module = root
    for part in dotted.split("."):
        try:
            module = getattr(module, part, None)
        except ImportError:  # a lazily imported submodule that does not exist yet
            return None
        if module is None:
            return None
    return module


def keras_names(k, namespace: str) -> list[str]:
    module = _resolve(k, namespace)
    return sorted(n for n in dir(module) if not n.startswith("_") and n not in EXCLUDED)


def gradflow_namespace(gf, namespace: str):
    """``gradflow.<namespace>``; Keras's ``ops.numpy``/``ops.nn``/... fall back to ``gradflow.ops`` when
    gradflow has no such submodule (Keras exports every one of their names in ``keras.ops`` too)."""
    module = _resolve(gf, namespace)
    if module is None and namespace.startswith("ops."):
        module = gf.ops
    return module


@dataclass
class Row:
    namespace: str
    names: list[str]
    present: list[str] = field(default_factory=list)
    with_case: list[str] = field(default_factory=list)
    passing: list[str] = field(default_factory=list)
    failures: dict[str, str] = field(default_factory=dict)

    @property
    def missing(self) -> list[str]:
        return [n for n in self.names if n not in self.present]


def run_case(fn: Case, k, gf) -> str | None:
    """None if the case passes, else a one-line reason."""
    try:
        fn(k, gf)
    except Exception as exc:  # noqa: BLE001 - a case fails whatever it raises
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} ({Path(last.filename).name}:" \
               f"{last.lineno})"
    return None


def report(namespaces=NAMESPACES, k=None, gf=None, run=True) -> list[Row]:
    """One row per namespace; ``run=False`` counts names and cases without running the cases."""
    k = k if k is not None else real_keras()
    if gf is None:
        gf = importlib.import_module("gradflow")
    load_cases()
    outcomes: dict[tuple, str | None] = {}  # a case shared by several names runs once
    rows = []
    for namespace in namespaces:
        row = Row(namespace, keras_names(k, namespace))
        module = gradflow_namespace(gf, namespace)
        for name in row.names:
            if module is not None and hasattr(module, name):
                row.present.append(name)
            fns = REGISTERED.get((namespace, name))
            if not fns:
                continue
            row.with_case.append(name)
            if not run:
                continue
            why = None
            for fn in fns:  # every case registered for the name; the first failure is the reason
                ident = case_identity(fn)
                if ident not in outcomes:
                    outcomes[ident] = run_case(fn, k, gf)
                why = why or outcomes[ident]
            if why is None:
                row.passing.append(name)
            else:
                row.failures[name] = why
        rows.append(row)
    return rows


def format_table(rows: list[Row]) -> str:
    head = f"| {'namespace':<22} | {'Keras':>5} | {'present':>9} | {'cases':>5} | {'passing':>9} |"
    lines = [head, "|" + "-" * 24 + "|------:|----------:|------:|----------:|"]
    tot = [0, 0, 0, 0]
    for r in rows:
        n, p, c, ok = len(r.names), len(r.present), len(r.with_case), len(r.passing)
        tot = [tot[0] + n, tot[1] + p, tot[2] + c, tot[3] + ok]
        lines.append(f"| {r.namespace:<22} | {n:>5} | {p:>4} {_pct(p, n):>4} | {c:>5} | {ok:>4} {_pct(ok, n):>4} |")
    n, p, c, ok = tot
    lines.append(f"| {'total':<22} | {n:>5} | {p:>4} {_pct(p, n):>4} | {c:>5} | {ok:>4} {_pct(ok, n):>4} |")
    return "\n".join(lines)


def _pct(a: int, b: int) -> str:
    return f"{100 * a // b}%" if b else "-"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.keras_coverage", description=__doc__.splitlines()[0])
    parser.add_argument("namespaces", nargs="*", help=f"namespaces to report (default: all of {NAMESPACES})")
    parser.add_argument("--missing", action="store_true", help="list the names gradflow lacks")
    parser.add_argument("--failing", action="store_true", help="list the cases that fail, with why")
    args = parser.parse_args(argv)
    unknown = [n for n in args.namespaces if n not in NAMESPACES]
    if unknown:
        parser.error(f"unknown namespace(s) {unknown}; choose from {', '.join(NAMESPACES)}")
    rows = report(tuple(args.namespaces) or NAMESPACES)
    print(format_table(rows))
    for r in rows:
        if args.missing and r.missing:
            print(f"\n{r.namespace} missing ({len(r.missing)}): {', '.join(r.missing)}")
        if args.failing and r.failures:
            print(f"\n{r.namespace} failing ({len(r.failures)}):")
            for name, why in r.failures.items():
                print(f"  {name}: {why}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
