"""Port of keras-io ``examples/vision/image_classification_from_scratch.py`` ("Image classification from
scratch": a small Xception-like network of ``SeparableConv2D`` residual blocks on Cats vs Dogs).

Only the imports change; the Keras-3 spellings of the example's TF-only calls are used:
``tf.keras.preprocessing.image_dataset_from_directory`` -> ``keras.utils.image_dataset_from_directory``,
``keras.preprocessing.image.load_img``/``img_to_array`` -> ``keras.utils.load_img``/``img_to_array``,
``tf.expand_dims`` -> ``keras.ops.expand_dims``; the "JFIF" filter, ``prefetch`` (tf.data) and the
matplotlib plots are left out. This is the edition that puts ``data_augmentation`` in the model ("option 1").

The 786 MB Kaggle download -> 64 small PNGs per class written to ``PetImages/Cat`` and ``PetImages/Dog``
(reddish "cats", bluish "dogs", with noise and a random bright blob, so flips and rotations keep the
class). Sizes: ``image_size`` 180 -> 32, batch 32 -> 16, the block widths 32, 64 / [128, 256, 512, 728] /
1024 -> 8, 16 / [16, 24, 32, 48] / 64, 50 epochs -> 6. The same model then trains on real Keras 3 on the
same images (as arrays: Keras 3's ``image_dataset_from_directory`` needs TensorFlow) and must reach a
similar accuracy.
"""
import os

import numpy as np

import gradflow as keras
from gradflow import layers  # noqa: F401 - the example's imports; the program below is written against `k`

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

image_size = (32, 32)
batch_size = 16
entry_widths, block_sizes, exit_width = (8, 16), [16, 24, 32, 48], 64  # (32, 64), [128, 256, 512, 728], 1024


def write_pet_images(root, per_class=64, seed=0):
    """``root/PetImages/{Cat,Dog}/<i>.png``: 40x40 RGB images (image_dataset_from_directory resizes them)."""
    rng = np.random.default_rng(seed)
    for label, folder_name in enumerate(("Cat", "Dog")):
        folder_path = os.path.join(root, "PetImages", folder_name)
        os.makedirs(folder_path)
        for i in range(per_class):
            img = rng.uniform(0, 90, size=(40, 40, 3))
            img[..., 0 if label == 0 else 2] += 110  # cats red, dogs blue
            r, c = rng.integers(4, 28, size=2)
            img[r:r + 8, c:c + 8, :] += 60
            keras.utils.save_img(os.path.join(folder_path, f"{i}.png"), np.clip(img, 0, 255).astype("uint8"),
                                 scale=False)
    return os.path.join(root, "PetImages")


def build_program(k, entry_widths=entry_widths, block_sizes=block_sizes, exit_width=exit_width):
    """The example's ``data_augmentation`` and ``make_model``, written against ``k``."""
    k_layers = k.layers

    data_augmentation = k.Sequential(
        [
            k_layers.RandomFlip("horizontal"),
            k_layers.RandomRotation(0.1),
        ]
    )

    def make_model(input_shape, num_classes):
        inputs = k.Input(shape=input_shape)
        # Image augmentation block
        x = data_augmentation(inputs)

        # Entry block
        x = k_layers.Rescaling(1.0 / 255)(x)
        x = k_layers.Conv2D(entry_widths[0], 3, strides=2, padding="same")(x)
        x = k_layers.BatchNormalization()(x)
        x = k_layers.Activation("relu")(x)

        x = k_layers.Conv2D(entry_widths[1], 3, padding="same")(x)
        x = k_layers.BatchNormalization()(x)
        x = k_layers.Activation("relu")(x)

        previous_block_activation = x  # Set aside residual

        for size in block_sizes:
            x = k_layers.Activation("relu")(x)
            x = k_layers.SeparableConv2D(size, 3, padding="same")(x)
            x = k_layers.BatchNormalization()(x)

            x = k_layers.Activation("relu")(x)
            x = k_layers.SeparableConv2D(size, 3, padding="same")(x)
            x = k_layers.BatchNormalization()(x)

            x = k_layers.MaxPooling2D(3, strides=2, padding="same")(x)

            # Project residual
            residual = k_layers.Conv2D(size, 1, strides=2, padding="same")(previous_block_activation)
            x = k_layers.add([x, residual])  # Add back residual
            previous_block_activation = x  # Set aside next residual

        x = k_layers.SeparableConv2D(exit_width, 3, padding="same")(x)
        x = k_layers.BatchNormalization()(x)
        x = k_layers.Activation("relu")(x)

        x = k_layers.GlobalAveragePooling2D()(x)
        if num_classes == 2:
            activation = "sigmoid"
            units = 1
        else:
            activation = "softmax"
            units = num_classes

        x = k_layers.Dropout(0.5)(x)
        outputs = k_layers.Dense(units, activation=activation)(x)
        return k.Model(inputs, outputs)

    return data_augmentation, make_model


