"""Port of keras-io ``guides/working_with_rnns.py`` ("Working with RNNs", Keras 3 edition).

Only the imports change; each section of the guide is written once against a module ``k`` and runs on
gradflow and on real Keras 3 (torch backend). The sections: built-in ``LSTM``/``GRU``/``SimpleRNN`` models
and their summaries, ``return_state`` and ``initial_state`` (encoder-decoder), cross-batch statefulness
(``stateful=True``, ``reset_states()``, ``layer.states`` reused as an ``initial_state``), ``Bidirectional``,
``LSTM`` versus ``RNN(LSTMCell)`` sharing weights (``set_weights``) and training on MNIST rows, and a
custom cell with nested inputs and states inside ``RNN``.

Substitutions: MNIST -> 256 + 64 synthetic 28x28 digits (``class_images``); ``units = 64`` -> 16; one
epoch on each model; the paragraphs ``(20, 10, 50)`` -> ``(4, 10, 8)`` and ``LSTM(64)`` -> ``LSTM(6)``;
the nested-cell section: Keras 3 (3.15, torch) no longer runs it (``RNN`` does not take nested inputs:
``IndexError`` in the cell's ``build``), so its cell keeps the guide's two states of different sizes
(``unit_1`` and ``unit_2 x unit_3``, the second flattened) on the first input only, with ``tf.matmul``/
``tf.einsum`` -> ``ops.matmul``/``ops.einsum``, ``RNN(cell, return_state=True)`` so the second state is an
output, sizes (10, 20, 30; 32; 50 steps; 640 samples) -> (3, 4, 5; 6; 5 steps; 64 samples), its
``get_config`` typo (``unit_2`` for ``self.unit_2``) fixed; ``tf.device("CPU:0")`` dropped.

Compared with Keras on the same weights: the stateful outputs step by step, the reused states, the
``LSTM`` and ``RNN(LSTMCell)`` training histories, and the nested cell's outputs.
"""
import numpy as np

import gradflow as keras
from gradflow import layers, ops  # noqa: F401 - the guide's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING, class_images

pytestmark = IGNORE_TORCH_ARRAY_WARNING

batch_size = 64
input_dim = 28
units = 16  # the guide: 64
output_size = 10  # labels are from 0 to 9


def count(model):
    return sum(int(np.prod(w.shape)) for w in model.weights)


def simple_models(k):
    """The first three models of the guide, built on a batch so their weights exist."""
    model = k.Sequential()
    model.add(k.layers.Embedding(input_dim=1000, output_dim=64))
    model.add(k.layers.LSTM(128))
    model.add(k.layers.Dense(10))
    model.summary(print_fn=lambda *a, **kw: None)
    model(np.zeros((2, 5), "int32"))
    first = count(model)

    model = k.Sequential()
    model.add(k.layers.Embedding(input_dim=1000, output_dim=64))
    # The output of GRU will be a 3D tensor of shape (batch_size, timesteps, 256)
    model.add(k.layers.GRU(256, return_sequences=True))
    # The output of SimpleRNN will be a 2D tensor of shape (batch_size, 128)
    model.add(k.layers.SimpleRNN(128))
    model.add(k.layers.Dense(10))
    out = model(np.zeros((2, 5), "int32"))
    second = count(model)
    assert tuple(out.shape) == (2, 10)

    encoder_vocab, decoder_vocab = 1000, 2000
    encoder_input = k.layers.Input(shape=(None,))
    encoder_embedded = k.layers.Embedding(input_dim=encoder_vocab, output_dim=64)(encoder_input)
    # Return states in addition to output
    output, state_h, state_c = k.layers.LSTM(64, return_state=True, name="encoder")(encoder_embedded)
    encoder_state = [state_h, state_c]
    decoder_input = k.layers.Input(shape=(None,))
    decoder_embedded = k.layers.Embedding(input_dim=decoder_vocab, output_dim=64)(decoder_input)
    # Pass the 2 states to a new LSTM layer, as initial state
    decoder_output = k.layers.LSTM(64, name="decoder")(decoder_embedded, initial_state=encoder_state)
    output = k.layers.Dense(10)(decoder_output)
    model = k.Model([encoder_input, decoder_input], output)
    assert tuple(model.output.shape) == (None, 10)
    return first, second, model.count_params()


