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
import subprocess
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


CPU_WORKER = """
import json, os, sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from bench_multihost import tasks_cpu
import gradflow as keras
from bench_models import gradflow_model

out, steps, batch = sys.argv[1], int(sys.argv[3]), int(sys.argv[4])
dist = keras.distribution.DataParallel()
keras.distribution.set_distribution(dist)
rng = np.random.default_rng(0)
x = rng.random((batch * dist.size * steps, 32, 32, 3), dtype=np.float32)
y = rng.integers(0, 10, len(x))
model = gradflow_model("B", x.shape[1:])
model.fit(x[: 2 * batch * dist.size], y[: 2 * batch * dist.size], batch_size=batch *
          dist.size, epochs=1, verbose=0, shuffle=False)
waited = [0.0]
start = dist.comm.iallreduce_
class Timed:
    def __init__(self, handle):
        self.handle = handle
    def wait(self):
        t = time.perf_counter()
        self.handle.wait()
        waited[0] += time.perf_counter() - t
dist.comm.iallreduce_ = lambda array: Timed(start(array))
me, daemon = os.getpid(), os.getppid()
before = tasks_cpu(me), tasks_cpu(daemon)
t = time.perf_counter()
model.fit(x, y, batch_size=batch * dist.size, epochs=1, verbose=0, shuffle=False)
wall = time.perf_counter() - t
after = tasks_cpu(me), tasks_cpu(daemon)
import numba
row = {"rank": dist.rank, "wall_s": wall, "steps": steps, "wait_s": waited[0],
       "env": {k: os.environ.get(k) for k in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                              "GRADFLOW_BLAS_THREADS", "OMPI_MCA_mpi_yield_when_idle")},
       "cpus": sorted(os.sched_getaffinity(0)), "numba_threads": numba.get_num_threads(), "numba_layer": numba.threading_layer(),
       "before": before, "after": after}
rows = dist.comm.allgather(row)
if dist.rank == 0:
    open(out, "w").write(json.dumps(rows))
"""


def tasks_cpu(pid: int) -> dict:
    """{tid: [name, user s, system s]} of every thread of process ``pid`` (from /proc; {} when it is gone)."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                text = fh.read()
        except OSError:
            continue
        name = text[text.index("(") + 1: text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        found[tid] = [name, int(fields[11]) / tick, int(fields[12]) / tick]  # utime, stime (fields 14, 15)
    return found


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


def _delta(before: dict, after: dict) -> list:
    """[(name, user s, system s)] of each thread over the interval (threads born in it count from 0)."""
    rows = []
    for tid, (name, user, system) in after.items():
        _, user0, system0 = before.get(tid, (name, 0.0, 0.0))
        rows.append((name, user - user0, system - system0))
    return rows


def cpu_accounting(hosts_count: int, steps: int, batch: int, env: dict, mca: list[str], label: str) -> list[dict]:
    """Per-thread CPU time of each rank and of the Open MPI daemon that started it, over ``steps`` steps
    of model B on ``hosts_count`` hosts (unshaped links), with ``env`` and extra ``--mca`` pairs."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "cpu_worker.py"
        script.write_text(CPU_WORKER)
        out = Path(tmp) / "cpu.json"
        with hosts_module.Hosts(hosts_count) as hosts:
            cmd = hosts.mpirun(hosts_count, [sys.executable, "-m", "mpi4py", str(script), str(out), str(HERE),
                                             str(steps), str(batch)], env, extra=mca)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200, env={**os.environ, **env})
        if r.returncode != 0:
            raise SystemExit(f"bench_multihost --cpu ({label}) failed:\n{(r.stdout + r.stderr)[-3000:]}")
        rows = json.loads(out.read_text())
    for row in rows:
        row["label"] = label
        row["rank_cpu"] = _delta(row["before"][0], row["after"][0])
        row["daemon_cpu"] = _delta(row["before"][1], row["after"][1])
        del row["before"], row["after"]
    return rows


def print_cpu(rows: list[dict]) -> None:
    print("| run | rank | step ms | wait ms/step | rank threads (busy) | rank user s | rank sys s "
          "| daemon user s | daemon sys s | NUMBA_NUM_THREADS seen | Numba threads | cores allowed |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|")
    for row in rows:
        ru = sum(u for _, u, _ in row["rank_cpu"])
        rs = sum(s for _, _, s in row["rank_cpu"])
        busy = sum(1 for _, u, s in row["rank_cpu"] if u + s > 0.05)
        du = sum(u for _, u, _ in row["daemon_cpu"])
        ds = sum(s for _, _, s in row["daemon_cpu"])
        print(f"| {row['label']} | {row['rank']} | {row['wall_s'] / row['steps'] * 1e3:.1f} "
              f"| {row['wait_s'] / row['steps'] * 1e3:.1f} | {busy}/{len(row['rank_cpu'])} | {ru:.2f} | {rs:.2f} "
              f"| {du:.2f} | {ds:.2f} | {row['env']['NUMBA_NUM_THREADS']} | {row['numba_threads']} "
              f"| {','.join(map(str, row['cpus']))} |")
    for row in rows:
        hot = sorted(row["rank_cpu"], key=lambda t: -(t[1] + t[2]))[:6]
        print(f"  {row['label']} rank {row['rank']} busiest threads: "
              + ", ".join(f"{n} {u:.2f}u/{s:.2f}s" for n, u, s in hot))


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
