"""Port of keras-io ``examples/vision/mnist_convnet.py`` ("Simple MNIST convnet").

Only the imports change. MNIST (60,000 + 10,000 digits) -> 512 + 128 synthetic 28x28 class images;
15 epochs of batch 128 -> 3 epochs of batch 32.
"""
import numpy as np

import gradflow as keras
from gradflow import layers


def test_mnist_convnet(make_images, summary_params):
    # Model / data parameters
    num_classes = 10
    input_shape = (28, 28, 1)

    # Load the data and split it between train and test sets
    (x_train, y_train), (x_test, y_test) = make_images(512, seed=0), make_images(128, seed=1)
    x_train, x_test = x_train[..., 0], x_test[..., 0]  # like the (n, 28, 28) arrays of load_data()

    # Scale images to the [0, 1] range (already done by the synthetic data)
    x_train = x_train.astype("float32")
    x_test = x_test.astype("float32")
    # Make sure images have shape (28, 28, 1)
    x_train = np.expand_dims(x_train, -1)
    x_test = np.expand_dims(x_test, -1)
    assert x_train.shape == (512, 28, 28, 1)

    # convert class vectors to binary class matrices
    y_train = keras.utils.to_categorical(y_train, num_classes)
    y_test = keras.utils.to_categorical(y_test, num_classes)
    assert y_train.shape == (512, 10)

    model = keras.Sequential(
        [
            keras.Input(shape=input_shape),
            layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
            layers.MaxPooling2D(pool_size=(2, 2)),
            layers.Flatten(),
            layers.Dropout(0.5),
            layers.Dense(num_classes, activation="softmax"),
        ]
    )

    params, text = summary_params(model)
    # conv2d 3*3*1*32+32 = 320 (None, 26, 26, 32); max_pooling2d (None, 13, 13, 32);
    # conv2d_1 3*3*32*64+64 = 18,496 (None, 11, 11, 64); max_pooling2d_1 (None, 5, 5, 64);
    # flatten (None, 1600); dense 1600*10+10 = 16,010 -> 34,826 (as the example's summary shows)
    assert params == {"total": 34826, "trainable": 34826, "non_trainable": 0}
    for shape in ["(None, 26, 26, 32)", "(None, 13, 13, 32)", "(None, 11, 11, 64)", "(None, 5, 5, 64)",
                  "(None, 1600)", "(None, 10)"]:
        assert shape in text
    assert [layer.name for layer in model.layers] == [
        "conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten", "dropout", "dense",
    ]

    batch_size = 32
    epochs = 3

    model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

    history = model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, validation_split=0.1, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.history["loss"][-1] < history.history["loss"][0]

    score = model.evaluate(x_test, y_test, verbose=0)
    assert len(score) == 2  # Test loss, Test accuracy
    assert score[1] > 0.5  # chance is 0.1
    assert 0 < score[0] < np.log(10)
