"""Every layer: auto names, get_config/from_config round trips, explicit output shapes, and every
bad configuration failing early with the layer's name, the expected and the actual value."""
import numpy as np
import pytest

from gradflow import initializers, regularizers
from gradflow import layers as L

ALL_LAYERS = [
    lambda: L.InputLayer(shape=(28, 28, 1)),
    lambda: L.Dense(16, activation="relu", kernel_initializer="he_normal", kernel_regularizer=regularizers.L2(1e-4)),
    lambda: L.Activation("gelu"),
    lambda: L.Conv2D(8, (3, 2), strides=2, padding="same", dilation_rate=1, activation="softmax",
                     kernel_initializer=initializers.VarianceScaling(2.0, "fan_out", "uniform", seed=3),
                     bias_regularizer="l1", data_format="channels_first"),
    lambda: L.MaxPooling2D(3, strides=(2, 1), padding="same"),
    lambda: L.AveragePooling2D(),
    lambda: L.GlobalAveragePooling2D(keepdims=True),
    lambda: L.GlobalMaxPooling2D(data_format="channels_first"),
    lambda: L.UpSampling2D((2, 3), interpolation="bilinear"),
    lambda: L.Flatten(),
    lambda: L.Reshape((4, -1)),
    lambda: L.Dropout(0.25, noise_shape=(None, 1), seed=5),
    lambda: L.BatchNormalization(axis=1, momentum=0.9, epsilon=1e-5, center=False,
                                 gamma_initializer=initializers.Constant(2.0), gamma_regularizer="l2"),
    lambda: L.RandomFlip("horizontal", seed=1),
    lambda: L.RandomTranslation((-0.1, 0.2), 0.1, fill_mode="constant", fill_value=0.5),
    lambda: L.RandomRotation(0.2, interpolation="nearest"),
    lambda: L.RandomZoom(0.1, (-0.2, 0.2), seed=2),
    lambda: L.Dense(3, input_shape=(5,), trainable=False, name="head"),
]


@pytest.mark.parametrize("make", ALL_LAYERS)
def test_config_round_trip(helpers, make):
    layer = make()
    clone = helpers.roundtrip(layer)
    assert type(clone) is type(layer) and clone.name == layer.name
    assert L.layer_class(layer.get_config().get("class_name", type(layer).__name__)) is type(layer)


def test_round_trip_keeps_behaviour(rng):
    layer = L.Dense(3, activation="tanh", kernel_initializer=initializers.GlorotNormal(seed=9))
    clone = type(layer).from_config(layer.get_config())
    layer.build_from_shape((None, 4))
    clone.build_from_shape((None, 4))
    np.testing.assert_array_equal(layer.kernel.numpy(), clone.kernel.numpy())  # seeded initializer
    x = rng.standard_normal((2, 4)).astype(np.float32)
    np.testing.assert_array_equal(layer(x).numpy(), clone(x).numpy())


def test_auto_names():
    L.clear_session()
    names = [L.Dense(2).name, L.Dense(2).name, L.Conv2D(1, 1).name, L.MaxPooling2D().name,
             L.BatchNormalization().name, L.Flatten().name, L.Dropout(0.1).name, L.Dense(1).name,
             L.AveragePooling2D().name, L.GlobalAveragePooling2D().name, L.UpSampling2D().name,
             L.InputLayer(shape=(2,)).name, L.RandomFlip().name]
    assert names == ["dense", "dense_1", "conv2d", "max_pooling2d", "batch_normalization", "flatten",
                     "dropout", "dense_2", "average_pooling2d", "global_average_pooling2d", "up_sampling2d",
                     "input_layer", "random_flip"]
    L.clear_session()
    assert L.Dense(2).name == "dense"


def test_input_layer():
    tensor = L.Input(shape=(28, 28, 1))  # Keras 3: a symbolic tensor, produced by an InputLayer
    assert tensor.shape == (None, 28, 28, 1) and tensor.dtype == "float32" and tensor.name == "input_layer"
    layer = tensor._keras_history[0]
    assert isinstance(layer, L.InputLayer) and layer.built and layer.output is tensor
    assert layer.output_shape == (None, 28, 28, 1) and layer.batch_shape == (None, 28, 28, 1)
    assert L.InputLayer(shape=(4,), batch_size=8).output_shape == (8, 4)
    assert L.InputLayer(input_shape=(3,)).output_shape == (None, 3)  # Keras 2 argument
    assert L.InputLayer(batch_shape=(None, 5)).count_params() == 0
    x = np.ones((2, 28, 28, 1), np.float32)
    assert layer(x).shape == x.shape
    with pytest.raises(ValueError, match=r"input_layer.*\(None, 28, 28, 1\).*\(None, 28, 28\)"):
        layer(np.ones((2, 28, 28), np.float32))


