"""Port of keras-io ``guides/functional_api.py`` (Keras 3 edition: ``guides/keras_core/functional_api.py``).

Only the imports change. Substitutions forced by layers gradflow does not have (noted inline):
- MNIST / CIFAR-10 downloads -> small synthetic separable images (conftest.class_images).
- The ticket model's ``Embedding`` + ``LSTM`` text encoders -> ``Dense`` layers on bag-of-words vectors.
- The shared ``Embedding`` -> a shared ``Dense``; VGG19 -> a small convnet for feature extraction.
- The mix-and-match section keeps the second ``CustomRNN`` but not its ``Conv1D``.
"""
import json

import numpy as np

import gradflow as keras
from gradflow import layers, ops


def _mnist_model():
    inputs = keras.Input(shape=(784,))
    dense = layers.Dense(64, activation="relu")
    x = dense(inputs)
    x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(10)(x)
    return inputs, keras.Model(inputs=inputs, outputs=outputs, name="mnist_model")


def test_input_node_shape_and_dtype():
    inputs = keras.Input(shape=(784,))
    assert tuple(inputs.shape) == (None, 784)
    assert str(inputs.dtype) == "float32"
    img_inputs = keras.Input(shape=(32, 32, 3))
    assert tuple(img_inputs.shape) == (None, 32, 32, 3)


def test_mnist_mlp_train_evaluate_save(mnist_vectors, summary_params):
    inputs, model = _mnist_model()
    assert model.name == "mnist_model"
    assert model.inputs[0] is inputs or tuple(model.inputs[0].shape) == (None, 784)
    assert tuple(model.output_shape) == (None, 10)

    params, text = summary_params(model)
    # 784*64+64 = 50,240 + 64*64+64 = 4,160 + 64*10+10 = 650 -> 55,050 (the guide's summary)
    assert params == {"total": 55050, "trainable": 55050, "non_trainable": 0}
    assert model.count_params() == 55050
    assert 'Model: "mnist_model"' in text

    x_train, y_train = mnist_vectors(320, seed=0)
    x_test, y_test = mnist_vectors(128, seed=1)
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=["accuracy"],
    )
    history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == [0, 1]
    assert all(len(v) == 2 for v in history.history.values())
    assert history.history["loss"][1] < history.history["loss"][0]

    test_scores = model.evaluate(x_test, y_test, verbose=2)
    assert len(test_scores) == 2  # [loss, accuracy]
    assert test_scores[1] > 0.5  # chance is 0.1

    # Keras 3 only writes the .keras format: `model.save("path_to_my_model.keras")`.
    model.save("path_to_my_model.keras")
    reloaded = keras.models.load_model("path_to_my_model.keras")
    np.testing.assert_allclose(reloaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0),
                               rtol=1e-6, atol=1e-6)
    assert reloaded.name == "mnist_model"


def _encoder(input_name="img"):
    encoder_input = keras.Input(shape=(28, 28, 1), name=input_name)
    x = layers.Conv2D(16, 3, activation="relu")(encoder_input)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.MaxPooling2D(3)(x)
    x = layers.Conv2D(32, 3, activation="relu")(x)
    x = layers.Conv2D(16, 3, activation="relu")(x)
    encoder_output = layers.GlobalMaxPooling2D()(x)
    return encoder_input, encoder_output


