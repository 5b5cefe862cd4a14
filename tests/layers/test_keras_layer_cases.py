"""Every layer with a differential case (tests/keras_cases/layers.py, run by tests/keras_cases/_layer_harness.py)
matches real Keras; the differences still open are listed (xfail, not strict: a fix elsewhere shows up as XPASS
and its entry can go)."""

import pytest
from keras_coverage import load_cases

#: layer -> the difference its case still finds (in a file this branch does not own)
KNOWN_DIFFERENCES: dict[str, str] = {}


def _layer_names():
    import gradflow

    cases = load_cases()
    names = sorted(name for (ns, name) in cases if ns == "layers" and hasattr(gradflow.layers, name))
    return [pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_DIFFERENCES[n], strict=False))
            if n in KNOWN_DIFFERENCES else n for n in names]


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
@pytest.mark.parametrize("name", _layer_names())
def test_layer_same_as_keras(real_keras, name):
    import gradflow

    load_cases()[("layers", name)](real_keras, gradflow)
