"""The callbacks' differential cases (tests/keras_cases/cb.py) against real Keras, a few cheap ones here;
``python -m tests.keras_coverage callbacks`` runs all 15 (each fits a tiny model through both, ~1-10 s)."""
import importlib.util
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "keras_coverage.py"


def _coverage():
    module = sys.modules.get("keras_coverage")
    if module is None:
        spec = importlib.util.spec_from_file_location("keras_coverage", _PATH)
        module = importlib.util.module_from_spec(spec)
        sys.modules["keras_coverage"] = module
        spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["CallbackList", "LambdaCallback", "TerminateOnNaN"])
def test_callback_case_passes(real_keras, name):
    import gradflow

    cases = _coverage().load_cases()
    cases[("callbacks", name)](real_keras, gradflow)
