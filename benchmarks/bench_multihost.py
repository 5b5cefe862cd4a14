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

    sudo python benchmarks/bench_multihost.py --compute sleep [--hosts 1,2,3,4] [--rates none,10gbit,1gbit]

measures the communication alone, so that more hosts than cores say something about the network:
one host's training step is first timed in one process (one thread), recording when in the step fit
starts and waits for each collective (the gradient buckets' all-reduces, at the times the backward
pass releases them, and the step's small all-reduce of the loss and batch-norm statistics). Every
rank then replays that step: it sleeps through each stretch of compute and makes the same
collectives, of the same dtypes and sizes, through gradflow's MPI communicator, over the shaped
links. Efficiency is the time slept over the step time; beside it, the cost model fitted to
all-reduce sweeps on the same hosts (--sweep's, and sweeps whose ranks sleep until one moment
before each all-reduce).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

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
calls = {}
for name in ("allreduce_", "bcast", "allgather"):
    def counted(*a, _f=getattr(dist.comm, name), _n=name, **k):
        calls[_n] = calls.get(_n, 0) + 1
        return _f(*a, **k)
    setattr(dist.comm, name, counted)
def counted_i(array, _f=dist.comm.iallreduce_):
    calls["iallreduce_"] = calls.get("iallreduce_", 0) + 1
    return _f(array)
dist.comm.iallreduce_ = counted_i
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
       "cpus": sorted(os.sched_getaffinity(0)), "numba_threads": numba.get_num_threads(),
       "collectives": calls,
       "before": before, "after": after}
rows = dist.comm.allgather(row)
if dist.rank == 0:
    open(out, "w").write(json.dumps(rows))
"""


SWEEP = """
import json, os, sys, time, numpy as np
from mpi4py import MPI
c = MPI.COMM_WORLD
found = {}
poll = float(os.environ.get("GRADFLOW_COLLECTIVE_POLL") or 0) if sys.argv[3] == "poll" else 0.0
def allreduce(buf):
    if poll <= 0:
        c.Allreduce(MPI.IN_PLACE, buf)
        return
    request = c.Iallreduce(MPI.IN_PLACE, buf)  # as gradflow waits with GRADFLOW_COLLECTIVE_POLL: test, sleep
    while not request.Test():
        time.sleep(poll)
