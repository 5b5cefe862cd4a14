"""Train a small CNN on handwritten digits (bundled by default; MNIST with --dataset mnist).

    python examples/mnist_cnn.py                      # digits 8x8, no download, < 1 min on a laptop CPU
    python examples/mnist_cnn.py --plot curves.png    # also write the training curves
    python examples/mnist_cnn.py --dataset mnist --data-dir ~/data/mnist --epochs 5
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, load_images, parser, save_curves, setup  # noqa: E402


def build_model(input_shape, num_classes=10):
    from gradflow.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
    from gradflow.models import Sequential

    small = input_shape[0] < 16  # 8x8 digits: pad so two pooling steps still fit
    pad = "same" if small else "valid"
    return Sequential([
        Conv2D(32, (3, 3), activation="relu", padding=pad, input_shape=input_shape),
        MaxPooling2D((2, 2)),
        Conv2D(64, (3, 3), activation="relu", padding=pad),
        MaxPooling2D((2, 2)),
        Flatten(),
        Dropout(0.5 if not small else 0.25),
        Dense(num_classes, activation="softmax"),
    ])


def main(argv=None):
    args = parser(__doc__, datasets=("digits", "mnist", "fashion_mnist"), epochs=12,
                  batch_size=32).parse_args(argv)
    setup(args)
    from gradflow.optimizers import Adam

    (x_train, y_train), (x_test, y_test) = load_images(args.dataset, args.data_dir, limit=args.limit)
    print(f"{args.dataset}: {len(x_train)} training and {len(x_test)} test images of shape {x_train.shape[1:]}")

    model = build_model(x_train.shape[1:])
    model.compile(optimizer=Adam(learning_rate=3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    with Timer() as t:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, shuffle=True,
                            validation_data=(x_test, y_test), verbose=args.verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"trained in {t.seconds:.1f} s")
    print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
    save_curves(history, args.plot, title=f"mnist_cnn on {args.dataset}")
    return acc


if __name__ == "__main__":
    main()
