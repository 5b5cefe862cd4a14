"""Optimizers and schedules against plain-NumPy Keras 3 formulas (written here) and torch.optim."""
import json
import math

import numpy as np
import pytest

import gradflow as gf
import gradflow.optimizers as optimizers
from gradflow.autograd.tensor import Parameter
from gradflow.optimizers import SGD, Adadelta, Adagrad, Adam, Adamax, AdamW, Nadam, RMSprop, schedules

SHAPES = [(4, 3), (3,), (3, 2), (2,)]
STEPS = 5


# -- a small problem: loss = sum_i 0.5 * a_i * (w_i - t_i)^2 (+ a cubic term so grads vary) ---------

def problem(seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    w0 = [rng.standard_normal(s) for s in SHAPES]
    a = [rng.uniform(0.5, 2.0, s) for s in SHAPES]
    t = [rng.standard_normal(s) for s in SHAPES]

    def grads(ws):
        return [ai * (w - ti) + 0.1 * w ** 2 for w, ai, ti in zip(ws, a, t)]

    params = [Parameter(w.astype(dtype), name=f"p{i}") for i, w in enumerate(w0)]
    return w0, grads, params


def run_gradflow(opt, params, grads, steps=STEPS, via="step"):
    out = []
    for _ in range(steps):
        gs = grads([p.data.astype(np.float64) for p in params])
        if via == "step":
            for p, g in zip(params, gs):
                p.grad = gf.Tensor(g.astype(p.dtype))
            opt.step(params)
        else:
            opt.apply_gradients([(g.astype(p.dtype), p) for g, p in zip(gs, params)])
        out.append([p.numpy().astype(np.float64).copy() for p in params])
    return out


# -- the Keras 3 update rules, one tensor at a time, straight from the formulas ---------------------

def keras_reference(name, cfg, w0, grads, steps=STEPS):
    lr = cfg.get("learning_rate", 0.001 if name != "sgd" else 0.01)
    wd = cfg.get("weight_decay", 0.004 if name == "adamw" else None)
    ws = [w.copy() for w in w0]
    state = [dict() for _ in ws]
    u_prod = 1.0
    out = []
    for it in range(steps):
        t = it + 1
        gs = grads(ws)
        if name == "nadam":
            u_prod *= cfg.get("beta_1", 0.9) * (1 - 0.5 * 0.96 ** t)
        new = []
        for w, g, s in zip(ws, gs, state):
            if wd:
                w = w - w * wd * lr
            if name == "sgd":
                mu, nesterov = cfg.get("momentum", 0.0), cfg.get("nesterov", False)
                if mu == 0:
                    w = w - lr * g
                else:
                    m = mu * s.get("m", 0.0) - lr * g
                    s["m"] = m
                    w = w + (mu * m - lr * g if nesterov else m)
            elif name in ("adam", "adamw"):
                b1, b2 = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999)
                eps = cfg.get("epsilon", 1e-7)
                m = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
                v = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - b2)
                s["m"], s["v"] = m, v
                if cfg.get("amsgrad"):
                    v = s["vhat"] = np.maximum(s.get("vhat", 0.0), v)
                alpha = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                w = w - m * alpha / (np.sqrt(v) + eps)
            elif name == "rmsprop":
                rho, mu = cfg.get("rho", 0.9), cfg.get("momentum", 0.0)
                eps = cfg.get("epsilon", 1e-7)
                v = rho * s.get("v", 0.0) + (1 - rho) * g * g
                s["v"] = v
                if cfg.get("centered"):
                    mg = s["mg"] = rho * s.get("mg", 0.0) + (1 - rho) * g
                    den = v - mg * mg + eps
                else:
                    den = v + eps
                inc = lr * g / np.sqrt(den)
                if mu > 0:
                    inc = s["mom"] = mu * s.get("mom", 0.0) + inc
                w = w - inc
            elif name == "adagrad":
                eps = cfg.get("epsilon", 1e-7)
                acc = s.get("acc", cfg.get("initial_accumulator_value", 0.1)) + g * g
                s["acc"] = acc
                w = w - lr * g / np.sqrt(acc + eps)
            elif name == "adadelta":
                rho, eps = cfg.get("rho", 0.95), cfg.get("epsilon", 1e-7)
                ag = rho * s.get("ag", 0.0) + (1 - rho) * g * g
                delta = -np.sqrt(s.get("ad", 0.0) + eps) * g / np.sqrt(ag + eps)
                s["ag"], s["ad"] = ag, rho * s.get("ad", 0.0) + (1 - rho) * delta * delta
                w = w + lr * delta
            elif name == "adamax":
                b1, b2, eps = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999), cfg.get("epsilon", 1e-7)
                m = s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
                u = s["u"] = np.maximum(b2 * s.get("u", 0.0), np.abs(g))
                w = w - lr * m / ((1 - b1 ** t) * (u + eps))
            elif name == "nadam":
                b1, b2, eps = cfg.get("beta_1", 0.9), cfg.get("beta_2", 0.999), cfg.get("epsilon", 1e-7)
                u_t = b1 * (1 - 0.5 * 0.96 ** t)
                u_t1 = b1 * (1 - 0.5 * 0.96 ** (t + 1))
                m = s["m"] = s.get("m", 0.0) + (g - s.get("m", 0.0)) * (1 - b1)
                v = s["v"] = s.get("v", 0.0) + (g * g - s.get("v", 0.0)) * (1 - b2)
                m_hat = u_t1 * m / (1 - u_prod * u_t1) + (1 - u_t) * g / (1 - u_prod)
                v_hat = v / (1 - b2 ** t)
                w = w - m_hat * lr / (np.sqrt(v_hat) + eps)
            new.append(w)
        ws = new
        out.append([w.copy() for w in ws])
    return out