def test_output_shapes_are_explicit():
    """compute_output_shape needs no dummy run: unknown sizes stay None."""
    assert L.Dense(4).compute_output_shape((None, None, 3)) == (None, None, 4)
    assert L.Conv2D(2, 3, padding="same", strides=2).compute_output_shape((None, None, 9, 1)) == (None, None, 5, 2)
    assert L.MaxPooling2D().compute_output_shape((None, None, None, 3)) == (None, None, None, 3)
    assert L.Flatten().compute_output_shape((None, 2, None)) == (None, None)
    assert L.BatchNormalization().compute_output_shape((None, 7, 3)) == (None, 7, 3)
    assert L.Dropout(0.5).compute_output_shape((None, 3)) == (None, 3)
    assert L.RandomZoom(0.1).compute_output_shape((None, 8, 8, 3)) == (None, 8, 8, 3)


# (constructor or build call, exception type, regex the message must match)
BAD = [
    (lambda: L.Dense(0), r"Dense layer 'dense'.*units.*positive.*units=0"),
    (lambda: L.Dense(-3), r"units=-3"),
    (lambda: L.Dense(2.5), r"units=2.5"),
    (lambda: L.Dense(2, activation="relu6x"), r"dense.*unknown activation 'relu6x'.*did you mean 'relu6'"),
    (lambda: L.Dense(2, kernel_initializer="glorot_unifrom"), r"dense.*kernel_initializer.*did you mean 'glorot_uniform'"),
    (lambda: L.Dense(2, kernel_regularizer="l3"), r"dense.*kernel_regularizer.*unknown regularizer .l3.*valid names: l1, l2, l1_l2"),
    (lambda: L.Dense(2).build_from_shape((None,)), r"dense.*rank >= 2.*\(None,\)"),
    (lambda: L.Conv2D(0, 3), r"Conv2D layer 'conv2d'.*filters.*filters=0"),
    (lambda: L.Conv2D(2, 0), r"conv2d.*kernel_size.*positive.*kernel_size=0"),
    (lambda: L.Conv2D(2, (3, 3, 3)), r"conv2d.*kernel_size.*tuple of 2.*\(3, 3, 3\)"),
    (lambda: L.Conv2D(2, 3, strides=0), r"conv2d.*strides.*positive.*strides=0"),
    (lambda: L.Conv2D(2, 3, strides=(1, -1)), r"conv2d.*strides=\(1, -1\)"),
    (lambda: L.Conv2D(2, 3, dilation_rate=0), r"dilation_rate=0"),
    (lambda: L.Conv2D(2, 3, padding="full"), r"conv2d.*'valid' or 'same'.*padding='full'"),
    (lambda: L.Conv2D(2, 3, data_format="NHWC"), r"conv2d.*channels_last.*data_format='NHWC'"),
    (lambda: L.Conv2D(3, 3, groups=2), r"conv2d.*groups=2"),
    (lambda: L.Conv2D(2, 3).build_from_shape((None, 8, 8)), r"conv2d.*rank 4.*\(None, 8, 8\).*rank 3"),
    (lambda: L.Conv2D(2, (5, 3)).build_from_shape((None, 4, 8, 1)), r"conv2d.*kernel_size \(5, 3\).*\(4, 8\)"),
    (lambda: L.Conv2D(2, 3, dilation_rate=3).build_from_shape((None, 6, 6, 1)), r"conv2d.*dilation_rate \(3, 3\).*at least 7"),
    (lambda: L.MaxPooling2D(0), r"MaxPooling2D layer 'max_pooling2d'.*pool_size.*pool_size=0"),
    (lambda: L.MaxPooling2D(2, strides=0), r"max_pooling2d.*strides=0"),
    (lambda: L.AveragePooling2D(2, padding="causal"), r"average_pooling2d.*padding='causal'"),
    (lambda: L.MaxPooling2D(2).build_from_shape((None, 4, 4)), r"max_pooling2d.*rank 4.*rank 3"),
    (lambda: L.MaxPooling2D(5).build_from_shape((None, 4, 6, 1)), r"max_pooling2d.*pool_size \(5, 5\).*\(4, 6\)"),
    (lambda: L.GlobalAveragePooling2D().build_from_shape((None, 4, 4)), r"global_average_pooling2d.*rank 4"),
    (lambda: L.UpSampling2D(0), r"up_sampling2d.*size.*size=0"),
    (lambda: L.UpSampling2D(interpolation="bicubic"), r"up_sampling2d.*interpolation='bicubic'"),
    (lambda: L.Reshape((2, -1, -1)), r"reshape.*at most one -1"),
    (lambda: L.Reshape((5, -1)).build_from_shape((None, 12)), r"reshape.*\(None, 12\).*12 is not a multiple of 5"),
    (lambda: L.Reshape((5, 2)).build_from_shape((None, 12)), r"reshape.*12 values.*\(5, 2\)"),
    (lambda: L.Dropout(1.0), r"Dropout layer 'dropout'.*\[0, 1\).*rate=1.0"),
    (lambda: L.Dropout(-0.1), r"dropout.*rate=-0.1"),
    (lambda: L.Dropout(0.5, noise_shape=(None,)).build_from_shape((None, 3)), r"dropout.*noise_shape.*rank 2"),
    (lambda: L.BatchNormalization(axis=3).build_from_shape((None, 4)), r"batch_normalization.*axis 3.*rank 2.*\[-1, 1\]"),
    (lambda: L.BatchNormalization(axis=-3).build_from_shape((None, 4)), r"batch_normalization.*axis -3"),
    (lambda: L.BatchNormalization(axis=0).build_from_shape((None, 4)), r"batch_normalization.*axis 0.*batch axis"),
    (lambda: L.BatchNormalization(momentum=1.5), r"batch_normalization.*momentum.*momentum=1.5"),
    (lambda: L.BatchNormalization(gamma_initializer="one_s"), r"batch_normalization.*gamma_initializer.*did you mean 'ones'"),
    (lambda: L.Activation("sofmax"), r"activation.*unknown activation 'sofmax'.*did you mean 'softmax'"),
    (lambda: L.InputLayer(), r"input_layer.*shape="),
    (lambda: L.InputLayer(shape=(0, 3)), r"input_layer.*positive.*\(0, 3\)"),
    (lambda: L.RandomFlip("diagonal"), r"random_flip.*mode.*'diagonal'"),
    (lambda: L.RandomTranslation(1.5, 0.1), r"random_translation.*height_factor.*\[-1.0, 1.0\].*1.5"),
    (lambda: L.RandomTranslation((0.2, 0.1), 0.1), r"random_translation.*lower bound.*\(0.2, 0.1\)"),
    (lambda: L.RandomRotation(0.1, fill_mode="mirror"), r"random_rotation.*fill_mode.*'mirror'"),
    (lambda: L.RandomZoom((-1.0, 0.2)), r"random_zoom.*height_factor.*> -1"),
    (lambda: L.Dense(2, bogus=1), r"Dense.*unexpected keyword.*bogus"),
    (lambda: L.Conv2D(2, 3, kernel_constraint="max_nrm"), r"unknown constraint 'max_nrm'.*did you mean 'max_norm'"),
]


def test_keras_default_only_arguments_accepted():
    """Keras configs carry constraints/activity regularizers as None: those load."""
    L.Dense(2, kernel_constraint=None, bias_constraint=None, activity_regularizer=None)
    L.Conv2D(2, 3, kernel_constraint=None)
    L.BatchNormalization(beta_constraint=None, gamma_constraint=None, synchronized=False)


@pytest.mark.parametrize("bad,pattern", BAD, ids=[f"bad{i}" for i in range(len(BAD))])
def test_bad_configuration_fails_early(bad, pattern):
    L.clear_session()
    with pytest.raises((ValueError, TypeError), match=pattern):
        bad()


def test_errors_after_build():
    conv = L.Conv2D(2, 3)
    conv(np.ones((1, 5, 5, 3), np.float32))
    with pytest.raises(ValueError, match=r"conv2d.*built for 3 input channels.*got 4"):
        conv(np.ones((1, 5, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"conv2d.*kernel_size \(3, 3\).*\(2, 5\)"):
        conv(np.ones((1, 2, 5, 3), np.float32))
    bn = L.BatchNormalization()
    bn(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match=r"batch_normalization.*built for 3 features.*got 4"):
        bn(np.ones((2, 4), np.float32))
