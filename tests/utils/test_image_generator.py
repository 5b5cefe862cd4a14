"""ImageDataGenerator.flow: batch counts, epochs, reproducibility and each augmentation."""
import numpy as np
import pytest

from gradflow.utils import ImageDataGenerator, set_random_seed
from gradflow.utils.image_generator import _draw_shift, _shift_spec


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (10, 6, 6, 3)).astype(np.uint8), np.arange(10)


def test_batch_counts_and_last_partial_batch(data):
    x, y = data
    it = ImageDataGenerator().flow(x, y, batch_size=4, seed=0)
    assert len(it) == 3
    sizes = [len(it[i][0]) for i in range(len(it))]
    assert sizes == [4, 4, 2]
    assert it[-1][0].shape == (2, 6, 6, 3)
    with pytest.raises(IndexError, match="batch index 3 out of range for 3 batches"):
        it[3]
    assert len(ImageDataGenerator().flow(x, y, batch_size=5)) == 2
    assert len(ImageDataGenerator().flow(x, y, batch_size=64)) == 1


def test_epoch_covers_every_sample_once_and_reshuffles(data):
    x, y = data
    it = ImageDataGenerator().flow(x, y, batch_size=3, seed=1)
    epoch0 = np.concatenate([yb for _, yb in it])  # iterating runs one epoch then on_epoch_end()
    assert sorted(epoch0) == list(range(10)) and it.epoch == 1
    epoch1 = np.concatenate([it[i][1] for i in range(len(it))])
    assert sorted(epoch1) == list(range(10)) and not np.array_equal(epoch0, epoch1)
    xb, yb = it[0]
    np.testing.assert_array_equal(xb, x[yb].astype(np.float32))  # no augmentation: rows follow labels


def test_no_shuffle_keeps_order_and_float32(data):
    x, y = data
    xb, yb = ImageDataGenerator().flow(x, y, batch_size=4, shuffle=False)[1]
    np.testing.assert_array_equal(yb, [4, 5, 6, 7])
    assert xb.dtype == np.float32


def test_getitem_is_repeatable_and_seeded(data):
    x, y = data
    gen = ImageDataGenerator(rotation_range=30, zoom_range=0.2, width_shift_range=0.1, horizontal_flip=True)
    a = gen.flow(x, y, batch_size=4, seed=5)
    b = gen.flow(x, y, batch_size=4, seed=5)
    np.testing.assert_array_equal(a[1][0], a[1][0])
    np.testing.assert_array_equal(a[1][0], b[1][0])
    first = a[1][0]
    a.on_epoch_end()
    assert not np.array_equal(a[1][0], first)
    assert not np.array_equal(gen.flow(x, y, batch_size=4, seed=6)[1][0], first)


def test_unseeded_flow_follows_set_random_seed(data):
    x, y = data
    gen = ImageDataGenerator(rotation_range=45)
    set_random_seed(3)
    a = gen.flow(x, y)[0]
    set_random_seed(3)
    b = gen.flow(x, y)[0]
    np.testing.assert_array_equal(a[0], b[0])


def test_next_cycles_like_keras(data):
    x, y = data
    it = ImageDataGenerator().flow(x, y, batch_size=4, seed=0)
    sizes = [len(next(it)[1]) for _ in range(7)]
    assert sizes == [4, 4, 2, 4, 4, 2, 4] and it.epoch == 2


def test_y_none_and_sample_weight(data):
    x, y = data
    xb = ImageDataGenerator().flow(x, batch_size=4)[0]
    assert isinstance(xb, np.ndarray) and xb.shape == (4, 6, 6, 3)
    xb, yb, wb = ImageDataGenerator().flow(x, y, batch_size=4, sample_weight=y * 2.0, seed=0)[0]
    np.testing.assert_array_equal(wb, yb * 2.0)


def test_rescale_and_preprocessing_function(data):
    x, y = data
    gen = ImageDataGenerator(rescale=1 / 255, preprocessing_function=lambda img: img + 1)
    xb, yb = gen.flow(x, y, batch_size=10, shuffle=False)[0]
    np.testing.assert_allclose(xb, (x.astype(np.float32) + 1) / 255, rtol=1e-6)


def test_flip_only_gives_original_or_mirror(data):
    x, y = data
    xb, yb = ImageDataGenerator(horizontal_flip=True).flow(x, y, batch_size=10, seed=2)[0]
    flipped = 0
    for img, label in zip(xb, yb):
        src = x[label].astype(np.float32)
        assert np.array_equal(img, src) or np.array_equal(img, src[:, ::-1])
        flipped += not np.array_equal(img, src)
    assert 0 < flipped < 10


def test_integer_width_shift_with_wrap_is_a_roll(data):
    x, y = data
    gen = ImageDataGenerator(width_shift_range=2, fill_mode="wrap")
    xb, yb = gen.flow(x, y, batch_size=10, seed=3)[0]
    for img, label in zip(xb, yb):
        src = x[label].astype(np.float32)
        assert any(np.array_equal(img, np.roll(src, k, axis=1)) for k in (-1, 0, 1))


def test_shift_specs():
    rng = np.random.default_rng(0)
    assert _shift_spec(0, "w") is None and _shift_spec(0.0, "w") is None
    np.testing.assert_array_equal(_shift_spec(2, "w"), [-1, 0, 1])
    fraction = _draw_shift(_shift_spec(0.25, "w"), rng, 1000, 8)
    assert fraction.min() >= -2 and fraction.max() <= 2 and fraction.std() > 0.5
    pixels = _draw_shift(_shift_spec(3.0, "w"), rng, 1000, 100)
    assert pixels.min() >= -3 and pixels.max() <= 3 and pixels.max() > 2
    assert set(_draw_shift(_shift_spec([-4, 4], "w"), rng, 50, 100)) == {-4.0, 4.0}


def test_all_augmentations_together(data):
    x, y = data
    gen = ImageDataGenerator(rotation_range=20, width_shift_range=0.2, height_shift_range=0.2, zoom_range=0.2,
                             shear_range=10, channel_shift_range=20, horizontal_flip=True, vertical_flip=True,
                             brightness_range=(0.7, 1.3), fill_mode="reflect", rescale=1 / 255, seed=0)
    xb, yb = gen.flow(x, y, batch_size=8)[0]
    assert xb.shape == (8, 6, 6, 3) and xb.dtype == np.float32 and np.all(np.isfinite(xb))
    single = gen.random_transform(x[0].astype(np.float32), seed=1)
    assert single.shape == (6, 6, 3)


def test_errors(data):
    x, y = data
    gen = ImageDataGenerator()
    with pytest.raises(ValueError, match="expected y with 10 rows"):
        gen.flow(x, y[:3])
    with pytest.raises(ValueError, match="expected an NHWC batch of rank 4, got shape"):
        gen.flow(x[..., 0], y)
    with pytest.raises(ValueError, match="expected batch_size to be a positive int, got 0"):
        gen.flow(x, y, batch_size=0)
    with pytest.raises(ValueError, match="fill_mode expected one of"):
        ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="brightness_range expected a"):
        ImageDataGenerator(brightness_range=0.2)
    with pytest.raises(ValueError, match="zoom_range expected factors > 0"):
        ImageDataGenerator(zoom_range=1.5)