CASES = [
    ("sgd", {}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("adam", {"learning_rate": 0.05}),
    ("adam", {"learning_rate": 0.05, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3, "amsgrad": True}),
    ("adamw", {"learning_rate": 0.05, "weight_decay": 0.1}),
    ("rmsprop", {"learning_rate": 0.05}),
    ("rmsprop", {"learning_rate": 0.05, "momentum": 0.5, "centered": True}),
    ("rmsprop", {"learning_rate": 0.05, "centered": True, "epsilon": 1e-3}),
    ("adagrad", {"learning_rate": 0.1, "initial_accumulator_value": 0.2}),
    ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-3}),
    ("adamax", {"learning_rate": 0.05}),
    ("nadam", {"learning_rate": 0.05}),
    ("nadam", {"learning_rate": 0.05, "beta_1": 0.7, "epsilon": 1e-3}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "weight_decay": 0.05}),
    ("adam", {"learning_rate": 0.05, "weight_decay": 0.05}),
]


def _make(name, cfg):
    return optimizers.get(name).__class__(**cfg)


@pytest.mark.parametrize("name,cfg", CASES, ids=[f"{n}-{'-'.join(c)}" for n, c in CASES])
def test_trajectory_matches_keras_formula_float64(name, cfg):
    w0, grads, params = problem(seed=1)
    got = run_gradflow(_make(name, cfg), params, grads)
    want = keras_reference(name, cfg, w0, grads)
    for step, (g_ws, r_ws) in enumerate(zip(got, want)):
        for g, r in zip(g_ws, r_ws):
            np.testing.assert_allclose(g, r, rtol=1e-11, atol=1e-13, err_msg=f"{name} step {step + 1}")
    assert not np.allclose(got[-1][0], w0[0])  # it moved


@pytest.mark.parametrize("name,cfg", CASES[::3], ids=[n for n, _ in CASES[::3]])
def test_trajectory_float32_and_apply_gradients(name, cfg):
    w0, grads, params = problem(seed=2, dtype=np.float32)
    opt = _make(name, cfg)
    got = run_gradflow(opt, params, grads, via="apply_gradients")
    want = keras_reference(name, cfg, w0, grads)
    assert opt.iterations == STEPS
    assert all(p.dtype == np.float32 for p in params)
    assert all(s.dtype == np.float32 for e in opt._entries.values() for s in e.slots)
    for g, r in zip(got[-1], want[-1]):
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name,cfg", CASES, ids=[f"{n}-{'-'.join(c)}" for n, c in CASES])
def test_flat_and_per_tensor_paths_agree_bit_for_bit(name, cfg, monkeypatch):
    _, grads, params_a = problem(seed=3, dtype=np.float32)
    _, _, params_b = problem(seed=3, dtype=np.float32)
    opt_a, opt_b = _make(name, cfg), _make(name, cfg)
    a = run_gradflow(opt_a, params_a, grads)
    assert any(opt_a._layouts.values()), "the flat path should have been taken"
    monkeypatch.setattr(optimizers, "_FLAT_MAX_MEAN_SIZE", 0)
    b = run_gradflow(opt_b, params_b, grads)
    assert not any(opt_b._layouts.values())
    for x, y in zip(a[-1], b[-1]):
        np.testing.assert_array_equal(x, y)


