"""The fused steps of a model's planned forward pass: each runs a matched chain of layers
(models.fusion) as one op on the layers' weights, ``f(x, training) -> Tensor``.

The layers themselves know nothing of fusion: their ``call`` keeps Keras's signature, and a
runner here calls the fused ops of ``gradflow.ops`` (a conv with a ReLU / batch-norm / pooling
epilogue, batch norm with ReLU and pooling, a matmul on the arrays) with the layers' weights.
models.fusion only matches layers whose classes keep the methods these runners stand in for,
so each runner equals calling its layers one by one (within float rounding).
"""
from __future__ import annotations

import numpy as np

from .. import ops
from ..autograd.grad_mode import is_grad_enabled
from ..autograd.tensor import Tensor
from ..backend import array_module
from ..ops._kernel import kernel

__all__ = ["fused_runner"]


def fused_runner(layer, spec: dict):
    """``f(x, training)`` running ``layer`` and the layers that ``spec`` (a match of
    models.fusion) absorbs into it as one fused op."""
    from ..layers import BatchNormalization, Conv2D, Dense  # noqa: PLC0415 - layers import models lazily

    if isinstance(layer, Dense):
        return _dense_inference(layer)
    if isinstance(layer, BatchNormalization):
        return _batch_norm(layer, spec.get("activation"), spec.get("pool"))
    if isinstance(layer, Conv2D):
        if "bn" in spec or "activation" in spec:
            return _conv_inference(layer, spec.get("bn"), spec.get("activation"), spec.get("pool"))
        return _conv_relu_pool(layer, spec["pool"])
    return _flatten_inference(layer)


# -- training and inference plans ------------------------------------------------------------
def _conv_relu_pool(conv, pool):
    """Conv2D(activation='relu') -> MaxPooling2D: ``ops.conv2d_relu_max_pool`` (channels-last)."""
    def run(x, training):
        bias = conv.bias if conv.use_bias else None
        return ops.conv2d_relu_max_pool(x, conv.kernel, bias, conv.strides, conv.padding, conv.dilation_rate,
                                        pool_size=pool.pool_size)

    return run


def _batch_norm(bn, activation, pool):
    """BatchNormalization -> ReLU (-> MaxPooling2D): ReLU in the batch-norm pass; in training on
    channels-last 4-D input the pooling too (``ops.batch_norm_relu_max_pool`` never writes the
    full-size activation). The moving statistics update as in ``BatchNormalization.call``."""
    def normalize(x, training):
        axis = bn._feature_axis(x.ndim)
        gamma, beta = bn._params.get("gamma"), bn._params.get("beta")
        if training and bn.trainable:
            comm = bn._sync_comm()
            if comm is not None:  # statistics of the global batch across the data-parallel ranks
                y, mean, var = ops.sync_batch_norm(x, gamma, beta, axis=axis, eps=bn.epsilon, activation=activation,
                                                   comm=comm)
            else:
                y, mean, var = ops.batch_norm(x, gamma, beta, axis=axis, eps=bn.epsilon, training=True,
                                              activation=activation)
            bn._update_moving(mean, var)
            return y
        return ops.batch_norm(x, gamma, beta, bn.moving_mean, bn.moving_variance, axis=axis, eps=bn.epsilon,
                              training=False, activation=activation)

    if pool is None:
        return normalize

    def run_pooled(x, training):
        if (training and bn.trainable and activation == "relu" and x.ndim == 4 and bn._feature_axis(4) == 3
                and bn._sync_comm() is None):
            gamma, beta = bn._params.get("gamma"), bn._params.get("beta")
            y, mean, var = ops.batch_norm_relu_max_pool(x, gamma, beta, eps=bn.epsilon, pool_size=pool.pool_size)
            bn._update_moving(mean, var)
            return y
        return pool.call(normalize(x, training))

    return run_pooled


# -- inference plan only -----------------------------------------------------------------------
def _data(param):
    return None if param is None else param.data


def _conv_inference(conv, bn, activation, pool):
    """Conv2D -> (BatchNormalization on moving statistics) -> (ReLU) -> (MaxPooling2D) as one
    inference kernel (``ops.conv2d_inference``): batch norm folded into the kernel and bias, or,
    pooled, scale and shift in the epilogue; only the last output is written. The layers one by
    one where a graph is recorded or in training (the inference plan never asks for that)."""
    def one_by_one(x, training):
        y = conv.call(x)
        if bn is not None:
            y = bn.call(y, training=training)
        if activation == "relu" and conv.activation_name != "relu":
            y = ops.relu(y)
        return y if pool is None else pool.call(y)

    def run(x, training):
        if training or is_grad_enabled():
            return one_by_one(x, training)
        w = conv.kernel.data
        b = conv.bias.data if conv.use_bias else None
        scale = None
        if bn is not None:
            params = bn._params
            args = (_data(params.get("gamma")), _data(params.get("beta")), bn.moving_mean.data,
                    bn.moving_variance.data, bn.epsilon)
            if pool is not None:
                scale, b = ops.batch_norm_affine(b, *args)
            else:
                w, b = ops.fold_batch_norm(w, b, *args)
        return ops.conv2d_inference(x, w, b, conv.strides, conv.padding, conv.dilation_rate, activation=activation,
                                    pool_size=None if pool is None else pool.pool_size, scale=scale)

    return run


#: rows x weights up to which an inference Dense calls BLAS directly (one to a few samples)
_SMALL_MATMUL = 1 << 17


def _softmax_(y):
    xp = array_module(y)
    y -= y.max(axis=-1, keepdims=True)
    xp.exp(y, out=y)
    y /= y.sum(axis=-1, keepdims=True)
    return y


def _sigmoid_(y):
    # the sigmoid op's 0.5 * (1 + tanh(y / 2)), exact and overflow-free, in place
    y *= 0.5
    array_module(y).tanh(y, out=y)
    y += 1
    y *= 0.5
    return y


def _relu_(y):
    return array_module(y).maximum(y, 0, out=y)


#: activations an inference Dense applies on the arrays (in place on a fresh matmul output)
RAW_ACTIVATIONS = {"linear": lambda y: y, "relu": _relu_, "softmax": _softmax_, "sigmoid": _sigmoid_}


def _dense_inference(dense):
    """Dense outside a gradient context: the matmul, bias and a relu/softmax/sigmoid activation on
    the arrays, in place on the matmul's output, with no graph; ``Dense.call`` otherwise."""
    def run(x, training):
        if training or is_grad_enabled() or dense.activation_name not in RAW_ACTIVATIONS:
            return dense.call(x, training=training)
        a = x.data if isinstance(x, Tensor) else x
        w = dense.kernel.data
        if a.ndim != 2 or a.shape[-1] != w.shape[0]:
            return dense.call(x, training=training)
        if a.shape[0] * w.size <= _SMALL_MATMUL and type(a) is np.ndarray and a.dtype == w.dtype:
            y = a @ w  # a one-sample product: BLAS directly, the dispatch costs more than the work
        else:
            y = kernel("matmul", a)(a, w)
        if dense.use_bias:
            y += dense.bias.data
        return Tensor._wrap(RAW_ACTIVATIONS[dense.activation_name](y))

    return run


def _flatten_inference(flatten):
    """Flatten outside a gradient context: a view of a C-contiguous channels-last array."""
    def run(x, training):
        if (training or is_grad_enabled() or (flatten.data_format == "channels_first" and x.ndim > 2)
                or not x.data.flags.c_contiguous):
            return flatten.call(x)
        return Tensor._wrap(x.data.reshape(x.shape[0], -1))

    return run
