"""keras.utils: PyDataset in fit, image files (Pillow) and image_dataset_from_directory, plot_model's
clear error without Graphviz."""
import shutil

import numpy as np
import pytest

import gradflow as keras


class Squares(keras.utils.PyDataset):
    def __init__(self, n=64, batch_size=16, **kwargs):
        super().__init__(**kwargs)
        rng = np.random.default_rng(0)
        self.x = rng.normal(size=(n, 3)).astype("float32")
        self.y = (self.x ** 2).sum(axis=1, keepdims=True)
        self.batch_size = batch_size
        self.epochs_ended = 0

    def __len__(self):
        return len(self.x) // self.batch_size

    def __getitem__(self, i):
        sl = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[sl], self.y[sl]

    def on_epoch_end(self):
        self.epochs_ended += 1


def test_pydataset_trains_and_reports_epoch_ends():
    data = Squares(workers=2, use_multiprocessing=False)
    assert data.workers == 2 and data.num_batches == 4
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(16, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    history = model.fit(data, epochs=3, verbose=0)
    assert len(history.history["loss"]) == 3 and data.epochs_ended == 3
    assert model.evaluate(Squares(), verbose=0) > 0
    assert model.predict(Squares(), verbose=0).shape == (64, 1)


def _write_images(root, classes=("cats", "dogs"), per_class=5):
    PIL = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.full((12, 10, 3), 40 + 150 * k, np.uint8) + rng.integers(0, 20, (12, 10, 3)).astype(np.uint8)
            PIL.fromarray(pixels).save(root / name / f"{i}.png")


def test_image_files_and_dataset_from_directory(tmp_path):
    _write_images(tmp_path / "data")
    img = keras.utils.load_img(tmp_path / "data" / "dogs" / "0.png", target_size=(6, 5))
    arr = keras.utils.img_to_array(img)
    assert arr.shape == (6, 5, 3) and arr.dtype == np.float32 and arr.mean() > 150
    keras.utils.save_img(tmp_path / "copy.png", arr, scale=False)
    np.testing.assert_array_equal(keras.utils.img_to_array(keras.utils.load_img(tmp_path / "copy.png")), arr)
    train, val = keras.utils.image_dataset_from_directory(
        tmp_path / "data", image_size=(8, 8), batch_size=4, validation_split=0.2, subset="both", seed=1,
        verbose=False)
    assert train.class_names == ["cats", "dogs"] and len(train.paths) == 8 and len(val.paths) == 2
    assert not set(train.paths) & set(val.paths)
    images, labels = train[0]
    assert images.shape == (4, 8, 8, 3) and labels.dtype == np.int64
    # the label matches the folder: dogs are bright
    assert all((im.mean() > 150) == bool(lab) for im, lab in zip(images, labels))
    model = keras.Sequential([keras.Input(shape=(8, 8, 3)), keras.layers.Rescaling(1 / 255.0),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(0.1), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=25, verbose=0)
    assert history.history["accuracy"][-1] == 1.0 and history.history["val_accuracy"][-1] == 1.0
    cat = keras.utils.image_dataset_from_directory(tmp_path / "data", label_mode="categorical", image_size=(4, 4),
                                                   batch_size=3, verbose=False)
    assert cat[0][1].shape == (3, 2)
    with pytest.raises(ValueError, match="subset="):
        keras.utils.image_dataset_from_directory(tmp_path / "data", validation_split=0.2, verbose=False)


@pytest.mark.skipif(shutil.which("dot") is not None, reason="Graphviz is installed: plot_model works here")
def test_plot_model_without_graphviz_says_what_to_install(tmp_path):
    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Dense(2)])
    with pytest.raises(ImportError, match="Graphviz|pydot"):
        keras.utils.plot_model(model, to_file=tmp_path / "m.png")


def test_pad_sequences_follows_keras():
    seqs = [[1, 2, 3, 4], [5], []]
    np.testing.assert_array_equal(keras.utils.pad_sequences(seqs, maxlen=3),
                                  [[2, 3, 4], [0, 0, 5], [0, 0, 0]])
    np.testing.assert_array_equal(keras.preprocessing.sequence.pad_sequences(seqs, maxlen=2, padding="post",
                                                                             truncating="post", value=-1),
                                  [[1, 2], [5, -1], [-1, -1]])
    assert keras.utils.pad_sequences(seqs).shape == (3, 4)
