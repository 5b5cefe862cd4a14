"""Which runs of layers execute as one fused op, for a chain (Sequential) or a graph (Functional).

``BatchNormalization -> Activation('relu')`` becomes ``(batch_norm, {'activation': 'relu'})`` (one
pass forward and backward); when a MaxPooling2D with non-overlapping 'valid' windows
(channels-last) follows, ``(batch_norm, {'activation': 'relu', 'pool': max_pool})``;
``Conv2D(activation='relu') -> MaxPooling2D`` (same pooling) becomes ``(conv, {'pool': max_pool})``.
Results equal running the layers one by one. In a graph a run fuses only where each
intermediate output feeds the next layer alone and is not a model output.
"""
from __future__ import annotations

__all__ = ["fused_layers", "match_fusion"]


def _fusable_pool(layer) -> bool:
    from ..layers import MaxPooling2D  # noqa: PLC0415 - layers import models lazily

    return (type(layer) is MaxPooling2D and layer.strides == layer.pool_size and layer.padding == "valid"
            and layer.data_format == "channels_last")


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


def fused_layers(layers) -> list:
    """``(layer, fused)`` pairs to run a chain of layers in order (``fused`` = {} for a plain call)."""
    out, i = [], 0
    while i < len(layers):
        fused, absorbed = match_fusion(layers[i], lambda k, i=i: layers[i + k] if i + k < len(layers) else None)
        out.append((layers[i], fused))
        i += 1 + absorbed
    return out
