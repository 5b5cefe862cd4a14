"""Port of keras-io ``examples/nlp/lstm_seq2seq.py`` ("Character-level recurrent sequence-to-sequence
model", Keras 3 edition): an encoder ``LSTM(return_state=True)`` whose two states start a decoder
``LSTM(return_sequences=True, return_state=True)`` trained with teacher forcing; the model is saved to
``s2s_model.keras``, loaded back, and taken apart (``model.input[0]``, ``model.layers[2].output``,
``model.layers[3]``, ``model.layers[4]``) into an encoder model and a one-step decoder model for greedy
sampling.

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). Substitutions: the English->French ``fra.txt`` download -> 400 synthetic
"sentences" (2..6 letters from ``abcdef``, sometimes two words) whose "translation" is the word reversed
and upper-cased; ``latent_dim = 256`` -> 32, ``batch_size = 64`` -> 32, ``epochs = 100`` -> 12
(decoding in the test uses 20 samples, as the example does).

Compared with Keras: gradflow takes the Keras model's initial weights (``set_weights``), both fit with
``shuffle=False`` for 3 epochs, and the histories (loss, accuracy, val_loss, val_accuracy), the weights,
the predictions and the decoded sentences of the loaded inference models must be equal.
"""
import numpy as np

import gradflow as keras

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

batch_size = 32  # the example: 64
epochs = 12  # the example: 100
latent_dim = 32  # the example: 256
num_samples = 400  # the example: 10000


def make_texts(seed=0):
    """The stand-in for ``fra.txt``: an input text and its target (tab = start, newline = end)."""
    rng = np.random.default_rng(seed)
    input_texts, target_texts = [], []
    for _ in range(num_samples):
        words = ["".join(rng.choice(list("abcdef"), size=rng.integers(2, 5))) for _ in range(rng.integers(1, 3))]
        input_text = " ".join(words)
        input_texts.append(input_text)
        target_texts.append("\t" + input_text[::-1].upper() + "\n")
    return input_texts, target_texts


def vectorize(input_texts, target_texts):
    input_characters = sorted({c for t in input_texts for c in t})
    target_characters = sorted({c for t in target_texts for c in t} | {" "})
    num_encoder_tokens, num_decoder_tokens = len(input_characters), len(target_characters)
    max_encoder_seq_length = max(len(txt) for txt in input_texts)
    max_decoder_seq_length = max(len(txt) for txt in target_texts)
    input_token_index = {char: i for i, char in enumerate(input_characters)}
    target_token_index = {char: i for i, char in enumerate(target_characters)}

    encoder_input_data = np.zeros((len(input_texts), max_encoder_seq_length, num_encoder_tokens), dtype="float32")
    decoder_input_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
    decoder_target_data = np.zeros((len(input_texts), max_decoder_seq_length, num_decoder_tokens), dtype="float32")
    for i, (input_text, target_text) in enumerate(zip(input_texts, target_texts)):
        for t, char in enumerate(input_text):
            encoder_input_data[i, t, input_token_index[char]] = 1.0
        encoder_input_data[i, t + 1:, input_token_index[" "]] = 1.0
        for t, char in enumerate(target_text):
            # decoder_target_data is ahead of decoder_input_data by one timestep
            decoder_input_data[i, t, target_token_index[char]] = 1.0
            if t > 0:
                decoder_target_data[i, t - 1, target_token_index[char]] = 1.0
        decoder_input_data[i, t + 1:, target_token_index[" "]] = 1.0
        decoder_target_data[i, t:, target_token_index[" "]] = 1.0
    return {
        "num_encoder_tokens": num_encoder_tokens, "num_decoder_tokens": num_decoder_tokens,
        "max_decoder_seq_length": max_decoder_seq_length, "target_token_index": target_token_index,
        "encoder_input_data": encoder_input_data, "decoder_input_data": decoder_input_data,
        "decoder_target_data": decoder_target_data,
    }


def build_model(k, num_encoder_tokens, num_decoder_tokens):
    # Define an input sequence and process it.
    encoder_inputs = k.Input(shape=(None, num_encoder_tokens))
    encoder = k.layers.LSTM(latent_dim, return_state=True)
    encoder_outputs, state_h, state_c = encoder(encoder_inputs)
    # Keep only the states.
    encoder_states = [state_h, state_c]

    # The decoder starts from the encoder's states.
    decoder_inputs = k.Input(shape=(None, num_decoder_tokens))
    decoder_lstm = k.layers.LSTM(latent_dim, return_sequences=True, return_state=True)
    decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=encoder_states)
    decoder_dense = k.layers.Dense(num_decoder_tokens, activation="softmax")
    decoder_outputs = decoder_dense(decoder_outputs)

    model = k.Model([encoder_inputs, decoder_inputs], decoder_outputs)
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def inference_models(k, path):
    """Restore the model and build the sampling models from its layers, as the example does."""
    model = k.models.load_model(path)

    encoder_inputs = model.input[0]  # input_1
    encoder_outputs, state_h_enc, state_c_enc = model.layers[2].output  # lstm_1
    encoder_states = [state_h_enc, state_c_enc]
    encoder_model = k.Model(encoder_inputs, encoder_states)

    decoder_inputs = model.input[1]  # input_2
    decoder_state_input_h = k.Input(shape=(latent_dim,))
    decoder_state_input_c = k.Input(shape=(latent_dim,))
    decoder_states_inputs = [decoder_state_input_h, decoder_state_input_c]
    decoder_lstm = model.layers[3]
    decoder_outputs, state_h_dec, state_c_dec = decoder_lstm(decoder_inputs, initial_state=decoder_states_inputs)
    decoder_states = [state_h_dec, state_c_dec]
    decoder_dense = model.layers[4]
    decoder_outputs = decoder_dense(decoder_outputs)
    decoder_model = k.Model([decoder_inputs] + decoder_states_inputs, [decoder_outputs] + decoder_states)
    return model, encoder_model, decoder_model


