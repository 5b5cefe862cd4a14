"""Port of keras-io ``guides/understanding_masking_and_padding.py`` ("Understanding masking & padding",
Keras 3 edition, written with ``keras.ops``).

Only the imports change; the guide is written once against a module ``k`` and runs on gradflow and on real
Keras 3 (torch backend): ``pad_sequences``, the masks that ``Embedding(mask_zero=True)`` and ``Masking``
attach (``_keras_mask``), mask propagation in Sequential and functional models, ``compute_mask`` passed to
``LSTM(mask=...)`` by hand, custom layers that split (``TemporalSplit``), make (``CustomEmbedding``), pass on
(``supports_masking``) and consume (``TemporalSoftmax(mask=None)``) masks.

Substitutions: ``tf.*`` -> ``ops.*`` as in the Keras 3 guide (``ops.split``, ``ops.take``,
``ops.not_equal``, ``ops.expand_dims``, ``ops.cast``...); the global ``np.random`` -> seeded generators;
the last call ``model(ints, floats)`` (whose second argument lands in ``training``) -> ``model(ints)``;
``print`` -> assertions; ``TemporalSoftmax`` sums ``inputs_exp`` over axis 1, the time axis the guide's text
names (its code sums over the last axis, of size 1, which gives 0/0 = NaN on every masked step). Added, to check what the guide only prints: a padded sequence gives the same
``LSTM`` output as the unpadded one.

Compared with Keras on the same weights: every mask, the masked ``LSTM`` outputs of the Sequential,
functional and subclassed models, and ``TemporalSoftmax``.
"""
import numpy as np

import gradflow as keras
from gradflow import layers, ops  # noqa: F401 - the guide's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

raw_inputs = [
    [711, 632, 71],
    [73, 8, 3215, 55, 927],
    [83, 91, 1, 645, 1253, 927],
]


def to_numpy(k, x):
    return None if x is None else k.ops.convert_to_numpy(x)


