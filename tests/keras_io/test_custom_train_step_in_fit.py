"""Port of keras-io ``guides/custom_train_step_in_torch.py`` (Keras 3 edition,
``guides/keras_core/custom_train_step_in_torch.py``), the guide whose autograd style gradflow shares.

Only the imports change, plus the gradient step written with gradflow's autograd (as the torch guide
does with torch's): ``self.zero_grad(); loss.backward(); grads = [v.grad for v in trainable_weights]``
(torch: ``v.value.grad``) and no ``torch.no_grad()`` around ``optimizer.apply``.
The GAN: ``LeakyReLU(negative_slope=0.2)`` -> ``Activation("leaky_relu")`` (the same function, Keras 3's
default slope is 0.2), ``Conv2DTranspose(128, 4, strides=2, padding="same")`` ->
``UpSampling2D(2)`` + ``Conv2D(.., padding="same")``, filters 128 -> 16, latent_dim 128 -> 16,
torch tensors -> numpy/ops, ``keras.random.SeedGenerator(1337)`` -> ``seed=None`` calls.
"""
import numpy as np

import gradflow as keras
from gradflow import layers, ops


class CustomModel(keras.Model):
    train_step_calls = 0

    def train_step(self, data):
        type(self).train_step_calls += 1
        # Unpack the data. Its structure depends on your model and on what you pass to `fit()`.
        x, y = data

        # Compute loss
        y_pred = self(x, training=True)  # Forward pass
        loss = self.compute_loss(y=y, y_pred=y_pred)

        # Clear the leftover gradients, then compute the gradients for the weights.
        self.zero_grad()
        loss.backward()

        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.grad for v in trainable_weights]

        # Update weights
        self.optimizer.apply(gradients, trainable_weights)

        # Update metrics (includes the metric that tracks the loss)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)

        # Return a dict mapping metric names to current value
        # Note that it will include the loss (tracked in self.metrics).
        return {m.name: m.result() for m in self.metrics}


def _data(n=256, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 32)).astype("float32")
    w = rng.normal(size=(32, 1)).astype("float32") / 4
    y = (x @ w + 0.1).astype("float32")  # learnable, unlike the guide's random targets
    return x, y


def test_a_first_simple_example():
    CustomModel.train_step_calls = 0
    # Construct and compile an instance of CustomModel
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = CustomModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])

    # Just use `fit` as usual
    x, y = _data()
    history = model.fit(x, y, epochs=3, verbose=0)
    assert CustomModel.train_step_calls == 3 * 8  # 256 samples, default batch size 32
    assert set(history.history) == {"loss", "mae"}
    assert history.history["loss"][-1] < history.history["loss"][0]


class LowLevelModel(keras.Model):  # the guide's second `CustomModel`
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.mae_metric = keras.metrics.MeanAbsoluteError(name="mae")
        self.loss_fn = keras.losses.MeanSquaredError()
        self.batch_losses = []

    def train_step(self, data):
        x, y = data

        # Compute loss
        y_pred = self(x, training=True)  # Forward pass
        loss = self.loss_fn(y, y_pred)

        self.zero_grad()
        loss.backward()

        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.grad for v in trainable_weights]

        # Update weights
        self.optimizer.apply(gradients, trainable_weights)

        # Compute our own metrics
        self.batch_losses.append(float(np.asarray(loss)))
        self.loss_tracker.update_state(loss)
        self.mae_metric.update_state(y, y_pred)
        return {
            "loss": self.loss_tracker.result(),
            "mae": self.mae_metric.result(),
        }

    @property
    def metrics(self):
        # We list our `Metric` objects here so that `reset_states()` can be called automatically at the
        # start of each epoch or at the start of `evaluate()`.
        return [self.loss_tracker, self.mae_metric]


