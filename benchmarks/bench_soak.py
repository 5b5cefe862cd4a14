"""Soak run: many epochs of a small CNN with validation, a checkpoint (``model.save``) every epoch,
``predict`` in between and now and then a reload of the checkpoint; resident memory (RSS) and open
file descriptors are sampled along the way and must stay flat. Not a test: it runs for minutes.

    python benchmarks/bench_soak.py [--epochs 200] [--markdown FILE]

Data: the bundled digits (1,437 training and 360 validation images, 8x8) upsampled to 16x16, so
each epoch does real convolution work. RSS is read from /proc/self/status (Linux); "start" is after
the first epoch (kernels compiled, buffers and caches made), "end" after the last. The verdict
compares the growth over the second half of the run with a small allowance for allocator noise.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time

import numpy as np


def rss_bytes() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # peak, not current: a fallback


def open_fds() -> int:
    for folder in ("/proc/self/fd", "/dev/fd"):
        try:
            return len(os.listdir(folder))
        except OSError:
            continue
    return -1


def data():
    from gradflow.datasets import digits

    (x, y), (xv, yv) = digits.load_data()

    def prep(a):
        a = a.astype("float32") / 16.0
        return a.repeat(2, axis=1).repeat(2, axis=2)  # 8x8 -> 16x16

    return prep(x), y.astype("int64"), prep(xv), yv.astype("int64")


def model():
    import gradflow as keras
    from gradflow.layers import BatchNormalization, Conv2D, Dense, Dropout, Flatten, MaxPooling2D

    m = keras.Sequential([
        keras.Input(shape=(16, 16, 1)),
        Conv2D(16, 3, padding="same", activation="relu"), MaxPooling2D(2),
        Conv2D(32, 3, padding="same"), BatchNormalization(), keras.layers.Activation("relu"), MaxPooling2D(2),
        Flatten(), Dropout(0.25), Dense(10, activation="softmax"),
    ])
    m.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return m


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=200)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--reload-every", type=int, default=20, help="load_model the checkpoint every N epochs")
    p.add_argument("--markdown", help="also write the result table to this file")
    args = p.parse_args(argv)

    import gradflow as keras
    from gradflow.saving import load_model

    x, y, xv, yv = data()
    m = model()
    samples = []   # (epoch, seconds, rss, fds)
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        ckpt = os.path.join(folder, "ckpt.gflow")

        def on_epoch_end(epoch, logs):
            m.predict(xv, batch_size=128, verbose=0)
            if args.reload_every and (epoch + 1) % args.reload_every == 0:
                restored = load_model(ckpt)
                assert restored.optimizer.iterations == m.optimizer.iterations
                del restored
            samples.append((epoch + 1, time.perf_counter() - t_start, rss_bytes(), open_fds(),
                            logs.get("val_accuracy", float("nan"))))

        history = m.fit(x, y, batch_size=args.batch, epochs=args.epochs, validation_data=(xv, yv), verbose=0,
                        callbacks=[keras.callbacks.ModelCheckpoint(ckpt),
                                   keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)])
        leftovers = sorted(n for n in os.listdir(folder) if n != "ckpt.gflow")
    total = time.perf_counter() - t_start

    first, last = samples[0], samples[-1]
    mid = samples[len(samples) // 2]
    mib = 1 << 20
    rss_peak = max(s[2] for s in samples)
    growth_second_half = last[2] - mid[2]
    fds_flat = len({s[3] for s in samples[1:]}) == 1 and last[3] == first[3]
    allowance = 8 * mib
    flat = growth_second_half <= allowance and fds_flat and not leftovers
    lines = [
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores; Python {sys.version.split()[0]}, "
        f"NumPy {np.__version__}; {args.epochs} epochs of {len(x)} images (batch {args.batch}) + validation on "
        f"{len(xv)}, ModelCheckpoint every epoch, predict every epoch, load_model every {args.reload_every}; "
        f"{total:.0f} s in all ({total / args.epochs * 1e3:.0f} ms per epoch).",
        "",
        "| | after epoch 1 | after epoch " + str(mid[0]) + " | after epoch " + str(last[0]) + " | peak |",
        "|---|---:|---:|---:|---:|",
        f"| RSS (MiB) | {first[2] / mib:.1f} | {mid[2] / mib:.1f} | {last[2] / mib:.1f} | {rss_peak / mib:.1f} |",
        f"| open file descriptors | {first[3]} | {mid[3]} | {last[3]} | {max(s[3] for s in samples)} |",
        f"| val accuracy | {first[4]:.3f} | {mid[4]:.3f} | {last[4]:.3f} | |",
        "",
        f"RSS growth over the second half: {growth_second_half / mib:+.2f} MiB (allowance {allowance / mib:.0f} MiB); "
        f"over the whole run: {(last[2] - first[2]) / mib:+.2f} MiB. Stray files next to the checkpoint: "
        f"{leftovers or 'none'}. Verdict: {'flat' if flat else 'NOT FLAT'}.",
    ]
    text = "\n".join(lines)
    print(text)
    print(f"(final loss {history.history['loss'][-1]:.4f}, val_loss {history.history['val_loss'][-1]:.4f})")
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")
    return 0 if flat else 1


if __name__ == "__main__":
    sys.exit(main())
