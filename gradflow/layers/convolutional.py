"""Conv2D: 2-D convolution with Keras's arguments, kernel ``[kh, kw, in, filters]``."""
from __future__ import annotations

from .. import initializers, ops, regularizers
from ..ops.nn import conv_output_size, conv_padding
from ._activation import WithActivation
from ._args import (check_rank, describe, from_channels_last, padding_mode, positive_int, positive_tuple,
                    resolve, to_channels_last, unsupported)
from ._args import data_format as check_data_format
from .base import Layer, register_alias

__all__ = ["Conv2D", "Convolution2D"]


def spatial_output(layer, hw, window, strides, padding, dilation=(1, 1), what="kernel_size"):
    """Output (height, width) of a conv/pool window; None where the input size is unknown.

    'same' gives ceil(n / stride) (Keras/TF, the extra pad going bottom/right); 'valid' raises a
    clear error when the (dilated) window is larger than the input.
    """
    out = []
    for n, k, s, d in zip(hw, window, strides, dilation):
        if n is None:
            out.append(None)
            continue
        (lo, hi), _ = conv_padding(padding, (n, n), (k, k), (s, s), (d, d))
        size = conv_output_size(n, k, s, lo, hi, d)
        if size < 1:
            eff = d * (k - 1) + 1
            raise ValueError(f"{describe(layer)}: {what} {tuple(window)}"
                             f"{f' with dilation_rate {tuple(dilation)}' if d > 1 else ''} needs an input of at "
                             f"least {eff} along each spatial axis with padding={padding!r}, got input "
                             f"height/width {tuple(hw)}")
        out.append(size)
    return tuple(out)


class Conv2D(WithActivation, Layer):
    """2-D convolution (cross-correlation like Keras), optionally with bias and activation.

    Keras defaults: strides=1, padding='valid', data_format='channels_last', dilation_rate=1,
    activation=None, use_bias=True, kernel 'glorot_uniform', bias 'zeros'. The kernel is
    ``[kh, kw, in_channels, filters]`` for both data formats; 'channels_first' inputs are
    transposed around the channels-last op. Unlike Keras, strides > 1 together with
    dilation_rate > 1 is allowed.
    """

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        unsupported(self, activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                    bias_constraint=bias_constraint)
        self.filters = positive_int(self, "filters", filters)
        self.kernel_size = positive_tuple(self, "kernel_size", kernel_size)
        self.strides = positive_tuple(self, "strides", strides)
        self.padding = padding_mode(self, padding)
        self.data_format = check_data_format(self, data_format)
        self.dilation_rate = positive_tuple(self, "dilation_rate", dilation_rate)
        if groups != 1:
            raise ValueError(f"{describe(self)}: only groups=1 is supported, got groups={groups!r}")
        self._set_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = resolve(self, "kernel_initializer", initializers.get, kernel_initializer)
        self.bias_initializer = resolve(self, "bias_initializer", initializers.get, bias_initializer)
        self.kernel_regularizer = resolve(self, "kernel_regularizer", regularizers.get, kernel_regularizer)
        self.bias_regularizer = resolve(self, "bias_regularizer", regularizers.get, bias_regularizer)

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _hw(self, input_shape):
        return tuple(input_shape[1:3]) if self.data_format == "channels_last" else tuple(input_shape[2:4])

    def check_input_shape(self, input_shape) -> None:
        layout = "(batch, height, width, channels)" if self.data_format == "channels_last" else \
            "(batch, channels, height, width)"
        check_rank(self, input_shape, 4, layout)
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"{describe(self)}: the channel dimension of the input must be known, "
                             f"got shape {tuple(input_shape)}")
        if self.built and channels != self.kernel.shape[2]:
            raise ValueError(f"{describe(self)} was built for {self.kernel.shape[2]} input channels, "
                             f"got {channels} (input shape {tuple(input_shape)})")
        spatial_output(self, self._hw(input_shape), self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def build(self, input_shape) -> None:
        channels = input_shape[self._channel_axis()]
        self.add_weight(name="kernel", shape=(*self.kernel_size, channels, self.filters), initializer=self.kernel_initializer, regularizer=self.kernel_regularizer)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer, regularizer=self.bias_regularizer)

    def compute_output_shape(self, input_shape):
        oh, ow = spatial_output(self, self._hw(input_shape), self.kernel_size, self.strides, self.padding,
                                self.dilation_rate)
        if self.data_format == "channels_last":
            return (input_shape[0], oh, ow, self.filters)
        return (input_shape[0], self.filters, oh, ow)

    def call(self, inputs, training: bool = False, pool=None):
        """``pool``: a MaxPooling2D layer (non-overlapping 'valid' windows) that follows this ReLU
        conv; both run as one op (Sequential uses it for Conv2D(activation='relu') -> MaxPooling2D)."""
        if pool is not None:
            if self.activation_name == "relu" and self.data_format == "channels_last":
                return ops.conv2d_relu_max_pool(inputs, self.kernel, self.bias if self.use_bias else None, self.strides,
                                                self.padding, self.dilation_rate, pool_size=pool.pool_size)
            return pool.call(self.call(inputs, training), training=training)
        if self.activation_name == "relu":  # fused into the convolution's epilogue
            return self._conv(inputs, "relu")
        return super().call(inputs, training)

    def _pre_activation(self, x, training):
        return self._conv(x, None)

    def _conv(self, x, activation):
        y = ops.conv2d(to_channels_last(x, self.data_format), self.kernel, self.bias if self.use_bias else None,
                       self.strides, self.padding, self.dilation_rate, activation=activation)
        return from_channels_last(y, self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": 1, "activation": self.activation_name,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer)}


Convolution2D = Conv2D  # Keras 2 name
register_alias("Convolution2D", Conv2D)
