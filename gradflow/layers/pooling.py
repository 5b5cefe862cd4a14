"""Pooling layers: MaxPooling2D, AveragePooling2D (and Keras 2's MaxPool2D/AvgPool2D), global pooling."""
from __future__ import annotations

from .. import ops
from ..autograd.tensor import Tensor
from ._args import check_rank, from_channels_last, padding_mode, positive_tuple, to_channels_last
from ._args import data_format as check_data_format
from .base import Layer, register_alias
from .convolutional import spatial_output

__all__ = ["MaxPooling2D", "AveragePooling2D", "MaxPool2D", "AvgPool2D", "GlobalAveragePooling2D",
           "GlobalMaxPooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "MaxPooling1D", "AveragePooling1D",
           "MaxPool1D", "AvgPool1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "GlobalAvgPool1D",
           "GlobalMaxPool1D"]


def _layout(fmt: str) -> str:
    return "(batch, height, width, channels)" if fmt == "channels_last" else "(batch, channels, height, width)"


class _Pooling2D(Layer):
    """Window pooling; Keras defaults pool_size=(2, 2), strides=None (= pool_size), padding='valid'."""

    _op = None

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = positive_tuple(self, "pool_size", pool_size)
        self.strides = self.pool_size if strides is None else positive_tuple(self, "strides", strides)
        self.padding = padding_mode(self, padding)
        self.data_format = check_data_format(self, data_format)

    def _hw(self, input_shape):
        return tuple(input_shape[1:3]) if self.data_format == "channels_last" else tuple(input_shape[2:4])

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 4, _layout(self.data_format))
        spatial_output(self, self._hw(input_shape), self.pool_size, self.strides, self.padding, what="pool_size")

    def compute_output_shape(self, input_shape):
        oh, ow = spatial_output(self, self._hw(input_shape), self.pool_size, self.strides, self.padding,
                                what="pool_size")
        if self.data_format == "channels_last":
            return (input_shape[0], oh, ow, input_shape[3])
        return (input_shape[0], input_shape[1], oh, ow)

    def call(self, x, training: bool = False):
        y = type(self)._op(to_channels_last(x, self.data_format), self.pool_size, self.strides, self.padding)
        return from_channels_last(y, self.data_format)

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": list(self.pool_size), "strides": list(self.strides),
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """Maximum over each window (padded cells never win)."""

    _op = staticmethod(ops.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """Mean over each window; with 'same' padding the padded cells are not counted (as Keras/TF)."""

    _op = staticmethod(ops.avg_pool2d)


class _GlobalPooling2D(Layer):
    """Reduce the spatial axes; Keras defaults data_format='channels_last', keepdims=False."""

    _reduce = None

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = check_data_format(self, data_format)
        self.keepdims = bool(keepdims)

    def _axes(self):
        return (1, 2) if self.data_format == "channels_last" else (2, 3)

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 4, _layout(self.data_format))

    def compute_output_shape(self, input_shape):
        axes = self._axes()
        if self.keepdims:
            return tuple(1 if i in axes else d for i, d in enumerate(input_shape))
        return tuple(d for i, d in enumerate(input_shape) if i not in axes)

    def call(self, x, training: bool = False):
        return type(self)._reduce(x, self._axes(), self.keepdims)

    def get_config(self) -> dict:
        return {**super().get_config(), "data_format": self.data_format, "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """Mean over height and width: (N, H, W, C) -> (N, C)."""

    _reduce = staticmethod(ops.mean)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """Maximum over height and width: (N, H, W, C) -> (N, C)."""

    _reduce = staticmethod(ops.max)


class _Pooling1D(Layer):
    """Window pooling over steps, (batch, steps, features); Keras defaults pool_size=2, strides=None
    (= pool_size), padding='valid'. Runs as the 2-D pooling op on a height-1 image."""

    _op = None

    def __init__(self, pool_size=2, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        (self.pool_size,) = positive_tuple(self, "pool_size", pool_size, 1)
        (self.strides,) = (self.pool_size,) if strides is None else positive_tuple(self, "strides", strides, 1)
        self.padding = padding_mode(self, padding)
        self.data_format = check_data_format(self, data_format)

    def _steps_axis(self) -> int:
        return 1 if self.data_format == "channels_last" else 2

    def _out(self, steps):
        if steps is None:
            return None
        return spatial_output(self, (1, steps), (1, self.pool_size), (1, self.strides), self.padding,
                              what="pool_size")[1]

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 3, "(batch, steps, features)" if self.data_format == "channels_last"
                   else "(batch, features, steps)")
        self._out(input_shape[self._steps_axis()])

    def compute_output_shape(self, input_shape):
        shape = list(input_shape)
        shape[self._steps_axis()] = self._out(shape[self._steps_axis()])
        return tuple(shape)

    def call(self, x, training: bool = False):
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 1)
        n, steps, c = x.shape
        y = type(self)._op(x.reshape((n, 1, steps, c)), (1, self.pool_size), (1, self.strides), self.padding)
        y = y.reshape((n, y.shape[2], c))
        return y.transpose(0, 2, 1) if self.data_format == "channels_first" else y

    def get_config(self) -> dict:
        return {**super().get_config(), "pool_size": [self.pool_size], "strides": [self.strides],
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """Maximum over each window of steps."""

    _op = staticmethod(ops.max_pool2d)


class AveragePooling1D(_Pooling1D):
    """Mean over each window of steps ('same' padding: padded steps not counted)."""

    _op = staticmethod(ops.avg_pool2d)


class _GlobalPooling1D(_GlobalPooling2D):
    """Reduce the steps axis: (N, steps, C) -> (N, C)."""

    def _axes(self):
        return (1,) if self.data_format == "channels_last" else (2,)

    def check_input_shape(self, input_shape) -> None:
        check_rank(self, input_shape, 3, "(batch, steps, features)" if self.data_format == "channels_last"
                   else "(batch, features, steps)")


class GlobalAveragePooling1D(_GlobalPooling1D):
    """Mean over the steps: (N, steps, C) -> (N, C); with a mask (Keras), the mean of the steps it
    keeps. The output carries no mask."""

    _reduce = staticmethod(ops.mean)
    supports_masking = True
    _mask_needs_input = True

    def call(self, x, training: bool = False, mask=None):
        if mask is None:
            return super().call(x, training)
        data = mask.data if isinstance(mask, Tensor) else x.xp.asarray(mask)
        keep = data.astype(bool)[:, :, None] if self.data_format == "channels_last" else data.astype(bool)[:, None]
        keep = Tensor._wrap(keep.astype(x.dtype))
        axis = self._axes()
        return ops.sum(x * keep, axis=axis, keepdims=self.keepdims) / ops.sum(keep, axis=axis, keepdims=self.keepdims)

    def compute_mask(self, inputs, mask=None):
        return None


class GlobalMaxPooling1D(_GlobalPooling1D):
    """Maximum over the steps: (N, steps, C) -> (N, C)."""

    _reduce = staticmethod(ops.max)


# Keras 2 names for the same classes
MaxPool2D, AvgPool2D, MaxPool1D, AvgPool1D = MaxPooling2D, AveragePooling2D, MaxPooling1D, AveragePooling1D
GlobalAvgPool2D, GlobalMaxPool2D = GlobalAveragePooling2D, GlobalMaxPooling2D
GlobalAvgPool1D, GlobalMaxPool1D = GlobalAveragePooling1D, GlobalMaxPooling1D
for _alias, _cls in (("MaxPool2D", MaxPooling2D), ("AvgPool2D", AveragePooling2D), ("MaxPool1D", MaxPooling1D),
                     ("AvgPool1D", AveragePooling1D), ("GlobalAvgPool2D", GlobalAveragePooling2D),
                     ("GlobalMaxPool2D", GlobalMaxPooling2D), ("GlobalAvgPool1D", GlobalAveragePooling1D),
                     ("GlobalMaxPool1D", GlobalMaxPooling1D)):
    register_alias(_alias, _cls)
