"""Differential cases for the names in a Keras namespace that are namespaces themselves
(``keras.ops.numpy``, ``keras.ops.nn``, ...): gradflow's is a module exposing every public name Keras's
exposes (those only a TF/JAX/torch wrapper needs left out, as the coverage report does), and each of
those names is the same object as the one the parent namespace exports, as in Keras."""
import types

from keras_coverage import EXCLUDED, case


def _public(module):
    return sorted(n for n in dir(module) if not n.startswith("_") and n not in EXCLUDED)


@case("ops", "numpy", "nn", "image", "linalg")
def ops_submodule(k, gf, name):
    theirs, ours = getattr(k.ops, name), getattr(gf.ops, name)
    assert isinstance(ours, types.ModuleType), f"gradflow.ops.{name} is a {type(ours).__name__}, not a module"
    missing = [n for n in _public(theirs) if not hasattr(ours, n)]
    assert not missing, f"gradflow.ops.{name} lacks {missing}"
    for n in _public(theirs):
        if hasattr(k.ops, n) and getattr(k.ops, n) is getattr(theirs, n) and hasattr(gf.ops, n):
            assert getattr(ours, n) is getattr(gf.ops, n), f"gradflow.ops.{name}.{n} is not gradflow.ops.{n}"
