"""benchmarks/bench_models_more.py --quick: the five models of issue 24 train in gradflow and PyTorch on the
same weights, with the same first-batch loss."""
import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("torch")
ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_quick_mode_runs_every_model_with_equal_first_loss():
    spec = importlib.util.spec_from_file_location("_bench_models_more", ROOT / "benchmarks" / "bench_models_more.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    results = bench.main(["--quick"])
    assert set(results) == set("LGTMU")
    for name, r in results.items():
        assert r["samples_per_s"]["gradflow"] > 0, name
        assert r["loss_rel_diff"] < 1e-5, (name, r["first_loss"])
