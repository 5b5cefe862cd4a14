"""Port of keras-io ``guides/sequential_model.py`` (Keras 3 edition).

Only the imports change (``tf.ones`` -> ``np.ones``: gradflow.ops has no ``ones``). The transfer-learning
blueprint's Xception base is replaced by a small convnet; the MNIST data by synthetic vectors.
"""
import numpy as np

import gradflow as keras
from gradflow import layers


def test_sequential_equals_chained_layers():
    # Define Sequential model with 3 layers
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu", name="layer1"),
            layers.Dense(3, activation="relu", name="layer2"),
            layers.Dense(4, name="layer3"),
        ]
    )
    # Call model on a test input
    x = np.ones((3, 3), dtype="float32")
    y = model(x)
    assert tuple(y.shape) == (3, 4)

    layer1, layer2, layer3 = model.layers
    assert [layer1.name, layer2.name, layer3.name] == ["layer1", "layer2", "layer3"]
    np.testing.assert_allclose(np.asarray(layer3(layer2(layer1(x)))), np.asarray(y), rtol=1e-6)


def test_layers_add_pop_and_name():
    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )
    assert len(model.layers) == 3
    # auto-generated names, as Keras 3 numbers them in a fresh session
    assert [layer.name for layer in model.layers] == ["dense", "dense_1", "dense_2"]

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu"))
    model.add(layers.Dense(3, activation="relu"))
    model.add(layers.Dense(4))
    model.pop()
    assert len(model.layers) == 2

    model = keras.Sequential(name="my_sequential")
    model.add(layers.Dense(2, activation="relu", name="layer1"))
    model.add(layers.Dense(3, activation="relu", name="layer2"))
    model.add(layers.Dense(4, name="layer3"))
    assert model.name == "my_sequential"
    assert [layer.name for layer in model.layers] == ["layer1", "layer2", "layer3"]


def test_weights_are_created_on_first_call():
    layer = layers.Dense(3)
    assert layer.weights == []  # Empty

    x = np.ones((1, 4), dtype="float32")
    layer(x)
    assert [tuple(w.shape) for w in layer.weights] == [(4, 3), (3,)]

    model = keras.Sequential(
        [
            layers.Dense(2, activation="relu"),
            layers.Dense(3, activation="relu"),
            layers.Dense(4),
        ]
    )  # No weights at this stage!
    assert not model.built
    model(np.ones((1, 4), dtype="float32"))
    assert len(model.weights) == 6  # "Number of weights after calling the model: 6"


def test_input_object_and_input_shape_argument(summary_params):
    model = keras.Sequential()
    model.add(keras.Input(shape=(4,)))
    model.add(layers.Dense(2, activation="relu"))
    assert summary_params(model)[0]["total"] == 10  # 4*2 + 2
    # The Input object is not a layer of the Sequential model
    assert len(model.layers) == 1 and isinstance(model.layers[0], layers.Dense)

    model = keras.Sequential()
    model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
    assert model.built
    assert model.count_params() == 10
    assert tuple(model.output_shape) == (None, 2)


def test_add_and_summary_debugging_workflow(summary_params):
    model = keras.Sequential()
    model.add(keras.Input(shape=(250, 250, 3)))  # 250x250 RGB images
    model.add(layers.Conv2D(32, 5, strides=2, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))

    params, out = summary_params(model)
    # The answer was: (40, 40, 32), so we can keep downsampling...
    assert tuple(model.output_shape) == (None, 40, 40, 32)
    assert "(None, 40, 40, 32)" in out
    # Conv 5x5 3->32: 5*5*3*32+32 = 2,432; Conv 3x3 32->32: 9*32*32+32 = 9,248 -> 11,680
    assert params["total"] == 11680

    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(3))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.Conv2D(32, 3, activation="relu"))
    model.add(layers.MaxPooling2D(2))
    assert tuple(model.output_shape) == (None, 4, 4, 32)

    # Now that we have 4x4 feature maps, time to apply global max pooling.
    model.add(layers.GlobalMaxPooling2D())
    # Finally, we add a classification layer.
    model.add(layers.Dense(10))
    assert tuple(model.output_shape) == (None, 10)
    # 2,432 + 5 convs * 9,248 + Dense 32*10+10 = 330 -> 49,002
    assert model.count_params() == 49002


def test_feature_extraction_with_a_sequential_model():
    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=[layer.output for layer in initial_model.layers],
    )
    # Call feature extractor on test input.
    x = np.ones((1, 250, 250, 3), dtype="float32")
    features = feature_extractor(x)
    assert [tuple(f.shape) for f in features] == [(1, 123, 123, 32), (1, 121, 121, 32), (1, 119, 119, 32)]
    np.testing.assert_allclose(np.asarray(features[-1]), np.asarray(initial_model(x)), rtol=1e-5, atol=1e-6)

    initial_model = keras.Sequential(
        [
            keras.Input(shape=(250, 250, 3)),
            layers.Conv2D(32, 5, strides=2, activation="relu"),
            layers.Conv2D(32, 3, activation="relu", name="my_intermediate_layer"),
            layers.Conv2D(32, 3, activation="relu"),
        ]
    )
    feature_extractor = keras.Model(
        inputs=initial_model.inputs,
        outputs=initial_model.get_layer(name="my_intermediate_layer").output,
    )
    features = feature_extractor(x)
    assert tuple(features.shape) == (1, 121, 121, 32)


def test_transfer_learning_freeze_all_but_last(mnist_vectors):
    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            layers.Dense(32, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(32, activation="relu"),
            layers.Dense(10),
        ]
    )
    # (the guide loads pre-trained weights here)

    # Freeze all layers except the last one.
    for layer in model.layers[:-1]:
        layer.trainable = False
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 6

    frozen = [layer.get_weights() for layer in model.layers[:-1]]
    head = model.layers[-1].get_weights()
    # Recompile and train (this will only update the weights of the last layer).
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x, y = mnist_vectors(64)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for layer, before in zip(model.layers[:-1], frozen):
        for a, b in zip(before, layer.get_weights()):
            np.testing.assert_array_equal(a, b)
    assert not np.allclose(head[0], model.layers[-1].get_weights()[0])


def test_transfer_learning_stack_frozen_base_model(make_images):
    # guide: keras.applications.Xception(weights='imagenet', include_top=False, pooling='avg')
    base_model = keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            layers.Conv2D(8, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(16, 3, activation="relu"),
            layers.GlobalAveragePooling2D(),
        ],
        name="base",
    )
    # Freeze the base model
    base_model.trainable = False

    # Use a Sequential model to add a trainable classifier on top
    model = keras.Sequential(
        [
            base_model,
            layers.Dense(10),
        ]
    )
    model.build((None, 28, 28, 1))
    assert len(model.trainable_weights) == 2
    # base: 9*8+8 = 80, 9*8*16+16 = 1,168 (non-trainable); head: 16*10+10 = 170
    assert model.count_params() == 80 + 1168 + 170

    base_before = base_model.get_weights()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = make_images(32, seed=2)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    for a, b in zip(base_before, base_model.get_weights()):
        np.testing.assert_array_equal(a, b)
