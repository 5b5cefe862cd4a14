"""Run the benchmark comparison and print the tables (same as `python -m benchmarks`).

    python examples/benchmark_kernels.py [--quick]
"""
import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root))
    sys.argv[0] = "benchmarks"
    runpy.run_module("benchmarks", run_name="__main__")
