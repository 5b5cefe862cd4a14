"""The metrics, losses, initializers, mixed_precision, utils and callbacks namespaces pass their differential
cases against real Keras (tests/keras_cases/metrics_losses.py and tests/keras_cases/metrics.py)."""

import keras_coverage
import pytest


@pytest.mark.parametrize("namespace", ["metrics", "losses", "initializers", "mixed_precision", "utils", "callbacks"])
def test_namespace_cases_pass(real_keras, namespace):
    import gradflow

    (row,) = keras_coverage.report((namespace,), k=real_keras, gf=gradflow)
    assert row.with_case, f"no differential cases registered for {namespace}"
    assert not row.failures, "\n".join(f"{n}: {why}" for n, why in row.failures.items())
