"""Differential cases of the kfix worktree against real Keras (torch backend): MultiHeadAttention over any
``attention_axes``, ``registered_name`` in saved entries, the public layer names after the applications
are built, and variable paths.

Loaded by path by tests/keras_coverage.py (``load_cases``)."""
import numpy as np
from keras_coverage import case, case_module

RNG = np.random.default_rng(23)
DIFF = case_module("_diff")
_np, _close = DIFF.to_numpy, DIFF.close

#: (query shape, value shape, attention_axes, call kwargs): Keras's einsum path, not the steps one
MHA_ROWS = [
    ((2, 3, 4, 5), (2, 3, 4, 5), (1, 2), {}),
    ((2, 3, 4, 5), (2, 3, 4, 5), None, {}),  # rank 4: Keras's default attends over (1, 2)
    ((2, 3, 4, 5), (2, 3, 6, 5), (2,), {}),
    ((2, 3, 4, 5), (2, 3, 6, 5), -2, {"attention_mask": RNG.random((2, 3, 4, 6)) > 0.3}),
    ((2, 3, 4, 5), (2, 3, 4, 5), [1], {"use_causal_mask": True}),
    ((2, 3, 4, 5), (2, 3, 6, 5), (2,), {"value_mask": RNG.random((2, 3, 6)) > 0.3}),
    ((2, 4, 5), (2, 4, 5), (2,), {}),
    ((2, 3, 2, 4, 3), (2, 3, 2, 4, 3), (1, 3), {}),
]


def mha_axes_row(k, gf, row):
    """One row of ``MHA_ROWS``: output, attention scores, input and weight gradients, config."""
    import torch  # noqa: PLC0415 - Keras's gradients (torch backend)

    qs, vs, axes, kwargs = row
    q, v = RNG.normal(size=qs).astype(np.float32), RNG.normal(size=vs).astype(np.float32)
    make = {"num_heads": 2, "key_dim": 3, "value_dim": 2, "attention_axes": axes}
    theirs, ours = k.layers.MultiHeadAttention(**make), gf.layers.MultiHeadAttention(**make)
    assert ours.get_config()["attention_axes"] == theirs.get_config()["attention_axes"], "unbuilt config"
    theirs(q, v)
    ours(gf.Tensor(q), gf.Tensor(v))
    ours.set_weights([np.asarray(w) for w in theirs.get_weights()])
    tin = [torch.tensor(a, requires_grad=True) for a in (q, v)]
    gin = [gf.Tensor(a, requires_grad=True) for a in (q, v)]
    ty, ts = theirs(*tin, return_attention_scores=True, **kwargs)
    gy, gs = ours(*gin, return_attention_scores=True, **kwargs)
    _close(gy, ty, f"{row} output")
    _close(gs, ts, f"{row} attention scores")
    _close(ours(*[gf.Tensor(a) for a in (q, v)], **kwargs), ty, f"{row} output without scores")
    w = RNG.normal(size=tuple(ty.shape)).astype(np.float32)
    ws = RNG.normal(size=tuple(ts.shape)).astype(np.float32)
    ((ty * torch.tensor(w)).sum() + (ts * torch.tensor(ws)).sum()).backward()
    ((gy * gf.Tensor(w)).sum() + (gs * gf.Tensor(ws)).sum()).backward()
    for a, b in zip(gin, tin):
        _close(a.grad, b.grad, f"{row} input gradient", 2e-4, 2e-5)
    for a, b in zip(ours.trainable_weights, theirs.trainable_weights):
        _close(a.grad, b.value.grad, f"{row} gradient of {b.path}", 2e-4, 2e-5)
    config, theirs_config = ours.get_config(), theirs.get_config()
    assert config["attention_axes"] == theirs_config["attention_axes"], (config, theirs_config)
    assert set(config) == set(theirs_config), set(config) ^ set(theirs_config)
    again = type(ours).from_config(config)
    assert again.get_config() == config
    again(gf.Tensor(q), gf.Tensor(v))
    again.set_weights(ours.get_weights())
    _close(again(gf.Tensor(q), gf.Tensor(v), **kwargs), ty, f"{row} from_config")


@case("layers", "MultiHeadAttention")
def multi_head_attention(k, gf):
    """Every attention-axes row (the registry runs attn's steps-axis cases for this name too)."""
    for row in MHA_ROWS:
        mha_axes_row(k, gf, row)


# -- registered_name: the user's classes by "package>name", even under a built-in's class name -------------
#: (package, class name, registered name or None, scale): two "Block"s, a "Dense" that is not Keras's
REGISTERED = [("KfixA", "Block", None, 2.0), ("KfixB", "Block", None, 3.0), ("KfixPkg", "Dense", None, 5.0),
              ("KfixP", "Orig", "Renamed", 7.0)]
_DEFINED: dict = {}


