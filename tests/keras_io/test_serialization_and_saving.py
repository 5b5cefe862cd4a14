"""Port of keras-io ``guides/serialization_and_saving.py`` (Keras 3 edition,
``guides/keras_core/serialization_and_saving.py``).

Only the imports change. The whole-model save runs for both ``.keras`` (Keras's name) and ``.gflow``
(gradflow's own). ``keras.saving.get_custom_objects().clear()`` is left out (the registrations here are
module-level and unique).
"""
import json

import numpy as np
import pytest

import gradflow as keras
from gradflow import ops


def get_model():
    # Create a simple model.
    inputs = keras.Input(shape=(32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(), loss="mean_squared_error")
    return model


@pytest.mark.parametrize("filename", ["my_model.keras", "my_model.gflow"])
def test_save_and_load_whole_model(filename):
    model = get_model()

    # Train the model.
    rng = np.random.default_rng(0)
    test_input = rng.random((128, 32)).astype("float32")
    test_target = rng.random((128, 1)).astype("float32")
    model.fit(test_input, test_target, verbose=0)

    # Calling `save('my_model.keras')` creates a zip archive `my_model.keras`.
    model.save(filename)

    # It can be used to reconstruct the model identically.
    reconstructed_model = keras.models.load_model(filename)

    # Let's check:
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))

    # The file also holds the compile() arguments and the optimizer state, so training resumes where it
    # stopped: one more identical epoch on both gives identical weights.
    assert isinstance(reconstructed_model.optimizer, keras.optimizers.Adam)
    model.fit(test_input, test_target, shuffle=False, verbose=0)
    reconstructed_model.fit(test_input, test_target, shuffle=False, verbose=0)
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0),
                               rtol=1e-5, atol=1e-6)


# Upon registration, you can optionally specify a package or a name.
# If left blank, the package defaults to `Custom` and the name defaults to the class name.
@keras.saving.register_keras_serializable(package="MyLayers")
class CustomLayer(keras.layers.Layer):
    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, x):
        return x * self.factor

    def get_config(self):
        return {"factor": self.factor}


@keras.saving.register_keras_serializable(package="my_package", name="custom_fn")
def custom_fn(x):
    return x**2


def get_custom_model():
    inputs = keras.Input(shape=(4,))
    mid = CustomLayer(0.5)(inputs)
    outputs = keras.layers.Dense(1, activation=custom_fn)(mid)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="rmsprop", loss="mean_squared_error")
    return model


def train_model(model):
    input = np.random.random((4, 4)).astype("float32")
    target = np.random.random((4, 1)).astype("float32")
    model.fit(input, target, verbose=0)
    return model


def test_registered_custom_objects():
    test_input = np.random.random((4, 4)).astype("float32")
    model = get_custom_model()
    model = train_model(model)
    model.save("custom_model.keras")

    # Now, we can simply load without worrying about our custom objects.
    reconstructed_model = keras.models.load_model("custom_model.keras")
    assert any(isinstance(layer, CustomLayer) for layer in reconstructed_model.layers)
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))


def test_passing_custom_objects_to_load_model():
    test_input = np.random.random((4, 4)).astype("float32")
    model = get_custom_model()
    model = train_model(model)
    model.save("custom_model.keras")

    # Upon loading, pass a dict containing the custom objects used in the `custom_objects` argument.
    reconstructed_model = keras.models.load_model(
        "custom_model.keras",
        custom_objects={"CustomLayer": CustomLayer, "custom_fn": custom_fn},
    )
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))


def test_custom_object_scope():
    test_input = np.random.random((4, 4)).astype("float32")
    model = get_custom_model()
    model = train_model(model)
    model.save("custom_model.keras")

    custom_objects = {"CustomLayer": CustomLayer, "custom_fn": custom_fn}
    with keras.saving.custom_object_scope(custom_objects):
        reconstructed_model = keras.models.load_model("custom_model.keras")
    np.testing.assert_allclose(model.predict(test_input, verbose=0), reconstructed_model.predict(test_input, verbose=0))


def test_in_memory_model_cloning():
    model = get_custom_model()
    model = train_model(model)
    new_model = keras.models.clone_model(model)
    # Same architecture, fresh layer objects and freshly initialised weights; no compile information.
    assert [type(layer) for layer in new_model.layers] == [type(layer) for layer in model.layers]
    assert all(a is not b for a, b in zip(new_model.layers, model.layers))
    assert [w.shape for w in new_model.get_weights()] == [w.shape for w in model.get_weights()]
    assert new_model.get_layer(index=1).factor == 0.5


def test_get_config_and_from_config():
    layer = keras.layers.Dense(3, activation="relu")
    layer_config = layer.get_config()
    assert layer_config["units"] == 3 and layer_config["activation"] == "relu"

    # Now let's reconstruct the layer using the `from_config()` method:
    new_layer = keras.layers.Dense.from_config(layer_config)
    assert new_layer.get_config() == layer_config

    # Sequential model example
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
    config = model.get_config()
    new_model = keras.Sequential.from_config(config)
    assert isinstance(new_model, keras.Sequential)
    assert tuple(new_model.output_shape) == (None, 1)
    assert new_model.count_params() == 33

    # Functional model example
    inputs = keras.Input((32,))
    outputs = keras.layers.Dense(1)(inputs)
    model = keras.Model(inputs, outputs)
    config = model.get_config()
    new_model = keras.Model.from_config(config)
    assert tuple(new_model.output_shape) == (None, 1)
    assert new_model.count_params() == 33


