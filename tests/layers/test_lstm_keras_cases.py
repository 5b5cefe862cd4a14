"""The lstm worktree's differential cases (tests/keras_cases/lstm.py): Embedding's table gradient through
the row scatter-add against real Keras (the recurrent layers' run in test_rnn_keras_cases.py)."""

from keras_coverage import load_cases


def test_embedding_matches_keras(real_keras):
    import gradflow

    load_cases()[("layers", "Embedding")](real_keras, gradflow)
