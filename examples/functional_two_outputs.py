"""The functional API with two outputs: one convolutional trunk, a digit-class head and an "is it even" head.

    python examples/functional_two_outputs.py --plot curves.png

``keras.Input`` -> shared conv layers -> two ``Dense`` heads, wired with ``keras.Model(inputs, outputs)``
where ``outputs`` is a dict, so ``compile`` takes losses, loss weights and metrics per output name
and ``fit`` takes the targets as a dict; the History has ``digit_loss``, ``even_accuracy``, ...
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, load_images, parser, save_curves, setup  # noqa: E402


def build_model(input_shape, num_classes=10):
    import gradflow as keras
    from gradflow.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    pad = "same" if input_shape[0] < 16 else "valid"
    image = keras.Input(shape=input_shape, name="image")
    x = Conv2D(32, 3, activation="relu", padding=pad)(image)
    x = MaxPooling2D(2)(x)
    x = Conv2D(64, 3, activation="relu", padding=pad)(x)
    x = MaxPooling2D(2)(x)
    x = Flatten()(x)
    x = Dropout(0.25)(x)
    digit = Dense(num_classes, activation="softmax", name="digit")(x)
    even = Dense(1, activation="sigmoid", name="even")(Dense(16, activation="relu")(x))
    return keras.Model(image, {"digit": digit, "even": even}, name="digit_and_parity")


def main(argv=None):
    args = parser(__doc__, datasets=("digits", "mnist", "fashion_mnist"), epochs=12,
                  batch_size=32).parse_args(argv)
    setup(args)
    from gradflow.optimizers import Adam

    (x_train, y_train), (x_test, y_test) = load_images(args.dataset, args.data_dir, limit=args.limit)
    targets = lambda y: {"digit": y, "even": (y % 2 == 0).astype(np.float32)[:, None]}  # noqa: E731
    model = build_model(x_train.shape[1:])
    model.compile(optimizer=Adam(learning_rate=3e-3),
                  loss={"digit": "sparse_categorical_crossentropy", "even": "binary_crossentropy"},
                  loss_weights={"digit": 1.0, "even": 0.5},
                  metrics={"digit": ["accuracy"], "even": ["accuracy"]})
    model.summary()
    with Timer() as t:
        history = model.fit(x_train, targets(y_train), batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                            validation_data=(x_test, targets(y_test)), verbose=args.verbose)
    print(f"trained in {t.seconds:.1f} s")
    pred = model.predict(x_test, batch_size=256, verbose=0)
    digit_acc = float(np.mean(pred["digit"].argmax(axis=1) == y_test))
    even_acc = float(np.mean((pred["even"][:, 0] > 0.5) == (y_test % 2 == 0)))
    agree = float(np.mean((pred["digit"].argmax(axis=1) % 2 == 0) == (pred["even"][:, 0] > 0.5)))
    print(f"test accuracy: digit {digit_acc:.4f}, even {even_acc:.4f}; the two heads agree on {agree:.1%} of digits")
    save_curves(history, args.plot, title="functional model: digit head + parity head")
    return digit_acc, even_acc


if __name__ == "__main__":
    main()