def test_to_json_and_model_from_json():
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(1)])
    json_config = model.to_json()
    assert json.loads(json_config)["class_name"] == "Sequential"
    new_model = keras.models.model_from_json(json_config)
    assert isinstance(new_model, keras.Sequential)
    assert new_model.count_params() == 33


def test_arbitrary_object_serialization():
    my_reg = keras.regularizers.L1(0.005)
    config = keras.saving.serialize_keras_object(my_reg)
    assert config["class_name"] == "L1"
    assert config["config"]["l1"] == pytest.approx(0.005)

    new_reg = keras.saving.deserialize_keras_object(config)
    assert isinstance(new_reg, keras.regularizers.L1)
    w = np.array([[1.0, -2.0]], dtype="float32")
    assert float(np.asarray(new_reg(w))) == pytest.approx(0.005 * 3.0)


def create_layer():
    layer = keras.layers.Dense(64, activation="relu", name="dense_2")
    layer.build((None, 784))
    return layer


def test_in_memory_weight_transfer_between_layers():
    layer_1 = create_layer()
    layer_2 = create_layer()

    # Copy weights from layer 1 to layer 2
    layer_2.set_weights(layer_1.get_weights())
    for a, b in zip(layer_1.get_weights(), layer_2.get_weights()):
        np.testing.assert_array_equal(a, b)


# Define a subclassed model with the same architecture
class SubclassedModel(keras.Model):
    def __init__(self, output_dim, name=None):
        super().__init__(name=name)
        self.output_dim = output_dim
        self.dense_1 = keras.layers.Dense(64, activation="relu", name="dense_1")
        self.dense_2 = keras.layers.Dense(64, activation="relu", name="dense_2")
        self.dense_3 = keras.layers.Dense(output_dim, name="predictions")

    def call(self, inputs):
        x = self.dense_1(inputs)
        x = self.dense_2(x)
        x = self.dense_3(x)
        return x

    def get_config(self):
        return {"output_dim": self.output_dim, "name": self.name}


def _functional_mlp(dropout=False):
    inputs = keras.Input(shape=(784,), name="digits")
    x = keras.layers.Dense(64, activation="relu", name="dense_1")(inputs)
    x = keras.layers.Dense(64, activation="relu", name="dense_2")(x)
    if dropout:
        # Add a dropout layer, which does not contain any weights.
        x = keras.layers.Dropout(0.5)(x)
    outputs = keras.layers.Dense(10, name="predictions")(x)
    return keras.Model(inputs=inputs, outputs=outputs, name="3_layer_mlp")


def test_weight_transfer_between_compatible_models():
    functional_model = _functional_mlp()

    subclassed_model = SubclassedModel(10)
    # Call the subclassed model once to create the weights.
    subclassed_model(np.ones((1, 784), dtype="float32"))

    # Copy weights from functional_model to subclassed_model.
    subclassed_model.set_weights(functional_model.get_weights())

    assert len(functional_model.weights) == len(subclassed_model.weights)
    for a, b in zip(functional_model.weights, subclassed_model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy())

    x = np.random.random((3, 784)).astype("float32")
    np.testing.assert_allclose(np.asarray(subclassed_model(x)), functional_model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)

    # The case of stateless layers: an extra Dropout does not change the order or number of weights.
    functional_model_with_dropout = _functional_mlp(dropout=True)
    functional_model_with_dropout.set_weights(functional_model.get_weights())
    np.testing.assert_allclose(functional_model_with_dropout.predict(x, verbose=0), functional_model.predict(x, verbose=0),
                               rtol=1e-6)


def test_save_weights_and_load_weights():
    sequential_model = keras.Sequential(
        [
            keras.Input(shape=(784,), name="digits"),
            keras.layers.Dense(64, activation="relu", name="dense_1"),
            keras.layers.Dense(64, activation="relu", name="dense_2"),
            keras.layers.Dense(10, name="predictions"),
        ]
    )
    original = sequential_model.get_weights()
    sequential_model.save_weights("my_model.weights.h5")
    sequential_model.set_weights([np.zeros_like(w) for w in original])
    sequential_model.load_weights("my_model.weights.h5")
    for a, b in zip(original, sequential_model.get_weights()):
        np.testing.assert_array_equal(a, b)


class NestedDenseLayer(keras.layers.Layer):
    def __init__(self, units, name=None):
        super().__init__(name=name)
        self.dense_1 = keras.layers.Dense(units, name="dense_1")
        self.dense_2 = keras.layers.Dense(units, name="dense_2")

    def call(self, inputs):
        return self.dense_2(self.dense_1(inputs))


