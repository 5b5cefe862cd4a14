"""Port of keras-io ``guides/transfer_learning.py`` (Keras 3 edition, ``guides/keras_core/transfer_learning.py``).

Only the imports change. Substitutions: the ImageNet-pretrained Xception base -> a small convnet with
BatchNormalization that is first "pre-trained" on the same synthetic task; cats-vs-dogs (TFDS, tf.data,
``Resizing``) -> 150x150 becomes 32x32 synthetic images, augmented with the guide's layers eagerly on
NumPy batches; the ``Rescaling(1 / 127.5, offset=-1)`` layer (not in gradflow) is left out because the
synthetic images are already scaled.
"""
import numpy as np

import gradflow as keras
from gradflow import layers


def test_trainable_attribute():
    layer = keras.layers.Dense(3)
    layer.build((None, 4))  # Create the weights
    assert (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights)) == (2, 2, 0)

    layer = keras.layers.BatchNormalization()
    layer.build((None, 4))  # Create the weights
    assert (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights)) == (4, 2, 2)

    layer = keras.layers.Dense(3)
    layer.build((None, 4))  # Create the weights
    layer.trainable = False  # Freeze the layer
    assert (len(layer.weights), len(layer.trainable_weights), len(layer.non_trainable_weights)) == (2, 0, 2)


def test_frozen_layer_is_not_updated():
    # Make a model with 2 layers
    layer1 = keras.layers.Dense(3, activation="relu")
    layer2 = keras.layers.Dense(3, activation="sigmoid")
    model = keras.Sequential([keras.Input(shape=(3,)), layer1, layer2])

    # Freeze the first layer
    layer1.trainable = False

    # Keep a copy of the weights of layer1 for later reference
    initial_layer1_weights_values = layer1.get_weights()
    initial_layer2_weights_values = layer2.get_weights()

    # Train the model
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.random.random((2, 3)), np.random.random((2, 3)), verbose=0)

    # Check that the weights of layer1 have not changed during training
    final_layer1_weights_values = layer1.get_weights()
    np.testing.assert_allclose(initial_layer1_weights_values[0], final_layer1_weights_values[0])
    np.testing.assert_allclose(initial_layer1_weights_values[1], final_layer1_weights_values[1])
    assert not np.allclose(initial_layer2_weights_values[0], layer2.get_weights()[0])


def test_recursive_setting_of_trainable():
    inner_model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            keras.layers.Dense(3, activation="relu"),
            keras.layers.Dense(3, activation="relu"),
        ]
    )

    model = keras.Sequential(
        [
            keras.Input(shape=(3,)),
            inner_model,
            keras.layers.Dense(3, activation="sigmoid"),
        ]
    )

    model.trainable = False  # Freeze the outer model

    assert inner_model.trainable is False  # All layers in `model` are now frozen
    assert inner_model.layers[0].trainable is False  # `trainable` is propagated recursively
    assert model.trainable_weights == []


def _pretrained_base(x, y):
    """Stand-in for `keras.applications.Xception(weights="imagenet", include_top=False)`."""
    base_inputs = keras.Input(shape=(32, 32, 3))
    h = layers.Conv2D(16, 3, strides=2, padding="same")(base_inputs)
    h = layers.BatchNormalization()(h)
    h = layers.Activation("relu")(h)
    h = layers.Conv2D(32, 3, padding="same")(h)
    h = layers.BatchNormalization()(h)
    base_outputs = layers.Activation("relu")(h)
    base_model = keras.Model(base_inputs, base_outputs, name="base")

    # "pre-training" on the task, so that the frozen features carry information
    pretrain = keras.Sequential([base_model, layers.GlobalAveragePooling2D(), layers.Dense(1)])
    pretrain.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(from_logits=True))
    pretrain.fit(x, y, epochs=5, batch_size=16, verbose=0)
    return base_model


