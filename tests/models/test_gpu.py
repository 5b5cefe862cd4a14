"""fit/evaluate/predict on a CUDA GPU (CuPy): data moves once, results come back as NumPy."""
import numpy as np
import pytest

import gradflow as gf
from gradflow.optimizers import Adam

pytestmark = pytest.mark.gpu


def test_fit_predict_save_on_the_gpu(mk, tmp_path):
    import cupy

    from gradflow.models import load_model

    x, y = mk.people(40)
    with gf.use_backend("cupy"):
        model = mk.mlp()
        assert all(isinstance(w.data, cupy.ndarray) for w in model.weights)
        model.compile(optimizer=Adam(0.02), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=8, epochs=5, validation_split=0.2, verbose=0)
        assert hist.history["accuracy"][-1] > 0.7
        probs = model.predict(x, verbose=0)
        assert isinstance(probs, np.ndarray) and probs.shape == (40, 2)
        loss, acc = model.evaluate(cupy.asarray(x), cupy.asarray(y), verbose=0)  # CuPy inputs too
        assert isinstance(loss, float) and 0 <= acc <= 1
        model.save(tmp_path / "gpu.gflow")
        restored = load_model(tmp_path / "gpu.gflow")
        np.testing.assert_allclose(restored.predict(x, verbose=0), probs, rtol=1e-5)


def test_model_to_cuda_and_back(mk):
    x, y = mk.people(16)
    model = mk.mlp()  # built on the CPU
    cpu_probs = model.predict(x, verbose=0)
    model.to("cuda")
    np.testing.assert_allclose(model.predict(x, verbose=0), cpu_probs, rtol=1e-5)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    model.to("cpu")
    assert all(isinstance(w, np.ndarray) for w in model.get_weights())
    model.fit(x, y, epochs=1, verbose=0)  # the optimizer follows its parameters back
