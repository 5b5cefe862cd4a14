"""MultiHeadAttention over any ``attention_axes`` (Keras's einsum path) against real Keras: rows in
tests/keras_cases/kfix.py; here also a functional model and Keras's errors."""
import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf

KFIX = case_module("kfix")


@pytest.mark.parametrize("row", KFIX.MHA_ROWS, ids=[f"{r[0]}-{r[2]}" for r in KFIX.MHA_ROWS])
def test_attention_axes_match_keras(real_keras, row):
    KFIX.mha_axes_row(real_keras, gf, row)


def test_two_d_attention_in_a_functional_model(real_keras):
    k = real_keras
    x = np.random.default_rng(0).normal(size=(2, 3, 4, 5)).astype(np.float32)

    def build(m):
        inp = m.Input((3, 4, 5))
        out = m.layers.MultiHeadAttention(2, 3, attention_axes=(1, 2))(inp, inp)
        return m.Model(inp, m.layers.Dense(2)(out))

    theirs, ours = build(k), build(gf)
    ours.set_weights(theirs.get_weights())
    assert ours.output_shape == theirs.output_shape == (None, 3, 4, 2)
    np.testing.assert_allclose(ours.predict(x, verbose=0), theirs.predict(x, verbose=0), rtol=2e-5, atol=2e-6)


def test_bad_attention_axes_and_group_query_rank():
    with pytest.raises(ValueError, match="attention_axes"):
        gf.layers.MultiHeadAttention(2, 3, attention_axes="1")
    gqa = gf.layers.GroupQueryAttention(head_dim=2, num_query_heads=2, num_key_value_heads=1)
    x = gf.Tensor(np.zeros((1, 2, 3, 4), np.float32))
    with pytest.raises(ValueError, match="batch, steps, features"):
        gqa(x, x)
