"""Port of keras-io ``examples/keras_recipes/antirectifier.py`` (Keras 3 edition, written with ``keras.ops``).

Only the imports change. MNIST -> 512 + 128 synthetic 784-d vectors; 20 epochs -> 3.
"""
import numpy as np

import gradflow as keras
from gradflow import layers, ops


class Antirectifier(layers.Layer):
    def __init__(self, initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.initializer = keras.initializers.get(initializer)

    def build(self, input_shape):
        output_dim = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(output_dim * 2, output_dim),
            initializer=self.initializer,
            name="kernel",
            trainable=True,
        )

    def call(self, inputs):
        inputs -= ops.mean(inputs, axis=-1, keepdims=True)
        pos = ops.relu(inputs)
        neg = ops.relu(-inputs)
        concatenated = ops.concatenate([pos, neg], axis=-1)
        mixed = ops.matmul(concatenated, self.kernel)
        return mixed

    def get_config(self):
        # Implement get_config to enable serialization. This is optional.
        base_config = super().get_config()
        config = {"initializer": keras.initializers.serialize(self.initializer)}
        return dict(list(base_config.items()) + list(config.items()))


def test_antirectifier_layer_math():
    layer = Antirectifier(initializer="ones")
    x = np.array([[1.0, -2.0, 4.0]], dtype="float32")
    y = np.asarray(layer(x))
    centered = x - x.mean(axis=-1, keepdims=True)
    expected = np.concatenate([np.maximum(centered, 0), np.maximum(-centered, 0)], axis=-1) @ np.ones((6, 3))
    np.testing.assert_allclose(y, expected, rtol=1e-6)
    assert [tuple(w.shape) for w in layer.weights] == [(6, 3)]


def test_antirectifier_on_mnist(mnist_vectors, summary_params):
    # Training parameters
    batch_size = 128
    epochs = 3

    # The data, split between train and test sets
    x_train, y_train = mnist_vectors(512, seed=0)
    x_test, y_test = mnist_vectors(128, seed=1)

    # Build the model
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            layers.Dense(256),
            Antirectifier(),
            layers.Dense(256),
            Antirectifier(),
            layers.Dropout(0.5),
            layers.Dense(10),
        ]
    )
    # Dense 784*256+256 = 200,960; Antirectifier kernel 512*256 = 131,072; Dense 256*256+256 = 65,792;
    # Antirectifier 131,072; Dense 256*10+10 = 2,570 -> 531,466
    assert summary_params(model)[0]["total"] == 531466

    # Compile the model
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.RMSprop(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )

    # Train the model
    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.15, verbose=0)
    assert set(history.history) == {
        "loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy",
    }

    # Test the model
    loss, acc = model.evaluate(x_test, y_test, verbose=0)
    assert acc > 0.5  # chance is 0.1

    # get_config enables serialization: the model saves and reloads with the custom layer.
    model.save("antirectifier.keras")
    reloaded = keras.models.load_model("antirectifier.keras", custom_objects={"Antirectifier": Antirectifier})
    np.testing.assert_allclose(reloaded.predict(x_test, verbose=0), model.predict(x_test, verbose=0),
                               rtol=1e-5, atol=1e-6)
    config = model.layers[1].get_config()
    clone = Antirectifier.from_config(config)
    assert type(clone.initializer).__name__ == "HeNormal"
