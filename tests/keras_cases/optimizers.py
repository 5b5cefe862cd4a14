"""Differential cases: optimizers, schedules and constraints against real Keras on the same numbers.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
import numpy as np
from keras_coverage import case

_RNG = np.random.default_rng(7)
_W = [_RNG.normal(size=(3, 4)).astype("float32"), _RNG.normal(size=(4,)).astype("float32")]
_G = [[_RNG.normal(size=w.shape).astype("float32") for w in _W] for _ in range(4)]

#: constructor arguments of each optimizer's case (besides its defaults, one non-default run)
_OPTIMIZERS = {
    "SGD": [{}, {"momentum": 0.9, "nesterov": True}],
    "Adam": [{}, {"amsgrad": True}],
    "AdamW": [{}],
    "RMSprop": [{}, {"momentum": 0.5, "centered": True}],
    "Adagrad": [{}],
    "Adadelta": [{"learning_rate": 1.0}],
    "Adamax": [{}],
    "Nadam": [{}],
    "Lion": [{}, {"beta_1": 0.5, "beta_2": 0.9}],
    "Lamb": [{}, {"weight_decay": 0.01}],
    "Ftrl": [{}, {"l1_regularization_strength": 0.01, "l2_regularization_strength": 0.1,
                  "l2_shrinkage_regularization_strength": 0.05, "beta": 0.5, "learning_rate": 0.1}],
    "Adafactor": [{}, {"relative_step": False, "learning_rate": 0.1}],
    "Muon": [{}, {"nesterov": False, "rms_rate": None, "weight_decay": 0.1, "adam_weight_decay": 0.0,
                  "learning_rate": 0.01}],
}


def _run(module, make_var, kwargs, name, to_tensor=np.copy):
    opt = getattr(module.optimizers, name)(**kwargs)
    variables = [make_var(w.copy()) for w in _W]
    for grads in _G:
        opt.apply_gradients(zip([to_tensor(g) for g in grads], variables))
    return opt, [np.asarray(v.numpy() if hasattr(v, "numpy") else v) for v in variables]


# ScheduleFreeAdamW has no case: Keras's source reads the momentum before its update (`momentum_old =
# momentum.value`), but on the torch backend that read aliases the variable, so Keras-on-torch recovers x
# from the updated momentum. gradflow follows the source (and the JAX/TF backends).
@case("optimizers", *_OPTIMIZERS)
def optimizer_steps(k, gf, name):
    """Four steps on the same gradients give the same weights; the configs agree on the shared keys."""
    for kwargs in _OPTIMIZERS[name]:
        k_opt, theirs = _run(k, lambda w: k.Variable(w), kwargs, name, k.ops.convert_to_tensor)
        g_opt, ours = _run(gf, lambda w: gf.Parameter(w), kwargs, name)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(a, b, rtol=2e-5, atol=2e-6, err_msg=f"{name}({kwargs})")
        k_cfg, g_cfg = k_opt.get_config(), g_opt.get_config()
        _same_config(k_cfg, g_cfg, name)
        missing = set(k_cfg) - set(g_cfg)
        assert not missing, f"{name}.get_config() lacks {sorted(missing)}"
        back = gf.optimizers.deserialize(k.optimizers.serialize(k_opt))  # Keras's config loads as is
        assert type(back).__name__ == name
        _same_config(back.get_config(), g_opt.get_config(), name)


def _same_config(a, b, name):
    for key in set(a) & set(b) - {"name"}:
        same = np.allclose(a[key], b[key]) if isinstance(a[key], float) and b[key] is not None else a[key] == b[key]
        assert same, f"{name}.get_config()[{key!r}]: {b[key]!r} != {a[key]!r}"


_SCHEDULES = {
    "ExponentialDecay": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5},
    "InverseTimeDecay": {"initial_learning_rate": 0.1, "decay_steps": 3, "decay_rate": 0.5, "staircase": True},
    "PiecewiseConstantDecay": {"boundaries": [2, 5], "values": [0.1, 0.05, 0.01]},
    "CosineDecay": {"initial_learning_rate": 0.1, "decay_steps": 8, "alpha": 0.1, "warmup_target": 0.2,
                    "warmup_steps": 3},
    "CosineDecayRestarts": {"initial_learning_rate": 0.1, "first_decay_steps": 3, "t_mul": 2.0, "m_mul": 0.5,
                            "alpha": 0.1},
    "PolynomialDecay": {"initial_learning_rate": 0.1, "decay_steps": 5, "end_learning_rate": 0.01, "power": 2.0,
                        "cycle": True},
}


@case("optimizers.schedules", *_SCHEDULES)
def schedule_values(k, gf, name):
    """Values at steps 0..19 and the config agree (and the non-cycling PolynomialDecay too)."""
    variants = [_SCHEDULES[name]]
    if name == "PolynomialDecay":
        variants.append({**_SCHEDULES[name], "cycle": False})
    for kwargs in variants:
        ks = getattr(k.optimizers.schedules, name)(**kwargs)
        gs = getattr(gf.optimizers.schedules, name)(**kwargs)
        theirs = [float(ks(step)) for step in range(20)]
        ours = [float(gs(step)) for step in range(20)]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, err_msg=f"{name}({kwargs})")
        assert gs.get_config() == ks.get_config(), f"{name}: {gs.get_config()} != {ks.get_config()}"


_CONSTRAINTS = {"MaxNorm": {"max_value": 1.5, "axis": 0}, "NonNeg": {}, "UnitNorm": {"axis": [0, 1]},
                "MinMaxNorm": {"min_value": 0.5, "max_value": 1.2, "rate": 0.7, "axis": 1}, "Constraint": {}}
_ALIASES = {"max_norm": "MaxNorm", "non_neg": "NonNeg", "unit_norm": "UnitNorm", "min_max_norm": "MinMaxNorm"}


@case("constraints", *_CONSTRAINTS, *_ALIASES)
def constraint_values(k, gf, name):
    """Same projection of the same weights; same config; the defaults agree too."""
    cls = _ALIASES.get(name, name)
    w = np.random.default_rng(3).normal(size=(3, 4, 5)).astype("float32") * 2
    for kwargs in (_CONSTRAINTS[cls], {}):
        kc, gc = getattr(k.constraints, name)(**kwargs), getattr(gf.constraints, name)(**kwargs)
        theirs = k.ops.convert_to_numpy(kc(k.ops.convert_to_tensor(w)))
        ours = gc(gf.Tensor(w)).numpy() if cls != "Constraint" else np.asarray(gc(w))
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)
        assert ours.dtype == theirs.dtype
        assert gc.get_config() == kc.get_config()


@case("constraints", "get", "serialize", "deserialize")
def constraint_lookup(k, gf):
    for ident in ("max_norm", "NonNeg", "unit_norm", "MinMaxNorm", None):
        kc, gc = k.constraints.get(ident), gf.constraints.get(ident)
        assert type(kc).__name__ == type(gc).__name__ if ident else gc is None
    c = gf.constraints.MaxNorm(3.0, axis=1)
    back = gf.constraints.deserialize(gf.constraints.serialize(c))
    assert type(back) is type(c) and back.get_config() == c.get_config()
    theirs = k.constraints.serialize(k.constraints.MaxNorm(3.0, axis=1))
    ours = gf.constraints.serialize(c)
    assert ours["class_name"] == theirs["class_name"] and ours["config"] == theirs["config"]


@case("optimizers", "Optimizer")
def custom_optimizer(k, gf):
    """Keras's documented custom-optimizer pattern (build + update_step) gives the same steps."""
    def make(module):
        ops = module.ops

        class Momentum(module.optimizers.Optimizer):
            def __init__(self, learning_rate=0.1, beta=0.8, **kwargs):
                super().__init__(learning_rate=learning_rate, **kwargs)
                self.beta = beta

            def build(self, var_list):
                if self.built:
                    return
                super().build(var_list)
                self.ms = [self.add_variable_from_reference(v, "m") for v in var_list]

            def update_step(self, gradient, variable, learning_rate):
                lr = ops.cast(learning_rate, variable.dtype)
                m = self.ms[self._get_variable_index(variable)]
                self.assign(m, ops.add(ops.multiply(m, self.beta), gradient))
                self.assign_sub(variable, ops.multiply(m, lr))

        return Momentum
    _, theirs = _run_custom(make(k), lambda w: k.Variable(w), k.ops.convert_to_tensor)
    _, ours = _run_custom(make(gf), lambda w: gf.Parameter(w), np.copy)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def _run_custom(cls, make_var, to_tensor):
    opt = cls(weight_decay=0.05)
    variables = [make_var(w.copy()) for w in _W]
    for grads in _G:
        opt.apply_gradients(zip([to_tensor(g) for g in grads], variables))
    return opt, [np.asarray(v.numpy()) for v in variables]


@case("optimizers", "get", "serialize", "deserialize")
def optimizer_lookup(k, gf):
    for ident in ("adam", "sgd", "rmsprop", "lion", "ftrl", "lamb", "adafactor", "nadam", "adamax", "adagrad",
                  "adadelta", "adamw"):
        try:
            ko = k.optimizers.get(ident)
        except ValueError:  # Keras's get knows only its older names
            continue
        go = gf.optimizers.get(ident)
        assert type(ko).__name__ == type(go).__name__, ident
        assert gf.optimizers.serialize(go)["class_name"] == k.optimizers.serialize(ko)["class_name"]


@case("optimizers.schedules", "LearningRateSchedule", "serialize", "deserialize")
def schedule_lookup(k, gf):
    for name, kwargs in _SCHEDULES.items():
        theirs = k.optimizers.schedules.serialize(getattr(k.optimizers.schedules, name)(**kwargs))
        back = gf.optimizers.schedules.deserialize(theirs)
        assert type(back).__name__ == name and back.get_config() == theirs["config"]
        assert isinstance(back, gf.optimizers.schedules.LearningRateSchedule)
