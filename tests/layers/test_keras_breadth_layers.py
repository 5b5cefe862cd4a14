"""The Keras-breadth layers: forward and input gradients against Keras 3 (PyTorch backend) on the
same weights where Keras is installed, gradients against finite differences on the float64
reference backend always, configs that round-trip, and use inside functional models."""

import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L
from gradflow.autograd import gradcheck

# (layer class name, constructor kwargs, input shape, integer inputs below this bound or None)
CASES = [
    ("ReLU", {}, (4, 6), None),
    ("ReLU", {"max_value": 1.0, "negative_slope": 0.1, "threshold": 0.2}, (4, 6), None),
    ("LeakyReLU", {}, (4, 6), None),
    ("LeakyReLU", {"negative_slope": 0.05}, (3, 5, 2), None),
    ("PReLU", {"alpha_initializer": "random_normal"}, (4, 6), None),
    ("PReLU", {"alpha_initializer": "random_normal", "shared_axes": [1, 2]}, (2, 4, 5, 3), None),
    ("ELU", {"alpha": 0.7}, (4, 6), None),
    ("Softmax", {}, (4, 6), None),
    ("Softmax", {"axis": 1}, (2, 4, 3), None),
    ("LayerNormalization", {"gamma_initializer": "random_normal", "beta_initializer": "random_normal"}, (4, 6), None),
    ("LayerNormalization", {"axis": [1, 2]}, (2, 3, 4), None),
    ("LayerNormalization", {"rms_scaling": True, "gamma_initializer": "random_normal"}, (4, 6), None),  # deprecated in Keras
    ("Embedding", {"input_dim": 7, "output_dim": 3}, (4, 5), 7),
    ("Conv1D", {"filters": 4, "kernel_size": 3}, (2, 9, 3), None),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "same", "strides": 2, "activation": "relu"}, (2, 9, 3), None),
    ("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2}, (2, 8, 3), None),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 3}, (2, 4, 5, 2), None),
    ("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 4, 5, 2), None),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": (2, 3), "strides": (2, 1), "activation": "relu"},
     (1, 3, 4, 2), None),
    ("Conv2DTranspose", {"filters": 2, "kernel_size": 2, "strides": 3}, (1, 3, 3, 2), None),
    ("MaxPooling1D", {}, (2, 8, 3), None),
    ("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 8, 3), None),
    ("AveragePooling1D", {"pool_size": 3, "strides": 1}, (2, 8, 3), None),
    ("GlobalAveragePooling1D", {}, (2, 8, 3), None),
    ("GlobalMaxPooling1D", {}, (2, 8, 3), None),
    ("Rescaling", {"scale": 1.0 / 255, "offset": -0.5}, (2, 4, 4, 3), None),
    ("CenterCrop", {"height": 3, "width": 2}, (2, 6, 5, 3), None),
    ("Resizing", {"height": 7, "width": 3}, (2, 5, 6, 3), None),
    ("Resizing", {"height": 4, "width": 8, "interpolation": "nearest"}, (2, 5, 6, 3), None),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "bias_initializer": "random_normal"},
     (2, 6, 5, 3), None),
    ("DepthwiseConv2D", {"kernel_size": (3, 2), "strides": 2, "padding": "same"}, (2, 7, 6, 2), None),
    ("DepthwiseConv2D", {"kernel_size": 3, "dilation_rate": 2, "activation": "relu"}, (1, 7, 7, 2), None),
    ("SeparableConv2D", {"filters": 4, "kernel_size": 3, "padding": "same", "bias_initializer": "random_normal"},
     (2, 6, 5, 3), None),
    ("SeparableConv2D", {"filters": 3, "kernel_size": 2, "strides": 2, "depth_multiplier": 2}, (2, 6, 6, 2), None),
    ("GroupNormalization", {"groups": 2, "gamma_initializer": "random_normal", "beta_initializer": "random_normal"},
     (2, 5, 4), None),
    ("GroupNormalization", {"groups": -1, "axis": 1}, (2, 3, 4, 5), None),
    ("GroupNormalization", {"groups": 3}, (2, 4, 4, 6), None),
    ("UnitNormalization", {}, (4, 6), None),
    ("UnitNormalization", {"axis": [1, 2]}, (2, 3, 4), None),
    ("UpSampling1D", {"size": 3}, (2, 4, 3), None),
    ("RepeatVector", {"n": 3}, (4, 5), None),
    ("Permute", {"dims": (2, 1)}, (2, 3, 4), None),
    ("Permute", {"dims": (3, 1, 2)}, (2, 3, 4, 5), None),
    ("Identity", {}, (3, 4), None),
    ("ZeroPadding2D", {"padding": ((1, 2), (0, 3))}, (2, 4, 5, 3), None),
    ("Cropping2D", {"cropping": ((1, 0), (2, 1))}, (2, 5, 6, 3), None),
    ("Conv3D", {"filters": 3, "kernel_size": 2, "bias_initializer": "random_normal"}, (2, 4, 5, 4, 2), None),
    ("Conv3D", {"filters": 2, "kernel_size": (3, 2, 2), "strides": (2, 1, 2), "padding": "same",
                "activation": "relu"}, (1, 5, 4, 6, 2), None),
    ("MaxPooling3D", {}, (2, 4, 4, 6, 2), None),
    # 'valid' only: with 'same' and uneven padding Keras's torch backend averages replicated edge cells,
    # where TensorFlow/JAX (and gradflow) leave the padded cells out of the mean
    ("AveragePooling3D", {"pool_size": (2, 3, 2), "strides": 1}, (1, 3, 4, 5, 2), None),
    ("GlobalAveragePooling3D", {}, (2, 3, 4, 5, 2), None),
    ("GlobalMaxPooling3D", {}, (2, 3, 4, 5, 2), None),
    ("ConvLSTM2D", {"filters": 3, "kernel_size": 3}, (2, 4, 6, 5, 2), None),
    ("ConvLSTM2D", {"filters": 2, "kernel_size": (3, 2), "padding": "same", "return_sequences": True},
     (1, 3, 5, 4, 2), None),
    ("SimpleRNN", {"units": 4}, (2, 5, 3), None),
    ("SimpleRNN", {"units": 3, "return_sequences": True, "activation": "relu"}, (2, 5, 3), None),
    ("LSTM", {"units": 4}, (2, 5, 3), None),
    ("LSTM", {"units": 3, "return_sequences": True, "go_backwards": True}, (2, 5, 3), None),
    ("GRU", {"units": 4}, (2, 5, 3), None),
    ("GRU", {"units": 3, "reset_after": False, "return_sequences": True}, (2, 5, 3), None),
]
IDS = [f"{name}-{i}" for i, (name, *_ ) in enumerate(CASES)]
NOT_DIFFERENTIABLE = {"Embedding", "CenterCrop", "Resizing"}  # w.r.t. their inputs (ids, resampled pixels)


