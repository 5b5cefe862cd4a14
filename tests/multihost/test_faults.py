"""Faults on the network end a data-parallel job within a bound, with a clear error on the survivors,
instead of leaving them waiting in a collective for good (GRADFLOW_COLLECTIVE_TIMEOUT; see README)."""
import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location("_gf_hosts_f", Path(__file__).with_name("hosts.py"))
hosts_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosts_module)

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 6  # GRADFLOW_COLLECTIVE_TIMEOUT for these runs
BOUND_S = 75   # the watchdog, then mpirun giving up on the lost host (TCP_RETRIES2), with room for a busy CI
SCRIPT = """
import sys, numpy as np
import gradflow as keras
keras.distribution.set_distribution(keras.distribution.DataParallel())
rank = keras.distribution.process_id()
rng = np.random.default_rng(0)
x = rng.normal(size=(2048, 32)).astype("float32"); y = rng.integers(0, 2, 2048)
model = keras.Sequential([keras.Input((32,)), keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
marker = keras.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: open(sys.argv[1] + f"/rank{rank}", "a").write("x"))
model.fit(x, y, batch_size=64, epochs=100000, verbose=0, callbacks=[marker])
"""


def _start(hosts, tmp_path):
    script = tmp_path / "long_fit.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "GRADFLOW_COLLECTIVE_TIMEOUT": str(TIMEOUT_S)}
    proc = subprocess.Popen(hosts.mpirun(2, [sys.executable, "-m", "mpi4py", str(script), str(tmp_path)],
                                         {"GRADFLOW_COLLECTIVE_TIMEOUT": str(TIMEOUT_S)}),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"rank{r}").exists() for r in range(2)):  # both ranks are training
        assert proc.poll() is None, proc.communicate()[0][-3000:]
        assert time.monotonic() < deadline, "the job did not start training within 120 s"
        time.sleep(0.2)
    return proc


def _ends(proc, since):
    try:
        out, _ = proc.communicate(timeout=BOUND_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        pytest.fail(f"the job still ran {BOUND_S} s after the fault:\n{out[-3000:]}")
    return out, time.monotonic() - since


@pytest.fixture
def hosts():
    with hosts_module.Hosts(2) as made:
        yield made


def test_a_link_taken_down_mid_fit_ends_the_job(tmp_path, hosts):
    proc = _start(hosts, tmp_path)
    hosts.link(1, up=False)
    out, seconds = _ends(proc, time.monotonic())
    assert proc.returncode != 0
    assert f"has waited {TIMEOUT_S} s for the other processes (GRADFLOW_COLLECTIVE_TIMEOUT={TIMEOUT_S})" in out, out
    assert seconds >= TIMEOUT_S


def test_a_link_dropping_packets_ends_the_job(tmp_path, hosts):
    proc = _start(hosts, tmp_path)
    hosts.shape(1, "8bit")  # tbf at 8 bit/s with a tiny queue: nearly every packet from host 1 is dropped
    out, _ = _ends(proc, time.monotonic())
    assert proc.returncode != 0 and "GRADFLOW_COLLECTIVE_TIMEOUT" in out, out


def test_a_host_killed_mid_all_reduce_ends_the_job(tmp_path, hosts):
    proc = _start(hosts, tmp_path)
    hosts.kill(1)  # every process of host 1 (its rank and Open MPI's daemon), as a crash would
    out, seconds = _ends(proc, time.monotonic())
    # Open MPI notices the lost daemon and ends the job, with one of its messages about it (its exit
    # status is then 0 or not, by version and timing), or a survivor's collective times out first
    said = ("terminate the job", "daemon", "GRADFLOW_COLLECTIVE_TIMEOUT")
    assert any(words in out for words in said), out
    assert seconds < BOUND_S
