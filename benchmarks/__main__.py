"""Run every CPU benchmark in turn (and the GPU one where a GPU works): `python -m benchmarks [--quick]`."""
import argparse
import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SUITES = ["bench_overhead", "bench_kernels", "bench_models", "bench_gpu"]


def main():
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="fewer repeats and samples")
    p.add_argument("--only", choices=SUITES, action="append", help="run only these suites")
    args = p.parse_args()
    for name in args.only or SUITES:
        path = HERE / f"{name}.py"
        if not path.exists():
            continue
        print(f"\n=== {name} ===", flush=True)
        sys.argv = [str(path)] + (["--quick"] if args.quick else [])
        try:
            runpy.run_path(str(path), run_name="__main__")
        except SystemExit as exc:
            if exc.code not in (None, 0):
                print(f"{name} exited with {exc.code}")


if __name__ == "__main__":
    main()
