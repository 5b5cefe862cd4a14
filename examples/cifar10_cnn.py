"""A CIFAR-style CNN with batch norm and augmentation (digits upsampled to 32x32x3 by default).

    python examples/cifar10_cnn.py                     # runs anywhere, no download: ~0.99 test accuracy, ~10 s
    python examples/cifar10_cnn.py --plot curves.png   # also write the training curves
    python examples/cifar10_cnn.py --dataset cifar10 --data-dir ~/data/cifar10 --epochs 30 --backend cupy

Configuration: Adam (learning rate 1e-3) and ``BatchNormalization(momentum=0.9)``. The default
data gives only 23 steps per epoch, and with batch norm's default momentum of 0.99 the moving
mean and variance (what inference uses) lag far behind the weights Adam keeps changing: test
accuracy then swings between 0.10 and 0.63 over 10 epochs while training accuracy climbs (SGD at
lr 0.05 with momentum 0.9 and momentum 0.99 gave 0.16). Momentum 0.9 makes the moving statistics
follow the last ~10 batches, which suits a few hundred steps. Digits get no random flips (a
mirrored 2 is no 2); CIFAR-10's photos do.

CIFAR-10 (``--dataset cifar10``, 50,000 images): untested here, since this machine cannot
download it. Expected, not measured: a network of this size (three conv/batch-norm/pool blocks,
114,634 parameters) usually ends near 0.75-0.80 test accuracy after about 30 epochs
(``--epochs 30``); on 2 CPU cores an epoch should take about 50,000 / 4,500 = 11 s plus
augmentation (from the CNN-B throughput in benchmarks/RESULTS.md, not measured on CIFAR).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import Timer, load_images, parser, save_curves, setup  # noqa: E402


def build_model(input_shape, num_classes=10, augment=True, bn_momentum=0.9):
    import gradflow as keras
    from gradflow.layers import (
        Activation,
        BatchNormalization,
        Conv2D,
        Dense,
        Flatten,
        MaxPooling2D,
        RandomFlip,
        RandomTranslation,
    )

    layers = [keras.Input(shape=input_shape)]
    if augment:
        layers += [RandomTranslation(0.1, 0.1)]
        if input_shape[-1] == 3 and augment == "flip":
            layers += [RandomFlip("horizontal")]
    for filters in (32, 64, 128):
        layers += [Conv2D(filters, 3, padding="same"), BatchNormalization(momentum=bn_momentum), Activation("relu"),
                   MaxPooling2D(2)]
    layers += [Flatten(), Dense(num_classes, activation="softmax")]
    return keras.Sequential(layers)


def main(argv=None):
    args = parser(__doc__, datasets=("digits", "cifar10"), epochs=10, batch_size=64).parse_args(argv)
    setup(args)
    from gradflow.optimizers import Adam

    (x_train, y_train), (x_test, y_test) = load_images(args.dataset, args.data_dir, channels=3, size=32,
                                                       limit=args.limit)
    print(f"{args.dataset}: {len(x_train)} training images of shape {x_train.shape[1:]}")
    augment = "flip" if args.dataset == "cifar10" else args.epochs > 3
    model = build_model(x_train.shape[1:], augment=augment)
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    with Timer() as t:
        history = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
                            validation_data=(x_test, y_test), verbose=args.verbose)
    loss, acc = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"trained in {t.seconds:.1f} s")
    print(f"test accuracy: {acc:.4f} (loss {loss:.4f})")
    save_curves(history, args.plot, title=f"cifar10_cnn on {args.dataset}")
    return acc


if __name__ == "__main__":
    main()