def layer_classes(k):
    class MyLayer(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.embedding = k.layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
            self.lstm = k.layers.LSTM(32)

        def call(self, inputs):
            x = self.embedding(inputs)
            # A mask could also be made by hand: a boolean tensor of shape (batch_size, timesteps).
            mask = self.embedding.compute_mask(inputs)
            output = self.lstm(x, mask=mask)  # The layer will ignore the masked values
            return output

    class TemporalSplit(k.layers.Layer):
        """Split the input tensor into 2 tensors along the time dimension."""

        def call(self, inputs):
            # 3D input and 2D mask: split both in two along the time axis (axis 1).
            return k.ops.split(inputs, 2, axis=1)

        def compute_mask(self, inputs, mask=None):
            # Also split the mask into 2 if it presents.
            if mask is None:
                return None
            return k.ops.split(mask, 2, axis=1)

    class CustomEmbedding(k.layers.Layer):
        def __init__(self, input_dim, output_dim, mask_zero=False, **kwargs):
            super().__init__(**kwargs)
            self.input_dim = input_dim
            self.output_dim = output_dim
            self.mask_zero = mask_zero

        def build(self, input_shape):
            self.embeddings = self.add_weight(
                shape=(self.input_dim, self.output_dim),
                initializer="random_normal",
                dtype="float32",
            )

        def call(self, inputs):
            inputs = k.ops.cast(inputs, "int32")
            return k.ops.take(self.embeddings, inputs)

        def compute_mask(self, inputs, mask=None):
            if not self.mask_zero:
                return None
            return k.ops.not_equal(inputs, 0)

    class MyActivation(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            # Signal that the layer is safe for mask propagation
            self.supports_masking = True

        def call(self, inputs):
            return k.ops.relu(inputs)

    class TemporalSoftmax(k.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.supports_masking = True

        def call(self, inputs, mask=None):
            assert mask is not None
            broadcast_float_mask = k.ops.expand_dims(k.ops.cast(mask, "float32"), -1)
            inputs_exp = k.ops.exp(inputs) * broadcast_float_mask
            inputs_sum = k.ops.sum(inputs_exp * broadcast_float_mask, axis=1, keepdims=True)
            return inputs_exp / inputs_sum

    return MyLayer, TemporalSplit, CustomEmbedding, MyActivation, TemporalSoftmax


def run_program(k):
    """The guide, section by section; returns what the comparison with Keras needs."""
    MyLayer, TemporalSplit, CustomEmbedding, MyActivation, TemporalSoftmax = layer_classes(k)
    out = {}

    # Padding: "post" padding with 0s.
    padded_inputs = k.utils.pad_sequences(raw_inputs, padding="post")
    np.testing.assert_array_equal(padded_inputs, [[711, 632, 71, 0, 0, 0], [73, 8, 3215, 55, 927, 0],
                                                  [83, 91, 1, 645, 1253, 927]])
    expected_mask = padded_inputs != 0

    # Mask-generating layers: Embedding and Masking.
    embedding = k.layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)
    masked_output = embedding(padded_inputs)
    np.testing.assert_array_equal(to_numpy(k, masked_output._keras_mask), expected_mask)

    masking_layer = k.layers.Masking()
    # Simulate the embedding lookup by expanding the 2D input to 3D, with embedding dimension of 10.
    unmasked_embedding = k.ops.cast(k.ops.tile(k.ops.expand_dims(padded_inputs, axis=-1), [1, 1, 10]), "float32")
    masked_embedding = masking_layer(unmasked_embedding)
    np.testing.assert_array_equal(to_numpy(k, masked_embedding._keras_mask), expected_mask)

    # Mask propagation in the Sequential and Functional APIs: the LSTM receives the mask.
    model = k.Sequential([k.layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True), k.layers.LSTM(32)])
    out["sequential"] = (model, to_numpy(k, model(padded_inputs)))
    inputs = k.Input(shape=(None,), dtype="int32")
    x = k.layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    outputs = k.layers.LSTM(32)(x)
    model = k.Model(inputs, outputs)
    # padding is skipped: the padded sequence gives the output of the unpadded one
    full = to_numpy(k, model(padded_inputs))
    np.testing.assert_allclose(full[0], to_numpy(k, model(np.array([raw_inputs[0]])))[0], atol=1e-6)
    np.testing.assert_allclose(full[1], to_numpy(k, model(np.array([raw_inputs[1]])))[0], atol=1e-6)
    out["functional"] = (model, full)

    # Passing mask tensors directly to layers.
    layer = MyLayer()
    x = (np.random.default_rng(0).random((32, 10)) * 100).astype("int32")
    x[:, 7:] = 0
    y = to_numpy(k, layer(x))
    assert y.shape == (32, 32)
    out["my_layer"] = (layer, x, y)

    # Supporting masking in custom layers: a layer that splits the mask with its input.
    first_half, second_half = TemporalSplit()(masked_embedding)
    np.testing.assert_array_equal(to_numpy(k, first_half._keras_mask), expected_mask[:, :3])
    np.testing.assert_array_equal(to_numpy(k, second_half._keras_mask), expected_mask[:, 3:])

    # A layer that makes a mask from its input values.
    layer = CustomEmbedding(10, 32, mask_zero=True)
    x = (np.random.default_rng(1).random((3, 10)) * 9).astype("int32")
    y = layer(x)
    mask = layer.compute_mask(x)
    np.testing.assert_array_equal(to_numpy(k, mask), x != 0)
    np.testing.assert_array_equal(to_numpy(k, y._keras_mask), x != 0)

    # Opting in to mask propagation.
    inputs = k.Input(shape=(None,), dtype="int32")
    x = k.layers.Embedding(input_dim=5000, output_dim=16, mask_zero=True)(inputs)
    x = MyActivation()(x)  # Will pass the mask along
    assert x._keras_mask is not None  # "Mask found"
    outputs = k.layers.LSTM(32)(x)  # Will receive the mask
    model = k.Model(inputs, outputs)
    out["activation"] = (model, to_numpy(k, model(padded_inputs)))

    # A layer that needs the mask: a softmax over the unmasked steps.
    inputs = k.Input(shape=(None,), dtype="int32")
    x = k.layers.Embedding(input_dim=10, output_dim=32, mask_zero=True)(inputs)
    x = k.layers.Dense(1)(x)
    outputs = TemporalSoftmax()(x)
    model = k.Model(inputs, outputs)
    ints = np.random.default_rng(2).integers(0, 10, size=(32, 100))
    y = to_numpy(k, model(ints))
    assert y.shape == (32, 100, 1)
    np.testing.assert_array_equal(y[..., 0][ints == 0], 0.0)  # masked steps get no weight
    np.testing.assert_allclose(y.sum(axis=(1, 2)), 1.0, rtol=1e-5)
    out["softmax"] = (model, ints, y)
    return out


def test_understanding_masking_and_padding():
    run_program(keras)


def test_the_program_runs_on_real_keras(real_keras):
    run_program(real_keras)


def test_same_as_keras(real_keras):
    ko, go = run_program(real_keras), run_program(keras)
    padded_inputs = keras.utils.pad_sequences(raw_inputs, padding="post")
    for name in ("sequential", "functional", "activation"):
        (km, _), (gm, _) = ko[name], go[name]
        gm.set_weights(km.get_weights())
        np.testing.assert_allclose(keras.ops.convert_to_numpy(gm(padded_inputs)),
                                   real_keras.ops.convert_to_numpy(km(padded_inputs)), atol=1e-5, err_msg=name)
    (kl, x, ky), (gl, _, _) = ko["my_layer"], go["my_layer"]
    gl.set_weights(kl.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gl(x)), ky, atol=1e-5)
    (km, ints, ky), (gm, _, _) = ko["softmax"], go["softmax"]
    gm.set_weights(km.get_weights())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gm(ints)), ky, rtol=1e-5, atol=1e-6)
