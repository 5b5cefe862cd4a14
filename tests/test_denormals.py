"""Denormals flush to zero inside gradflow's CPU work (config.flush_denormals) and never outside it."""
import numpy as np
import pytest

import gradflow as gf

numba = pytest.importorskip("numba")
fpenv = pytest.importorskip("gradflow.kernels.cpu._fpenv")
pytestmark = pytest.mark.skipif(not fpenv.HAVE_MXCSR, reason="MXCSR is x86 only")

TINY = np.float32(1e-39)  # a float32 denormal; half of it is one too


def _half_model():
    model = gf.Sequential([gf.Input((8,)), gf.layers.Dense(8, use_bias=False)])
    model.layers[0].set_weights([np.eye(8, dtype=np.float32) * 0.5])
    return model


def _user_numpy():
    a = np.full((16, 16), TINY, dtype=np.float32)
    return float((a @ np.eye(16, dtype=np.float32) * np.float32(0.5))[0, 0])


def test_predict_flushes_and_user_numpy_keeps_denormals(monkeypatch):
    before_main, before_workers = fpenv.get_csr(), fpenv.workers_csr()
    assert _user_numpy() > 0.0
    x = np.full((4, 8), TINY, dtype=np.float32)
    seen = []
    model = _half_model()
    out = model.predict(x, verbose=0)
    assert (out == 0.0).all()  # inside gradflow: flushed (x * 0.5 is a denormal)
    with gf.no_grad():
        seen.append(model(x).numpy())  # an inference model call flushes on the calling thread too
    assert (seen[0] == 0.0).all()
    # outside: the user's NumPy code on this thread and Numba's workers are as they were
    assert _user_numpy() > 0.0
    assert fpenv.get_csr() & fpenv.FTZ_DAZ == before_main & fpenv.FTZ_DAZ
    assert [v & fpenv.FTZ_DAZ for v in fpenv.workers_csr()] == [v & fpenv.FTZ_DAZ for v in before_workers]
    gf.config.set_flush_denormals(False)
    try:
        assert gf.config.is_flush_denormals_enabled() is False
        assert (model.predict(x, verbose=0) > 0.0).all()  # switched off: IEEE denormals
    finally:
        gf.config.set_flush_denormals(True)
    with pytest.raises(ValueError, match="flush_denormals"):
        gf.config.set_flush_denormals("yes")


def test_fit_sets_ftz_on_numba_workers():
    """Inside fit every Numba worker runs with FTZ|DAZ (a callback reads each thread's MXCSR)."""
    seen = []
    model = _half_model()
    model.compile(optimizer="sgd", loss="mse")
    cb = gf.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        (fpenv.get_csr(), list(fpenv.workers_csr()))))
    model.fit(np.ones((8, 8), np.float32), np.ones((8, 8), np.float32), epochs=1, verbose=0, callbacks=[cb])
    main, workers = seen[0]
    assert main & fpenv.FTZ_DAZ == fpenv.FTZ_DAZ
    assert all(v & fpenv.FTZ_DAZ == fpenv.FTZ_DAZ for v in workers)
    assert fpenv.get_csr() & fpenv.FTZ_DAZ == 0 or main == 0


def test_recurrent_kernel_flushes_its_own_threads():
    """The fused recurrent kernels set FTZ|DAZ inside themselves (also outside fit) and restore it."""
    from gradflow.ops import recurrent as rec

    n, t, u = 4, 3, 2
    xw = np.full((n, t, u), TINY, np.float32)
    U = np.zeros((u, u), np.float32)
    h0 = np.zeros((n, u), np.float32)
    y = rec.simple_rnn_sequence(gf.Tensor(xw), gf.Tensor(U), gf.Tensor(h0)).numpy()
    assert (y == 0.0).all()  # tanh(denormal) = denormal unless flushed
    assert _user_numpy() > 0.0
    gf.config.set_flush_denormals(False)
    try:
        assert (rec.simple_rnn_sequence(gf.Tensor(xw), gf.Tensor(U), gf.Tensor(h0)).numpy() > 0.0).all()
    finally:
        gf.config.set_flush_denormals(True)


