"""Differential cases: ``utils`` and ``optimizers`` (worktree utilsopt) against real Keras.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
import numpy as np
from keras_coverage import case

_RNG = np.random.default_rng(11)
_W = [_RNG.normal(size=(3, 4)).astype("float32"), _RNG.normal(size=(4,)).astype("float32")]
_G = [[_RNG.normal(size=w.shape).astype("float32") for w in _W] for _ in range(4)]


def _np(x):
    return np.asarray(x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else x)


def _knp(k, x):
    return k.ops.convert_to_numpy(x)


def _close(a, b, msg="", rtol=2e-5, atol=2e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol, err_msg=msg)


def _strip_modules(entry):
    """A serialized entry without its ``module`` keys (Keras writes keras.*, gradflow gradflow.*) and with
    floats rounded (Keras keeps float32 learning rates)."""
    if isinstance(entry, dict):
        return {k: _strip_modules(v) for k, v in entry.items() if k not in ("module", "registered_name")}
    if isinstance(entry, list):
        return [_strip_modules(v) for v in entry]
    if isinstance(entry, float):
        return float(np.float32(entry))
    return entry


def _same_entries(ours, theirs, what):
    a, b = _strip_modules(ours), _strip_modules(theirs)
    assert a == b, f"{what}: {a} != {b}"


# -- optimizers ----------------------------------------------------------------------------------
def _steps(module, opt, grads_seq, to_tensor, make_var):
    variables = [make_var(w.copy()) for w in _W]
    for grads in grads_seq:
        opt.apply_gradients(zip([to_tensor(g) for g in grads], variables))
    return [_np(v) if not hasattr(v, "value") or isinstance(v, np.ndarray) else _np(v) for v in variables]


def _k_steps(k, opt, grads_seq=_G, paths=None):
    variables = [k.Variable(w.copy(), name=(paths[i] if paths else None)) for i, w in enumerate(_W)]
    for grads in grads_seq:
        opt.apply_gradients(zip([k.ops.convert_to_tensor(g) for g in grads], variables))
    return [_knp(k, v) for v in variables]


def _g_steps(gf, opt, grads_seq=_G, paths=None):
    variables = [gf.Parameter(w.copy(), name=(paths[i] if paths else None)) for i, w in enumerate(_W)]
    for grads in grads_seq:
        opt.apply_gradients(zip([g.copy() for g in grads], variables))
    return [v.numpy() for v in variables]


@case("optimizers", "LossScaleOptimizer")
def loss_scale_optimizer(k, gf):
    """Same steps (one with an inf gradient, skipped), same scale and counters, same config both ways."""
    grads = [list(g) for g in _G]
    grads[1] = [grads[1][0].copy(), grads[1][1].copy()]
    grads[1][0][0, 0] = np.inf
    kw = {"initial_scale": 8.0, "dynamic_growth_steps": 2}
    ko = k.optimizers.LossScaleOptimizer(k.optimizers.SGD(0.1, momentum=0.5), **kw)
    go = gf.optimizers.LossScaleOptimizer(gf.optimizers.SGD(0.1, momentum=0.5), **kw)
    for a, b in zip(_g_steps(gf, go, grads), _k_steps(k, ko, grads)):
        _close(a, b)
    assert float(_knp(k, ko.dynamic_scale)) == float(go.dynamic_scale)
    assert int(_knp(k, ko.iterations)) == int(go.iterations)
    kc, gc = ko.get_config(), go.get_config()
    for key in ("initial_scale", "dynamic_growth_steps"):
        assert kc[key] == gc[key], key
    back = gf.optimizers.deserialize(k.optimizers.serialize(ko))
    assert type(back).__name__ == "LossScaleOptimizer" and type(back.inner_optimizer).__name__ == "SGD"
    assert back.initial_scale == 8.0 and back.dynamic_growth_steps == 2
    theirs = k.optimizers.deserialize(gf.optimizers.serialize(go))
    assert type(theirs).__name__ == "LossScaleOptimizer" and float(theirs.initial_scale) == 8.0


@case("optimizers", "ScheduleFreeAdamW")
def schedule_free_adamw(k, gf):
    """Same steps as Keras's source computes them. On the torch backend Keras's ``momentum_old =
    momentum.value`` aliases the variable that ``assign_sub`` then updates in place, so the reference run
    gives the momentum a fresh tensor before that update (what the JAX/TF backends do)."""
    import torch  # noqa: PLC0415 - only Keras's torch backend needs the workaround

    class Reference(k.optimizers.ScheduleFreeAdamW):
        def assign_sub(self, variable, value):
            if any(variable is m for m in self._momentums):
                variable._value = torch.nn.Parameter(variable.value.detach().clone(), requires_grad=False)
            super().assign_sub(variable, value)

    for kwargs in ({}, {"learning_rate": 0.01, "warmup_steps": 3, "weight_decay": 0.01}):
        ours = _g_steps(gf, gf.optimizers.ScheduleFreeAdamW(**kwargs))
        theirs = _k_steps(k, Reference(**kwargs))
        for a, b in zip(ours, theirs):
            _close(a, b, f"ScheduleFreeAdamW({kwargs})", rtol=1e-4, atol=1e-5)
    ko, go = k.optimizers.ScheduleFreeAdamW(warmup_steps=2), gf.optimizers.ScheduleFreeAdamW(warmup_steps=2)
    _same_entries(go.get_config(), ko.get_config(), "ScheduleFreeAdamW.get_config")
    back = gf.optimizers.deserialize(k.optimizers.serialize(ko))
    assert type(back).__name__ == "ScheduleFreeAdamW" and back.warmup_steps == 2


@case("optimizers", "schedules")
def schedules_namespace(k, gf):
    """``optimizers.schedules`` has Keras's names, and each side loads the other's serialized schedule."""
    names = [n for n in dir(k.optimizers.schedules) if not n.startswith("_")]
    missing = [n for n in names if not hasattr(gf.optimizers.schedules, n)]
    assert not missing, missing
    kw = {"initial_learning_rate": 0.1, "decay_steps": 4, "decay_rate": 0.5}
    ks, gs = k.optimizers.schedules.ExponentialDecay(**kw), gf.optimizers.schedules.ExponentialDecay(**kw)
    back = gf.optimizers.schedules.deserialize(k.optimizers.schedules.serialize(ks))
    theirs = k.optimizers.schedules.deserialize(gf.optimizers.schedules.serialize(gs))
    for step in (0, 3, 9):
        assert np.isclose(float(back(step)), float(_knp(k, ks(step))))
        assert np.isclose(float(theirs(step)), float(gs(step)))


def _multi(module, paths):
    opts = module.optimizers
    sgd, adam = opts.SGD(0.1, momentum=0.9), opts.Adam(0.01)
    omap = opts.OptimizerMap(sgd, {"enc.*": adam})
    return opts.MultiOptimizer(omap), omap


_PATHS = ["enc_kernel", "dec_bias"]


@case("optimizers", "MultiOptimizer", "OptimizerMap")
def multi_optimizer(k, gf):
    """Variables under ``enc/`` step with Adam, the rest with SGD: same weights after four steps, same
    lookup, same counters, and each side's config loads on the other."""
    km, kmap = _multi(k, _PATHS)
    gm, gmap = _multi(gf, _PATHS)
    for a, b in zip(_g_steps(gf, gm, paths=_PATHS), _k_steps(k, km, paths=_PATHS)):
        _close(a, b)
    assert int(_knp(k, km.iterations)) == gm.iterations == 4
    assert [type(o).__name__ for o in km.optimizers] == [type(o).__name__ for o in gm.optimizers]
    assert [int(_knp(k, o.iterations)) for o in km.optimizers] == [o.iterations for o in gm.optimizers]
    for key in ("enc_x", "enc/a/b", "dec", "xenc"):
        assert type(kmap[key]).__name__ == type(gmap[key]).__name__, key
    for mapping in (kmap, gmap):
        try:
            mapping["enc.*"] = type(mapping.default_optimizer)()
        except ValueError:
            pass
        else:
            raise AssertionError("a duplicated key must raise")
    assert len(kmap) == len(gmap) == 1 and list(kmap) == list(gmap)
    for m in (km, gm):
        try:
            m.learning_rate  # noqa: B018 - reading it must raise
        except AttributeError:
            pass
        else:
            raise AssertionError("MultiOptimizer.learning_rate must raise")
    kcfg, gcfg = k.optimizers.serialize(km), gf.optimizers.serialize(gm)
    assert gcfg["class_name"] == kcfg["class_name"] == "MultiOptimizer"
    assert gcfg["config"]["name"] == kcfg["config"]["name"]
    back = gf.optimizers.deserialize(kcfg)
    assert isinstance(back, gf.optimizers.MultiOptimizer)
    assert type(back.optimizers[0]).__name__ == "Adam" and np.isclose(back.optimizers[0].learning_rate, 0.01)
    for a, b in zip(_g_steps(gf, back, paths=_PATHS), _k_steps(k, _multi(k, _PATHS)[0], paths=_PATHS)):
        _close(a, b)
    theirs = k.optimizers.deserialize(gcfg)
    assert isinstance(theirs, k.optimizers.MultiOptimizer)
    assert [type(o).__name__ for o in theirs.optimizers] == ["Adam", "SGD"]


