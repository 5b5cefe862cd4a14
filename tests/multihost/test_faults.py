"""Faults on the network end a data-parallel job within a bound, with a clear error on the survivors,
instead of leaving them waiting in a collective for good (GRADFLOW_COLLECTIVE_TIMEOUT; see README).

The three faults hit three 2-host jobs that run at the same time (each on hosts of its own), so the
suite waits for the slowest one instead of for all three in turn; the ranks sleep a little after every
batch so the three jobs do not starve one another of the machine's cores."""
import importlib.util
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("_gf_hosts_f", Path(__file__).with_name("hosts.py"))
hosts_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosts_module)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 6  # GRADFLOW_COLLECTIVE_TIMEOUT for these runs
BOUND_S = 75   # the watchdog, then mpirun giving up on the lost host (TCP_RETRIES2), with room for a busy CI
START_S = 150  # all three jobs importing gradflow and training their first epoch on a busy machine
SCRIPT = """
import sys, time, numpy as np
from mpi4py import MPI
import gradflow as keras
rng = np.random.default_rng(0)
x = rng.normal(size=(512, 32)).astype("float32"); y = rng.integers(0, 2, 512)
def make():
    model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                              keras.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model
# warm up alone, then meet: the short collective timeout below must not count one rank's start-up
# (imports, kernel compilation) on a busy machine against the other
make().fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
MPI.COMM_WORLD.Barrier()
keras.distribution.set_distribution(keras.distribution.DataParallel())
rank = keras.distribution.process_id()
model = make()
marker = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: open(sys.argv[1] + f"/rank{rank}", "a").write("x"),
                                        on_train_batch_end=lambda b, logs: time.sleep(0.01))
model.fit(x, y, batch_size=64, epochs=100000, verbose=0, callbacks=[marker])
"""
FAULTS = ("link_down", "dropping", "killed")


class _Job:
    def __init__(self, hosts, folder: Path):
        self.hosts, self.folder = hosts, folder
        script = folder / "long_fit.py"
        script.write_text(SCRIPT)
        env = {"GRADFLOW_COLLECTIVE_TIMEOUT": str(TIMEOUT_S), "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen(hosts.mpirun(2, [sys.executable, "-m", "mpi4py", str(script), str(folder)], env),
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **hosts_module.RANK_ENV, **env})
        self.out, self.seconds = "", None

    def training(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the job ended before the fault:\n{self.proc.communicate()[0][-3000:]}")
        return all((self.folder / f"rank{r}").exists() for r in range(2))

    def wait(self, since: float) -> None:
        try:
            self.out, _ = self.proc.communicate(timeout=BOUND_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.out = self.proc.communicate()[0]
        self.seconds = time.monotonic() - since if self.proc.returncode is not None else None


@pytest.fixture(scope="module")
def faults(tmp_path_factory):
    """{fault: the ended job} after the three faults, each on its own pair of hosts."""
    stack, jobs = [], {}
    try:
        for fault in FAULTS:
            hosts = hosts_module.Hosts(2).__enter__()
            stack.append(hosts)
            jobs[fault] = _Job(hosts, tmp_path_factory.mktemp(fault))
        deadline = time.monotonic() + START_S
        while not all(job.training() for job in jobs.values()):  # every rank of every job is training
            assert time.monotonic() < deadline, f"the jobs did not start training within {START_S} s"
            time.sleep(0.2)
        since = time.monotonic()
        jobs["link_down"].hosts.link(1, up=False)
        jobs["dropping"].hosts.shape(1, "8bit")  # tbf at 8 bit/s, tiny queue: nearly every packet is dropped
        jobs["killed"].hosts.kill(1)  # every process of host 1 (its rank and Open MPI's daemon), as a crash
        waiters = [threading.Thread(target=job.wait, args=(since,)) for job in jobs.values()]
        for w in waiters:
            w.start()
        for w in waiters:
            w.join()
        yield jobs
    finally:
        for job in jobs.values():
            if job.proc.poll() is None:
                job.proc.kill()
                job.proc.communicate()
        for hosts in stack:
            hosts.close()


def _ended(job):
    assert job.seconds is not None, f"the job still ran {BOUND_S} s after the fault:\n{job.out[-3000:]}"
    return job.out


def test_a_link_taken_down_mid_fit_ends_the_job(faults):
    job = faults["link_down"]
    out = _ended(job)
    assert job.proc.returncode != 0
    assert f"has waited {TIMEOUT_S} s for the other processes (GRADFLOW_COLLECTIVE_TIMEOUT={TIMEOUT_S})" in out, out
    assert job.seconds >= TIMEOUT_S


def test_a_link_dropping_packets_ends_the_job(faults):
    job = faults["dropping"]
    out = _ended(job)
    assert job.proc.returncode != 0 and "GRADFLOW_COLLECTIVE_TIMEOUT" in out, out


def test_a_host_killed_mid_all_reduce_ends_the_job(faults):
    out = _ended(faults["killed"])
    # Open MPI notices the lost daemon and ends the job, with one of its messages about it (its exit
    # status is then 0 or not, by version and timing), or a survivor's collective times out first
    said = ("terminate the job", "daemon", "GRADFLOW_COLLECTIVE_TIMEOUT")
    assert any(words in out for words in said), out
