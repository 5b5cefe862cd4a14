"""Masks end to end, held against Keras 3 (PyTorch backend) on the same inputs and weights: for
each built-in layer that handles masks, (a) a padded batch gives what the unpadded samples give
where Keras says so, (b) the mask that comes out equals Keras's ``_keras_mask`` (eager and in a
functional graph), (c) the outputs equal Keras's. Then training with masks (functional and
Sequential), and the layer-calling rules of Keras 3 (first input by keyword, metrics owned by
layers, ``build`` by hand)."""
import warnings

import numpy as np
import pytest

import gradflow as gf
from gradflow import layers as L

VOCAB, STEPS, DIM = 9, 6, 4
IDS = np.array([[3, 1, 4, 0, 0, 0],
                [2, 7, 1, 8, 2, 0],
                [5, 0, 0, 0, 0, 0]], dtype="int32")
LENGTHS = (IDS != 0).sum(axis=1)


def _np(t):
    if t is None:
        return None
    if hasattr(t, "detach"):
        return t.detach().cpu().numpy()
    return np.asarray(t.numpy() if hasattr(t, "numpy") else t)


def _mask(t):
    return _np(getattr(t, "_keras_mask", None))


def _seq_float(seed=0):
    """Float sequences whose padded steps are all zero (for Masking)."""
    x = np.random.default_rng(seed).standard_normal((3, STEPS, DIM)).astype("float32")
    x[IDS == 0] = 0.0
    return x


# -- cases: (name, make(k) -> layers, wire(layers, x) -> output, input kind, padded == unpadded) ------------
def _emb(k, name="emb"):
    return k.layers.Embedding(VOCAB, DIM, mask_zero=True, name=name, embeddings_initializer="random_normal")


CASES = {
    "embedding": (lambda k: [_emb(k)], lambda ls, x: ls[0](x), "ids", True),
    "masking": (lambda k: [k.layers.Masking(0.0)], lambda ls, x: ls[0](x), "float", True),
    "dense_pass_through": (lambda k: [_emb(k), k.layers.Dense(3, activation="tanh")],
                           lambda ls, x: ls[1](ls[0](x)), "ids", True),
    "dropout_activation_norms": (
        lambda k: [_emb(k), k.layers.Dropout(0.3), k.layers.Activation("relu"), k.layers.LayerNormalization(),
                   k.layers.BatchNormalization(), k.layers.ReLU()],
        lambda ls, x: ls[5](ls[4](ls[3](ls[2](ls[1](ls[0](x)))))), "ids", True),
    "masking_gap1d_dense": (lambda k: [k.layers.Masking(), k.layers.GlobalAveragePooling1D(), k.layers.Dense(2)],
                            lambda ls, x: ls[2](ls[1](ls[0](x))), "float", True),
    "embedding_gap1d": (lambda k: [_emb(k), k.layers.GlobalAveragePooling1D()], lambda ls, x: ls[1](ls[0](x)),
                        "ids", True),
    "embedding_gmp1d": (lambda k: [_emb(k), k.layers.GlobalMaxPooling1D()], lambda ls, x: ls[1](ls[0](x)),
                        "ids", False),  # Keras: GlobalMaxPooling1D does not support masking (drops the mask)
    "flatten_drops_mask": (lambda k: [_emb(k), k.layers.Flatten()], lambda ls, x: ls[1](ls[0](x)), "ids", False),
    "mha_self": (lambda k: [_emb(k), k.layers.MultiHeadAttention(2, 3)], lambda ls, x: ls[1](ls[0](x), ls[0](x)),
                 "ids", True),
    "mha_causal": (lambda k: [_emb(k), k.layers.MultiHeadAttention(2, 3)],
                   lambda ls, x: ls[1](ls[0](x), ls[0](x), use_causal_mask=True), "ids", True),
    "mha_causal_unmasked": (lambda k: [k.layers.Embedding(VOCAB, DIM), k.layers.MultiHeadAttention(2, 3)],
                            lambda ls, x: ls[1](ls[0](x), ls[0](x), use_causal_mask=True), "ids", False),
    "mha_query_value_key": (
        lambda k: [_emb(k), _emb(k, "emb2"), k.layers.Embedding(VOCAB, DIM, name="plain"),
                   k.layers.MultiHeadAttention(2, 3, value_dim=2)],
        lambda ls, x: ls[3](ls[2](x), ls[0](x), key=ls[1](x)), "ids", False),
}
for _merge in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"):
    CASES[f"merge_{_merge.lower()}"] = (
        lambda k, m=_merge: [_emb(k), _emb(k, "emb2"), getattr(k.layers, m)()],
        lambda ls, x: ls[2]([ls[0](x), ls[1](x)]), "ids", False)
