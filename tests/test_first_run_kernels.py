"""The README example's first run compiles one float32 signature of each kernel it uses and nothing
else (the fused inference conv + pool is not compiled for a few validation batches); that path gives
the fused kernel's numbers bit for bit; the kernel cache prunes stale key folders. No timings:
compiles are counted with Numba's event API and the dispatchers' signatures."""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from _first_run import gradflow_compiles, run_fresh

pytest.importorskip("numba")

from gradflow.kernels.cpu import _jit  # noqa: E402
from gradflow.kernels.cpu import conv2d as nb_conv2d  # noqa: E402

#: the README example's model (examples/mnist_cnn.py on 8x8 digits), a few batches of it with validation
#: data and an evaluate: every kernel compiled (event) or loaded from disk (a dispatcher's signatures)
SCRIPT = """
    import numpy as np
    import gradflow
    from gradflow import layers, models
    from gradflow.kernels.cpu import _jit

    rng = np.random.default_rng(0)
    x = rng.random((96, 8, 8, 1), dtype=np.float32)
    y = rng.integers(0, 10, 96)
    model = models.Sequential([
        layers.Input((8, 8, 1)),
        layers.Conv2D(32, 3, activation="relu", padding="same"), layers.MaxPooling2D(2),
        layers.Conv2D(64, 3, activation="relu", padding="same"), layers.MaxPooling2D(2),
        layers.Flatten(), layers.Dropout(0.25), layers.Dense(10, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:64], y[:64], batch_size=32, epochs=1, validation_data=(x[64:], y[64:]), verbose=0)
    model.evaluate(x, y, batch_size=96, verbose=0)
    loaded = [[d.py_func.__module__, d.py_func.__qualname__, str(s)] for d in _jit.cached_kernels()
              for s in d.signatures]
    json.dump({"compiled": compiled, "loaded": loaded, "cache_dir": _jit.kernel_cache_dir()}, sys.stdout)
"""

#: the kernels the example may run (and the helpers they call): conv forward (also backward-input, as
#: the flipped-filter forward), backward-filter with its bias sum, and the thread setup
EXAMPLE_KERNELS = {
    ("gradflow.kernels.cpu.conv2d", "_simd_kernels.<locals>.forward"),
    ("gradflow.kernels.cpu.conv2d", "_simd_kernels.<locals>.conv_row"),
    ("gradflow.kernels.cpu.conv2d", "_simd_kernels.<locals>.backward_filter"),
    ("gradflow.kernels.cpu._simd", "tile_rows"),
    ("gradflow.kernels.cpu.dropout", "_apply_serial"),  # the example's Dropout(0.25) masks
}


def _run_example(tmp_path: Path) -> dict:
    return run_fresh(SCRIPT, tmp_path, XDG_CACHE_HOME=str(tmp_path / "xdg"))


@pytest.mark.slow
def test_example_compiles_one_float32_signature_per_kernel_and_prunes_stale_caches(tmp_path):
    # a key folder of an older release, unused for two days, and one used a minute ago (another process)
    numba_root = tmp_path / "xdg" / "gradflow" / "numba"
    stale, recent = numba_root / "gradflow-0.0.1-numba-0.1-py30-0123456789abcdef", numba_root / "gradflow-0.0.2-x"
    for folder, age in ((stale, 2 * 86400), (recent, 60)):
        folder.mkdir(parents=True)
        (folder / "kernel.nbi").write_bytes(b"old")
        os.utime(folder, (time.time() - age, time.time() - age))

    run = _run_example(tmp_path)
    mine = gradflow_compiles(run)
    names = {(mod, name) for mod, name, _ in mine}
    # nothing outside the ops that ran on Numba: no fused conv + pool for three validation batches,
    # no pooling kernel (small pools run NumPy), nothing for the Dense layer; the thread setup may compile
    extra = {(m, n) for m, n in names if not m.endswith("._fpenv")} - EXAMPLE_KERNELS
    assert not extra, sorted(extra)
    assert ("gradflow.kernels.cpu.conv2d", "_simd_kernels.<locals>.forward") in names
    # every kernel ran serial: the workers' flush (a parallel=True kernel) never ran, nor compiled
    assert ("gradflow.kernels.cpu._fpenv", "_flush_workers") not in names
    # one signature per kernel, all float32 (no float64 variant, no non-contiguous 'A' layout)
    for mod, name in names:
        sigs = {s for m, n, s in mine if (m, n) == (mod, name)}
        assert len(sigs) == 1, (name, sigs)
    for _, name, sig in mine + run["loaded"]:
        assert "float64" not in sig and ", A)" not in sig, (name, sig)
    loaded = {(m, n) for m, n, _ in run["loaded"]}
    assert ("gradflow.kernels.cpu.conv2d", "_simd_kernels.<locals>.forward_pool") not in loaded
    # the stale key folder is gone, the recently used one and the current one are kept
    assert not stale.exists() and recent.exists()
    assert Path(run["cache_dir"]).is_dir() and list(Path(run["cache_dir"]).glob("*/*.nbi"))


