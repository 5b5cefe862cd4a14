"""The Keras beginner tutorial runs verbatim once its imports point at gradflow."""
import re

import numpy as np

KERAS_SCRIPT = '''
import numpy as np
from random import randint, seed
from sklearn.utils import shuffle
from sklearn.preprocessing import MinMaxScaler
from tensorflow.keras.models import Sequential
from tensorflow.keras.layers import Dense
from tensorflow.keras.optimizers import Adam

seed(0)
train_samples, train_labels = [], []
for i in range(60):
    # lighter for their height
    train_samples.append([randint(45, 75), randint(165, 200)])
    train_labels.append(0)
    # heavier for their height
    train_samples.append([randint(85, 130), randint(150, 180)])
    train_labels.append(1)
train_labels = np.array(train_labels)
train_samples = np.array(train_samples)
train_labels, train_samples = shuffle(train_labels, train_samples, random_state=0)
scaler = MinMaxScaler(feature_range=(0, 1))
scaled_train_samples = scaler.fit_transform(train_samples)

model = Sequential([
    Dense(units=16, input_shape=(2,), activation='relu'),
    Dense(units=32, activation='relu'),
    Dense(units=2, activation='softmax')
])
model.summary()
model.compile(optimizer=Adam(learning_rate=0.0001), loss='sparse_categorical_crossentropy', metrics=['accuracy'])
model.fit(x=scaled_train_samples, y=train_labels, batch_size=3, epochs=10, shuffle=True, verbose=2)
history = model.fit(x=scaled_train_samples, y=train_labels, validation_split=0.1, batch_size=10, epochs=3,
                    shuffle=True, verbose=2)

test_samples = np.array([[60, 190], [120, 160], [70, 170], [100, 175]])
scaled_test_samples = scaler.transform(test_samples)
predictions = model.predict(x=scaled_test_samples, batch_size=10, verbose=0)
rounded_predictions = np.argmax(predictions, axis=-1)
'''

EPOCH = re.compile(r"^Epoch (\d+)/(\d+)$")
LINE = re.compile(r"^(\d+)/(\d+) - \d+s - \d+(?:s|ms|us)/step - loss: \d+\.\d{4} - accuracy: \d\.\d{4}"
                  r"(?: - val_loss: \d+\.\d{4} - val_accuracy: \d\.\d{4})?$")


def swap_imports(script: str) -> str:
    return script.replace("tensorflow.keras", "gradflow")


def test_keras_tutorial_runs_verbatim(capsys):
    namespace = {}
    exec(compile(swap_imports(KERAS_SCRIPT), "tutorial.py", "exec"), namespace)
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == 'Model: "sequential"'
    assert " Total params: 658 (2.57 KB)" in lines
    epochs = [i for i, line in enumerate(lines) if EPOCH.match(line)]
    assert len(epochs) == 13
    for i in epochs:  # every "Epoch k/n" is followed by exactly one summary line (verbose=2)
        assert LINE.match(lines[i + 1]), lines[i + 1]
    first = LINE.match(lines[epochs[0] + 1])
    assert first.group(1) == first.group(2) == "40"  # 120 samples in batches of 3
    last = lines[epochs[-1] + 1]
    assert "val_loss" in last and last.startswith("11/11 - ")  # 108 training samples in batches of 10
    assert [EPOCH.match(lines[i]).groups() for i in epochs[:2]] == [("1", "10"), ("2", "10")]

    predictions = namespace["predictions"]
    assert isinstance(predictions, np.ndarray) and predictions.shape == (4, 2)
    np.testing.assert_allclose(predictions.sum(axis=1), 1.0, rtol=1e-5)
    assert namespace["rounded_predictions"].shape == (4,)
    history = namespace["history"]
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == [0, 1, 2]