@case("optimizers", "legacy")
def optimizers_legacy(k, gf):
    """Keras 3 keeps ``optimizers.legacy`` names only to raise ImportError; so does gradflow."""
    names = [n for n in dir(k.optimizers.legacy) if not n.startswith("_")]
    for name in names:
        for module in (k, gf):
            try:
                getattr(module.optimizers.legacy, name)()
            except ImportError as exc:
                assert "legacy" in str(exc)
            else:
                raise AssertionError(f"optimizers.legacy.{name}() must raise ImportError")


# -- utils: serialization and registration -----------------------------------------------------
def _objects(module):
    return [module.layers.Dense(3, activation="relu", name="d"), module.losses.MeanSquaredError(name="mse"),
            module.optimizers.Adam(0.01, name="adam"), module.initializers.GlorotUniform(seed=1),
            module.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)]


@case("utils", "serialize_keras_object", "deserialize_keras_object")
def serialization(k, gf):
    """The same objects give the same entries (class names, configs), and each side loads the other's."""
    for ko, go in zip(_objects(k), _objects(gf)):
        theirs, ours = k.utils.serialize_keras_object(ko), gf.utils.serialize_keras_object(go)
        assert ours["class_name"] == theirs["class_name"], (ours["class_name"], theirs["class_name"])
        # a layer's dtype policy is the layers' config (gradflow writes the policy's name): not compared here
        shared = set(theirs["config"]) & set(ours["config"]) - {"dtype"}
        _same_entries({key: ours["config"][key] for key in shared}, {key: theirs["config"][key] for key in shared},
                      theirs["class_name"])
        assert ours["module"].split(".")[:2] == theirs["module"].split(".")[:2] or \
            theirs["module"].startswith("keras.src"), (ours["module"], theirs["module"])
        back = gf.utils.deserialize_keras_object(theirs)
        assert type(back).__name__ == type(go).__name__
        _same_entries({key: back.get_config()[key] for key in shared}, {key: ours["config"][key] for key in shared},
                      "gradflow loads Keras's " + theirs["class_name"])
        loaded = k.utils.deserialize_keras_object(ours)
        assert type(loaded).__name__ == type(ko).__name__
    for value in (None, 3, 1.5, "relu", [1, "a"], {"a": 1}):
        assert gf.utils.serialize_keras_object(value) == k.utils.serialize_keras_object(value), value
        assert gf.utils.deserialize_keras_object(value) == k.utils.deserialize_keras_object(value), value
    theirs, ours = k.utils.serialize_keras_object(k.activations.relu), gf.utils.serialize_keras_object(
        gf.activations.relu)
    assert ours["class_name"] == theirs["class_name"] == "function" and ours["config"] == theirs["config"]
    assert gf.utils.deserialize_keras_object(theirs) is gf.activations.relu
    assert k.utils.deserialize_keras_object(ours) is k.activations.relu


