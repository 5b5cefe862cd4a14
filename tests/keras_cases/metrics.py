"""Differential cases: mixed_precision, utils and callbacks names against real Keras.

Loaded by path by tests/keras_coverage.py (``load_cases``), which makes ``keras_coverage`` importable."""
import numpy as np
from keras_coverage import case

_POLICIES = ("float32", "float16", "float64", "bfloat16", "mixed_float16", "mixed_bfloat16", "int32")


@case("mixed_precision", "DTypePolicy", "Policy")
def dtype_policy_fields(k, gf, name):
    for policy in _POLICIES:
        theirs, ours = getattr(k.mixed_precision, name)(policy), getattr(gf.mixed_precision, name)(policy)
        for attr in ("name", "compute_dtype", "variable_dtype", "quantization_mode"):
            assert getattr(ours, attr) == getattr(theirs, attr), (policy, attr, getattr(ours, attr))
        assert ours.get_config() == theirs.get_config() and repr(ours) == repr(theirs)
        assert type(ours).from_config(theirs.get_config()) == ours
    for bad in ("mixed_float8", "float17"):
        for module in (k, gf):
            try:
                getattr(module.mixed_precision, name)(bad)
            except ValueError:
                continue
            raise AssertionError(f"{module.__name__}: {name}({bad!r}) did not raise")


def _mixed_cnn(mod):
    L = mod.layers
    mod.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = mod.Sequential([mod.Input((6, 6, 2)), L.Conv2D(3, 3, activation="relu"), L.BatchNormalization(),
                                L.MaxPooling2D(), L.Flatten(), L.Dense(4), L.Activation("softmax", dtype="float32")])
    finally:
        mod.mixed_precision.set_global_policy("float32")
    return model


@case("config", "dtype_policy", "set_dtype_policy")
@case("mixed_precision", "dtype_policy", "global_policy", "set_dtype_policy", "set_global_policy")
def global_policy_and_layers(k, gf):
    """The global policy round-trips, and a CNN built under mixed_float16 has Keras's dtypes layer by layer:
    float32 variables, float16 compute (and outputs), a float32 head; its compile wraps the optimizer."""
    for module in (k.mixed_precision, gf.mixed_precision, k.config, gf.config):
        setter = getattr(module, "set_global_policy", None) or module.set_dtype_policy
        getter = getattr(module, "global_policy", None) or module.dtype_policy
        setter("mixed_bfloat16")
        assert getter().name == "mixed_bfloat16"
        setter(k.mixed_precision.DTypePolicy("float32") if module in (k.mixed_precision, k.config)
               else gf.mixed_precision.DTypePolicy("float32"))
        assert getter().name == "float32"
    theirs, ours = _mixed_cnn(k), _mixed_cnn(gf)
    x = np.random.default_rng(0).random((2, 6, 6, 2)).astype("float32")
    t_out, o_out = x, gf.Tensor(x)
    for t_layer, o_layer in zip(theirs.layers, ours.layers):
        t_out, o_out = t_layer(t_out), o_layer(o_out)
        for attr in ("compute_dtype", "variable_dtype"):
            assert getattr(o_layer, attr) == getattr(t_layer, attr), (o_layer.name, attr)
        assert o_layer.dtype_policy.name == t_layer.dtype_policy.name
        assert [str(w.dtype) for w in o_layer.weights] == [k.backend.standardize_dtype(w.dtype)
                                                          for w in t_layer.weights], o_layer.name
        assert str(o_out.dtype) == k.backend.standardize_dtype(t_out.dtype), (o_layer.name, o_out.dtype)
        assert str(o_layer.output.dtype) == k.backend.standardize_dtype(t_layer.output.dtype), o_layer.name
    assert ours.layers[0].get_config()["dtype"] == "mixed_float16"
    theirs.compile("sgd", "sparse_categorical_crossentropy")
    ours.compile("sgd", "sparse_categorical_crossentropy")
    assert type(ours.optimizer).__name__ == type(theirs.optimizer).__name__ == "LossScaleOptimizer"
    y = np.array([0, 3])
    history = ours.fit(x, y, epochs=2, verbose=0).history
    assert np.isfinite(history["loss"]).all()
    assert all(str(w.dtype) == "float32" for w in ours.weights)
    gf.dtype_policies._GLOBAL[0] = None  # follow floatx again


