"""The recurrent layers' differential cases (tests/keras_cases/rnn.py) pass against real Keras."""
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


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_layer_matches_keras(real_keras, name):
    import gradflow

    cov = _coverage()
    cov.load_cases()
    cov.CASES[("layers", name)](real_keras, gradflow)
