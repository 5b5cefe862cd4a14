"""Differential cases: keras.layers against real Keras, one table row per layer (tests/keras_cases/_layer_harness.py
runs each row: weights, outputs and gradients in inference and training, output shapes, symbolic outputs, configs).

To add a layer: append ``R("Name", {kwargs}, input_shape, **harness_options)`` to ``ROWS`` (several rows per name
are fine; its case runs them all). A name whose rows live in another module registers its own ``@case`` there,
calling ``layer_harness().run_layer_case`` the same way.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
from collections import defaultdict

import numpy as np
from keras_coverage import case, case_module


def layer_harness():
    """tests/keras_cases/_layer_harness.py, loaded by path once (this folder is not a package)."""
    return case_module("_layer_harness")


R = layer_harness().LayerCase
IMG = (2, 6, 5, 3)
SEQ = (2, 5, 3)
RSEQ = (2, 3, 2)  # recurrent layers run a step at a time: short sequences keep their cases fast
VOL = (2, 4, 5, 4, 2)
RANDOM = {"random_in_training": True}
QMASK = np.array([[True, True, False, True], [True, True, True, True]])
STEPS = np.array([[True, True, True, False, False], [True, False, True, True, True]])  # for SEQ inputs
STEPS_B = np.array([[False, True, True, True, True], [True, True, False, True, True]])
RSTEPS = np.array([[True, True, False], [True, False, True]])  # for RSEQ inputs
VMASK = np.array([[True, True, True, False, False], [True, False, True, True, True]])


def _masked_steps():
    x = np.random.default_rng(3).normal(size=(2, 5, 3)).astype("float32")
    x[0, 3:] = 0.0
    x[1, 1] = 0.0
    return x


ROWS = [
    # core
    R("Dense", {"units": 4}, (3, 5)),
    R("Dense", {"units": 3, "activation": "relu", "bias_initializer": "random_normal"}, (2, 4, 5)),
    R("Dense", {"units": 2, "use_bias": False}, (3, 5)),
    R("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 4, "bias_axes": "c"}, (3, 5)),
    R("EinsumDense", {"equation": "abc,cd->abd", "output_shape": (None, 4), "bias_axes": "d",
                      "activation": "relu"}, (2, 3, 5)),
    R("EinsumDense", {"equation": "abc,cde->abde", "output_shape": (None, 2, 4), "bias_axes": "de"}, (2, 3, 5)),
    R("EinsumDense", {"equation": "...b,bc->...c", "output_shape": 4, "bias_axes": "c"}, (2, 3, 5)),
    R("EinsumDense", {"equation": "ab...,bc->ac...", "output_shape": 4, "bias_axes": "c"}, (2, 3, 5)),
    R("EinsumDense", {"equation": "abcd,cde->abe", "output_shape": (None, 3),
                      "kernel_initializer": "he_normal"}, (2, 3, 4, 5)),
    R("Activation", {"activation": "tanh"}, (3, 4)),
    R("Identity", {}, (3, 4)),
    R("Embedding", {"input_dim": 7, "output_dim": 3}, (4, 5), {"input_dtype": "int32", "int_bound": 7}),
    R("Embedding", {"input_dim": 6, "output_dim": 2, "mask_zero": True}, (3, 4),
      {"input_dtype": "int32", "int_bound": 6}),
    R("ReversibleEmbedding", {"input_dim": 7, "output_dim": 3}, (4, 5), {"input_dtype": "int32", "int_bound": 7}),
    R("ReversibleEmbedding", {"input_dim": 7, "output_dim": 3, "mask_zero": True}, (4, 5),
      {"input_dtype": "int32", "int_bound": 7}),
    R("ReversibleEmbedding", {"input_dim": 7, "output_dim": 3}, (2, 4, 3), {"call_kwargs": {"reverse": True}}),
    R("ReversibleEmbedding", {"input_dim": 7, "output_dim": 3, "tie_weights": False, "logit_soft_cap": 2.0},
      (2, 4, 3), {"call_kwargs": {"reverse": True}}),
    R("Masking", {"mask_value": 0.0}, SEQ, {"inputs": _masked_steps()}),
    R("Lambda", lambda L: {"function": lambda x: x * 2.0 + 1.0}, (3, 4), {"config": False}),
    # activations
    R("ReLU", {}, (4, 6)),
    R("ReLU", {"max_value": 1.0, "negative_slope": 0.1, "threshold": 0.2}, (4, 6)),
    R("LeakyReLU", {"negative_slope": 0.05}, (3, 5, 2)),
    R("PReLU", {"alpha_initializer": "random_normal"}, (4, 6)),
    R("PReLU", {"alpha_initializer": "random_normal", "shared_axes": [1, 2]}, (2, 4, 5, 3)),
    R("ELU", {"alpha": 0.7}, (4, 6)),
    R("Softmax", {}, (4, 6)),
    R("Softmax", {"axis": 1}, (2, 4, 3)),
    # convolutions
    R("Conv1D", {"filters": 4, "kernel_size": 3}, (2, 9, 3)),
    R("Conv1D", {"filters": 2, "kernel_size": 2, "padding": "causal", "dilation_rate": 2}, (2, 8, 3)),
    R("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "same", "strides": 2, "activation": "relu"}, (2, 9, 3)),
    R("Conv2D", {"filters": 4, "kernel_size": 3}, IMG),
    R("Conv2D", {"filters": 2, "kernel_size": (2, 3), "strides": 2, "padding": "same", "activation": "relu",
                 "bias_initializer": "random_normal"}, IMG),
    R("Conv2D", {"filters": 4, "kernel_size": 3, "groups": 2, "dilation_rate": 2}, (2, 7, 7, 4)),
    R("Conv3D", {"filters": 3, "kernel_size": 2, "bias_initializer": "random_normal"}, VOL),
    R("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2}, (2, 5, 2)),
    R("Conv2DTranspose", {"filters": 3, "kernel_size": 3}, (2, 4, 5, 2)),
    R("Conv2DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same"}, (2, 4, 5, 2)),
    R("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "bias_initializer": "random_normal"}, IMG),
    R("SeparableConv2D", {"filters": 4, "kernel_size": 3, "padding": "same"}, IMG),
    # pooling
    R("MaxPooling1D", {"pool_size": 3, "strides": 2, "padding": "same"}, (2, 8, 3)),
    R("AveragePooling1D", {"pool_size": 3, "strides": 1}, (2, 8, 3)),
    R("MaxPooling2D", {}, IMG),
    R("MaxPooling2D", {"pool_size": 3, "strides": 1, "padding": "same"}, IMG),
    R("AveragePooling2D", {"pool_size": 2}, IMG),
    R("MaxPooling3D", {}, (2, 4, 4, 6, 2)),
    R("AveragePooling3D", {"pool_size": (2, 3, 2), "strides": 1}, (1, 3, 4, 5, 2)),
    R("GlobalAveragePooling1D", {}, (2, 8, 3)),
    R("GlobalAveragePooling1D", {}, SEQ, {"input_mask": STEPS}),
    R("GlobalMaxPooling1D", {}, SEQ, {"input_mask": STEPS}),
    R("GlobalMaxPooling1D", {"keepdims": True}, (2, 8, 3)),
    R("GlobalAveragePooling2D", {}, IMG),
    R("GlobalMaxPooling2D", {}, IMG),
    R("GlobalAveragePooling3D", {}, VOL),
    R("GlobalMaxPooling3D", {}, VOL),
    # normalization
    R("BatchNormalization", {}, (4, 3)),
    R("BatchNormalization", {"momentum": 0.9, "center": False, "gamma_initializer": "random_normal"}, (2, 3, 4, 2)),
    R("BatchNormalization", {"renorm": True, "gamma_initializer": "random_normal", "beta_initializer": "random_normal",
                             "moving_variance_initializer": "random_uniform"}, (5, 3)),
    R("BatchNormalization", {"renorm": True, "renorm_clipping": {"rmax": 1.1, "rmin": 0.9, "dmax": 0.05},
                             "renorm_momentum": 0.8, "momentum": 0.7}, (2, 3, 4, 2)),
    R("LayerNormalization", {"gamma_initializer": "random_normal", "beta_initializer": "random_normal"}, (4, 6)),
    R("LayerNormalization", {"axis": [1, 2]}, (2, 3, 4)),
    R("GroupNormalization", {"groups": 2, "gamma_initializer": "random_normal"}, (2, 5, 4)),
    R("UnitNormalization", {}, (4, 6)),
    # reshaping
    R("Flatten", {}, (2, 3, 4)),
    R("Reshape", {"target_shape": (3, 2)}, (2, 6)),
    R("Reshape", {"target_shape": (-1, 2)}, (2, 3, 4)),
    R("Permute", {"dims": (2, 1)}, (2, 3, 4)),
    R("RepeatVector", {"n": 3}, (4, 5)),
    R("UpSampling1D", {"size": 3}, (2, 4, 3)),
    R("UpSampling2D", {"size": 2}, IMG),
    R("UpSampling2D", {"size": (2, 3), "interpolation": "bilinear"}, IMG),
    R("ZeroPadding2D", {"padding": ((1, 2), (0, 3))}, IMG),
    R("Cropping2D", {"cropping": ((1, 0), (2, 1))}, IMG),
    # regularization and merging
    R("Dropout", {"rate": 0.5}, (4, 6), RANDOM),
    R("Dropout", {"rate": 0.3, "noise_shape": (None, 1, 3), "seed": 3}, (2, 4, 3), RANDOM),
    R("GaussianNoise", {"stddev": 0.5, "seed": 2}, (4, 6), RANDOM),
    R("GaussianDropout", {"rate": 0.3}, (4, 6), RANDOM),
    R("AlphaDropout", {"rate": 0.2, "noise_shape": (None, 1, 3), "seed": 4}, (2, 4, 3), RANDOM),
    R("SpatialDropout1D", {"rate": 0.4}, SEQ, RANDOM),
    R("SpatialDropout2D", {"rate": 0.4, "data_format": "channels_first"}, IMG, RANDOM),
    R("SpatialDropout3D", {"rate": 0.4, "seed": 1}, VOL, RANDOM),
    R("ActivityRegularization", {"l1": 0.01, "l2": 0.02}, (4, 6)),
    R("Dense", {"units": 3, "activity_regularizer": "l2"}, (4, 5)),
    R("Dense", {"units": 3}, SEQ, {"input_mask": STEPS}),
    R("Dense", {"units": 3}, (4, 5), {"input_dtype": "float64"}),  # Keras casts inputs to the layer's dtype
    R("Conv2D", {"filters": 2, "kernel_size": 2}, IMG, {"input_dtype": "float64"}),
    R("GaussianNoise", {"stddev": 0.2}, (4, 5), {"input_dtype": "float64", **RANDOM}),
    R("SpatialDropout1D", {"rate": 0.2}, SEQ, {"input_dtype": "float64", **RANDOM}),
    R("AlphaDropout", {"rate": 0.2}, (4, 5), {"input_dtype": "float64", **RANDOM}),
    R("EinsumDense", {"equation": "ab,bc->ac", "output_shape": 2}, (4, 5), {"input_dtype": "float64"}),
    R("Attention", {"use_scale": True}, [(2, 4, 3), (2, 5, 3)], {"input_dtype": "float64"}),
    R("AdditiveAttention", {}, [(2, 4, 3), (2, 5, 3)], {"input_dtype": "float64"}),
    R("ReversibleEmbedding", {"input_dim": 7, "output_dim": 3}, (2, 4, 3),
      {"call_kwargs": {"reverse": True}, "input_dtype": "float64"}),
    R("SpectralNormalization", lambda L: {"layer": L.Dense(4)}, (3, 5), {"input_dtype": "float64"}),
    R("Dropout", {"rate": 0.5}, SEQ, {"input_mask": STEPS, **RANDOM}),
    R("Activation", {"activation": "relu"}, SEQ, {"input_mask": STEPS}),
    R("LayerNormalization", {}, SEQ, {"input_mask": STEPS}),
    R("BatchNormalization", {"renorm": True, "scale": False}, SEQ, {"input_mask": STEPS}),
    R("Conv1D", {"filters": 2, "kernel_size": 2}, SEQ, {"input_mask": STEPS}),
    R("Flatten", {}, SEQ, {"input_mask": STEPS}),
    R("TimeDistributed", lambda L: {"layer": L.Dense(2)}, SEQ, {"input_mask": STEPS}),
    R("Add", {}, [SEQ, SEQ], {"input_mask": [STEPS, STEPS_B]}),
    R("Concatenate", {}, [SEQ, SEQ], {"input_mask": [STEPS, None]}),
    R("GaussianNoise", {"stddev": 0.1}, SEQ, {"input_mask": STEPS, **RANDOM}),
    R("Attention", {}, [SEQ, SEQ], {"input_mask": [STEPS, STEPS_B]}),
    R("Add", {}, [(2, 3), (2, 3)]),
    R("Subtract", {}, [(2, 3), (2, 3)]),
    R("Multiply", {}, [(2, 3), (2, 3), (2, 3)]),
    R("Average", {}, [(2, 3), (2, 3)]),
    R("Maximum", {}, [(2, 3), (2, 3)]),
    R("Minimum", {}, [(2, 3), (2, 3)]),
    R("Concatenate", {"axis": -1}, [(2, 3), (2, 4)]),
    R("Concatenate", {"axis": 1}, [(2, 3, 2), (2, 1, 2)]),
    R("Dot", {"axes": 1}, [(2, 3), (2, 3)]),
    R("Dot", {"axes": (2, 2), "normalize": True}, [(2, 3, 4), (2, 5, 4)]),
    # preprocessing and augmentation (random in training)
    R("Rescaling", {"scale": 1.0 / 255, "offset": -0.5}, IMG),
    R("Normalization", {"mean": [0.5, -1.0, 2.0], "variance": [1.0, 4.0, 0.25]}, (4, 3)),
    R("Normalization", {"axis": (1, 2), "mean": [[0.5, -1.0, 2.0]], "variance": [[1.0, 0.0, 0.25]], "invert": True},
      (2, 4, 3)),
    R("Normalization", {"axis": None, "mean": 2.0, "variance": 9.0}, (3, 2)),
    R("CenterCrop", {"height": 3, "width": 2}, IMG),
    R("Resizing", {"height": 7, "width": 3}, IMG),
    R("Resizing", {"height": 4, "width": 8, "interpolation": "nearest"}, IMG),
    R("RandomFlip", {"seed": 1}, IMG, RANDOM),
    R("RandomTranslation", {"height_factor": 0.2, "width_factor": 0.2, "seed": 1}, IMG, RANDOM),
    R("RandomRotation", {"factor": 0.2, "seed": 1}, IMG, RANDOM),
    R("RandomZoom", {"height_factor": 0.2, "seed": 1}, IMG, RANDOM),
    R("RandomContrast", {"factor": 0.3, "seed": 1}, IMG, RANDOM),
    R("RandomBrightness", {"factor": 0.3, "seed": 1}, IMG, RANDOM),
    # recurrent (cells run inside RNN)
    R("SimpleRNN", {"units": 4}, RSEQ),
    R("LSTM", {"units": 2, "return_sequences": True}, RSEQ, {"input_mask": RSTEPS}),
    R("GRU", {"units": 2}, RSEQ, {"input_mask": RSTEPS}),
    R("SimpleRNN", {"units": 3, "return_sequences": True, "activation": "relu"}, RSEQ),
    R("LSTM", {"units": 4}, RSEQ),
    R("LSTM", {"units": 3, "return_sequences": True, "return_state": True, "go_backwards": True}, RSEQ),
    R("GRU", {"units": 4}, RSEQ),
    R("GRU", {"units": 3, "reset_after": False, "return_sequences": True}, RSEQ),
    R("RNN", lambda L: {"cell": L.SimpleRNNCell(3)}, RSEQ),
    R("Bidirectional", lambda L: {"layer": L.LSTM(3, return_sequences=True)}, RSEQ),
    R("Bidirectional", lambda L: {"layer": L.GRU(2), "merge_mode": "sum"}, RSEQ),
    R("TimeDistributed", lambda L: {"layer": L.Dense(3)}, (2, 4, 5)),
    R("SpectralNormalization", lambda L: {"layer": L.Dense(4)}, (3, 5)),
    R("SpectralNormalization", lambda L: {"layer": L.Conv2D(2, 3), "power_iterations": 3}, IMG),
    R("SpectralNormalization", lambda L: {"layer": L.Embedding(6, 3)}, (2, 4), {"input_dtype": "int32",
                                                                              "int_bound": 6}),
    R("ConvLSTM2D", {"filters": 3, "kernel_size": 3}, (2, 4, 6, 5, 2)),
    # attention
    R("Attention", {}, [(2, 4, 3), (2, 5, 3)]),
    R("Attention", {"use_scale": True, "score_mode": "concat"}, [(2, 4, 3), (2, 5, 3), (2, 5, 3)]),
    R("Attention", {"use_scale": True}, [(2, 4, 3), (2, 5, 2), (2, 5, 3)],
      {"call_kwargs": lambda L, t: {"mask": [t(QMASK), t(VMASK)], "return_attention_scores": True}}),
    R("Attention", {}, [(2, 5, 3), (2, 5, 3)], {"call_kwargs": {"use_causal_mask": True}}),
    R("Attention", {"dropout": 0.5, "seed": 3}, [(2, 4, 3), (2, 5, 3)], RANDOM),
    R("AdditiveAttention", {}, [(2, 4, 3), (2, 5, 3)]),
    R("AdditiveAttention", {"use_scale": False}, [(2, 4, 3), (2, 5, 2), (2, 5, 3)],
      {"call_kwargs": lambda L, t: {"mask": [t(QMASK), t(VMASK)], "use_causal_mask": True}}),
    R("AdditiveAttention", {}, [(2, 4, 3), (2, 5, 3)], {"call_kwargs": {"return_attention_scores": True}}),
    R("MultiHeadAttention", {"num_heads": 2, "key_dim": 4}, [(2, 4, 8), (2, 6, 8)], {"call_style": "args"}),
]

#: a cell's case runs it inside ``RNN`` (Keras calls cells with their states, one step at a time)
CELL_ROWS = {
    "SimpleRNNCell": R("RNN", lambda L: {"cell": L.SimpleRNNCell(4)}, RSEQ),
    "LSTMCell": R("RNN", lambda L: {"cell": L.LSTMCell(3), "return_sequences": True}, RSEQ),
    "GRUCell": R("RNN", lambda L: {"cell": L.GRUCell(3)}, RSEQ),
    "StackedRNNCells": R("RNN", lambda L: {"cell": L.StackedRNNCells([L.SimpleRNNCell(3), L.GRUCell(2)])}, RSEQ),
}

#: Keras's second names of a layer class: the alias runs the class's rows under its own name
ALIASES = {
    "AvgPool1D": "AveragePooling1D", "AvgPool2D": "AveragePooling2D", "AvgPool3D": "AveragePooling3D",
    "MaxPool1D": "MaxPooling1D", "MaxPool2D": "MaxPooling2D", "MaxPool3D": "MaxPooling3D",
    "GlobalAvgPool1D": "GlobalAveragePooling1D", "GlobalAvgPool2D": "GlobalAveragePooling2D",
    "GlobalAvgPool3D": "GlobalAveragePooling3D", "GlobalMaxPool1D": "GlobalMaxPooling1D",
    "GlobalMaxPool2D": "GlobalMaxPooling2D", "GlobalMaxPool3D": "GlobalMaxPooling3D",
    "Convolution1D": "Conv1D", "Convolution2D": "Conv2D", "Convolution3D": "Conv3D",
    "Convolution1DTranspose": "Conv1DTranspose", "Convolution2DTranspose": "Conv2DTranspose",
    "SeparableConvolution2D": "SeparableConv2D",
}


def _rows_by_name() -> dict:
    rows = defaultdict(list)
    for row in ROWS:
        rows[row.name].append(row)
    return rows


def _register():
    rows = _rows_by_name()
    harness = layer_harness()

    def run_rows(k, gf, name):
        own = rows.get(name) or [harness.LayerCase(name, r.init_kwargs, r.input_shape, r.kwargs)
                                 for r in rows[ALIASES[name]]]
        for row in own:
            row.run(k, gf)

    case("layers", *rows, *(a for a, target in ALIASES.items() if target in rows))(run_rows)
    for cell, row in CELL_ROWS.items():
        case("layers", cell)(_run_one(row))


def _run_one(row):
    def run(k, gf):
        row.run(k, gf)
    return run


_register()


# -- the names that are not a layer on a tensor: functions, the base class, inputs, (de)serialization ----------------
_MERGE_FUNCTIONS = ("add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot")


@case("layers", *_MERGE_FUNCTIONS)
def merge_functions(k, gf, name):
    import torch  # noqa: PLC0415 - Keras's side runs on torch tensors

    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(2, 3)).astype("float32")
    extra = {"axes": 1} if name == "dot" else {}
    theirs = getattr(k.layers, name)([torch.tensor(a), torch.tensor(b)], **extra).numpy()
    ours = getattr(gf.layers, name)([gf.Tensor(a), gf.Tensor(b)], **extra).numpy()
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
    ks = getattr(k.layers, name)([k.Input((3,)), k.Input((3,))], **extra)
    gs = getattr(gf.layers, name)([gf.Input((3,)), gf.Input((3,))], **extra)
    assert tuple(gs.shape) == tuple(ks.shape), (gs.shape, ks.shape)


@case("layers", "Input", "InputLayer")
def inputs(k, gf):
    for kwargs in ({"shape": (3, 4)}, {"shape": (5,), "dtype": "int32"}, {"batch_shape": (2, 3)}):
        ks, gs = k.Input(**kwargs), gf.layers.Input(**kwargs)
        assert tuple(gs.shape) == tuple(ks.shape) and str(gs.dtype) == str(ks.dtype), (kwargs, gs, ks)
    k_layer, g_layer = k.layers.InputLayer(shape=(3, 4)), gf.layers.InputLayer(shape=(3, 4))
    h = layer_harness()
    k_cfg, g_cfg = h._normal(k_layer.get_config()), h._normal(g_layer.get_config())
    k_cfg.pop("name"), g_cfg.pop("name")
    assert g_cfg == k_cfg, (g_cfg, k_cfg)


@case("layers", "Layer")
def layer_subclass(k, gf):
    """Keras's documented pattern: build() adds weights, call() uses ops; the same weights give the same result."""
    import torch  # noqa: PLC0415 - Keras's side runs on torch tensors

    def make(mod):
        class Linear(mod.layers.Layer):
            def __init__(self, units, **kwargs):
                super().__init__(**kwargs)
                self.units = units

            def build(self, input_shape):
                self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal", name="w")
                self.b = self.add_weight(shape=(self.units,), initializer="zeros", name="b", trainable=False)

            def call(self, x):
                return mod.ops.tanh(mod.ops.matmul(x, self.w) + self.b)

        return Linear(3)

    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    k_layer, g_layer = make(k), make(gf)
    k_layer(x)
    g_layer(x)
    assert [w.name for w in k_layer.weights] == [w.name.rsplit("/", 1)[-1] for w in g_layer.weights]
    assert len(k_layer.trainable_weights) == len(g_layer.trainable_weights) == 1
    g_layer.set_weights(k_layer.get_weights())
    np.testing.assert_allclose(g_layer(x).numpy(), k_layer(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    ks, gs = k_layer(k.Input((5,))), g_layer(gf.Input((5,)))
    assert tuple(gs.shape) == tuple(ks.shape)


@case("layers", "serialize", "deserialize")
def serialization(k, gf):
    h = layer_harness()
    for make in (lambda L: L.Dense(3, activation="relu"), lambda L: L.Conv2D(2, 3, padding="same"),
                 lambda L: L.Dropout(0.3)):
        k_entry, g_entry = k.layers.serialize(make(k.layers)), gf.layers.serialize(make(gf.layers))
        k_cfg, g_cfg = h._normal(k_entry), h._normal(g_entry)
        k_cfg["config"].pop("name"), g_cfg["config"].pop("name")
        assert g_cfg == k_cfg, (g_cfg, k_cfg)
        back = gf.layers.deserialize(k_entry)  # Keras's entry read by gradflow
        assert type(back).__name__ == k_entry["class_name"]
        cfg = h._normal(back.get_config())
        cfg.pop("name")
        assert cfg == k_cfg["config"], (cfg, k_cfg["config"])


@case("layers", "Wrapper")
def wrapper_subclass(k, gf):
    """Keras's pattern for a wrapper: a subclass of Wrapper calls ``self.layer``; it builds the wrapped layer,
    tracks its weights and writes its config under 'layer'."""
    import torch  # noqa: PLC0415 - Keras's side runs on torch tensors

    def make(mod):
        class Twice(mod.layers.Wrapper):
            def call(self, x):
                return self.layer(x) * 2.0

        return Twice(mod.layers.Dense(3))

    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    k_layer, g_layer = make(k), make(gf)
    k_layer(x)
    g_layer(x)
    assert [tuple(w.shape) for w in g_layer.weights] == [tuple(w.shape) for w in k_layer.weights]
    g_layer.set_weights(k_layer.get_weights())
    np.testing.assert_allclose(g_layer(x).numpy(), k_layer(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    h = layer_harness()
    k_cfg, g_cfg = h._normal(k_layer.get_config()), h._normal(g_layer.get_config())
    for cfg in (k_cfg, g_cfg):
        cfg.pop("name"), cfg["layer"]["config"].pop("name")
    assert g_cfg == k_cfg, (g_cfg, k_cfg)
    clone = type(g_layer).from_config(k_layer.get_config())
    assert type(clone.layer).__name__ == "Dense" and clone.layer.units == 3
    try:
        gf.layers.Wrapper("not a layer")
    except ValueError as exc:
        assert "isn't a supported layer type" in str(exc)
    else:
        raise AssertionError("Wrapper accepted a non-layer")


@case("layers", "InputSpec")
def input_spec(k, gf):
    """A layer's ``input_spec`` refuses the same inputs with Keras's messages (real and symbolic calls)."""
    import torch  # noqa: PLC0415 - Keras's side runs on torch tensors

    specs = [{"ndim": 3}, {"min_ndim": 3}, {"max_ndim": 2}, {"axes": {-1: 4}}, {"shape": (None, 3, 5)},
             {"dtype": "int32"}, {"ndim": 3, "axes": {-1: 5}}]

    def make(mod, spec):
        class Checked(mod.layers.Layer):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.input_spec = mod.layers.InputSpec(**spec)

            def call(self, x):
                return x

        return Checked(name="checked")

    x = np.zeros((2, 3, 5), "float32")
    for spec in specs:
        k_spec, g_spec = k.layers.InputSpec(**spec), gf.layers.InputSpec(**spec)
        assert repr(g_spec) == repr(k_spec) and g_spec.get_config() == k_spec.get_config(), (g_spec, k_spec)
        for k_in, g_in in ((torch.tensor(x), x), (torch.tensor(x[0]), x[0]), (k.Input((3, 4)), gf.Input((3, 4)))):
            try:
                make(k, spec)(k_in)
                theirs = None
            except ValueError as exc:
                theirs = str(exc).splitlines()[0]
            try:
                make(gf, spec)(g_in)
                ours = None
            except ValueError as exc:
                ours = str(exc).splitlines()[0]
            assert ours == theirs, (spec, ours, theirs)
    two = [gf.layers.InputSpec(ndim=2), gf.layers.InputSpec(ndim=2)]
    assert gf.layers.InputSpec.from_config(two[0].get_config()).ndim == 2


@case("initializers", "IdentityInitializer", "OrthogonalInitializer")
def long_initializer_names(k, gf, name):
    """The long names are the same classes as Identity/Orthogonal: configs, values (Identity), and an orthogonal
    draw's properties (Keras's draw comes from torch's generator)."""
    h = layer_harness()
    kwargs = {"gain": 2.0}
    k_init, g_init = getattr(k.initializers, name)(**kwargs), getattr(gf.initializers, name)(**kwargs)
    assert h._normal(g_init.get_config()) == h._normal(k_init.get_config()), (g_init.get_config(),
                                                                              k_init.get_config())
    theirs = np.asarray(k_init((4, 3)).detach().cpu().numpy())
    ours = np.asarray(g_init((4, 3), dtype="float32"))
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (ours.shape, ours.dtype, theirs.dtype)
    if name == "IdentityInitializer":
        np.testing.assert_allclose(ours, theirs)
    else:
        np.testing.assert_allclose(ours.T @ ours, 4.0 * np.eye(3), atol=1e-5)  # gain**2 * I
    assert h._normal(gf.initializers.serialize(gf.initializers.get(name))) == \
        h._normal(k.initializers.serialize(k.initializers.get(name)))