def test_going_lower_level():
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = LowLevelModel(inputs, outputs)

    # We don't pass a loss or metrics here.
    model.compile(optimizer="adam")

    # Just use `fit` as usual -- you can use callbacks, etc.
    x, y = _data()
    history = model.fit(x, y, epochs=5, verbose=0)
    assert set(history.history) == {"loss", "mae"}
    assert len(model.batch_losses) == 5 * 8
    # The metrics listed in `metrics` are reset at the start of every epoch: each epoch's "loss" is the
    # mean of that epoch's batch losses only.
    per_epoch = np.asarray(model.batch_losses).reshape(5, 8).mean(axis=1)
    np.testing.assert_allclose(history.history["loss"], per_epoch, rtol=1e-5)


class WeightedModel(keras.Model):  # the guide's third `CustomModel`: sample_weight support
    seen_lengths = []

    def train_step(self, data):
        # Unpack the data. Its structure depends on your model and on what you pass to `fit()`.
        type(self).seen_lengths.append(len(data))
        if len(data) == 3:
            x, y, sample_weight = data
        else:
            sample_weight = None
            x, y = data

        # Compute loss
        y_pred = self(x, training=True)  # Forward pass
        loss = self.compute_loss(
            y=y,
            y_pred=y_pred,
            sample_weight=sample_weight,
        )

        self.zero_grad()
        loss.backward()

        trainable_weights = [v for v in self.trainable_weights]
        gradients = [v.grad for v in trainable_weights]

        # Update weights
        self.optimizer.apply(gradients, trainable_weights)

        # Update metrics (includes the metric that tracks the loss)
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred, sample_weight=sample_weight)

        # Return a dict mapping metric names to current value
        return {m.name: m.result() for m in self.metrics}


def test_supporting_sample_weight():
    WeightedModel.seen_lengths = []
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = WeightedModel(inputs, outputs)
    model.compile(optimizer="adam", loss="mse", metrics=["mae"])

    # You can now use sample_weight argument
    x, y = _data()
    sw = np.random.default_rng(1).random((256, 1)).astype("float32")
    history = model.fit(x, y, sample_weight=sw, epochs=3, verbose=0)
    assert WeightedModel.seen_lengths == [3] * 24
    assert set(history.history) == {"loss", "mae"}


class EvalModel(keras.Model):  # the guide's fourth `CustomModel`: a custom test_step
    def test_step(self, data):
        # Unpack the data
        x, y = data
        # Compute predictions
        y_pred = self(x, training=False)
        # Updates the metrics tracking the loss
        loss = self.compute_loss(y=y, y_pred=y_pred)
        # Update the metrics.
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, y_pred)
        # Return a dict mapping metric names to current value.
        return {m.name: m.result() for m in self.metrics}


def test_providing_your_own_evaluation_step():
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = EvalModel(inputs, outputs)
    model.compile(loss="mse", metrics=["mae"])

    # Evaluate with our custom test_step
    x, y = _data()
    results = model.evaluate(x, y, verbose=0)
    assert len(results) == 2
    pred = model.predict(x, verbose=0)
    # 8 equal batches, so the mean of the batch means is the overall mean
    np.testing.assert_allclose(results[0], np.mean((pred - y) ** 2), rtol=1e-5)
    np.testing.assert_allclose(results[1], np.mean(np.abs(pred - y)), rtol=1e-5)


# Create the discriminator
def make_discriminator():
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
            layers.Activation("leaky_relu"),  # guide: layers.LeakyReLU(negative_slope=0.2)
            layers.Conv2D(16, (3, 3), strides=(2, 2), padding="same"),
            layers.Activation("leaky_relu"),
            layers.GlobalMaxPooling2D(),
            layers.Dense(1),
        ],
        name="discriminator",
    )


latent_dim = 16


# Create the generator
def make_generator():
    return keras.Sequential(
        [
            keras.Input(shape=(latent_dim,)),
            # We want to generate 7x7x16 coefficients to reshape into a 7x7x16 map
            layers.Dense(7 * 7 * 16),
            layers.Activation("leaky_relu"),
            layers.Reshape((7, 7, 16)),
            # guide: Conv2DTranspose(128, (4, 4), strides=(2, 2), padding="same")
            layers.UpSampling2D(2),
            layers.Conv2D(16, (3, 3), padding="same"),
            layers.Activation("leaky_relu"),
            layers.UpSampling2D(2),
            layers.Conv2D(16, (3, 3), padding="same"),
            layers.Activation("leaky_relu"),
            layers.Conv2D(1, (7, 7), padding="same", activation="sigmoid"),
        ],
        name="generator",
    )


