"""BatchNormalization with Keras 3 semantics: batch statistics in training, moving ones in inference."""
from __future__ import annotations

import numpy as np

from .. import constraints, initializers, ops, regularizers
from ..autograd.tensor import Tensor
from ..backend import array_module
from ..ops.attention import normalize_last
from ._args import describe, resolve
from .base import Layer, to_tensor

__all__ = ["BatchNormalization", "LayerNormalization", "GroupNormalization", "UnitNormalization", "RMSNormalization"]


class BatchNormalization(Layer):
    """Normalise over every axis but ``axis`` (Keras defaults axis=-1, momentum=0.99, epsilon=1e-3).

    Training: batch mean and biased variance, and in place
    ``moving = moving * momentum + batch * (1 - momentum)``. Inference, or a frozen layer
    (``trainable=False``, as in Keras 3): the moving statistics. Weights in Keras order:
    gamma, beta (trainable, present if ``scale``/``center``), moving_mean, moving_variance.
    ``synchronized=True`` (Keras 3's argument): in a multi-process DataParallel job the training
    statistics are those of the global batch (``ops.sync_batch_norm``), so training equals one
    process with the same global batch; alone it changes nothing.

    ``renorm=True`` is batch renormalization as Keras computes it: training normalizes with the batch
    statistics, then corrects by ``r = stddev / renorm_stddev`` and ``d = (mean - renorm_mean) /
    renorm_stddev`` (clipped by ``renorm_clipping``'s ``rmin``/``rmax``/``dmax``, no gradient through
    them); ``renorm_mean``/``renorm_stddev`` move with ``renorm_momentum``, and the inference statistics
    are tracked as a moving standard deviation (``moving_stddev``) from which ``moving_variance`` follows.
    """
    supports_masking = True  # Keras: a mask passes through unchanged

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", moving_mean_initializer="zeros",
                 moving_variance_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, synchronized=False, renorm=False,
                 renorm_clipping=None, renorm_momentum=0.99, **kwargs):
        super().__init__(**kwargs)
        self.renorm = bool(renorm)
        if self.renorm:
            renorm_clipping = renorm_clipping or {}
            keys = ["rmax", "rmin", "dmax"]
            if set(renorm_clipping) - set(keys):
                raise ValueError(f"{describe(self)}: received invalid keys for `renorm_clipping` argument: "
                                 f"{renorm_clipping}. Supported values: {keys}.")
            rmax, rmin, dmax = (renorm_clipping.get(k) for k in ("rmax", "rmin", "dmax"))
            if rmax is not None and rmin is not None and rmax < rmin:
                raise ValueError(f"{describe(self)}: rmax should be greater than rmin in the `renorm_clipping` "
                                 f"argument. Received: rmax={rmax}, rmin={rmin}.")
            if dmax is not None and dmax < 0:
                raise ValueError(f"{describe(self)}: dmax should be non-negative in the `renorm_clipping` "
                                 f"argument. Received: dmax={dmax}.")
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = float(renorm_momentum)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.synchronized = bool(synchronized)
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
            self.add_weight(name="gamma", shape=c, initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.add_weight(name="beta", shape=c, initializer=self.beta_initializer, regularizer=self.beta_regularizer,
                            constraint=self.beta_constraint)
        self.add_weight(name="moving_mean", shape=c, initializer=self.moving_mean_initializer, trainable=False)
        self.add_weight(name="moving_variance", shape=c, initializer=self.moving_variance_initializer, trainable=False)
        if self.renorm:  # Keras's order and names; the standard deviations start at sqrt(moving variance init)
            def stddev_init(shape, dtype=None):
                return np.sqrt(np.asarray(initializers.get(self.moving_variance_initializer)(shape, dtype=dtype)))

            self.add_weight(name="moving_stddev", shape=c, initializer=stddev_init, trainable=False)
            self.add_weight(name="renorm_mean", shape=c, initializer=self.moving_mean_initializer, trainable=False)
            self.add_weight(name="renorm_stddev", shape=c, initializer=stddev_init, trainable=False)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, inputs, training=None, mask=None):
        """Batch statistics (and a moving-statistics update) when training a trainable layer, else
        the moving statistics. ``mask`` (one axis fewer than ``inputs``, Keras's rule): in training
        only the entries it keeps count in the statistics. A model runs BN -> ReLU (-> MaxPooling2D)
        as one fused op (models.fusion) when this class's ``call`` is BatchNormalization's."""
        axis = self._feature_axis(inputs.ndim)
        if mask is not None and len(mask.shape) != inputs.ndim - 1:
            raise ValueError(f"{describe(self)}: the mask must have one dimension less than the inputs; got "
                             f"mask.shape={tuple(mask.shape)}, inputs.shape={tuple(inputs.shape)}")
        gamma, beta = self._params.get("gamma"), self._params.get("beta")
        if training and self.trainable and self.renorm:
            return self._renorm_training(inputs, mask, axis, gamma, beta)
        if training and self.trainable and mask is not None:
            return self._masked_training(inputs, mask, axis, gamma, beta)
        if training and self.trainable:
            comm = self._sync_comm()
            if comm is not None:  # statistics of the global batch across the data-parallel ranks
                y, mean, var = ops.sync_batch_norm(inputs, gamma, beta, axis=axis, eps=self.epsilon, comm=comm)
            else:
                y, mean, var = ops.batch_norm(inputs, gamma, beta, axis=axis, eps=self.epsilon, training=True)
            self._update_moving(mean, var)
            return y
        return ops.batch_norm(inputs, gamma, beta, self.moving_mean, self.moving_variance, axis=axis,
                              eps=self.epsilon, training=False)

    def _masked_training(self, x, mask, axis, gamma, beta):
        """Normalise with the mean and variance of the entries ``mask`` keeps (Keras's masked
        moments: sums over the kept entries divided by their count + 1e-7), and update the moving
        statistics with them."""
        y, mean, var = self._masked_normalize(x, mask, axis)
        y = self._affine(y, axis, gamma, beta)
        self._update_moving(mean, var)
        return y

    def _masked_normalize(self, x, mask, axis):
        """``((x - mean) / sqrt(var + epsilon), mean, var)`` over the entries ``mask`` keeps (the
        statistics as flat arrays)."""
        m = to_tensor(mask).data
        xp = array_module(m)
        keep = xp.broadcast_to(xp.expand_dims(m.astype(bool), -1), x.shape)
        axes = tuple(i for i in range(x.ndim) if i != axis)
        count = Tensor._wrap((keep.sum(axis=axes, keepdims=True) + 1e-7).astype(x.dtype))
        keep = Tensor._wrap(keep)
        mean = ops.sum(ops.where(keep, x, 0.0), axes, keepdims=True) / count
        var = ops.sum(ops.square(ops.where(keep, x - mean, 0.0)), axes, keepdims=True) / count
        return (x - mean) * (var + self.epsilon) ** -0.5, mean.data.reshape(-1), var.data.reshape(-1)

    @staticmethod
    def _affine(y, axis, gamma, beta):
        shape = tuple(y.shape[i] if i == axis else 1 for i in range(y.ndim))
        if gamma is not None:
            y = y * gamma.reshape(shape)
        if beta is not None:
            y = y + beta.reshape(shape)
        return y

    def _renorm_training(self, x, mask, axis, gamma, beta):
        """Batch renormalization (Keras's ``renorm=True``): the batch-normalized ``x`` times ``r * gamma``
        plus ``d * gamma + beta``, with ``r`` and ``d`` constants of this step (no gradient)."""
        if mask is not None:
            y, mean, var = self._masked_normalize(x, mask, axis)
        else:
            comm = self._sync_comm()
            if comm is not None:
                y, mean, var = ops.sync_batch_norm(x, None, None, axis=axis, eps=self.epsilon, comm=comm)
            else:
                y, mean, var = ops.batch_norm(x, None, None, axis=axis, eps=self.epsilon, training=True)
        xp = array_module(mean)
        stddev = xp.sqrt(var + self.epsilon)
        renorm_stddev = xp.maximum(self.renorm_stddev.data.astype(mean.dtype), np.sqrt(self.epsilon))
        r = stddev / renorm_stddev
        d = (mean - self.renorm_mean.data.astype(mean.dtype)) / renorm_stddev
        clip = self.renorm_clipping
        if clip.get("rmin") is not None:
            r = xp.maximum(r, clip["rmin"])
        if clip.get("rmax") is not None:
            r = xp.minimum(r, clip["rmax"])
        if clip.get("dmax") is not None:
            d = xp.clip(d, -clip["dmax"], clip["dmax"])
        dtype = y.dtype
        r_t, d_t = Tensor._wrap(r.astype(dtype)), Tensor._wrap(d.astype(dtype))
        eff_gamma = r_t if gamma is None else r_t * gamma
        eff_beta = d_t if gamma is None else d_t * gamma
        if beta is not None:
            eff_beta = eff_beta + beta
        y = self._affine(y, axis, eff_gamma, eff_beta)
        self._update_renorm(mean, stddev)
        return y

    def _update_renorm(self, mean, stddev) -> None:
        """Keras's renorm updates: renorm_mean/renorm_stddev with renorm_momentum, moving_mean and
        moving_stddev with momentum, and moving_variance = relu(moving_stddev**2 - epsilon)."""
        rm, m = self.renorm_momentum, self.momentum
        for param, batch, momentum in ((self.renorm_mean, mean, rm), (self.renorm_stddev, stddev, rm),
                                       (self.moving_mean, mean, m), (self.moving_stddev, stddev, m)):
            data = param.data
            data[...] = (data * momentum + batch * (1.0 - momentum)).astype(data.dtype)
        xp = array_module(self.moving_stddev.data)
        s = self.moving_stddev.data
        self.moving_variance.data[...] = xp.maximum(s * s - self.epsilon, 0).astype(self.moving_variance.data.dtype)

    def _sync_comm(self):
        """The communicator of the active multi-process DataParallel job when ``synchronized``
        (Keras 3: without a distribution the argument changes nothing), else None."""
        if not self.synchronized:
            return None
        from ..distribution import multi_process  # noqa: PLC0415

        dist = multi_process()
        return None if dist is None else dist.comm

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
                "center": self.center, "scale": self.scale, "synchronized": self.synchronized,
                "beta_initializer": ser(self.beta_initializer), "gamma_initializer": ser(self.gamma_initializer),
                "moving_mean_initializer": ser(self.moving_mean_initializer),
                "moving_variance_initializer": ser(self.moving_variance_initializer),
                "beta_regularizer": reg(self.beta_regularizer), "gamma_regularizer": reg(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint), "renorm": self.renorm,
                "renorm_clipping": self.renorm_clipping, "renorm_momentum": self.renorm_momentum}