def _input(shape, int_bound, seed=0):
    rng = np.random.default_rng(seed)
    if int_bound is not None:
        return rng.integers(0, int_bound, shape).astype("int64")
    x = rng.normal(size=shape).astype("float32")
    x[np.abs(x) < 1e-2] += 0.1  # keep away from the kinks of ReLU-like layers (finite differences)
    return x


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:You passed `rms_scaling=True`:UserWarning")
@pytest.mark.parametrize("name,kwargs,shape,int_bound", CASES, ids=IDS)
def test_same_as_keras_on_the_same_weights(real_keras, name, kwargs, shape, int_bound):
    keras = real_keras
    import torch

    x = _input(shape, int_bound)
    k_layer = getattr(keras.layers, name)(**kwargs)
    g_layer = getattr(L, name)(**kwargs)
    k_out = k_layer(x)
    g_layer(x)
    k_weights = k_layer.get_weights()
    assert [w.shape for w in g_layer.get_weights()] == [w.shape for w in k_weights]
    g_layer.set_weights(k_weights)
    xt = torch.tensor(x, requires_grad=int_bound is None)
    k_out = k_layer(xt)
    gx = gf.Tensor(x, requires_grad=int_bound is None)
    g_out = g_layer(gx)
    np.testing.assert_allclose(g_out.numpy(), k_out.detach().cpu().numpy(), rtol=1e-5, atol=1e-5)
    assert g_layer.compute_output_shape((None,) + shape[1:]) == tuple(k_layer.compute_output_shape((None,) + shape[1:]))
    if int_bound is None and name not in NOT_DIFFERENTIABLE:
        r = np.random.default_rng(1).normal(size=g_out.shape).astype("float32")
        (k_out * torch.tensor(r)).sum().backward()
        (g_out * gf.Tensor(r)).sum().backward()
        np.testing.assert_allclose(gx.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name,kwargs,shape,int_bound", CASES, ids=IDS)
def test_gradients_against_finite_differences_and_config_round_trip(name, kwargs, shape, int_bound):
    with gf.use_backend("reference"):
        layer = getattr(L, name)(**kwargs)
        x = _input(shape, int_bound).astype("float64" if int_bound is None else "int64")
        y = layer(x)
        clone = type(layer).from_config(layer.get_config())
        clone(x)
        clone.set_weights(layer.get_weights())
        np.testing.assert_allclose(clone(x).numpy(), y.numpy())
        if int_bound is None and name not in NOT_DIFFERENTIABLE:
            assert gradcheck(lambda t: layer(t), [gf.Tensor(x, requires_grad=True)])
        for key, p in list(layer._params.items()):  # each trainable weight, swapped for the checked tensor
            if not p.trainable:
                continue
            w = gf.Tensor(p.numpy().copy(), requires_grad=True)

            def with_weight(t, key=key):
                layer._params[key] = t
                return layer(x)

            try:
                assert gradcheck(with_weight, [w])
            finally:
                layer._params[key] = p


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "ave"])
def test_bidirectional_and_states_same_as_keras(real_keras, merge_mode):
    keras = real_keras
    import torch

    x = _input((2, 6, 3), None)
    for make in (lambda k: k.layers.Bidirectional(k.layers.LSTM(3, return_sequences=True), merge_mode=merge_mode),
                 lambda k: k.layers.Bidirectional(k.layers.GRU(2), merge_mode=merge_mode)):
        k_layer, g_layer = make(keras), make(gf)
        k_layer(x)
        g_layer(x)
        g_layer.set_weights(k_layer.get_weights())
        np.testing.assert_allclose(g_layer(x).numpy(), k_layer(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)
    k_lstm, g_lstm = keras.layers.LSTM(4, return_state=True), L.LSTM(4, return_state=True)
    k_lstm(x)
    g_lstm(x)
    g_lstm.set_weights(k_lstm.get_weights())
    h0 = np.random.default_rng(2).normal(size=(2, 4)).astype("float32")
    k_out = k_lstm(torch.tensor(x), initial_state=[torch.tensor(h0), torch.tensor(-h0)])
    g_out = g_lstm(x, initial_state=[h0, -h0])
    for a, b in zip(g_out, k_out):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy:DeprecationWarning")
@pytest.mark.parametrize("kwargs,call", [
    ({"num_heads": 2, "key_dim": 4}, {}),
    ({"num_heads": 3, "key_dim": 2, "value_dim": 5, "output_shape": 6}, {"use_causal_mask": True}),
    ({"num_heads": 1, "key_dim": 3, "use_bias": False}, {"mask": True}),
])
def test_multi_head_attention_same_as_keras(real_keras, kwargs, call):
    keras = real_keras
    import torch

    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 4, 8)).astype("float32")
    v = rng.normal(size=(2, 6, 5)).astype("float32")
    extra = {}
    if call.get("use_causal_mask"):
        v = rng.normal(size=(2, 4, 5)).astype("float32")
        extra["use_causal_mask"] = True
    if call.get("mask"):
        extra["attention_mask"] = rng.random((2, 4, 6)) > 0.3
    k_layer = keras.layers.MultiHeadAttention(**kwargs, kernel_initializer="random_normal",
                                              bias_initializer="random_normal")
    g_layer = L.MultiHeadAttention(**kwargs)
    k_layer(q, v)
    g_layer(q, v)
    assert [w.shape for w in g_layer.get_weights()] == [tuple(w.shape) for w in k_layer.get_weights()]
    g_layer.set_weights(k_layer.get_weights())
    qt, vt = torch.tensor(q, requires_grad=True), torch.tensor(v, requires_grad=True)
    k_kwargs = {**extra, "attention_mask": torch.tensor(extra["attention_mask"])} if "attention_mask" in extra else extra
    k_out, k_scores = k_layer(qt, vt, return_attention_scores=True, **k_kwargs)
    gq, gv = gf.Tensor(q, requires_grad=True), gf.Tensor(v, requires_grad=True)
    g_out, g_scores = g_layer(gq, gv, return_attention_scores=True, **extra)
    np.testing.assert_allclose(g_out.numpy(), k_out.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(g_scores.numpy(), k_scores.detach().numpy(), rtol=1e-5, atol=1e-6)
    r = rng.normal(size=g_out.shape).astype("float32")
    (k_out * torch.tensor(r)).sum().backward()
    (g_out * gf.Tensor(r)).sum().backward()
    np.testing.assert_allclose(gq.grad.numpy(), qt.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(gv.grad.numpy(), vt.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_transformer_block_trains_in_a_functional_model():
    """keras-io's text-classification transformer block, on synthetic tokens."""
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, (96, 10))
    y = (x == 7).any(axis=1).astype("int64")
    inputs = gf.Input(shape=(10,), dtype="int64")
    h = L.Embedding(30, 16)(inputs)
    attn = L.MultiHeadAttention(num_heads=2, key_dim=16)(h, h)
    h = L.LayerNormalization(epsilon=1e-6)(h + L.Dropout(0.1)(attn))
    ffn = L.Dense(16)(L.Dense(32, activation="relu")(h))
    h = L.LayerNormalization(epsilon=1e-6)(h + ffn)
    outputs = L.Dense(2, activation="softmax")(L.GlobalAveragePooling1D()(h))
    model = gf.Model(inputs, outputs)
    model.compile(optimizer=gf.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=10, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.7 * history.history["loss"][0]
    clone = gf.models.clone_model(model)
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_recurrent_models_train_and_save(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 7, 3)).astype("float32")
    y = (x[:, :, 0].sum(axis=1) > 0).astype("int64")
    inp = gf.Input(shape=(7, 3))
    h = L.Bidirectional(L.LSTM(8, return_sequences=True, dropout=0.1, recurrent_dropout=0.1))(inp)
    h = L.GRU(6)(h)
    model = gf.Model(inp, L.Dense(2, activation="softmax")(h))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=6, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    model.save(tmp_path / "rnn.gflow")
    loaded = gf.models.load_model(tmp_path / "rnn.gflow")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)
    # Bidirectional(LSTM(8)): 2 * 4 * (3 * 8 + 8 * 8 + 8); GRU(6) on 16 features, reset_after bias (2, 18)
    assert model.layers[1].count_params() == 2 * 4 * (3 * 8 + 8 * 8 + 8)
    assert model.layers[2].count_params() == 16 * 18 + 6 * 18 + 2 * 18


def test_in_functional_models_with_keras_semantics():
    tokens = gf.Input(shape=(6,), dtype="int64", name="tokens")
    h = L.Embedding(20, 8)(tokens)
    h = L.Conv1D(8, 3, padding="causal", activation="relu")(h)
    h = L.LayerNormalization()(h)
    h = L.GlobalMaxPooling1D()(h)
    out = L.Dense(2, activation="softmax")(L.LeakyReLU()(h))
    model = gf.Model(tokens, out)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = rng.integers(0, 20, (96, 6))
    y = (x[:, 0] > 9).astype("int64")
    history = model.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.7
    rebuilt = gf.Model.from_config(model.get_config())
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5)