@case("mixed_precision", "LossScaleOptimizer")
def loss_scale_optimizer(k, gf):
    """The same gradients (one step with an Inf) give the same weights, scale and iterations."""
    import torch  # noqa: PLC0415 - Keras's variables take torch tensors

    rng = np.random.default_rng(1)
    w0 = rng.normal(size=(3, 2)).astype("float32")
    grads = [rng.normal(size=(3, 2)).astype("float32") * 1000 for _ in range(5)]
    grads[2][0, 0] = np.inf
    kwargs = {"initial_scale": 8.0, "dynamic_growth_steps": 2}
    theirs = k.optimizers.LossScaleOptimizer(k.optimizers.SGD(0.1), **kwargs)
    ours = gf.mixed_precision.LossScaleOptimizer(gf.optimizers.SGD(0.1), **kwargs)
    k_var, g_var = k.Variable(w0.copy()), gf.Parameter(w0.copy())
    for g in grads:
        theirs.apply_gradients([(torch.tensor(g), k_var)])
        ours.apply_gradients([(g, g_var)])
        np.testing.assert_allclose(g_var.numpy(), k_var.numpy(), rtol=1e-6, atol=1e-6)
        assert float(ours.dynamic_scale) == float(theirs.dynamic_scale.numpy())
        assert int(ours.iterations) == int(theirs.iterations.numpy())
    assert float(ours.scale_loss(gf.Tensor(np.float32(2.0)))) == float(theirs.scale_loss(torch.tensor(2.0)))
    assert np.isclose(ours.learning_rate, float(theirs.learning_rate.numpy()))
    cfg, k_cfg = ours.get_config(), theirs.get_config()
    assert {key: cfg[key] for key in ("name", "initial_scale", "dynamic_growth_steps")} == \
        {key: k_cfg[key] for key in ("name", "initial_scale", "dynamic_growth_steps")}
    back = gf.optimizers.deserialize(k.optimizers.serialize(theirs))
    assert type(back).__name__ == "LossScaleOptimizer" and type(back.inner_optimizer).__name__ == "SGD"
    assert back.initial_scale == 8.0 and back.dynamic_growth_steps == 2


# -- utils ------------------------------------------------------------------------------------------
@case("utils", "pack_x_y_sample_weight", "unpack_x_y_sample_weight")
def pack_unpack(k, gf):
    x, y, w = np.ones(2), np.zeros(2), np.full(2, 0.5)
    for args in ((x,), ((x, y),), (x, y), (x, y, w), ([x, y], None, w)):
        assert _same(gf.utils.pack_x_y_sample_weight(*args), k.utils.pack_x_y_sample_weight(*args)), args
    for data in (x, (x,), (x, y), [x, y, w]):
        assert _same(gf.utils.unpack_x_y_sample_weight(data), k.utils.unpack_x_y_sample_weight(data))
    for module in (k, gf):
        try:
            module.utils.unpack_x_y_sample_weight((x, y, w, w))
        except ValueError:
            continue
        raise AssertionError(f"{module.__name__}: four elements were accepted")


def _same(a, b):
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(_same(u, v) for u, v in zip(a, b))
    return a is b or (a is None and b is None)


@case("utils", "Config")
def config_object(k, gf):
    for module in (k, gf):
        cfg = module.utils.Config(a=1, b="x")
        cfg.c = [1, 2]
        cfg["d"] = 4
        assert cfg.a == 1 and cfg["c"] == [1, 2] and cfg.d == 4 and len(cfg) == 4 and "b" in cfg
        assert cfg.as_dict() == {"a": 1, "b": "x", "c": [1, 2], "d": 4}
        assert cfg.to_json() == '{"a": 1, "b": "x", "c": [1, 2], "d": 4}'
        cfg.freeze()
        assert cfg.frozen
        for mutate in (lambda c: setattr(c, "a", 2), lambda c: c.__setitem__("a", 2), lambda c: c.update(a=3)):
            try:
                mutate(cfg)
            except ValueError:
                continue
            raise AssertionError(f"{module.__name__}: a frozen Config changed")
        cfg.unfreeze()
        cfg.a = 5
        assert cfg.a == 5 and cfg.pop("a") == 5 and "a" not in cfg


