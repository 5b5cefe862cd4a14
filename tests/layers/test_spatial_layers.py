"""The spatial layer families (gradflow/layers/spatial1d3d.py, conv_lstm.py, spectrogram.py): every
row of tests/keras_cases/spatial.py against real Keras (values, input and weight gradients, shapes,
configs), gradients against finite differences on the float64 reference backend, and use in a
functional model that trains and saves."""

import numpy as np
import pytest
from keras_coverage import case_module

import gradflow as gf
from gradflow import ops
from gradflow.autograd import gradcheck

CASES = case_module("spatial")
IDS = [f"{row[0]}-{i}" for i, row in enumerate(CASES.LAYERS)]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("row", CASES.LAYERS, ids=IDS)
def test_same_as_keras(real_keras, row):
    CASES.check_layer(real_keras, gf, row)


@pytest.mark.parametrize("row", CASES.LAYERS, ids=IDS)
def test_gradients_against_finite_differences(row):
    name, kwargs, shape = row
    x = np.random.default_rng(0).normal(size=shape)
    with gf.use_backend("reference"):
        layer = getattr(gf.layers, name)(**kwargs)
        xt = gf.Tensor(x, requires_grad=True)
        layer(xt)
        for p in layer.trainable_weights:  # gradcheck perturbs in place, through a flat view
            p.data = np.ascontiguousarray(p.data)
        # the recurrent and spectrogram layers' weights are slow to difference (and 'angle' is
        # discontinuous where a bin's imaginary part is 0): their gradients are held against Keras
        params = [] if name.startswith(("ConvLSTM", "STFT")) else layer.trainable_weights
        def run(inp, *ps):
            out = layer(inp)
            return ops.concatenate([o.reshape((-1,)) for o in out]) if isinstance(out, list) else out

        assert gradcheck(run, [xt, *params])


def test_spatial_layers_train_and_save_in_a_functional_model(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 9, 3)).astype("float32")
    y = (x[:, :, 0].mean(axis=1) > 0).astype("int64")
    inp = gf.Input(shape=(9, 3))
    h = gf.layers.ZeroPadding1D(1)(inp)
    h = gf.layers.SeparableConv1D(6, 3, activation="relu")(h)
    h = gf.layers.DepthwiseConv1D(3, padding="same")(h)
    h = gf.layers.Cropping1D((1, 0))(h)
    h = gf.layers.AdaptiveAveragePooling1D(4)(h)
    out = gf.layers.Dense(2, activation="softmax")(gf.layers.Flatten()(h))
    model = gf.Model(inp, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=4, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "spatial.gflow")
    loaded = gf.models.load_model(tmp_path / "spatial.gflow")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("make,match", [
    (lambda: gf.layers.Cropping3D(((1, 1), (1, 1))), "3 elements"),
    (lambda: gf.layers.ZeroPadding1D((1, 2, 3)), "padding"),
    (lambda: gf.layers.AdaptiveMaxPooling2D((2, 2, 2)), "output_size"),
    (lambda: gf.layers.Conv3DTranspose(2, 3, strides=2, output_padding=2), "output_padding"),
])
def test_bad_arguments_raise_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_cropping_too_much_names_the_layer():
    with pytest.raises(ValueError, match="cropping"):
        gf.layers.Cropping1D((3, 3))(np.ones((1, 6, 2), "float32"))


def _mask_case(real_keras, make, x, mask, **call):
    import torch

    k_layer, g_layer = make(real_keras), make(gf)
    k_layer(x)
    g_layer(x)
    g_layer.set_weights([real_keras.ops.convert_to_numpy(w) for w in k_layer.weights])
    k_out = k_layer(torch.tensor(x), mask=None if mask is None else torch.tensor(mask), **call)
    g_out = g_layer(x, mask=mask, **call)
    k_out, g_out = (k_out, g_out) if isinstance(k_out, (list, tuple)) else ([k_out], [g_out])
    for a, b in zip(g_out, k_out):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-4, atol=1e-5)
    return k_layer, g_layer


@pytest.mark.parametrize("kwargs", [{"return_sequences": True}, {"return_state": True, "go_backwards": True},
                                    {"return_sequences": True, "zero_output_for_mask": True}])
def test_conv_lstm_masks_same_as_keras(real_keras, kwargs):
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 2)).astype("float32")
    mask = np.array([[True, True, False, True], [False, True, True, False]])
    _mask_case(real_keras, lambda k: k.layers.ConvLSTM1D(2, 3, padding="same", **kwargs), x, mask)


def test_conv_lstm_stateful_and_initial_state_same_as_keras(real_keras):
    import torch

    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4, 4, 2)).astype("float32")
    k_layer = real_keras.layers.ConvLSTM2D(2, 3, padding="same", stateful=True)
    g_layer = gf.layers.ConvLSTM2D(2, 3, padding="same", stateful=True)
    k_layer(x)
    g_layer(x)
    g_layer.set_weights([real_keras.ops.convert_to_numpy(w) for w in k_layer.weights])
    for _ in range(2):  # the building call ran on other weights: start both from zeros
        g_layer.reset_state()
        k_layer.reset_state()
        for _ in range(2):  # the second call starts from the first one's final states
            np.testing.assert_allclose(g_layer(x).numpy(), k_layer(torch.tensor(x)).detach().numpy(), rtol=1e-4,
                                       atol=1e-5)
    h0 = rng.normal(size=(2, 4, 4, 2)).astype("float32")
    k2, g2 = real_keras.layers.ConvLSTM2D(2, 3, padding="same"), gf.layers.ConvLSTM2D(2, 3, padding="same")
    k2(x)
    g2(x)
    g2.set_weights([real_keras.ops.convert_to_numpy(w) for w in k2.weights])
    want = k2(torch.tensor(x), initial_state=[torch.tensor(h0), torch.tensor(-h0)]).detach().numpy()
    np.testing.assert_allclose(g2(x, initial_state=[h0, -h0]).numpy(), want, rtol=1e-4, atol=1e-5)


def test_conv_lstm_dropout_trains_and_keeps_its_weight_names():
    x = np.random.default_rng(2).normal(size=(8, 3, 6, 2)).astype("float32")
    layer = gf.layers.ConvLSTM1D(3, 3, dropout=0.3, recurrent_dropout=0.3, return_sequences=True)
    xt = gf.Tensor(x, requires_grad=True)
    y = layer(xt, training=True)
    assert y.shape == (8, 3, 4, 3)
    y.sum().backward()
    assert all(p.grad is not None for p in layer.trainable_weights) and xt.grad is not None
    assert [w.name for w in layer.weights] == [f"{layer.name}/conv_lstm_cell/{n}"
                                               for n in ("kernel", "recurrent_kernel", "bias")]
    assert layer.filters == 3 and layer.kernel_size == (3,) and isinstance(layer, gf.layers.RNN)


def test_mel_spectrogram_same_as_keras_and_differentiable(real_keras):
    CASES.mel_spectrogram(real_keras, gf)
    x = np.random.default_rng(3).normal(size=(1, 80))
    with gf.use_backend("reference"):
        layer = gf.layers.MelSpectrogram(fft_length=16, sequence_stride=8, num_mel_bins=4, power_to_db=False)
        assert gradcheck(lambda t: layer(t), [gf.Tensor(x, requires_grad=True)])


def test_stft_initializer_same_as_keras(real_keras):
    for name in ("STFT", "STFTInitializer", "stft"):
        CASES.stft_initializer(real_keras, gf, name)
    with pytest.raises(ValueError, match="side"):
        gf.initializers.STFT(side="both")