def registered_layers(m):
    """The ``REGISTERED`` classes of module ``m`` (keras or gradflow), defined and registered once, as a
    script (``__main__``) defines them."""
    if id(m) in _DEFINED:
        return _DEFINED[id(m)]
    made = []
    for package, name, regname, scale in REGISTERED:
        def init(self, units=2, **kwargs):
            m.layers.Layer.__init__(self, **kwargs)
            self.units = units

        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1], self.units), initializer="ones", name="w")

        def call(self, x, scale=scale):
            return m.ops.matmul(x, self.w) * scale

        def get_config(self):
            return {**m.layers.Layer.get_config(self), "units": self.units}

        cls = type(name, (m.layers.Layer,), {"__init__": init, "build": build, "call": call,
                                             "get_config": get_config, "__module__": "__main__"})
        made.append(m.saving.register_keras_serializable(package=package, name=regname)(cls))
    _DEFINED[id(m)] = made
    return made


def _envelope(entry):
    return {key: entry.get(key) for key in ("module", "class_name", "registered_name")}


@case("utils", "register_keras_serializable", "get_registered_name", "get_registered_object",
      "get_custom_objects", "CustomObjectScope", "custom_object_scope")
def registration(k, gf):
    """The same entries as Keras for registered classes (module None for a script's class,
    ``registered_name`` "package>name"), and each side's entry loads the right class (utilsopt's checks of
    these names run too)."""
    theirs_classes, ours_classes = registered_layers(k), registered_layers(gf)
    for kc, gc in zip(theirs_classes, ours_classes):
        assert gf.utils.get_registered_name(gc) == k.utils.get_registered_name(kc)
        theirs, ours = k.utils.serialize_keras_object(kc(3)), gf.utils.serialize_keras_object(gc(3))
        assert _envelope(ours) == _envelope(theirs), (_envelope(ours), _envelope(theirs))
        assert type(gf.utils.deserialize_keras_object(theirs)) is gc
        assert type(k.utils.deserialize_keras_object(ours)) is kc


# -- variable paths: parents' names included, as Keras's name scopes give them ------------------------------
X4 = np.ones((2, 4), np.float32)


def _block(m):
    class Block(m.layers.Layer):
        """Sublayers made in __init__ and in build, built inside this layer's call and build."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.first = m.layers.Dense(3, name="inner_dense")

        def build(self, shape):
            self.second = m.layers.Dense(2, name="late_dense")
            self.scale = self.add_weight(shape=(1,), name="scale")

        def call(self, x):
            return self.second(self.first(x)) * self.scale

    return Block


def _subclassed_model(m):
    class Sub(m.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = m.layers.Dense(3, name="sd")

        def call(self, x):
            return self.dense(x)

    return Sub


def _path_models(m):
    """name -> a built layer or model of module ``m`` (keras or gradflow), the same on both sides (every
    layer named: automatic names depend on the session)."""
    out = {"sequential": m.Sequential([m.Input((4,)), m.layers.Dense(3, name="body"), m.layers.Dense(2, name="head")],
                                   name="seq")}
    lazy = m.Sequential([m.layers.Dense(3, name="l1"), m.layers.Dense(2, name="l2")], name="lazy")
    lazy(X4)
    out["sequential built by a call"] = lazy
    inp = m.Input((4,))
    out["functional"] = m.Model(inp, m.layers.BatchNormalization(name="bn")(m.layers.Dense(3, name="d1")(inp)),
                                name="func")
    inner = m.Sequential([m.Input((4,)), m.layers.Dense(3, name="inner_dense")], name="inner")
    inp = m.Input((4,))
    out["nested models"] = m.Model(inp, m.layers.Dense(2, name="top")(inner(inp)), name="outer")
    pre = m.layers.Dense(3, name="pre")
    pre(X4)
    out["a layer built before its model"] = m.Sequential([m.Input((4,)), pre, m.layers.Dense(1, name="post")],
                                                         name="seqpre")
    block = _block(m)(name="outer_block")
    block(X4)
    out["subclassed layer"] = block
    inp = m.Input((4,))
    out["subclassed layer in a model"] = m.Model(inp, _block(m)(name="blk")(inp), name="holder")
    sub = _subclassed_model(m)(name="sub")
    sub(X4)
    out["subclassed model"] = sub
    out["rnn cells and wrappers"] = m.Sequential([m.Input((3, 4)), m.layers.Bidirectional(m.layers.GRU(2, name="gru"), name="bi"),
                                                  m.layers.RepeatVector(2), m.layers.LSTM(2, name="lstm"),
                                                  m.layers.RepeatVector(2),
                                                  m.layers.TimeDistributed(m.layers.Dense(2, name="tdd"), name="td")], name="rs")
    inp = m.Input((3, 4))
    out["attention"] = m.Model(inp, m.layers.MultiHeadAttention(2, 2, name="mh")(inp, inp), name="mf")
    return out


def variable_paths(k, gf):
    """Every weight's ``.path`` of each ``_path_models`` entry: Keras's, in Keras's order."""
    theirs, ours = _path_models(k), _path_models(gf)
    for what in theirs:
        want, got = [v.path for v in theirs[what].weights], [v.path for v in ours[what].weights]
        assert got == want, (what, got, want)


@case("layers", "Layer")
def layer(k, gf):
    """Variable paths (the layers module's checks of a subclassed Layer run too)."""
    variable_paths(k, gf)
