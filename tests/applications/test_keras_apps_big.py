"""The big applications against real Keras without allocating their weights (tests/keras_cases/apps_big.py):
Keras on torch's meta device, gradflow with zero-stride weights; the same layers, weights, configs, shapes and
parameter counts at their default size with the top."""

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow

CASES = case_module("apps_big")


_HEAVIEST = {"NASNetLarge", "EfficientNetB6", "EfficientNetB7", "EfficientNetV2M", "EfficientNetV2L"}


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in _HEAVIEST else n for n in CASES.BIG])
def test_big_architecture_matches_keras(real_keras, name):
    CASES.big_application(real_keras, gradflow, name)


def test_shape_only_build_restores_and_keeps_initializers():
    with CASES.shape_only(gradflow):
        layer = gradflow.layers.Dense(3, kernel_initializer="ones")
        layer.build((None, 4))
    assert layer.kernel.data.strides == (0, 0) and layer.kernel.shape == (4, 3)
    assert type(layer.kernel_initializer).__name__ == "Ones"  # the layer's own initializer is untouched
    after = gradflow.layers.Dense(3, kernel_initializer="ones")
    after.build((None, 4))
    np.testing.assert_array_equal(after.kernel.numpy(), np.ones((4, 3), "float32"))
