"""The differential cases of tests/keras_cases/convt.py (the stride-phase transposed-conv kernel through
Conv2DTranspose, Conv1DTranspose and ops.conv_transpose) pass against real Keras."""
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
    return sys.modules["keras_coverage"].case_module("convt")


@pytest.mark.parametrize("name", ["Conv2DTranspose", "Conv1DTranspose"])
def test_transposed_conv_layers_match_keras(real_keras, name):
    import gradflow

    _cases().transpose_layers(real_keras, gradflow, name)


@pytest.mark.parametrize("fn", ["ops_conv_transpose", "ops_nn_conv_transpose"])
def test_ops_conv_transpose_matches_keras(real_keras, fn):
    import gradflow

    getattr(_cases(), fn)(real_keras, gradflow)
