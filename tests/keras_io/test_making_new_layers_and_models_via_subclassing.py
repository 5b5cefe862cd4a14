"""Port of keras-io ``guides/making_new_layers_and_models_via_subclassing.py`` (Keras 3 edition,
``guides/keras_core/making_new_layers_and_models_via_subclassing.py``).

Only the imports change, plus: ``ops.ones``/``ops.zeros`` -> ``np.ones``/``np.zeros`` and
``ops.shape(t)`` -> ``t.shape`` (gradflow.ops had none of the three when this was ported); MNIST -> synthetic vectors.
The mask section and the markdown-only ResNet sketch have no code to port.
"""
import numpy as np
import pytest

import gradflow as keras
from gradflow import layers, ops


class Linear(keras.layers.Layer):
    def __init__(self, units=32, input_dim=32):
        super().__init__()
        self.w = self.add_weight(
            shape=(input_dim, units),
            initializer="random_normal",
            trainable=True,
        )
        self.b = self.add_weight(shape=(units,), initializer="zeros", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b


def test_layer_with_weights_created_in_init():
    x = np.ones((2, 2), dtype="float32")  # guide: ops.ones((2, 2))
    linear_layer = Linear(4, 2)
    y = linear_layer(x)
    assert tuple(y.shape) == (2, 4)
    # The weights `w` and `b` are automatically tracked by the layer upon being set as attributes
    assert linear_layer.weights == [linear_layer.w, linear_layer.b]
    w = np.asarray(linear_layer.w)
    np.testing.assert_allclose(np.asarray(y), np.ones((2, 2)) @ w, rtol=1e-6)  # b is zeros


class ComputeSum(keras.layers.Layer):
    def __init__(self, input_dim):
        super().__init__()
        self.total = self.add_weight(initializer="zeros", shape=(input_dim,), trainable=False)

    def call(self, inputs):
        self.total.assign_add(ops.sum(inputs, axis=0))
        return self.total


def test_non_trainable_weight():
    x = np.ones((2, 2), dtype="float32")
    my_sum = ComputeSum(2)
    y = my_sum(x)
    np.testing.assert_array_equal(y.numpy(), [2.0, 2.0])
    y = my_sum(x)
    np.testing.assert_array_equal(y.numpy(), [4.0, 4.0])

    assert len(my_sum.weights) == 1
    assert len(my_sum.non_trainable_weights) == 1
    # It's not included in the trainable weights:
    assert my_sum.trainable_weights == []


class LazyLinear(keras.layers.Layer):  # the guide's third `Linear`: weights created in build()
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


def test_deferred_weight_creation_in_build():
    x = np.ones((2, 2), dtype="float32")
    # At instantiation, we don't know on what inputs this is going to get called
    linear_layer = LazyLinear(32)
    assert linear_layer.weights == []
    # The layer's weights are created dynamically the first time the layer is called
    y = linear_layer(x)
    assert tuple(y.shape) == (2, 32)
    assert [tuple(w.shape) for w in linear_layer.weights] == [(2, 32), (32,)]
    assert linear_layer.built


class MLPBlock(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.linear_1 = LazyLinear(32)
        self.linear_2 = LazyLinear(32)
        self.linear_3 = LazyLinear(1)

    def call(self, inputs):
        x = self.linear_1(inputs)
        x = keras.activations.relu(x)
        x = self.linear_2(x)
        x = keras.activations.relu(x)
        return self.linear_3(x)


def test_layers_are_recursively_composable():
    mlp = MLPBlock()
    y = mlp(np.ones(shape=(3, 64), dtype="float32"))  # The first call to the `mlp` will create the weights
    assert tuple(y.shape) == (3, 1)
    assert len(mlp.weights) == 6
    assert len(mlp.trainable_weights) == 6


# A layer that creates an activity regularization loss
class ActivityRegularizationLayer(keras.layers.Layer):
    def __init__(self, rate=1e-2):
        super().__init__()
        self.rate = rate

    def call(self, inputs):
        self.add_loss(self.rate * ops.mean(inputs))
        return inputs


class OuterLayer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.activity_reg = ActivityRegularizationLayer(1e-2)

    def call(self, inputs):
        return self.activity_reg(inputs)


def test_add_loss_is_reset_at_each_call():
    layer = OuterLayer()
    assert len(layer.losses) == 0  # No losses yet since the layer has never been called

    _ = layer(np.zeros((1, 1), dtype="float32"))
    assert len(layer.losses) == 1  # We created one loss value

    # `layer.losses` gets reset at the start of each __call__
    _ = layer(np.zeros((1, 1), dtype="float32"))
    assert len(layer.losses) == 1  # This is the loss created during the call above

    _ = layer(np.full((1, 1), 3.0, dtype="float32"))
    assert float(np.asarray(layer.losses[0])) == pytest.approx(1e-2 * 3.0)


class OuterLayerWithKernelRegularizer(keras.layers.Layer):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(32, kernel_regularizer=keras.regularizers.l2(1e-3))

    def call(self, inputs):
        return self.dense(inputs)


def test_losses_include_inner_kernel_regularizers():
    layer = OuterLayerWithKernelRegularizer()
    _ = layer(np.zeros((1, 1), dtype="float32"))
    # This is `1e-3 * sum(layer.dense.kernel ** 2)`, created by the `kernel_regularizer` above.
    assert len(layer.losses) == 1
    kernel = np.asarray(layer.dense.kernel, dtype="float64")
    assert float(np.asarray(layer.losses[0])) == pytest.approx(1e-3 * np.sum(kernel**2), rel=1e-5)


def test_add_loss_works_with_fit():
    inputs = keras.Input(shape=(3,))
    outputs = ActivityRegularizationLayer()(inputs)
    model = keras.Model(inputs, outputs)

    # If there is a loss passed in `compile`, the regularization losses get added to it
    model.compile(optimizer="adam", loss="mse")
    x, y = np.random.random((2, 3)).astype("float32"), np.random.random((2, 3)).astype("float32")
    history = model.fit(x, y, verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], np.mean((x - y) ** 2) + 1e-2 * np.mean(x), rtol=1e-5)

    # It's also possible not to pass any loss in `compile`, since the model already has a loss to
    # minimize, via the `add_loss` call during the forward pass!
    model.compile(optimizer="adam")
    x = np.random.random((2, 3)).astype("float32")
    history = model.fit(x, np.random.random((2, 3)), verbose=0)
    np.testing.assert_allclose(history.history["loss"][0], 1e-2 * np.mean(x), rtol=1e-5)


class ConfigLinear(keras.layers.Layer):  # the guide's `Linear` with get_config (no **kwargs)
    def __init__(self, units=32):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        return {"units": self.units}


class KwargsLinear(keras.layers.Layer):  # the guide's `Linear` passing **kwargs to the base class
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)

    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def test_serializable_layers():
    # Now you can recreate the layer from its config:
    layer = ConfigLinear(64)
    config = layer.get_config()
    assert config == {"units": 64}
    new_layer = ConfigLinear.from_config(config)
    assert new_layer.units == 64

    layer = KwargsLinear(64, name="my_linear")
    config = layer.get_config()
    assert config["units"] == 64
    assert config["name"] == "my_linear"
    assert "trainable" in config and "dtype" in config  # the base Layer config
    new_layer = KwargsLinear.from_config(config)
    assert new_layer.units == 64 and new_layer.name == "my_linear"


