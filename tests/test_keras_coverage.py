"""The coverage report (tests/keras_coverage.py) runs, and the namespaces this branch completed pass their
differential cases against real Keras (constraints, optimizers and their schedules, activations, tree)."""
import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parent / "keras_coverage.py"


def _coverage():
    module = sys.modules.get("keras_coverage")
    if module is None:
        spec = importlib.util.spec_from_file_location("keras_coverage", _PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["keras_coverage"] = module
        spec.loader.exec_module(module)
    return module


def test_report_counts_names_and_cases(real_keras, capsys):
    cov = _coverage()
    assert cov.main(["constraints", "tree"]) == 0
    out = capsys.readouterr().out
    assert "| constraints" in out and "| tree" in out and "| total" in out
    rows = cov.report(("layers",), k=real_keras, run=False)
    assert "JaxLayer" not in rows[0].names and "Dense" in rows[0].present


@pytest.mark.parametrize("namespace", ["constraints", "optimizers.schedules", "optimizers", "activations", "tree", "config", "backend"])
def test_namespace_cases_pass(real_keras, namespace):
    cov = _coverage()
    import gradflow

    (row,) = cov.report((namespace,), k=real_keras, gf=gradflow)
    assert row.with_case, f"no differential cases registered for {namespace}"
    assert not row.failures, "\n".join(f"{n}: {why}" for n, why in row.failures.items())