class GAN(keras.Model):
    def __init__(self, discriminator, generator, latent_dim):
        super().__init__()
        self.discriminator = discriminator
        self.generator = generator
        self.latent_dim = latent_dim
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.built = True

    @property
    def metrics(self):
        return [self.d_loss_tracker, self.g_loss_tracker]

    def compile(self, d_optimizer, g_optimizer, loss_fn):
        super().compile()
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.loss_fn = loss_fn

    def train_step(self, real_images):
        if isinstance(real_images, tuple):
            real_images = real_images[0]
        # Sample random points in the latent space
        batch_size = real_images.shape[0]
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim))

        # Decode them to fake images
        generated_images = self.generator(random_latent_vectors)

        # Combine them with real images
        combined_images = ops.concatenate([generated_images, real_images], axis=0)

        # Assemble labels discriminating real from fake images
        labels = ops.concatenate(
            [
                np.ones((batch_size, 1), dtype="float32"),
                np.zeros((batch_size, 1), dtype="float32"),
            ],
            axis=0,
        )
        # Add random noise to the labels - important trick!
        labels += 0.05 * keras.random.uniform(labels.shape)

        # Train the discriminator
        self.zero_grad()
        predictions = self.discriminator(combined_images)
        d_loss = self.loss_fn(labels, predictions)
        d_loss.backward()
        grads = [v.grad for v in self.discriminator.trainable_weights]
        self.d_optimizer.apply(grads, self.discriminator.trainable_weights)

        # Sample random points in the latent space
        random_latent_vectors = keras.random.normal(shape=(batch_size, self.latent_dim))

        # Assemble labels that say "all real images"
        misleading_labels = np.zeros((batch_size, 1), dtype="float32")

        # Train the generator (note that we should *not* update the weights of the discriminator)!
        self.zero_grad()
        predictions = self.discriminator(self.generator(random_latent_vectors))
        g_loss = self.loss_fn(misleading_labels, predictions)
        g_loss.backward()
        grads = [v.grad for v in self.generator.trainable_weights]
        self.g_optimizer.apply(grads, self.generator.trainable_weights)

        # Update metrics and return their value.
        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        return {
            "d_loss": self.d_loss_tracker.result(),
            "g_loss": self.g_loss_tracker.result(),
        }


def test_end_to_end_gan(make_images):
    discriminator = make_discriminator()
    generator = make_generator()
    assert tuple(generator.output_shape) == (None, 28, 28, 1)

    # Prepare the dataset (the guide uses all 70,000 MNIST digits, batch size 64).
    batch_size = 32
    all_digits, _ = make_images(64, seed=7)

    gan = GAN(discriminator=discriminator, generator=generator, latent_dim=latent_dim)
    gan.compile(
        d_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        g_optimizer=keras.optimizers.Adam(learning_rate=0.0003),
        loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
    )
    d_before = [w.copy() for w in discriminator.get_weights()]
    g_before = [w.copy() for w in generator.get_weights()]

    history = gan.fit(all_digits, epochs=1, batch_size=batch_size, verbose=0)
    assert set(history.history) == {"d_loss", "g_loss"}
    assert all(np.isfinite(history.history[k][0]) for k in ("d_loss", "g_loss"))
    # Both players were trained by their own optimizer.
    assert all(not np.allclose(a, b) for a, b in zip(d_before[:1], discriminator.get_weights()[:1]))
    assert all(not np.allclose(a, b) for a, b in zip(g_before[:1], generator.get_weights()[:1]))
    assert int(np.asarray(gan.d_optimizer.iterations)) == 2
    assert int(np.asarray(gan.g_optimizer.iterations)) == 2
