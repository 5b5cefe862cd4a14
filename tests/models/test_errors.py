"""Bad use gets a clear error naming expected vs actual, and a failed call changes no weights."""
import numpy as np
import pytest

from gradflow.layers import Dense
from gradflow.models import NotCompiledError, Sequential

X = np.random.default_rng(0).normal(size=(10, 2)).astype(np.float32)
Y = (X[:, 0] > 0).astype(np.int64)


def compiled(mk, loss="sparse_categorical_crossentropy", **kw):
    model = mk.mlp()
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"], **kw)
    return model


def test_fit_before_compile(mk):
    model = mk.mlp()
    for call in (lambda: model.fit(X, Y, verbose=0), lambda: model.evaluate(X, Y, verbose=0),
                 lambda: model.train_on_batch(X, Y), lambda: model.test_on_batch(X, Y)):
        with pytest.raises(NotCompiledError, match=r"must call compile\(\) before"):
            call()
    assert issubclass(NotCompiledError, RuntimeError) and issubclass(NotCompiledError, ValueError)
    assert model.predict(X, verbose=0).shape == (10, 2)  # predict needs no compile, as in Keras


def test_compile_without_loss_then_fit(mk):
    model = mk.mlp()
    model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="without a loss"):
        model.fit(X, Y, verbose=0)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(optimizer="adamm", loss="mse"), ValueError, "unknown optimizer 'adamm'"),
    (dict(optimizer="adam", loss="mean_squared_eror"), ValueError, "unknown loss"),
    (dict(optimizer="adam", loss="mse", metrics=["acuracy"]), ValueError, "unknown metric"),
    (dict(optimizer="adam", loss="mse", loss_weights=[1.0, 2.0]), ValueError, "one loss weight"),
])
def test_compile_errors(mk, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        mk.mlp().compile(**kwargs)


BAD_FIT = [
    (dict(x=X, y=Y[:9]), ValueError, r"same number of samples; got 10 in x and 9 in y"),
    (dict(x=X, y=np.where(Y == 1, 2, 0)), ValueError, r"class ids in \[0, 2\).*got label 2"),
    (dict(x=X, y=Y - 1), ValueError, r"class ids in \[0, 2\).*got label -1"),
    (dict(x=X, y=Y + 0.5), ValueError, "whole numbers"),
    (dict(x=X, y=np.eye(2, dtype=np.float32)[Y]), ValueError, "one-hot targets\\?"),
    (dict(x=X, y=Y, batch_size=0), ValueError, "batch_size must be >= 1, got 0"),
    (dict(x=X, y=Y, batch_size=-3), ValueError, "batch_size must be >= 1"),
    (dict(x=X, y=Y, batch_size=2.5), TypeError, "batch_size must be a positive int"),
    (dict(x=X, y=Y, validation_split=1.0), ValueError, r"validation_split must be a float in \[0, 1\)"),
    (dict(x=X, y=Y, validation_split=-0.1), ValueError, r"validation_split must be a float in \[0, 1\)"),
    (dict(x=X, y=Y, validation_split=0.95), ValueError, "leaves 0 for training and 10 for validation"),
    (dict(x=X[:0], y=Y[:0]), ValueError, r"x is empty \(shape \(0, 2\)\)"),
    (dict(x=X.astype(object), y=Y), TypeError, "x must hold numbers.*objects"),
    (dict(x=X, y=Y.astype(str)), TypeError, "y must hold numbers.*strings"),
    (dict(x=[[1.0, 2.0], [3.0]], y=[0, 1]), ValueError, "could not turn the data into an array"),
    (dict(x=np.ones((10, 3), np.float32), y=Y), ValueError,
     r'layer "sequential" is incompatible.*expected shape=\(None, 2\), found shape=\(10, 3\)'),
    (dict(x=X, y=Y, epochs=-1), ValueError, "epochs must be an int >= 0"),
    (dict(x=X, y=Y, verbose=3), ValueError, "verbose must be"),
    (dict(x=X, y=Y, shuffle="yes"), ValueError, "shuffle must be"),
    (dict(x=X, y=Y, sample_weight=np.ones(4)), ValueError, "one entry per sample; got 4 for 10 samples"),
    (dict(x=X, y=Y, class_weight={"a": 1.0}), ValueError, "keys must be class ids"),
    (dict(x=X, y=Y, validation_data=(X,)), ValueError, "validation_data must be a tuple"),
    (dict(x=X, y=Y, validation_data=(X, Y[:3])), ValueError, "same number of samples"),
    (dict(x=X, y=Y, validation_data=(X, Y + 5)), ValueError, "validation_data.*got label 6"),
    (dict(x=X), ValueError, "targets are missing"),
    (dict(x=None, y=Y), ValueError, "x is required"),
    (dict(x=iter([(X, Y)]), y=Y), ValueError, "y must not be given"),
    (dict(x=X, y=Y, validation_freq=0), ValueError, "validation_freq must be an int >= 1"),
    (dict(x=X, y=Y, steps_per_epoch=0), ValueError, "steps_per_epoch must be >= 1"),
]


@pytest.mark.parametrize("kwargs, exc, match", BAD_FIT, ids=[m[:30] for _, _, m in BAD_FIT])
def test_bad_fit_calls_change_nothing(mk, kwargs, exc, match):
    model = compiled(mk)
    before = model.get_weights()
    with pytest.raises(exc, match=match):
        model.fit(**{"verbose": 0, **kwargs})
    assert mk.weights_equal(model.get_weights(), before)
    assert model.optimizer.iterations == 0


def test_categorical_targets_checked(mk):
    model = compiled(mk, loss="categorical_crossentropy")
    before = model.get_weights()
    with pytest.raises(ValueError, match="one-hot targets have width 3 but the model has 2 outputs"):
        model.fit(X, np.eye(3, dtype=np.float32)[Y], verbose=0)
    with pytest.raises(ValueError, match="integer class ids\\? use loss='sparse_categorical_crossentropy'"):
        model.fit(X, Y, verbose=0)
    assert mk.weights_equal(model.get_weights(), before)


def test_elementwise_loss_shape_checked(mk):
    model = compiled(mk, loss="mse")
    with pytest.raises(ValueError, match=r"targets must have shape \(N, 2\).*got \(10, 3\)"):
        model.fit(X, np.ones((10, 3), np.float32), verbose=0)


def test_evaluate_and_predict_errors(mk):
    model = compiled(mk)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 2\), found shape=\(10, 5\)"):
        model.predict(np.ones((10, 5), np.float32), verbose=0)
    with pytest.raises(ValueError, match=r"expected shape=\(None, 2\), found shape=\(4, 1\)"):
        model.evaluate(np.ones((4, 1), np.float32), Y[:4], verbose=0)
    with pytest.raises(ValueError, match="empty"):
        model.predict(np.ones((0, 2), np.float32), verbose=0)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        model.predict(X, batch_size=0, verbose=0)
    with pytest.raises(ValueError, match="train_on_batch: y: .*got label 8"):
        model.train_on_batch(X, Y + 7)


def test_unbuilt_model_errors():
    model = Sequential([Dense(3)])  # summary() of an unbuilt model prints what it can (Keras 3)
    with pytest.raises(ValueError, match="not built"):
        model.count_params()
    with pytest.raises(ValueError, match="not built"):
        model.save_weights("unused.safetensors")


def test_string_labels_and_a_dense_on_images_get_the_right_advice():
    import gradflow as keras

    m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(TypeError, match=r"class names must become integer class ids.*np.unique\(y, return_inverse"):
        m.fit(np.ones((4, 3), "float32"), np.array(["cat", "dog", "cat", "dog"]), verbose=0)
    images = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Dense(10, activation="softmax")])
    images.compile("adam", "sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=r"keeps the input's axes \(8, 8\).*put a Flatten\(\)"):
        images.fit(np.ones((4, 8, 8, 1), "float32"), np.array([1, 2, 3, 4]), verbose=0)