def test_end_to_end_fine_tuning(make_images, summary_params):
    # Binary task: "cats" (class 0) vs "dogs" (class 1)
    x, y = make_images(192, shape=(32, 32, 3), num_classes=2, seed=0)
    y = y.astype("float32").reshape(-1, 1)
    x_train, y_train = x[:128], y[:128]
    x_val, y_val = x[128:160], y[128:160]
    x_test, y_test = x[160:], y[160:]

    augmentation_layers = [
        layers.RandomFlip("horizontal"),
        layers.RandomRotation(0.1),
    ]

    def data_augmentation(x):
        for layer in augmentation_layers:
            x = layer(x)
        return x

    augmented = np.asarray(data_augmentation(x_train))
    assert augmented.shape == x_train.shape
    assert not np.allclose(augmented, x_train)  # called outside a model, augmentation layers augment

    base_model = _pretrained_base(x_train, y_train)

    # Freeze the base_model
    base_model.trainable = False

    # Create new model on top
    inputs = keras.Input(shape=(32, 32, 3))
    # The base model contains batchnorm layers. We want to keep them in inference mode when we unfreeze
    # the base model for fine-tuning, so we make sure that the base_model is running in inference mode here.
    x = base_model(inputs, training=False)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dropout(0.2)(x)  # Regularize with dropout
    outputs = keras.layers.Dense(1)(x)
    model = keras.Model(inputs, outputs)

    params, _ = summary_params(model, show_trainable=True)
    # base: conv 3*3*3*16+16 = 448, BN(16) 4*16 = 64, conv 3*3*16*32+32 = 4,640, BN(32) 4*32 = 128 -> 5,280,
    # all frozen; head Dense 32+1 = 33
    assert params == {"total": 5313, "trainable": 33, "non_trainable": 5280}

    model.compile(
        optimizer=keras.optimizers.Adam(),
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy()],
    )
    base_before = [w.copy() for w in base_model.get_weights()]
    epochs = 2
    history = model.fit(np.asarray(data_augmentation(x_train)), y_train, epochs=epochs, batch_size=8,
                        validation_data=(x_val, y_val), verbose=0)
    assert set(history.history) == {"loss", "binary_accuracy", "val_loss", "val_binary_accuracy"}
    for a, b in zip(base_before, base_model.get_weights()):
        np.testing.assert_array_equal(a, b)  # frozen: nothing changes, not even the BN statistics

    # Unfreeze the base_model. Note that it keeps running in inference mode since we passed
    # `training=False` when calling it. This means that the batchnorm layers will not update their batch
    # statistics.
    base_model.trainable = True
    params, _ = summary_params(model, show_trainable=True)
    # The BN moving mean/variance (2*16 + 2*32 = 96) stay non-trainable. Keras 3 counts the built
    # optimizer's variables in the total: Adam stepped the 33 head weights, so 2 * 33 slots + the
    # iteration counter + the learning rate = 68 more ("Optimizer params: 68", checked on Keras 3.15).
    assert params == {"total": 5313 + 68, "trainable": 5217, "non_trainable": 96}

    model.compile(
        optimizer=keras.optimizers.Adam(1e-5),  # Low learning rate
        loss=keras.losses.BinaryCrossentropy(from_logits=True),
        metrics=[keras.metrics.BinaryAccuracy()],
    )
    bn_layers = [layer for layer in base_model.layers if isinstance(layer, layers.BatchNormalization)]
    stats_before = [[w.copy() for w in bn.get_weights()[2:]] for bn in bn_layers]  # moving mean, variance
    conv_before = base_model.layers[1].get_weights()[0].copy()
    epochs = 1
    model.fit(np.asarray(data_augmentation(x_train)), y_train, epochs=epochs, batch_size=8,
              validation_data=(x_val, y_val), verbose=0)
    assert not np.allclose(conv_before, base_model.layers[1].get_weights()[0], rtol=0, atol=0)
    for bn, before in zip(bn_layers, stats_before):
        for a, b in zip(before, bn.get_weights()[2:]):
            np.testing.assert_array_equal(a, b)

    results = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
    assert set(results) == {"loss", "binary_accuracy"}
    assert results["loss"] < history.history["loss"][0]