# -- torch.optim where the definitions coincide ---------------------------------------------------

TORCH_CASES = [  # (gradflow name, gradflow kwargs, torch class, torch kwargs)
    ("sgd", {"learning_rate": 0.1}, "SGD", {"lr": 0.1}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}, "SGD", {"lr": 0.1, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}, "SGD",
     {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    # torch adds eps to sqrt(v_hat), Keras to sqrt(v): equal for eps = 0
    ("adam", {"learning_rate": 0.05, "epsilon": 0.0}, "Adam", {"lr": 0.05, "eps": 0.0}),
    ("adam", {"learning_rate": 0.05, "epsilon": 0.0, "amsgrad": True}, "Adam",
     {"lr": 0.05, "eps": 0.0, "amsgrad": True}),
    ("adamw", {"learning_rate": 0.05, "epsilon": 0.0, "weight_decay": 0.1}, "AdamW",
     {"lr": 0.05, "eps": 0.0, "weight_decay": 0.1}),
    # torch: sqrt(v) + eps, Keras: sqrt(v + eps)
    ("rmsprop", {"learning_rate": 0.05, "epsilon": 0.0}, "RMSprop", {"lr": 0.05, "alpha": 0.9, "eps": 0.0}),
    ("rmsprop", {"learning_rate": 0.05, "epsilon": 0.0, "momentum": 0.5, "centered": True}, "RMSprop",
     {"lr": 0.05, "alpha": 0.9, "eps": 0.0, "momentum": 0.5, "centered": True}),
    ("adagrad", {"learning_rate": 0.1, "epsilon": 0.0}, "Adagrad",
     {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 0.0}),
    ("adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6}, "Adadelta", {"lr": 1.0, "rho": 0.9, "eps": 1e-6}),
    ("adamax", {"learning_rate": 0.05, "epsilon": 0.0}, "Adamax", {"lr": 0.05, "eps": 0.0}),
    # torch's mu_t = b1 (1 - 0.5 * 0.96^(t * momentum_decay)): Keras' schedule is momentum_decay = 1
    ("nadam", {"learning_rate": 0.05}, "NAdam", {"lr": 0.05, "eps": 1e-7, "momentum_decay": 1.0}),
]


@pytest.mark.parametrize("name,cfg,tname,tcfg", TORCH_CASES, ids=[f"{c[0]}-{'-'.join(c[1])}" for c in TORCH_CASES])
def test_trajectory_matches_torch_optim(name, cfg, tname, tcfg):
    torch = pytest.importorskip("torch")
    w0, grads, params = problem(seed=4)
    got = run_gradflow(_make(name, cfg), params, grads)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch keeps NAdam's step/momentum cache in the default dtype
    try:
        _torch_trajectory_check(torch, name, tname, tcfg, w0, grads, got)
    finally:
        torch.set_default_dtype(default)


def _torch_trajectory_check(torch, name, tname, tcfg, w0, grads, got):
    tparams = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in w0]
    topt = getattr(torch.optim, tname)(tparams, **tcfg)
    for step in range(STEPS):
        gs = grads([p.detach().numpy() for p in tparams])
        for p, g in zip(tparams, gs):
            p.grad = torch.tensor(g)
        topt.step()
        for g_w, t_w in zip(got[step], tparams):
            np.testing.assert_allclose(g_w, t_w.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=f"{name} vs torch {tname} at step {step + 1}")


# -- clipping, weight decay ------------------------------------------------------------------------

def _sgd_applied_grads(opt, grads):
    """What the optimizer actually applied: with SGD(lr=1) the change of each weight is -grad."""
    params = [Parameter(np.zeros(g.shape)) for g in grads]
    before = [g.copy() for g in grads]
    opt.apply_gradients(list(zip(grads, params)))
    for g, b in zip(grads, before):
        np.testing.assert_array_equal(g, b)  # the caller's gradients are left alone
    return [-p.numpy() for p in params]


def test_clipnorm_is_per_tensor():
    big, small = np.array([3.0, 4.0]), np.array([0.3, 0.4])  # norms 5 and 0.5
    out = _sgd_applied_grads(SGD(1.0, clipnorm=1.0), [big, small])
    np.testing.assert_allclose(out[0], big / 5.0)
    np.testing.assert_allclose(out[1], small)


def test_global_clipnorm_scales_all_by_the_global_norm():
    a, b = np.array([3.0, 0.0]), np.array([0.0, 4.0])  # global norm 5
    out = _sgd_applied_grads(SGD(1.0, global_clipnorm=2.5), [a, b])
    np.testing.assert_allclose(out[0], a / 2.0)
    np.testing.assert_allclose(out[1], b / 2.0)
    out = _sgd_applied_grads(SGD(1.0, global_clipnorm=10.0), [a, b])
    np.testing.assert_allclose(out[0], a)
    out = _sgd_applied_grads(SGD(1.0, global_clipnorm=1.0), [np.array([np.inf, 1.0]), b])
    assert np.isnan(out[0]).all() and np.isnan(out[1]).all()  # as Keras: a non-finite norm gives NaN


def test_clipvalue():
    out = _sgd_applied_grads(SGD(1.0, clipvalue=0.5), [np.array([-2.0, 0.1, 3.0])])
    np.testing.assert_allclose(out[0], [-0.5, 0.1, 0.5])


def test_clipnorm_with_adam_matches_reference_on_clipped_grads():
    w0, grads, params = problem(seed=5)

    def clipped(ws):
        gs = grads(ws)
        return [g * min(1.0, 0.3 / np.linalg.norm(g)) for g in gs]

    got = run_gradflow(Adam(0.05, clipnorm=0.3), params, grads)
    want = keras_reference("adam", {"learning_rate": 0.05}, w0, clipped)
    for g, r in zip(got[-1], want[-1]):
        np.testing.assert_allclose(g, r, rtol=1e-10)


def test_weight_decay_is_decoupled_and_exclusions_apply():
    p, q = Parameter(np.array([1.0, -2.0]), name="kernel"), Parameter(np.array([4.0]), name="bias")
    opt = SGD(0.1, weight_decay=0.5)
    opt.exclude_from_weight_decay(var_names=["bias"])
    opt.apply_gradients([(np.array([1.0, 1.0]), p), (np.array([1.0]), q)])
    np.testing.assert_allclose(p.numpy(), [1.0 - 1.0 * 0.05 - 0.1, -2.0 + 2.0 * 0.05 - 0.1])
    np.testing.assert_allclose(q.numpy(), [4.0 - 0.1])


# -- learning rate, schedules -------------------------------------------------------------------------

def test_learning_rate_setter_takes_effect_next_step():
    p = Parameter(np.array([1.0]))
    opt = SGD(0.1)
    opt.apply_gradients([(np.array([1.0]), p)])
    opt.learning_rate = 0.01
    assert opt.learning_rate == 0.01
    opt.apply_gradients([(np.array([1.0]), p)])
    np.testing.assert_allclose(p.numpy(), [1.0 - 0.1 - 0.01])


def test_learning_rate_setter_replaces_a_schedule():
    p = Parameter(np.array([0.0]))
    opt = SGD(schedules.ExponentialDecay(1.0, decay_steps=1, decay_rate=0.5))
    assert opt.learning_rate == 1.0
    opt.apply_gradients([(np.array([1.0]), p)])
    assert opt.learning_rate == 0.5  # schedule(iterations=1)
    opt.learning_rate = 0.01
    assert opt.learning_rate == 0.01
    opt.apply_gradients([(np.array([1.0]), p)])
    np.testing.assert_allclose(p.numpy(), [-1.01])


def test_optimizer_calls_the_schedule_with_iterations():
    sched = schedules.PiecewiseConstantDecay([1, 3], [1.0, 0.1, 0.01])
    p = Parameter(np.array([0.0]))
    opt = SGD(sched)
    for _ in range(5):
        opt.apply_gradients([(np.array([1.0]), p)])
    # steps see iterations 0,1,2,3,4 -> 1, 1, .1, .1, .01
    np.testing.assert_allclose(p.numpy(), [-(1 + 1 + 0.1 + 0.1 + 0.01)])


def test_callable_learning_rate_without_arguments():
    p = Parameter(np.array([0.0]))
    opt = SGD(lambda: 0.25)
    opt.apply_gradients([(np.array([1.0]), p)])
    np.testing.assert_allclose(p.numpy(), [-0.25])
    with pytest.raises(ValueError, match="callable"):
        opt.get_config()


@pytest.mark.parametrize("step", [0, 1, 7, 10, 25, 100])
def test_schedule_values(step):
    e = schedules.ExponentialDecay(0.1, 10, 0.5)
    assert e(step) == pytest.approx(0.1 * 0.5 ** (step / 10))
    es = schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True)
    assert es(step) == pytest.approx(0.1 * 0.5 ** (step // 10))
    it = schedules.InverseTimeDecay(0.1, 10, 0.5)
    assert it(step) == pytest.approx(0.1 / (1 + 0.5 * step / 10))
    its = schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True)
    assert its(step) == pytest.approx(0.1 / (1 + 0.5 * (step // 10)))
    c = schedules.CosineDecay(0.1, 20, alpha=0.1)
    s = min(step, 20)
    assert c(step) == pytest.approx(0.1 * (0.9 * 0.5 * (1 + math.cos(math.pi * s / 20)) + 0.1))
    w = schedules.CosineDecay(0.0, 20, warmup_target=0.2, warmup_steps=10)
    if step < 10:
        want = 0.2 * step / 10
    else:
        s = min(step, 30) - 10
        want = 0.2 * 0.5 * (1 + math.cos(math.pi * s / 20))
    assert w(step) == pytest.approx(want, abs=1e-15)
    pw = schedules.PiecewiseConstantDecay([1, 10], [1.0, 0.5, 0.1])
    assert pw(step) == (1.0 if step <= 1 else 0.5 if step <= 10 else 0.1)


def test_schedule_validation_and_serialisation():
    with pytest.raises(ValueError, match="decay_steps"):
        schedules.ExponentialDecay(0.1, 0, 0.5)
    with pytest.raises(ValueError, match="one element fewer"):
        schedules.PiecewiseConstantDecay([1, 2], [1.0, 0.5])
    with pytest.raises(ValueError, match="strictly increasing"):
        schedules.PiecewiseConstantDecay([2, 1], [1.0, 0.5, 0.1])
    for s in (schedules.ExponentialDecay(0.1, 10, 0.5, staircase=True),
              schedules.PiecewiseConstantDecay([3], [1.0, 0.1]),
              schedules.CosineDecay(0.1, 20, warmup_target=0.2, warmup_steps=5),
              schedules.InverseTimeDecay(0.1, 5, 1.0)):
        back = schedules.deserialize(json.loads(json.dumps(schedules.serialize(s))))
        assert type(back) is type(s) and back.get_config() == s.get_config()
        assert [back(k) for k in range(0, 40, 3)] == [s(k) for k in range(0, 40, 3)]


# -- state and config --------------------------------------------------------------------------------

ALL_NAMES = ["sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam"]


@pytest.mark.parametrize("name,cfg", [(n, {}) for n in ALL_NAMES] + [
    ("sgd", {"momentum": 0.9, "nesterov": True}), ("adam", {"amsgrad": True}),
    ("rmsprop", {"momentum": 0.5, "centered": True}),
    ("adam", {"learning_rate": schedules.ExponentialDecay(0.01, 2, 0.5)})])
def test_get_state_set_state_resumes_exactly(name, cfg):
    _, grads, params_a = problem(seed=6, dtype=np.float32)
    straight = run_gradflow(_make(name, cfg), params_a, grads, steps=5)[-1]

    _, _, params_b = problem(seed=6, dtype=np.float32)
    first = _make(name, cfg)
    run_gradflow(first, params_b, grads, steps=3)
    state = first.get_state(params_b)
    assert all(isinstance(v, np.ndarray) for v in state.values())
    assert int(state["iterations"]) == 3
    config = json.loads(json.dumps(first.get_config()))
    restored = optimizers.get({"class_name": type(first).__name__, "config": config})
    restored.set_state(state, params_b)
    assert restored.iterations == 3
    resumed = run_gradflow(restored, params_b, grads, steps=2)[-1]
    for x, y in zip(straight, resumed):
        np.testing.assert_array_equal(x, y)


def test_state_names_are_by_index_and_slots_are_per_parameter():
    _, grads, params = problem()
    opt = Adam()
    run_gradflow(opt, params, grads, steps=1)
    state = opt.get_state(params)
    assert set(state) == {"iterations", "learning_rate"} | {f"param_{i}/{s}" for i in range(4)
                                                            for s in ("momentum", "velocity")}
    assert state["param_2/velocity"].shape == SHAPES[2]
    # the state is a copy
    state["param_0/momentum"][...] = 123.0
    assert not np.any(opt.get_state(params)["param_0/momentum"] == 123.0)


def test_set_state_validates_before_changing_anything():
    _, grads, params = problem(dtype=np.float32)
    opt = Adam(0.01)
    run_gradflow(opt, params, grads, steps=2)
    before = opt.get_state(params)

    bad_shape = dict(before)
    bad_shape["param_3/velocity"] = np.zeros((5,), np.float32)
    unknown = dict(before, **{"param_0/bogus": np.zeros(SHAPES[0], np.float32)})
    out_of_range = dict(before, **{"param_9/momentum": np.zeros(SHAPES[0], np.float32)})
    incomplete = {k: v for k, v in before.items() if k != "param_1/velocity"}
    no_iterations = {k: v for k, v in before.items() if k != "iterations"}
    bad_state = dict(before, **{"iterations": np.asarray(7), "param_0/momentum": np.ones((9, 9), np.float32)})
    text = dict(before, **{"param_0/velocity": np.full(SHAPES[0], "x")})
    fractional = dict(before, iterations=np.asarray(2.5))
    for state, match in [(bad_shape, "shape"), (unknown, "unknown state entry"), (out_of_range, "parameter 9"),
                         (incomplete, "slots"), (no_iterations, "iterations"), (bad_state, "shape"),
                         (text, "numbers"), (fractional, "integer")]:
        with pytest.raises(ValueError, match=match):
            opt.set_state(state, params)
        after = opt.get_state(params)
        assert after.keys() == before.keys()
        for k in before:
            np.testing.assert_array_equal(after[k], before[k])
    assert opt.iterations == 2


def test_nadam_state_needs_its_momentum_cache():
    _, grads, params = problem()
    opt = Nadam()
    run_gradflow(opt, params, grads, steps=2)
    state = opt.get_state(params)
    assert "u_product" in state
    state.pop("u_product")
    with pytest.raises(ValueError, match="u_product"):
        Nadam().set_state(state, params)


@pytest.mark.parametrize("name", ALL_NAMES)
def test_config_round_trip_is_json(name):
    opt = optimizers.get(name)
    cfg = json.loads(json.dumps(opt.get_config()))
    back = type(opt).from_config(cfg)
    assert back.get_config() == opt.get_config()
    assert optimizers.deserialize(optimizers.serialize(opt)).get_config() == opt.get_config()


def test_config_with_schedule_round_trips():
    opt = Adam(schedules.CosineDecay(0.01, 100, alpha=0.1), clipnorm=1.0)
    cfg = json.loads(json.dumps(opt.get_config()))
    back = Adam.from_config(cfg)
    assert isinstance(back._lr, schedules.CosineDecay) and back.clipnorm == 1.0
    assert back.learning_rate == opt.learning_rate


def test_get_by_name_instance_and_dict():
    assert type(optimizers.get("ADAM")) is Adam
    assert type(optimizers.get("RMSprop")) is RMSprop
    for n, cls in [("sgd", SGD), ("adagrad", Adagrad), ("adadelta", Adadelta), ("adamax", Adamax),
                   ("nadam", Nadam), ("adamw", AdamW)]:
        assert type(optimizers.get(n)) is cls
    opt = SGD(0.3)
    assert optimizers.get(opt) is opt
    assert optimizers.get({"class_name": "SGD", "config": {"learning_rate": 0.2}}).learning_rate == 0.2


def test_get_unknown_name_suggests_closest():
    with pytest.raises(ValueError, match="'adam'"):
        optimizers.get("adm")
    with pytest.raises(ValueError, match="'rmsprop'"):
        optimizers.get("rmsprp")
    with pytest.raises(ValueError, match="Valid names"):
        optimizers.get("lbfgs")


@pytest.mark.parametrize("make,match", [
    (lambda: SGD(-0.1), "learning_rate"),
    (lambda: SGD(float("nan")), "learning_rate"),
    (lambda: SGD("fast"), "learning_rate"),
    (lambda: SGD(momentum=1.5), "momentum"),
    (lambda: SGD(nesterov="yes"), "nesterov"),
    (lambda: Adam(beta_1=1.0), "beta_1"),
    (lambda: Adam(beta_2=-0.1), "beta_2"),
    (lambda: Adam(epsilon=-1e-7), "epsilon"),
    (lambda: Adam(clipnorm=1.0, clipvalue=1.0), "only one"),
    (lambda: Adam(clipnorm=-1.0), "clipnorm"),
    (lambda: Adam(weight_decay=-0.1), "weight_decay"),
    (lambda: AdamW(weight_decay=None), "weight_decay"),
    (lambda: RMSprop(rho=1.0), "rho"),
    (lambda: Adagrad(initial_accumulator_value=-1.0), "initial_accumulator_value"),
    (lambda: Adam(lr=0.1), "not recognized"),
])
def test_argument_validation(make, match):
    with pytest.raises(ValueError, match=match):
        make()
    opt = SGD()
    with pytest.raises(ValueError, match="learning_rate"):
        opt.learning_rate = -1.0


# -- apply_gradients / step details -------------------------------------------------------------------

def test_step_skips_params_without_grad_or_frozen():
    a, b = Parameter(np.array([1.0])), Parameter(np.array([2.0]))
    frozen = Parameter(np.array([3.0]), trainable=False)
    a.grad = gf.Tensor(np.array([1.0]))
    frozen.grad = gf.Tensor(np.array([1.0]))
    opt = SGD(0.5)
    opt.step([a, b, frozen])
    np.testing.assert_allclose([a.item(), b.item(), frozen.item()], [0.5, 2.0, 3.0])
    assert opt.iterations == 1
    b.grad = None
    opt.step([b])  # nothing to do: no step counted
    assert opt.iterations == 1


def test_apply_gradients_none_grads():
    a, b = Parameter(np.array([1.0]), name="a"), Parameter(np.array([2.0]), name="b")
    opt = SGD(0.5)
    with pytest.warns(UserWarning, match="'b'"):
        assert opt.apply_gradients([(np.array([1.0]), a), (None, b)]) == 1
    with pytest.raises(ValueError, match="no gradients"):
        opt.apply_gradients([(None, a), (None, b)])
    assert opt.apply_gradients([]) == 1


def test_gradient_checks_and_casts():
    p = Parameter(np.zeros(3, np.float32))
    opt = SGD(1.0)
    opt.apply_gradients([(np.ones(3, np.float64), p)])  # cast to the parameter dtype
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.numpy(), -1.0)
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        opt.apply_gradients([(np.ones(2), p)])
    with pytest.raises(TypeError, match="Tensors"):
        opt.apply_gradients([(np.ones(3), np.zeros(3))])


def test_slots_follow_parameter_identity_and_changing_subsets():
    _, grads, params = problem(seed=7)
    w0 = [p.numpy().copy() for p in params]
    opt = Adam(0.05)
    ref_opts = [Adam(0.05) for _ in params]  # one optimizer per parameter: the per-tensor truth
    ref = [Parameter(w.copy()) for w in w0]
    subsets = [[0, 1, 2, 3], [0, 1, 2, 3], [0, 2], [1, 3], [0, 1, 2, 3], [0, 2], [0, 2], [0, 1, 2, 3]]
    for sub in subsets:
        gs = grads([p.numpy() for p in params])
        opt.apply_gradients([(gs[i], params[i]) for i in sub])
        for i in sub:
            # a schedule-free Adam only depends on the step count through its iteration, so give each
            # reference the optimizer's iteration count
            ref_opts[i].iterations = opt.iterations - 1
            ref_opts[i].apply_gradients([(gs[i], ref[i])])
    for p, r in zip(params, ref):
        np.testing.assert_allclose(p.numpy(), r.numpy(), rtol=1e-12)


def test_parameter_data_replaced_keeps_slots():
    _, grads, params = problem(seed=8)
    _, _, twins = problem(seed=8)
    a, b = Adam(0.05), Adam(0.05)
    run_gradflow(a, params, grads, steps=3)
    run_gradflow(b, twins, grads, steps=3)
    params[0].data = params[0].data.copy()  # e.g. a .to(device) round trip gives a new array
    run_gradflow(a, params, grads, steps=2)
    run_gradflow(b, twins, grads, steps=2)
    for p, q in zip(params, twins):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


@pytest.mark.gpu
def test_cupy_parameters_update_on_device():
    cp = pytest.importorskip("cupy")
    w0, grads, _ = problem(seed=9)
    params = [Parameter(cp.asarray(w.astype(np.float32))) for w in w0]
    opt = Adam(0.05, clipnorm=1.0)
    for _ in range(3):
        gs = grads([cp.asnumpy(p.data).astype(np.float64) for p in params])
        for p, g in zip(params, gs):
            p.grad = gf.Tensor(cp.asarray(g.astype(np.float32)))
        opt.step(params)
    assert all(isinstance(p.data, cp.ndarray) for p in params)
    assert all(isinstance(s, cp.ndarray) for e in opt._entries.values() for s in e.slots)
    cpu = [Parameter(w.astype(np.float32)) for w in w0]
    ref = Adam(0.05, clipnorm=1.0)
    run_gradflow(ref, cpu, grads, steps=3)
    for p, q in zip(params, cpu):
        np.testing.assert_allclose(cp.asnumpy(p.data), q.numpy(), rtol=1e-5, atol=1e-6)


def test_build_and_state_after_flat_steps_see_the_live_slots():
    _, grads, params = problem(seed=10)
    _, _, twins = problem(seed=10)
    opt, ref = Adam(0.05), Adam(0.05)
    run_gradflow(opt, params, grads, steps=3)
    run_gradflow(ref, twins, grads, steps=3)
    assert any(opt._layouts.values())
    opt.build(params)  # must not detach the entries from the flat buffers
    run_gradflow(opt, params, grads, steps=2)
    run_gradflow(ref, twins, grads, steps=2)
    state, want = opt.get_state(params), ref.get_state(twins)
    assert state.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(state[key], want[key])


@pytest.mark.parametrize("name", ALL_NAMES)
def test_trains_a_linear_model_with_autograd_grads(name):
    rng = np.random.default_rng(11)
    x = gf.tensor(rng.standard_normal((32, 3)).astype(np.float32))
    y = gf.tensor((x.numpy() @ np.array([[1.0], [-2.0], [0.5]]) + 0.3).astype(np.float32))
    w = Parameter(np.zeros((1, 3), np.float32), name="kernel")
    b = Parameter(np.zeros((1,), np.float32), name="bias")
    lr = {"sgd": 0.1, "adagrad": 0.5, "adadelta": 50.0}.get(name, 0.05)
    opt = optimizers.get({"class_name": name, "config": {"learning_rate": lr}})

    def loss():  # elementwise ops only, so this does not depend on the matmul kernels
        return (((x * w).sum(axis=1, keepdims=True) + b - y) ** 2).mean()

    first = loss().item()
    for _ in range(60):
        w.zero_grad()
        b.zero_grad()
        loss().backward()
        opt.step([w, b])
    assert opt.iterations == 60
    assert loss().item() < 0.2 * first, name
