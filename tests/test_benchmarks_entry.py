"""`python -m benchmarks` runs every suite in a process of its own and says which ran, skipped or failed."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _runner():
    spec = importlib.util.spec_from_file_location("_bench_main", ROOT / "benchmarks" / "__main__.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_smoke_runs_every_suite_and_each_prints_its_table():
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--smoke"], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    runner = _runner()
    status = dict(re.findall(r"^\| (bench_\w+) \| ([^|]+?) \|", r.stdout, re.M))
    assert set(status) == set(runner.SUITES), status
    for name, (_, _, table, _) in runner.SUITES.items():
        section = r.stdout.split(f"=== {name} ", 1)[1].split("\n=== ", 1)[0]
        may_skip = {"bench_gpu": True, "bench_distributed": shutil.which("mpirun") is None,
                    "bench_multihost": shutil.which("mpirun") is None or os.geteuid() != 0}
        if may_skip.get(name):
            assert status[name] in ("ok", "skipped"), (name, status[name])
            if status[name] == "skipped":
                assert f"{name}: skipped - " in section
                continue
        assert status[name] == "ok", (name, section[-2000:])
        assert re.search(table, section, re.M), f"{name} printed no result table:\n{section[-2000:]}"


def test_a_failing_or_silent_suite_is_reported_and_fails_the_run(tmp_path, monkeypatch, capsys):
    runner = _runner()
    (tmp_path / "bench_boom.py").write_text("import sys\nprint('starting')\nsys.exit(3)\n")
    (tmp_path / "bench_mute.py").write_text("print('no table here')\n")
    (tmp_path / "bench_fine.py").write_text("print('| table | 1 |')\n")
    monkeypatch.setattr(runner, "HERE", tmp_path)
    monkeypatch.setattr(runner, "SUITES", {
        "bench_boom": ([], [], r"\| table", runner._NEVER),
        "bench_mute": ([], [], r"\| table", runner._NEVER),
        "bench_fine": ([], [], r"\| table", runner._NEVER)})
    assert runner.main([]) == 1
    out = capsys.readouterr().out
    assert "| bench_boom | failed (exit 3) |" in out
    assert "| bench_mute | failed (no result table) |" in out
    assert "| bench_fine | ok |" in out
