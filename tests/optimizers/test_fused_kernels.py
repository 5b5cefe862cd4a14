"""The fused CPU optimizer kernels (kernels/cpu/optim.py) against the NumPy path they replace.

The NumPy path is the oracle (it is held against Keras in tests/test_optimizers_keras3.py and
tests/keras_cases/optimizers.py): the same steps through both must give the same bits, parameters
and every slot, per tensor (``_step_each``) and over flat buffers (``_step_flat``), serial and parallel.
"""
import numba
import numpy as np
import pytest

import gradflow as gf
from gradflow import config
from gradflow import optimizers as O
from gradflow.backend import use_backend
from gradflow.kernels.cpu import optim as K

#: name -> a fresh optimizer (every kernelised rule and flag)
OPTIMIZERS = {
    "adam": lambda: O.Adam(0.01),
    "adam_amsgrad": lambda: O.Adam(0.01, amsgrad=True),
    "adamw": lambda: O.AdamW(0.01, weight_decay=0.1),
    "sgd": lambda: O.SGD(0.1),
    "sgd_momentum": lambda: O.SGD(0.1, momentum=0.9),
    "sgd_nesterov_decay": lambda: O.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
    "rmsprop": lambda: O.RMSprop(0.01),
    "rmsprop_momentum_centered": lambda: O.RMSprop(0.01, momentum=0.5, centered=True),
    "adagrad": lambda: O.Adagrad(0.1),
    "adamax": lambda: O.Adamax(0.01),
    "nadam": lambda: O.Nadam(0.01),
}
#: large tensors stepped one by one; small ones stepped as one flat set (from the second step); both
EACH = [(150, 120), (131, 140)]
FLAT = [(3, 4), (5,), (17, 3)]
MIXED = [(150, 120), (3, 4), (5,), (17, 3), (7, 2, 3)]
LAYOUTS = (EACH, FLAT, MIXED)


def _run(make, shapes, dtype, kernels, steps=4, grads=None, params=None):
    """``steps`` steps of a fresh optimizer under ``config.kernels=kernels``: (parameters, state)."""
    rng = np.random.default_rng(0)
    if params is None:
        params = [gf.Parameter(rng.normal(size=s).astype(dtype), name=f"p{i}") for i, s in enumerate(shapes)]
    opt = make()
    before = config.kernels
    config.kernels = kernels
    try:
        for t in range(steps):
            for i, p in enumerate(params):
                p.grad = grads[t][i] if grads is not None else rng.normal(size=p.shape).astype(dtype)
            opt.step(params)
    finally:
        config.kernels = before
    return [p.data.copy() for p in params], opt.get_state(params), opt


def _same(a, b):
    (wa, sa, _), (wb, sb, _) = a, b
    for x, y in zip(wa, wb):
        assert x.dtype == y.dtype
        np.testing.assert_array_equal(x, y)
    assert sorted(sa) == sorted(sb)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


@pytest.fixture
def calls(monkeypatch):
    """Counts the calls of each fused kernel entry point."""
    counts = {}
    for name in K.__all__:
        if name.endswith("_update"):
            fn = getattr(K, name)

            def spy(*args, _fn=fn, _name=name):
                counts[_name] = counts.get(_name, 0) + 1
                return _fn(*args)
            monkeypatch.setattr(K, name, spy)
    return counts


#: every rule in float32; float64 for two of them (each (rule, dtype) compiles once, about a second)
CASES = [(n, np.float32) for n in sorted(OPTIMIZERS)] + [("adam_amsgrad", np.float64), ("sgd_nesterov_decay",
                                                                                        np.float64)]


@pytest.mark.parametrize(("name", "dtype"), CASES)
def test_kernel_equals_numpy_path_bit_for_bit(name, dtype, calls):
    make = OPTIMIZERS[name]
    for shapes in LAYOUTS:
        ours = _run(make, shapes, dtype, "numba")
        assert calls, f"{name}: the fused kernel did not run"
        _same(ours, _run(make, shapes, dtype, "numpy"))
        calls.clear()


def test_parallel_chunks_equal_serial_on_any_thread_count(monkeypatch):
    """Large arrays run in parallel chunks; there is no reduction, so the bits never depend on threads."""
    name, shapes = "adam_amsgrad", [(3 * K.CHUNK + 5,), (9,)]
    want = _run(OPTIMIZERS[name], shapes, np.float32, "numpy", steps=3)
    monkeypatch.setattr(K, "SERIAL_SIZE", 64)
    for threads in sorted({1, numba.config.NUMBA_NUM_THREADS}):
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:
            _same(_run(OPTIMIZERS[name], shapes, np.float32, "numba", steps=3), want)
        finally:
            numba.set_num_threads(before)


@pytest.mark.parametrize("extra", [
    {"clipnorm": 0.5}, {"clipvalue": 0.1}, {"global_clipnorm": 0.3}, {"use_ema": True, "ema_overwrite_frequency": 2},
    {"learning_rate": gf.optimizers.schedules.ExponentialDecay(0.01, 2, 0.5)},
])
def test_clipping_ema_and_schedules_around_the_kernel(extra, calls):
    def make():
        return O.AdamW(**{"learning_rate": 0.01, "weight_decay": 0.05, **extra})
    for shapes in LAYOUTS:
        ours = _run(make, shapes, np.float32, "numba")
        assert calls.get("adam_update")
        _same(ours, _run(make, shapes, np.float32, "numpy"))


def test_weight_decay_exclusions_per_parameter(calls):
    def make():
        opt = O.AdamW(0.01, weight_decay=0.2)
        opt.exclude_from_weight_decay(var_names=["p1"])
        return opt
    for shapes in LAYOUTS:
        ours = _run(make, shapes, np.float32, "numba")
        _same(ours, _run(make, shapes, np.float32, "numpy"))
    assert calls.get("adam_update")


