"""Run every benchmark suite in turn, each in a process of its own: `python -m benchmarks [--quick | --smoke]`.

Suites that need what this machine lacks (a GPU, mpirun) say "skipped" and why. At the end a table gives each
suite's status and time; the exit status is 1 if any suite failed. ``--smoke`` runs each suite on the smallest
sizes, to check that it works and prints its table (no figure from it means anything); ``--quick`` gives rough
figures in a few minutes; neither: the full runs recorded in RESULTS.md.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
_NEVER = r"(?!)"  # a suite that never skips

#: suite -> (arguments for --quick, arguments for --smoke, a line of its result table, a line saying it skipped)
SUITES: dict[str, tuple[list[str], list[str], str, str]] = {
    "bench_overhead": (["--quick"], ["--samples", "200", "--repeats", "1", "--loops", "20"],
                       r"gradflow fit\s+\d+ samples/s", _NEVER),
    "bench_kernels": (["--quick"], ["--repeats", "1", "--no-reference", "--no-compile", "--only", "A conv1"],
                      r"\| kernel \| shape \| impl \| median ms", _NEVER),
    "bench_models": (["--quick"], ["--samples", "256", "--repeats", "1", "--models", "A"],
                     r"^A\s+\d+/s", _NEVER),
    "bench_layers": (["--repeats", "3"], ["--repeats", "1", "--only", "Conv1D"],
                     r"layer \(forward \+ backward\)", _NEVER),
    "bench_distributed": (["--samples", "512", "--repeats", "1"], ["--samples", "256", "--repeats", "1"],
                          r"2 processes x 1 thread\s+\d+", r"bench_distributed: skipped - "),
    "bench_multihost": (["--quick"], ["--quick"], r"^\| 2 \| 1gbit \|", r"bench_multihost: skipped - "),
    "bench_gpu": (["--quick"], ["--quick"], r"ours/ref < 1 means", r"bench_gpu: skipped - "),
    "bench_soak": (["--epochs", "20", "--reload-every", "5"], ["--epochs", "2", "--reload-every", "1"],
                   r"\| RSS \(MiB\) \|", _NEVER),
}


def run_suite(name: str, args: list[str]) -> tuple[str, float, str]:
    """(status, seconds, output) of one suite run as ``python benchmarks/<name>.py ARGS``."""
    table, skipped = SUITES[name][2], SUITES[name][3]
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-u", str(HERE / f"{name}.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:
        sys.stdout.write(line)
        sys.stdout.flush()
        lines.append(line)
    code = proc.wait()
    out = "".join(lines)
    seconds = time.perf_counter() - start
    if code == 0 and re.search(skipped, out, re.M):
        return "skipped", seconds, out
    if code != 0:
        return f"failed (exit {code})", seconds, out
    if not re.search(table, out, re.M):
        return "failed (no result table)", seconds, out
    return "ok", seconds, out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer repeats and samples: rough figures in minutes")
    size.add_argument("--smoke", action="store_true", help="the smallest sizes: does every suite run?")
    p.add_argument("--only", choices=list(SUITES), action="append", help="run only these suites")
    args = p.parse_args(argv)
    results = []
    for name in args.only or SUITES:
        quick, smoke = SUITES[name][0], SUITES[name][1]
        suite_args = smoke if args.smoke else quick if args.quick else []
        print(f"\n=== {name} {' '.join(suite_args)} ===", flush=True)
        status, seconds, _ = run_suite(name, suite_args)
        results.append((name, status, seconds))
    print("\n| suite | status | seconds |\n|---|---|---:|")
    for name, status, seconds in results:
        print(f"| {name} | {status} | {seconds:.1f} |")
    return 1 if any(status.startswith("failed") for _, status, _ in results) else 0


if __name__ == "__main__":
    sys.exit(main())
