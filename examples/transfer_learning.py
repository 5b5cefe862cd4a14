"""Transfer learning: train on digits 0-4, freeze the convolutional base, fine-tune a new head on 5-9.

    python examples/transfer_learning.py
    python examples/transfer_learning.py --plot curves.png   # also write both stages' training curves
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_images, parser, save_curves, setup  # noqa: E402


def main(argv=None):
    args = parser(__doc__, datasets=("digits", "mnist"), epochs=8, batch_size=32).parse_args(argv)
    setup(args)
    from gradflow.layers import Conv2D, Dense, Flatten, MaxPooling2D
    from gradflow.models import Sequential

    (xtr, ytr), (xte, yte) = load_images(args.dataset, args.data_dir, limit=args.limit)
    low_tr, low_te = ytr < 5, yte < 5
    pad = "same" if xtr.shape[1] < 16 else "valid"

    base = [Conv2D(32, 3, activation="relu", padding=pad, input_shape=xtr.shape[1:]), MaxPooling2D(2),
            Conv2D(64, 3, activation="relu", padding=pad), MaxPooling2D(2), Flatten()]
    first = Sequential(base + [Dense(5, activation="softmax")])
    first.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h1 = first.fit(xtr[low_tr], ytr[low_tr], batch_size=args.batch_size, epochs=args.epochs,
                   validation_data=(xte[low_te], yte[low_te]), verbose=args.verbose)
    acc_a = first.evaluate(xte[low_te], yte[low_te], verbose=0)[1]
    print(f"digits 0-4: test accuracy {acc_a:.4f}")

    for layer in base:
        layer.trainable = False
    frozen = [w.copy() for layer in base for w in layer.get_weights()]
    second = Sequential(base + [Dense(5, activation="softmax", name="head_5_9")])
    second.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    n_train = sum(int(np.prod(w.shape)) for w in second.trainable_weights)
    n_frozen = sum(int(np.prod(w.shape)) for w in second.non_trainable_weights)
    print(f"fine-tuning: trainable params {n_train:,}, non-trainable params {n_frozen:,}")
    h2 = second.fit(xtr[~low_tr], ytr[~low_tr] - 5, batch_size=args.batch_size, epochs=args.epochs,
                    validation_data=(xte[~low_te], yte[~low_te] - 5), verbose=args.verbose)
    acc_b = second.evaluate(xte[~low_te], yte[~low_te] - 5, verbose=0)[1]
    unchanged = all(np.array_equal(a, b) for a, b in zip(frozen, [w for layer in base for w in layer.get_weights()]))
    print(f"digits 5-9 (frozen base, new head): test accuracy {acc_b:.4f}")
    print(f"convolutional base unchanged by fine-tuning: {unchanged}")
    # one panel per stage and metric: "0-4 loss" (training the base), "5-9 loss" (the new head), ...
    curves = {}
    for stage, h in (("0-4", h1.history), ("5-9", h2.history)):
        for key, values in h.items():
            val = key.startswith("val_")
            curves[("val_" if val else "") + f"{stage} {key[4:] if val else key}"] = values
    save_curves(curves, args.plot, title="transfer learning: base on 0-4, frozen base + new head on 5-9")
    return acc_a, acc_b, n_train, n_frozen, unchanged


if __name__ == "__main__":
    main()
