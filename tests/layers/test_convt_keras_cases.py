"""The differential cases of tests/keras_cases/convt.py (the stride-phase transposed-conv kernel through
Conv2DTranspose, Conv1DTranspose and ops.conv_transpose) pass against real Keras."""
import pytest
from keras_coverage import case_module

CASES = case_module("convt")


@pytest.mark.parametrize("name", ["Conv2DTranspose", "Conv1DTranspose"])
def test_transposed_conv_layers_match_keras(real_keras, name):
    import gradflow

    CASES.transpose_layers(real_keras, gradflow, name)


@pytest.mark.parametrize("fn", ["ops_conv_transpose", "ops_nn_conv_transpose"])
def test_ops_conv_transpose_matches_keras(real_keras, fn):
    import gradflow

    getattr(CASES, fn)(real_keras, gradflow)