class LayerNormalization(Layer):
    """Normalise each sample over ``axis`` (default -1): ``(x - mean) / sqrt(var + epsilon) * gamma + beta``.

    Keras 3 defaults: epsilon=1e-3, center=True, scale=True. ``rms_scaling=True`` is Keras 3's
    deprecated option, reproduced as Keras computes it: ``x / sqrt(var + epsilon) * gamma`` (the
    uncentred input over the variance; no beta). Gamma and beta have the shape of the normalised axes.
    """
    supports_masking = True  # Keras: a mask passes through unchanged

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True, rms_scaling=False,
                 beta_initializer="zeros", gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None,
                 beta_constraint=None, gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        axes = [axis] if isinstance(axis, (int, np.integer)) else list(axis)
        if not axes or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in axes):
            raise ValueError(f"{describe(self)}: axis must be an int or a list of ints, got axis={axis!r}")
        self.axis = int(axes[0]) if isinstance(axis, (int, np.integer)) else [int(a) for a in axes]
        self.epsilon = float(epsilon)
        if not self.epsilon > 0:
            raise ValueError(f"{describe(self)}: epsilon must be > 0, got epsilon={epsilon!r}")
        self.center, self.scale, self.rms_scaling = bool(center), bool(scale), bool(rms_scaling)
        get_init, get_reg = initializers.get, regularizers.get
        self.beta_initializer = resolve(self, "beta_initializer", get_init, beta_initializer)
        self.gamma_initializer = resolve(self, "gamma_initializer", get_init, gamma_initializer)
        self.beta_regularizer = resolve(self, "beta_regularizer", get_reg, beta_regularizer)
        self.gamma_regularizer = resolve(self, "gamma_regularizer", get_reg, gamma_regularizer)

    def _axes(self, rank: int) -> tuple:
        axes = [self.axis] if isinstance(self.axis, int) else self.axis
        out = []
        for a in axes:
            if not -rank <= a < rank or a % rank == 0:
                raise ValueError(f"{describe(self)}: axis {a} is out of range for inputs of rank {rank} (or is the "
                                 f"batch axis)")
            out.append(a % rank)
        return tuple(sorted(out))

    def check_input_shape(self, input_shape) -> None:
        axes = self._axes(len(input_shape))
        if any(input_shape[a] is None for a in axes):
            raise ValueError(f"{describe(self)}: the normalised axes {list(axes)} need known sizes, got input shape "
                             f"{tuple(input_shape)}")
        if self.built:
            want = tuple(input_shape[a] for a in axes)
            have = self._params["gamma" if self.scale else "beta"].shape if (self.scale or self.center) else want
            if tuple(have) != want:
                raise ValueError(f"{describe(self)} was built for normalised sizes {tuple(have)}, got {want} "
                                 f"(input shape {tuple(input_shape)})")

    def build(self, input_shape) -> None:
        shape = tuple(input_shape[a] for a in self._axes(len(input_shape)))
        # Keras: once built, the axis is a (sorted) list, as get_config then writes it
        self.axis = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        if self.scale:
            self.add_weight(name="gamma", shape=shape, initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center and not self.rms_scaling:
            self.add_weight(name="beta", shape=shape, initializer=self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x):
        axes = self._axes(x.ndim)
        if not self.rms_scaling:  # the fused layer-norm kernel, forward and backward
            return normalize_last(x, self._params.get("gamma"), self._params.get("beta"), list(axes), self.epsilon,
                                  rms=False)
        # the parameters broadcast over the non-normalised axes
        bshape = tuple(x.shape[i] if i in axes else 1 for i in range(x.ndim))
        mean = x.mean(axis=axes, keepdims=True)
        centred = x - mean
        inv = ((centred * centred).mean(axis=axes, keepdims=True) + self.epsilon) ** -0.5
        y = x * inv if self.rms_scaling else centred * inv
        if self.scale:
            y = y * self.gamma.reshape(bshape)
        if self.center and not self.rms_scaling:
            y = y + self.beta.reshape(bshape)
        return y

    def get_config(self) -> dict:
        ser, reg = initializers.serialize, regularizers.serialize
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon, "center": self.center,
                "scale": self.scale, "rms_scaling": self.rms_scaling,
                "beta_initializer": ser(self.beta_initializer), "gamma_initializer": ser(self.gamma_initializer),
                "beta_regularizer": reg(self.beta_regularizer), "gamma_regularizer": reg(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class GroupNormalization(Layer):
    """Normalise each sample over groups of channels (Keras 3): the ``axis`` channels split into
    ``groups`` groups, each normalised over its channels and every other non-batch axis, then
    ``gamma``/``beta`` per channel. ``groups=-1`` is one group per channel (instance norm)."""
    supports_masking = True  # Keras: a mask passes through unchanged

    def __init__(self, groups=32, axis=-1, epsilon=1e-3, center=True, scale=True, beta_initializer="zeros",
                 gamma_initializer="ones", beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, **kwargs):
        super().__init__(**kwargs)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or (groups < 1 and groups != -1):
            raise ValueError(f"{describe(self)}: groups must be a positive int or -1, got groups={groups!r}")
        self.groups, self.axis, self.epsilon = int(groups), int(axis), float(epsilon)
        self.center, self.scale = bool(center), bool(scale)
        self.beta_initializer = resolve(self, "beta_initializer", initializers.get, beta_initializer)
        self.gamma_initializer = resolve(self, "gamma_initializer", initializers.get, gamma_initializer)
        self.beta_regularizer = resolve(self, "beta_regularizer", regularizers.get, beta_regularizer)
        self.gamma_regularizer = resolve(self, "gamma_regularizer", regularizers.get, gamma_regularizer)

    def _groups(self, channels: int) -> int:
        return channels if self.groups == -1 else self.groups

    def check_input_shape(self, input_shape) -> None:
        rank = len(input_shape)
        if not -rank <= self.axis < rank or self.axis % rank == 0:
            raise ValueError(f"{describe(self)}: axis={self.axis} is not a channel axis of inputs of shape "
                             f"{tuple(input_shape)}")
        channels = input_shape[self.axis]
        if channels is None:
            raise ValueError(f"{describe(self)}: the channel axis {self.axis} must be known, got {tuple(input_shape)}")
        groups = self._groups(channels)
        if groups > channels or channels % groups:
            raise ValueError(f"{describe(self)}: {channels} channels cannot be split into groups={groups} "
                             f"(the number of channels must be a multiple of groups, and at least groups)")

    def build(self, input_shape) -> None:
        channels = input_shape[self.axis]
        if self.scale:
            self.add_weight(name="gamma", shape=(channels,), initializer=self.gamma_initializer,
                            regularizer=self.gamma_regularizer, constraint=self.gamma_constraint)
        if self.center:
            self.add_weight(name="beta", shape=(channels,), initializer=self.beta_initializer,
                            regularizer=self.beta_regularizer, constraint=self.beta_constraint)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training: bool = False):
        rank, axis = x.ndim, self.axis % x.ndim
        channels = x.shape[axis]
        groups = self._groups(channels)
        last = x if axis == rank - 1 else x.transpose(tuple(i for i in range(rank) if i != axis) + (axis,))
        shape = last.shape
        grouped = last.reshape(shape[:-1] + (groups, channels // groups))
        reduce = tuple(range(1, rank - 1)) + (rank,)  # every non-batch axis but the group axis
        mean = grouped.mean(axis=reduce, keepdims=True)
        centred = grouped - mean
        inv = ((centred * centred).mean(axis=reduce, keepdims=True) + self.epsilon) ** -0.5
        y = (centred * inv).reshape(shape)
        if self.scale:
            y = y * self.gamma
        if self.center:
            y = y + self.beta
        if axis != rank - 1:
            order = list(range(rank - 1))
            order.insert(axis, rank - 1)
            y = y.transpose(tuple(order))
        return y

    def get_config(self) -> dict:
        ser, reg = initializers.serialize, regularizers.serialize
        return {**super().get_config(), "groups": self.groups, "axis": self.axis, "epsilon": self.epsilon,
                "center": self.center, "scale": self.scale, "beta_initializer": ser(self.beta_initializer),
                "gamma_initializer": ser(self.gamma_initializer), "beta_regularizer": reg(self.beta_regularizer),
                "gamma_regularizer": reg(self.gamma_regularizer),
                "beta_constraint": constraints.serialize(self.beta_constraint),
                "gamma_constraint": constraints.serialize(self.gamma_constraint)}


class UnitNormalization(Layer):
    """Scale each sample to unit L2 norm over ``axis`` (Keras 3: ``x / sqrt(max(sum(x^2), 1e-12))``)."""
    supports_masking = True  # Keras: a mask passes through unchanged

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = tuple(int(a) for a in axis) if isinstance(axis, (list, tuple)) else int(axis)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def call(self, x, training: bool = False):
        squares = (x * x).sum(axis=self.axis, keepdims=True)
        return x * ops.maximum(squares, 1e-12) ** -0.5

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": list(self.axis) if isinstance(self.axis, tuple) else self.axis}


class RMSNormalization(Layer):
    """Keras's ``RMSNormalization``: ``x / sqrt(mean(x**2 over axis) + epsilon) * scale``, on the fused
    layer-norm kernel. ``scale`` has the shape of the normalised axes (ones at first)."""
    supports_masking = True

    def __init__(self, axis=-1, epsilon=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis
        self.epsilon = epsilon

    def build(self, input_shape) -> None:
        if isinstance(self.axis, (list, tuple)):
            self.axis = sorted(self.axis)
            shape = tuple(input_shape[dim] for dim in self.axis)
        else:
            shape = (input_shape[self.axis],)
            self.axis = [self.axis]
        self.add_weight(name="scale", shape=shape, initializer="ones")

    def call(self, x):
        return normalize_last(x, self._params["scale"], None, self.axis, self.epsilon, rms=True)

    def compute_output_shape(self, input_shape):
        for axis in [self.axis] if isinstance(self.axis, int) else self.axis:
            if axis >= len(input_shape) or axis < -len(input_shape):
                raise ValueError(f"Axis {axis} is out of bounds for input shape {input_shape}. Received: "
                                 f"axis={self.axis}")
        return tuple(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis, "epsilon": self.epsilon}
