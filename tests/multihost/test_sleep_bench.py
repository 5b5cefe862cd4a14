"""``benchmarks/bench_multihost.py --compute sleep`` (ranks sleep through one host's calibrated compute
and make the step's real collectives over the hosts' links) runs on two hosts and reports sane numbers.
No absolute times are checked: the machine running the suite may be busy."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks" / "bench_multihost.py"
STEPS = 4


def test_sleep_mode_on_two_hosts_reports_sane_numbers(tmp_path):
    out = tmp_path / "sleep.json"
    # model A in buckets of ~20 kB: several gradient buckets per step, each its own all-reduce
    r = subprocess.run([sys.executable, str(BENCH), "--compute", "sleep", "--model", "A", "--batch", "8",
                        "--bucket-bytes", "20000", "--hosts", "2", "--rates", "none", "--steps", str(STEPS),
                        "--calibrate-steps", "4", "--no-sweep", "--json", str(out)],
                       capture_output=True, text=True, timeout=180,
                       env={**os.environ, "GRADFLOW_CACHE_DIR": "off"})  # no kernel autotuning (~30 s here)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    assert "skipped" not in r.stdout, r.stdout
    found = json.loads(out.read_text())
    plan, rows = found["plan"], found["rows"]
    assert plan["buckets"] > 1
    assert plan["step_s"] > 0 and all(e["gap_s"] >= 0 for e in plan["events"]) and plan["tail_s"] >= 0
    kinds = [e["kind"] for e in plan["events"]]
    assert kinds.count("post") == kinds.count("wait") == plan["buckets"]
    assert kinds.count("allreduce") == 1  # the loss and batch-norm statistics travel together
    (row,) = rows
    assert row["hosts"] == 2 and row["steps"] == STEPS
    # every rank made every bucket's all-reduce of every step, and waited for each
    assert row["posts"] == [plan["buckets"] * STEPS] * 2
    assert row["waits"] == [plan["buckets"] * STEPS] * 2
    assert 0 < row["efficiency"] <= 1
    assert 0 < row["slept_s"] <= row["step_s"]
    assert row["gradients_s"] >= 0 and row["allreduce_s"] >= 0
    assert "| 2 | none |" in r.stdout