CASES["merge_one_masked"] = (lambda k: [_emb(k), k.layers.Embedding(VOCAB, DIM, name="plain"), k.layers.Maximum()],
                             lambda ls, x: ls[2]([ls[0](x), ls[1](x)]), "ids", False)
CASES["concatenate_features"] = (lambda k: [_emb(k), k.layers.Embedding(VOCAB, DIM, name="plain"),
                                            k.layers.Concatenate()],
                                 lambda ls, x: ls[2]([ls[0](x), ls[1](x)]), "ids", False)
CASES["concatenate_steps"] = (lambda k: [_emb(k), _emb(k, "emb2"), k.layers.Concatenate(axis=1)],
                              lambda ls, x: ls[2]([ls[0](x), ls[1](x)]), "ids", False)
CASES["dot_no_mask"] = (lambda k: [_emb(k), _emb(k, "emb2"), k.layers.Dot(axes=2)],
                        lambda ls, x: ls[2]([ls[0](x), ls[1](x)]), "ids", False)


def _data(kind):
    return IDS if kind == "ids" else _seq_float()


def _input(k, kind):
    return k.Input((None,), dtype="int32") if kind == "ids" else k.Input((None, DIM))


def _models(real_keras, name):
    make, wire, kind, _ = CASES[name]
    k_in = _input(real_keras, kind)
    k_layers = make(real_keras)
    k_out = wire(k_layers, k_in)
    k_model = real_keras.Model(k_in, k_out)
    g_in = _input(gf, kind)
    g_layers = make(gf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g_out = wire(g_layers, g_in)
    g_model = gf.Model(g_in, g_out)
    g_model.set_weights(k_model.get_weights())
    return k_model, g_model, k_out, g_out, k_layers, g_layers


def _valid(out, mask_like):
    """Outputs at the steps the input keeps (padded steps' values are not specified by Keras)."""
    if out.ndim >= 2 and out.shape[:2] == IDS.shape:
        return out[IDS != 0]
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_masks_match_keras(real_keras, name):
    """(b) and (c): in a functional model and eagerly, masks and outputs equal Keras's."""
    _, wire, kind, _ = CASES[name]
    k_model, g_model, k_sym, g_sym, k_layers, g_layers = _models(real_keras, name)
    x = _data(kind)
    # symbolic masks: present where Keras has one
    assert (getattr(k_sym, "_keras_mask", None) is None) == (g_sym._keras_mask is None), name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k_out, g_out = k_model(x), g_model(x)
        k_eager = wire(k_layers, real_keras.ops.convert_to_tensor(x))
        g_eager = wire(g_layers, gf.Tensor(x))
    for k, g in ((k_out, g_out), (k_eager, g_eager)):
        np.testing.assert_array_equal(_mask(g), _mask(k), err_msg=name)
        np.testing.assert_allclose(_valid(_np(g), x), _valid(_np(k), x), rtol=2e-5, atol=2e-5, err_msg=name)


@pytest.mark.parametrize("name", sorted(n for n, c in CASES.items() if c[3]))
def test_padded_equals_unpadded(real_keras, name):
    """(a): where Keras says so, each padded sample gives what it gives alone without padding."""
    _, _, kind, _ = CASES[name]
    _, g_model, _, _, _, _ = _models(real_keras, name)
    x = _data(kind)
    padded = _np(g_model(x))
    for i, n in enumerate(LENGTHS):
        alone = _np(g_model(x[i:i + 1, :n]))[0]
        got = padded[i, :n] if padded.ndim >= 2 and padded.shape[1] == STEPS else padded[i]
        np.testing.assert_allclose(got, alone, rtol=2e-5, atol=2e-5, err_msg=name)


def test_softmax_with_mask_matches_keras(real_keras):
    x = np.random.default_rng(1).standard_normal((3, STEPS)).astype("float32")
    mask = IDS != 0
    want = _np(real_keras.layers.Softmax()(real_keras.ops.convert_to_tensor(x),
                                           mask=real_keras.ops.convert_to_tensor(mask)))
    np.testing.assert_allclose(_np(L.Softmax()(gf.Tensor(x), mask=gf.Tensor(mask))), want, rtol=1e-6, atol=1e-7)


def test_mask_dropped_with_warning_as_keras():
    x = gf.Input((None,), dtype="int32")
    h = L.Embedding(VOCAB, DIM, mask_zero=True)(x)
    with pytest.warns(UserWarning, match="does not support masking"):
        out = L.Flatten()(h)
    assert out._keras_mask is None


def test_compute_mask_and_supports_masking_defaults():
    class PassThrough(L.Layer):
        def call(self, x):
            return x

    class Custom(L.Layer):
        def call(self, x):
            return x

        def compute_mask(self, inputs, mask=None):
            return inputs.data > 0

    assert not PassThrough().supports_masking and Custom().supports_masking
    assert L.Dense(2).supports_masking and not L.Flatten().supports_masking
    assert L.Embedding(3, 2, mask_zero=True).supports_masking and not L.Embedding(3, 2).supports_masking
    m = gf.Tensor(np.array([[True, False]]))
    assert L.Dense(2).compute_mask(gf.Tensor(np.zeros((1, 2, 3), "float32")), m) is m
    out = Custom()(gf.Tensor(np.array([[1.0, -1.0]], "float32")))
    np.testing.assert_array_equal(np.asarray(out._keras_mask), [[True, False]])


def test_explicit_mask_wins_and_reaches_call():
    seen = {}

    class Probe(L.Layer):
        supports_masking = True

        def call(self, x, mask=None):
            seen["mask"] = mask
            return x

    emb = L.Embedding(VOCAB, DIM, mask_zero=True)
    h = emb(IDS)
    Probe()(h)
    np.testing.assert_array_equal(_np(seen["mask"]), IDS != 0)
    mine = gf.Tensor(np.ones(IDS.shape, bool))
    out = Probe()(h, mask=mine)
    assert seen["mask"] is mine and out._keras_mask is h._keras_mask  # the output already had h's mask


def test_subclassed_model_carries_masks():
    class M(gf.Model):
        def __init__(self):
            super().__init__()
            self.emb = L.Embedding(VOCAB, DIM, mask_zero=True)
            self.pool = L.GlobalAveragePooling1D()
            self.dense = L.Dense(2)

        def call(self, x):
            return self.dense(self.pool(self.emb(x)))

    m = M()
    padded = m(IDS).numpy()
    for i, n in enumerate(LENGTHS):
        np.testing.assert_allclose(padded[i], m(IDS[i:i + 1, :n]).numpy()[0], rtol=1e-5, atol=1e-6)


def test_model_call_with_mask_argument(real_keras):
    """Functional and Sequential models take ``mask=`` for their input, as Keras's do."""
    x = _seq_float()
    mask = IDS != 0
    k_in = real_keras.Input((None, DIM))
    k_model = real_keras.Model(k_in, real_keras.layers.GlobalAveragePooling1D()(k_in))
    g_in = gf.Input((None, DIM))
    g_model = gf.Model(g_in, L.GlobalAveragePooling1D()(g_in))
    want = _np(k_model(x, mask=real_keras.ops.convert_to_tensor(mask)))
    np.testing.assert_allclose(_np(g_model(x, mask=gf.Tensor(mask))), want, rtol=1e-5, atol=1e-6)
    seq = gf.Sequential([gf.Input((None, DIM)), L.GlobalAveragePooling1D()])
    np.testing.assert_allclose(_np(seq(x, mask=gf.Tensor(mask))), want, rtol=1e-5, atol=1e-6)


def test_unmasked_cnn_plan_is_unchanged():
    """No mask anywhere: the plan fuses as before (the mask rules cost nothing there)."""
    x = gf.Input((8, 8, 3))
    h = L.Conv2D(4, 3, activation="relu")(x)
    h = L.MaxPooling2D()(h)
    out = L.Dense(2)(L.Flatten()(h))
    model = gf.Model(x, out)
    forward = model._make_forward()
    assert forward.steps < 4
    assert all(t._keras_mask is None for n in model._nodes for t in n.flat_outputs)


# -- training with masks ------------------------------------------------------------------------
def _pooled(k, sequential):
    layers = [_emb(k), k.layers.GlobalAveragePooling1D(), k.layers.Dense(3, activation="softmax")]
    if sequential:
        return k.Sequential([k.Input((STEPS,), dtype="int32")] + layers)
    x = k.Input((STEPS,), dtype="int32")
    h = x
    for layer in layers:
        h = layer(h)
    return k.Model(x, h)


def _per_step(k, sequential):
    layers = [_emb(k), k.layers.Dense(3, activation="softmax")]
    if sequential:
        return k.Sequential([k.Input((STEPS,), dtype="int32")] + layers)
    x = k.Input((STEPS,), dtype="int32")
    return k.Model(x, layers[1](layers[0](x)))


@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("build", [_pooled, _per_step])
def test_fit_with_masks_gives_keras_losses(real_keras, sequential, build):
    rng = np.random.default_rng(3)
    ids = rng.integers(1, VOCAB, size=(12, STEPS)).astype("int32")
    for i in range(12):
        ids[i, rng.integers(1, STEPS):] = 0
    y = rng.integers(0, 3, size=(12,) if build is _pooled else (12, STEPS))
    k_model, g_model = build(real_keras, sequential), build(gf, sequential)
    g_model.set_weights(k_model.get_weights())
    histories = []
    for k, model in ((real_keras, k_model), (gf, g_model)):
        model.compile(optimizer=k.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        h = model.fit(ids, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history
        histories.append((h, model.evaluate(ids, y, verbose=0, return_dict=True)))
    (k_hist, k_eval), (g_hist, g_eval) = histories
    np.testing.assert_allclose(g_hist["loss"], k_hist["loss"], rtol=2e-4)
    np.testing.assert_allclose(g_hist["accuracy"], k_hist["accuracy"], rtol=1e-5)
    assert g_eval["loss"] == pytest.approx(k_eval["loss"], rel=2e-4)
    assert g_eval["accuracy"] == pytest.approx(k_eval["accuracy"], rel=1e-5)


# -- layer-calling rules --------------------------------------------------------------------------
def _endpoint_class(k):
    class Endpoint(k.layers.Layer):
        """Keras's recipe: a layer called with its inputs by keyword, owning a metric it updates."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.tracker = k.metrics.Mean(name="mean_logit")

        def call(self, logits, targets):
            self.tracker.update_state(k.ops.mean(logits, axis=-1))
            return logits - targets

    return Endpoint


def test_first_input_by_keyword(real_keras):
    a = np.arange(6, dtype="float32").reshape(2, 3)
    b = np.ones((2, 3), "float32")
    g = _endpoint_class(gf)()(logits=gf.Tensor(a), targets=gf.Tensor(b))
    k = _endpoint_class(real_keras)()(logits=real_keras.ops.convert_to_tensor(a),
                                      targets=real_keras.ops.convert_to_tensor(b))
    np.testing.assert_allclose(_np(g), _np(k))
    x, t = gf.Input((3,)), gf.Input((3,))
    out = _endpoint_class(gf)(name="end")(logits=x, targets=t)
    model = gf.Model([x, t], out)
    np.testing.assert_allclose(_np(model([a, b])), a - b)


def test_layer_metrics_logged_by_fit(real_keras):
    x = np.random.default_rng(0).standard_normal((8, 3)).astype("float32")
    y = np.zeros((8, 2), "float32")
    logs = []
    for k in (real_keras, gf):
        inp = k.Input((3,))
        h = k.layers.Dense(2)(inp)
        out = _endpoint_class(k)(name="end")(logits=h, targets=h * 0.5)
        model = k.Model(inp, out)
        logs.append((model, k))
    k_model, g_model = logs[0][0], logs[1][0]
    g_model.set_weights(k_model.get_weights())
    results = []
    for model, k in logs:
        assert any(m.name == "mean_logit" for m in model.metrics)
        model.compile(optimizer=k.optimizers.SGD(0.1), loss="mse")
        h = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history
        results.append(h)
    assert "mean_logit" in results[1]
    np.testing.assert_allclose(results[1]["mean_logit"], results[0]["mean_logit"], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(results[1]["loss"], results[0]["loss"], rtol=1e-4, atol=1e-7)


def test_build_by_hand_marks_built():
    dense = L.Dense(3)
    dense.build((None, 4))
    assert dense.built and dense.kernel.shape == (4, 3)

    class NoBuild(L.Layer):
        def call(self, x):
            return x

    class OwnBuild(L.Layer):
        def build(self, input_shape):
            self.w = self.add_weight(shape=(input_shape[-1],), initializer="ones")

        def call(self, x):
            return x * self.w

    for layer in (NoBuild(), OwnBuild()):
        layer.build((None, 2))
        assert layer.built
    np.testing.assert_allclose(OwnBuild()(np.ones((1, 2), "float32")).numpy(), [[1.0, 1.0]])


def _nested(k, variant):
    inp = k.Input((None,), dtype="int32")
    if variant == "sequential":
        h = k.Sequential([k.Input((None,), dtype="int32"), _emb(k), k.layers.Dense(3)])(inp)
    elif variant == "functional":
        i2 = k.Input((None,), dtype="int32")
        h = k.Model(i2, k.layers.Dense(3)(_emb(k)(i2)))(inp)
    else:
        class Wrap(k.layers.Layer):
            """A layer whose call returns a sublayer's masked output (no compute_mask of its own)."""

            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.emb = _emb(k)

            def call(self, x):
                return self.emb(x)

        h = Wrap()(inp)
    return k.Model(inp, k.layers.GlobalAveragePooling1D()(h))


@pytest.mark.parametrize("variant", ["sequential", "functional", "custom_layer"])
def test_masks_made_inside_nested_models_and_layers(real_keras, variant):
    """Masks made inside a nested model or a custom layer reach the layers after it at run time, as
    in Keras (whose symbolic outputs of a nested model carry none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k_model, g_model = _nested(real_keras, variant), _nested(gf, variant)
        g_model.set_weights(k_model.get_weights())
        want = _np(k_model(IDS))
        np.testing.assert_allclose(g_model(IDS).numpy(), want, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(g_model.predict(IDS, verbose=0), want, rtol=1e-5, atol=1e-6)


def _guide_model(k):
    """The custom layers of keras-io's "Understanding masking & padding" guide."""
    class TemporalSoftmax(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            m = k.ops.expand_dims(k.ops.cast(mask, "float32"), -1)
            e = k.ops.exp(inputs) * m
            return e / k.ops.sum(e * m, axis=-1, keepdims=True)

    class TemporalSplit(k.layers.Layer):
        def call(self, inputs):
            return [inputs[:, :3], inputs[:, 3:]]

        def compute_mask(self, inputs, mask=None):
            return None if mask is None else [mask[:, :3], mask[:, 3:]]

    inputs = k.Input(shape=(STEPS,), dtype="int32")
    first, _ = TemporalSplit()(_emb(k)(inputs))
    return k.Model(inputs, TemporalSoftmax()(k.layers.Dense(1)(first)))


def test_masking_guide_custom_layers(real_keras):
    """A layer whose call needs its mask gets it in the symbolic call too; a compute_mask of its own
    splits the mask as it splits the data."""
    k_model, g_model = _guide_model(real_keras), _guide_model(gf)
    g_model.set_weights(k_model.get_weights())
    np.testing.assert_allclose(g_model(IDS).numpy(), _np(k_model(IDS)), rtol=1e-6, equal_nan=True)
    np.testing.assert_array_equal(_mask(g_model(IDS)), _mask(k_model(IDS)))