def test_trainable_status_of_nested_layers():
    nested_model = keras.Sequential([keras.Input((784,)), NestedDenseLayer(10, "nested")])
    assert len(nested_model.weights) == 4
    assert len(nested_model.trainable_weights) == 4

    # Changing trainable status of one of the nested layers...
    nested_model.get_layer("nested").dense_1.trainable = False
    assert len(nested_model.weights) == 4
    assert len(nested_model.trainable_weights) == 2
    assert len(nested_model.non_trainable_weights) == 2
    dense_1 = nested_model.get_layer("nested").dense_1
    assert all(any(w is v for v in dense_1.weights) for w in nested_model.non_trainable_weights)


def test_transfer_learning_by_extracting_layers(summary_params):
    def create_functional_model():
        return _functional_mlp()

    functional_model = create_functional_model()
    functional_model.save_weights("pretrained.weights.h5")

    # In a separate program:
    pretrained_model = create_functional_model()
    pretrained_model.load_weights("pretrained.weights.h5")
    for a, b in zip(functional_model.get_weights(), pretrained_model.get_weights()):
        np.testing.assert_array_equal(a, b)

    # Create a new model by extracting layers from the original model:
    extracted_layers = pretrained_model.layers[:-1]
    extracted_layers.append(keras.layers.Dense(5, name="dense_3"))
    model = keras.Sequential(extracted_layers)
    params, _ = summary_params(model)
    # dense_1 784*64+64 = 50,240; dense_2 64*64+64 = 4,160; dense_3 64*5+5 = 325 -> 54,725
    assert params["total"] == 54725
    assert model.get_layer("dense_1") is pretrained_model.get_layer("dense_1")


@keras.saving.register_keras_serializable(package="MyLayers", name="KernelMult")
class MyDense(keras.layers.Layer):
    def __init__(self, units, *, kernel_regularizer=None, kernel_initializer=None, nested_model=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = units
        self.kernel_regularizer = kernel_regularizer
        self.kernel_initializer = kernel_initializer
        self.nested_model = nested_model

    def get_config(self):
        config = super().get_config()
        # Update the config with the custom layer's parameters
        config.update(
            {
                "units": self.hidden_units,
                "kernel_regularizer": self.kernel_regularizer,
                "kernel_initializer": self.kernel_initializer,
                "nested_model": self.nested_model,
            }
        )
        return config

    def build(self, input_shape):
        input_units = input_shape[-1]
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_units, self.hidden_units),
            regularizer=self.kernel_regularizer,
            initializer=self.kernel_initializer,
        )

    def call(self, inputs):
        return ops.matmul(inputs, self.kernel)


def test_custom_object_registered_name_and_layer_serialize():
    layer = MyDense(
        units=16,
        kernel_regularizer=keras.regularizers.L1L2(l1=1e-5, l2=1e-4),
        kernel_initializer="ones",
    )
    config = keras.layers.serialize(layer)
    # The `registered_name` key holds the package and custom name given to the decorator;
    # `class_name` keeps the class's own name.
    assert config["registered_name"] == "MyLayers>KernelMult"
    assert config["class_name"] == "MyDense"
    assert config["config"]["units"] == 16

    new_layer = keras.layers.deserialize(config)
    assert isinstance(new_layer, MyDense)
    assert new_layer.hidden_units == 16
    y = new_layer(np.ones((2, 3), dtype="float32"))
    np.testing.assert_allclose(np.asarray(y), np.full((2, 16), 3.0))  # kernel of ones
    assert len(new_layer.losses) == 1  # the deserialized L1L2 regularizer is active


@keras.saving.register_keras_serializable(package="ComplexModels")
class CustomModel(keras.layers.Layer):
    def __init__(self, first_layer, second_layer=None, **kwargs):
        super().__init__(**kwargs)
        self.first_layer = first_layer
        if second_layer is not None:
            self.second_layer = second_layer
        else:
            self.second_layer = keras.layers.Dense(8)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "first_layer": self.first_layer,
                "second_layer": self.second_layer,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Note that you can also use `keras.saving.deserialize_keras_object` here
        config["first_layer"] = keras.layers.deserialize(config["first_layer"])
        config["second_layer"] = keras.layers.deserialize(config["second_layer"])
        return cls(**config)

    def call(self, inputs):
        return self.first_layer(self.second_layer(inputs))


def test_from_config_override_for_layer_arguments():
    layer = MyDense(units=16, kernel_regularizer="l1", kernel_initializer="ones")
    # Let's make our first layer the custom layer from the previous example (MyDense)
    inputs = keras.Input((32,))
    outputs = CustomModel(first_layer=layer)(inputs)
    model = keras.Model(inputs, outputs)
    assert tuple(model.output_shape) == (None, 16)

    config = model.get_config()
    new_model = keras.Model.from_config(config)
    assert tuple(new_model.output_shape) == (None, 16)
    inner = new_model.layers[-1]
    assert isinstance(inner, CustomModel) and isinstance(inner.first_layer, MyDense)
    assert inner.first_layer.hidden_units == 16
