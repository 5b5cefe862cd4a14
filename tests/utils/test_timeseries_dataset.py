"""``utils.timeseries_dataset_from_array`` (Keras 3 semantics; Keras builds it on tf.data or grain, neither of
which is installed here, so the windows are checked against its documented examples and its rules, and
training on the dataset is compared with Keras trained on the same windows as arrays)."""
import numpy as np
import pytest

import gradflow as gf
from gradflow.utils import timeseries_dataset_from_array


def test_documented_example_1_windows():
    ds = timeseries_dataset_from_array(np.arange(99), None, sequence_length=10, sampling_rate=2,
                                       sequence_stride=3, batch_size=128)
    (batch,) = list(ds)
    np.testing.assert_array_equal(batch[0], np.arange(0, 20, 2))
    np.testing.assert_array_equal(batch[1], np.arange(3, 23, 2))
    np.testing.assert_array_equal(batch[2], np.arange(6, 26, 2))
    np.testing.assert_array_equal(batch[-1], np.arange(78, 98, 2))


def test_documented_example_2_targets():
    data = np.arange(200.0)
    ds = timeseries_dataset_from_array(data[:-10], data[10:], sequence_length=10, batch_size=32)
    inputs, targets = next(iter(ds))
    np.testing.assert_array_equal(inputs[0], data[:10])
    assert targets[0] == data[10]
    assert len(ds) == -(-181 // 32) and sum(len(b[0]) for b in ds) == 181


def test_documented_example_3_many_to_many():
    x = np.arange(100)
    y = x * 2
    inputs = timeseries_dataset_from_array(x, None, sequence_length=20, sequence_stride=20)
    outputs = timeseries_dataset_from_array(y, None, sequence_length=20, sequence_stride=20)
    for a, b in zip(inputs, outputs):
        np.testing.assert_array_equal(a[0], x[:20])
        np.testing.assert_array_equal(b[1], y[20:40])


def test_start_end_index_unbatched_and_multivariate():
    data = np.arange(60.0).reshape(30, 2)
    ds = timeseries_dataset_from_array(data, np.arange(30), sequence_length=4, start_index=5, end_index=20,
                                       batch_size=None)
    windows = list(ds)
    assert len(windows) == 12  # starts 5..16: the last window ends at step 19
    x0, t0 = windows[0]
    np.testing.assert_array_equal(x0, data[5:9])
    assert t0 == 5
    np.testing.assert_array_equal(windows[-1][0], data[16:20])


def test_shuffle_is_seeded_and_keeps_pairs():
    data = np.arange(50)
    a = timeseries_dataset_from_array(data, data, sequence_length=3, shuffle=True, seed=7, batch_size=8)
    b = timeseries_dataset_from_array(data, data, sequence_length=3, shuffle=True, seed=7, batch_size=8)
    xa = np.concatenate([x for x, _ in a])
    np.testing.assert_array_equal(xa, np.concatenate([x for x, _ in b]))
    assert not np.array_equal(xa[:, 0], np.arange(48))
    for x, t in a:
        np.testing.assert_array_equal(x[:, 0], t)


@pytest.mark.parametrize("kwargs, match", [
    (dict(start_index=-1), "start_index"), (dict(end_index=50), "end_index"),
    (dict(start_index=5, end_index=3), "higher than `start_index`"), (dict(sampling_rate=0), "sampling_rate"),
    (dict(sequence_stride=40), "sequence_stride"), (dict(format="torch"), "format"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        timeseries_dataset_from_array(np.arange(40), None, sequence_length=3, **kwargs)


def test_fit_on_the_dataset_matches_keras_on_the_same_windows(real_keras):
    rng = np.random.default_rng(0)
    series = rng.normal(size=(80, 3)).astype(np.float32)
    target = rng.normal(size=(80, 1)).astype(np.float32)
    ds = timeseries_dataset_from_array(series, target, sequence_length=6, sequence_stride=2, batch_size=8)
    x = np.concatenate([b[0] for b in ds])
    y = np.concatenate([b[1] for b in ds])
    out = []
    weights = None
    for lib in (real_keras, gf):
        model = lib.Sequential([lib.Input((6, 3)), lib.layers.LSTM(4), lib.layers.Dense(1)])
        model.compile(optimizer=lib.optimizers.SGD(0.05), loss="mse")
        if weights is None:
            weights = model.get_weights()
        else:
            model.set_weights(weights)
        if lib is gf:  # fit's shuffle=True leaves the dataset's order alone, as with Keras's tf.data
            out.append(model.fit(ds, epochs=2, verbose=0).history["loss"])
        else:
            out.append(model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False).history["loss"])
    np.testing.assert_allclose(out[1], out[0], rtol=1e-5)
