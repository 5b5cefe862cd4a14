"""The recurrent layers' differential cases (tests/keras_cases/rnn.py) pass against real Keras."""

import pytest
from keras_coverage import load_cases


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_layer_matches_keras(real_keras, name):
    import gradflow

    load_cases()[("layers", name)](real_keras, gradflow)
