"""Every CuPy name the code spells exists in the pinned CuPy (cupy_api.json, from the real 14.2
wheel): ``cupy.X``, ``cp.X``, ``xp.X`` (an array module that may be CuPy), ``self.cp.X``,
``rt.cp.X``, ``cupyx.X`` and ``from cupy... import X``. Attributes of arrays and of objects the
code made are checked at run time by the stand-in instead."""
import ast
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = json.loads((Path(__file__).with_name("cupy_api.json")).read_text())
MODULES = {k: set(v) for k, v in API["modules"].items() if isinstance(v, list)}
CLASSES = {k: set(v) for k, v in API["classes"].items() if isinstance(v, list)}
ROOTS = {"cupy": "cupy", "cp": "cupy", "xp": "cupy", "_cp": "cupy", "cupyx": "cupyx"}
ATTR_ROOTS = {("self", "cp"), ("self", "_cp"), ("rt", "cp"), ("self", "xp"), ("rt", "xp")}
# only where xp can be CuPy: the CPU kernels and the float64 oracle always get NumPy
SKIP = ("kernels/cpu/", "kernels/reference.py", "kernels/vectorized.py")


def _chain(node):
    """['cupy', 'cuda', 'runtime', 'getDeviceCount'] for cupy.cuda.runtime.getDeviceCount."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def _check(dotted: list[str]) -> str | None:
    """None if the name exists, else the first missing prefix."""
    prefix = dotted[0]
    for part in dotted[1:]:
        if prefix in MODULES:
            if part not in MODULES[prefix]:
                return f"{prefix}.{part}"
        elif prefix in CLASSES:
            return None if part in CLASSES[prefix] else f"{prefix}.{part}"
        else:
            return None  # an attribute of a function or object: beyond what the list records
        prefix = f"{prefix}.{part}"
    return None


def _guarded_imports(tree) -> set:
    """Imports inside ``try: ... except ImportError`` (or Exception): optional parts, such as
    cupy.cuda.cudnn, gone from CuPy 14, whose absence the code handles."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
                h.type is None or any(isinstance(n, ast.Name) and n.id in ("ImportError", "Exception",
                                                                           "ModuleNotFoundError")
                                      for n in ast.walk(h.type)) for h in node.handlers):
            out.update(id(n) for stmt in node.body for n in ast.walk(stmt) if isinstance(n, ast.ImportFrom))
    return out


def _names_in(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    _parents(tree)
    guarded = _guarded_imports(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in ("cupy", "cupyx"):
            if id(node) in guarded:
                continue
            for alias in node.names:
                dotted = node.module.split(".") + [alias.name]
                if ".".join(dotted) not in MODULES:  # a submodule (cupy.cuda.nccl) is listed on its own
                    yield node.lineno, dotted
        elif isinstance(node, ast.Attribute) and not isinstance(getattr(node, "parent", None), ast.Attribute):
            chain = _chain(node)
            if not chain:
                continue
            if chain[0] in ROOTS:
                yield node.lineno, [ROOTS[chain[0]]] + chain[1:]
            elif tuple(chain[:2]) in ATTR_ROOTS and len(chain) > 2:
                yield node.lineno, ["cupy"] + chain[2:]


def _files():
    for folder in ("gradflow", "kernels", "benchmarks"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if not rel.startswith(SKIP):
                yield rel, path


def _missing():
    out = []
    for rel, path in _files():
        tree_names = list(_names_in(path))
        for lineno, dotted in tree_names:
            if dotted[1:2] == ["_core"] or any(p.startswith("_") and p != "__version__" for p in dotted[1:]):
                continue  # private CuPy modules: code that reaches them guards the import
            bad = _check(dotted)
            if bad:
                out.append(f"{rel}:{lineno}: {'.'.join(dotted)} ({bad} is not in CuPy {API['version']})")
    return sorted(set(out))


def _parents(tree):
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            child.parent = node


def test_every_cupy_name_the_code_spells_exists_in_the_pinned_cupy():
    assert API["version"].startswith("14."), API["version"]
    assert not _missing(), "\n".join(_missing())


def test_the_check_finds_a_name_cupy_lacks(tmp_path):
    assert _check(["cupy", "random", "default_rng"]) is None
    assert _check(["cupy", "cuda", "runtime", "getDeviceCount"]) is None
    assert _check(["cupy", "cuda", "Stream", "null"]) is None
    assert _check(["cupy", "asnumpy"]) is None
    assert _check(["cupy", "random", "Generator", "permutation"]) == "cupy.random.Generator.permutation"
    assert _check(["cupyx", "cudnn"]) == "cupyx.cudnn"
    assert _check(["cupy", "cudnn"]) == "cupy.cudnn"
    sample = tmp_path / "sample.py"
    sample.write_text("import cupy\nx = cupy.fuse_everything\ny = xp.zeros\n")
    assert [".".join(d) for _, d in _names_in(sample)] == ["cupy.fuse_everything", "cupy.zeros"]