def test_prune_stale_removes_only_old_sibling_key_folders(tmp_path):
    now = time.time()
    current = tmp_path / "gradflow-9.9-numba-0.68-py311-cafe"
    old_key = tmp_path / "gradflow-9.8-numba-0.68-py311-beef"
    young_key = tmp_path / "gradflow-9.9-numba-0.68-py311-f00d"
    other_dir = tmp_path / "someone-else"
    old_file = tmp_path / "gradflow-notes"
    for d in (current, old_key, young_key, other_dir):
        d.mkdir()
        (d / "x.nbi").write_bytes(b"")
    old_file.write_text("not a key folder")
    day = 86400
    for p, age in ((current, 3 * day), (old_key, 2 * day), (young_key, day - 600), (other_dir, 9 * day),
                   (old_file, 9 * day)):
        os.utime(p, (now - age, now - age))

    removed = _jit.prune_stale(str(current), now=now)

    assert removed == [str(old_key)] and not old_key.exists()
    assert young_key.exists() and other_dir.exists() and old_file.exists()
    assert current.exists() and current.stat().st_mtime == pytest.approx(now)  # marked as used now
    # a folder that cannot be opened is no error
    assert _jit.prune_stale(str(tmp_path / "gradflow-missing"), now=now) == []


def _double(a):
    for i in range(a.shape[0]):
        a[i] *= 2


def test_ready_loads_from_disk_and_never_compiles(tmp_path, monkeypatch):
    import numba

    if _jit._BASES is None:
        pytest.skip("this Numba's cache internals differ: the kernels use Numba's own cache")
    monkeypatch.setattr(numba.config, "CACHE_DIR", "")
    monkeypatch.setenv("GRADFLOW_CACHE_DIR", str(tmp_path))
    a = np.ones(3, np.float32)
    first = _jit.njit(_double, cache=True)
    assert not _jit.ready(first, a) and not first.signatures  # neither compiled nor on disk: not compiled by asking
    first(a)
    assert _jit.ready(first, a) and not _jit.ready(first, np.ones(3))  # float64: never compiled
    second = _jit.njit(_double, cache=True)  # a new process's dispatcher, in effect
    assert _jit.ready(second, a) and second.signatures and second.stats.cache_hits  # loaded from disk
    second(a)
    np.testing.assert_array_equal(a, 4)
    assert not _jit.ready(second, "not an array")
    gone = list(tmp_path.glob("numba/*/*/*._double-*.nbc"))
    assert gone
    for data in gone:  # the index still names it, the machine code is gone
        data.unlink()
    third = _jit.njit(_double, cache=True)
    assert not _jit.ready(third, a) and not third.signatures  # and nothing compiled meanwhile


def _conv_pool_case(rng, b: bool, N=3, H=8, W=10, C=5, F=32):
    x = rng.standard_normal((N, H, W, C)).astype(np.float32)
    w = rng.standard_normal((3, 3, C, F)).astype(np.float32)
    bias = rng.standard_normal(F).astype(np.float32) if b else None
    return x, w, bias