def _decoder_stack(x):
    # The guide's decoder: 4x4 -> 6x6 -> 8x8 -> (UpSampling2D(3)) 24x24 -> 26x26 -> 28x28
    x = layers.Reshape((4, 4, 1))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    x = layers.Conv2DTranspose(32, 3, activation="relu")(x)
    x = layers.UpSampling2D(3)(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu")(x)
    return layers.Conv2DTranspose(1, 3, activation="relu")(x)


# Encoder params: Conv2D(1->16, 3x3) 9*16+16 = 160, Conv2D(16->32) 9*16*32+32 = 4,640,
# Conv2D(32->32) 9*32*32+32 = 9,248, Conv2D(32->16) 9*32*16+16 = 4,624 -> 18,672 (as in the guide).
ENCODER_PARAMS = 18672
# Decoder params (a Conv2DTranspose kernel is 3x3 x out x in): Conv2DTranspose(1->16) 9*16+16 = 160,
# (16->32) 9*32*16+32 = 4,640, (32->16) 9*16*32+16 = 4,624, (16->1) 9*16+1 = 145 -> 9,569;
# the autoencoder 18,672 + 9,569 = 28,241 (as in the guide).
DECODER_PARAMS = 9569


def test_same_graph_of_layers_defines_encoder_and_autoencoder(make_images, summary_params):
    encoder_input, encoder_output = _encoder()
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")
    assert summary_params(encoder)[0]["total"] == ENCODER_PARAMS
    assert tuple(encoder.output_shape) == (None, 16)

    decoder_output = _decoder_stack(encoder_output)
    autoencoder = keras.Model(encoder_input, decoder_output, name="autoencoder")
    params, text = summary_params(autoencoder)
    assert params["total"] == ENCODER_PARAMS + DECODER_PARAMS == 28241
    for shape in ["(None, 4, 4, 1)", "(None, 6, 6, 16)", "(None, 8, 8, 32)", "(None, 24, 24, 32)",
                  "(None, 26, 26, 16)", "(None, 28, 28, 1)"]:
        assert shape in text
    assert [type(layer).__name__ for layer in autoencoder.layers].count("Conv2DTranspose") == 4
    assert tuple(autoencoder.output_shape) == (None, 28, 28, 1)
    assert autoencoder.count_params() == ENCODER_PARAMS + DECODER_PARAMS

    # Both models are views of one graph: the encoder's layers are the autoencoder's first layers.
    enc_layers = encoder.layers
    assert autoencoder.layers[: len(enc_layers)] == enc_layers
    assert [layer.name for layer in autoencoder.layers][0] == "img"

    x, _ = make_images(8, seed=3)
    autoencoder.compile(optimizer="adam", loss="mse")
    before = [w.copy() for w in encoder.get_weights()]
    autoencoder.fit(x, x, epochs=1, batch_size=4, verbose=0)
    after = encoder.get_weights()
    assert any(not np.allclose(a, b) for a, b in zip(before, after))  # training one trains the other


def test_models_are_callable_like_layers(make_images):
    encoder_input, encoder_output = _encoder("original_img")
    encoder = keras.Model(encoder_input, encoder_output, name="encoder")

    decoder_input = keras.Input(shape=(16,), name="encoded_img")
    decoder = keras.Model(decoder_input, _decoder_stack(decoder_input), name="decoder")
    assert decoder.count_params() == DECODER_PARAMS

    autoencoder_input = keras.Input(shape=(28, 28, 1), name="img")
    encoded_img = encoder(autoencoder_input)
    decoded_img = decoder(encoded_img)
    autoencoder = keras.Model(autoencoder_input, decoded_img, name="autoencoder")
    # Keras 3 functional models list their InputLayer in `layers`; nested models appear as one layer each.
    assert [layer.name for layer in autoencoder.layers] == ["img", "encoder", "decoder"]
    assert autoencoder.layers[1] is encoder and autoencoder.layers[2] is decoder
    assert autoencoder.count_params() == ENCODER_PARAMS + DECODER_PARAMS

    x, _ = make_images(6, seed=4)
    np.testing.assert_allclose(
        autoencoder.predict(x, verbose=0),
        decoder.predict(encoder.predict(x, verbose=0), verbose=0),
        rtol=1e-5, atol=1e-6,
    )


def test_ensemble_averages_three_models():
    def get_model():
        inputs = keras.Input(shape=(128,))
        outputs = layers.Dense(1)(inputs)
        return keras.Model(inputs, outputs)

    model1 = get_model()
    model2 = get_model()
    model3 = get_model()

    inputs = keras.Input(shape=(128,))
    y1 = model1(inputs)
    y2 = model2(inputs)
    y3 = model3(inputs)
    outputs = layers.average([y1, y2, y3])
    ensemble_model = keras.Model(inputs=inputs, outputs=outputs)

    x = np.random.default_rng(0).random((5, 128)).astype("float32")
    expected = (model1.predict(x, verbose=0) + model2.predict(x, verbose=0) + model3.predict(x, verbose=0)) / 3
    np.testing.assert_allclose(ensemble_model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    assert ensemble_model.count_params() == 3 * (128 + 1)


num_tags = 12  # Number of unique issue tags
num_words = 100  # Size of vocabulary (10000 in the guide; bag-of-words vectors here)
num_departments = 4  # Number of departments for predictions


def _ticket_model():
    title_input = keras.Input(shape=(num_words,), name="title")  # guide: variable-length ints
    body_input = keras.Input(shape=(num_words,), name="body")
    tags_input = keras.Input(shape=(num_tags,), name="tags")  # Binary vectors of size `num_tags`

    # guide: Embedding(num_words, 64) -> LSTM(128) for the title, Embedding -> LSTM(32) for the body
    title_features = layers.Dense(128, activation="tanh")(title_input)
    body_features = layers.Dense(32, activation="tanh")(body_input)

    # Merge all available features into a single large vector via concatenation
    x = layers.concatenate([title_features, body_features, tags_input])

    priority_pred = layers.Dense(1, name="priority")(x)
    department_pred = layers.Dense(num_departments, name="department")(x)

    return keras.Model(inputs=[title_input, body_input, tags_input], outputs=[priority_pred, department_pred])


def _ticket_data(n=256):
    rng = np.random.default_rng(0)
    title_data = rng.integers(2, size=(n, num_words)).astype("float32")
    body_data = rng.integers(2, size=(n, num_words)).astype("float32")
    tags_data = rng.integers(2, size=(n, num_tags)).astype("float32")
    priority_targets = rng.random(size=(n, 1)).astype("float32")
    dept_targets = rng.integers(2, size=(n, num_departments)).astype("float32")
    return title_data, body_data, tags_data, priority_targets, dept_targets


def test_multi_input_multi_output_model_list_losses():
    model = _ticket_model()
    assert [t.shape[-1] for t in model.inputs] == [num_words, num_words, num_tags]
    assert [tuple(t.shape) for t in model.outputs] == [(None, 1), (None, num_departments)]
    # title Dense 100*128+128 = 12,928; body Dense 100*32+32 = 3,232; concat 128+32+12 = 172 features;
    # priority 172+1 = 173; department 172*4+4 = 692 -> 17,025
    assert model.count_params() == 17025

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=[
            keras.losses.BinaryCrossentropy(from_logits=True),
            keras.losses.CategoricalCrossentropy(from_logits=True),
        ],
        loss_weights=[1.0, 0.2],
    )
    title_data, body_data, tags_data, priority_targets, dept_targets = _ticket_data()
    history = model.fit(
        [title_data, body_data, tags_data], [priority_targets, dept_targets], epochs=2, batch_size=32, verbose=0
    )
    # Keras 3 tracks each output's (unweighted) loss next to the total.
    assert set(history.history) == {"loss", "priority_loss", "department_loss"}

    preds = model.predict([title_data[:5], body_data[:5], tags_data[:5]], verbose=0)
    assert isinstance(preds, list) and len(preds) == 2
    assert preds[0].shape == (5, 1) and preds[1].shape == (5, num_departments)


def test_multi_input_multi_output_model_dict_losses_by_layer_name():
    model = _ticket_model()
    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss={
            "priority": keras.losses.BinaryCrossentropy(from_logits=True),
            "department": keras.losses.CategoricalCrossentropy(from_logits=True),
        },
        loss_weights={"priority": 1.0, "department": 0.2},
        metrics={"priority": ["mae"], "department": ["accuracy"]},  # not in the guide: checks metric names
    )
    title_data, body_data, tags_data, priority_targets, dept_targets = _ticket_data()
    history = model.fit(
        {"title": title_data, "body": body_data, "tags": tags_data},
        {"priority": priority_targets, "department": dept_targets},
        epochs=2,
        batch_size=32,
        shuffle=False,
        verbose=0,
    )
    assert set(history.history) == {
        "loss", "priority_loss", "department_loss", "priority_mae", "department_accuracy",
    }
    # The total is the weighted sum of the per-output losses (8 equal batches, no regularisers).
    h = history.history
    for epoch in range(2):
        np.testing.assert_allclose(h["loss"][epoch], h["priority_loss"][epoch] + 0.2 * h["department_loss"][epoch],
                                   rtol=1e-4)

    results = model.evaluate(
        {"title": title_data, "body": body_data, "tags": tags_data},
        {"priority": priority_targets, "department": dept_targets},
        verbose=0,
        return_dict=True,
    )
    assert set(results) == {"loss", "priority_loss", "department_loss", "priority_mae", "department_accuracy"}


