"""The ``activation=`` argument shared by Dense, Conv2D and Activation.

A model fuses a final softmax/sigmoid with the matching cross-entropy: it reads
``layer.activation_name`` and calls ``layer.call_pre_activation(x)`` to get the logits.
"""
from __future__ import annotations

from .. import activations
from ._args import resolve

__all__ = ["WithActivation"]


class WithActivation:
    """Mixin: subclasses implement ``_pre_activation(x, training)``; ``call`` applies the activation."""

    def _set_activation(self, activation) -> None:
        self.activation = resolve(self, "activation", activations.get, activation)

    @property
    def activation_name(self) -> str:
        """Keras name of the activation: ``'linear'``, ``'relu'``, ``'softmax'``, ``'sigmoid'``..."""
        return activations.serialize(self.activation)

    def call(self, inputs, training: bool = False):
        return self.activation(self._pre_activation(inputs, training))

    def call_pre_activation(self, inputs, training: bool = False):
        """The layer's output before its activation (building the layer if needed)."""
        return self._pre_activation(self._prepare(inputs), bool(training))

    def _pre_activation(self, inputs, training):  # pragma: no cover - abstract
        raise NotImplementedError
