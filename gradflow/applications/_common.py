"""What every application shares: the input, the head (top or pooling), and how weights load."""
from __future__ import annotations

import os

from ..layers import Dense, GlobalAveragePooling2D, GlobalMaxPooling2D, Input
from ..models import Model

__all__ = ["application_input", "finish", "check_weights"]


def check_weights(name: str, weights, include_top: bool, classes: int) -> None:
    """``weights`` is None or a path to a file; 'imagenet' needs a download, which gradflow never does."""
    if weights is None:
        return
    if weights == "imagenet":
        raise ValueError(
            f"{name}(weights='imagenet'): gradflow does not download pretrained weights. Build the model with "
            f"weights=None and load a weights file you have: weights='/path/to/{name.lower()}.weights.safetensors' "
            f"(gradflow's save_weights format, or a whole gradflow model file), e.g. weights you converted from "
            f"Keras with gradflow_model.set_weights(keras_model.get_weights()) and save_weights")
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(f"{name}: weights must be None, 'imagenet' or a path to a weights file, got {weights!r}")
    if not os.path.exists(weights):
        raise FileNotFoundError(f"{name}: no weights file at {os.fspath(weights)!r}")


def application_input(name: str, input_shape, input_tensor, default, include_top: bool, min_size: int):
    """The model's input tensor: ``input_tensor``, or ``Input(input_shape)`` (default ``default`` with the
    top, any height/width without it), with Keras's checks of the size."""
    if input_tensor is not None:
        return input_tensor
    if input_shape is None:
        input_shape = default if include_top else (None, None, default[-1])
    shape = tuple(input_shape)
    if len(shape) != 3:
        raise ValueError(f"{name}: input_shape must be (height, width, channels), got {input_shape!r}")
    if include_top and shape != tuple(default):
        raise ValueError(f"{name}: with include_top=True the input must be {tuple(default)}, got {shape}; pass "
                         f"include_top=False for other sizes")
    for d in shape[:2]:
        if d is not None and d < min_size:
            raise ValueError(f"{name}: input height and width must be at least {min_size}, got {shape}")
    return Input(shape=shape)


def finish(name: str, model_name: str, inputs, x, include_top, pooling, classes, classifier_activation, weights,
           top=None, pool_name=None):
    """Add the top (``top(x)`` or GlobalAveragePooling2D named ``pool_name``, then Dense) or the pooling,
    build the Model, load weights."""
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
    if weights is not None:
        model.load_weights(weights)
    return model
