"""``keras.optimizers.legacy``: Keras 3 keeps these names only to say that Keras 2's optimizers are gone.

Each class raises ImportError when instantiated, with Keras 3's message (use ``gradflow.optimizers``).
"""
from __future__ import annotations

__all__ = ["Adagrad", "Adam", "Ftrl", "Optimizer", "RMSprop", "SGD"]


class LegacyOptimizerWarning:
    """A Keras 2 (``tf.keras.optimizers.legacy``) optimizer: not supported, as in Keras 3."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            "`keras.optimizers.legacy` is not supported in Keras 3. When using `tf.keras`, to continue using a "
            "`tf.keras.optimizers.legacy` optimizer, you can install the `tf_keras` package (Keras 2) and set the "
            "environment variable `TF_USE_LEGACY_KERAS=True` to configure TensorFlow to use `tf_keras` when "
            "accessing `tf.keras`. In gradflow, use `gradflow.optimizers` instead.")


Adagrad = Adam = Ftrl = Optimizer = RMSprop = SGD = LegacyOptimizerWarning
