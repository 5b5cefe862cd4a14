"""set_random_seed repeats Python, NumPy and gradflow random streams."""
import random
import sys

import numpy as np
import pytest

import gradflow
from gradflow.utils import set_random_seed


def _draw():
    return random.random(), np.random.rand(), float(gradflow.random.generator().random())


def test_repeats_all_three_streams():
    set_random_seed(42)
    first = _draw()
    set_random_seed(42)
    assert _draw() == first
    set_random_seed(43)
    assert _draw() != first


def test_rejects_bad_seed():
    with pytest.raises(ValueError, match="expected a non-negative int, got -1"):
        set_random_seed(-1)
    with pytest.raises(ValueError, match="got 1.5"):
        set_random_seed(1.5)


def test_missing_gradflow_random_is_a_clear_error(monkeypatch):
    monkeypatch.delattr(gradflow, "random")
    monkeypatch.setitem(sys.modules, "gradflow.random", None)
    with pytest.raises(RuntimeError, match=r"gradflow.random.seed\(n\) is missing"):
        set_random_seed(1)
