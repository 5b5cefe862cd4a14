"""keras.random, metrics and Variables on the CuPy backend (the CuPy 14 stand-in): only CuPy's
Generator methods, results on the device, and no host read per metric update."""
import numpy as np

import gradflow as gf
from gradflow import metrics as M
from gradflow import random as R


def test_random_draws_stay_on_the_device(cupy_standin):
    with gf.use_backend("cupy"):
        gen = R.SeedGenerator(1)
        draws = [R.normal((3, 4), seed=gen), R.uniform((3,), seed=2), R.randint((5,), 0, 3), R.truncated_normal((50,)),
                 R.gamma((4,), 2.0, seed=gen), R.beta((4,), 1.0, 2.0), R.binomial((4,), 5, 0.5),
                 R.categorical(np.zeros((2, 3), dtype="float32"), 4, seed=3),
                 R.dropout(gf.ones((4, 6)), 0.5, noise_shape=(1, 6), seed=gen), R.shuffle(gf.ones((3, 4)), axis=1)]
        for t in draws:
            assert isinstance(t.data, cupy_standin.ndarray)
        np.testing.assert_array_equal(R.normal((3,), seed=5).numpy(), R.normal((3,), seed=5).numpy())


def test_metric_updates_make_no_host_sync(cupy_standin):
    rng = np.random.default_rng(0)
    t = (rng.random((64, 3)) > 0.5).astype("float32")
    p = rng.random((64, 3)).astype("float32")
    with gf.use_backend("cupy"):
        ct, cp_ = cupy_standin.asarray(t), cupy_standin.asarray(p)
        metrics = [M.BinaryAccuracy(), M.Precision(thresholds=[0.3, 0.6]), M.AUC(), M.AUC(multi_label=True),
                   M.MeanSquaredError()]
        for m in metrics:
            m.update_state(ct[:1], cp_[:1])  # the first batch may move state to the device
        before = cupy_standin._standin.syncs
        for m in metrics:
            for lo in range(1, 64, 16):
                m.update_state(ct[lo:lo + 16], cp_[lo:lo + 16])
        assert cupy_standin._standin.syncs == before
        r = metrics[0].result()
        assert isinstance(r, gf.Tensor) and isinstance(r.data, cupy_standin.ndarray) and r.dtype == np.float32
        host = M.BinaryAccuracy()
        host.update_state(t, p)
        assert abs(float(r) - float(host.result())) < 1e-6
        v = gf.Variable(np.ones(3, dtype="float32"))
        v.assign_add(cupy_standin.ones(3, dtype="float32"))
        assert isinstance(v.data, cupy_standin.ndarray) and v.numpy().tolist() == [2.0, 2.0, 2.0]