@case("utils", "register_keras_serializable", "get_registered_name", "get_registered_object",
      "get_custom_objects", "CustomObjectScope", "custom_object_scope")
def registration(k, gf):
    """Registered classes and functions get the same names, lookups and scopes as in Keras."""
    made = {}
    for module in (k, gf):
        @module.utils.register_keras_serializable(package="UtilsOpt")
        class Twice(module.layers.Layer):
            def call(self, x):
                return x * 2

        @module.utils.register_keras_serializable(package="UtilsOpt", name="halve")
        def halve(x):
            return x / 2

        made[module] = (Twice, halve)
    for module in (k, gf):
        u = module.utils
        twice, halve = made[module]
        assert u.get_registered_name(twice) == "UtilsOpt>Twice"
        assert u.get_registered_name(halve) == "UtilsOpt>halve"
        assert u.get_registered_name(len) == "len"
        assert u.get_registered_object("UtilsOpt>Twice") is twice
        assert u.get_registered_object("UtilsOpt>nothing") is None
        assert u.get_registered_object("x", custom_objects={"x": halve}) is halve
        assert u.get_custom_objects()["UtilsOpt>Twice"] is twice
        entry = u.serialize_keras_object(twice(name="t"))
        assert entry["registered_name"] == "UtilsOpt>Twice" and entry["class_name"] == "Twice"
        assert type(u.deserialize_keras_object(entry)) is twice
        fn_entry = u.serialize_keras_object(halve)
        assert fn_entry["config"] == "UtilsOpt>halve" and fn_entry["class_name"] == "function"
        assert u.deserialize_keras_object(fn_entry) is halve

        class Local(module.layers.Layer):
            pass

        for scope in (u.custom_object_scope, u.CustomObjectScope):
            assert u.get_registered_object("Local") is None
            with scope({"Local": Local}):
                assert u.get_registered_object("Local") is Local
                assert u.get_custom_objects().get("Local") is None  # the scope is not the global dict
            assert u.get_registered_object("Local") is None
        for key in ("UtilsOpt>Twice", "UtilsOpt>halve"):
            u.get_custom_objects().pop(key, None)
    # each side's entry of a registered object loads on the other side
    assert type(gf.utils.deserialize_keras_object(k.utils.serialize_keras_object(made[k][0](name="t")),
                                                  custom_objects={"UtilsOpt>Twice": made[gf][0]})) is made[gf][0]


# -- utils: datasets ------------------------------------------------------------------------------
def _batches_model(module, seed_weights):
    model = module.Sequential([module.Input((3,)), module.layers.Dense(2)])
    model.set_weights(seed_weights)
    model.compile(optimizer=module.optimizers.SGD(0.1), loss="mse")
    return model


