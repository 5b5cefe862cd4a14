"""Shared command-line options and data loading for the examples."""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np


def parser(doc: str, datasets=("digits", "mnist", "fashion_mnist", "cifar10"), epochs: int = 10,
           batch_size: int = 32) -> argparse.ArgumentParser:
    """The shared options; ``--help`` describes the script with the first paragraph of its docstring."""
    p = argparse.ArgumentParser(description=" ".join(doc.split("\n\n")[0].split()))
    p.add_argument("--epochs", type=int, default=epochs, help=f"training epochs (default {epochs})")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"mini-batch size (default {batch_size})")
    p.add_argument("--backend", default=None, choices=["auto", "numpy", "cupy", "reference"],
                   help="array backend (default: GRADFLOW_BACKEND or auto)")
    p.add_argument("--dataset", default=datasets[0], choices=list(datasets),
                   help=f"dataset (default {datasets[0]}: bundled, no download)")
    p.add_argument("--data-dir", default=None, help="directory holding the dataset files (default: GRADFLOW_DATA)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N training samples (quick runs)")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--verbose", type=int, default=2, choices=[0, 1, 2], help="fit verbosity (default 2)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="write the training curves (loss, metrics, validation) to this PNG, e.g. curves.png")
    p.add_argument("--distributed", action="store_true",
                   help="data-parallel over the processes of an MPI job: mpirun -n 2 python -m mpi4py "
                        "examples/<script>.py --distributed "
                        "(batch-size is the global batch; needs gradflow-keras[distributed])")
    return p


def save_curves(history, path, title=None, validation_label="test", labels=None) -> None:
    """--plot: the training curves through gradflow.utils.plot_history, saying where they went. The
    examples validate on their test split, so the ``val_`` curves are labelled "test"."""
    if not path:
        return
    from gradflow.distribution import distribution

    if distribution() is not None and not distribution().is_chief:
        return  # one file per job
    from gradflow.utils import plot_history

    try:
        written = plot_history(history, path, title=title, validation_label=validation_label, labels=labels)
    except ImportError:
        print('matplotlib is missing: pip install "gradflow-keras[plot]" to write the training curves')
        return
    print(f"wrote training curves to {written}")


def save_image_grid(path, panels, dpi=100) -> None:
    """Write panels side by side as one PNG: each panel is (title, images [n, H, W], columns, value range).

    The value range is (vmin, vmax) shared by the panel's images, or None to scale each image to
    its own minimum and maximum. Draws off-screen (Agg canvas), so it never changes the user's
    matplotlib backend.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    shapes = [(-(-len(imgs) // cols), cols) for _, imgs, cols, _ in panels]
    rows = max(r for r, _ in shapes)
    cell = 0.75
    width = (sum(c for _, c in shapes) + 0.6 * (len(panels) - 1) + 0.2) * cell
    height = (rows + 0.5) * cell
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    outer = fig.add_gridspec(1, len(panels), width_ratios=[c for _, c in shapes], wspace=0.6 / max(
        1, sum(c for _, c in shapes) / len(panels)), left=0.1 * cell / width, right=1 - 0.1 * cell / width,
        bottom=0.05 * cell / height, top=1 - 0.45 * cell / height)
    for k, ((title, imgs, cols, value_range), (_, _)) in enumerate(zip(panels, shapes)):
        inner = outer[k].subgridspec(rows, cols, wspace=0.08, hspace=0.08)
        vmin, vmax = value_range or (None, None)
        for i in range(len(imgs)):
            ax = fig.add_subplot(inner[i // cols, i % cols])
            ax.axis("off")
            ax.imshow(imgs[i], cmap="gray", vmin=vmin, vmax=vmax, interpolation="nearest")
            if i == 0:
                ax.set_title(title, fontsize=9, loc="left")
    fig.savefig(path, format="png")


def setup(args) -> None:
    """Apply --backend and --seed before any tensor is made. A backend this machine cannot run (CuPy
    missing, no GPU) ends the script with the one line that says why and how to fix it."""
    import gradflow
    from gradflow.backend import BackendUnavailableError
    from gradflow.utils import set_random_seed

    try:
        if args.backend:
            gradflow.set_backend(args.backend)
        set_random_seed(args.seed)
        gradflow.get_backend()  # the backend GRADFLOW_BACKEND asks for, made now
    except BackendUnavailableError as exc:
        raise SystemExit(f"error: {exc}") from None
    if getattr(args, "distributed", False):
        from gradflow import distribution

        distribution.set_distribution(distribution.DataParallel())
        if distribution.process_id() != 0:  # one log per job: the other ranks print nothing
            sys.stdout = open(os.devnull, "w")
        print(f"data parallel over {distribution.num_processes()} processes")
    print(f"backend: {gradflow.get_backend().name} ({gradflow.get_backend().device})")


def load_images(name: str, data_dir=None, channels: int | None = None, size: int | None = None,
                limit: int | None = None):
    """((x_train, y_train), (x_test, y_test)) as float32 NHWC in [0, 1] and int64 labels; ``limit``
    keeps only the first training images (``--limit``)."""
    from gradflow import datasets

    loader = {"digits": datasets.digits, "mnist": datasets.mnist,
              "fashion_mnist": datasets.fashion_mnist, "cifar10": datasets.cifar10}[name]
    (xtr, ytr), (xte, yte) = loader.load_data() if name == "digits" else loader.load_data(path=data_dir)
    scale = float(np.max(xtr)) or 1.0
    if limit:
        xtr, ytr = xtr[:limit], ytr[:limit]

    def prep(x):
        x = np.asarray(x, dtype=np.float32) / scale
        if x.ndim == 3:
            x = x[..., None]
        if size is not None and x.shape[1] != size:
            reps = -(-size // x.shape[1])
            x = x.repeat(reps, axis=1).repeat(reps, axis=2)[:, :size, :size]
        if channels is not None and x.shape[-1] != channels:
            x = np.repeat(x, channels, axis=-1)
        return x

    return ((prep(xtr), np.asarray(ytr).reshape(-1).astype(np.int64)),
            (prep(xte), np.asarray(yte).reshape(-1).astype(np.int64)))


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start
