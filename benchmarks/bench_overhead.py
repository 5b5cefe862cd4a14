"""Framework overhead: gradflow vs a plain PyTorch loop on work too small for the math to matter.

Three measurements, each side by side in one run (medians of several repeats):

1. ``fit``: the tutorial MLP (2 -> 16 -> 32 -> 2, relu, softmax), Adam, sparse categorical
   cross-entropy, batch 10, shuffled each epoch; gradflow ``model.fit`` vs a PyTorch loop
   (``nn.Linear`` x3, ``Adam``, ``CrossEntropyLoss``, ``randperm`` shuffling). Samples/s and the
   ratio gradflow/torch (the target is >= 0.5).
2. micro: ``(a + b).sum().backward()`` on 3-element tensors (autograd overhead per op).
3. micro: one train step of the same MLP written by hand (forward, loss, backward, Adam step),
   and ``model.train_on_batch`` for comparison.

    python benchmarks/bench_overhead.py [--samples 2000] [--repeats 7] [--epochs 1] [--profile]
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def make_data(n: int, seed: int = 0):
    """(weight, height)-style samples: two standardised features, two classes."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype(np.float32)
    y = ((x[:, 0] + 0.5 * x[:, 1] + 0.3 * rng.normal(size=n)) > 0).astype(np.int64)
    return x, y


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# -- fit ---------------------------------------------------------------------------------------
def gradflow_model(metrics=None):
    from gradflow.layers import Dense
    from gradflow.models import Sequential
    from gradflow.optimizers import Adam

    model = Sequential([Dense(16, input_shape=(2,), activation="relu"), Dense(32, activation="relu"),
                        Dense(2, activation="softmax")])
    model.compile(optimizer=Adam(learning_rate=1e-3), loss="sparse_categorical_crossentropy", metrics=metrics)
    return model


def gradflow_fit_runner(x, y, batch, epochs, metrics=None):
    model = gradflow_model(metrics)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)  # warm-up
    return lambda: model.fit(x, y, batch_size=batch, epochs=epochs, shuffle=True, verbose=0)


def torch_mlp(torch):
    nn = torch.nn
    return nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 2))