def decode_sequence(input_seq, encoder_model, decoder_model, data):
    target_token_index = data["target_token_index"]
    reverse_target_char_index = {i: char for char, i in target_token_index.items()}
    num_decoder_tokens = data["num_decoder_tokens"]
    # Encode the input as state vectors.
    states_value = encoder_model.predict(input_seq, verbose=0)
    # An empty target sequence of length 1 holding the start character.
    target_seq = np.zeros((1, 1, num_decoder_tokens))
    target_seq[0, 0, target_token_index["\t"]] = 1.0

    stop_condition = False
    decoded_sentence = ""
    while not stop_condition:
        output_tokens, h, c = decoder_model.predict([target_seq] + states_value, verbose=0)
        sampled_token_index = int(np.argmax(output_tokens[0, -1, :]))
        sampled_char = reverse_target_char_index[sampled_token_index]
        decoded_sentence += sampled_char
        if sampled_char == "\n" or len(decoded_sentence) > data["max_decoder_seq_length"]:
            stop_condition = True
        # Update the target sequence (of length 1) and the states.
        target_seq = np.zeros((1, 1, num_decoder_tokens))
        target_seq[0, 0, sampled_token_index] = 1.0
        states_value = [h, c]
    return decoded_sentence


def fit(model, data, epochs=epochs, shuffle=True):
    return model.fit([data["encoder_input_data"], data["decoder_input_data"]], data["decoder_target_data"],
                     batch_size=batch_size, epochs=epochs, validation_split=0.2, verbose=0, shuffle=shuffle)


def run_program(k):
    input_texts, target_texts = make_texts()
    data = vectorize(input_texts, target_texts)
    assert data["encoder_input_data"].shape == (400, 9, 7)  # 6 letters and the space
    assert data["decoder_target_data"].shape == (400, 11, 9)  # 6 letters, space, tab and newline
    model = build_model(k, data["num_encoder_tokens"], data["num_decoder_tokens"])
    # encoder LSTM 4*(7*32 + 32*32 + 32) = 5,120; decoder on 9 tokens 4*(9*32 + 32*32 + 32) = 5,376;
    # Dense 32*9 + 9 = 297 -> 10,793
    assert model.count_params() == 10793
    history = fit(model, data)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert h["loss"][-1] < h["loss"][0]
    # it learns (12 epochs on 400 samples: about half the characters, the padding spaces included);
    # Keras itself ends at 0.48-0.55 validation accuracy depending on its draw, so no tighter floor
    assert h["accuracy"][-1] > h["accuracy"][0] and h["val_accuracy"][-1] > 0.4

    model.save("s2s_model.keras")
    restored, encoder_model, decoder_model = inference_models(k, "s2s_model.keras")
    x = [data["encoder_input_data"][:8], data["decoder_input_data"][:8]]
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)
    assert len(encoder_model.outputs) == 2 and len(decoder_model.inputs) == 3

    for seq_index in range(20):
        input_seq = data["encoder_input_data"][seq_index: seq_index + 1]
        decoded_sentence = decode_sequence(input_seq, encoder_model, decoder_model, data)
        assert 1 <= len(decoded_sentence) <= data["max_decoder_seq_length"] + 1


def test_lstm_seq2seq():
    run_program(keras)


def test_the_program_runs_on_real_keras(real_keras):
    run_program(real_keras)


def test_same_as_keras(real_keras):
    input_texts, target_texts = make_texts()
    data = vectorize(input_texts, target_texts)
    km = build_model(real_keras, data["num_encoder_tokens"], data["num_decoder_tokens"])
    gm = build_model(keras, data["num_encoder_tokens"], data["num_decoder_tokens"])
    assert [tuple(w.shape) for w in gm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    gm.set_weights(km.get_weights())
    hk, hg = fit(km, data, epochs=3, shuffle=False).history, fit(gm, data, epochs=3, shuffle=False).history
    assert set(hg) == set(hk)
    for key in hk:
        np.testing.assert_allclose(hg[key], hk[key], rtol=2e-4, atol=1e-5, err_msg=key)
    for wk, wg in zip(km.get_weights(), gm.get_weights()):
        np.testing.assert_allclose(wg, wk, atol=2e-4)

    km.save("keras_s2s.keras")
    gm.save("gradflow_s2s.keras")
    _, k_enc, k_dec = inference_models(real_keras, "keras_s2s.keras")
    _, g_enc, g_dec = inference_models(keras, "gradflow_s2s.keras")
    for seq_index in range(5):
        input_seq = data["encoder_input_data"][seq_index: seq_index + 1]
        for a, b in zip(g_enc.predict(input_seq, verbose=0), k_enc.predict(input_seq, verbose=0)):
            np.testing.assert_allclose(a, b, atol=1e-4)
        assert decode_sequence(input_seq, g_enc, g_dec, data) == decode_sequence(input_seq, k_enc, k_dec, data)