@pytest.mark.parametrize("activation", [None, "relu"])
@pytest.mark.parametrize("with_bias", [False, True])
def test_unfused_inference_path_equals_the_fused_kernel_bitwise(monkeypatch, activation, with_bias):
    """Below FUSE_WORK (and with the fused kernel neither compiled nor on disk) conv2d_pool_forward runs
    the conv kernel then a window max; whichever runs, the numbers are the same, so the choice (by work
    done and cache state) never changes a deterministic result."""
    if nb_conv2d.pick_nr(32) == 0:
        pytest.skip("no SIMD tile width for 32 filters here")
    rng = np.random.default_rng(7)
    x, w, b = _conv_pool_case(rng, with_bias)
    pads = ((1, 1), (1, 1))
    asked = []
    monkeypatch.setattr(nb_conv2d, "ready", lambda *a: asked.append(a) or False)
    monkeypatch.setattr(nb_conv2d, "FUSE_WORK", 1 << 62)
    monkeypatch.setattr(nb_conv2d, "_UNFUSED_WORK", {})
    monkeypatch.setattr(nb_conv2d, "_FUSED", set())
    unfused = nb_conv2d.conv2d_pool_forward(x, w, b, (1, 1), pads, (1, 1), (2, 3), activation=activation)
    assert sum(nb_conv2d._UNFUSED_WORK.values()) == 3 * 8 * 10 * 32 * 9 * 5  # the unfused path ran, counted
    monkeypatch.setattr(nb_conv2d, "FUSE_WORK", 0)
    out = np.full_like(unfused, np.nan)
    fused = nb_conv2d.conv2d_pool_forward(x, w, b, (1, 1), pads, (1, 1), (2, 3), out=out, activation=activation)
    assert fused is out
    np.testing.assert_array_equal(fused, unfused)
    assert nb_conv2d._FUSED  # from now on this process runs it fused
    # and a write into a pre-filled out on the unfused path too
    monkeypatch.setattr(nb_conv2d, "FUSE_WORK", 1 << 62)
    nb_conv2d._FUSED.clear()
    out2 = np.full_like(unfused, np.nan)
    assert nb_conv2d.conv2d_pool_forward(x, w, b, (1, 1), pads, (1, 1), (2, 3), out=out2,
                                         activation=activation) is out2
    np.testing.assert_array_equal(out2, unfused)
    assert len(asked) == 1  # the disk cache is asked once per kernel and dtype, not per batch


def _force(monkeypatch, kernel, parallel: bool):
    """Make a SerialOrParallel kernel run its parallel (or serial) build for float32 from now on."""
    f32 = np.dtype(np.float32)
    monkeypatch.setattr(kernel, "_parallel_for", {f32} if parallel else set())
    monkeypatch.setattr(kernel, "_checked", {f32})
    monkeypatch.setattr(kernel, "budget", 0 if parallel else 1 << 62)


@pytest.mark.slow
def test_serial_and_parallel_conv_builds_agree_bitwise(monkeypatch):
    """The conv kernels run serial until their parallel build is compiled, on disk or repaid
    (PARALLEL_WORK): both builds must give the same numbers (forward with its dw > 1 branch,
    backward-input as the flipped-filter forward, backward-filter with its bias sum)."""
    nr = nb_conv2d.pick_nr(32)
    if nr == 0:
        pytest.skip("no SIMD tile width for 32 filters here")
    if not nb_conv2d._SIMD[nr].forward.split:
        pytest.skip("Numba's own cache: only the parallel build exists")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 9, 7, 32)).astype(np.float32)
    w = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    b = rng.standard_normal(32).astype(np.float32)
    dy = rng.standard_normal((3, 9, 7, 32)).astype(np.float32)  # 'same' output, for both dilations
    results = []
    for parallel in (False, True):
        for name in ("forward", "backward_filter"):
            _force(monkeypatch, getattr(nb_conv2d._SIMD[nr], name), parallel)
        got = []
        for dil in ((1, 1), (1, 2)):
            pads = ((1, 1), (dil[1], dil[1]))
            got.append(nb_conv2d.conv2d_forward(x, w, b, (1, 1), pads, dil, activation="relu"))
            got.append(nb_conv2d.conv2d_backward_input(dy, w, x.shape, (1, 1), pads, dil))
            db = np.full(32, np.nan, np.float32)
            got += [nb_conv2d.conv2d_backward_filter(dy, x, w.shape, (1, 1), pads, dil, bias_out=db), db]
        results.append(got)
    for serial, par in zip(*results):
        np.testing.assert_array_equal(serial, par)


def test_serial_or_parallel_switches_by_work_and_readiness(monkeypatch):
    calls = []

    class Build:
        def __init__(self, name):
            self.name = name

        def __call__(self, *args):
            calls.append(self.name)

    def kernel(name):
        k = object.__new__(_jit.SerialOrParallel)
        k.serial, k.parallel, k.budget, k.split = Build(f"{name} serial"), Build(f"{name} parallel"), 100, True
        k._work, k._checked, k._parallel_for = {}, set(), set()
        return k

    monkeypatch.setattr(_jit, "PARALLEL_PAYS", [False])
    monkeypatch.setattr(_jit, "ready", lambda disp, *args: False)
    k, other = kernel("k"), kernel("other")
    a32, a64 = np.ones(2, np.float32), np.ones(2)
    k(60, a32)
    k(39, a32)
    k(99, a64)
    other(5, a32)
    assert calls == ["k serial"] * 3 + ["other serial"]
    k(1, a32)  # 100 units of float32 work: the parallel build from now on...
    k(0, a32)
    k(0, a64)  # ...for every dtype and every split kernel of the process: a long run
    other(0, a32)
    assert calls[4:] == ["k parallel"] * 3 + ["other parallel"]

    monkeypatch.setattr(_jit, "PARALLEL_PAYS", [False])
    k, other = kernel("k"), kernel("other")
    monkeypatch.setattr(_jit, "ready", lambda disp, *args: True)  # compiled or on disk: parallel at once
    k(0, a64)
    other(0, a32)
    assert calls[-2:] == ["k parallel", "other parallel"]