@case("utils", "PyDataset", "Sequence")
def py_dataset(k, gf):
    """fit consumes a subclass (workers/use_multiprocessing/max_queue_size accepted) batch by batch in order:
    the same weights after two epochs, the same evaluate loss (``Sequence`` is the same class, as in Keras)."""
    assert k.utils.Sequence is k.utils.PyDataset and gf.utils.Sequence is gf.utils.PyDataset
    name = "PyDataset"
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(10, 3)).astype("float32"), rng.normal(size=(10, 2)).astype("float32")
    weights = [rng.normal(size=(3, 2)).astype("float32"), np.zeros(2, "float32")]
    results = []
    for module in (k, gf):
        base = getattr(module.utils, name)

        class Batches(base):
            def __init__(self, **kwargs):
                super().__init__(**kwargs)
                self.seen = []

            def __len__(self):
                return 3

            def __getitem__(self, i):
                self.seen.append(i)
                return x[4 * i:4 * i + 4], y[4 * i:4 * i + 4]

        data = Batches(workers=1, use_multiprocessing=False, max_queue_size=4)
        assert data.workers == 1 and data.use_multiprocessing is False and data.max_queue_size == 4
        assert data.num_batches == 3
        model = _batches_model(module, weights)
        model.fit(data, epochs=2, verbose=0, shuffle=False)
        loss = model.evaluate(Batches(), verbose=0)
        results.append(([np.asarray(w) for w in model.get_weights()], float(loss), sorted(set(data.seen))))
    (kw, kl, kseen), (gw, gl, gseen) = results
    for a, b in zip(gw, kw):
        _close(a, b, rtol=1e-5, atol=1e-6)
    assert np.isclose(gl, kl, rtol=1e-5) and kseen == gseen == [0, 1, 2]


def _windows(data, targets, sequence_length, sequence_stride=1, sampling_rate=1, batch_size=128,
             start_index=None, end_index=None):
    """Keras's windows (keras/src/utils/timeseries_dataset_utils.py, shuffle=False), written out in NumPy:
    Keras builds them with tf.data, which its torch backend cannot run without TensorFlow."""
    start = start_index or 0
    end = len(data) if end_index is None else end_index
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets) - start)
    starts = np.arange(0, num_seqs, sequence_stride) + start
    out = []
    for b in range(0, len(starts), batch_size):
        s = starts[b:b + batch_size]
        idx = s[:, None] + np.arange(sequence_length)[None] * sampling_rate
        out.append((np.asarray(data)[idx], None if targets is None else np.asarray(targets)[s]))
    return out


@case("utils", "timeseries_dataset_from_array")
def timeseries(k, gf):
    data = np.arange(50, dtype="float32").reshape(25, 2)
    targets = np.arange(25, dtype="int32") * 10
    for kwargs in ({"sequence_length": 4, "batch_size": 3},
                   {"sequence_length": 3, "sampling_rate": 2, "sequence_stride": 3, "batch_size": 2},
                   {"sequence_length": 2, "start_index": 5, "end_index": 20, "batch_size": 4},
                   {"sequence_length": 5, "sampling_rate": 3, "batch_size": 128}):
        for tgt in (targets, None):
            ds = gf.utils.timeseries_dataset_from_array(data, tgt, shuffle=False, **kwargs)
            expected = _windows(data, tgt, **kwargs)
            assert len(ds) == len(expected), kwargs
            for got, (wx, wy) in zip(ds, expected):
                gx = got[0] if tgt is not None else got
                assert gx.shape == wx.shape and gx.dtype == wx.dtype, (kwargs, gx.shape, wx.shape)
                assert np.array_equal(gx, wx)
                if tgt is not None:
                    assert got[1].dtype == wy.dtype and np.array_equal(got[1], wy)
    ds = gf.utils.timeseries_dataset_from_array(data, targets, 4, batch_size=5, shuffle=True, seed=3)
    firsts = sorted(int(b[0][i, 0, 0]) for b in ds for i in range(len(b[0])))
    assert firsts == list(range(0, 44, 2))
    for bad in ({"sampling_rate": 0}, {"sequence_stride": 0}, {"start_index": -1}, {"end_index": 30}):
        for module in (k, gf):
            try:
                module.utils.timeseries_dataset_from_array(data, targets, 4, **bad)
            except (ValueError, ImportError) as exc:
                assert module is k or isinstance(exc, ValueError)
            else:
                raise AssertionError(f"{module.__name__}: {bad} accepted")


