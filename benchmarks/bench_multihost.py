"""Data-parallel training across hosts joined by real TCP links, measured against the ring cost model.

    sudo python benchmarks/bench_multihost.py [--model B] [--rates 10gbit,1gbit] [--hosts 2,3]

Makes its hosts the way tests/multihost does (network namespaces, one veth link each to a switch,
each host's outgoing link shaped with tc tbf to the rate; Open MPI over TCP only, one rank and one
thread per host) and runs bench_distributed's timed epochs of model A or B on them. For every host
count and link rate it reports the step time, the time each step spends starting and waiting for
the gradient all-reduces (beyond what overlapped the backward pass), the measured efficiency
(throughput against the hosts' count times one host alone at the same per-host batch), and what the
ring model ``2 (P - 1) / P * bytes / rate + 2 (P - 1) * latency`` predicts for the same link, with
the latency measured on the unshaped link. Needs root, iproute2, Open MPI and mpi4py. On a machine
with fewer cores than hosts, the hosts share cores: compare the all-reduce columns, not efficiency.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_distributed as bd  # noqa: E402

_spec = importlib.util.spec_from_file_location("_gf_hosts", HERE.parent / "tests" / "multihost" / "hosts.py")
hosts_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosts_module)

PING = """
import time, numpy as np
from mpi4py import MPI
c = MPI.COMM_WORLD
buf = np.zeros(1, np.float32)
for _ in range(50):
    c.Allreduce(MPI.IN_PLACE, buf)
t = time.perf_counter()
for _ in range(500):
    c.Allreduce(MPI.IN_PLACE, buf)
if c.rank == 0:
    print((time.perf_counter() - t) / 500)
"""


def _rate_gbit(rate: str) -> float:
    units = {"kbit": 1e-6, "mbit": 1e-3, "gbit": 1.0}
    for unit, scale in units.items():
        if rate.endswith(unit):
            return float(rate[: -len(unit)]) * scale
    raise ValueError(f"rate {rate!r}: use e.g. 10gbit, 1gbit or 100mbit")


def _env() -> dict:
    return {"NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "PYTHONPATH": str(HERE.parent), "GRADFLOW_CACHE_DIR": os.environ.get("GRADFLOW_CACHE_DIR", "off")}


def _timed(hosts, ranks, args, out: Path) -> dict:
    r = hosts.run(ranks, [sys.executable, "-m", "mpi4py", *bd.worker_command(ranks, args, out)[1:]], env=_env(),
                  timeout=1800)
    if r.returncode != 0:
        raise SystemExit(f"bench_multihost: the run on {ranks} hosts failed:\n{(r.stdout + r.stderr)[-3000:]}")
    return json.loads(out.read_text())


def _latency(hosts) -> float:
    """Seconds of a 4-byte all-reduce between two hosts, halved: one hop's latency on this link."""
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(PING)
    try:
        r = hosts.run(2, [sys.executable, fh.name], env=_env(), timeout=300)
    finally:
        os.unlink(fh.name)
    return float(r.stdout.strip().splitlines()[-1]) / 2


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("A", "B"), default="B")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--batch", type=int, default=64, help="the batch of each host (the global batch grows with it)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rates", default="10gbit,1gbit")
    p.add_argument("--hosts", default="2,3")
    p.add_argument("--quick", action="store_true", help="256 samples per host, 1 repeat, 2 hosts at 1gbit")
    args = p.parse_args(argv)
    if args.quick:
        args.samples, args.repeats, args.rates, args.hosts = 256, 1, "1gbit", "2"
    why = hosts_module.unavailable()
    if why:
        print(f"bench_multihost: skipped - {why}")
        return 0
    counts = [int(n) for n in args.hosts.split(",")]
    per_host_batch, per_host_samples = args.batch, args.samples
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        with hosts_module.Hosts(1) as one_host:  # one host alone: the per-host compute the others are held to
            args.batch, args.samples = per_host_batch, per_host_samples
            alone = _timed(one_host, 1, args, Path(tmp) / "alone.json")
        with hosts_module.Hosts(2) as pair:
            latency = _latency(pair)
        for rate in args.rates.split(","):
            for n in counts:
                args.batch, args.samples = per_host_batch * n, per_host_samples * n
                with hosts_module.Hosts(n, rate=rate) as hosts:
                    res = _timed(hosts, n, args, Path(tmp) / f"{rate}-{n}.json")
                steps = res["steps"]
                step = res["epoch_s"] / steps
                ar = res["allreduce_s"] / steps
                model_ar = 2 * (n - 1) / n * res["param_bytes"] / (_rate_gbit(rate) * 1e9 / 8) + 2 * (n - 1) * latency
                efficiency = res["samples_per_s"] / (n * alone["samples_per_s"])
                compute = alone["epoch_s"] / alone["steps"]
                rows.append((n, rate, step, ar, model_ar, efficiency, compute / (compute + model_ar)))
    print(f"model {args.model}, {per_host_batch} samples per host per step, {res['param_bytes'] / 1e3:.1f} kB of "
          f"gradients, one rank and one thread per host; one host alone: {alone['samples_per_s']:.0f} samples/s; "
          f"measured one-hop latency {latency * 1e6:.0f} us")
    print("\n| hosts | link | step ms | all-reduce ms (measured) | all-reduce ms (ring model) | efficiency (measured) "
          "| efficiency (model) |\n|---:|---|---:|---:|---:|---:|---:|")
    for n, rate, step, ar, model_ar, eff, model_eff in rows:
        print(f"| {n} | {rate} | {step * 1e3:.1f} | {ar * 1e3:.2f} | {model_ar * 1e3:.2f} | {eff:.0%} "
              f"| {model_eff:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
