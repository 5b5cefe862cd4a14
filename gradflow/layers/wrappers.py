"""Wrapper (the base of layers that hold one layer) and SpectralNormalization (Keras 3,
keras/src/layers/core/wrapper.py and layers/normalization/spectral_normalization.py)."""
from __future__ import annotations

from .. import initializers
from ..backend import backend_for
from ..saving.serialization import deserialize_keras_object, serialize_keras_object
from .base import Layer
from .input_spec import InputSpec

__all__ = ["Wrapper", "SpectralNormalization"]


class Wrapper(Layer):
    """A layer that wraps another: it builds the wrapped layer, and its config holds the wrapped layer's."""

    def __init__(self, layer, **kwargs):
        if not isinstance(layer, Layer):
            raise ValueError(f"Layer {layer} supplied to Wrapper isn't a supported layer type. Please ensure "
                             "wrapped layer is a valid Keras layer.")
        super().__init__(**kwargs)
        self.layer = layer

    def build(self, input_shape=None) -> None:
        if not self.layer.built:
            self.layer.build_from_shape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "layer": serialize_keras_object(self.layer)}

    @classmethod
    def from_config(cls, config: dict, custom_objects=None):
        config = dict(config)
        layer = deserialize_keras_object(config.pop("layer"), custom_objects=custom_objects)
        return cls(layer, **config)


def _l2_normalize(xp, x):
    """Keras's ``ops.normalize(x, axis=None)``: ``x * min(rsqrt(sum(x**2)), 1 / epsilon)``."""
    return x * xp.minimum(1.0 / xp.sqrt(xp.sum(xp.square(x))), x.dtype.type(1e7))


class SpectralNormalization(Wrapper):
    """Divides the wrapped layer's ``kernel`` (or ``embeddings``) by its largest singular value, estimated by
    ``power_iterations`` steps of the power method from the non-trainable ``vector_u``. As in Keras, a training
    call writes the normalized kernel into the wrapped layer and updates ``vector_u``; inference uses the
    kernel as it is."""

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if power_iterations <= 0:
            raise ValueError("`power_iterations` should be greater than zero. Received: "
                             f"`power_iterations={power_iterations}`")
        self.power_iterations = power_iterations

    def _kernel(self):
        for name in ("kernel", "embeddings"):
            if name in self.layer._params:
                return self.layer._params[name]
        raise ValueError(f"{type(self.layer).__name__} object has no attribute 'kernel' nor 'embeddings'")

    def build(self, input_shape) -> None:
        super().build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        kernel = self._kernel()
        self._params["kernel"] = kernel  # tracked here too (Keras's ``self.kernel = layer.kernel``): weights order
        self.add_weight(name="vector_u", shape=(1, kernel.shape[-1]),
                        initializer=initializers.TruncatedNormal(stddev=0.02), trainable=False, dtype=kernel.dtype)

    def normalized_weights(self):
        """``(vector_u, kernel / sigma)`` after ``power_iterations`` steps (arrays; no gradient, as Keras's
        stop_gradient on the vectors and its assign of the result)."""
        kernel = self._kernel().data
        xp = backend_for(kernel).xp
        w = kernel.reshape(-1, kernel.shape[-1])
        u = self.vector_u.data
        v = u
        for _ in range(self.power_iterations):
            v = _l2_normalize(xp, u @ w.T)
            u = _l2_normalize(xp, v @ w)
        sigma = (v @ w) @ u.T
        return u.astype(self.vector_u.dtype, copy=False), (kernel / sigma.reshape(())).astype(kernel.dtype,
                                                                                            copy=False)

    def call(self, inputs, training=False):
        if training:
            kernel = self._kernel()
            if bool((kernel.data != 0).any()):
                new_u, new_kernel = self.normalized_weights()
                self.vector_u.assign(new_u)
                kernel.assign(new_kernel)
        output = self.layer(inputs)
        return output if output.dtype == inputs.dtype else output.astype(inputs.dtype)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self) -> dict:
        return {**super().get_config(), "power_iterations": self.power_iterations}