# -- utils: arrays ------------------------------------------------------------------------------
@case("utils", "pad_sequences")
def pad_sequences(k, gf):
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    floats = [[0.5, 1.5], [2.5]]
    strings = [["a", "b"], ["c", "d", "e"], ["f"]]
    arrays = [np.ones((2, 3)), np.full((1, 3), 2.0)]
    for padding in ("pre", "post"):
        for truncating in ("pre", "post"):
            for kwargs, data in (({}, seqs), ({"maxlen": 3}, seqs), ({"maxlen": 2, "value": -1}, seqs),
                                 ({"dtype": "float32", "value": 0.25}, floats),
                                 ({"dtype": object, "value": "<pad>", "maxlen": 2}, strings),
                                 ({"dtype": "str", "value": "", "maxlen": 3}, strings),
                                 ({"dtype": "float64", "maxlen": 3}, arrays)):
                args = {"padding": padding, "truncating": truncating, **kwargs}
                theirs = k.utils.pad_sequences(data, **args)
                ours = gf.utils.pad_sequences(data, **args)
                assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (args, ours.dtype, theirs.dtype)
                assert np.array_equal(ours, theirs), (args, ours, theirs)
    for bad in ({"padding": "mid"}, {"truncating": "x"}, {"dtype": "int32", "value": "x"}):
        for module in (k, gf):
            try:
                module.utils.pad_sequences(strings if "value" in bad else seqs, **bad)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{module.__name__}: {bad} accepted")


@case("utils", "to_categorical", "normalize")
def arrays(k, gf):
    for y, n in (([0, 2, 1, 2], None), (np.array([[1], [0]]), 3), (np.array([[0, 1], [2, 0]]), 4),
                 (np.array([1.0, 0.0]), 2)):
        # Keras returns float64 for arrays and lists (gradflow's `dtype=` extension picks another)
        theirs, ours = k.utils.to_categorical(y, n), gf.utils.to_categorical(y, n)
        assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (y, ours.dtype, theirs.dtype)
        assert gf.utils.to_categorical(y, n, dtype="float32").dtype == np.float32
        assert np.array_equal(ours, theirs)
    x = np.random.default_rng(2).normal(size=(3, 4)).astype("float32")
    x[1] = 0
    for data in (x, x.astype("float64"), np.arange(6).reshape(2, 3)):
        for axis, order in ((-1, 2), (1, 1), (1, np.inf)):  # (Keras's axis=0 takes the last axis: its bug)
            theirs = np.asarray(k.ops.convert_to_numpy(k.utils.normalize(data, axis, order)))
            ours = np.asarray(gf.utils.normalize(data, axis, order))
            assert ours.dtype == theirs.dtype, (data.dtype, ours.dtype)
            _close(ours, theirs, rtol=1e-6)


@case("utils", "set_random_seed")
def seeding(k, gf):
    import random  # noqa: PLC0415 - the generators the seed reaches

    draws = []
    for module in (k, gf):
        module.utils.set_random_seed(123)
        draws.append((random.random(), np.random.rand()))
    assert draws[0] == draws[1]
    gf.utils.set_random_seed(7)
    a = gf.random.uniform((3,)).numpy()
    gf.utils.set_random_seed(7)
    assert np.array_equal(a, gf.random.uniform((3,)).numpy())
    for bad in ("1", 1.5):
        for module in (k, gf):
            try:
                module.utils.set_random_seed(bad)
            except (ValueError, TypeError):
                pass
            else:
                raise AssertionError(f"{module.__name__}: seed {bad!r} accepted")


# -- utils: images (Pillow) ---------------------------------------------------------------------
_IMG = np.random.default_rng(4).integers(0, 256, size=(6, 5, 3)).astype("float32")


@case("utils", "array_to_img", "img_to_array", "save_img", "load_img")
def images(k, gf):
    """Same PIL images (modes, sizes, pixels) from the same arrays, same arrays back, same files written and
    read with each color mode, target size and interpolation."""
    import tempfile  # noqa: PLC0415 - only this case writes files
    from pathlib import Path  # noqa: PLC0415

    for x, kwargs in ((_IMG, {}), (_IMG / 255.0 - 0.5, {}), (_IMG[..., :1], {}), (_IMG, {"scale": False}),
                      (np.concatenate([_IMG, _IMG[..., :1]], -1), {}), (np.moveaxis(_IMG, -1, 0),
                                                                       {"data_format": "channels_first"})):
        ki, gi = k.utils.array_to_img(x, **kwargs), gf.utils.array_to_img(x, **kwargs)
        assert (ki.mode, ki.size) == (gi.mode, gi.size), (ki.mode, gi.mode, ki.size, gi.size)
        assert np.array_equal(np.asarray(ki), np.asarray(gi))
        for fmt in ("channels_last", "channels_first"):
            for dtype in ("float32", "uint8", "float64"):
                a = k.utils.img_to_array(ki, data_format=fmt, dtype=dtype)
                b = gf.utils.img_to_array(gi, data_format=fmt, dtype=dtype)
                assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b), (fmt, dtype)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("a.png", "b.bmp", "c.jpg"):
            kp, gp = Path(tmp) / f"k_{name}", Path(tmp) / f"g_{name}"
            k.utils.save_img(kp, _IMG)
            gf.utils.save_img(gp, _IMG)
            assert kp.read_bytes() == gp.read_bytes(), name
        k.utils.save_img(Path(tmp) / "f.png", _IMG, file_format="png")
        gf.utils.save_img(Path(tmp) / "g.png", _IMG, file_format="png")
        assert (Path(tmp) / "f.png").read_bytes() == (Path(tmp) / "g.png").read_bytes()
        path = Path(tmp) / "k_a.png"
        for kwargs in ({}, {"color_mode": "grayscale"}, {"color_mode": "rgba"},
                       {"target_size": (3, 4)}, {"target_size": (9, 7), "interpolation": "bilinear"},
                       {"target_size": (4, 4), "keep_aspect_ratio": True}, {"target_size": (3, 3),
                                                                             "interpolation": "bicubic"}):
            ki, gi = k.utils.load_img(path, **kwargs), gf.utils.load_img(path, **kwargs)
            assert (ki.mode, ki.size) == (gi.mode, gi.size), kwargs
            assert np.array_equal(np.asarray(ki), np.asarray(gi)), kwargs


