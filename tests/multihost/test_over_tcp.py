"""Data-parallel training across hosts that talk over TCP only (network namespaces joined by shaped
veth links; see hosts.py): the equality tests of tests/distributed hold across hosts, and faults on
the network end the job within a bound instead of hanging it."""
import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

_spec = importlib.util.spec_from_file_location("_gf_hosts_t", Path(__file__).with_name("hosts.py"))
hosts_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hosts_module)


ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "tests" / "distributed" / "_train.py"
ENV = {"PYTHONPATH": str(ROOT), "GRADFLOW_CACHE_DIR": os.environ.get("GRADFLOW_CACHE_DIR", "off")}


def _load(out, ranks):
    results = []
    for k in range(ranks):
        data = np.load(out / f"rank{k}.npz")
        weights = [data[f"arr_{i}"] for i in range(len([n for n in data.files if n.startswith("arr_")]))]
        results.append((weights, json.loads(bytes(data["meta"]).decode()), data["predictions"]))
    return results


def _single(out, optimizer, model):
    import subprocess

    out.mkdir()
    r = subprocess.run([sys.executable, str(TRAIN), str(out), "single", optimizer, model], capture_output=True,
                       text=True, timeout=180, env={**os.environ, **ENV})
    assert r.returncode == 0, r.stderr[-3000:]
    return _load(out, 1)[0]


def _over_hosts(hosts, out, ranks, optimizer, model):
    out.mkdir()
    r = hosts.run(ranks, [sys.executable, "-m", "mpi4py", str(TRAIN), str(out), "distributed", optimizer, model],
                  env=ENV)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    return _load(out, ranks)


@pytest.fixture(scope="module")
def three_hosts():
    with hosts_module.Hosts(3, rate="1gbit") as hosts:
        yield hosts


@pytest.mark.parametrize("ranks,optimizer,model", [(2, "adam", "mlp"), (3, "sgd", "mlp"), (3, "adam", "two_heads"),
                                                   (3, "sgd", "sync_bn")])
def test_equal_to_one_process_across_hosts(tmp_path, three_hosts, ranks, optimizer, model):
    ref_w, ref_meta, ref_pred = _single(tmp_path / "one", optimizer, model)
    runs = _over_hosts(three_hosts, tmp_path / "many", ranks, optimizer, model)
    for weights, meta, pred in runs:
        for a, b in zip(weights, ref_w):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        for key, values in ref_meta["history"].items():
            np.testing.assert_allclose(meta["history"][key], values, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(pred, ref_pred, rtol=1e-5, atol=1e-6)
    for weights, _, _ in runs[1:]:
        for a, b in zip(weights, runs[0][0]):
            np.testing.assert_array_equal(a, b)


def test_backup_resume_across_hosts(tmp_path, three_hosts):
    runs = _over_hosts(three_hosts, tmp_path / "files", 3, "adam", "files")
    names = {p.name for p in (tmp_path / "files").iterdir()}
    assert "backup0" in names and not {"backup1", "backup2"} & names
    for weights, meta, pred in runs:
        assert len(meta["history"]["loss"]) == 2  # every host resumed at rank 0's epoch
        for a, b in zip(weights, runs[0][0]):
            np.testing.assert_array_equal(a, b)


def test_ranks_really_are_on_different_hosts(tmp_path, three_hosts):
    script = tmp_path / "where.py"
    script.write_text("import socket, subprocess\nfrom mpi4py import MPI\n"
                      "addr = subprocess.run(['ip', '-4', '-o', 'addr', 'show', 'scope', 'global'], "
                      "capture_output=True, text=True).stdout.split()[3]\n"
                      "print(MPI.COMM_WORLD.rank, socket.gethostname(), addr, flush=True)\n")
    r = three_hosts.run(3, [sys.executable, str(script)], env=ENV, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    seen = sorted(line.split() for line in r.stdout.strip().splitlines())
    assert [s[1] for s in seen] == three_hosts.names
    assert [s[2].split("/")[0] for s in seen] == three_hosts.addresses
