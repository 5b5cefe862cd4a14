"""The CuPy backend on the CuPy 14 stand-in (see cupy/__init__.py): the CPU catches what would
otherwise first fail on a lent GPU, such as calling a Generator method CuPy lacks (issue 27)."""
import sys
from pathlib import Path

import numpy as np
import pytest

import gradflow as gf
from gradflow import ops
from gradflow.autograd.tensor import Parameter, Tensor
from gradflow.distribution import DataParallel, FakeCommunicator
from gradflow.optimizers import SGD, Adam, FiniteGate, all_finite, rollback_unless

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bench_models import gradflow_model  # noqa: E402

SHAPES = {"A": (28, 28, 1), "B": (32, 32, 3)}


def test_the_stand_in_has_cupys_api_only(cupy_standin):
    cp = cupy_standin
    gen = cp.random.default_rng(0)
    for missing in ("permutation", "choice", "shuffle", "normal"):
        with pytest.raises(AttributeError):
            getattr(gen, missing)
    assert gen.random(3, dtype=np.float32).dtype == np.float32
    with pytest.raises(AttributeError):
        cp.no_such_function  # noqa: B018
    a = cp.arange(4, dtype=np.float32)
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError):
        a + np.ones(4, np.float32)  # CuPy does not mix host arrays in
    assert isinstance(a.sum(), cp.ndarray) and a.sum().shape == ()  # reductions stay on the device
    assert cp.cuda.Device().attributes["MultiProcessorCount"] == 132
    cp._standin.reset()
    float(a.sum())
    a.get()
    assert cp._standin.syncs == 2


