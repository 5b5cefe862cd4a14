"""The 1-D and 3-D members of the spatial families (Keras 3): Conv3DTranspose, DepthwiseConv1D,
SeparableConv1D, Cropping1D/3D, ZeroPadding1D/3D, UpSampling3D, and the adaptive poolings
AdaptiveAveragePooling1D/2D/3D and AdaptiveMaxPooling1D/2D/3D. Each runs on ``gradflow.ops``
(``conv_transpose``, ``depthwise_conv``, ``separable_conv``, ``adaptive_*_pool``), so autograd and
every backend work, with Keras's arguments, defaults, weight layouts and configs."""
from __future__ import annotations

import numpy as np

from .. import ops
from ._args import check_rank, describe, positive_int, positive_tuple
from ._args import data_format as check_data_format
from .base import Layer, register_alias
from .convolutional import Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .convolutional3d import AveragePooling3D, Conv3D, GlobalAveragePooling3D, GlobalMaxPooling3D, MaxPooling3D
from .reshaping import _repeat_axis

__all__ = ["Conv3DTranspose", "Convolution3DTranspose", "DepthwiseConv1D", "SeparableConv1D",
           "SeparableConvolution1D", "Cropping1D", "Cropping3D", "ZeroPadding1D", "ZeroPadding3D", "UpSampling3D",
           "AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D", "AdaptiveAveragePooling3D",
           "AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D", "AdaptiveMaxPooling3D", "Convolution3D", "MaxPool3D",
           "AvgPool3D", "GlobalAvgPool3D", "GlobalMaxPool3D"]


def _add_bias(layer, y, bias):
    if layer.data_format == "channels_last":
        return y + bias
    return y + bias.reshape((bias.shape[0],) + (1,) * layer.rank)


# -- convolutions -----------------------------------------------------------------------------------
class Conv3DTranspose(Conv2DTranspose):
    """Transposed 3-D convolution over ``(batch, depth, height, width, channels)``; kernel
    ``[kd, kh, kw, filters, in_channels]`` (Keras's layout), ``ops.conv_transpose`` underneath."""

    rank = 3

    def __init__(self, filters, kernel_size, strides=(1, 1, 1), padding="valid", data_format=None,
                 output_padding=None, dilation_rate=(1, 1, 1), activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)

    def _conv(self, x, activation):
        y = ops.conv_transpose(x, self.kernel, self.strides, self.padding, self.output_padding, self.data_format,
                               self.dilation_rate)
        if self.use_bias:
            y = _add_bias(self, y, self.bias)
        return ops.relu(y) if activation == "relu" else y


class DepthwiseConv1D(DepthwiseConv2D):
    """Each channel of ``(batch, steps, channels)`` convolved with ``depth_multiplier`` filters of its
    own; ``kernel [k, in_channels, depth_multiplier]`` (Keras's layout)."""

    rank = 1

    def __init__(self, kernel_size, strides=1, padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)

    def _conv(self, x, activation):
        y = ops.depthwise_conv(x, self.kernel, self.strides, self.padding, self.data_format,
                               self.dilation_rate)
        if self.use_bias:
            y = _add_bias(self, y, self.bias)
        return ops.relu(y) if activation == "relu" else y