def expected_params(channels=3, entry_widths=entry_widths, block_sizes=block_sizes, exit_width=exit_width,
                    units=1):
    """``(trainable, non_trainable)`` by hand. Conv2D(f, 3) on c channels: 9*c*f + f; SeparableConv2D(f, 3):
    a 3x3 depthwise kernel per channel 9*c + a pointwise c*f + bias f; BatchNormalization(c): gamma, beta
    trainable (2c), moving mean and variance not (2c); the 1x1 residual Conv2D(f, 1): c*f + f."""
    trainable = non_trainable = 0

    def bn(c):
        nonlocal trainable, non_trainable
        trainable, non_trainable = trainable + 2 * c, non_trainable + 2 * c

    a, b = entry_widths
    trainable += 9 * channels * a + a + 9 * a * b + b
    bn(a), bn(b)
    c = b
    for size in block_sizes:
        trainable += (9 * c + c * size + size) + (9 * size + size * size + size) + (c * size + size)
        bn(size), bn(size)
        c = size
    trainable += 9 * c + c * exit_width + exit_width
    bn(exit_width)
    trainable += exit_width * units + units
    return trainable, non_trainable


def train(k, train_ds, val_ds, epochs=6):
    """The example's "Train the model" (``fit`` takes the datasets, or ``(x, y)`` arrays for real Keras)."""
    k.utils.set_random_seed(0)
    _, make_model = build_program(k)
    model = make_model(input_shape=image_size + (3,), num_classes=2)
    callbacks = [
        k.callbacks.ModelCheckpoint("save_at_{epoch}.keras"),
    ]
    model.compile(
        optimizer=k.optimizers.Adam(1e-3),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    if isinstance(train_ds, tuple):
        (x, y), val = train_ds, val_ds
        history = model.fit(x, y, batch_size=batch_size, epochs=epochs, callbacks=callbacks, validation_data=val,
                            verbose=0)
    else:
        history = model.fit(train_ds, epochs=epochs, callbacks=callbacks, validation_data=val_ds, verbose=0)
    return model, history


def datasets(root):
    directory = write_pet_images(root)
    train_ds = keras.utils.image_dataset_from_directory(
        directory,
        validation_split=0.2,
        subset="training",
        seed=1337,
        image_size=image_size,
        batch_size=batch_size,
    )
    val_ds = keras.utils.image_dataset_from_directory(
        directory,
        validation_split=0.2,
        subset="validation",
        seed=1337,
        image_size=image_size,
        batch_size=batch_size,
    )
    return directory, train_ds, val_ds


def as_arrays(ds):
    batches = [ds[i] for i in range(len(ds))]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def test_image_classification_from_scratch(tmp_path, summary_params):
    directory, train_ds, val_ds = datasets(tmp_path)
    assert train_ds.class_names == ["Cat", "Dog"]  # label 0 is "cat", label 1 is "dog"
    images, labels = train_ds[0]
    assert images.shape == (batch_size, 32, 32, 3) and str(images.dtype) == "float32"
    assert images.max() > 1.0  # 0-255 values: the model rescales them
    assert labels.shape == (batch_size,)
    x_val, y_val = as_arrays(val_ds)
    assert len(x_val) == 25 and len(as_arrays(train_ds)[0]) == 103  # int(0.2 * 128) = 25 held out

    data_augmentation, make_model = build_program(keras)
    augmented_images = data_augmentation(images[:9], training=True)
    assert tuple(augmented_images.shape) == (9, 32, 32, 3)

    model = make_model(input_shape=image_size + (3,), num_classes=2)
    params, text = summary_params(model)
    # Trainable, by expected_params()'s rules: entry Conv2D 3->8 9*3*8+8 = 224, Conv2D 8->16 9*8*16+16 = 1,168,
    # their BN 2*8 + 2*16 = 48; blocks (sepconv, sepconv, 1x1 residual, 2 BN):
    #   16 on 16 channels: (144+256+16) + (144+256+16) + (256+16) + 64 = 1,168
    #   24 on 16: (144+384+24) + (216+576+24) + (384+24) + 96 = 1,872
    #   32 on 24: (216+768+32) + (288+1024+32) + (768+32) + 128 = 3,288
    #   48 on 32: (288+1536+48) + (432+2304+48) + (1536+48) + 192 = 6,432
    # exit SeparableConv2D 48->64: 432+3072+64 = 3,568, its BN 128; Dense 64->1: 65 -> 17,961 trainable;
    # non-trainable: the BN moving mean and variance, 2*(8+16+2*(16+24+32+48)+64) = 656 -> 18,617
    assert expected_params() == (17961, 656)
    assert params == {"total": 18617, "trainable": 17961, "non_trainable": 656}

    model, history = train(keras, train_ds, val_ds)
    h = history.history
    assert set(h) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert history.epoch == list(range(6))
    assert h["loss"][-1] < h["loss"][0]
    assert h["accuracy"][-1] > 0.8  # chance is 0.5
    saved = sorted(f for f in os.listdir(".") if f.endswith(".keras"))  # ModelCheckpoint: one file an epoch
    assert saved == [f"save_at_{e}.keras" for e in range(1, 7)]
    reloaded = keras.models.load_model("save_at_6.keras")
    np.testing.assert_allclose(reloaded.predict(x_val, verbose=0), model.predict(x_val, verbose=0), atol=1e-5)

    # val_accuracy is not a figure here: after 6*7 steps the batch-norm moving averages (momentum 0.99) are
    # still about two-thirds their initial 0 and 1, so inference-mode outputs mean little yet (on Keras too).
    # With batch statistics (a training-mode call, which also moves those averages) the held-out images
    # are classified about as well as the training ones:
    held_out = np.asarray(model(x_val, training=True))[:, 0]
    assert np.mean((held_out > 0.5) == (y_val > 0.5)) > 0.8

    # Run inference on new data (data augmentation and dropout are inactive at inference time)
    img = keras.utils.load_img(os.path.join(directory, "Cat", "6.png"), target_size=image_size)
    img_array = keras.utils.img_to_array(img)
    img_array = keras.ops.expand_dims(img_array, 0)  # Create batch axis
    predictions = model.predict(img_array, verbose=0)
    score = float(predictions[0][0])
    assert 0.0 <= score <= 1.0
    print(f"This image is {100 * (1 - score):.2f}% cat and {100 * score:.2f}% dog.")


def test_example_size_model_parameter_count(summary_params):
    _, make_model = build_program(keras, (32, 64), [128, 256, 512, 728], 1024)
    model = make_model(input_shape=(180, 180) + (3,), num_classes=2)
    trainable, non_trainable = expected_params(3, (32, 64), [128, 256, 512, 728], 1024)
    # 2,773,913 trainable + 8,736 non-trainable (BN moving statistics) = 2,782,649 (the example's model)
    assert (trainable, non_trainable) == (2773913, 8736)
    assert summary_params(model)[0] == {"total": 2782649, "trainable": 2773913, "non_trainable": 8736}


def test_same_program_on_real_keras_reaches_a_similar_accuracy(tmp_path, real_keras):
    k = real_keras
    _, train_ds, val_ds = datasets(tmp_path)
    km, hk = train(k, as_arrays(train_ds), as_arrays(val_ds))
    gm, hg = train(keras, train_ds, val_ds)
    assert km.count_params() == gm.count_params()
    assert set(hg.history) == set(hk.history)
    assert hk.history["accuracy"][-1] > 0.8
    assert abs(hg.history["accuracy"][-1] - hk.history["accuracy"][-1]) < 0.15


def test_keras_preprocessing_image_spellings(tmp_path):
    # the example's `keras.preprocessing.image.load_img(...)` and `img_to_array(img)`, which Keras 3 keeps
    directory = write_pet_images(tmp_path, per_class=2)
    img = keras.preprocessing.image.load_img(os.path.join(directory, "Cat", "0.png"), target_size=image_size)
    img_array = keras.preprocessing.image.img_to_array(img)
    assert img_array.shape == (32, 32, 3) and str(img_array.dtype) == "float32"


def test_keras_preprocessing_image_dataset_from_directory(tmp_path):
    # the example's `tf.keras.preprocessing.image_dataset_from_directory`; Keras 3 keeps this spelling too
    directory = write_pet_images(tmp_path, per_class=4)
    train_ds, val_ds = keras.preprocessing.image_dataset_from_directory(
        directory, validation_split=0.25, subset="both", seed=1337, image_size=image_size, batch_size=2)
    assert len(train_ds) == 3 and len(val_ds) == 1