def torch_fit_runner(x, y, batch, epochs, torch, threads):
    model = torch_mlp(torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = torch.nn.CrossEntropyLoss()
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    n = len(x)

    def run():
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            model.train()
            for _ in range(epochs):
                perm = torch.randperm(n)
                xs, ys = xt[perm], yt[perm]
                for i in range(0, n, batch):
                    opt.zero_grad(set_to_none=True)
                    loss = lossf(model(xs[i:i + batch]), ys[i:i + batch])
                    loss.backward()
                    opt.step()
        finally:
            torch.set_num_threads(before)

    run()  # warm-up
    return run


def interleaved(runners: dict, repeats: int) -> dict:
    """Median seconds of each runner, timed in turn (so load changes hit every runner alike)."""
    times = {k: [] for k in runners}
    for _ in range(repeats):
        for k, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[k].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


# -- micro-benchmarks --------------------------------------------------------------------------
def micro_add_backward(repeats, loops, torch):
    import gradflow

    a = gradflow.Parameter(np.ones(3, np.float32))
    b = gradflow.Parameter(np.ones(3, np.float32))

    def ours():
        for _ in range(loops):
            a.grad = b.grad = None
            (a + b).sum().backward()

    res = {"gradflow": median_time(ours, repeats) / loops}
    if torch is not None:
        ta = torch.ones(3, requires_grad=True)
        tb = torch.ones(3, requires_grad=True)

        def theirs():
            for _ in range(loops):
                ta.grad = tb.grad = None
                (ta + tb).sum().backward()

        res["torch (1 thread)"] = _one_thread(torch, lambda: median_time(theirs, repeats)) / loops
    return res


def _one_thread(torch, fn):
    """Run ``fn`` with torch on one thread: tiny tensors never gain from more, and on a busy 2-core
    machine a second spinning thread costs torch up to 10x (measured here)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def micro_train_step(x, y, batch, repeats, loops, torch):
    from gradflow import losses

    model = gradflow_model()
    params = model.trainable_weights
    opt = model.optimizer
    loss_fn = losses.SparseCategoricalCrossentropy()
    xb, yb = x[:batch], y[:batch]

    def by_hand():
        for _ in range(loops):
            for p in params:
                p.grad = None
            loss = loss_fn(yb, model(xb, training=True))
            loss.backward()
            opt.step(params)

    def on_batch():
        for _ in range(loops):
            model.train_on_batch(xb, yb)

    res = {"gradflow (by hand)": median_time(by_hand, repeats) / loops,
           "gradflow train_on_batch": median_time(on_batch, repeats) / loops}
    if torch is not None:
        tm = torch_mlp(torch)
        topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
        lossf = torch.nn.CrossEntropyLoss()
        txb, tyb = torch.from_numpy(xb), torch.from_numpy(yb)

        def theirs():
            for _ in range(loops):
                topt.zero_grad(set_to_none=True)
                lossf(tm(txb), tyb).backward()
                topt.step()

        res["torch (1 thread)"] = _one_thread(torch, lambda: median_time(theirs, repeats)) / loops
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2000)
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--loops", type=int, default=500, help="iterations per repeat in the micro-benchmarks")
    p.add_argument("--profile", action="store_true", help="cProfile one gradflow fit and print the top entries")
    p.add_argument("--quick", action="store_true", help="fewer samples, repeats and loops")
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.repeats, args.loops = 1000, 3, 200

    import gradflow

    try:
        import torch

        torch.manual_seed(0)
    except ImportError:
        torch = None
    gradflow.random.seed(0)
    x, y = make_data(args.samples)
    print(f"backend {gradflow.get_backend().name}; torch {torch.__version__ if torch else 'not installed'} "
          f"({torch.get_num_threads() if torch else '-'} threads); {args.samples} samples, batch {args.batch}, "
          f"median of {args.repeats}")

    runners = {"gradflow fit": gradflow_fit_runner(x, y, args.batch, args.epochs),
               "gradflow fit + accuracy": gradflow_fit_runner(x, y, args.batch, args.epochs, ["accuracy"])}
    if torch is not None:
        default_threads = torch.get_num_threads()
        runners[f"torch loop ({default_threads} threads)"] = torch_fit_runner(x, y, args.batch, args.epochs, torch,
                                                                             default_threads)
        if default_threads != 1:
            runners["torch loop (1 thread)"] = torch_fit_runner(x, y, args.batch, args.epochs, torch, 1)
    secs = interleaved(runners, args.repeats)
    rate = {k: len(x) * args.epochs / v for k, v in secs.items()}
    print(f"\nfit, MLP 2-16-32-2, Adam, sparse CE, batch {args.batch}, shuffled ({len(x) // args.batch} steps/epoch)")
    for k, v in rate.items():
        print(f"  {k:28s} {v:10.0f} samples/s  ({secs[k] / (len(x) * args.epochs / args.batch) * 1e6:6.1f} us/step)")
    if torch is not None:
        best = max(v for k, v in rate.items() if k.startswith("torch"))
        print(f"  ratio gradflow/torch (vs the faster torch setting) {rate['gradflow fit'] / best:.2f}x; "
              f"with accuracy {rate['gradflow fit + accuracy'] / best:.2f}x  (target >= 0.5x)")

    print("\nmicro: (a + b).sum().backward() on 3 elements, per call")
    for k, v in micro_add_backward(args.repeats, args.loops * 4, torch).items():
        print(f"  {k:28s} {v * 1e6:8.1f} us")
    print(f"\nmicro: one MLP train step (batch {args.batch}), per step")
    for k, v in micro_train_step(x, y, args.batch, args.repeats, args.loops, torch).items():
        print(f"  {k:28s} {v * 1e6:8.1f} us")

    if args.profile:
        import cProfile
        import pstats

        model = gradflow_model()
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0)
        prof = cProfile.Profile()
        prof.enable()
        model.fit(x, y, batch_size=args.batch, epochs=3, verbose=0)
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
