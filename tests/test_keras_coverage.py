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


def test_every_case_of_a_name_runs(monkeypatch):
    """Several modules may register cases for one name: the report runs each (a two-argument case shared by
    several names once), and the name passes only when all of them pass."""
    from types import SimpleNamespace

    cov = keras_coverage
    cov.load_cases()
    monkeypatch.setattr(cov, "REGISTERED", dict(cov.REGISTERED))
    monkeypatch.setattr(cov, "CASES", dict(cov.CASES))
    ran = []

    @cov.case("fake", "a", "b")
    def shared(k, gf):
        ran.append("shared")

    @cov.case("fake", "a")
    def more_of_a(k, gf):
        ran.append("a")

    @cov.case("fake", "b", "c")
    def per_name(k, gf, name):
        ran.append(f"per {name}")
        assert name != "c", "c differs"

    @cov.case("fake", "c")
    def also_c(k, gf):
        ran.append("c")
        raise AssertionError("second")

    names = SimpleNamespace(fake=SimpleNamespace(a=1, b=2, c=3))
    (row,) = cov.report(("fake",), k=names, gf=names)
    assert ran == ["shared", "a", "per b", "per c", "c"]  # a failing case does not stop the name's others
    assert row.with_case == ["a", "b", "c"] and row.passing == ["a", "b"]
    assert row.failures["c"].startswith("AssertionError: c differs")  # the first failure is the reason
    ran.clear()
    cov.CASES[("fake", "a")](None, None)  # a name's entry in CASES runs all of its cases
    assert ran == ["shared", "a"]
