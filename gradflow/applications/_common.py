"""What every application shares: the input, the head (top or pooling), and how weights load."""
from __future__ import annotations

import os

from ..layers import Dense, GlobalAveragePooling2D, GlobalMaxPooling2D, Input
from ..models import Model
from ._weights import fetch, is_legacy_h5, load_legacy_h5

__all__ = ["application_input", "finish", "check_weights", "load_weights", "resolve_weights", "keras_weights",
           "KERAS_WEIGHTS"]


def check_weights(name: str, weights, include_top: bool, classes: int) -> None:
    """``weights`` is None, 'imagenet' (Keras's published file, downloaded once into :func:`cache_dir`) or a
    path to a weights file."""
    if weights is None:
        return
    if weights == "imagenet":
        if include_top and classes != 1000:
            raise ValueError(f"{name}: if using `weights='imagenet'` with `include_top=True`, `classes` should be "
                             f"1000. Received classes={classes}")
        return
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"{name}: weights must be None, 'imagenet' or a path to a weights file, got {weights!r}")
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{name}: no weights file at {os.fspath(weights)!r}")


def resolve_weights(name: str, weights, include_top: bool, imagenet=None):
    """``weights`` as a file to load (or None): 'imagenet' becomes the local copy of Keras's published file,
    ``imagenet(include_top) = (file name, URL, hash)``, fetched before any layer is built, so an offline
    machine fails at once."""
    if weights != "imagenet":
        return weights
    if imagenet is None:
        raise ValueError(f"{name}: Keras publishes no ImageNet weights for this configuration")
    return fetch(*(imagenet(include_top) if callable(imagenet) else imagenet), what=name)


def load_weights(model, weights) -> None:
    """Load the file ``weights`` (from :func:`resolve_weights`) into ``model``: a Keras-2 h5 (the published
    files' layout) by layer, any other file through ``model.load_weights`` (Keras 3's ``.weights.h5`` and
    ``.keras``, gradflow's own files)."""
    if weights is None:
        return
    if os.path.isfile(weights) and is_legacy_h5(weights):
        load_legacy_h5(model, weights)
    else:
        model.load_weights(weights)


def application_input(name: str, input_shape, input_tensor, default, include_top: bool, min_size: int,
                      weights=None):
    """The model's input tensor: ``input_tensor``, or ``Input(input_shape)`` (default ``default`` with the
    top, any height/width without it), with Keras's checks of the size: the top with ImageNet weights needs
    exactly ``default``; the top needs a known height and width."""
    if input_tensor is not None:
        return input_tensor
    if input_shape is None:
        input_shape = default if include_top else (None, None, default[-1])
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"{name}: input_shape must be (height, width, channels), got {input_shape!r}")
    if include_top and weights == "imagenet" and shape != tuple(default):
        raise ValueError(f"{name}: with weights='imagenet' and include_top=True the input must be "
                         f"{tuple(default)}, got {shape}; pass include_top=False for other sizes")
    if include_top and None in shape:
        raise ValueError(f"{name}: with include_top=True the input height and width must be known, got {shape}")
    for d in shape[:2]:
        if d is not None and d < min_size:
            raise ValueError(f"{name}: input height and width must be at least {min_size}, got {shape}")
    return Input(shape=shape)


def finish(name: str, model_name: str, inputs, x, include_top, pooling, classes, classifier_activation, weights,
           top=None, pool_name=None):
    """Add the top (``top(x)`` or GlobalAveragePooling2D named ``pool_name``, then Dense) or the pooling,
    build the Model, load ``weights`` (a file, see :func:`resolve_weights`)."""
    if include_top:
        x = top(x) if top is not None else GlobalAveragePooling2D(name=pool_name)(x)
        x = Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = GlobalAveragePooling2D(name=pool_name)(x)
    elif pooling == "max":
        x = GlobalMaxPooling2D(name=pool_name and "max_pool")(x)
    elif pooling is not None:
        raise ValueError(f"{name}: pooling must be None, 'avg' or 'max', got {pooling!r}")
    model = Model(inputs, x, name=model_name)
    load_weights(model, weights)
    return model


KERAS_WEIGHTS = "https://storage.googleapis.com/tensorflow/keras-applications/"


def keras_weights(folder: str, top_file: str, top_hash: str, notop_file: str, notop_hash: str):
    """``imagenet`` for :func:`finish`: ``include_top -> (file name, URL, hash)`` under Keras's bucket."""
    def pick(include_top):
        fname, file_hash = (top_file, top_hash) if include_top else (notop_file, notop_hash)
        return fname, f"{KERAS_WEIGHTS}{folder}/{fname}", file_hash
    return pick


def placeholder_preprocess_input(family: str):
    """``preprocess_input`` of a family whose models rescale their inputs themselves (EfficientNet, V2,
    ConvNeXt, MobileNetV3): a placeholder, as in Keras, that returns ``x`` unchanged."""
    def preprocess_input(x, data_format=None):
        return x
    preprocess_input.__doc__ = f"A placeholder, as in Keras: {family} rescales its inputs itself; ``x`` is returned " \
                               "unchanged."
    return preprocess_input
