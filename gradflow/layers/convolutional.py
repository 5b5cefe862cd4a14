"""Convolutions with Keras's arguments and kernel layouts: Conv2D ``[kh, kw, in, filters]``,
Conv1D ``[k, in, filters]`` (a 2-D convolution of height 1 on the same kernels) and Conv2DTranspose
``[kh, kw, filters, in]`` (conv2d's backward-input kernel as its forward pass)."""
from __future__ import annotations

from .. import constraints, initializers, ops, regularizers
from ..ops.nn import conv_output_size, conv_padding, conv_transpose_output_size
from ._activation import WithActivation
from ._args import (
    check_rank,
    describe,
    from_channels_last,
    padding_mode,
    positive_int,
    positive_tuple,
    resolve,
    to_channels_last,
)
from ._args import data_format as check_data_format
from .base import Layer, register_alias

__all__ = ["Conv2D", "Convolution2D", "Conv1D", "Convolution1D", "Conv2DTranspose", "Convolution2DTranspose",
           "Conv1DTranspose", "Convolution1DTranspose", "DepthwiseConv2D", "SeparableConv2D", "SeparableConvolution2D"]


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
                             f"least {eff} along each spatial axis with padding={padding!r}, got spatial "
                             f"input size {tuple(hw)}")
        out.append(size)
    return tuple(out)


_SPATIAL_NAMES = {1: "steps", 2: "height, width", 3: "depth, height, width"}


