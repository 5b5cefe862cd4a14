"""The differential cases of tests/keras_cases/bnconv.py (Conv2DTranspose/Conv1DTranspose with the ReLU
epilogue, a MobileNet-like block with batch norm and ReLU fused) pass against real Keras."""
import pytest
from keras_coverage import case_module

CASES = case_module("bnconv")


@pytest.mark.parametrize("name", ["Conv2DTranspose", "Conv1DTranspose"])
def test_transposed_convs_with_relu_epilogue_match_keras(real_keras, name):
    import gradflow

    CASES.transpose_relu_layers(real_keras, gradflow, name)


def test_mobilenet_block_with_fused_batch_norm_relu_matches_keras(real_keras):
    import gradflow

    CASES.mobilenet_block(real_keras, gradflow)
