"""During fit/predict on the CPU, BLAS runs on one thread so Numba's kernels own the cores; after, it is restored."""
import numpy as np
import pytest

threadpoolctl = pytest.importorskip("threadpoolctl")

import gradflow  # noqa: E402
from gradflow.callbacks import LambdaCallback  # noqa: E402
from gradflow.layers import Dense  # noqa: E402
from gradflow.models import Sequential  # noqa: E402


def blas_threads():
    """Thread counts of NumPy's own BLAS (the one gradflow's kernels call)."""
    return [i["num_threads"] for i in threadpoolctl.threadpool_info()
            if i["user_api"] == "blas" and "numpy" in i["filepath"]]


def test_blas_limited_only_inside_fit(monkeypatch):
    before = blas_threads()
    if not before:
        pytest.skip("no BLAS library visible to threadpoolctl")
    seen = []
    model = Sequential([Dense(4, input_shape=(3,), activation="relu"), Dense(2, activation="softmax")])
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    cb = LambdaCallback(on_epoch_end=lambda epoch, logs: seen.append(blas_threads()))
    model.fit(np.random.rand(20, 3).astype("float32"), np.random.randint(0, 2, 20), epochs=1, verbose=0, callbacks=[cb])
    assert seen and all(n == 1 for n in seen[0])
    assert blas_threads() == before


def test_env_override_and_numpy_kernels_leave_blas_alone(monkeypatch):
    from gradflow._threads import training_threads

    before = blas_threads()
    monkeypatch.setenv("GRADFLOW_BLAS_THREADS", "0")
    with training_threads("cpu"):
        assert blas_threads() == before
    monkeypatch.setenv("GRADFLOW_BLAS_THREADS", "1")
    monkeypatch.setattr(gradflow.config, "kernels", "numpy")
    with training_threads("cpu"):
        assert blas_threads() == before
    monkeypatch.setenv("GRADFLOW_BLAS_THREADS", "two")
    monkeypatch.setattr(gradflow.config, "kernels", "auto")
    with pytest.raises(ValueError, match="GRADFLOW_BLAS_THREADS"):
        training_threads("cpu")


def test_allocator_tuning_applies_once_and_can_be_disabled(monkeypatch):
    import sys

    from gradflow import _threads

    monkeypatch.setattr(_threads, "_malloc_tuned", False)
    monkeypatch.setenv("GRADFLOW_MALLOC_TUNING", "0")
    assert _threads.keep_large_buffers() is False
    monkeypatch.setenv("GRADFLOW_MALLOC_TUNING", "1")
    applied = _threads.keep_large_buffers()
    assert applied is (sys.platform.startswith("linux"))
    assert _threads.keep_large_buffers() is True or not applied  # second call: already done
