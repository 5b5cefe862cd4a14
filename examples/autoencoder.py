"""A denoising convolutional autoencoder on digits; writes a PNG grid of noisy / clean / reconstructed.

    python examples/autoencoder.py --out autoencoder.png
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import load_images, parser, setup  # noqa: E402


def build_model(input_shape):
    from gradflow.layers import Conv2D, MaxPooling2D, UpSampling2D
    from gradflow.models import Sequential

    return Sequential([
        Conv2D(16, 3, activation="relu", padding="same", input_shape=input_shape),
        MaxPooling2D(2, padding="same"),
        Conv2D(8, 3, activation="relu", padding="same"),
        MaxPooling2D(2, padding="same"),
        Conv2D(8, 3, activation="relu", padding="same"),
        UpSampling2D(2),
        Conv2D(16, 3, activation="relu", padding="same"),
        UpSampling2D(2),
        Conv2D(input_shape[-1], 3, activation="sigmoid", padding="same"),
    ])


def save_grid(path, rows, titles):
    """Write rows of images (each [n, H, W, 1]) as one PNG (needs the `plot` extra)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = rows[0].shape[0]
    fig, axes = plt.subplots(len(rows), n, figsize=(n * 1.0, len(rows) * 1.1))
    for r, (imgs, title) in enumerate(zip(rows, titles)):
        for c in range(n):
            ax = axes[r, c]
            ax.imshow(imgs[c, ..., 0], cmap="gray", vmin=0, vmax=1)
            ax.axis("off")
        axes[r, 0].set_title(title, fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    p = parser(__doc__.splitlines()[0], datasets=("digits", "mnist", "fashion_mnist"), epochs=10, batch_size=32)
    p.add_argument("--noise", type=float, default=0.3, help="std of the Gaussian noise added to inputs")
    p.add_argument("--out", default="autoencoder.png", help="where to write the PNG grid")
    args = p.parse_args(argv)
    setup(args)
    (x_train, _), (x_test, _) = load_images(args.dataset, args.data_dir, size=8 if args.dataset == "digits" else 28)
    if args.limit:
        x_train = x_train[: args.limit]
    rng = np.random.default_rng(args.seed)
    noisy = lambda x: np.clip(x + args.noise * rng.standard_normal(x.shape).astype(np.float32), 0, 1)  # noqa: E731
    model = build_model(x_train.shape[1:])
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.summary()
    x_test_noisy = noisy(x_test)
    model.fit(noisy(x_train), x_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_test_noisy, x_test), verbose=args.verbose)
    recon = model.predict(x_test_noisy[:10], verbose=0)
    mse_noisy = float(np.mean((x_test_noisy - x_test) ** 2))
    mse_recon = float(np.mean((model.predict(x_test_noisy, verbose=0) - x_test) ** 2))
    print(f"mean squared error: noisy input {mse_noisy:.4f} -> reconstruction {mse_recon:.4f}")
    try:
        save_grid(args.out, [x_test_noisy[:10], x_test[:10], recon], ["noisy", "clean", "reconstructed"])
        print(f"wrote {args.out}")
    except ImportError:
        print('matplotlib is missing: pip install "gradflow[plot]" to write the PNG grid')
    return mse_noisy, mse_recon


if __name__ == "__main__":
    main()
