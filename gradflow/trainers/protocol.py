"""What the trainer needs from a model: one protocol, implemented by Model, Sequential and Functional.

The trainer (compile/fit/evaluate/predict, the steps and the loops) calls nothing else on the model
beyond these methods and attributes and its own (``Trainer``'s). A graph model (Sequential,
Functional) names its inputs and outputs and can return logits for fused losses; a subclassed
model takes whatever structure its ``call`` does (``_input_names()`` is None).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, runtime_checkable

__all__ = ["TrainableModel"]


@runtime_checkable
class TrainableModel(Protocol):
    """The model side of the trainer's contract (the Layer API plus the methods below)."""

    name: str
    built: bool
    trainable: bool
    output_shape: Any

    # -- structure -------------------------------------------------------------------------
    def _input_names(self) -> list[str] | None:
        """Input names of a graph model, in the order the flat input list follows; None for a
        subclassed model (it takes any structure)."""

    def _output_names(self) -> list[str]:
        """Output names, in the order of the flat output lists (per-output losses and logs)."""

    def _pack_outputs(self, flat: list) -> Any:
        """The flat list of outputs in the model's output structure (an array, a list or a dict)."""

    def _head_layers(self) -> list:
        """Per output, the last layer (whose softmax/sigmoid a fused loss can take over), or None."""

    def _make_forward(self, heads: frozenset = frozenset()) -> Callable[[Any, bool], list]:
        """``forward(x, training) -> list of output Tensors``; outputs in ``heads`` come back as logits."""

    def _dtype(self) -> Any:
        """The float dtype inputs and targets are cast to."""

    # -- building --------------------------------------------------------------------------
    def build(self, input_shape) -> None:
        """Create the weights for ``input_shape``."""

    def check_input_shape(self, input_shape) -> None:
        """Raise a clear error when data of ``input_shape`` does not fit the built model."""

    def _built_from(self, outputs, input_shape) -> None:
        """Mark a subclassed model built from one run's outputs."""

    # -- weights and losses ----------------------------------------------------------------
    def _flatten_layers(self, include_self: bool = True) -> list:
        """This layer and every layer inside it."""

    def _iter_weights(self) -> Iterator:
        """Every weight (Parameter), lazily."""

    def get_weights(self) -> list:
        """The weights as arrays."""

    def set_weights(self, weights: list) -> None:
        """Set the weights from arrays."""

    def _regularized(self) -> list:
        """``(penalty, weight)`` pairs of the regularised weights."""

    def _collect_added_losses(self) -> list:
        """The ``add_loss`` terms of the last forward pass."""

    def _clear_losses(self) -> None:
        """Forget the ``add_loss`` terms (before a step's forward pass)."""
