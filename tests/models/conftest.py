"""Helpers for the model tests: tiny data sets, small models, a clean layer-name counter."""
import numpy as np
import pytest

from gradflow.layers import clear_session


@pytest.fixture(autouse=True)
def _fresh_names():
    """Every test starts naming layers from ``dense``, ``conv2d``... (like keras.backend.clear_session)."""
    clear_session()
    yield


def people(n=60, seed=0):
    """(weight, height)-style samples: two standardised features and a binary label (int64)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1]) > 0).astype(np.int64)
    return x, y


def images(n=12, size=6, channels=1, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, size, size, channels)).astype(np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return x, y


def mlp(n_in=2, hidden=(16, 32), n_out=2, activation="softmax", **first_kwargs):
    from gradflow.layers import Dense
    from gradflow.models import Sequential

    layers = [Dense(hidden[0], input_shape=(n_in,), activation="relu", **first_kwargs)]
    layers += [Dense(h, activation="relu") for h in hidden[1:]]
    layers.append(Dense(n_out, activation=activation))
    return Sequential(layers)


def small_cnn(size=6, channels=1, classes=3, filters=2):
    """Conv2D -> BatchNormalization -> MaxPooling2D -> Flatten -> Dense(softmax)."""
    from gradflow.layers import BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D
    from gradflow.models import Sequential

    return Sequential([
        Conv2D(filters, 3, activation="relu", input_shape=(size, size, channels)),
        BatchNormalization(),
        MaxPooling2D(2),
        Flatten(),
        Dense(classes, activation="softmax"),
    ])


def weights_equal(a, b) -> bool:
    return len(a) == len(b) and all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, b))


@pytest.fixture
def mk():
    """The helpers above as attributes: ``mk.people()``, ``mk.mlp()``, ``mk.small_cnn()``..."""
    class Helpers:
        pass

    h = Helpers()
    h.people, h.images, h.mlp, h.small_cnn, h.weights_equal = people, images, mlp, small_cnn, weights_equal
    return h