def _toy_resnet():
    inputs = keras.Input(shape=(32, 32, 3), name="img")
    x = layers.Conv2D(32, 3, activation="relu")(inputs)
    x = layers.Conv2D(64, 3, activation="relu")(x)
    block_1_output = layers.MaxPooling2D(3)(x)

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_1_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_2_output = layers.add([x, block_1_output])

    x = layers.Conv2D(64, 3, activation="relu", padding="same")(block_2_output)
    x = layers.Conv2D(64, 3, activation="relu", padding="same")(x)
    block_3_output = layers.add([x, block_2_output])

    x = layers.Conv2D(64, 3, activation="relu")(block_3_output)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(256, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = layers.Dense(10)(x)

    model = keras.Model(inputs, outputs, name="toy_resnet")
    return model, block_1_output, block_3_output


def test_toy_resnet(make_images, summary_params):
    model, block_1_output, block_3_output = _toy_resnet()
    assert tuple(block_1_output.shape) == (None, 9, 9, 64)
    assert tuple(block_3_output.shape) == (None, 9, 9, 64)
    # Conv 3->32: 896; 32->64: 18,496; five 64->64 convs: 5*36,928; Dense 64->256: 16,640; 256->10: 2,570
    # -> 223,242 (the guide's summary)
    assert summary_params(model)[0]["total"] == 223242

    x_train, y_train = make_images(96, shape=(32, 32, 3), seed=5)
    x_train = x_train.astype("float32")
    y_train = keras.utils.to_categorical(y_train, 10)
    assert y_train.shape == (96, 10)

    model.compile(
        optimizer=keras.optimizers.RMSprop(1e-3),
        loss=keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["acc"],
    )
    history = model.fit(x_train, y_train, batch_size=32, epochs=1, validation_split=0.2, verbose=0)
    assert set(history.history) == {"loss", "acc", "val_loss", "val_acc"}
    assert np.isfinite(history.history["loss"][0])


def test_shared_layers():
    # guide: one Embedding(1000, 128) shared by two int sequences; here a Dense shared by two inputs.
    shared_dense = layers.Dense(8)
    text_input_a = keras.Input(shape=(16,))
    text_input_b = keras.Input(shape=(16,))
    encoded_input_a = shared_dense(text_input_a)
    encoded_input_b = shared_dense(text_input_b)
    model = keras.Model([text_input_a, text_input_b], [encoded_input_a, encoded_input_b])
    assert model.count_params() == 16 * 8 + 8  # the shared weights count once

    a = np.random.default_rng(0).random((3, 16)).astype("float32")
    out_a, out_b = model.predict([a, a], verbose=0)
    np.testing.assert_allclose(out_a, out_b, rtol=1e-6)


def test_extract_and_reuse_nodes():
    # guide: VGG19; here a small functional convnet.
    inputs = keras.Input(shape=(16, 16, 3))
    x = layers.Conv2D(8, 3, activation="relu", name="block1_conv")(inputs)
    x = layers.MaxPooling2D(2, name="block1_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(5, activation="softmax", name="predictions")(x)
    base = keras.Model(inputs, outputs, name="small_vgg")

    features_list = [layer.output for layer in base.layers]
    feat_extraction_model = keras.Model(inputs=base.input, outputs=features_list)

    img = np.random.random((1, 16, 16, 3)).astype("float32")
    extracted_features = feat_extraction_model(img)
    assert len(extracted_features) == len(base.layers) == 5
    shapes = [tuple(np.asarray(f).shape) for f in extracted_features]
    assert shapes == [(1, 16, 16, 3), (1, 14, 14, 8), (1, 7, 7, 8), (1, 392), (1, 5)]
    np.testing.assert_allclose(np.asarray(extracted_features[-1]), np.asarray(base(img)), rtol=1e-5, atol=1e-7)


class CustomDense(layers.Layer):
    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(
            shape=(input_shape[-1], self.units),
            initializer="random_normal",
            trainable=True,
        )
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {"units": self.units}


def test_custom_layer_in_functional_model_and_from_config():
    inputs = keras.Input((4,))
    outputs = CustomDense(10)(inputs)

    model = keras.Model(inputs, outputs)
    assert tuple(model.output_shape) == (None, 10)
    assert model.count_params() == 4 * 10 + 10
    config = model.get_config()
    json.dumps(config)  # a functional config is plain JSON

    new_model = keras.Model.from_config(config, custom_objects={"CustomDense": CustomDense})
    assert isinstance(new_model.layers[-1], CustomDense)
    assert new_model.layers[-1].units == 10
    x = np.ones((2, 4), dtype="float32")
    assert new_model.predict(x, verbose=0).shape == (2, 10)


units = 32
timesteps = 10
input_dim = 5


class CustomRNN(layers.Layer):
    def __init__(self):
        super().__init__()
        self.units = units
        self.projection_1 = layers.Dense(units=units, activation="tanh")
        self.projection_2 = layers.Dense(units=units, activation="tanh")
        self.classifier = layers.Dense(1)

    def call(self, inputs):
        outputs = []
        # guide: ops.zeros(shape=(inputs.shape[0], self.units)) -- gradflow.ops has no zeros
        state = np.zeros((inputs.shape[0], self.units), dtype="float32")
        for t in range(inputs.shape[1]):
            x = inputs[:, t, :]
            h = self.projection_1(x)
            y = h + self.projection_2(state)
            state = y
            outputs.append(y)
        features = ops.stack(outputs, axis=1)
        return self.classifier(features)


def test_mix_and_match_custom_rnn_layer():
    rnn_model = CustomRNN()
    out = rnn_model(np.zeros((1, timesteps, input_dim), dtype="float32"))
    assert tuple(out.shape) == (1, timesteps, 1)
    # projection_1: 5*32+32, projection_2: 32*32+32, classifier: 32+1
    assert sum(int(np.prod(w.shape)) for w in rnn_model.weights) == 192 + 1056 + 33