@case("utils", "image_dataset_from_directory")
def image_dataset(k, gf):
    """Keras builds it on tf.data (TensorFlow); gradflow's gives the batches Keras's arguments describe: the
    files in sorted class order, shuffled with the seed, resized as load_img resizes them, float32 images."""
    import tempfile  # noqa: PLC0415 - only this case writes files
    from pathlib import Path  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        for label, n in (("cat", 3), ("dog", 2)):
            (Path(tmp) / label).mkdir()
            for i in range(n):
                k.utils.save_img(Path(tmp) / label / f"{i}.png", _IMG + i)
        ds = gf.utils.image_dataset_from_directory(tmp, image_size=(4, 3), batch_size=2, shuffle=False,
                                                   verbose=False)
        assert ds.class_names == ["cat", "dog"] and len(ds) == 3
        x, y = ds[0]
        assert x.shape == (2, 4, 3, 3) and x.dtype == np.float32 and y.dtype.kind == "i"
        labels = np.concatenate([ds[i][1] for i in range(len(ds))])
        assert sorted(labels.tolist()) == [0, 0, 0, 1, 1]
        for i, p in enumerate(ds.paths[:2]):
            want = k.utils.img_to_array(k.utils.load_img(p, target_size=(4, 3), interpolation="bilinear"))
            assert np.array_equal(x[i], want)
        x, y = gf.utils.image_dataset_from_directory(tmp, image_size=(4, 3), batch_size=5, label_mode="categorical",
                                                     color_mode="grayscale", verbose=False)[0]
        assert x.shape == (5, 4, 3, 1) and y.shape == (5, 2) and y.dtype == np.float32
        train, val = gf.utils.image_dataset_from_directory(tmp, image_size=(4, 3), validation_split=0.4,
                                                           subset="both", seed=1, verbose=False)
        assert len(train.paths) == 3 and len(val.paths) == 2 and not set(train.paths) & set(val.paths)
        x = gf.utils.image_dataset_from_directory(tmp, labels=None, image_size=(4, 3), batch_size=None,
                                                  verbose=False)[0]
        assert x.shape == (4, 3, 3)


@case("utils", "model_to_dot", "plot_model")
def model_plot(k, gf):
    """With pydot and Graphviz: the same nodes (layer names) and edges as Keras's; without them both raise an
    ImportError, gradflow's naming what to install."""
    def graph(module):
        inp = module.Input((4,), name="inp")
        a = module.layers.Dense(3, name="a")(inp)
        b = module.layers.Dense(3, name="b")(inp)
        out = module.layers.Add(name="add")([a, b])
        return module.Model(inp, out)

    kmodel, gmodel = graph(k), graph(gf)
    try:
        kdot = k.utils.model_to_dot(kmodel)
    except ImportError:
        kdot = None
    for fn in ("model_to_dot", "plot_model"):
        try:
            gdot = getattr(gf.utils, fn)(gmodel) if fn == "model_to_dot" else None
        except ImportError as exc:
            assert kdot is None and "pydot" in str(exc) or "graphviz" in str(exc).lower(), str(exc)
            continue
        if fn == "plot_model" or gdot is None:
            continue
        assert kdot is not None

        def shape(dot):
            names = {n.get_name(): n.get_label() for n in dot.get_nodes()}
            layer = {key: next((w for w in ("inp", "add", "a", "b") if f">{w}<" in str(lab) or f"{w} (" in str(lab)
                                or str(lab).startswith(w)), None) for key, lab in names.items()}
            return sorted((layer.get(e.get_source()), layer.get(e.get_destination())) for e in dot.get_edges())

        assert shape(gdot) == shape(kdot), (shape(gdot), shape(kdot))


