"""Port of keras-io ``examples/vision/conv_lstm.py`` ("Next-Frame Video Prediction with Convolutional
LSTMs"): three ``ConvLSTM2D(return_sequences=True)`` layers with ``BatchNormalization`` and a ``Conv3D``
head on videos with any number of frames (``Input(shape=(None, h, w, 1))``), trained to predict each next
frame with ``EarlyStopping`` and ``ReduceLROnPlateau``, then rolled forward on its own predictions.

Only the imports change; the program is written once against a module ``k`` and runs on gradflow and on
real Keras 3 (torch backend). Substitutions: Moving MNIST (1,000 videos of 20 frames of 64 x 64) -> 40
synthetic videos of 10 frames of 16 x 16 (a bright 4 x 4 square moving at a constant speed and bouncing off
the borders); filters 64 -> 4; 20 epochs -> 2; the rollout: 10 known + 10 predicted frames -> 5 + 5; the
global ``np.random`` -> a seeded generator; the plots and GIFs -> shape checks.

Compared with Keras on the same weights: the histories (loss, val_loss, learning_rate) and the rolled-out
frames must be equal within float32 tolerance.
"""
import numpy as np

import gradflow as keras

from .conftest import IGNORE_TORCH_ARRAY_WARNING

pytestmark = IGNORE_TORCH_ARRAY_WARNING

frames_per_video, size, filters = 10, 16, 4  # the example: 20, 64, 64


def moving_squares(n, seed=0):
    rng = np.random.default_rng(seed)
    videos = np.zeros((n, frames_per_video, size, size), dtype="float32")
    for i in range(n):
        pos = rng.integers(0, size - 4, size=2).astype(float)
        vel = rng.choice([-2.0, -1.0, 1.0, 2.0], size=2)
        for t in range(frames_per_video):
            r, c = pos.astype(int)
            videos[i, t, r:r + 4, c:c + 4] = 255.0
            pos += vel
            for d in range(2):  # bounce off the borders
                if pos[d] < 0 or pos[d] > size - 4:
                    vel[d] = -vel[d]
                    pos[d] = np.clip(pos[d], 0, size - 4)
    return videos


def load_data():
    dataset = moving_squares(40)
    # Add a channel dimension since the images are grayscale.
    dataset = np.expand_dims(dataset, axis=-1)
    # Split into train and validation sets using indexing.
    indexes = np.arange(dataset.shape[0])
    np.random.default_rng(1).shuffle(indexes)
    train_index = indexes[: int(0.9 * dataset.shape[0])]
    val_index = indexes[int(0.9 * dataset.shape[0]):]
    train_dataset = dataset[train_index] / 255
    val_dataset = dataset[val_index] / 255
    return train_dataset, val_dataset


def create_shifted_frames(data):
    """``x`` is frames 0 to n - 1, and ``y`` is frames 1 to n."""
    x = data[:, 0: data.shape[1] - 1, :, :]
    y = data[:, 1: data.shape[1], :, :]
    return x, y


def build_model(k, frame_shape):
    layers = k.layers
    inp = layers.Input(shape=(None, *frame_shape))
    x = layers.ConvLSTM2D(filters=filters, kernel_size=(5, 5), padding="same", return_sequences=True,
                          activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(filters=filters, kernel_size=(3, 3), padding="same", return_sequences=True,
                          activation="relu")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ConvLSTM2D(filters=filters, kernel_size=(1, 1), padding="same", return_sequences=True,
                          activation="relu")(x)
    x = layers.Conv3D(filters=1, kernel_size=(3, 3, 3), activation="sigmoid", padding="same")(x)
    model = k.models.Model(inp, x)
    model.compile(loss=k.losses.binary_crossentropy, optimizer=k.optimizers.Adam())
    return model


def run_program(k, weights=None, shuffle=True):
    train_dataset, val_dataset = load_data()
    x_train, y_train = create_shifted_frames(train_dataset)
    x_val, y_val = create_shifted_frames(val_dataset)
    assert x_train.shape == (36, 9, size, size, 1) and y_val.shape == (4, 9, size, size, 1)

    model = build_model(k, x_train.shape[2:])
    if weights is not None:
        model.set_weights(weights)
    start = model.get_weights()
    early_stopping = k.callbacks.EarlyStopping(monitor="val_loss", patience=10)
    reduce_lr = k.callbacks.ReduceLROnPlateau(monitor="val_loss", patience=5)
    history = model.fit(x_train, y_train, batch_size=5, epochs=2, validation_data=(x_val, y_val),
                        callbacks=[early_stopping, reduce_lr], verbose=0, shuffle=shuffle)

    # Roll the model forward on its own predictions: 5 known frames, then 5 predicted ones.
    example = val_dataset[0]
    frames = example[:5, ...]
    for _ in range(5):
        new_prediction = model.predict(np.expand_dims(frames, axis=0), verbose=0)
        new_prediction = np.squeeze(new_prediction, axis=0)
        predicted_frame = np.expand_dims(new_prediction[-1, ...], axis=0)
        frames = np.concatenate((frames, predicted_frame), axis=0)
    assert frames.shape == (10, size, size, 1)
    return start, history.history, frames


def expected_params():
    def conv_lstm(cin, f, ks):
        return ks * ks * cin * 4 * f + ks * ks * f * 4 * f + 4 * f

    return (conv_lstm(1, filters, 5) + 4 * filters + conv_lstm(filters, filters, 3) + 4 * filters
            + conv_lstm(filters, filters, 1) + 27 * filters + 1)


def check(k):
    _, history, frames = run_program(k)
    assert {"loss", "val_loss"} <= set(history)
    assert history["loss"][1] < history["loss"][0]
    assert 0.0 <= frames.min() and frames.max() <= 1.0


def test_conv_lstm():
    model = build_model(keras, (size, size, 1))
    # ConvLSTM2D(4, 5x5) on 1 channel 25*1*16 + 25*4*16 + 16 = 2,016; BN 16; (3x3) on 4: 9*4*16*2 + 16 =
    # 1,168; BN 16; (1x1): 4*16*2 + 16 = 144; Conv3D 27*4 + 1 = 109 -> 3,469
    assert model.count_params() == expected_params() == 3469
    check(keras)


def test_the_program_runs_on_real_keras(real_keras):
    assert build_model(real_keras, (size, size, 1)).count_params() == 3469
    check(real_keras)


def test_same_as_keras(real_keras):
    start, hk, fk = run_program(real_keras, shuffle=False)
    _, hg, fg = run_program(keras, weights=start, shuffle=False)
    assert set(hg) == set(hk)
    for key in hk:
        np.testing.assert_allclose(hg[key], hk[key], rtol=2e-4, atol=1e-6, err_msg=key)
    np.testing.assert_allclose(fg, fk, atol=1e-4)