together = sys.argv[4] == "together"
for nbytes in [int(v) for v in sys.argv[2].split(",")]:
    buf = np.zeros(max(1, nbytes // 4), np.float32)
    reps = max(5, min(200, int(2e6 // max(nbytes, 10000))))
    for _ in range(3):
        allreduce(buf)
    times, starts, ends = [], [], []
    for _ in range(reps):
        c.Barrier()
        if together:  # every rank sleeps until one moment (the hosts share this machine's clock), then starts
            at = c.bcast(time.perf_counter() + float(sys.argv[5]) if c.rank == 0 else None)
            time.sleep(max(at - time.perf_counter(), 0.0))
        t = time.perf_counter()
        allreduce(buf)
        starts.append(t)
        ends.append(time.perf_counter())
        times.append(ends[-1] - t)
    if together:  # from the last rank's start to the last rank's end: no skew and no late waking counted
        seen = c.allgather((starts, ends))
        spans = np.max([e for _, e in seen], axis=0) - np.max([s for s, _ in seen], axis=0)
        found[buf.nbytes] = float(np.median(spans))
    else:
        found[buf.nbytes] = c.allreduce(sorted(times)[len(times) // 2]) / c.size  # the ranks' mean of medians
if c.rank == 0:
    open(sys.argv[1], "w").write(json.dumps(found))
"""
#: message sizes of the sweep, 4 B to 4 MiB
SWEEP_BYTES = [4 << (2 * k) for k in range(11)]
QUICK_BYTES = [8, 4096, 65536, 524288, 4 << 20]


def sweep(hosts, ranks: int, sizes: list[int], wait: str = "blocking", start: str = "barrier",
          sleep_s: float = 0.003) -> dict:
    """{bytes: seconds of one MPI_Allreduce (float32 sum) over ``ranks`` hosts}: median over repeats,
    averaged over the ranks. ``wait="poll"``: MPI_Iallreduce waited for as gradflow waits with
    GRADFLOW_COLLECTIVE_POLL (test, sleep, test...), so waiting ranks sleep instead of polling a core.
    ``start="together"``: the ranks sleep until one moment before each all-reduce (as sleeping ranks
    arrive at a step's all-reduce), and the time is from the last rank's start to the last rank's end
    (the median over repeats); "barrier": each rank's time from leaving a barrier."""
    with tempfile.TemporaryDirectory() as tmp:
        script, out = Path(tmp) / "sweep.py", Path(tmp) / "sweep.json"
        script.write_text(SWEEP)
        r = hosts.run(ranks, [sys.executable, str(script), str(out), ",".join(map(str, sizes)), wait, start,
                                  str(sleep_s)],
                      env=_env(),
                      timeout=900)
        if r.returncode != 0:
            raise SystemExit(f"bench_multihost: the sweep on {ranks} hosts failed:\n{(r.stdout + r.stderr)[-3000:]}")
        return {int(k): v for k, v in json.loads(out.read_text()).items()}


def _fit_line(points: list) -> tuple:
    """(a, b) of ``t = a + b * bytes`` minimizing the squared RELATIVE error (every size counts alike)."""
    m = np.array([p[0] for p in points], float)
    t = np.array([p[1] for p in points], float)
    rows = np.stack([1 / t, m / t], axis=1)
    (a, b), *_ = np.linalg.lstsq(rows, np.ones_like(t), rcond=None)
    return max(float(a), 0.0), max(float(b), 0.0)


def fit(measured: dict, ranks: int, breaks: int = 2) -> dict:
    """The cost model fitted to a sweep: ``t(m) = a + b m`` per regime of Open MPI's algorithm choice.

    One line over 4 B - 4 MB rarely holds (Open MPI switches algorithms, and TCP from eager to
    rendezvous, by size), so the sizes are cut at up to ``breaks`` places, chosen to make the worst
    relative error smallest (each regime at least two sizes; a break must buy a clearly better fit),
    and each regime gets its own line. In ring terms ``a = 2 (P - 1) alpha * rounds`` and
    ``b = 2 (P - 1) / P * beta``: alpha is the per-message latency (from the smallest sizes, rounds
    = 1), beta the inverse bandwidth (from the largest), and ``rounds`` the latency rounds the
    large-message algorithm pays (segments per ring step; 1 for an unsegmented ring)."""
    points = sorted(measured.items())
    n = len(points)

    def lines_for(cuts):
        bounds = [0, *cuts, n]
        return [(points[hi - 1][0], _fit_line(points[lo:hi])) for lo, hi in zip(bounds, bounds[1:])]

    def worst(lines):
        return max(abs(_line_at(lines, m) - t) / t for m, t in points)

    candidates = [()]
    if breaks >= 1:
        candidates += [(k,) for k in range(2, n - 1)]
    if breaks >= 2:
        candidates += [(k, k2) for k in range(2, n - 1) for k2 in range(k + 2, n - 1)]
    best_err, best = float("inf"), None
    for cuts in candidates:  # fewest breaks first: a later one must beat the best by 2 points
        lines = lines_for(cuts)
        err = worst(lines)
        if best is None or err < best_err - 0.02:
            best_err, best = err, lines
    first, last = best[0][1], best[-1][1]
    hops = 2 * (ranks - 1)
    return {"lines": best, "max_rel_err": best_err, "alpha_s": first[0] / hops,
            "beta_s_per_byte": last[1] / (hops / ranks), "rounds": last[0] / first[0] if first[0] > 0 else float("nan"),
            "cuts": [upto for upto, _ in best[:-1]]}


def _line_at(lines, nbytes: float) -> float:
    for upto, (a, b) in lines:
        if nbytes <= upto:
            return a + b * nbytes
    a, b = lines[-1][1]
    return a + b * nbytes


def predict(model: dict, nbytes: float) -> float:
    """Seconds of one all-reduce of ``nbytes`` by the fitted model."""
    return _line_at(model["lines"], nbytes)


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


#: --poll: every rank's GRADFLOW_COLLECTIVE_POLL instead of hosts.RANK_ENV's (None: RANK_ENV's)
_POLL: list = [None]


def _env() -> dict:
    env = {**hosts_module.RANK_ENV, "PYTHONPATH": str(HERE.parent),
           "GRADFLOW_CACHE_DIR": os.environ.get("GRADFLOW_CACHE_DIR", "off")}
    if _POLL[0] is not None:
        env["GRADFLOW_COLLECTIVE_POLL"] = _POLL[0]
    return env


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


def cpu_accounting(hosts_count: int, steps: int, batch: int, env: dict, mca: list[str], label: str,
                   defaults: bool = False) -> list[dict]:
    """Per-thread CPU time of each rank and of the Open MPI daemon that started it, over ``steps`` steps
    of model B on ``hosts_count`` hosts (unshaped links), with ``env`` and extra mpirun options ``mca``;
    ``defaults``: Open MPI's own binding and polling instead of hosts.SHARED_CORES."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "cpu_worker.py"
        script.write_text(CPU_WORKER)
        out = Path(tmp) / "cpu.json"
        with hosts_module.Hosts(hosts_count) as hosts:
            if defaults:
                hosts.shared_cores = []
            cmd = hosts.mpirun(hosts_count, [sys.executable, "-m", "mpi4py", str(script), str(out), str(HERE),
                                             str(steps), str(batch)], env, extra=mca)
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200,
                               env={**os.environ, **hosts_module.RANK_ENV, **env})
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
    print("| run | rank | step ms | wait ms/step | rank threads (busy) | rank user s | rank sys s | daemon user s "
          "| daemon sys s | NUMBA_NUM_THREADS seen | Numba threads | cores allowed | collectives/step |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|---|")
    for row in rows:
        ru = sum(u for _, u, _ in row["rank_cpu"])
        rs = sum(s for _, _, s in row["rank_cpu"])
        busy = sum(1 for _, u, s in row["rank_cpu"] if u + s > 0.05)
        du = sum(u for _, u, _ in row["daemon_cpu"])
        ds = sum(s for _, _, s in row["daemon_cpu"])
        print(f"| {row['label']} | {row['rank']} | {row['wall_s'] / row['steps'] * 1e3:.1f} "
              f"| {row['wait_s'] / row['steps'] * 1e3:.1f} | {busy}/{len(row['rank_cpu'])} | {ru:.2f} | {rs:.2f} "
              f"| {du:.2f} | {ds:.2f} | {row['env']['NUMBA_NUM_THREADS']} | {row['numba_threads']} "
              f"| {','.join(map(str, row['cpus']))} | "
              + ", ".join(f"{k} {v / row['steps']:g}" for k, v in sorted(row["collectives"].items())) + " |")
    for row in rows:
        hot = sorted(row["rank_cpu"], key=lambda t: -(t[1] + t[2]))[:6]
        print(f"  {row['label']} rank {row['rank']} busiest threads: "
              + ", ".join(f"{n} {u:.2f}u/{s:.2f}s" for n, u, s in hot))


def _small_bytes(model_name: str) -> int:
    """Bytes of the step's small all-reduce (the loss and every batch-norm moving vector, float64)."""
    return 8 * (1 + (2 * (32 + 64 + 128) if model_name == "B" else 0))


def main_sweep(args, counts: list[int], rates: list[str]) -> int:
    """--sweep: all-reduce time against message size on each link and host count, the fitted model
    beside every measurement, and the fitted alpha, beta and rounds."""
    sizes = [int(v) for v in args.sizes.split(",")] if args.sizes else SWEEP_BYTES
    fits = []
    for rate in rates:
        for n in counts:
            with hosts_module.Hosts(n, rate=None if rate == "none" else rate) as hosts:
                if args.openmpi_defaults:
                    hosts.shared_cores = []
                measured = sweep(hosts, n, sizes, args.sweep_wait)
            model = fit(measured, n)
            fits.append((rate, n, model))
            print(f"\n{n} hosts, link {rate}: | bytes | measured us | fitted us | error |")
            for m, t in sorted(measured.items()):
                print(f"| {m} | {t * 1e6:.1f} | {predict(model, m) * 1e6:.1f} | {predict(model, m) / t - 1:+.0%} |")
    print("\n| hosts | link | alpha us | 1/beta Gbit/s | regimes up to bytes | rounds (large msgs) | worst error |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    for rate, n, model in fits:
        gbit = 8 / model["beta_s_per_byte"] / 1e9 if model["beta_s_per_byte"] > 0 else float("inf")
        print(f"| {n} | {rate} | {model['alpha_s'] * 1e6:.1f} | {gbit:.2f} | {', '.join(map(str, model['cuts']))} | "
              f"{model['rounds']:.1f} | {model['max_rel_err']:.0%} |")
    return 0


def main_cpu(args, counts: list[int]) -> int:
    """--cpu: CPU time of every rank's threads and of its Open MPI daemon over ``--steps`` steps, with
    Open MPI's own binding and polling ("before") and with SHARED_CORES ("after")."""
    rows = cpu_accounting(1, args.steps, args.batch, _env(), [], "1 host alone")
    for n in counts:
        rows += cpu_accounting(n, args.steps, args.batch, _env(), [], f"{n} hosts, Open MPI defaults", defaults=True)
        shared = f"{n} hosts, " + " ".join(hosts_module.SHARED_CORES)
        rows += cpu_accounting(n, args.steps, args.batch, {**_env(), "GRADFLOW_COLLECTIVE_POLL": "0"}, [], shared)
        rows += cpu_accounting(n, args.steps, args.batch, _env(), [], shared + ", GRADFLOW_COLLECTIVE_POLL="
                               + _env()["GRADFLOW_COLLECTIVE_POLL"])
    print_cpu(rows)
    return 0


# -- --compute sleep: the step's compute replaced by calibrated sleeps, its collectives kept ------------
#
# On a machine with fewer cores than hosts, ranks that compute compete for the cores, and the step
# time says more about that contention than about the network. Sleeping ranks leave the cores to
# the collectives: the step's communication (the same all-reduces of the same buffers, started and
# waited for at the same points of the step) runs over the shaped links while each rank sleeps
# through the time its compute would take on a host of its own.

class _Recorder:
    """A communicator that sums nothing and records what the trainer asks of it, and when: the
    calibration's stand-in for MPI. It says it is rank 0 of ``size``, so a global batch of ``size``
    times the per-host batch gives this process exactly one host's share of each step."""

    device_arrays = False

    def __init__(self, size: int = 2):
        self.rank, self.size = 0, size
        self.events: list = []

    def _log(self, kind: str, array=None, handle: int = -1) -> None:
        dtype, count = (str(array.dtype), int(array.size)) if array is not None else ("", 0)
        self.events.append((time.perf_counter(), kind, dtype, count, handle))

    def allreduce_(self, array) -> None:
        self._log("allreduce", array)

    def iallreduce_(self, array):
        handle = sum(1 for e in self.events if e[1] == "post")
        self._log("post", array, handle)
        return _RecordedHandle(self, handle)

    def bcast(self, obj, root=0):
        self._log("bcast")
        return obj

    def allgather(self, obj) -> list:
        self._log("allgather")
        return [obj] * self.size

    def abort(self, code=1) -> None:
        raise SystemExit(code)


class _RecordedHandle:
    def __init__(self, recorder: _Recorder, index: int):
        self.recorder, self.index = recorder, index

    def wait(self) -> None:
        self.recorder._log("wait", handle=self.index)


def calibrate_worker(out: str, model_name: str, batch: int, steps: int, bucket_bytes: int) -> None:
    """One process, one host's compute: times ``steps`` steps of ``model.fit`` on a per-host batch of
    ``batch`` and records when, within a step, each collective is asked for. Writes the replay plan
    (see ``plan_from_events``) to ``out``."""
    from bench_models import gradflow_model

    import gradflow as keras

    recorder = _Recorder()
    dist = keras.distribution.DataParallel(communicator=recorder, **({"bucket_bytes": bucket_bytes} if bucket_bytes
                                                                       else {}))
    keras.distribution.set_distribution(dist)
    shape = (28, 28, 1) if model_name == "A" else (32, 32, 3)
    rng = np.random.default_rng(0)
    glob = batch * recorder.size
    x = rng.random((glob * steps, *shape), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    model = gradflow_model(model_name, shape)
    model.fit(x[: 3 * glob], y[: 3 * glob], batch_size=glob, epochs=1, verbose=0, shuffle=False)  # warm-up
    marks = keras.callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: recorder._log("begin"),
                                           on_train_batch_end=lambda b, logs: recorder._log("end"))
    recorder.events.clear()
    t = time.perf_counter()
    model.fit(x, y, batch_size=glob, epochs=1, verbose=0, shuffle=False, callbacks=[marks])
    epoch = time.perf_counter() - t
    plan = plan_from_events(recorder.events, epoch / steps)
    plan.update(model=model_name, batch=batch, bucket_bytes=dist.bucket_bytes,
                param_bytes=sum(4 * int(np.prod(w.shape)) for w in model.trainable_weights))
    Path(out).write_text(json.dumps(plan))


def plan_from_events(events: list, step_s: float) -> dict:
    """The replay plan of a recorded fit: every step's collectives in order, each with the compute
    that precedes it (``gap_s``: the median over the steps of the time since the previous event) and
    the step's compute after the last (``tail_s``), so that a step takes ``step_s`` (the epoch's time
    per step, which also counts the loop's work between steps). A wait names its all-reduce by its
    place among the step's posts. Steps that ask for other collectives than the rest are an error
    (every step of fit asks for the same)."""
    steps: list = []
    for stamp, kind, dtype, count, handle in events:
        if kind == "begin":
            steps.append([(stamp, kind, dtype, count, handle)])
        elif steps and kind != "end":
            steps[-1].append((stamp, kind, dtype, count, handle))
    if len(steps) < 3:
        raise SystemExit(f"bench_multihost: calibration saw {len(steps)} steps; give it at least 3")
    steps = steps[1:-1]  # the first and last steps border the epoch's own work
    shapes = []
    for s in steps:
        local = {}  # the recorder's handle -> its place among this step's posts
        shape = []
        for _, kind, dtype, count, handle in s[1:]:
            if kind == "post":
                local[handle] = len(local)
            shape.append((kind, dtype, count, local.get(handle, -1) if kind in ("post", "wait") else -1))
        shapes.append(shape)
    if any(shape != shapes[0] for shape in shapes):
        raise SystemExit(f"bench_multihost: the calibrated steps do not all ask for the same collectives: {shapes}")
    gaps = np.median([[b[0] - a[0] for a, b in zip(s, s[1:])] for s in steps], axis=0) if shapes[0] else []
    busy = float(np.sum(gaps))
    tail = max(step_s - busy, 0.0)
    plan_events = [{"gap_s": float(gap), "kind": kind, "dtype": dtype, "count": count, "handle": handle}
                   for (kind, dtype, count, handle), gap in zip(shapes[0], gaps)]
    return {"step_s": busy + tail, "tail_s": tail, "events": plan_events, "calibrated_steps": len(steps),
            "buckets": sum(1 for e in plan_events if e["kind"] == "post")}


def _sleep_until(target: float) -> None:
    left = target - time.perf_counter()
    if left > 0:
        time.sleep(left)


def replay_worker(out: str, plan_path: str, steps: int, warmup: int = 3) -> None:
    """One rank of ``--compute sleep``: replays the plan's steps, sleeping through each stretch of
    compute and making each collective for real through gradflow's MPI communicator (the same
    calls, buffer dtypes and sizes, and the same GRADFLOW_COLLECTIVE_POLL wait as fit's). Buffers
    hold zeros (the values do not change what travels; the sum of zeros cannot overflow over many
    steps). Rank 0 writes every rank's totals to ``out``."""
    from gradflow.distribution.communicator import MPICommunicator

    plan = json.loads(Path(plan_path).read_text())
    events, tail = plan["events"], plan["tail_s"]
    comm = MPICommunicator()
    buffers = [np.zeros(e["count"], dtype=e["dtype"]) if e["count"] else None for e in events]
    calls = {"post": comm.iallreduce_, "allreduce": comm.allreduce_, "bcast": comm.bcast,
             "allgather": comm.allgather}

    def step(spent: dict) -> tuple:
        """(seconds, seconds slept, [[start, end] of the gradients' all-reduces (first post to last
        wait's end)] + [[start, end] of each blocking collective])."""
        handles = {}
        start = now = time.perf_counter()
        slept = 0.0
        grads, blocking = [math.inf, -math.inf], []
        for e, buf in zip(events, buffers):
            _sleep_until(now + e["gap_s"])
            t = time.perf_counter()
            slept += t - now
            kind = e["kind"]
            if kind == "post":
                handles[e["handle"]] = comm.iallreduce_(buf)
            elif kind == "wait":
                handles.pop(e["handle"]).wait()
            else:
                calls[kind](buf)
            now = time.perf_counter()
            if kind in ("post", "wait"):
                grads = [min(grads[0], t), max(grads[1], now)]
            else:
                blocking.append([t, now])
            spent[kind] = spent.get(kind, 0.0) + now - t
            spent["n_" + kind] = spent.get("n_" + kind, 0) + 1
        _sleep_until(now + tail)
        end = time.perf_counter()
        return end - start, slept + end - now, ([grads] if grads[0] < math.inf else []) + blocking

    for _ in range(warmup):
        step({})
    if comm.size > 1:
        comm.comm.Barrier()
    spent: dict = {}
    times = [step(spent) for _ in range(steps)]
    row = {"rank": comm.rank, "steps": steps, "step_s": [t[0] for t in times], "slept_s": [t[1] for t in times],
           "spans": [t[2] for t in times], "spent": spent}
    rows = comm.allgather(row)
    if comm.rank == 0:
        Path(out).write_text(json.dumps(rows))


def calibrate(args, tmp: Path) -> dict:
    """The replay plan, from ``--calibrate-steps`` steps of fit in one process with one thread (one host)."""
    out = tmp / "plan.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--calibrate-worker", str(out), "--model", args.model,
           "--batch", str(args.batch), "--steps", str(args.calibrate_steps),
           "--bucket-bytes", str(args.bucket_bytes or 0)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                       env={**os.environ, **_env(), "PYTHONPATH": f"{HERE.parent}{os.pathsep}{HERE}"})
    if r.returncode != 0:
        raise SystemExit(f"bench_multihost: calibration failed:\n{(r.stdout + r.stderr)[-3000:]}")
    return json.loads(out.read_text())


def replay(hosts, ranks: int, plan_path: Path, steps: int, out: Path) -> dict:
    """``--compute sleep`` on ``ranks`` hosts: per-step means over the steps, averaged over the ranks."""
    cmd = [sys.executable, "-m", "mpi4py", str(Path(__file__).resolve()), "--replay-worker", str(out),
           "--plan", str(plan_path), "--steps", str(steps)]
    r = hosts.run(ranks, cmd, env={**_env(), "PYTHONPATH": f"{HERE.parent}{os.pathsep}{HERE}"}, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"bench_multihost: the sleeping run on {ranks} hosts failed:\n{(r.stdout + r.stderr)[-3000:]}")
    rows = json.loads(out.read_text())
    mean = lambda values: float(np.mean(values))  # noqa: E731
    found = {"ranks": ranks, "steps": steps,
             "step_s": mean([mean(r["step_s"]) for r in rows]),
             "step_median_s": mean([float(np.median(r["step_s"])) for r in rows]),
             "slept_s": mean([mean(r["slept_s"]) for r in rows]),
             "posts": [r["spent"].get("n_post", 0) for r in rows],
             "waits": [r["spent"].get("n_wait", 0) for r in rows]}
    for kind in ("post", "wait", "allreduce", "bcast", "allgather"):
        found[f"{kind}_s"] = mean([r["spent"].get(kind, 0.0) / steps for r in rows])
    found["gradients_s"] = found["post_s"] + found["wait_s"]
    found["efficiency"] = found["slept_s"] / found["step_s"]
    # the hosts share this machine's clock: from the last rank's start of each collective to the last
    # rank's end (the network's part), and how far apart the ranks started it (the sleeps' skew)
    spans = np.array([r["spans"] for r in rows], float)  # rank, step, collective, (start, end)
    if spans.size:
        after = spans[..., 1].max(axis=0) - spans[..., 0].max(axis=0)  # step, collective
        skew = spans[..., 0].max(axis=0) - spans[..., 0].min(axis=0)
        found["after_last_s"] = [float(v) for v in np.median(after, axis=0)]  # per collective: gradients, small
        found["skew_s"] = [float(v) for v in np.median(skew, axis=0)]
    return found


def plan_messages(plan: dict) -> list:
    """[(bytes, blocking)] of every all-reduce a step makes."""
    sizes = []
    for e in plan["events"]:
        if e["kind"] in ("post", "allreduce"):
            sizes.append((e["count"] * np.dtype(e["dtype"]).itemsize, e["kind"] == "allreduce"))
    return sizes


#: how an all-reduce's latency term may grow with the workers P: an (unsegmented) ring pays 2 (P - 1) hops,
#: recursive doubling / Rabenseifner 2 log2 P rounds; the bandwidth term is 2 (P - 1) / P * bytes * beta in both
LATENCY_FORMS = {"ring, 2 (P - 1) hops": lambda p: 2.0 * (p - 1), "tree, 2 log2 P rounds": lambda p: 2.0 * math.log2(p)}
PROJECT_WORKERS = (8, 64, 512)


def fit_over_hosts(points: list, hops) -> tuple:
    """(alpha, beta, worst relative error) of ``t = hops(P) alpha + 2 (P - 1) / P * m * beta`` over
    [(P, bytes, seconds)], least squares on the relative error."""
    rows = np.array([[hops(p) / t, 2 * (p - 1) / p * m / t] for p, m, t in points])
    (alpha, beta), *_ = np.linalg.lstsq(rows, np.ones(len(points)), rcond=None)
    alpha, beta = max(float(alpha), 0.0), max(float(beta), 0.0)
    worst = max(abs(hops(p) * alpha + 2 * (p - 1) / p * m * beta - t) / t for p, m, t in points)
    return alpha, beta, worst


def project(rows: list, messages: list, compute_s: float) -> None:
    """The cost model fitted to the sleeping runs themselves (each all-reduce from the last rank's start
    to its end, at 2, 3, 4... hosts per link), in both latency forms, and the projection to
    PROJECT_WORKERS workers at ``compute_s`` of compute per step (no overlap)."""
    grads = [m for m, blocking in messages if not blocking]  # the gradients' span: first post to last wait
    messages = ([(sum(grads), False)] if grads else []) + [(m, True) for m, blocking in messages if blocking]
    links = sorted({r["link"] for r in rows if r["hosts"] > 1 and r.get("after_last_s")},
                   key=[r["link"] for r in rows].index)
    if not links:
        return
    print("\nPer-hop latency by host count (the step's small all-reduce, from the last rank's start to the last "
          "rank's end, over the hops of each form):")
    print("| link | hosts | small all-reduce ms | per ring hop us, / 2 (P - 1) | per tree round us, / 2 log2 P |")
    print("|---|---:|---:|---:|---:|")
    for link in links:
        for r in (r for r in rows if r["link"] == link and r["hosts"] > 1):
            t, p = r["after_last_s"][-1], r["hosts"]
            print(f"| {link} | {p} | {t * 1e3:.2f} | {t / (2 * (p - 1)) * 1e6:.0f} "
                  f"| {t / (2 * math.log2(p)) * 1e6:.0f} |")
    print(f"\nThe model fitted to the sleeping runs (every all-reduce of the step at every host count), and the "
          f"projection at {compute_s * 1e3:.1f} ms of compute per step (no overlap):")
    print("| link | latency form | alpha us | 1/beta Gbit/s | worst error, 2-" + str(max(r["hosts"] for r in rows))
          + " hosts | " + " | ".join(f"{w} workers: all-reduces ms, efficiency" for w in PROJECT_WORKERS) + " |")
    print("|---|---|---:|---:|---:|" + "---:|" * len(PROJECT_WORKERS))
    for link in links:
        points = [(r["hosts"], m, t) for r in rows if r["link"] == link and r["hosts"] > 1
                  for (m, _), t in zip(messages, r["after_last_s"])]
        for form, hops in LATENCY_FORMS.items():
            alpha, beta, worst = fit_over_hosts(points, hops)
            gbit = 8 / beta / 1e9 if beta > 0 else float("inf")
            cells = []
            for w in PROJECT_WORKERS:
                t = sum(hops(w) * alpha + 2 * (w - 1) / w * m * beta for m, _ in messages)
                cells.append(f"{t * 1e3:.1f}, {compute_s / (compute_s + t):.0%}")
            print(f"| {link} | {form} | {alpha * 1e6:.0f} | {gbit:.2f} | {worst:.0%} | " + " | ".join(cells) + " |")


#: --compute sleep's sweeps: (name, wait, start); the first is --sweep's own, the last waits as the replay does
SLEEP_SWEEPS = (("barrier, blocking", "blocking", "barrier"), ("together, blocking", "blocking", "together"),
                ("together, test+sleep", "poll", "together"))


def main_sleep(args, counts: list[int], rates: list[str]) -> int:
    """--compute sleep: calibrate one host's step, then replay it with sleeping ranks on every link and
    host count (a count of 1: once, the sleeps alone), beside what the cost model fitted to all-reduce
    sweeps on the same hosts predicts (SLEEP_SWEEPS: --sweep's, and sweeps whose ranks sleep until one
    moment before each all-reduce, waiting blocked or as the replay waits)."""
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        plan = calibrate(args, tmp)
        plan_path = tmp / "plan.json"
        messages = plan_messages(plan)
        sizes = sorted({*QUICK_BYTES, *(m for m, _ in messages)}) if not args.sizes else \
            [int(v) for v in args.sizes.split(",")]
        if 1 in counts:
            with hosts_module.Hosts(1) as one:
                rows.append({"hosts": 1, "link": "-", **replay(one, 1, plan_path, args.steps, tmp / "alone.json")})
        for rate in rates:
            for n in (c for c in counts if c > 1):
                row: dict = {"hosts": n, "link": rate, "fits": {}}
                with hosts_module.Hosts(n, rate=None if rate == "none" else rate) as hosts:
                    row.update(replay(hosts, n, plan_path, args.steps, tmp / f"{rate}-{n}.json"))
                    for name, wait, start in () if args.no_sweep else SLEEP_SWEEPS:
                        measured = sweep(hosts, n, sizes, wait, start)
                        fitted = fit(measured, n)
                        row["fits"][name] = {"sweep": {str(m): t for m, t in measured.items()},
                                             "predicted_s": sum(predict(fitted, m) for m, _ in messages),
                                             "alpha_s": fitted["alpha_s"], "beta_s_per_byte": fitted["beta_s_per_byte"],
                                             "worst": fitted["max_rel_err"], "lines": fitted["lines"]}
                rows.append(row)
    step = plan["step_s"]
    grads = sum(m for m, blocking in messages if not blocking)
    print(f"--compute sleep: model {plan['model']}, {plan['batch']} samples per host per step; one host's step "
          f"{step * 1e3:.1f} ms (calibrated in one process, one thread), replayed as sleeps around "
          f"the step's collectives: {plan['buckets']} gradient bucket(s), {grads / 1e3:.1f} kB, and "
          f"{sum(1 for _, b in messages if b)} blocking all-reduce(s) of "
          f"{', '.join(str(m) for m, b in messages if b)} B; {args.steps} steps per run; every rank waits with "
          f"GRADFLOW_COLLECTIVE_POLL={_env()['GRADFLOW_COLLECTIVE_POLL']}. Where in the step "
          "each collective starts (ms after the step's start): "
          + ", ".join(f"{e['kind']} {sum(x['gap_s'] for x in plan['events'][:k + 1]) * 1e3:.2f}"
                      for k, e in enumerate(plan["events"])))
    last = SLEEP_SWEEPS[-1][0]
    print("efficiency = slept / step. wait = the time a rank spends in the step's all-reduce calls (mean over "
          "ranks); after the last arrival = from the last rank's start to the last rank's end (median over steps; "
          "the network's part); skew = how far apart the ranks start (their sleeps' jitter). fitted = the step's "
          f"all-reduces by the model fitted to the '{last}' sweep on the same hosts (no overlap); its efficiency "
          "= calibrated step / (calibrated step + fitted).")
    print("\n| hosts | link | step ms | slept ms | wait ms: gradients + small | after the last arrival ms: "
          "gradients + small | skew ms | all-reduces / step | efficiency | fitted ms | efficiency (fitted) |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        f = r.get("fits", {}).get(last)
        fitted = f"{f['predicted_s'] * 1e3:.2f} | {step / (step + f['predicted_s']):.1%}" if f else "- | -"
        after = " + ".join(f"{v * 1e3:.2f}" for v in r.get("after_last_s", []))
        print(f"| {r['hosts']} | {r['link']} | {r['step_s'] * 1e3:.2f} | {r['slept_s'] * 1e3:.2f} "
              f"| {r['gradients_s'] * 1e3:.2f} + {r['allreduce_s'] * 1e3:.2f} | {after} "
              f"| {r.get('skew_s', [0])[0] * 1e3:.2f} | {(sum(r['posts']) / len(r['posts']) / r['steps']):g} "
              f"| {r['efficiency']:.1%} | {fitted} |")
    if any(r.get("fits") for r in rows):
        print("\n| hosts | link | sweep | alpha us | 1/beta Gbit/s | worst error | step's all-reduces ms (fitted) |")
        print("|---:|---|---|---:|---:|---:|---:|")
        for r in rows:
            for name, f in r.get("fits", {}).items():
                gbit = 8 / f["beta_s_per_byte"] / 1e9 if f["beta_s_per_byte"] > 0 else float("inf")
                print(f"| {r['hosts']} | {r['link']} | {name} | {f['alpha_s'] * 1e6:.1f} | {gbit:.2f} "
                      f"| {f['worst']:.0%} | {f['predicted_s'] * 1e3:.2f} |")
    project(rows, messages, args.project_compute_ms / 1e3 if args.project_compute_ms else step)
    if args.json:
        Path(args.json).write_text(json.dumps({"plan": plan, "rows": rows}))
    return 0

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("A", "B"), default="B")
    p.add_argument("--samples", type=int, default=1024)
    p.add_argument("--batch", type=int, default=64, help="the batch of each host (the global batch grows with it)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--rates", default="10gbit,1gbit")
    p.add_argument("--hosts", default=None, help="host counts (default 2,3; --compute sleep: 1,2,3,4, where 1 is "
                   "the sleeps alone)")
    p.add_argument("--quick", action="store_true", help="256 samples per host, 1 repeat, 2 hosts at 1gbit")
    p.add_argument("--sweep", action="store_true", help="all-reduce time against message size, and the fitted "
                   "model (alpha, beta, rounds) per link and host count; --rates may include 'none' (unshaped)")
    p.add_argument("--sizes", default=None, help="--sweep's message sizes in bytes (default 4 B to 4 MiB)")
    p.add_argument("--cpu", action="store_true", help="per-thread CPU time of each rank and Open MPI daemon "
                   "over --steps steps of model B, with Open MPI's defaults and with the shared-core settings")
    p.add_argument("--sweep-wait", choices=("blocking", "poll"), default="blocking", help="--sweep: MPI_Allreduce, "
                   "or MPI_Iallreduce waited for as gradflow waits with GRADFLOW_COLLECTIVE_POLL (test, sleep)")
    p.add_argument("--openmpi-defaults", action="store_true", help="--sweep with Open MPI's own binding and "
                   "polling instead of the shared-core settings (hosts.SHARED_CORES)")
    p.add_argument("--steps", type=int, default=None, help="--cpu's timed steps (default 8); --compute sleep's "
                   "replayed steps per run (default 60)")
    p.add_argument("--compute", choices=("real", "sleep"), default="real", help="'sleep': each rank sleeps through "
                   "one host's compute (calibrated first in one process) and makes the step's real collectives, "
                   "so the communication is measured without ranks competing for cores (more hosts than cores)")
    p.add_argument("--bucket-bytes", type=int, default=None, help="DataParallel(bucket_bytes=...) for --compute "
                   "sleep's calibration (default: DataParallel's)")
    p.add_argument("--calibrate-steps", type=int, default=20, help="--compute sleep: steps timed in one process")
    p.add_argument("--project-compute-ms", type=float, default=None, help="--compute sleep: the compute per step "
                   "of the 8/64/512-worker projection (default: the calibrated step)")
    p.add_argument("--poll", default=None, help="every rank's GRADFLOW_COLLECTIVE_POLL (seconds; 0: MPI's own "
                   "wait), instead of tests/multihost's " + hosts_module.RANK_ENV["GRADFLOW_COLLECTIVE_POLL"])
    p.add_argument("--no-sweep", action="store_true", help="--compute sleep without the all-reduce sweep and fit")
    p.add_argument("--json", default=None, help="--compute sleep: also write the plan and rows to this file")
    p.add_argument("--calibrate-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--replay-worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--plan", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.calibrate_worker:
        calibrate_worker(args.calibrate_worker, args.model, args.batch, args.steps, args.bucket_bytes)
        return 0
    if args.replay_worker:
        replay_worker(args.replay_worker, args.plan, args.steps)
        return 0
    _POLL[0] = args.poll
    if args.hosts is None:
        args.hosts = "1,2,3,4" if args.compute == "sleep" else "2,3"
    if args.steps is None:
        args.steps = 60 if args.compute == "sleep" else 8
    if args.quick:
        args.samples, args.repeats, args.rates, args.hosts = 256, 1, "1gbit", "2"
    why = hosts_module.unavailable()
    if why:
        print(f"bench_multihost: skipped - {why}")
        return 0
    counts = [int(n) for n in args.hosts.split(",")]
    if args.sweep:
        return main_sweep(args, counts, args.rates.split(","))
    if args.cpu:
        return main_cpu(args, counts)
    if args.compute == "sleep":
        return main_sleep(args, counts, args.rates.split(","))
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
                    fitted = fit(sweep(hosts, n, QUICK_BYTES), n)
                    res = _timed(hosts, n, args, Path(tmp) / f"{rate}-{n}.json")
                steps = res["steps"]
                step = res["epoch_s"] / steps
                ar = res["allreduce_s"] / steps
                model_ar = 2 * (n - 1) / n * res["param_bytes"] / (_rate_gbit(rate) * 1e9 / 8) + 2 * (n - 1) * latency
                fitted_ar = predict(fitted, res["param_bytes"])
                fitted_small = predict(fitted, _small_bytes(args.model))
                efficiency = res["samples_per_s"] / (n * alone["samples_per_s"])
                compute = alone["epoch_s"] / alone["steps"]
                rows.append((n, rate, step, ar, model_ar, fitted_ar, fitted_small, efficiency,
                             compute / (compute + model_ar), compute / (compute + fitted_ar + fitted_small)))
    print(f"model {args.model}, {per_host_batch} samples per host per step, {res['param_bytes'] / 1e3:.1f} kB of "
          f"gradients, one rank and one thread per host; one host alone: {alone['samples_per_s']:.0f} samples/s; "
          f"measured one-hop latency {latency * 1e6:.0f} us")
    print("The fitted columns come from an all-reduce sweep on the same hosts (bench_multihost --sweep): the "
          "gradients' all-reduce, and the step's one small all-reduce (loss + batch-norm statistics), which "
          "is blocking and so counts in the step but not in the measured all-reduce wait.")
    print("\n| hosts | link | step ms | all-reduce ms (measured wait) | ring model ms | fitted: gradients ms "
          "| fitted: small ms | efficiency (measured) | efficiency (ring model) | efficiency (fitted) |\n"
          "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, rate, step, ar, model_ar, fitted_ar, fitted_small, eff, model_eff, fitted_eff in rows:
        print(f"| {n} | {rate} | {step * 1e3:.1f} | {ar * 1e3:.2f} | {model_ar * 1e3:.2f} | {fitted_ar * 1e3:.2f} "
              f"| {fitted_small * 1e3:.2f} | {eff:.0%} | {model_eff:.0%} | {fitted_eff:.0%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