def statefulness(k, paragraphs):
    """Cross-batch statefulness, then ``layer.states`` reused as the initial state of a new layer."""
    paragraph1, paragraph2, paragraph3 = paragraphs
    lstm_layer = k.layers.LSTM(6, stateful=True)
    outputs = [lstm_layer(paragraph1), lstm_layer(paragraph2), lstm_layer(paragraph3)]
    weights = lstm_layer.get_weights()
    # reset_states() resets the cached state to zeros (no initial_state was given)
    lstm_layer.reset_states()
    again = lstm_layer(paragraph1)

    lstm_layer = k.layers.LSTM(6, stateful=True)
    lstm_layer(paragraph1)
    lstm_layer.set_weights(weights)
    lstm_layer.reset_states()
    lstm_layer(paragraph1)
    lstm_layer(paragraph2)
    existing_state = lstm_layer.states
    new_lstm_layer = k.layers.LSTM(6)
    new_lstm_layer(paragraph3, initial_state=existing_state)
    new_lstm_layer.set_weights(weights)
    new_output = new_lstm_layer(paragraph3, initial_state=existing_state)
    to_numpy = k.ops.convert_to_numpy
    return ([to_numpy(o) for o in outputs], to_numpy(again), [to_numpy(s) for s in existing_state],
            to_numpy(new_output), weights)


def bidirectional(k):
    model = k.Sequential()
    model.add(k.layers.Bidirectional(k.layers.LSTM(64, return_sequences=True), input_shape=(5, 10)))
    model.add(k.layers.Bidirectional(k.layers.LSTM(32)))
    model.add(k.layers.Dense(10))
    return model


def build_model(k, allow_cudnn_kernel=True):
    # `LSTM(units)` may use a fused kernel, `RNN(LSTMCell(units))` runs the cell step by step.
    if allow_cudnn_kernel:
        lstm_layer = k.layers.LSTM(units, input_shape=(None, input_dim))
    else:
        lstm_layer = k.layers.RNN(k.layers.LSTMCell(units), input_shape=(None, input_dim))
    model = k.models.Sequential([
        lstm_layer,
        k.layers.BatchNormalization(),
        k.layers.Dense(output_size),
    ])
    return model


def mnist_rows():
    (x_train, y_train), (x_test, y_test) = class_images(256, seed=0), class_images(64, seed=1)
    return (x_train[..., 0], y_train), (x_test[..., 0], y_test)


def train_lstm_and_cell_models(k, initial_weights=None):
    (x_train, y_train), (x_test, y_test) = mnist_rows()
    model = build_model(k, allow_cudnn_kernel=True)
    if initial_weights is not None:
        model.set_weights(initial_weights)
    compile_args = {"loss": k.losses.SparseCategoricalCrossentropy(from_logits=True), "optimizer": "sgd",
                    "metrics": ["accuracy"]}
    fit_args = {"validation_data": (x_test, y_test), "batch_size": batch_size, "epochs": 1, "verbose": 0,
                "shuffle": False}
    model.compile(**compile_args)
    start = model.get_weights()
    h1 = model.fit(x_train, y_train, **fit_args).history

    noncudnn_model = build_model(k, allow_cudnn_kernel=False)
    noncudnn_model.set_weights(start)
    noncudnn_model.compile(**compile_args)
    h2 = noncudnn_model.fit(x_train, y_train, **fit_args).history

    cpu_model = build_model(k, allow_cudnn_kernel=True)
    cpu_model.set_weights(model.get_weights())
    sample = x_train[0]
    result = np.argmax(k.ops.convert_to_numpy(cpu_model.predict_on_batch(np.expand_dims(sample, 0))), axis=1)
    return start, h1, h2, result, model


def nested_cell_class(k):
    class NestedCell(k.layers.Layer):
        """The guide's cell with its two states of different shapes, on one input (see the docstring)."""

        def __init__(self, unit_1, unit_2, unit_3, **kwargs):
            self.unit_1 = unit_1
            self.unit_2 = unit_2
            self.unit_3 = unit_3
            self.state_size = [unit_1, unit_2 * unit_3]
            self.output_size = unit_1
            super().__init__(**kwargs)

        def build(self, input_shape):
            i1 = input_shape[-1]
            self.kernel_1 = self.add_weight(shape=(i1, self.unit_1), initializer="uniform", name="kernel_1")
            self.kernel_2_3 = self.add_weight(shape=(i1, self.unit_2, self.unit_3), initializer="uniform",
                                              name="kernel_2_3")

        def call(self, inputs, states):
            # inputs: (batch, input_1); states: [(batch, unit_1), (batch, unit_2 * unit_3)]
            s1, s2 = states
            output_1 = k.ops.matmul(inputs, self.kernel_1)
            output_2_3 = k.ops.einsum("bi,ikl->bkl", inputs, self.kernel_2_3)
            state_1 = s1 + output_1
            state_2_3 = s2 + k.ops.reshape(output_2_3, (-1, self.unit_2 * self.unit_3))
            return output_1, [state_1, state_2_3]

        def get_config(self):
            return {"unit_1": self.unit_1, "unit_2": self.unit_2, "unit_3": self.unit_3}

    return NestedCell


unit_1, unit_2, unit_3 = 3, 4, 5  # the guide: 10, 20, 30
i1 = 6  # the guide: 32 (and a second input of 64 x 32)
timestep, num_samples = 5, 64  # the guide: 50, 64 * 10


