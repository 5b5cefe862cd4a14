"""The coverage report (tests/keras_coverage.py) runs, and the namespaces this branch completed pass their
differential cases against real Keras (constraints, optimizers and their schedules, activations, tree)."""

import keras_coverage
import pytest


def test_report_counts_names_and_cases(real_keras, capsys):
    cov = keras_coverage
    assert cov.main(["constraints", "tree"]) == 0
    out = capsys.readouterr().out
    assert "| constraints" in out and "| tree" in out and "| total" in out
    rows = cov.report(("layers",), k=real_keras, run=False)
    assert "JaxLayer" not in rows[0].names and "Dense" in rows[0].present


@pytest.mark.parametrize("namespace", ["constraints", "optimizers.schedules", "optimizers", "activations", "tree", "config", "backend"])
def test_namespace_cases_pass(real_keras, namespace):
    cov = keras_coverage
    import gradflow

    (row,) = cov.report((namespace,), k=real_keras, gf=gradflow)
    assert row.with_case, f"no differential cases registered for {namespace}"
    assert not row.failures, "\n".join(f"{n}: {why}" for n, why in row.failures.items())