class _Conv(WithActivation, Layer):
    """What the 1/2/3-D convolutions share: Keras's arguments (same order and defaults) and their
    checks, the channel axis, a ``[*kernel_size, in_channels, filters]`` kernel, the input-shape
    check, the output shape and the config."""

    rank = 2
    #: the weight that holds the input channels, and on which of its axes (Conv2DTranspose: -1)
    _channels_weight, _channels_axis_of_weight = "kernel", -2
    _checks_window = True  # a transposed convolution fits any input size

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None, dilation_rate=1,
                 groups=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.filters = positive_int(self, "filters", filters)
        self.groups = positive_int(self, "groups", groups)
        if self.filters % self.groups:
            raise ValueError(f"{describe(self)}: the number of filters must be evenly divisible by the number of "
                             f"groups; got filters={self.filters}, groups={self.groups}")
        self.kernel_size = positive_tuple(self, "kernel_size", kernel_size, self.rank)
        self.strides = positive_tuple(self, "strides", strides, self.rank)
        self.dilation_rate = positive_tuple(self, "dilation_rate", dilation_rate, self.rank)
        self.padding = self._padding_mode(padding)
        self.data_format = check_data_format(self, data_format)
        self._set_activation(activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = resolve(self, "kernel_initializer", initializers.get, kernel_initializer)
        self.bias_initializer = resolve(self, "bias_initializer", initializers.get, bias_initializer)
        self.kernel_regularizer = resolve(self, "kernel_regularizer", regularizers.get, kernel_regularizer)
        self.bias_regularizer = resolve(self, "bias_regularizer", regularizers.get, bias_regularizer)

    def _padding_mode(self, padding) -> str:
        return padding_mode(self, padding)

    def _channel_axis(self) -> int:
        return -1 if self.data_format == "channels_last" else 1

    def _spatial(self, input_shape) -> tuple:
        """The input's spatial sizes (steps; height, width; depth, height, width)."""
        return tuple(input_shape[1:-1]) if self.data_format == "channels_last" else tuple(input_shape[2:])

    def _out_spatial(self, input_shape) -> tuple:
        return spatial_output(self, self._spatial(input_shape), self.kernel_size, self.strides, self.padding,
                              self.dilation_rate)

    def _with_channels(self, batch, spatial, channels) -> tuple:
        return (batch, *spatial, channels) if self.data_format == "channels_last" else (batch, channels, *spatial)

    def check_input_shape(self, input_shape) -> None:
        names = _SPATIAL_NAMES[self.rank]
        check_rank(self, input_shape, self.rank + 2, f"(batch, {names}, channels)"
                   if self.data_format == "channels_last" else f"(batch, channels, {names})")
        channels = input_shape[self._channel_axis()]
        if channels is None:
            raise ValueError(f"{describe(self)}: the channel dimension of the input must be known, "
                             f"got shape {tuple(input_shape)}")
        if self.built:
            built_for = self._params[self._channels_weight].shape[self._channels_axis_of_weight]
            if self._channels_axis_of_weight == -2 and self._channels_weight == "kernel":
                built_for *= self.groups
            if channels != built_for:
                raise ValueError(f"{describe(self)} was built for {built_for} input channels, "
                                 f"got {channels} (input shape {tuple(input_shape)})")
        if self._checks_window:
            self._out_spatial(input_shape)

    def build(self, input_shape) -> None:
        channels = input_shape[self._channel_axis()]
        if channels % self.groups:
            raise ValueError(f"{describe(self)}: the number of input channels must be evenly divisible by the number "
                             f"of groups; got groups={self.groups} for an input of {channels} channels (input shape "
                             f"{tuple(input_shape)})")
        self.add_weight(name="kernel", shape=(*self.kernel_size, channels // self.groups, self.filters),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return self._with_channels(input_shape[0], self._out_spatial(input_shape), self.filters)

    def _grouped(self, conv, inputs, kernel):
        """``conv(inputs, kernel)`` per group (Keras's ``groups``): each slice of the input channels with
        its slice of the filters, the results concatenated along the channel axis."""
        if self.groups == 1:
            return conv(inputs, kernel)
        axis = self._channel_axis() % inputs.ndim
        per_in, per_out = kernel.shape[-2], self.filters // self.groups
        index = [slice(None)] * inputs.ndim
        outs = []
        for g in range(self.groups):
            index[axis] = slice(g * per_in, (g + 1) * per_in)
            outs.append(conv(inputs[tuple(index)], kernel[..., g * per_out:(g + 1) * per_out]))
        return ops.concatenate(outs, axis=axis)

    def convolution_op(self, inputs, kernel):  # pragma: no cover - each rank defines it
        """The convolution of ``inputs`` with ``kernel``, without bias or activation (Keras's
        ``BaseConv.convolution_op``: override it for a custom convolution, e.g. a standardized kernel)."""
        raise NotImplementedError

    def call(self, inputs):
        """``activation(convolution_op(inputs, kernel) + bias)`` (Keras's ``BaseConv.call``)."""
        return self.activation(self._pre_activation(inputs))

    def _pre_activation(self, x, training=None):
        y = self.convolution_op(x, self.kernel)
        if not self.use_bias:
            return y
        if self.data_format == "channels_last":
            return y + self.bias
        return y + self.bias.reshape((self.filters,) + (1,) * self.rank)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.filters, "kernel_size": list(self.kernel_size),
                "strides": list(self.strides), "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": list(self.dilation_rate), "groups": self.groups, "activation": self.activation_name,
                "use_bias": self.use_bias,
                "kernel_initializer": initializers.serialize(self.kernel_initializer),
                "bias_initializer": initializers.serialize(self.bias_initializer),
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer),
                "activity_regularizer": regularizers.serialize(self.activity_regularizer),
                "kernel_constraint": constraints.serialize(self.kernel_constraint),
                "bias_constraint": constraints.serialize(self.bias_constraint)}


class Conv2D(_Conv):
    """2-D convolution (cross-correlation like Keras), optionally with bias and activation.

    Keras defaults: strides=1, padding='valid', data_format='channels_last', dilation_rate=1,
    activation=None, use_bias=True, kernel 'glorot_uniform', bias 'zeros'. The kernel is
    ``[kh, kw, in_channels, filters]`` for both data formats; 'channels_first' inputs are
    transposed around the channels-last op. Unlike Keras, strides > 1 together with
    dilation_rate > 1 is allowed.
    """

    def convolution_op(self, inputs, kernel):
        return self._grouped(self._single_convolution, inputs, kernel)

    def _single_convolution(self, inputs, kernel):
        y = ops.conv2d(to_channels_last(inputs, self.data_format), kernel, None, self.strides, self.padding,
                       self.dilation_rate)
        return from_channels_last(y, self.data_format)

    def _own_convolution(self) -> bool:
        """``convolution_op`` is Conv2D's, ungrouped: the bias and a ReLU may run in the conv kernel's epilogue."""
        return type(self).convolution_op is Conv2D.convolution_op and self.groups == 1

    def call(self, inputs):
        if not self._own_convolution():
            return self.activation(super()._pre_activation(inputs))
        if self.activation_name == "relu":  # fused into the convolution's epilogue
            return self._conv(inputs, "relu")
        return self.activation(self._conv(inputs, None))

    def _pre_activation(self, x, training=None):
        return self._conv(x, None) if self._own_convolution() else super()._pre_activation(x)

    def _conv(self, x, activation):
        y = ops.conv2d(to_channels_last(x, self.data_format), self.kernel, self.bias if self.use_bias else None,
                       self.strides, self.padding, self.dilation_rate, activation=activation)
        return from_channels_last(y, self.data_format)


class _NoConvolutionOp:
    """A descriptor hiding ``convolution_op`` on the convolutions that Keras gives none (transposed,
    depthwise and separable): ``hasattr(layer, 'convolution_op')`` is False, as in Keras."""

    def __get__(self, obj, owner=None):
        raise AttributeError(f"{getattr(owner, '__name__', 'this layer')} has no convolution_op (as in Keras); "
                             f"override call to change its convolution")


class Conv2DTranspose(Conv2D):
    """Transposed 2-D convolution ("deconvolution"): upsamples by ``strides``. Kernel
    ``[kh, kw, filters, in_channels]`` (Keras's layout). Output size per axis: ``n * stride`` with
    'same', ``n * stride + max(k - stride, 0)`` with 'valid' (``output_padding`` must be None)."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", output_padding=None, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.output_padding = None
        if output_padding is not None:
            pads = (output_padding,) * self.rank if isinstance(output_padding, int) else tuple(output_padding)
            if len(pads) != self.rank or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 0
                                                 for p in pads):
                raise ValueError(f"{describe(self)}: output_padding must be a non-negative int or a tuple of "
                                 f"{self.rank} of them, got output_padding={output_padding!r}")
            for i, (p, s) in enumerate(zip(pads, self.strides)):
                if p >= s:
                    raise ValueError(f"{describe(self)}: output_padding must be strictly less than strides on every "
                                     f"axis; at axis {i} output_padding is {p} but strides is {s} (output_padding="
                                     f"{pads}, strides={self.strides})")
            self.output_padding = pads

    _channels_axis_of_weight = -1
    _checks_window = False

    def build(self, input_shape) -> None:
        channels = input_shape[self._channel_axis()]
        self.add_weight(name="kernel", shape=(*self.kernel_size, self.filters, channels),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        spatial = (None if n is None else self._length(n, axis) for axis, n in enumerate(self._spatial(input_shape)))
        return self._with_channels(input_shape[0], spatial, self.filters)

    def _length(self, n: int, axis: int) -> int:
        """Keras's output length along one axis; with ``output_padding`` (k the dilated kernel size):
        ``(n - 1) * stride + k - 2 * pad + output_padding``, pad = k // 2 for 'same', 0 for 'valid'."""
        k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
        if self.output_padding is None:
            return conv_transpose_output_size(n, k, s, self.padding, d)
        k = d * (k - 1) + 1
        return (n - 1) * s + k - 2 * (k // 2 if self.padding == "same" else 0) + self.output_padding[axis]

    def _start(self, axis: int) -> int:
        """Where the output starts in the full transposed convolution (length (n - 1) * stride + k, k the
        dilated kernel size): Keras's window with ``output_padding`` (its JAX padding, which its torch
        backend crops to), ``k - 1 - left_pad``; negative means zeros before the full output."""
        k = self.dilation_rate[axis] * (self.kernel_size[axis] - 1) + 1
        if self.padding == "valid":
            return 0
        pad_len = k + k % 2 - 2 + self.output_padding[axis]
        return k - 1 - min(pad_len // 2 + pad_len % 2, k - 1)

    convolution_op = _NoConvolutionOp()

    def call(self, inputs):
        relu = self.activation_name == "relu"  # ReLU in the kernel's epilogue
        y = self._conv(inputs, "relu" if relu else None)
        return y if relu else self.activation(y)

    def _pre_activation(self, x, training=None):
        return self._conv(x, None)

    def _conv(self, x, activation):
        x = to_channels_last(x, self.data_format)
        bias = self.bias if self.use_bias else None
        if self.output_padding is None:  # bias and ReLU in the kernel's epilogue
            y = ops.conv2d_transpose(x, self.kernel, bias, self.strides, self.padding, self.dilation_rate,
                                     activation=activation)
            return from_channels_last(y, self.data_format)
        else:  # the full ('valid') transposed convolution, cut to Keras's window (zeros past its end)
            y = ops.conv2d_transpose(x, self.kernel, None, self.strides, "valid", self.dilation_rate)
            for axis in (0, 1):
                start, length, have = self._start(axis), self._length(x.shape[1 + axis], axis), y.shape[1 + axis]
                before, after = max(-start, 0), max(start + length - have, 0)
                if before or after:
                    pads = [(0, 0)] * 4
                    pads[1 + axis] = (before, after)
                    y = ops.pad(y, pads)
                    start += before
                index = [slice(None)] * 4
                index[1 + axis] = slice(start, start + length)
                y = y[tuple(index)]
            if bias is not None:
                y = y + bias
        y = from_channels_last(y, self.data_format)
        return ops.relu(y) if activation == "relu" else y

    def get_config(self) -> dict:
        pads = None if self.output_padding is None else list(self.output_padding)
        cfg = {**super().get_config(), "output_padding": pads}
        cfg.pop("groups")  # Keras's transposed convolutions take no groups
        return cfg


class Conv1DTranspose(Conv2DTranspose):
    """Transposed 1-D convolution over ``(batch, steps, channels)``: upsamples by ``strides``. Kernel
    ``[kernel_size, filters, in_channels]`` (Keras's layout). Runs as a Conv2DTranspose of height 1,
    on the same kernels."""

    rank = 1

    def __init__(self, filters, kernel_size, strides=1, padding="valid", output_padding=None, data_format=None,
                 dilation_rate=1, activation=None, use_bias=True, kernel_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(filters, kernel_size, strides=strides, padding=padding, output_padding=output_padding,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, kernel_initializer=kernel_initializer,
                         bias_initializer=bias_initializer, kernel_regularizer=kernel_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint, bias_constraint=bias_constraint, **kwargs)

    def _conv(self, x, activation):
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        n, steps, channels = x.shape
        x = x.reshape((n, 1, steps, channels))
        w = self.kernel.reshape((1, *self.kernel.shape))
        strides, dilation = (1, *self.strides), (1, *self.dilation_rate)
        bias = self.bias if self.use_bias else None
        if self.output_padding is None:  # bias and ReLU in the kernel's epilogue
            y = ops.conv2d_transpose(x, w, bias, strides, self.padding, dilation, activation=activation)
            activation = None
        else:  # the full ('valid') transposed convolution, cut to Keras's window (zeros past its end)
            y = ops.conv2d_transpose(x, w, None, strides, "valid", dilation)
            start, length, have = self._start(0), self._length(steps, 0), y.shape[2]
            before, after = max(-start, 0), max(start + length - have, 0)
            if before or after:
                y = ops.pad(y, [(0, 0), (0, 0), (before, after), (0, 0)])
                start += before
            y = y[:, :, start:start + length]
            if bias is not None:
                y = y + bias
        y = y.reshape((n, y.shape[2], y.shape[3]))
        if self.data_format == "channels_first":
            y = y.transpose(0, 2, 1)
        return ops.relu(y) if activation == "relu" else y


class DepthwiseConv2D(Conv2D):
    """Each input channel convolved with ``depth_multiplier`` filters of its own; kernel
    ``kernel [kh, kw, in_channels, depth_multiplier]``, output ``in * depth_multiplier``
    channels (MobileNet's building block)."""

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1, data_format=None,
                 dilation_rate=(1, 1), activation=None, use_bias=True, depthwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, bias_regularizer=None,
                 activity_regularizer=None, depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(1, kernel_size, strides=strides, padding=padding, data_format=data_format,
                         dilation_rate=dilation_rate, activation=activation, use_bias=use_bias,
                         kernel_initializer=depthwise_initializer, bias_initializer=bias_initializer,
                         kernel_regularizer=depthwise_regularizer, bias_regularizer=bias_regularizer,
                         activity_regularizer=activity_regularizer, kernel_constraint=depthwise_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.depth_multiplier = positive_int(self, "depth_multiplier", depth_multiplier)

    _channels_weight = "kernel"  # Keras 3 names a DepthwiseConv2D's kernel 'kernel'

    def build(self, input_shape) -> None:
        channels = input_shape[self._channel_axis()]
        self.add_weight(name="kernel", shape=(*self.kernel_size, channels, self.depth_multiplier),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(channels * self.depth_multiplier,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return self._with_channels(input_shape[0], self._out_spatial(input_shape),
                                   input_shape[self._channel_axis()] * self.depth_multiplier)

    convolution_op = _NoConvolutionOp()

    def call(self, inputs):
        return self.activation(self._conv(inputs, None))

    def _pre_activation(self, x, training=None):
        return self._conv(x, None)

    def _conv(self, x, activation):
        y = ops.depthwise_conv2d(to_channels_last(x, self.data_format), self.kernel, self.strides,
                                 self.padding, self.dilation_rate)
        if self.use_bias:
            y = y + self.bias
        y = from_channels_last(y, self.data_format)
        return ops.relu(y) if activation == "relu" else y

    def get_config(self) -> dict:
        cfg = super().get_config()
        for key in ("filters", "groups"):
            cfg.pop(key)
        cfg["depthwise_initializer"] = cfg.pop("kernel_initializer")
        cfg["depthwise_regularizer"] = cfg.pop("kernel_regularizer")
        cfg["depthwise_constraint"] = cfg.pop("kernel_constraint")
        return {**cfg, "depth_multiplier": self.depth_multiplier}


class SeparableConv2D(DepthwiseConv2D):
    """A depthwise convolution then a 1x1 convolution to ``filters`` channels: ``depthwise_kernel
    [kh, kw, in, depth_multiplier]``, ``pointwise_kernel [1, 1, in * depth_multiplier, filters]``, bias."""

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None, pointwise_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, depthwise_constraint=None,
                 pointwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(kernel_size, strides=strides, padding=padding, depth_multiplier=depth_multiplier,
                         data_format=data_format, dilation_rate=dilation_rate, activation=activation,
                         use_bias=use_bias, depthwise_initializer=depthwise_initializer,
                         bias_initializer=bias_initializer, depthwise_regularizer=depthwise_regularizer,
                         bias_regularizer=bias_regularizer, activity_regularizer=activity_regularizer,
                         depthwise_constraint=depthwise_constraint, bias_constraint=bias_constraint, **kwargs)
        self.pointwise_constraint = constraints.get(pointwise_constraint)
        self.out_filters = positive_int(self, "filters", filters)
        self.pointwise_initializer = resolve(self, "pointwise_initializer", initializers.get, pointwise_initializer)
        self.pointwise_regularizer = resolve(self, "pointwise_regularizer", regularizers.get, pointwise_regularizer)

    _channels_weight = "depthwise_kernel"

    def build(self, input_shape) -> None:
        channels = input_shape[self._channel_axis()]
        self.add_weight(name="depthwise_kernel", shape=(*self.kernel_size, channels, self.depth_multiplier),
                        initializer=self.kernel_initializer, regularizer=self.kernel_regularizer,
                        constraint=self.kernel_constraint)
        self.add_weight(name="pointwise_kernel", shape=(1, 1, channels * self.depth_multiplier, self.out_filters),
                        initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
                        constraint=self.pointwise_constraint)
        if self.use_bias:
            self.add_weight(name="bias", shape=(self.out_filters,), initializer=self.bias_initializer,
                            regularizer=self.bias_regularizer, constraint=self.bias_constraint)

    def compute_output_shape(self, input_shape):
        return self._with_channels(input_shape[0], self._out_spatial(input_shape), self.out_filters)

    def _conv(self, x, activation):
        depthwise = ops.depthwise_conv2d(to_channels_last(x, self.data_format), self.depthwise_kernel, self.strides,
                                         self.padding, self.dilation_rate)
        y = ops.conv2d(depthwise, self.pointwise_kernel, self.bias if self.use_bias else None, 1, "valid",
                       activation="relu" if activation == "relu" else None)
        return from_channels_last(y, self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "filters": self.out_filters,
                "pointwise_initializer": initializers.serialize(self.pointwise_initializer),
                "pointwise_regularizer": regularizers.serialize(self.pointwise_regularizer),
                "pointwise_constraint": constraints.serialize(self.pointwise_constraint)}


class Conv1D(_Conv):
    """1-D convolution over ``(batch, steps, channels)``; kernel ``[kernel_size, in, filters]``.

    Keras defaults: strides=1, padding='valid' ('same' and 'causal' too: causal pads the start only,
    so step t sees steps <= t), dilation_rate=1. Runs as a 2-D convolution of height 1 on the same
    kernels as Conv2D.
    """

    rank = 1

    def _padding_mode(self, padding) -> str:
        mode = str(padding).lower() if isinstance(padding, str) else padding
        if mode not in ("valid", "same", "causal"):
            raise ValueError(f"{describe(self)}: padding must be 'valid', 'same' or 'causal', got padding={padding!r}")
        return mode

    def _pads(self, steps):
        (k,), (s,), (d,) = self.kernel_size, self.strides, self.dilation_rate
        if self.padding == "causal":
            return (0, 0), (d * (k - 1), 0)
        return conv_padding(self.padding, (1, steps), (1, k), (1, s), (1, d))

    def _out_spatial(self, input_shape) -> tuple:
        (steps,) = self._spatial(input_shape)
        if steps is None:
            return (None,)
        (k,), (s,), (d,) = self.kernel_size, self.strides, self.dilation_rate
        (_, _), (lo, hi) = self._pads(steps)
        out = conv_output_size(steps, k, s, lo, hi, d)
        if out < 1:
            raise ValueError(f"{describe(self)}: kernel_size {k} (dilation_rate {d}) needs at least "
                             f"{d * (k - 1) + 1} steps with padding={self.padding!r}, got {steps}")
        return (out,)

    def convolution_op(self, inputs, kernel):
        return self._grouped(lambda x, k: self._conv1d(x, k, None, None), inputs, kernel)

    def _conv1d(self, x, kernel, bias, activation):
        """A 2-D convolution of height 1 (bias and ReLU in its epilogue when given)."""
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        n, steps, channels = x.shape
        w = kernel.reshape((1, *kernel.shape))
        y = ops.conv2d(x.reshape((n, 1, steps, channels)), w, bias, (1, *self.strides), self._pads(steps),
                       (1, *self.dilation_rate), activation=activation)
        y = y.reshape((n, y.shape[2], y.shape[3]))
        return y.transpose(0, 2, 1) if self.data_format == "channels_first" else y

    def _own_convolution(self) -> bool:
        return type(self).convolution_op is Conv1D.convolution_op and self.groups == 1

    def call(self, inputs):
        if not self._own_convolution():
            return super().call(inputs)
        relu = self.activation_name == "relu"  # ReLU in the conv epilogue
        y = self._conv1d(inputs, self.kernel, self.bias if self.use_bias else None, "relu" if relu else None)
        return y if relu else self.activation(y)

    def _pre_activation(self, x, training=None):
        if not self._own_convolution():
            return super()._pre_activation(x)
        return self._conv1d(x, self.kernel, self.bias if self.use_bias else None, None)


Convolution2D, Convolution1D, Convolution2DTranspose = Conv2D, Conv1D, Conv2DTranspose  # Keras 2 names
Convolution1DTranspose = Conv1DTranspose
SeparableConvolution2D = SeparableConv2D
for _alias, _cls in (("Convolution2D", Conv2D), ("Convolution1D", Conv1D),
                     ("Convolution2DTranspose", Conv2DTranspose), ("Deconvolution2D", Conv2DTranspose),
                     ("Convolution1DTranspose", Conv1DTranspose),
                     ("SeparableConvolution2D", SeparableConv2D)):
    register_alias(_alias, _cls)