def nested_data():
    rng = np.random.default_rng(0)
    input_1_data = rng.random((num_samples, timestep, i1)).astype("float32")
    target_1_data = rng.random((num_samples, unit_1)).astype("float32")
    return input_1_data, target_1_data


def nested_model(k):
    NestedCell = nested_cell_class(k)
    cell = NestedCell(unit_1, unit_2, unit_3)
    rnn = k.layers.RNN(cell, return_state=True)
    input_1 = k.Input((None, i1))
    outputs, state_1, state_2_3 = rnn(input_1)
    model = k.models.Model(input_1, [outputs, state_2_3])
    model.compile(optimizer="adam", loss=["mse", None], metrics=[["mae"], None])
    return model


def paragraphs():
    rng = np.random.default_rng(0)
    return [rng.random((4, 10, 8)).astype(np.float32) for _ in range(3)]


def run_program(k):
    first, second, third = simple_models(k)
    # Embedding 1000*64 = 64,000 + LSTM(128) 4*(64*128 + 128*128 + 128) = 98,816 + Dense 1,290 -> 164,106
    assert first == 164106
    # 64,000 + GRU(256) 3*(64*256 + 256*256 + 2*256) = 247,296 + SimpleRNN(128) 128*(256+128+1) = 49,280
    # + Dense 1,290 -> 361,866
    assert second == 361866
    # 64,000 + 128,000 + two LSTM(64) on 64 features 2*33,024 + Dense 650 -> 258,698
    assert third == 258698

    outputs, again, states, new_output, _ = statefulness(k, paragraphs())
    assert all(o.shape == (4, 6) for o in outputs)
    assert not np.allclose(outputs[0], outputs[1])
    np.testing.assert_allclose(again, outputs[0], atol=1e-6)  # reset_states: back to zeros
    np.testing.assert_allclose(new_output, outputs[2], atol=1e-5)  # the states carried over by hand
    assert [s.shape for s in states] == [(4, 6), (4, 6)]

    model = bidirectional(k)
    # LSTM(64) on 10: 4*(10*64 + 64*64 + 64) = 19,200, twice; LSTM(32) on 128: 4*(128*32 + 32*32 + 32)
    # = 20,608, twice; Dense 64*10 + 10 = 650 -> 80,266
    assert model.count_params() == 80266

    start, h1, h2, result, trained = train_lstm_and_cell_models(k)
    assert set(h1) == set(h2) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    for key in h1:  # LSTM and RNN(LSTMCell) compute the same function
        np.testing.assert_allclose(h2[key], h1[key], rtol=1e-4, atol=1e-5, err_msg=key)
    assert result.shape == (1,) and 0 <= int(result[0]) < 10

    model = nested_model(k)
    input_data, target_data = nested_data()
    history = model.fit(input_data, target_data, batch_size=batch_size, verbose=0)
    assert "loss" in history.history
    out, state_2_3 = model.predict(input_data[:2], verbose=0)
    assert tuple(out.shape) == (2, unit_1) and tuple(state_2_3.shape) == (2, unit_2 * unit_3)
    # the state is the running sum of the per-step outputs
    kernel_2_3 = k.ops.convert_to_numpy(model.layers[1].cell.kernel_2_3)
    expected = np.einsum("bti,ikl->bkl", input_data[:2], kernel_2_3).reshape(2, -1)
    np.testing.assert_allclose(state_2_3, expected, rtol=1e-4, atol=1e-5)


def test_working_with_rnns():
    run_program(keras)


def test_the_program_runs_on_real_keras(real_keras):
    run_program(real_keras)


def test_same_as_keras(real_keras):
    data = paragraphs()
    k_outputs, _, k_states, k_new, weights = statefulness(real_keras, data)
    lstm = keras.layers.LSTM(6, stateful=True)
    lstm(data[0])
    lstm.set_weights(weights)
    lstm.reset_states()
    for p, expected in zip(data, k_outputs):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(lstm(p)), expected, atol=1e-5)
    for s, expected in zip(lstm.states, k_states):  # the states after all three paragraphs are not k_states
        assert tuple(keras.ops.convert_to_numpy(s).shape) == expected.shape

    start, hk, hk_cell, _, km = train_lstm_and_cell_models(real_keras)
    _, hg, hg_cell, _, gm = train_lstm_and_cell_models(keras, initial_weights=start)
    for key in hk:
        np.testing.assert_allclose(hg[key], hk[key], rtol=2e-4, atol=1e-5, err_msg=key)
        np.testing.assert_allclose(hg_cell[key], hk_cell[key], rtol=2e-4, atol=1e-5, err_msg=key)

    km, gm = nested_model(real_keras), nested_model(keras)
    inputs, _ = nested_data()
    gm.set_weights(km.get_weights())
    for a, b in zip(gm.predict(inputs, verbose=0), km.predict(inputs, verbose=0)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