@case("utils", "get_file")
def get_file_offline(k, gf):
    """A file:// origin: the same cached path layout, the hash checked, a tar archive extracted."""
    import io  # noqa: PLC0415 - only this case builds archives
    import tarfile  # noqa: PLC0415
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        (src / "data.txt").write_text("hello")
        with tarfile.open(src / "pack.tar.gz", "w:gz") as archive:
            info = tarfile.TarInfo("pack/a.txt")
            info.size = 3
            archive.addfile(info, io.BytesIO(b"abc"))
        import hashlib  # noqa: PLC0415

        sha = hashlib.sha256(b"hello").hexdigest()
        out_paths = {}
        for module, name in ((k, "k"), (gf, "g")):
            cache = Path(tmp) / name
            cache.mkdir()  # (Keras falls back to /tmp/.keras for a cache_dir it cannot write to yet)
            path = module.utils.get_file("data.txt", (src / "data.txt").as_uri(), file_hash=sha, cache_dir=cache)
            assert Path(path) == cache / "datasets" / "data.txt" and Path(path).read_text() == "hello", path
            again = module.utils.get_file("data.txt", (src / "data.txt").as_uri(), file_hash=sha, cache_dir=cache)
            assert again == path
            out = module.utils.get_file(origin=(src / "pack.tar.gz").as_uri(), extract=True, cache_dir=cache)
            out_paths[name] = Path(out).relative_to(cache).as_posix()
            assert (Path(out) / "pack" / "a.txt").read_bytes() == b"abc", sorted(Path(out).rglob("*"))
            try:
                module.utils.get_file("bad.txt", (src / "data.txt").as_uri(), file_hash="0" * 64, cache_dir=cache)
            except ValueError:
                continue
            raise AssertionError(f"{name}: a wrong hash was accepted")
        assert out_paths["g"] == out_paths["k"], out_paths


@case("utils", "get_source_inputs", "is_keras_tensor")
def graph_helpers(k, gf):
    for module in (k, gf):
        a, b = module.Input((3,)), module.Input((3,))
        out = module.layers.Dense(2)(module.layers.Add()([a, module.layers.Dense(3)(b)]))
        sources = module.utils.get_source_inputs(out)
        assert len(sources) == 2 and sources[0] is a and sources[1] is b
        assert module.utils.get_source_inputs(a)[0] is a
        assert module.utils.is_keras_tensor(out) and not module.utils.is_keras_tensor(np.ones(3))


@case("utils", "standardize_dtype", "clear_session", "enable_interactive_logging", "disable_interactive_logging",
      "is_interactive_logging_enabled")
def backend_helpers(k, gf):
    for dtype in ("float32", "float64", "int32", "int64", "bool", "float16", "uint8", np.float32, np.int64, int,
                  float, bool, "int"):
        assert gf.utils.standardize_dtype(dtype) == k.utils.standardize_dtype(dtype), dtype
    for module in (k, gf):
        module.utils.disable_interactive_logging()
        assert not module.utils.is_interactive_logging_enabled()
        module.utils.enable_interactive_logging()
        assert module.utils.is_interactive_logging_enabled()
        module.utils.clear_session()
        assert module.layers.Dense(1).name == "dense"


@case("utils", "split_dataset")
def split_arrays(k, gf):
    """Keras's split_dataset returns tf.data datasets (TensorFlow); gradflow's the same structure of arrays,
    with Keras's size rules."""
    x, y = np.arange(10.0)[:, None], np.arange(10)
    left, right = gf.utils.split_dataset((x, y), left_size=0.8)
    assert len(left[0]) == 8 and len(right[1]) == 2 and np.array_equal(left[1], y[:8])
    left, right = gf.utils.split_dataset({"a": x}, right_size=3, shuffle=True, seed=1)
    assert len(left["a"]) == 7 and sorted(np.concatenate([left["a"], right["a"]])[:, 0]) == list(range(10))
    left, right = gf.utils.split_dataset(x)
    assert len(left) == len(right) == 5
    try:
        gf.utils.split_dataset(x, left_size=8, right_size=5)
    except ValueError:
        return
    raise AssertionError("sizes over the dataset were accepted")


