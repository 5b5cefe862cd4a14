"""Port of keras-io ``examples/generative/vae.py`` ("Variational AutoEncoder", Keras 3 edition): a
``Sampling`` layer drawing with ``keras.random.normal(seed=SeedGenerator(1337))``, a convolutional encoder
with two heads and a ``Conv2DTranspose`` decoder, and a ``VAE`` model with a custom ``train_step`` and three
``Mean`` trackers listed in its ``metrics`` property; then the decoder on a grid of latent points and the
encoder's means of labelled digits (the example's two plots).

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). Substitutions: the ``tf.GradientTape`` step -> the autograd step of the
keras-io guide ``custom_train_step_in_torch`` (``zero_grad(); loss.backward()``, the gradients read from
the weights, ``optimizer.apply``), which on gradflow reads ``v.grad`` and on torch ``v.value.grad`` under
``torch.no_grad()`` (``apply_gradients`` below, the one place the two differ); ``tf.reduce_*``/
``tf.square``/``tf.exp`` -> ``ops.*``; MNIST (70,000 digits) -> 256 synthetic digits; filters 32 / 64 -> 8 / 16;
30 epochs of batch 128 -> 2 of batch 64; the 30 x 30 latent grid -> 3 x 3; matplotlib -> shape checks.

Compared with Keras on the same weights: the encoder's ``z_mean``/``z_log_var`` and the decoder's output
must be equal; the sampled ``z`` differs (each framework draws its own normals from seed 1337), so the
training losses must only agree within a band, and ``Sampling``'s statistics must be those of a normal.
"""
import numpy as np

import gradflow as keras

from .conftest import IGNORE_TORCH_ARRAY_WARNING, class_images

pytestmark = IGNORE_TORCH_ARRAY_WARNING

latent_dim = 2


def apply_gradients(k, model, loss):
    """The gradient step of ``custom_train_step_in_torch``, for either framework."""
    model.zero_grad()
    loss.backward()
    trainable_weights = [v for v in model.trainable_weights]
    if k is keras:
        gradients = [v.grad for v in trainable_weights]
        model.optimizer.apply(gradients, trainable_weights)
    else:
        import torch  # noqa: PLC0415 - only where the program runs on Keras's torch backend

        gradients = [v.value.grad for v in trainable_weights]
        with torch.no_grad():
            model.optimizer.apply(gradients, trainable_weights)


