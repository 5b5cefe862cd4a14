"""The callbacks' differential cases (tests/keras_cases/cb.py) against real Keras, a few cheap ones here;
``python -m tests.keras_coverage callbacks`` runs all 15 (each fits a tiny model through both, ~1-10 s)."""

import pytest
from keras_coverage import load_cases


@pytest.mark.parametrize("name", ["CallbackList", "LambdaCallback", "TerminateOnNaN"])
def test_callback_case_passes(real_keras, name):
    import gradflow

    cases = load_cases()
    cases[("callbacks", name)](real_keras, gradflow)
