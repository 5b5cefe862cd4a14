"""Port of keras-io ``examples/vision/autoencoder.py`` ("Convolutional autoencoder for image denoising").

Only the imports change (``from gradflow import layers``, ``from gradflow.models import Model``).
MNIST -> 512 + 64 synthetic 28x28 class images (conftest.class_images, scaled to 0-255 like
``mnist.load_data()`` so that ``preprocess`` runs as written); the example's two trainings (50 epochs on
clean images, then 100 on noisy ones, batch 128) -> 4 + 4 epochs of batch 32, and 16 filters in
place of 32. ``display`` (matplotlib) is left out. The same program then runs on real Keras 3 (``k`` below)
and must reach a similar loss.
"""
import numpy as np

import gradflow as keras
from gradflow import layers  # noqa: F401 - the example's imports; the program below is written against `k`
from gradflow.models import Model  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING, class_images

pytestmark = IGNORE_TORCH_ARRAY_WARNING


def preprocess(array):
    """
    Normalizes the supplied array and reshapes it into the appropriate format.
    """

    array = array.astype("float32") / 255.0
    array = np.reshape(array, (len(array), 28, 28, 1))
    return array


def noise(array, rng):
    """
    Adds random noise to each image in the supplied array.
    """

    noise_factor = 0.4
    noisy_array = array + noise_factor * rng.normal(loc=0.0, scale=1.0, size=array.shape)

    return np.clip(noisy_array, 0.0, 1.0).astype("float32")  # float32: Keras's torch backend takes float64 as is


def mnist_images(n, seed):
    """``mnist.load_data()``'s images, without labels: ``(n, 28, 28)`` uint8."""
    x, _ = class_images(n, (28, 28, 1), seed=seed)
    return np.round(x[..., 0] * 255).astype("uint8")


def build_autoencoder(k, filters=16):  # the example: 32 filters in every layer
    k_layers, KModel = k.layers, k.models.Model
    input = k_layers.Input(shape=(28, 28, 1))

    # Encoder
    x = k_layers.Conv2D(filters, (3, 3), activation="relu", padding="same")(input)
    x = k_layers.MaxPooling2D((2, 2), padding="same")(x)
    x = k_layers.Conv2D(filters, (3, 3), activation="relu", padding="same")(x)
    x = k_layers.MaxPooling2D((2, 2), padding="same")(x)

    # Decoder
    x = k_layers.Conv2DTranspose(filters, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = k_layers.Conv2DTranspose(filters, (3, 3), strides=2, activation="relu", padding="same")(x)
    x = k_layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(x)

    # Autoencoder
    autoencoder = KModel(input, x)
    autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
    return autoencoder


def run_example(k, seed=0):
    """Prepare the data, build, train on clean then noisy images: ``(autoencoder, histories, data)``."""
    k.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)

    # Since we only need images from the dataset to encode and decode, we won't use the labels.
    train_data, test_data = mnist_images(512, seed=0), mnist_images(64, seed=1)

    # Normalize and reshape the data
    train_data = preprocess(train_data)
    test_data = preprocess(test_data)

    # Create a copy of the data with added noise
    noisy_train_data = noise(train_data, rng)
    noisy_test_data = noise(test_data, rng)

    autoencoder = build_autoencoder(k)
    first = autoencoder.fit(
        x=train_data,
        y=train_data,
        epochs=4,
        batch_size=32,
        shuffle=True,
        validation_data=(test_data, test_data),
        verbose=0,
    )
    second = autoencoder.fit(
        x=noisy_train_data,
        y=train_data,
        epochs=4,
        batch_size=32,
        shuffle=True,
        validation_data=(noisy_test_data, test_data),
        verbose=0,
    )
    return autoencoder, (first, second), (test_data, noisy_test_data)


def mean_bce(target, pred):
    pred = np.clip(pred, 1e-7, 1 - 1e-7)
    return float(np.mean(-(target * np.log(pred) + (1 - target) * np.log(1 - pred))))


def test_denoising_autoencoder(summary_params):
    autoencoder = build_autoencoder(keras)
    params, text = summary_params(autoencoder)
    # Conv2D 1->16: 3*3*1*16+16 = 160; Conv2D 16->16: 3*3*16*16+16 = 2,320; the two Conv2DTranspose
    # 16->16: 2,320 each; Conv2D 16->1: 3*3*16+1 = 145 -> 7,265
    assert params == {"total": 7265, "trainable": 7265, "non_trainable": 0}
    for shape in ["(None, 28, 28, 16)", "(None, 14, 14, 16)", "(None, 7, 7, 16)", "(None, 28, 28, 1)"]:
        assert shape in text
    layer_types = [type(layer).__name__ for layer in autoencoder.layers]
    assert layer_types == ["InputLayer", "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D",
                           "Conv2DTranspose", "Conv2DTranspose", "Conv2D"]

    autoencoder, (first, second), (test_data, noisy_test_data) = run_example(keras)
    for history in (first, second):
        assert set(history.history) == {"loss", "val_loss"}
        assert history.epoch == [0, 1, 2, 3]
    assert first.history["loss"][-1] < first.history["loss"][0]

    predictions = autoencoder.predict(noisy_test_data, verbose=0)
    assert predictions.shape == (64, 28, 28, 1)
    assert predictions.min() >= 0.0 and predictions.max() <= 1.0  # sigmoid
    # Denoising: the reconstructions are much closer to the clean images than the noisy inputs are,
    # and closer than the best constant image (each pixel's mean over the test images).
    mse = np.mean((predictions - test_data) ** 2)
    assert mse < 0.3 * np.mean((noisy_test_data - test_data) ** 2)
    assert mse < 0.7 * np.mean((test_data - test_data.mean(axis=0)) ** 2)
    # The binary cross-entropy of grey-level targets cannot go below their own entropy (the floor): the
    # validation loss's excess over it must be well under that of the mean image.
    floor = mean_bce(test_data, test_data)
    baseline = mean_bce(test_data, np.broadcast_to(test_data.mean(axis=0), test_data.shape))
    assert second.history["val_loss"][-1] - floor < 0.7 * (baseline - floor)


def test_example_size_model_parameter_count(summary_params):
    # With the example's 32 filters: Conv2D 1->32: 3*3*1*32+32 = 320; Conv2D 32->32: 3*3*32*32+32 = 9,248;
    # Conv2DTranspose 32->32: 9,248 twice; Conv2D 32->1: 3*3*32+1 = 289 -> 28,353 (the example's summary)
    params, _ = summary_params(build_autoencoder(keras, filters=32))
    assert params == {"total": 28353, "trainable": 28353, "non_trainable": 0}


def test_same_program_on_real_keras_reaches_a_similar_loss(real_keras):
    k = real_keras
    km, (k_first, k_second), _ = run_example(k)
    gm, (g_first, g_second), _ = run_example(keras)
    assert km.count_params() == gm.count_params() == 7265
    for hk, hg in ((k_first, g_first), (k_second, g_second)):
        assert set(hg.history) == set(hk.history)
        np.testing.assert_allclose(hg.history["val_loss"][-1], hk.history["val_loss"][-1], rtol=0.1)