@case("utils", "text_dataset_from_directory", "audio_dataset_from_directory")
def datasets_from_directories(k, gf):
    """Keras reads these through TensorFlow; gradflow's follow its arguments, labels and batch shapes."""
    import tempfile  # noqa: PLC0415 - only this case writes files
    import wave  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as tmp:
        for label, n in (("neg", 3), ("pos", 2)):
            (Path(tmp) / "text" / label).mkdir(parents=True)
            (Path(tmp) / "audio" / label).mkdir(parents=True)
            for i in range(n):
                (Path(tmp) / "text" / label / f"{i}.txt").write_text(f"{label} text number {i}")
                with wave.open(str(Path(tmp) / "audio" / label / f"{i}.wav"), "wb") as f:
                    f.setnchannels(1)
                    f.setsampwidth(2)
                    f.setframerate(8000)
                    f.writeframes((np.arange(100 + 10 * i, dtype=np.int16) * 100).tobytes())
        ds = gf.utils.text_dataset_from_directory(Path(tmp) / "text", batch_size=4, max_length=8, verbose=False,
                                                  seed=0)
        texts, labels = ds[0]
        assert ds.class_names == ["neg", "pos"] and len(ds) == 2 and texts.shape == (4,) and labels.dtype == np.int32
        assert all(len(t) <= 8 for t in texts)
        train, val = gf.utils.text_dataset_from_directory(Path(tmp) / "text", validation_split=0.4, subset="both",
                                                          seed=3, verbose=False, label_mode="categorical")
        assert len(train.paths) == 3 and len(val.paths) == 2 and train[0][1].shape == (3, 2)
        ds = gf.utils.audio_dataset_from_directory(Path(tmp) / "audio", batch_size=5, shuffle=False, verbose=False,
                                                   label_mode="binary")
        audio, labels = ds[0]
        assert audio.shape == (5, 120, 1) and audio.dtype == np.float32 and labels.shape == (5, 1)
        assert np.isclose(np.abs(audio).max(), 119 * 100 / 32768, rtol=1e-6)
        ds = gf.utils.audio_dataset_from_directory(Path(tmp) / "audio", output_sequence_length=50, verbose=False)
        assert ds[0][0].shape == (5, 50, 1)


@case("utils", "Progbar")
def progbar(k, gf):
    import contextlib  # noqa: PLC0415 - only this case captures output
    import io  # noqa: PLC0415

    out = {}
    for module in (k, gf):
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            bar = module.utils.Progbar(4, verbose=2, stateful_metrics=["acc"])
            for step in range(1, 5):
                bar.update(step, values=[("loss", float(step)), ("acc", step / 10)])
        out[module] = buf.getvalue()
    ours, theirs = out[gf], out[k]
    for text in (ours, theirs):
        assert "loss: 4.0000" in text and "acc: 0.4000" in text, text
    bar = gf.utils.Progbar(None, verbose=0)
    bar.update(1, values=[("loss", 1.0)])
    bar.add(3, values=[("loss", 3.0)])
    assert bar._values["loss"] == [10.0, 4]  # averaged over steps, as Keras's


# -- callbacks --------------------------------------------------------------------------------------
@case("callbacks", "RemoteMonitor")
def remote_monitor(k, gf):
    """The same epoch logs reach a local HTTP server, form-encoded and as JSON; a dead server warns."""
    import json  # noqa: PLC0415 - only this case runs a server
    import threading  # noqa: PLC0415
    import urllib.parse  # noqa: PLC0415
    import warnings  # noqa: PLC0415
    from http.server import BaseHTTPRequestHandler, HTTPServer  # noqa: PLC0415

    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers["Content-Length"])).decode()
            received.append((self.path, self.headers.get("Content-Type", ""), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = f"http://127.0.0.1:{server.server_address[1]}"
        logs = {"loss": np.float32(0.5), "accuracy": 0.75}
        for as_json in (False, True):
            gf.callbacks.RemoteMonitor(root=root, path="/e/", send_as_json=as_json).on_epoch_end(3, logs)
        (path, _, form), (_, kind, body) = received
        assert path == "/e/" and "application/json" in kind
        assert json.loads(urllib.parse.parse_qs(form)["data"][0]) == {"epoch": 3, "loss": 0.5, "accuracy": 0.75}
        assert json.loads(body) == {"epoch": 3, "loss": 0.5, "accuracy": 0.75}
    finally:
        server.shutdown()
        server.server_close()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gf.callbacks.RemoteMonitor(root="http://127.0.0.1:9").on_epoch_end(0, {})
    assert any("Could not reach" in str(w.message) for w in caught)
    assert set(vars(k.callbacks.RemoteMonitor())) - {"_model", "params", "model"} <= \
        set(vars(gf.callbacks.RemoteMonitor())) | {"_model"}