def test_an_interrupt_while_entering_leaves_this_thread_unflushed():
    """A KeyboardInterrupt raised inside the entry of gradflow's thread block (as a SIGINT mid-fit
    does) must not leave the caller's thread flushed: ``with`` never calls ``__exit__`` then."""
    from gradflow import _threads

    class Interrupting:
        def get_num_threads(self):
            raise KeyboardInterrupt

    before, active = fpenv.get_csr() & fpenv.FTZ_DAZ, _threads._active[0]
    with pytest.raises(KeyboardInterrupt):
        with _threads._Limited([Interrupting()], 1, fpenv.Flushed()):
            pass
    assert fpenv.get_csr() & fpenv.FTZ_DAZ == before
    assert _threads._active[0] == active
    assert _user_numpy() > 0.0


def test_exit_restores_every_worker_it_flushed_even_after_the_pool_shrank():
    """Numba's pool narrowed inside the block (a callback calling ``numba.set_num_threads(1)``): the
    restore still reaches every thread flushed on entry, so none stays flushed for the user's code."""
    full = numba.get_num_threads()
    if full < 2:
        pytest.skip("needs two Numba threads")
    before = [v & fpenv.FTZ_DAZ for v in fpenv.workers_csr()]
    try:
        with fpenv.Flushed():
            assert all(v & fpenv.FTZ_DAZ == fpenv.FTZ_DAZ for v in fpenv.workers_csr())
            numba.set_num_threads(1)
        assert numba.get_num_threads() == 1  # the caller's setting is kept
    finally:
        numba.set_num_threads(full)
    assert [v & fpenv.FTZ_DAZ for v in fpenv.workers_csr()] == before


def test_recurrent_kernels_cache_key_follows_fpenv_source(tmp_path):
    """Numba's disk cache keys a kernel by its own file only; the recurrent kernels (and every helper
    they compile in) are cached through kernels/cpu/_jit.py, whose key for recurrent.py hashes every
    source it imports from, so an edit to _fpenv.py (the MXCSR helpers they inline) or _gemm.py
    recompiles them."""
    import os
    import shutil

    from numba.core.registry import CPUDispatcher

    from gradflow.kernels.cpu import _jit, recurrent

    kernels = [f for f in vars(recurrent).values() if isinstance(f, CPUDispatcher)]
    assert {"lstm_forward", "gru_backward", "_lstm_fwd_block"} <= {k.__name__ for k in kernels}
    cached = {id(k) for k in _jit.cached_kernels()}
    assert all(id(k) in cached for k in kernels)
    copy = tmp_path / "kernels"
    shutil.copytree(os.path.dirname(os.path.dirname(_jit.__file__)), copy,
                    ignore=shutil.ignore_patterns("__pycache__"))
    keys = []
    try:
        for edit in (None, "_fpenv.py", "_gemm.py"):
            if edit:
                (copy / "cpu" / edit).write_text((copy / "cpu" / edit).read_text() + "\n# edited\n")
            _jit.source_key.cache_clear()
            _jit._imported_files.cache_clear()
            keys.append(_jit.source_key(str(copy / "cpu" / "recurrent.py")))
    finally:
        _jit.source_key.cache_clear()
        _jit._imported_files.cache_clear()
    assert len(set(keys)) == 3


def test_small_one_batch_predict_flushes_only_the_calling_thread(monkeypatch):
    """A one-sample predict skips the worker round trip (two pool launches, the largest part of its
    overhead), as an inference ``model(x)`` does; a larger batch flushes every worker before the first
    kernel that runs on them (here the callback's read of the workers' registers)."""
    from gradflow.trainers import trainer

    calls = []
    real = fpenv._on_every_worker
    monkeypatch.setattr(fpenv, "_on_every_worker", lambda *a: calls.append(a[1]) or real(*a))
    model = _half_model()
    small = np.full((1, 8), TINY, dtype=np.float32)
    assert (model.predict(small, verbose=0) == 0.0).all()
    assert (model.predict_on_batch(small) == 0.0).all()
    assert calls == []
    big = np.full((trainer.SMALL_INFERENCE_ROWS + 1, 8), TINY, dtype=np.float32)
    seen = []
    cb = gf.callbacks.LambdaCallback(on_predict_batch_end=lambda b, logs: seen.append(list(fpenv.workers_csr())))
    assert (model.predict(big, batch_size=64, verbose=0, callbacks=[cb]) == 0.0).all()
    assert calls == [True, False]  # flushed before the first threaded kernel, restored on exit
    assert seen and all(v & fpenv.FTZ_DAZ == fpenv.FTZ_DAZ for v in seen[0])
    assert _user_numpy() > 0.0


