"""Fusion as a rewrite of the model graph: which runs of layers execute as one fused op, for a
chain (Sequential) or a graph (Functional), and the plan step that runs each.

A match is ``(spec, absorbed)``: ``spec`` names the layers a run absorbs and ``absorbed`` counts
them. ``BatchNormalization -> Activation('relu')`` matches ``{'activation': 'relu'}`` (one pass
forward and backward); with a MaxPooling2D of non-overlapping 'valid' windows (channels-last)
after it, ``{'activation': 'relu', 'pool': max_pool}``; ``Conv2D(activation='relu') ->
MaxPooling2D`` (same pooling) matches ``{'pool': max_pool}``. In a graph a run fuses only where
each intermediate output feeds the next layer alone and is not a model output.

Inference (``inference=True``: not training and no graph recorded, as in ``predict``,
``evaluate`` and ``model(x)`` under ``no_grad``) also folds batch norm into the convolution before
it: ``Conv2D -> BatchNormalization -> ReLU -> MaxPooling2D`` matches ``{'bn': bn, 'activation':
'relu', 'pool': pool}``, one conv with scaled kernel and shifted bias, ReLU and the pooling in its
epilogue; any prefix of that chain fuses as far as it goes. Dense and Flatten run on the arrays
(``{'infer': True}``).

The runners (models.fused_ops) call the fused ops with the layers' weights, so a layer is
matched only when its class keeps every method the fused op stands in for (``call``, and
``convolution_op`` for a convolution...): a subclass that only adds, say, a config key still
fuses; one that overrides ``call`` or ``convolution_op`` runs its own code, unfused. Results
equal running the layers one by one (within float rounding).
"""
from __future__ import annotations

from .fused_ops import fused_runner
from .plan import layer_runner, mixed_precision

__all__ = ["fused_layers", "match_fusion", "match_inference_fusion", "plan_step", "is_fusable", "head_fusable"]

#: per built-in class name, the methods a fused op replaces (a subclass overriding one is not fused)
_REPLACED = {
    "Conv2D": ("call", "convolution_op", "_pre_activation", "_conv"),
    "BatchNormalization": ("call",),
    "MaxPooling2D": ("call", "_op"),
    "Activation": ("call", "_pre_activation"),
    "ReLU": ("call",),
    "Dense": ("call", "_pre_activation"),
    "Flatten": ("call",),
}


def is_fusable(layer, base: type) -> bool:
    """``layer`` is a ``base`` whose class keeps the methods of ``base`` that fusion replaces."""
    if not isinstance(layer, base) or getattr(layer, "groups", 1) != 1 or "call" in vars(layer):
        return False  # a grouped convolution, or a call wrapped on the instance (activity_regularizer)
    cls = type(layer)
    return all(getattr(cls, name) is getattr(base, name) for name in _REPLACED[base.__name__])


def _defining_class(cls: type, name: str) -> type | None:
    for klass in cls.__mro__:
        if name in klass.__dict__:
            return klass
    return None


def head_fusable(layer) -> bool:
    """``layer`` ends in softmax/sigmoid and its ``call`` is ``activation(call_pre_activation(x))``
    (no subclass overrides ``call`` below the class that defines ``_pre_activation``), so a model may
    take its logits and fuse the activation with the cross-entropy."""
    act = getattr(layer, "activation_name", None)
    if mixed_precision(layer):  # Keras's loss upcasts the half-precision probabilities instead
        return False
    if act not in ("softmax", "sigmoid") or not hasattr(layer, "call_pre_activation"):
        return False
    call, pre = _defining_class(type(layer), "call"), _defining_class(type(layer), "_pre_activation")
    return call is not None and pre is not None and issubclass(pre, call)


def _fusable_pool(layer) -> bool:
    from ..layers import MaxPooling2D  # noqa: PLC0415 - layers import models lazily

    return (is_fusable(layer, MaxPooling2D) and layer.strides == layer.pool_size and layer.padding == "valid"
            and layer.data_format == "channels_last")


def _is_relu(layer) -> bool:
    """An Activation('relu') or a plain ReLU() layer (no cap, slope or threshold)."""
    from ..layers import Activation, ReLU  # noqa: PLC0415

    if is_fusable(layer, Activation):
        return layer.activation_name == "relu"
    return (is_fusable(layer, ReLU) and layer.max_value is None and layer.negative_slope == 0.0
            and layer.threshold == 0.0)


def match_inference_fusion(layer, successor):
    """Like :func:`match_fusion`, for inference: a channels-last Conv2D absorbs a following
    BatchNormalization over its channels (when it has no activation of its own), a ReLU and a
    non-overlapping 'valid' MaxPooling2D, each optional, in that order."""
    from ..layers import BatchNormalization, Conv2D, Dense, Flatten  # noqa: PLC0415

    if is_fusable(layer, Dense) or is_fusable(layer, Flatten):  # on the arrays (matmul, bias, activation; a view)
        return {"infer": True}, 0
    if not is_fusable(layer, Conv2D) or layer.data_format != "channels_last" or layer.activation_name not in (
            "relu", "linear"):
        return match_fusion(layer, successor)
    fused, k = {}, 1
    act = layer.activation_name
    nxt = successor(k)
    if (act == "linear" and is_fusable(nxt, BatchNormalization) and isinstance(nxt.axis, int)
            and nxt.axis % 4 == 3):
        fused["bn"], k = nxt, k + 1
    if act == "linear" and _is_relu(successor(k)):
        act, k = "relu", k + 1
    if act == "relu":
        fused["activation"] = "relu"
    if _fusable_pool(successor(k)):
        fused["pool"], k = successor(k), k + 1
    if k == 1 and not fused:
        return {}, 0
    return fused, k - 1


def match_fusion(layer, successor):
    """``(spec, number of following layers absorbed)`` for ``layer``, where ``successor(k)`` is the
    k-th layer after it on a single-consumer chain (None past the end); ``({}, 0)`` for none."""
    from ..layers import BatchNormalization, Conv2D  # noqa: PLC0415

    if is_fusable(layer, BatchNormalization) and not layer.renorm:  # renorm trains through its own call
        nxt = successor(1)
        if _is_relu(nxt):  # Activation('relu') or a plain ReLU()
            if _fusable_pool(successor(2)):
                return {"activation": "relu", "pool": successor(2)}, 2
            return {"activation": "relu"}, 1
    elif (is_fusable(layer, Conv2D) and layer.activation_name == "relu"
          and layer.data_format == "channels_last"):
        if _fusable_pool(successor(1)):
            return {"pool": successor(1)}, 1
    return {}, 0


def fused_layers(layers, inference: bool = False) -> list:
    """``(layer, spec)`` pairs to run a chain of layers in order (``spec`` = {} for a plain call);
    ``inference=True`` uses :func:`match_inference_fusion`."""
    match = match_inference_fusion if inference else match_fusion
    out, i = [], 0
    while i < len(layers):
        if mixed_precision(layers[i]):  # the fused kernels do not cast to the compute dtype
            fused, absorbed = {}, 0
        else:
            fused, absorbed = match(layers[i], lambda k, i=i: layers[i + k] if i + k < len(layers) else None)
        out.append((layers[i], fused))
        i += 1 + absorbed
    return out


def plan_step(layer, spec: dict, static=None):
    """``f(x, training)`` for one step of a planned forward pass: the fused op of a match, or the
    layer's own ``call`` (models.plan.layer_runner)."""
    return fused_runner(layer, spec) if spec else layer_runner(layer, static)