def test_non_finite_values_propagate_as_in_numpy():
    """0 / 0 and x / 0 give NaN and inf (NumPy's rules), not an exception; NaN passes through max."""
    grads = [[np.array([0.0, np.inf, np.nan, 1.0, -2.0], np.float32)] for _ in range(3)]
    for make in (lambda: O.Adam(0.1, epsilon=0.0, amsgrad=True), lambda: O.Adagrad(0.1, 0.0, 0.0),
                 lambda: O.Adamax(0.1, epsilon=0.0), lambda: O.RMSprop(0.1, epsilon=0.0, centered=True)):
        with np.errstate(all="ignore"):
            results = [_run(make, None, None, k, steps=3, grads=grads,
                            params=[gf.Parameter(np.zeros(5, np.float32))]) for k in ("numba", "numpy")]
        _same(*results)
        assert not np.isfinite(results[0][0][0]).all()


@pytest.mark.parametrize("shapes", LAYOUTS, ids=["each", "flat", "mixed"])
def test_apply_if_false_leaves_everything_unchanged(shapes, calls):
    rng = np.random.default_rng(3)
    params = [gf.Parameter(rng.normal(size=s).astype(np.float32)) for s in shapes]
    opt = O.Adam(0.1)
    config.kernels = "numba"
    try:
        for _ in range(3):
            for p in params:
                p.grad = rng.normal(size=p.shape).astype(np.float32)
            opt.step(params)
        ws, state = [p.data.copy() for p in params], opt.get_state(params)
        opt.step(params, apply_if=np.asarray(False))
    finally:
        config.kernels = "auto"
    for p, w in zip(params, ws):
        np.testing.assert_array_equal(p.data, w)
    after = opt.get_state(params)
    for key in state:
        if key != "iterations":
            np.testing.assert_array_equal(after[key], state[key])
    assert calls["adam_update"] >= 3
    layouts = [lay for lay in opt._layouts.values() if lay is not None]
    assert len(layouts) == (shapes is not EACH)
    if shapes is MIXED:
        assert layouts[0].rest == [0] and layouts[0].pos == [1, 2, 3, 4]


def _one_step(p, opt, kernels="auto"):
    before = config.kernels
    config.kernels = kernels
    try:
        p.grad = np.ones(p.shape, p.data.dtype)
        opt.step([p])
    finally:
        config.kernels = before


def test_when_the_numpy_path_runs_instead(calls, monkeypatch):
    """Small steps under ``auto`` (no compile for a few hundred weights), other kernel sets, the reference
    backend, float16, non-contiguous weights and subclasses with their own rule keep the NumPy path."""
    _one_step(gf.Parameter(np.ones((10, 10), np.float32)), O.Adam())  # auto, small: NumPy
    _one_step(gf.Parameter(np.ones((10, 10), np.float32)), O.Adam(), "numpy")
    _one_step(gf.Parameter(np.ones(10, np.float16)), O.Adam(), "numba")
    _one_step(gf.Parameter(np.ones((6, 4), np.float32)[:, ::2]), O.Adam(), "numba")
    with use_backend("reference"):
        _one_step(gf.Parameter(np.ones(10)), O.Adam(), "numba")

    class Halved(O.SGD):
        def _coefficients(self, lr, t):
            return super()._coefficients(lr / 2, t)
    _one_step(gf.Parameter(np.ones(10, np.float32)), Halved(0.1), "numba")
    assert calls == {}

    class Same(O.SGD):  # the stock rule: the kernel runs
        pass
    _one_step(gf.Parameter(np.ones(10, np.float32)), Same(0.1, momentum=0.5), "numba")
    monkeypatch.setattr(O, "_KERNEL_MIN_SIZE", 50)
    _one_step(gf.Parameter(np.ones((10, 10), np.float32)), O.Adam())  # auto, large enough
    assert calls == {"sgd_update": 1, "adam_update": 1}


def test_a_non_contiguous_gradient_is_copied_not_refused(calls):
    rng = np.random.default_rng(5)
    w0, g = rng.normal(size=(8, 6)).astype(np.float32), rng.normal(size=(6, 8)).astype(np.float32).T
    out = []
    for kernels in ("numba", "numpy"):
        p = gf.Parameter(w0.copy())
        opt = O.Adam(0.1)
        config.kernels = kernels
        try:
            opt.apply_gradients([(g, p)])
        finally:
            config.kernels = "auto"
        out.append(p.data)
    np.testing.assert_array_equal(*out)
    assert calls == {"adam_update": 1}


@pytest.mark.parametrize(("name", "kwargs"), [
    ("AdamW", {"learning_rate": 0.01, "weight_decay": 0.1, "amsgrad": True}),
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True}),
])
def test_kernel_path_matches_keras(name, kwargs, real_keras, calls):
    """End to end: the fused path against Keras itself (torch backend) on the same gradients."""
    k = real_keras
    rng = np.random.default_rng(11)
    shapes = [(300, 20), (20,)]
    ws = [rng.normal(size=s).astype(np.float32) for s in shapes]
    grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(3)]
    theirs = [k.Variable(w.copy()) for w in ws]
    k_opt = getattr(k.optimizers, name)(**kwargs)
    for g in grads:
        k_opt.apply_gradients(zip([k.ops.convert_to_tensor(x) for x in g], theirs))
    ours = _run(lambda: getattr(O, name)(**kwargs), None, None, "numba", steps=3, grads=grads,
                params=[gf.Parameter(w.copy()) for w in ws])
    assert calls
    for a, b in zip(ours[0], theirs):
        np.testing.assert_allclose(a, k.ops.convert_to_numpy(b), rtol=2e-5, atol=2e-6)