def test_a_block_without_threaded_kernels_never_launches_the_workers(monkeypatch):
    """The workers' flush waits for the first kernel that may run on them (``_jit.BEFORE_THREADS``): a
    block whose kernels all run serial (a small model's first run) neither launches nor compiles it,
    and a threaded kernel (parallel=True, or a serial one calling it) runs it first, once."""
    from gradflow.kernels.cpu import _jit, batchnorm, dropout

    calls = []
    real = fpenv._on_every_worker
    monkeypatch.setattr(fpenv, "_on_every_worker", lambda *a: calls.append(a[1]) or real(*a))
    with fpenv.Flushed():
        assert fpenv.get_csr() & fpenv.FTZ_DAZ == fpenv.FTZ_DAZ
        assert len(_jit.BEFORE_THREADS) == 1
    assert calls == [] and _jit.BEFORE_THREADS == []
    with fpenv.Flushed():
        fpenv.workers_csr()
        fpenv.workers_csr()
    assert calls == [True, False] and _jit.BEFORE_THREADS == []
    # which kernels count as threaded: parallel builds, and serial kernels that call one
    assert isinstance(dropout._apply_parallel, _jit._ThreadedDispatcher)
    assert not isinstance(dropout._apply_serial, _jit._ThreadedDispatcher)
    assert isinstance(batchnorm._forward, _jit._ThreadedDispatcher)  # serial, calls the parallel _stats


def test_every_kernel_that_calls_a_threaded_one_is_marked_threaded():
    """A serial kernel that calls a ``parallel=True`` one (batch norm's ``_forward`` calls ``_stats``
    and ``_affine``, the latter defined after it) starts the workers too: it must run the pending
    worker flush, whatever the order the module defines them in."""
    import importlib
    import pkgutil

    from gradflow.kernels import cpu
    from gradflow.kernels.cpu import _jit

    for info in pkgutil.iter_modules(cpu.__path__):
        importlib.import_module(f"{cpu.__name__}.{info.name}")
    _jit.refresh_threaded()
    assert not [d.py_func.__qualname__ for d in _jit._PLAIN if _jit._threaded(d)]
    from gradflow.kernels.cpu import batchnorm
    assert isinstance(batchnorm._inference, _jit._ThreadedDispatcher)


def test_a_fresh_process_pool_started_inside_the_block_gets_the_users_register_back(tmp_path):
    """In a new process the first threaded kernel inside the block creates the pool's threads (OpenMP
    does on its first parallel region), and a thread inherits its creator's register: the pending
    worker flush runs with the caller's own register, so no worker keeps FTZ|DAZ after the block."""
    import os

    from _first_run import run_fresh

    snippet = """
        from gradflow.kernels.cpu import _fpenv as f
        before = f.get_csr() & f.FTZ_DAZ
        with f.Flushed():
            inside = [int(v) & f.FTZ_DAZ for v in f.workers_csr()]
        after = [int(v) & f.FTZ_DAZ for v in f.workers_csr()]
        json.dump({"before": before, "inside": inside, "after": after, "main": f.get_csr() & f.FTZ_DAZ}, sys.stdout)
    """
    run = run_fresh(snippet, tmp_path, timeout=300, GRADFLOW_CACHE_DIR=os.environ.get("GRADFLOW_CACHE_DIR", "off"))
    assert all(v == fpenv.FTZ_DAZ for v in run["inside"])
    assert run["after"] == [run["before"]] * len(run["after"]) and run["main"] == run["before"]
