"""3-D convolution and pooling over ``(batch, depth, height, width, channels)`` (Keras 3 layouts),
built on the 2-D kernels: a Conv3D is one batched conv2d per kernel depth tap (the output depths
folded into the batch), summed; a 3-D pooling is a 2-D pooling then a pooling along depth."""
from __future__ import annotations

from .. import ops
from ..ops.nn import conv_output_size, conv_padding
from ._args import check_rank, padding_mode, positive_tuple
from ._args import data_format as check_data_format
from .base import Layer
from .convolutional import _Conv, spatial_output
from .pooling import _GlobalPooling2D

__all__ = ["Conv3D", "MaxPooling3D", "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D"]


def _channels_last(layer, x):
    return x if layer.data_format == "channels_last" else x.transpose(0, 2, 3, 4, 1)


def _channels_back(layer, y):
    return y if layer.data_format == "channels_last" else y.transpose(0, 4, 1, 2, 3)


class Conv3D(_Conv):
    """3-D convolution; kernel ``[kd, kh, kw, in_channels, filters]`` (Keras's layout)."""

    rank = 3

    def convolution_op(self, inputs, kernel):
        return self._grouped(self._single_convolution, inputs, kernel)

    def _single_convolution(self, inputs, kernel):
        x = _channels_last(self, inputs)
        n, depth, height, width, c = x.shape
        (kd, kh, kw), (sd, sh, sw), (dd, dh, dw) = self.kernel_size, self.strides, self.dilation_rate
        (lo, hi), _ = conv_padding(self.padding, (depth, depth), (kd, kd), (sd, sd), (dd, dd))
        if lo or hi:
            x = ops.pad(x, ((0, 0), (lo, hi), (0, 0), (0, 0), (0, 0)))
        out_d = conv_output_size(depth, kd, sd, lo, hi, dd)
        hw_pads = conv_padding(self.padding, (height, width), (kh, kw), (sh, sw), (dh, dw))
        y = None
        for i in range(kd):  # one conv2d over all output depths at once per kernel depth tap
            taps = x[:, i * dd: i * dd + sd * (out_d - 1) + 1: sd]
            part = ops.conv2d(taps.reshape((n * out_d, height, width, c)), kernel[i], None, (sh, sw), hw_pads,
                              (dh, dw))
            y = part if y is None else y + part
        return _channels_back(self, y.reshape((n, out_d, y.shape[1], y.shape[2], y.shape[3])))


class _Pooling3D(Layer):
    _op = None

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = positive_tuple(self, "pool_size", pool_size, 3)
        self.strides = self.pool_size if strides is None else positive_tuple(self, "strides", strides, 3)
        self.padding = padding_mode(self, padding)
        self.data_format = check_data_format(self, data_format)

    def _dhw(self, s):
        return tuple(s[1:4]) if self.data_format == "channels_last" else tuple(s[2:5])

    def _out_spatial(self, input_shape) -> tuple:
        return spatial_output(self, self._dhw(input_shape), self.pool_size, self.strides, self.padding, (1, 1, 1),
                              "pool_size")

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 5, "(batch, depth, height, width, channels)")
        self._out_spatial(input_shape)

    def compute_output_shape(self, input_shape):
        d, h, w = self._out_spatial(input_shape)
        if self.data_format == "channels_last":
            return (input_shape[0], d, h, w, input_shape[-1])
        return (input_shape[0], input_shape[1], d, h, w)

    def call(self, x, training: bool = False):
        x = _channels_last(self, x)
        n, depth, height, width, c = x.shape
        (pd, ph, pw), (sd, sh, sw) = self.pool_size, self.strides
        op = type(self)._op
        y = op(x.reshape((n * depth, height, width, c)), (ph, pw), (sh, sw), self.padding)
        oh, ow = y.shape[1], y.shape[2]
        y = op(y.reshape((n, depth, oh * ow, c)), (pd, 1), (sd, 1), self.padding)  # then along depth
        return _channels_back(self, y.reshape((n, y.shape[1], oh, ow, c)))

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling3D(_Pooling3D):
    """Maximum over each 3-D window."""

    _op = staticmethod(ops.max_pool2d)


class AveragePooling3D(_Pooling3D):
    """Mean over each 3-D window ('same' padding: padded cells not counted)."""

    _op = staticmethod(ops.avg_pool2d)


class _GlobalPooling3D(_GlobalPooling2D):
    """Reduce depth, height and width: (N, D, H, W, C) -> (N, C)."""

    def _axes(self):
        return (1, 2, 3) if self.data_format == "channels_last" else (2, 3, 4)

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 5, "(batch, depth, height, width, channels)")


class GlobalAveragePooling3D(_GlobalPooling3D):
    """Mean over depth, height and width."""

    _reduce = staticmethod(ops.mean)


class GlobalMaxPooling3D(_GlobalPooling3D):
    """Maximum over depth, height and width."""

    _reduce = staticmethod(ops.max)
