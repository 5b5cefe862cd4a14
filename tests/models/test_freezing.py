"""Freezing and transfer learning: frozen weights stay put through fit, reused layers share weights."""
import numpy as np

from gradflow.layers import BatchNormalization, Dense
from gradflow.models import Sequential
from gradflow.optimizers import SGD, Adam


def test_frozen_layer_is_unchanged_by_fit(mk):
    x, y = mk.people(24)
    model = mk.mlp()
    model.layers[0].trainable = False
    frozen = model.layers[0].get_weights()
    others = [w.copy() for l in model.layers[1:] for w in l.get_weights()]
    model.compile(optimizer=Adam(0.05), loss="sparse_categorical_crossentropy")
    model.fit(x, y, batch_size=6, epochs=3, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(model.layers[0].get_weights(), frozen))
    after = [w for l in model.layers[1:] for w in l.get_weights()]
    assert all(not np.array_equal(a, b) for a, b in zip(after, others))


def test_freezing_the_whole_model_changes_nothing(mk):
    x, y = mk.people(12)
    model = mk.mlp()
    model.compile(optimizer=SGD(0.5), loss="sparse_categorical_crossentropy")
    before = model.get_weights()
    model.trainable = False
    hist = model.fit(x, y, epochs=2, verbose=0)
    assert np.isfinite(hist.history["loss"][-1])
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))
    model.trainable = True  # unfreezing takes effect in the next fit
    model.fit(x, y, epochs=1, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(model.get_weights(), before))


def test_transfer_learning_reuses_a_frozen_base(mk):
    x, y = mk.people(30)
    first = mk.mlp()
    first.compile(optimizer=Adam(0.02), loss="sparse_categorical_crossentropy")
    first.fit(x, y, batch_size=5, epochs=2, verbose=0)
    base = first.layers[:2]
    for layer in base:
        layer.trainable = False
    kept = [w.copy() for l in base for w in l.get_weights()]
    second = Sequential(base + [Dense(3, activation="softmax", name="new_head")])
    second.compile(optimizer=Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    head_before = second.get_layer("new_head").get_weights()
    assert sum(w.size for w in second.trainable_weights) == 32 * 3 + 3
    assert sum(w.size for w in second.non_trainable_weights) == (2 * 16 + 16) + (16 * 32 + 32)
    second.fit(x, (y + x[:, 1].round().clip(0, 1)).astype(np.int64), batch_size=5, epochs=2, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip([w for l in base for w in l.get_weights()], kept))
    assert not np.array_equal(second.get_layer("new_head").get_weights()[0], head_before[0])
    # the first model sees the same (shared, unchanged) base
    np.testing.assert_array_equal(first.layers[0].kernel.numpy(), base[0].kernel.numpy())


def test_batch_norm_statistics_update_in_fit_only(mk):
    x, y = mk.people(32)
    x = x * 3 + 5  # far from the initial moving statistics (0, 1)
    model = Sequential([BatchNormalization(input_shape=(2,)), Dense(8, activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer=SGD(0.01), loss="sparse_categorical_crossentropy")
    bn = model.layers[0]
    assert [w.name for w in model.non_trainable_weights] == [bn.moving_mean.name, bn.moving_variance.name]
    model.predict(x, verbose=0)
    model.evaluate(x, y, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), 0.0)  # inference leaves them alone
    model.fit(x, y, batch_size=8, epochs=3, verbose=0)
    mean = bn.moving_mean.numpy()
    assert np.all(mean > 0.1) and np.all(mean < x.mean(0))
    # inference uses the moving statistics: a single sample gives the same output alone or in a batch
    np.testing.assert_allclose(model.predict(x[:1], verbose=0), model.predict(x, verbose=0)[:1], rtol=1e-5)
    bn.trainable = False  # a frozen BN layer keeps its statistics (Keras 3) even in training
    frozen_mean = bn.moving_mean.numpy().copy()
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), frozen_mean)