def vae_classes(k):
    ops = k.ops

    class Sampling(k.layers.Layer):
        """Uses (z_mean, z_log_var) to sample z, the vector encoding a digit."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.seed_generator = k.random.SeedGenerator(1337)

        def call(self, inputs):
            z_mean, z_log_var = inputs
            batch = ops.shape(z_mean)[0]
            dim = ops.shape(z_mean)[1]
            epsilon = k.random.normal(shape=(batch, dim), seed=self.seed_generator)
            return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    class VAE(k.Model):
        def __init__(self, encoder, decoder, **kwargs):
            super().__init__(**kwargs)
            self.encoder = encoder
            self.decoder = decoder
            self.total_loss_tracker = k.metrics.Mean(name="total_loss")
            self.reconstruction_loss_tracker = k.metrics.Mean(name="reconstruction_loss")
            self.kl_loss_tracker = k.metrics.Mean(name="kl_loss")

        @property
        def metrics(self):
            return [
                self.total_loss_tracker,
                self.reconstruction_loss_tracker,
                self.kl_loss_tracker,
            ]

        def train_step(self, data):
            z_mean, z_log_var, z = self.encoder(data)
            reconstruction = self.decoder(z)
            reconstruction_loss = ops.mean(
                ops.sum(k.losses.binary_crossentropy(data, reconstruction), axis=(1, 2))
            )
            kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
            kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
            total_loss = reconstruction_loss + kl_loss
            apply_gradients(k, self, total_loss)
            self.total_loss_tracker.update_state(total_loss)
            self.reconstruction_loss_tracker.update_state(reconstruction_loss)
            self.kl_loss_tracker.update_state(kl_loss)
            return {
                "loss": self.total_loss_tracker.result(),
                "reconstruction_loss": self.reconstruction_loss_tracker.result(),
                "kl_loss": self.kl_loss_tracker.result(),
            }

        def call(self, x):
            z_mean, z_log_var, z = self.encoder(x)
            return self.decoder(z)

    return Sampling, VAE


def build_encoder_decoder(k):
    Sampling, _ = vae_classes(k)
    layers = k.layers
    encoder_inputs = k.Input(shape=(28, 28, 1))
    x = layers.Conv2D(8, 3, activation="relu", strides=2, padding="same")(encoder_inputs)
    x = layers.Conv2D(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="relu")(x)
    z_mean = layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    encoder = k.Model(encoder_inputs, [z_mean, z_log_var, z], name="encoder")

    latent_inputs = k.Input(shape=(latent_dim,))
    x = layers.Dense(7 * 7 * 16, activation="relu")(latent_inputs)
    x = layers.Reshape((7, 7, 16))(x)
    x = layers.Conv2DTranspose(16, 3, activation="relu", strides=2, padding="same")(x)
    x = layers.Conv2DTranspose(8, 3, activation="relu", strides=2, padding="same")(x)
    decoder_outputs = layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    decoder = k.Model(latent_inputs, decoder_outputs, name="decoder")
    return encoder, decoder


def digits():
    x, y = class_images(256, seed=0)
    return x, y


def run_program(k, weights=None):
    _, VAE = vae_classes(k)
    encoder, decoder = build_encoder_decoder(k)
    # conv 3*3*1*8 + 8 = 80; conv 3*3*8*16 + 16 = 1,168; Dense 784*16 + 16 = 12,560; two heads 34 each
    assert encoder.count_params() == 80 + 1168 + 12560 + 2 * 34
    # Dense 2*784 + 784 = 2,352; conv-T 3*3*16*16 + 16 = 2,320; 3*3*16*8 + 8 = 1,160; 3*3*8*1 + 1 = 73
    assert decoder.count_params() == 2352 + 2320 + 1160 + 73
    if weights is not None:
        encoder.set_weights(weights[0])
        decoder.set_weights(weights[1])
    start = (encoder.get_weights(), decoder.get_weights())

    mnist_digits, labels = digits()
    vae = VAE(encoder, decoder)
    vae.compile(optimizer=k.optimizers.Adam())
    history = vae.fit(mnist_digits, epochs=2, batch_size=64, verbose=0, shuffle=False).history

    # A grid of decoded latent points (the example plots 30 x 30 of them).
    n, digit_size, scale = 3, 28, 1.0
    figure = np.zeros((digit_size * n, digit_size * n))
    grid_x = np.linspace(-scale, scale, n)
    grid_y = np.linspace(-scale, scale, n)[::-1]
    for i, yi in enumerate(grid_y):
        for j, xi in enumerate(grid_x):
            z_sample = np.array([[xi, yi]])
            x_decoded = vae.decoder.predict(z_sample, verbose=0)
            digit = x_decoded[0].reshape(digit_size, digit_size)
            figure[i * digit_size: (i + 1) * digit_size, j * digit_size: (j + 1) * digit_size] = digit
    assert 0.0 <= figure.min() and figure.max() <= 1.0

    # The latent means of labelled digits (the example's scatter plot).
    z_mean, _, _ = vae.encoder.predict(mnist_digits, verbose=0)
    assert z_mean.shape == (256, latent_dim) and len(labels) == 256
    return start, history, vae


def check_history(history):
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss"}
    assert history["loss"][1] < history["loss"][0]
    np.testing.assert_allclose(np.add(history["reconstruction_loss"], history["kl_loss"]), history["loss"],
                               rtol=1e-4)


def test_vae():
    _, history, _ = run_program(keras)
    check_history(history)


def test_the_program_runs_on_real_keras(real_keras):
    _, history, _ = run_program(real_keras)
    check_history(history)


def test_same_as_keras(real_keras):
    x, _ = digits()
    ke, kd = build_encoder_decoder(real_keras)
    ge, gd = build_encoder_decoder(keras)
    ge.set_weights(ke.get_weights())
    gd.set_weights(kd.get_weights())
    (kmean, klogvar, _), (gmean, glogvar, gz) = ke.predict(x, verbose=0), ge.predict(x, verbose=0)
    np.testing.assert_allclose(gmean, kmean, atol=1e-5)
    np.testing.assert_allclose(glogvar, klogvar, atol=1e-5)
    eps = (gz - gmean) / np.exp(0.5 * glogvar)  # Sampling's normals
    assert abs(eps.mean()) < 0.15 and abs(eps.std() - 1) < 0.15
    np.testing.assert_allclose(gd.predict(kmean, verbose=0), kd.predict(kmean, verbose=0), atol=1e-5)

    start, hk, _ = run_program(real_keras)
    _, hg, _ = run_program(keras, weights=start)
    for key in hk:  # the same data and weights, different normals
        assert abs(hg[key][-1] - hk[key][-1]) < 0.1 * abs(hk[key][-1]) + 0.5, key