def test_fit_shuffles_on_the_cupy_backend(cupy_standin):
    """Issue 27 bug 1: fit shuffles by default, and the shuffle used Generator.permutation."""
    x = np.random.default_rng(0).random((24, 4), dtype=np.float32)
    y = (x[:, 0] > 0.5).astype(np.int64)
    with gf.use_backend("cupy"):
        model = gf.Sequential([gf.Input((4,)), gf.layers.Dense(8, activation="relu"), gf.layers.Dropout(0.2),
                               gf.layers.Dense(2, activation="softmax")])
        assert isinstance(model.weights[0].data, cupy_standin.ndarray)
        model.compile(optimizer=Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        hist = model.fit(x, y, batch_size=8, epochs=2, verbose=0)  # shuffle=True by default
    assert np.isfinite(hist.history["loss"]).all()


_FIT_SYNCS: dict = {}  # model name -> host syncs per step of the default fit, measured below


@pytest.mark.parametrize("name", ["A", "B"])
def test_models_a_and_b_fit_evaluate_predict(cupy_standin, name):
    """The benchmark models on the CuPy backend: the CUDA kernels (on the emulator) give the numpy
    backend's predictions for the same weights, and fit/evaluate/predict run end to end. Also
    counts the host syncs per step of the default fit (for the two tests further down)."""
    _FIT_SYNCS[name] = _fit(cupy_standin, name, check_predictions=True)


def _fit(cp, name, check_predictions=False) -> float:
    shape = SHAPES[name]
    x = np.random.default_rng(1).random((16, *shape), dtype=np.float32)
    y = np.arange(16) % 10
    cpu = gradflow_model(name, shape) if check_predictions else None
    with gf.use_backend("cupy"):
        model = gradflow_model(name, shape)
        if cpu is not None:
            model.set_weights(cpu.get_weights())
            np.testing.assert_allclose(model.predict(x, verbose=0), cpu.predict(x, verbose=0), rtol=1e-4, atol=1e-6)
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # builds the optimizer, warms the caches
        cp._standin.reset()
        hist = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        syncs = cp._standin.syncs
        loss = model.evaluate(x, y, verbose=0)
        probs = model.predict(x, verbose=0)
    assert np.isfinite(hist.history["loss"]).all() and np.isfinite(loss)
    assert isinstance(probs, np.ndarray) and probs.shape == (16, 10)
    # per epoch (not per step): the shuffled order, the loss metric's sum and the finiteness gate's check
    return (syncs - 3) / 2


def _manual_steps(cp, name, steps):
    """Forward, loss, backward and a gated optimizer step, as the trainer will run them with the
    device-side building blocks; returns the host syncs counted over ``steps`` steps."""
    shape = SHAPES[name]
    x = cp.asarray(np.random.default_rng(2).random((8, *shape), dtype=np.float32))
    onehot = cp.asarray(np.eye(10, dtype=np.float32)[np.arange(8) % 10])
    model = gradflow_model(name, shape)
    params = [p for p in model.weights if p.trainable]
    stateful = [p for p in model.weights if not p.trainable]
    opt = model.optimizer
    gate = FiniteGate()
    cp._standin.reset()
    for _ in range(steps):
        for p in params:
            p.grad = None
        saved = [p.data.copy() for p in stateful]
        probs = model(Tensor(x), training=True)
        loss = -(Tensor(onehot) * ops.log(probs + 1e-7)).sum() * (1.0 / 8)
        loss.backward()
        ok = gate.update(all_finite([loss.data] + [p.data for p in stateful]))
        rollback_unless(ok, [p.data for p in stateful], saved)
        opt.step(params, apply_if=ok)
    return cp._standin.syncs


@pytest.mark.parametrize("name", ["A", "B"])
def test_a_gated_train_step_makes_no_host_sync(cupy_standin, name):
    with gf.use_backend("cupy"):
        assert _manual_steps(cupy_standin, name, 2) == 0


def _fit_syncs_per_step(cp, name) -> float:
    if name not in _FIT_SYNCS:  # the test above did not run first (a -k selection)
        _FIT_SYNCS[name] = _fit(cp, name)
    return _FIT_SYNCS[name]


@pytest.mark.parametrize("name", ["A", "B"])
def test_default_fit_syncs_per_step_are_known(cupy_standin, name):
    """The default fit reads nothing back per step (finiteness is gated on the device, labels are checked
    once per fit on the host); per-epoch reads are subtracted."""
    assert _fit_syncs_per_step(cupy_standin, name) <= 0


@pytest.mark.parametrize("name", ["A", "B"])
def test_default_fit_makes_no_host_sync_per_step(cupy_standin, name):
    assert _fit_syncs_per_step(cupy_standin, name) == 0


@pytest.mark.parametrize("on_device", [False, True])
def test_a_non_finite_step_and_those_after_it_apply_nothing(request, on_device):
    """FiniteGate + Optimizer.step(apply_if=): the rollback semantics of a host check every step."""
    xp = request.getfixturevalue("cupy_standin") if on_device else np
    w = Parameter(xp.asarray(np.ones(3, np.float32)))
    stat = xp.asarray(np.zeros(2, np.float32))
    opt = Adam(0.1)
    gate = FiniteGate()
    history = []
    for step, gval in enumerate([1.0, np.nan, 1.0]):
        w.grad = Tensor(xp.asarray(np.full(3, gval, np.float32)))
        saved = [stat.copy()]
        stat += 1.0  # a forward pass's statistic update
        ok = gate.update(all_finite([w.grad.data, stat]))
        rollback_unless(ok, [stat], saved)
        opt.step([w], apply_if=ok)
        history.append(backend_copy(w.data))
    assert not np.array_equal(history[0], np.ones(3))  # step 0 applied
    np.testing.assert_array_equal(history[1], history[0])  # the NaN step applied nothing
    np.testing.assert_array_equal(history[2], history[0])  # nor did any step after it
    np.testing.assert_array_equal(backend_copy(stat), np.ones(2))
    assert opt.iterations == 3
    assert gate.check(opt) == 1 and opt.iterations == 1
    assert gate.check(opt) is None  # a new run of steps


def backend_copy(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else np.array(a)


def test_a_gated_step_equals_a_plain_step_when_finite():
    params = [Parameter(np.linspace(-1, 1, 6, dtype=np.float32).reshape(2, 3)), Parameter(np.ones(4, np.float32))]
    twins = [Parameter(p.data.copy()) for p in params]
    a, b = SGD(0.1, momentum=0.9), SGD(0.1, momentum=0.9)
    for step in range(3):
        for p, q in zip(params, twins):
            p.grad = Tensor(np.full(p.shape, step + 1.0, np.float32))
            q.grad = Tensor(np.full(q.shape, step + 1.0, np.float32))
        a.step(params)
        b.step(twins, apply_if=all_finite([p.grad.data for p in twins]))
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(p.data, q.data)


class _DeviceFake(FakeCommunicator):
    device_arrays = True  # sums device arrays where they are, as NCCL does


def test_data_parallel_keeps_gradients_and_statistics_on_the_device(cupy_standin):
    cp = cupy_standin
    with gf.use_backend("cupy"):
        dp = DataParallel(communicator=_DeviceFake())
        dp.size = 2  # the fused-bucket path (the sum itself is one rank's)
        params = [Tensor(cp.zeros((2, 3), np.float32)), Tensor(cp.zeros(4, np.float32))]
        params[0].grad = Tensor(cp.full((2, 3), 2.0, np.float32))
        x = Tensor(cp.asarray(np.random.default_rng(0).random((6, 3), dtype=np.float32)), requires_grad=True)
        cp._standin.reset()
        dp.allreduce_gradients(params)
        y, mean, var = ops.sync_batch_norm(x, comm=dp.communicator if hasattr(dp, "communicator") else _DeviceFake())
        y.sum().backward()
        assert cp._standin.syncs == 0
    assert isinstance(params[0].grad.data, cp.ndarray)
    assert x.grad.data.dtype == np.float32 and mean.dtype == np.float32


def test_sync_batch_norm_gradient_keeps_float32():
    """Issue 27: the backward multiplied by a float64 NumPy scalar, which NumPy 2 promotes."""
    x = Tensor(np.random.default_rng(0).random((5, 3), dtype=np.float32), requires_grad=True)
    y, _, _ = ops.sync_batch_norm(x, comm=FakeCommunicator())
    (y * y).sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32
    ref_x = Tensor(x.data.astype(np.float64), requires_grad=True)
    ref_y, _, _ = ops.sync_batch_norm(ref_x, comm=FakeCommunicator())
    (ref_y * ref_y).sum().backward()
    np.testing.assert_allclose(x.grad.data, ref_x.grad.data, rtol=1e-4, atol=1e-5)


def test_flip_contrast_and_brightness_augment_on_the_device(cupy_standin):
    """Issue 27 item 8: no GPU -> CPU -> GPU round trip per step for these layers."""
    cp = cupy_standin
    x = np.random.default_rng(0).random((4, 6, 6, 3), dtype=np.float32) * 255
    with gf.use_backend("cupy"):
        xt = Tensor(cp.asarray(x))
        cp._standin.reset()
        for layer in (gf.layers.RandomFlip(), gf.layers.RandomContrast(0.3), gf.layers.RandomBrightness(0.2)):
            out = layer(xt, training=True)
            assert isinstance(out.data, cp.ndarray) and out.shape == x.shape and out.dtype == np.float32
        assert cp._standin.syncs == 0
        flipped = gf.layers.RandomFlip("horizontal", seed=3)(xt, training=True).data.get()
    for img, src in zip(flipped, x):  # each image as it was, or mirrored left-right
        assert np.array_equal(img, src) or np.array_equal(img, src[:, ::-1])


def test_fit_on_the_device_gate_stops_at_a_non_finite_loss_and_applies_nothing(cupy_standin):
    """The gated step keeps fit's promise on a GPU: a batch whose loss overflows raises NonFiniteLossError
    (checked at the epoch's end, not per step) and the weights are those after the last good batch."""
    from gradflow.trainers.step import NonFiniteLossError

    x = np.ones((32, 4), np.float32)
    x[16:] = 1e30  # batches 3 and 4 overflow float32 in the loss
    y = np.zeros((32, 1), np.float32)
    with gf.use_backend("cupy"):
        model = gf.Sequential([gf.Input((4,)), gf.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        good = gf.Sequential([gf.Input((4,)), gf.layers.Dense(1)])
        good.compile(optimizer="sgd", loss="mse")
        good.set_weights(model.get_weights())
        with pytest.raises(NonFiniteLossError, match="epoch 1, batch 2: the loss is nan"):
            model.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0)
        good.fit(x[:16], y[:16], batch_size=8, epochs=1, shuffle=False, verbose=0)
        for a, b in zip(model.get_weights(), good.get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-6)
        assert model.optimizer.iterations == 2
