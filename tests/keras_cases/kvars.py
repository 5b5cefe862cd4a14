"""Differential cases of the kvars worktree against real Keras (torch backend): the ``name`` and ``path``
of every kind of variable (free ``Variable``s, ``SeedGenerator`` state, metric state, optimizer variables
made by ``add_variable``/``add_variable_from_reference``), optimizers' automatic names, and
``GroupQueryAttention`` on what Keras's accepts (rank-3 query/value/key, Keras masks, scores, config).

The registry keeps every case registered for a name and runs them all, so these checks add to the cases
other modules register for the same names.

Loaded by path by tests/keras_coverage.py (``load_cases``)."""
import collections

import numpy as np
from keras_coverage import case

from gradflow import _naming as gf_naming

RNG = np.random.default_rng(31)


def _np(x):
    x = x.detach().cpu().numpy() if hasattr(x, "detach") else x
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def _close(ours, theirs, what, rtol=2e-5, atol=2e-6):
    ours, theirs = _np(ours), _np(theirs)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (what, ours.shape, theirs.shape, ours.dtype,
                                                                       theirs.dtype)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol, err_msg=what)


def _fresh_names(k, gf):
    """Automatic names from ``variable``, ``adam``... again on both sides: ``clear_session``'s effect on
    names, without its ``gc.collect`` (half a second a call)."""
    from keras.src.backend.common import global_state  # noqa: PLC0415 - Keras's name counters

    global_state.set_global_attribute("object_name_uids", collections.defaultdict(int))
    gf_naming.clear_session()


def _names(variables):
    return [(v.name, v.path) for v in variables]


# -- variables outside layers ------------------------------------------------------------------
def free_variables(k, gf):
    """``keras.Variable``: ``variable``, ``variable_1``... (after ``clear_session``) or the name given;
    the path is the name; dtype and value as Keras's."""
    _fresh_names(k, gf)
    got = []
    for m in (k, gf):
        vs = [m.Variable(np.zeros(3, np.float32)), m.Variable(np.ones((2, 2)), name="foo"),
              m.Variable(np.zeros(2, np.float32)), m.Variable(3.0)]
        got.append([(v.name, v.path, str(_np(v).dtype), tuple(v.shape)) for v in vs])
    assert got[1] == got[0], got
    # made inside a layer's build: under the layer's name scope, and tracked as one of its weights
    paths = []
    for m in (k, gf):

        class Holder(m.layers.Layer):
            def build(self, shape):
                self.free = m.Variable(np.zeros(3, np.float32), name="free")
                self.w = self.add_weight(shape=(2,), name="w")

            def call(self, x):
                return x

        model = m.Sequential([m.Input((3,)), Holder(name="holder")], name="seq")
        paths.append([v.path for v in model.weights] + [model.layers[0].free.name])
    assert paths[1] == paths[0], paths


def seed_generator_paths(k, gf):
    """``SeedGenerator``: named ``seed_generator``, ``seed_generator_1``... or as given; its state is
    ``seed_generator_state`` under the generator's name."""
    _fresh_names(k, gf)
    got = []
    for m in (k, gf):
        gens = [m.random.SeedGenerator(1), m.random.SeedGenerator(2, name="mygen"), m.random.SeedGenerator(3)]
        got.append([(g.name, g.state.path, g.state.path.rsplit("/", 1)[-1], str(_np(g.state).dtype),
                     tuple(g.state.shape)) for g in gens])
    assert got[1] == got[0], got


#: metric -> constructor kwargs: their variables' paths (``<metric name>/<variable>``) as Keras's
_METRICS = {"Mean": {}, "Sum": {}, "AUC": {"num_thresholds": 7}, "MeanSquaredError": {}, "Precision": {},
            "MeanIoU": {"num_classes": 3}, "R2Score": {}, "SparseCategoricalAccuracy": {}}


