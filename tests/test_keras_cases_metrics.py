"""The metrics, losses, initializers, mixed_precision, utils and callbacks namespaces pass their differential
cases against real Keras (tests/keras_cases/metrics_losses.py and tests/keras_cases/metrics.py)."""
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


@pytest.mark.parametrize("namespace", ["metrics", "losses", "initializers", "mixed_precision", "utils", "callbacks"])
def test_namespace_cases_pass(real_keras, namespace):
    import gradflow

    (row,) = _coverage().report((namespace,), k=real_keras, gf=gradflow)
    assert row.with_case, f"no differential cases registered for {namespace}"
    assert not row.failures, "\n".join(f"{n}: {why}" for n, why in row.failures.items())
