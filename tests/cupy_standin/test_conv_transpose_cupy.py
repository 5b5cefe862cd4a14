"""Conv2DTranspose(activation='relu') on the CuPy backend (the CuPy 14 stand-in): conv2d_transpose_forward's
``cuda`` implementation (the CUDA backward-input kernel with the bias and ReLU applied on the array module)
keeps the result and the gradients on the device."""
import numpy as np

import gradflow as gf


def test_conv_transpose_with_relu_runs_on_the_device(cupy_standin):
    x0 = np.random.default_rng(0).normal(size=(2, 4, 4, 2)).astype(np.float32)
    with gf.use_backend("cupy"):
        layer = gf.layers.Conv2DTranspose(3, 3, strides=2, padding="same", activation="relu")
        x = gf.Tensor(cupy_standin.asarray(x0), requires_grad=True)
        y = layer(x)
        (y * y).sum().backward()
        assert isinstance(y.data, cupy_standin.ndarray) and isinstance(x.grad.data, cupy_standin.ndarray)
        assert y.shape == (2, 8, 8, 3) and float(y.data.min()) >= 0
        got = y.numpy()
    twin = gf.layers.Conv2DTranspose(3, 3, strides=2, padding="same")
    twin.build(x0.shape)
    twin.set_weights(layer.get_weights())
    np.testing.assert_allclose(got, np.maximum(twin(x0).numpy(), 0), rtol=1e-5, atol=1e-6)