def metric_variable_paths(k, gf):
    _fresh_names(k, gf)
    for cls, kwargs in _METRICS.items():
        theirs, ours = getattr(k.metrics, cls)(**kwargs), getattr(gf.metrics, cls)(**kwargs)
        assert ours.name == theirs.name, (cls, ours.name, theirs.name)
        want = [v.path for v in theirs.variables]
        assert [v.path for v in ours.variables] == want, (cls, [v.path for v in ours.variables], want)
        assert [v.path.rsplit("/", 1)[-1] for v in ours.variables] == [v.name for v in theirs.variables]
    got = []
    for m in (k, gf):  # a custom metric's unnamed variables, and a name with '/' (path: '>')

        class Custom(m.metrics.Metric):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.a = self.add_variable((), "zeros")
                self.b = self.add_variable((2,), "zeros", name="b")

            def update_state(self, y):
                self.a.assign_add(1.0)

            def result(self):
                return self.a

        got.append([_names(metric.variables) for metric in (Custom(), Custom(name="out/acc"),
                                                             m.metrics.Mean(name="m2"))])
    assert got[1] == got[0], got


# -- optimizer variables -------------------------------------------------------------------------
def _slot_optimizer(m):
    """Keras's custom-optimizer pattern: ``build`` adds one ``momentum`` per variable from its reference,
    and one variable of its own with no name."""

    class Slotted(m.optimizers.Optimizer):
        def __init__(self, **kwargs):
            super().__init__(learning_rate=0.1, **kwargs)

        def build(self, variables):
            if self.built:
                return
            super().build(variables)
            self.momentums = [self.add_variable_from_reference(v, "momentum") for v in variables]
            self.extra = self.add_variable((), name=None)
            self.named = self.add_variable((2,), initializer="ones", name="named")

        def update_step(self, gradient, variable, learning_rate):
            mom = self.momentums[self._get_variable_index(variable)]
            self.assign(mom, mom * 0.5 + gradient)
            self.assign_sub(variable, mom * learning_rate)

    return Slotted


def _model(m):
    return m.Sequential([m.Input((4,)), m.layers.Dense(3, name="enc"), m.layers.Dense(2)], name="sequential")


def optimizer_variable_names(k, gf):
    """``add_variable_from_reference``: ``<reference path with '_'>_<name>`` under the optimizer's name
    (``slotted/sequential_enc_kernel_momentum``); ``add_variable`` without a name: ``variable``, ...;
    the automatic optimizer names (``adam``, ``adam_w``, ``rm_sprop``: Keras's first ones), and a training step
    of the custom optimizer giving Keras's values."""
    _fresh_names(k, gf)
    names = [[getattr(m.optimizers, c)().name for c in ("Adam", "AdamW", "RMSprop", "SGD", "Lion", "Adafactor")]
             for m in (k, gf)]
    assert names[1] == names[0], names
    x = RNG.normal(size=(8, 4)).astype(np.float32)
    y = RNG.normal(size=(8, 2)).astype(np.float32)
    got = []
    _fresh_names(k, gf)
    for m in (k, gf):
        model = _model(m)
        model.set_weights([np.linspace(-1, 1, int(np.prod(w.shape)), dtype=np.float32).reshape(tuple(w.shape))
                           for w in model.weights])
        opt = _slot_optimizer(m)()
        model.compile(optimizer=opt, loss="mse")
        model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
        own = [v for v in opt.variables if v.name not in ("iteration", "learning_rate")]
        got.append((opt.name, _names(own), [_np(w) for w in model.get_weights()], [_np(v) for v in own]))
    (kn, kv, kw, ks), (gn, gv, gw, gs) = got
    assert (gn, gv) == (kn, kv), ((gn, gv), (kn, kv))
    for a, b in zip(gw + gs, kw + ks):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)


def adafactor_variable_names(k, gf):
    """Adafactor's factored second moments are named after the variable (``kernel``), its velocity from
    the reference path."""
    got = []
    _fresh_names(k, gf)
    for m in (k, gf):
        model = _model(m)
        opt = m.optimizers.Adafactor()
        opt.build(model.trainable_weights)
        got.append([(v.name, v.path) for v in opt.variables if v.name not in ("iteration", "learning_rate")
                    and len(v.shape) > 0])
    assert got[1] == got[0], got


def weight_decay_exclusion(k, gf):
    """``exclude_from_weight_decay(var_names=...)``: Keras searches each pattern in the variable's name
    (``kernel``, not ``dense/kernel``), so ``"dense"`` excludes nothing and ``"bi.s"`` the biases."""
    x = RNG.normal(size=(8, 4)).astype(np.float32)
    y = RNG.normal(size=(8, 2)).astype(np.float32)
    for names in (["dense"], ["bi.s"], ["kernel", "enc"]):
        got = []
        for m in (k, gf):
            model = _model(m)
            model.set_weights([np.linspace(-1, 1, int(np.prod(w.shape)), dtype=np.float32).reshape(tuple(w.shape))
                               for w in model.weights])
            opt = m.optimizers.AdamW(learning_rate=0.1, weight_decay=0.5)
            opt.exclude_from_weight_decay(var_names=names)
            model.compile(optimizer=opt, loss="mse")
            model.fit(x, y, batch_size=8, epochs=2, verbose=0, shuffle=False)
            got.append([_np(w) for w in model.get_weights()])
        for a, b in zip(*got[::-1]):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=str(names))


