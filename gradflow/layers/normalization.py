"""BatchNormalization with Keras 3 semantics: batch statistics in training, moving ones in inference."""
from __future__ import annotations

import numpy as np

from .. import initializers, ops, regularizers
from ._args import describe, resolve, unsupported
from .base import Layer

__all__ = ["BatchNormalization"]


class BatchNormalization(Layer):
    """Normalise over every axis but ``axis`` (Keras defaults axis=-1, momentum=0.99, epsilon=1e-3).

    Training: batch mean and biased variance, and in place
    ``moving = moving * momentum + batch * (1 - momentum)``. Inference, or a frozen layer
    (``trainable=False``, as in Keras 3): the moving statistics. Weights in Keras order:
    gamma, beta (trainable, present if ``scale``/``center``), moving_mean, moving_variance.
    """

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        unsupported(self, beta_constraint=beta_constraint, gamma_constraint=gamma_constraint, synchronized=synchronized)
        if isinstance(axis, (list, tuple)) and len(axis) == 1:
            axis = axis[0]
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise ValueError(f"{describe(self)}: axis must be an int, got axis={axis!r}")
        self.axis = int(axis)
        self.momentum = float(momentum)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"{describe(self)}: momentum must be in [0, 1], got momentum={momentum!r}")
        self.epsilon = float(epsilon)
        if not self.epsilon > 0:
            raise ValueError(f"{describe(self)}: epsilon must be > 0, got epsilon={epsilon!r}")
        self.center, self.scale = bool(center), bool(scale)
        get_init, get_reg = initializers.get, regularizers.get
        self.beta_initializer = resolve(self, "beta_initializer", get_init, beta_initializer)
        self.gamma_initializer = resolve(self, "gamma_initializer", get_init, gamma_initializer)
        self.moving_mean_initializer = resolve(self, "moving_mean_initializer", get_init, moving_mean_initializer)
        self.moving_variance_initializer = resolve(self, "moving_variance_initializer", get_init,
                                                   moving_variance_initializer)
        self.beta_regularizer = resolve(self, "beta_regularizer", get_reg, beta_regularizer)
        self.gamma_regularizer = resolve(self, "gamma_regularizer", get_reg, gamma_regularizer)

    def _feature_axis(self, rank: int) -> int:
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{describe(self)}: axis {self.axis} is out of range for inputs of rank {rank}; "
                             f"expected an axis in [{-rank + 1}, {rank - 1}] other than the batch axis 0")
        return self.axis % rank

    def check_input_shape(self, input_shape) -> None:
        axis = self._feature_axis(len(input_shape))
        size = input_shape[axis]
        if size is None:
            raise ValueError(f"{describe(self)}: axis {self.axis} of the input must have a known size, "
                             f"got shape {tuple(input_shape)}")
        if self.built and size != self.moving_mean.shape[0]:
            raise ValueError(f"{describe(self)} was built for {self.moving_mean.shape[0]} features on axis "
                             f"{self.axis}, got {size} (input shape {tuple(input_shape)})")

    def build(self, input_shape) -> None:
        c = (input_shape[self._feature_axis(len(input_shape))],)
        if self.scale:
            self.add_weight(name="gamma", shape=c, initializer=self.gamma_initializer, regularizer=self.gamma_regularizer)
        if self.center:
            self.add_weight(name="beta", shape=c, initializer=self.beta_initializer, regularizer=self.beta_regularizer)
        self.add_weight(name="moving_mean", shape=c, initializer=self.moving_mean_initializer, trainable=False)
        self.add_weight(name="moving_variance", shape=c, initializer=self.moving_variance_initializer, trainable=False)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training: bool = False, activation=None, pool=None):
        """``activation='relu'``: ReLU fused into the same pass (Sequential uses it for BN -> ReLU).
        ``pool``: a MaxPooling2D layer with non-overlapping 'valid' windows applied after the ReLU;
        in training on channels-last 4-D input the three run as one op that never writes the
        full-size activation (Sequential uses it for BN -> ReLU -> MaxPooling2D)."""
        axis = self._feature_axis(x.ndim)
        gamma, beta = self._params.get("gamma"), self._params.get("beta")
        if pool is not None:
            if training and self.trainable and activation == "relu" and x.ndim == 4 and axis == 3:
                y, mean, var = ops.batch_norm_relu_max_pool(x, gamma, beta, eps=self.epsilon, pool_size=pool.pool_size)
                self._update_moving(mean, var)
                return y
            return pool.call(self.call(x, training=training, activation=activation), training=training)
        if training and self.trainable:
            y, mean, var = ops.batch_norm(x, gamma, beta, axis=axis, eps=self.epsilon, training=True,
                                          activation=activation)
            self._update_moving(mean, var)
            return y
        return ops.batch_norm(x, gamma, beta, self.moving_mean, self.moving_variance, axis=axis,
                              eps=self.epsilon, training=False, activation=activation)

    def _update_moving(self, mean, var) -> None:
        """moving = momentum * moving + (1 - momentum) * batch statistic (Keras's rule), in place."""
        m = self.momentum
        for param, batch in ((self.moving_mean, mean), (self.moving_variance, var)):
            data = param.data
            data *= m
            data += (1.0 - m) * batch.astype(data.dtype, copy=False)

    def get_config(self) -> dict:
        ser, reg = initializers.serialize, regularizers.serialize
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale,
                "beta_initializer": ser(self.beta_initializer), "gamma_initializer": ser(self.gamma_initializer),
                "moving_mean_initializer": ser(self.moving_mean_initializer),
                "moving_variance_initializer": ser(self.moving_variance_initializer),
                "beta_regularizer": reg(self.beta_regularizer), "gamma_regularizer": reg(self.gamma_regularizer)}
