"""Which runs of layers execute as one fused op, for a chain (Sequential) or a graph (Functional).

``BatchNormalization -> Activation('relu')`` becomes ``(batch_norm, {'activation': 'relu'})`` (one
pass forward and backward); when a MaxPooling2D with non-overlapping 'valid' windows
(channels-last) follows, ``(batch_norm, {'activation': 'relu', 'pool': max_pool})``;
``Conv2D(activation='relu') -> MaxPooling2D`` (same pooling) becomes ``(conv, {'pool': max_pool})``.
Results equal running the layers one by one. In a graph a run fuses only where each
intermediate output feeds the next layer alone and is not a model output.

Inference (``inference=True``: not training and no graph recorded, as in ``predict``,
``evaluate`` and ``model(x)`` under ``no_grad``) also folds batch norm into the convolution before
it: ``Conv2D -> BatchNormalization -> ReLU -> MaxPooling2D`` becomes one conv with scaled kernel
and shifted bias, ReLU and the pooling in its epilogue (``(conv, {'bn': bn, 'activation': 'relu',
'pool': pool})``), and only the pooled output is written. Any prefix of that chain fuses as
far as it goes (``Conv2D(activation='relu') -> MaxPooling2D``, ``Conv2D -> BatchNormalization``,
``Conv2D -> ReLU``...). Equal to the layers one by one within float rounding.
"""
from __future__ import annotations

__all__ = ["fused_layers", "match_fusion", "match_inference_fusion"]


def _fusable_pool(layer) -> bool:
    from ..layers import MaxPooling2D  # noqa: PLC0415 - layers import models lazily

    return (type(layer) is MaxPooling2D and layer.strides == layer.pool_size and layer.padding == "valid"
            and layer.data_format == "channels_last")


def _is_relu(layer) -> bool:
    """An Activation('relu') or a plain ReLU() layer (no cap, slope or threshold)."""
    from ..layers import Activation, ReLU  # noqa: PLC0415

    if type(layer) is Activation:
        return layer.activation_name == "relu"
    return (type(layer) is ReLU and layer.max_value is None and layer.negative_slope == 0.0
            and layer.threshold == 0.0)


def match_inference_fusion(layer, successor):
    """Like :func:`match_fusion`, for inference: a channels-last Conv2D absorbs a following
    BatchNormalization over its channels (when it has no activation of its own), a ReLU and a
    non-overlapping 'valid' MaxPooling2D, each optional, in that order."""
    from ..layers import BatchNormalization, Conv2D, Dense, Flatten  # noqa: PLC0415

    if type(layer) in (Dense, Flatten):  # on the arrays (matmul, bias and activation; a reshaped view)
        return {"infer": True}, 0
    if type(layer) is not Conv2D or layer.data_format != "channels_last" or layer.activation_name not in (
            "relu", "linear"):
        return match_fusion(layer, successor)
    fused, k = {}, 1
    act = layer.activation_name
    nxt = successor(k)
    if act == "linear" and type(nxt) is BatchNormalization and isinstance(nxt.axis, int) and nxt.axis % 4 == 3:
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
    """``(fused keyword arguments, number of following layers absorbed)`` for ``layer``, where
    ``successor(k)`` is the k-th layer after it on a single-consumer chain (None past the end)."""
    from ..layers import Activation, BatchNormalization, Conv2D  # noqa: PLC0415

    if type(layer) is BatchNormalization:
        nxt = successor(1)
        if type(nxt) is Activation and nxt.activation_name == "relu":
            if _fusable_pool(successor(2)):
                return {"activation": "relu", "pool": successor(2)}, 2
            return {"activation": "relu"}, 1
    elif type(layer) is Conv2D and layer.activation_name == "relu" and layer.data_format == "channels_last":
        if _fusable_pool(successor(1)):
            return {"pool": successor(1)}, 1
    return {}, 0


def fused_layers(layers, inference: bool = False) -> list:
    """``(layer, fused)`` pairs to run a chain of layers in order (``fused`` = {} for a plain call);
    ``inference=True`` uses :func:`match_inference_fusion`."""
    match = match_inference_fusion if inference else match_fusion
    out, i = [], 0
    while i < len(layers):
        fused, absorbed = match(layers[i], lambda k, i=i: layers[i + k] if i + k < len(layers) else None)
        out.append((layers[i], fused))
        i += 1 + absorbed
    return out
