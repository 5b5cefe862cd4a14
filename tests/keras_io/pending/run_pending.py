"""Run each pending keras-io port on gradflow and print PASS/FAIL with its first error line.

Usage, from the repository root::

    .venv/bin/python tests/keras_io/pending/run_pending.py [-k EXPR] [--keras] [NAME ...]

NAME picks ports by a part of their file name (default: all of them). By default only the tests that run
on gradflow alone are run (``-k "not real_keras"``: the gradflow run of the program and its comparison
with Keras on the same weights still run where Keras is installed, since they are named
``test_same_as_keras``); ``--keras`` also runs the program on real Keras alone. Each port runs in its own
pytest process with ``GRADFLOW_RUN_PENDING=1``, which lets ``conftest.py`` here collect it. A port that
passes can be moved up unchanged: ``git mv tests/keras_io/pending/test_X.py tests/keras_io/``.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[2]
# `--tb=line` prints one "path:line: message" line per failing test
ERROR_LINE = re.compile(r"^(/\S+|\S+\.py):(\d+): (.*)$")
RESULT_LINE = re.compile(r"^(FAILED|ERROR) (\S+)")


def run_port(path, keyword, timeout):
    cmd = [sys.executable, "-m", "pytest", "-q", "--tb=line", "-p", "no:cacheprovider", "-rfE", str(path)]
    if keyword:
        cmd += ["-k", keyword]
    env = dict(os.environ, GRADFLOW_RUN_PENDING="1")
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, [f"timed out after {timeout} s"], time.perf_counter() - start
    out = proc.stdout + proc.stderr
    errors = []
    in_failures = False
    for line in out.splitlines():
        if line.startswith("=") and line.endswith("="):  # a section header: only FAILURES/ERRORS count
            in_failures = " FAILURES " in line or " ERRORS " in line
            continue
        m = ERROR_LINE.match(line.strip()) if in_failures else None
        if m:
            where = os.path.relpath(m.group(1), ROOT) if m.group(1).startswith("/") else m.group(1)
            errors.append(f"{where}:{m.group(2)}: {m.group(3)}")
    failed = [m.group(2) for m in map(RESULT_LINE.match, out.splitlines()) if m]
    ok = proc.returncode == 0
    if not ok and not errors:
        tail = [line for line in out.splitlines() if line.strip()][-3:]
        errors = tail or [f"pytest exited with {proc.returncode}"]
    names = [name.split("::")[-1] for name in failed]
    if names and len(names) == len(errors):
        errors = [f"{name}: {err}" for name, err in zip(names, errors)]
    return ok, errors, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="parts of port file names (default: all)")
    parser.add_argument("-k", dest="keyword", default=None, help="pytest -k expression (overrides the default)")
    parser.add_argument("--keras", action="store_true", help="also run the programs on real Keras alone")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per port (default 900)")
    args = parser.parse_args(argv)
    keyword = args.keyword if args.keyword is not None else ("" if args.keras else "not real_keras")
    ports = sorted(HERE.glob("test_*.py"))
    if args.names:
        ports = [p for p in ports if any(n in p.name for n in args.names)]
    passed = 0
    for path in ports:
        ok, errors, seconds = run_port(path, keyword, args.timeout)
        passed += ok
        print(f"{'PASS' if ok else 'FAIL'} {path.name} ({seconds:.0f} s)", flush=True)
        for err in errors[:4]:
            print(f"    {err[:300]}", flush=True)
    print(f"{passed}/{len(ports)} pending ports pass (pytest -k {keyword!r})" if keyword else
          f"{passed}/{len(ports)} pending ports pass")
    return 0 if passed == len(ports) else 1


if __name__ == "__main__":
    sys.exit(main())
