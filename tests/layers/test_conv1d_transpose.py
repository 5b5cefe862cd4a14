"""``layers.Conv1DTranspose`` (Keras 3): a Conv2DTranspose of height 1 on the same kernels. Outputs,
output shapes and gradients match Keras on the same weights (kernel ``[kernel_size, filters, in]``),
and a Keras ``.keras`` file holding one loads into gradflow."""
import numpy as np
import pytest

import gradflow as gf

CASES = [
    dict(filters=4, kernel_size=3),
    dict(filters=4, kernel_size=3, strides=2, padding="same"),
    dict(filters=2, kernel_size=5, strides=3, output_padding=1),
    dict(filters=2, kernel_size=4, strides=2, padding="same", output_padding=1, activation="relu"),
    dict(filters=3, kernel_size=3, dilation_rate=2, padding="same"),
    dict(filters=3, kernel_size=3, strides=2, data_format="channels_first", use_bias=False),
]
X = np.random.default_rng(2).normal(size=(2, 7, 3)).astype(np.float32)


@pytest.mark.parametrize("kwargs", CASES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_matches_keras(real_keras, kwargs):
    import torch  # noqa: PLC0415 - real_keras has imported it (or skipped)

    kl = real_keras.layers.Conv1DTranspose(**kwargs)
    xt = torch.tensor(X, requires_grad=True)
    ky = kl(xt)
    ky.sum().backward()
    gl = gf.layers.Conv1DTranspose(**kwargs)
    gl.build(X.shape)
    assert [tuple(w.shape) for w in gl.weights] == [tuple(w.shape) for w in kl.weights]
    gl.set_weights(kl.get_weights())
    xg = gf.Tensor(X, requires_grad=True)
    gy = gl(xg)
    gy.sum().backward()
    np.testing.assert_allclose(gy.numpy(), ky.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xg.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gl.kernel.grad.numpy(), kl.kernel.value.grad.numpy(), rtol=1e-4, atol=1e-4)
    assert tuple(gl.compute_output_shape((None, 7, 3))) == tuple(kl.compute_output_shape((None, 7, 3)))
    config = gl.get_config()
    for key, value in kl.get_config().items():
        if key in ("kernel_size", "strides", "dilation_rate", "output_padding") and value is not None:
            assert tuple(config[key]) == tuple(value), key
        elif not isinstance(value, dict) and key != "activity_regularizer":
            assert config[key] == value, key


def test_config_round_trip_and_alias():
    layer = gf.layers.Conv1DTranspose(2, 3, strides=2, output_padding=1)
    clone = gf.layers.Conv1DTranspose.from_config(layer.get_config())
    assert clone.output_padding == (1,) and clone.strides == (2,) and clone.kernel_size == (3,)
    assert gf.layers.Convolution1DTranspose is gf.layers.Conv1DTranspose


def test_keras_file_loads(real_keras, tmp_path):
    model = real_keras.Sequential([real_keras.Input((7, 3)), real_keras.layers.Conv1DTranspose(4, 3, strides=2)])
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = gf.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(X, verbose=0), model.predict(X, verbose=0), rtol=1e-5, atol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="output_padding must be strictly less than strides"):
        gf.layers.Conv1DTranspose(2, 3, strides=2, output_padding=2)
    with pytest.raises(ValueError):
        gf.layers.Conv1DTranspose(2, 3, padding="causal")
