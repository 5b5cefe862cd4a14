"""A CIFAR-style CNN with batch norm and augmentation (digits upsampled to 32x32x3 by default).

    python examples/cifar10_cnn.py                     # runs anywhere, no download
    python examples/cifar10_cnn.py --dataset cifar10 --data-dir ~/data/cifar10 --epochs 20 --backend cupy
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, load_images, parser, setup  # noqa: E402


def build_model(input_shape, num_classes=10, augment=True):
    from gradflow.layers import (Activation, BatchNormalization, Conv2D, Dense, Flatten, MaxPooling2D,
                                 RandomFlip, RandomTranslation)
    from gradflow.models import Sequential

    layers = []
    if augment:
        layers += [RandomTranslation(0.1, 0.1, input_shape=input_shape)]
        if input_shape[-1] == 3:
            layers += [RandomFlip("horizontal")]
    for i, filters in enumerate((32, 64, 128)):
        extra = {"input_shape": input_shape} if (i == 0 and not augment) else {}
        layers += [Conv2D(filters, 3, padding="same", **extra), BatchNormalization(), Activation("relu"),
                   MaxPooling2D(2)]
    layers += [Flatten(), Dense(num_classes, activation="softmax")]
    return Sequential(layers)


def main(argv=None):
    args = parser(__doc__.splitlines()[0], datasets=("digits", "cifar10"), epochs=8, batch_size=64).parse_args(argv)
    setup(args)
    from gradflow.optimizers import SGD

    (x_train, y_train), (x_test, y_test) = load_images(args.dataset, args.data_dir, channels=3, size=32)
    if args.limit:
        x_train, y_train = x_train[: args.limit], y_train[: args.limit]
    print(f"{args.dataset}: {len(x_train)} training images of shape {x_train.shape[1:]}")
    model = build_model(x_train.shape[1:], augment=args.dataset == "cifar10" or args.epochs > 3)
    model.compile(optimizer=SGD(learning_rate=0.05, momentum=0.9), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.summary()
    with Timer() as t:
        model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                  validation_data=(x_test, y_test), verbose=args.verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"trained in {t.seconds:.1f} s")
    print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
    return acc


if __name__ == "__main__":
    main()