class CustomDropout(keras.layers.Layer):
    def __init__(self, rate, **kwargs):
        super().__init__(**kwargs)
        self.rate = rate

    def call(self, inputs, training=None):
        if training:
            return keras.random.dropout(inputs, rate=self.rate)
        return inputs


def test_privileged_training_argument():
    layer = CustomDropout(0.5)
    x = np.ones((100, 100), dtype="float32")
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(layer(x)), x)  # training defaults to None -> inference
    y = np.asarray(layer(x, training=True))
    dropped = np.mean(y == 0)
    assert 0.4 < dropped < 0.6
    np.testing.assert_allclose(y[y != 0], 2.0, rtol=1e-6)  # kept units are scaled by 1 / (1 - rate)

    # In a model, fit() calls it with training=True and predict() with training=False.
    inputs = keras.Input(shape=(100,))
    model = keras.Model(inputs, CustomDropout(0.5)(inputs))
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)


class Sampling(layers.Layer):
    """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

    def call(self, inputs):
        z_mean, z_log_var = inputs
        batch = z_mean.shape[0]  # guide: ops.shape(z_mean)[0]
        dim = z_mean.shape[1]
        epsilon = keras.random.normal(shape=(batch, dim))
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon


class Encoder(layers.Layer):
    """Maps MNIST digits to a triplet (z_mean, z_log_var, z)."""

    def __init__(self, latent_dim=32, intermediate_dim=64, name="encoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_mean = layers.Dense(latent_dim)
        self.dense_log_var = layers.Dense(latent_dim)
        self.sampling = Sampling()

    def call(self, inputs):
        x = self.dense_proj(inputs)
        z_mean = self.dense_mean(x)
        z_log_var = self.dense_log_var(x)
        z = self.sampling((z_mean, z_log_var))
        return z_mean, z_log_var, z


class Decoder(layers.Layer):
    """Converts z, the encoded digit vector, back into a readable digit."""

    def __init__(self, original_dim, intermediate_dim=64, name="decoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.dense_proj = layers.Dense(intermediate_dim, activation="relu")
        self.dense_output = layers.Dense(original_dim, activation="sigmoid")

    def call(self, inputs):
        x = self.dense_proj(inputs)
        return self.dense_output(x)


class VariationalAutoEncoder(keras.Model):
    """Combines the encoder and decoder into an end-to-end model for training."""

    def __init__(self, original_dim, intermediate_dim=64, latent_dim=32, name="autoencoder", **kwargs):
        super().__init__(name=name, **kwargs)
        self.original_dim = original_dim
        self.encoder = Encoder(latent_dim=latent_dim, intermediate_dim=intermediate_dim)
        self.decoder = Decoder(original_dim, intermediate_dim=intermediate_dim)

    def call(self, inputs):
        z_mean, z_log_var, z = self.encoder(inputs)
        reconstructed = self.decoder(z)
        # Add KL divergence regularization loss.
        kl_loss = -0.5 * ops.mean(z_log_var - ops.square(z_mean) - ops.exp(z_log_var) + 1)
        self.add_loss(kl_loss)
        return reconstructed


def test_end_to_end_variational_autoencoder(mnist_vectors):
    x_train, _ = mnist_vectors(256)

    original_dim = 784
    vae = VariationalAutoEncoder(784, 64, 32)

    optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    vae.compile(optimizer, loss=keras.losses.MeanSquaredError())

    history = vae.fit(x_train, x_train, epochs=2, batch_size=64, verbose=0)
    assert set(history.history) == {"loss"}
    assert history.history["loss"][1] < history.history["loss"][0]

    # The model tracks the layers assigned as attributes and their weights:
    # encoder 784*64+64 + 2*(64*32+32) = 54,400; decoder 32*64+64 + 64*784+784 = 53,072
    assert vae.count_params() == 54400 + 53072
    assert len(vae.trainable_weights) == 10

    reconstructed = vae.predict(x_train[:8], verbose=0)
    assert reconstructed.shape == (8, original_dim)
    assert np.all((reconstructed >= 0) & (reconstructed <= 1))