# -- utils.bounding_boxes and utils.legacy ------------------------------------------------------
_BOXES = np.array([[[10.0, 20.0, 50.0, 60.0], [-5.0, 30.0, 130.0, 90.0], [70.0, 10.0, 100.0, 40.0]],
                   [[0.0, 0.0, 20.0, 20.0], [15.0, 5.0, 40.0, 45.0], [60.0, 60.0, 90.0, 120.0]]], "float32")


def _same_boxes(ours, theirs, k, what, rtol=1e-5, atol=1e-4):
    theirs = _knp(k, theirs)
    ours = np.asarray(ours)
    assert ours.shape == theirs.shape and ours.dtype == theirs.dtype, (what, ours.shape, theirs.shape, ours.dtype,
                                                                        theirs.dtype)
    _close(ours, theirs, what, rtol=rtol, atol=atol)


@case("utils", "bounding_boxes")
def bounding_boxes(k, gf):
    """Every function of ``utils.bounding_boxes`` on the same boxes: same values, shapes and dtypes."""
    kb, gb = k.utils.bounding_boxes, gf.utils.bounding_boxes
    names = sorted(n for n in dir(kb) if not n.startswith("_"))
    assert all(hasattr(gb, n) for n in names), [n for n in names if not hasattr(gb, n)]
    fmts = ("xyxy", "yxyx", "xywh", "center_xywh", "center_yxhw", "rel_xyxy", "rel_yxyx", "rel_xywh",
            "rel_center_xywh")
    for source in fmts:
        for target in fmts:
            args = (source, target, 130, 150)
            _same_boxes(gb.convert_format(_BOXES, *args), kb.convert_format(_BOXES, *args), k, args)
    _same_boxes(gb.convert_format(_BOXES[0].astype("int32"), "xyxy", "xywh", dtype="float64"),
                kb.convert_format(_BOXES[0].astype("int32"), "xyxy", "xywh", dtype="float64"), k, "dtype")
    out = gb.convert_format({"boxes": _BOXES, "labels": np.ones((2, 3))}, "xyxy", "center_xywh")
    _same_boxes(out["boxes"], kb.convert_format({"boxes": _BOXES}, "xyxy", "center_xywh")["boxes"], k, "dict")
    labels = np.array([[0, 1, 2], [3, 4, 5]], "int32")
    for fmt, h, w, boxes in (("xyxy", 50, 80, _BOXES), ("rel_xyxy", None, None, _BOXES / 100.0)):
        ours = gb.clip_to_image_size({"boxes": boxes, "labels": labels}, h, w, fmt)
        theirs = kb.clip_to_image_size({"boxes": boxes, "labels": labels}, h, w, fmt)
        _same_boxes(ours["boxes"], theirs["boxes"], k, "clip")
        assert np.array_equal(ours["labels"], _knp(k, theirs["labels"])), (ours["labels"], theirs["labels"])
    _same_boxes(gb.crop(_BOXES, 10, 20, 40, 30), kb.crop(_BOXES, 10, 20, 40, 30), k, "crop")
    _same_boxes(gb.pad(_BOXES, 5, 7), kb.pad(_BOXES, 5, 7), k, "pad")
    angle, tx, ty = np.array([30.0, -15.0], "float32"), np.array([0.1, 0.0], "float32"), np.array([0.0, -0.2],
                                                                                                   "float32")
    scale, shx, shy = np.array([1.2, 0.8], "float32"), np.array([5.0, 0.0], "float32"), np.array([0.0, 10.0],
                                                                                                  "float32")
    for center in ((None, None), (0.3, 0.6)):
        args = (angle, tx, ty, scale, shx, shy, 100, 120, *center)
        _same_boxes(gb.affine_transform(_BOXES, *args), kb.affine_transform(_BOXES, *k_tensors(k, args)), k,
                    f"affine {center}", rtol=1e-4, atol=1e-3)
    anchors = np.array([[0.0, 0.0, 40.0, 40.0], [10.0, 10.0, 70.0, 50.0], [60.0, 0.0, 110.0, 60.0]], "float32")
    for enc in ("center_yxhw", "center_xywh"):
        for variance in (None, [0.1, 0.1, 0.2, 0.2]):
            kw = {"variance": variance}
            ours = gb.encode_box_to_deltas(anchors, _BOXES, "xyxy", "xyxy", enc, **kw)
            theirs = kb.encode_box_to_deltas(anchors, _BOXES, "xyxy", "xyxy", enc, **kw)
            _same_boxes(ours, theirs, k, f"encode {enc} {variance}")
            back = gb.decode_deltas_to_boxes(anchors, ours, "xyxy", "xywh", enc, **kw)
            theirs = kb.decode_deltas_to_boxes(k.ops.convert_to_tensor(anchors), theirs, "xyxy", "xywh", enc, **kw)
            _same_boxes(back, theirs, k, f"decode {enc} {variance}")
    shape = (130, 150, 3)
    ours = gb.encode_box_to_deltas(anchors / 150, _BOXES / 150, "rel_xyxy", "rel_xyxy", image_shape=shape)
    _same_boxes(ours, kb.encode_box_to_deltas(anchors / 150, _BOXES / 150, "rel_xyxy", "rel_xyxy",
                                              image_shape=shape), k, "encode rel")
    levels = {"P3": anchors, "P4": anchors * 2}
    deltas = {"P3": np.zeros((3, 4), "float32") + 0.1, "P4": np.zeros((3, 4), "float32") - 0.1}
    ours, theirs = gb.decode_deltas_to_boxes(levels, deltas, "xyxy", "xyxy"), kb.decode_deltas_to_boxes(
        levels, {key: k.ops.convert_to_tensor(v) for key, v in deltas.items()}, "xyxy", "xyxy")
    for level in levels:
        _same_boxes(ours[level], theirs[level], k, level)
    for fmt in ("xyxy", "yxyx", "center_xywh"):
        _same_boxes(gb.compute_iou(_BOXES[0], anchors, fmt), kb.compute_iou(_BOXES[0], anchors, fmt), k, "iou")
        _same_boxes(gb.compute_iou(_BOXES, _BOXES, fmt), kb.compute_iou(_BOXES, _BOXES, fmt), k, "iou batched")
    masked = _BOXES.copy()
    masked[1, 2] = -1
    _same_boxes(gb.compute_iou(masked, masked, "xyxy", use_masking=True, mask_val=-2),
                kb.compute_iou(masked, masked, "xyxy", use_masking=True, mask_val=-2), k, "iou masked")
    _same_boxes(gb.compute_iou(_BOXES / 150, _BOXES / 150, "rel_xyxy", image_shape=shape),
                kb.compute_iou(_BOXES / 150, _BOXES / 150, "rel_xyxy", image_shape=shape), k, "iou rel")
    for fmt in ("xyxy", "xywh"):
        _same_boxes(gb.compute_ciou(_BOXES[0], anchors, fmt), kb.compute_ciou(_BOXES[0], anchors, fmt), k, "ciou")
        _same_boxes(gb.compute_ciou(_BOXES, _BOXES[::-1], fmt), kb.compute_ciou(_BOXES, _BOXES[::-1], fmt), k,
                    "ciou batched")
    for module in (kb, gb):
        for call in (lambda m: m.convert_format(_BOXES, "xyxy", "rel_xyxy"),
                     lambda m: m.convert_format(_BOXES, "xyxy", "nope"),
                     lambda m: m.convert_format(_BOXES[..., :3], "xyxy", "xywh"),
                     lambda m: m.encode_box_to_deltas(anchors, _BOXES, "xyxy", "xyxy", "xyxy"),
                     lambda m: m.compute_iou(_BOXES[0, 0], anchors, "xyxy")):
            try:
                call(module)
            except ValueError:
                pass
            else:
                raise AssertionError(f"{module.__name__}: accepted")


