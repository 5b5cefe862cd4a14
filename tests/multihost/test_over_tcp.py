"""Data-parallel training across hosts that talk over TCP only (network namespaces joined by shaped
veth links; see hosts.py): the equality tests of tests/distributed hold across hosts. To keep the
suite short, every case runs in one 3-host job (tests/multihost/_cases.py) and every reference in
one process; the tests then compare what each case wrote."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("_gf_hosts_t", Path(__file__).with_name("hosts.py"))
hosts_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosts_module)


ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "tests" / "distributed" / "_train.py"
CASES = Path(__file__).with_name("_cases.py")
ENV = {"PYTHONPATH": str(ROOT), "GRADFLOW_CACHE_DIR": os.environ.get("GRADFLOW_CACHE_DIR", "off")}
RANKS = 3
#: Adam + global clipnorm, SGD + momentum, the two-output model, synchronized BatchNorm
EQUAL = [("adam", "mlp"), ("sgd", "mlp"), ("adam", "two_heads"), ("sgd", "sync_bn")]


def _load(out, ranks):
    results = []
    for k in range(ranks):
        data = np.load(out / f"rank{k}.npz")
        weights = [data[f"arr_{i}"] for i in range(len([n for n in data.files if n.startswith("arr_")]))]
        results.append((weights, json.loads(bytes(data["meta"]).decode()), data["predictions"]))
    return results


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{case: (one process's result, [each rank's result])} after one reference process and one job on
    three hosts joined by 1 Gbit/s links; "files" (BackupAndRestore resume) has no reference."""
    tmp = tmp_path_factory.mktemp("over_tcp")
    single = [f"{o}-{m}:single:{o}:{m}" for o, m in EQUAL]
    distributed = [f"{o}-{m}:distributed:{o}:{m}" for o, m in EQUAL] + ["files:distributed:adam:files"]
    r = subprocess.run([sys.executable, str(CASES), str(TRAIN), str(tmp / "one"), *single], capture_output=True,
                       text=True, timeout=300, env={**os.environ, **ENV})
    assert r.returncode == 0, r.stderr[-3000:]
    with hosts_module.Hosts(RANKS, rate="1gbit") as hosts:
        r = hosts.run(RANKS, [sys.executable, "-m", "mpi4py", str(CASES), str(TRAIN), str(tmp / "many"), *distributed],
                      env=ENV, timeout=300)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    found = {f"{o}-{m}": (_load(tmp / "one" / f"{o}-{m}", 1)[0], _load(tmp / "many" / f"{o}-{m}", RANKS))
             for o, m in EQUAL}
    found["files"] = (None, _load(tmp / "many" / "files", RANKS))
    found["files_dir"] = tmp / "many" / "files"
    return found


@pytest.mark.parametrize("optimizer,model", EQUAL)
def test_equal_to_one_process_across_hosts(runs, optimizer, model):
    (ref_w, ref_meta, ref_pred), ranks = runs[f"{optimizer}-{model}"]
    for weights, meta, pred in ranks:
        for a, b in zip(weights, ref_w):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        for key, values in ref_meta["history"].items():
            np.testing.assert_allclose(meta["history"][key], values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pred, ref_pred, rtol=1e-5, atol=1e-6)
    for weights, _, _ in ranks[1:]:
        for a, b in zip(weights, ranks[0][0]):
            np.testing.assert_array_equal(a, b)


def test_backup_resume_across_hosts(runs):
    _, ranks = runs["files"]
    names = {p.name for p in runs["files_dir"].iterdir()}
    assert "backup0" in names and not {"backup1", "backup2"} & names
    for weights, meta, pred in ranks:
        assert len(meta["history"]["loss"]) == 2  # every host resumed at rank 0's epoch
        for a, b in zip(weights, ranks[0][0]):
            np.testing.assert_array_equal(a, b)


def test_ranks_really_are_on_different_hosts_with_one_thread_each(tmp_path):
    script = tmp_path / "where.py"
    script.write_text("import os, socket, subprocess\nfrom mpi4py import MPI\n"
                      "addr = subprocess.run(['ip', '-4', '-o', 'addr', 'show', 'scope', 'global'], "
                      "capture_output=True, text=True).stdout.split()[3]\n"
                      "print(MPI.COMM_WORLD.rank, socket.gethostname(), addr, os.environ.get('NUMBA_NUM_THREADS'), "
                      "len(os.sched_getaffinity(0)), flush=True)\n")
    with hosts_module.Hosts(RANKS) as hosts:
        r = hosts.run(RANKS, [sys.executable, str(script)], env=ENV, timeout=120)
        names, addresses = hosts.names, hosts.addresses
    assert r.returncode == 0, r.stderr[-3000:]
    seen = sorted(line.split() for line in r.stdout.strip().splitlines())
    assert [s[1] for s in seen] == names
    assert [s[2].split("/")[0] for s in seen] == addresses
    # the thread settings reach every rank, and no rank is bound to one core of the shared machine
    assert [s[3] for s in seen] == ["1"] * RANKS
    assert all(int(s[4]) == len(os.sched_getaffinity(0)) for s in seen), seen
