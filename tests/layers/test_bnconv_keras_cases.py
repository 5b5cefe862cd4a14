"""The differential cases of tests/keras_cases/bnconv.py (Conv2DTranspose/Conv1DTranspose with the ReLU
epilogue, a MobileNet-like block with batch norm and ReLU fused) pass against real Keras."""
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _cases():
    if "keras_coverage" not in sys.modules:
        spec = importlib.util.spec_from_file_location("keras_coverage", ROOT / "keras_coverage.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["keras_coverage"] = module
        spec.loader.exec_module(module)
    spec = importlib.util.spec_from_file_location("_bnconv_cases", ROOT / "keras_cases" / "bnconv.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["Conv2DTranspose", "Conv1DTranspose"])
def test_transposed_convs_with_relu_epilogue_match_keras(real_keras, name):
    import gradflow

    _cases().transpose_relu_layers(real_keras, gradflow, name)


def test_mobilenet_block_with_fused_batch_norm_relu_matches_keras(real_keras):
    import gradflow

    _cases().mobilenet_block(real_keras, gradflow)