def _all_split_kernels():
    from gradflow.kernels.cpu import bn_pool, epilogue, pooling

    found = []
    for mod in (nb_conv2d, pooling, bn_pool, epilogue):
        found += [k for k in vars(mod).values() if isinstance(k, _jit.SerialOrParallel)]
    for simd in nb_conv2d._SIMD.values():
        found += [simd.forward, simd.backward_filter]
    return found


@pytest.mark.slow  # compiles the parallel build of every split kernel (~35 s on 2 cores): the only test of them
def test_every_split_kernel_gives_the_same_numbers_serial_and_parallel(monkeypatch):
    """Every kernel built serial and parallel (pooling, batch-norm + pool, the bias/ReLU backward, the
    im2col conv paths for filter counts no SIMD tile takes) agrees bitwise between its builds. The
    default run checks the SIMD conv kernels (a real CNN's switch) above; the rest run the same
    ``prange`` bodies over independent tasks, and their parallel builds are what ran before."""
    from gradflow.kernels import cpu

    kernels = _all_split_kernels()
    assert len(kernels) >= 12 and all(k.split for k in kernels)
    rng = np.random.default_rng(11)
    x = rng.standard_normal((4, 9, 8, 6)).astype(np.float32)
    w = rng.standard_normal((3, 3, 6, 10)).astype(np.float32)  # 10 filters: no SIMD tile width
    w1 = rng.standard_normal((2, 2, 6, 10)).astype(np.float32)  # K = 24 <= SMALL_K: the packed BLAS path
    gamma, beta = rng.random(6, dtype=np.float32) + 0.5, rng.standard_normal(6).astype(np.float32)
    pads, valid = ((1, 1), (1, 1)), ((0, 0), (0, 0))

    def run():
        out = [cpu.conv2d_forward(x, w, None, (1, 1), pads, (1, 1)),
               cpu.conv2d_forward(x, w1, None, (2, 2), valid, (1, 1))]
        dy = np.linspace(-1, 1, out[0].size, dtype=np.float32).reshape(out[0].shape)
        dy2 = np.linspace(-1, 1, 4 * 5 * 4 * 10, dtype=np.float32).reshape(4, 5, 4, 10)
        out += [cpu.conv2d_backward_input(dy, w, x.shape, (1, 1), pads, (1, 1)),
                cpu.conv2d_backward_input(dy2, w, x.shape, (2, 2), pads, (1, 1)),
                cpu.conv2d_backward_filter(dy, x, w.shape, (1, 1), pads, (1, 1)),
                cpu.conv2d_backward_filter(dy2, x, w.shape, (2, 2), pads, (1, 1))]
        y, arg = cpu.max_pool2d_forward(x, (3, 3), (2, 2), pads)
        out += [y, arg, cpu.max_pool2d_backward(y, arg, x.shape, (3, 3), (2, 2), pads)]
        a = cpu.avg_pool2d_forward(x, (2, 2), (1, 1), valid)
        out += [a, cpu.avg_pool2d_backward(a, x.shape, (2, 2), (1, 1), valid)]
        yb, ab, mean, inv = cpu.bn_relu_max_pool_forward(x, gamma, beta, 1e-3, (2, 2))
        out += [yb, ab, mean, inv, *cpu.bn_relu_max_pool_backward(yb - 0.1, yb, ab, x, gamma, mean, inv, (2, 2))]
        out += list(cpu.bias_act_backward(x.reshape(-1, 6), np.maximum(x, 0).reshape(-1, 6)))
        return out

    results = []
    for parallel in (False, True):
        for k in kernels:
            _force(monkeypatch, k, parallel)
        results.append(run())
    for i, (serial, par) in enumerate(zip(*results)):
        np.testing.assert_array_equal(serial, par, err_msg=f"result {i}")