def test_conv_transpose_autoencoder_shapes_and_dot():
    inp = gf.Input(shape=(8, 8, 1))
    h = L.Conv2D(4, 3, strides=2, padding="same", activation="relu")(inp)
    out = L.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")(h)
    assert out.shape == (None, 8, 8, 1)
    a, b = gf.Input(shape=(5,)), gf.Input(shape=(5,))
    cos = L.Dot(axes=1, normalize=True)([a, b])
    model = gf.Model([a, b], cos)
    v = np.random.default_rng(0).normal(size=(3, 5)).astype("float32")
    np.testing.assert_allclose(model.predict([v, 2 * v], verbose=0), np.ones((3, 1)), rtol=1e-5)


def test_normalization_adapt_lambda_and_errors():
    data = np.random.default_rng(0).normal(3.0, 2.0, size=(200, 4)).astype("float32")
    norm = L.Normalization()
    norm.adapt(data)
    out = norm(data).numpy()
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=0), 1.0, atol=1e-4)
    assert int(norm.count.numpy()) == 200
    back = L.Normalization(mean=norm.mean.numpy(), variance=norm.variance.numpy(), invert=True)
    np.testing.assert_allclose(back(out).numpy(), data, rtol=1e-4, atol=1e-4)
    double = L.Lambda(lambda t: t * 2.0)
    np.testing.assert_allclose(double(data).numpy(), 2 * data)
    with pytest.raises(ValueError, match="lambda expression cannot be saved"):
        double.get_config()
    with pytest.raises(ValueError, match=r"Embedding layer .*ids must be in \[0, 5\).*got 7"):
        L.Embedding(5, 2)(np.array([[1, 7]]))
    with pytest.raises(ValueError, match=r"Dot layer .*same size.*4.*5"):
        L.Dot(axes=1)([gf.Input(shape=(4,)), gf.Input(shape=(5,))])
    with pytest.raises(ValueError, match=r"Conv1D layer .*padding must be 'valid', 'same' or 'causal'"):
        L.Conv1D(2, 3, padding="full")