class SeparableConv1D(SeparableConv2D):
    """A 1-D depthwise convolution then a pointwise one to ``filters`` channels: ``depthwise_kernel
    [k, in, depth_multiplier]``, ``pointwise_kernel [1, in * depth_multiplier, filters]``, bias."""

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 depth_multiplier=1, activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 pointwise_initializer="glorot_uniform", bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, depth_multiplier=depth_multiplier, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         pointwise_initializer=pointwise_initializer, bias_initializer=bias_initializer,
                         depthwise_regularizer=depthwise_regularizer, pointwise_regularizer=pointwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, pointwise_constraint=pointwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)

    def build(self, input_shape) -> None:
        channels = input_shape[self._channel_axis()]
        self.add_weight(name="depthwise_kernel", shape=(*self.kernel_size, channels, self.depth_multiplier),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        self.add_weight(name="pointwise_kernel", shape=(1, channels * self.depth_multiplier, self.out_filters),
                        initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
                        constraint=self.pointwise_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.out_filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def _conv(self, x, activation):
        y = ops.separable_conv(x, self.depthwise_kernel, self.pointwise_kernel, self.strides, self.padding,
                               self.data_format, self.dilation_rate)
        if self.use_bias:
            y = _add_bias(self, y, self.bias)
        return ops.relu(y) if activation == "relu" else y


# -- cropping, padding, upsampling ------------------------------------------------------------------
def _pair(layer, name, value) -> tuple[int, int]:
    """Keras's ``standardize_tuple(value, 2, allow_zero=True)``."""
    items = (value, value) if isinstance(value, (int, np.integer)) and not isinstance(value, bool) else value
    try:
        pair = tuple(int(v) for v in items)
    except (TypeError, ValueError):
        raise ValueError(f"{describe(layer)}: {name} must be an int or a tuple of 2 ints, got {value!r}") from None
    if len(pair) != 2 or min(pair) < 0:
        raise ValueError(f"{describe(layer)}: {name} must be an int or a tuple of 2 non-negative ints, "
                         f"got {name}={value!r}")
    return pair  # type: ignore[return-value]


def _triple_pairs(layer, name, value) -> tuple:
    """Keras 3-D ``padding``/``cropping``: an int, 3 ints, or 3 pairs."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{describe(layer)}: `{name}` cannot be negative. Received: {name}={value}.")
        return ((int(value),) * 2,) * 3
    if not hasattr(value, "__len__") or len(value) != 3:
        raise ValueError(f"{describe(layer)}: `{name}` should have 3 elements (ints or pairs). Received: "
                         f"{name}={value!r}.")
    return tuple(_pair(layer, name, v) for v in value)


class _Spatial(Layer):
    """An input of rank ``rank + 2`` in either data format."""

    rank = 1

    def _axes(self) -> tuple:
        first = getattr(self, "data_format", "channels_last") == "channels_first"
        return tuple(range(2, self.rank + 2)) if first else tuple(range(1, self.rank + 1))

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, self.rank + 2, f"rank {self.rank + 2} (batch, {self.rank} spatial axes, "
                                                     f"channels)")


class ZeroPadding1D(_Spatial):
    """Zeros before and after the steps: ``padding`` an int or ``(before, after)``."""

    def __init__(self, padding=1, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)
        self.padding = _pair(self, "padding", padding)

    def _widths(self):
        return (self.padding,)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, (lo, hi) in zip(self._axes(), self._widths()):
            shape[axis] = None if shape[axis] is None else shape[axis] + lo + hi
        return tuple(shape)

    def call(self, x, training: bool = False):
        widths = [(0, 0)] * x.ndim
        for axis, p in zip(self._axes(), self._widths()):
            widths[axis] = p
        return ops.pad(x, widths)

    def get_config(self) -> dict:
        return {**super().get_config(), "padding": list(self.padding), "data_format": self.data_format}


class ZeroPadding3D(ZeroPadding1D):
    """Zeros around volumes: an int, 3 ints or 3 ``(before, after)`` pairs (depth, height, width)."""

    rank = 3

    def __init__(self, padding=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.data_format = check_data_format(self, data_format)
        self.padding = _triple_pairs(self, "padding", padding)

    def _widths(self):
        return self.padding

    def get_config(self) -> dict:
        return {**Layer.get_config(self), "padding": [list(p) for p in self.padding], "data_format": self.data_format}


class Cropping1D(_Spatial):
    """Cut steps off the start and end: ``cropping`` an int or ``(start, end)``."""

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(**kwargs)
        self.cropping = _pair(self, "cropping", cropping)

    def _cuts(self):
        return (self.cropping,)

    def _out(self, input_shape):
        shape = list(input_shape)
        for axis, (lo, hi) in zip(self._axes(), self._cuts()):
            if shape[axis] is None:
                continue
            shape[axis] -= lo + hi
            if shape[axis] <= 0:
                raise ValueError(f"{describe(self)}: `cropping` {self._config_cuts()} must be smaller than the input "
                                 f"along each cropped axis. Received: input_shape={tuple(input_shape)}")
        return tuple(shape)

    def _config_cuts(self):
        return list(self.cropping)

    def check_input_shape(self, input_shape) -> None:
        super().check_input_shape(input_shape)
        self._out(input_shape)

    def compute_output_shape(self, input_shape):
        return self._out(input_shape)

    def call(self, x, training: bool = False):
        index = [slice(None)] * x.ndim
        for axis, (lo, hi) in zip(self._axes(), self._cuts()):
            index[axis] = slice(lo, x.shape[axis] - hi)
        return x[tuple(index)]

    def get_config(self) -> dict:
        return {**super().get_config(), "cropping": self._config_cuts()}


class Cropping3D(Cropping1D):
    """Cut the edges off volumes: an int, 3 ints or 3 ``(start, end)`` pairs (depth, height, width)."""

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        Layer.__init__(self, **kwargs)
        self.data_format = check_data_format(self, data_format)
        self.cropping = _triple_pairs(self, "cropping", cropping)

    def _cuts(self):
        return self.cropping

    def _config_cuts(self):
        return [list(p) for p in self.cropping]

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format}


class UpSampling3D(_Spatial):
    """Each voxel repeated ``size`` times along depth, height and width."""

    rank = 3

    def __init__(self, size=(2, 2, 2), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)
        self.size = positive_tuple(self, "size", size, 3)

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        for axis, f in zip(self._axes(), self.size):
            shape[axis] = None if shape[axis] is None else shape[axis] * f
        return tuple(shape)

    def call(self, x, training: bool = False):
        for axis, f in zip(self._axes(), self.size):
            if f > 1:
                x = _repeat_axis(x, axis, f)
        return x

    def get_config(self) -> dict:
        return {**super().get_config(), "size": list(self.size), "data_format": self.data_format}


# -- adaptive pooling -------------------------------------------------------------------------------
class _AdaptivePooling(_Spatial):
    """Pool to a fixed ``output_size`` whatever the input size (Keras's ``BaseAdaptivePooling``)."""

    _op = staticmethod(ops.adaptive_average_pool)

    def __init__(self, output_size, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(output_size, (int, np.integer)) and not isinstance(output_size, bool):
            sizes = (int(output_size),) * self.rank
        elif isinstance(output_size, (tuple, list)) and len(output_size) == self.rank:
            sizes = tuple(positive_int(self, "output_size", v) for v in output_size)
        else:
            raise ValueError(f"{describe(self)}: `output_size` must be an integer or a tuple of {self.rank} "
                             f"integers. Received: {output_size!r}")
        self.output_size = sizes
        self.data_format = check_data_format(self, data_format)

    def compute_output_shape(self, input_shape):
        if self.data_format == "channels_last":
            return (input_shape[0], *self.output_size, input_shape[-1])
        return (input_shape[0], input_shape[1], *self.output_size)

    def call(self, x, training: bool = False):
        return type(self)._op(x, self.output_size, self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "output_size": list(self.output_size), "data_format": self.data_format}


def _adaptive(name: str, rank: int, op, doc: str):
    return type(name, (_AdaptivePooling,), {"rank": rank, "_op": staticmethod(op), "__doc__": doc,
                                            "__module__": __name__})


_AVG, _MAX = ops.adaptive_average_pool, ops.adaptive_max_pool
AdaptiveAveragePooling1D = _adaptive("AdaptiveAveragePooling1D", 1, _AVG, "Mean over ``output_size`` bins of steps.")
AdaptiveAveragePooling2D = _adaptive("AdaptiveAveragePooling2D", 2, _AVG, "Mean over ``output_size`` bins of rows "
                                     "and columns.")
AdaptiveAveragePooling3D = _adaptive("AdaptiveAveragePooling3D", 3, _AVG, "Mean over ``output_size`` 3-D bins.")
AdaptiveMaxPooling1D = _adaptive("AdaptiveMaxPooling1D", 1, _MAX, "Maximum over ``output_size`` bins of steps.")
AdaptiveMaxPooling2D = _adaptive("AdaptiveMaxPooling2D", 2, _MAX, "Maximum over ``output_size`` bins of rows and "
                                 "columns.")
AdaptiveMaxPooling3D = _adaptive("AdaptiveMaxPooling3D", 3, _MAX, "Maximum over ``output_size`` 3-D bins.")

# Keras 2 names for the same classes
Convolution3DTranspose, SeparableConvolution1D, Convolution3D = Conv3DTranspose, SeparableConv1D, Conv3D
MaxPool3D, AvgPool3D = MaxPooling3D, AveragePooling3D
GlobalAvgPool3D, GlobalMaxPool3D = GlobalAveragePooling3D, GlobalMaxPooling3D
for _alias, _cls in (("Convolution3DTranspose", Conv3DTranspose), ("SeparableConvolution1D", SeparableConv1D),
                     ("Convolution3D", Conv3D), ("MaxPool3D", MaxPooling3D), ("AvgPool3D", AveragePooling3D),
                     ("GlobalAvgPool3D", GlobalAveragePooling3D), ("GlobalMaxPool3D", GlobalMaxPooling3D)):
    register_alias(_alias, _cls)