# -- GroupQueryAttention -------------------------------------------------------------------------
Q = RNG.normal(size=(2, 5, 6)).astype(np.float32)
V = RNG.normal(size=(2, 7, 6)).astype(np.float32)
KEY = RNG.normal(size=(2, 7, 4)).astype(np.float32)
QMASK = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
VMASK = np.array([[1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1, 0]], bool)
KMASK = np.array([[1, 0, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1]], bool)
AMASK = RNG.random((2, 5, 7)) > 0.3


def _gqa_case(k, gf, kwargs, calls, with_key=True):
    """Same weights; each call's outputs (and scores), input and weight gradients equal Keras's."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    theirs = k.layers.GroupQueryAttention(**kwargs)
    ours = gf.layers.GroupQueryAttention(**kwargs)
    inputs = [Q, V, KEY] if with_key else [Q, V]
    theirs(*[torch.tensor(a) for a in inputs])
    ours(*[gf.Tensor(a) for a in inputs])
    assert [tuple(w.shape) for w in ours.weights] == [tuple(w.shape) for w in theirs.weights]
    ours.set_weights([_np(w) for w in theirs.get_weights()])
    for call in calls:
        call = {n: (torch.tensor(v) if isinstance(v, np.ndarray) else v) for n, v in call.items()}, \
            {n: (gf.Tensor(v) if isinstance(v, np.ndarray) else v) for n, v in call.items()}
        tin = [torch.tensor(a, requires_grad=True) for a in inputs]
        gin = [gf.Tensor(a, requires_grad=True) for a in inputs]
        ty, gy = theirs(*tin, **call[0]), ours(*gin, **call[1])
        what = f"GroupQueryAttention({kwargs})({sorted(call[1])})"
        if isinstance(ty, tuple):
            _close(gy[1], ty[1], f"{what} scores")
            ty, gy = ty[0], gy[0]
        _close(gy, ty, f"{what} output")
        w = RNG.normal(size=tuple(ty.shape)).astype(np.float32)
        if "query_mask" in call[1]:  # a masked query row's output does not depend on it (uniform weights):
            w[~QMASK] = 0.0  # Keras's autograd still sends it a gradient through the -1e9 adder, gradflow none
        for v in theirs.trainable_weights:
            v.value.grad = None
        (ty * torch.tensor(w)).sum().backward()
        (gy * gf.Tensor(w)).sum().backward()
        for a, b in zip(gin, tin):
            _close(a.grad, b.grad, f"{what} input gradient", 2e-4, 2e-5)
        for a, b in zip(ours.trainable_weights, theirs.trainable_weights):
            _close(a.grad, b.value.grad, f"{what} gradient of {b.path}", 2e-4, 2e-5)
            a.grad = None
    return theirs, ours


def keras_masks(k, gf):
    """Keras masks (an Embedding with ``mask_zero``) reach the query and value masks: outputs and scores
    equal Keras's, the output carries the query's mask, and the inputs keep theirs (Keras's GQA, unlike
    MultiHeadAttention, leaves them on)."""
    tokens = (np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2]], np.int32),
              np.array([[3, 1, 0, 0, 0, 0, 0], [2, 7, 1, 8, 2, 1, 0]], np.int32))
    got, weights = [], []
    for m, to in ((k, lambda a: a), (gf, gf.Tensor)):
        embed = m.layers.Embedding(10, 6, mask_zero=True, embeddings_initializer="ones")
        layer = m.layers.GroupQueryAttention(head_dim=3, num_query_heads=4, num_key_value_heads=2)
        q, v = embed(to(tokens[0])), embed(to(tokens[1]))
        layer(q, v)
        if m is gf:
            layer.set_weights(weights)
        else:
            weights += [_np(w) for w in layer.get_weights()]
        y, scores = layer(q, v, return_attention_scores=True)
        masks = [_np(getattr(t, "_keras_mask", None)).tolist() for t in (y, q, v)]
        got.append((_np(y), _np(scores), masks))
    _close(got[1][0], got[0][0], "GroupQueryAttention(Keras masks) output")
    _close(got[1][1], got[0][1], "GroupQueryAttention(Keras masks) scores")
    assert got[1][2] == got[0][2], (got[1][2], got[0][2])


def group_query_attention_keras(k, gf):
    """What Keras's GroupQueryAttention accepts: rank-3 query, value and a key of other features; the
    query/value/key masks, an attention mask, the causal mask, scores; the default name, weight paths,
    output shapes, config round trip; and rank-4 or rank-2 inputs refused (Keras's einsum projections are
    ``bqm,muh->bquh``: only ``(batch, steps, features)`` runs)."""
    _fresh_names(k, gf)
    kwargs = {"head_dim": 3, "num_query_heads": 4, "num_key_value_heads": 2}
    theirs, ours = _gqa_case(k, gf, kwargs, [
        {}, {"query_mask": QMASK, "value_mask": VMASK}, {"key_mask": KMASK, "attention_mask": AMASK},
        {"use_causal_mask": True, "value_mask": VMASK}, {"return_attention_scores": True, "query_mask": QMASK},
        {"return_attention_scores": True, "use_causal_mask": True}])
    assert ours.name == theirs.name, (ours.name, theirs.name)
    assert [w.path for w in ours.weights] == [w.path for w in theirs.weights]
    assert ours.compute_output_shape(Q.shape, V.shape, KEY.shape) == tuple(theirs.compute_output_shape(
        Q.shape, V.shape, KEY.shape))
    config, kconfig = ours.get_config(), theirs.get_config()
    assert set(config) == set(kconfig), set(config) ^ set(kconfig)
    for key in ("head_dim", "num_query_heads", "num_key_value_heads", "dropout", "use_bias", "name",
                "sliding_window", "use_gate", "seed"):
        assert config[key] == kconfig[key], (key, config[key], kconfig[key])
    assert type(ours).from_config(config).get_config() == config
    _gqa_case(k, gf, {**kwargs, "use_bias": False, "num_key_value_heads": 4}, [{}], with_key=False)
    gated, _ = _gqa_case(k, gf, {**kwargs, "use_gate": True, "sliding_window": 2}, [
        {}, {"use_causal_mask": True, "value_mask": VMASK}, {"return_attention_scores": True, "key_mask": KMASK}])
    assert [w.path for w in gated.weights][4].endswith("/gate/kernel")
    for bad in ({"sliding_window": 0}, {"flash_attention": True, "dropout": 0.1}):
        for m in (k, gf):
            try:
                m.layers.GroupQueryAttention(**kwargs, **bad)
            except ValueError:
                continue
            raise AssertionError(f"{m.__name__} accepted {bad}")
    keras_masks(k, gf)
    # symbolic: the scores' shape (batch, query heads, Tq, Tk)
    shapes = []
    for m in (k, gf):
        out = m.layers.GroupQueryAttention(**kwargs)(m.Input((5, 6)), m.Input((7, 6)), return_attention_scores=True)
        shapes.append([tuple(t.shape) for t in out])
    assert shapes[1] == shapes[0], shapes
    for shapes in (((2, 3, 5, 6), (2, 3, 7, 6)), ((5, 6), (7, 6))):
        for m in (k, gf):
            try:
                m.layers.GroupQueryAttention(**kwargs)(*[np.ones(s, np.float32) for s in shapes])
            except Exception:  # noqa: BLE001 - Keras raises einsum's RuntimeError or an IndexError
                continue
            raise AssertionError(f"{m.__name__} accepted shapes {shapes}")


# -- registrations: added to the other cases of each name ----------------------------------------
def _extend(namespace, name, *checks):
    def run(k, gf):
        for check in checks:
            check(k, gf)

    run.__name__ = f"kvars_{name}"
    case(namespace, name)(run)
    return run


_extend("backend", "clear_session", free_variables, seed_generator_paths)
_extend("metrics", "Mean", metric_variable_paths)
_extend("optimizers", "Optimizer", optimizer_variable_names)
_extend("optimizers", "Adafactor", adafactor_variable_names)
_extend("optimizers", "AdamW", weight_decay_exclusion)
_extend("layers", "GroupQueryAttention", group_query_attention_keras)