def k_tensors(k, args):
    return [k.ops.convert_to_tensor(a) if isinstance(a, np.ndarray) else a for a in args]


@case("utils", "legacy")
def legacy_serialization(k, gf):
    """Keras 2 entries: the same dicts for the same objects, and each side loads the other's."""
    kl, gl = k.utils.legacy, gf.utils.legacy
    assert sorted(n for n in dir(kl) if not n.startswith("_")) == sorted(
        n for n in dir(gl) if not n.startswith("_") and n in ("serialize_keras_object", "deserialize_keras_object"))
    modules = {m: {"Adam": m.optimizers.Adam, "Dense": m.layers.Dense, "MeanSquaredError": m.losses.MeanSquaredError,
                   "GlorotUniform": m.initializers.GlorotUniform} for m in (k, gf)}
    for ko, go in zip(_objects(k)[:4], _objects(gf)[:4]):
        theirs, ours = kl.serialize_keras_object(ko), gl.serialize_keras_object(go)
        assert set(ours) == set(theirs) == {"class_name", "config"} and ours["class_name"] == theirs["class_name"]
        shared = set(theirs["config"]) & set(ours["config"]) - {"dtype", "name"}  # (Keras numbers its names)
        _same_entries({key: ours["config"][key] for key in shared}, {key: theirs["config"][key] for key in shared},
                      "legacy " + theirs["class_name"])
        back = gl.deserialize_keras_object(theirs, module_objects=modules[gf])
        assert type(back).__name__ == type(go).__name__
        loaded = kl.deserialize_keras_object(ours, module_objects=modules[k])
        assert type(loaded).__name__ == type(ko).__name__
    assert gl.serialize_keras_object(None) is None and gl.deserialize_keras_object(None) is None
    assert gl.serialize_keras_object(gf.activations.relu) == kl.serialize_keras_object(k.activations.relu)
    assert gl.deserialize_keras_object("relu", module_objects={"relu": gf.activations.relu}) is gf.activations.relu
    for module in (kl, gl):
        try:
            module.deserialize_keras_object({"class_name": "Nope", "config": {}}, module_objects={})
        except ValueError:
            pass
        else:
            raise AssertionError("an unknown class was accepted")
