"""Saving and loading: round trips, safetensors layout, atomic writes, bad files, exact resume."""
import io
import json
import os
import zipfile

import numpy as np
import pytest
from safetensors.numpy import load as st_load

from gradflow import losses
from gradflow.layers import Dense
from gradflow.models import ModelFileError, Sequential, load_model
from gradflow.optimizers import Adam
from gradflow.saving import saving_lib as saving


def trained(mk, epochs=2):
    x, y = mk.people(24)
    model = mk.mlp()
    model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, batch_size=6, epochs=epochs, shuffle=False, verbose=0)
    return model, x, y


def test_save_and_load_model_round_trip(mk, tmp_path):
    model, x, y = trained(mk)
    path = tmp_path / "model.gflow"
    model.save(path)
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == ["config.json", "model.weights.safetensors", "optimizer.safetensors"]
        config = json.loads(zf.read("config.json"))
        weights = st_load(zf.read("model.weights.safetensors"))
        opt_state = st_load(zf.read("optimizer.safetensors"))
    assert config["format"] == "gradflow.model"
    assert [l["class_name"] for l in config["model"]["config"]["layers"]] == ["Dense", "Dense", "Dense"]
    assert config["compile"]["loss"] == "sparse_categorical_crossentropy"
    assert config["compile"]["metrics"] == ["accuracy"]
    assert config["compile"]["optimizer"]["class_name"] == "Adam"
    assert sorted(weights) == sorted(w.name for w in model.weights)
    assert int(opt_state["iterations"]) == model.optimizer.iterations == 8

    restored = load_model(path)
    assert restored.get_config() == model.get_config()
    assert all(np.array_equal(a, b) for a, b in zip(restored.get_weights(), model.get_weights()))
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(restored.optimizer) is Adam and restored.optimizer.iterations == 8
    assert restored.optimizer.learning_rate == pytest.approx(0.01)
    assert restored.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    lines_a, lines_b = [], []
    model.summary(print_fn=lines_a.append)
    restored.summary(print_fn=lines_b.append)
    assert lines_a == lines_b


def test_resume_is_exact(mk, tmp_path):
    """fit 2 epochs, save, load, fit 2 more == fit 4 epochs (weights and optimizer state)."""
    x, y = mk.people(24)

    def fresh(initial=None):
        model = mk.mlp()
        if initial is not None:
            model.set_weights(initial)
        model.compile(optimizer=Adam(learning_rate=0.01), loss="sparse_categorical_crossentropy")
        return model

    first = fresh()
    initial = first.get_weights()
    first.fit(x, y, batch_size=6, epochs=2, shuffle=False, verbose=0)
    first.save(tmp_path / "half.gflow")
    resumed = load_model(tmp_path / "half.gflow")
    resumed.fit(x, y, batch_size=6, epochs=4, initial_epoch=2, shuffle=False, verbose=0)

    straight = fresh(initial)
    straight.fit(x, y, batch_size=6, epochs=4, shuffle=False, verbose=0)
    assert not all(np.array_equal(a, b) for a, b in zip(first.get_weights(), straight.get_weights()))
    for a, b in zip(resumed.get_weights(), straight.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert resumed.optimizer.iterations == straight.optimizer.iterations == 16


def test_save_weights_any_name_and_load_by_position(mk, tmp_path):
    model, x, _ = trained(mk)
    for name in ("weights.safetensors", "w.h5", "plain"):
        path = tmp_path / name
        model.save_weights(path)
        stored = st_load(path.read_bytes())
        assert sorted(stored) == sorted(w.name for w in model.weights)
        np.testing.assert_array_equal(stored["dense_1/kernel"], model.get_layer("dense_1").kernel.numpy())
        fresh = mk.mlp()  # new layer names (dense_3...): weights match by position
        fresh.load_weights(path)
        np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
    fresh = mk.mlp()
    model.save(tmp_path / "full.gflow")
    fresh.load_weights(tmp_path / "full.gflow")  # a whole-model file works too
    assert all(np.array_equal(a, b) for a, b in zip(fresh.get_weights(), model.get_weights()))


def test_weight_order_is_kept_in_metadata(mk, tmp_path):
    model, _, _ = trained(mk)
    path = tmp_path / "w.safetensors"
    model.save_weights(path)
    keys, arrays, meta = saving.weights_from_bytes(path.read_bytes(), "w")
    assert keys == [w.name for w in model.weights]
    assert json.loads(meta["order"]) == keys


def test_a_crash_mid_save_leaves_the_previous_file(mk, tmp_path, monkeypatch):
    model, x, y = trained(mk)
    path = tmp_path / "model.gflow"
    model.save(path)
    good = path.read_bytes()
    model.fit(x, y, epochs=1, verbose=0)  # change the weights

    calls = []

    def crash(zf, name, data, method):
        calls.append(name)
        if len(calls) == 2:
            raise OSError("disk full (simulated)")
        zf.writestr(name, data)

    monkeypatch.setattr(saving, "_write_entry", crash)
    with pytest.raises(OSError, match="simulated"):
        model.save(path)
    assert path.read_bytes() == good
    assert sorted(os.listdir(tmp_path)) == ["model.gflow"]  # no temporary file left behind

    monkeypatch.undo()
    wpath = tmp_path / "w.safetensors"
    model.save_weights(wpath)
    good_w = wpath.read_bytes()
    trained_more = model.get_weights()
    model.set_weights([w + 1 for w in trained_more])

    def bad_fsync(fd):
        raise OSError("power cut (simulated)")

    monkeypatch.setattr(saving.os, "fsync", bad_fsync)
    with pytest.raises(OSError, match="power cut"):
        model.save_weights(wpath)
    assert wpath.read_bytes() == good_w
    assert sorted(os.listdir(tmp_path)) == ["model.gflow", "w.safetensors"]


def _zip(members: dict) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def bad_files(good: bytes):
    with zipfile.ZipFile(io.BytesIO(good)) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    config = json.loads(members["config.json"])
    evil = json.loads(members["config.json"])
    evil["model"]["config"]["layers"][0]["class_name"] = "os.system"
    flipped = bytearray(good)
    start = good.index(b"dense/kernel") + 200  # inside the stored weight bytes
    flipped[start:start + 8] = b"\xff" * 8
    return {
        "truncated": (good[: len(good) // 2], "truncated"),
        "random bytes": (np.random.default_rng(0).bytes(500), "not a"),
        "empty": (b"", "not a"),
        "zip without config.json": (_zip({"model.weights.safetensors": members["model.weights.safetensors"]}),
                                    "no config.json"),
        "config not JSON": (_zip({**members, "config.json": b"{not json"}), "not valid JSON"),
        "foreign config": (_zip({**members, "config.json": json.dumps({"format": "keras"}).encode()}),
                           "not a gradflow model config"),
        "newer format": (_zip({**members, "config.json": json.dumps({**config, "format_version": 99}).encode()}),
                         "newer than this gradflow reads"),
        "unregistered layer class": (_zip({**members, "config.json": json.dumps(evil).encode()}),
                                     "unknown layer class 'os.system'"),
        "corrupt member": (bytes(flipped), "corrupt"),
        "weights not safetensors": (_zip({**members, "model.weights.safetensors": b"\x00" * 64}),
                                    "not a safetensors file"),
    }


def test_bad_files_raise_and_leave_the_model_unchanged(mk, tmp_path):
    model, _, _ = trained(mk)
    model.save(tmp_path / "good.gflow")
    good = (tmp_path / "good.gflow").read_bytes()
    target = mk.mlp()
    target.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    before = target.get_weights()
    for name, (data, match) in bad_files(good).items():
        path = tmp_path / f"{name.replace(' ', '_')}.gflow"
        path.write_bytes(data)
        with pytest.raises(ModelFileError, match=match):
            load_model(path)
        if name not in ("unregistered layer class", "newer format", "foreign config"):
            with pytest.raises(ModelFileError):
                target.load_weights(path)
        assert all(np.array_equal(a, b) for a, b in zip(target.get_weights(), before)), name
    assert issubclass(ModelFileError, ValueError)
    with pytest.raises(FileNotFoundError, match="no model or weights file"):
        load_model(tmp_path / "missing.gflow")


def test_mismatched_weights_change_nothing(mk, tmp_path):
    model, _, _ = trained(mk)
    model.save_weights(tmp_path / "w.safetensors")
    model.save(tmp_path / "m.gflow")
    narrow = Sequential([Dense(16, input_shape=(2,), activation="relu"), Dense(8), Dense(2)])
    before = narrow.get_weights()
    with pytest.raises(ModelFileError, match=r"has shape \(16, 32\) but the model's 'dense_4/kernel' expects \(16, 8\)"):
        narrow.load_weights(tmp_path / "w.safetensors")
    assert all(np.array_equal(a, b) for a, b in zip(narrow.get_weights(), before))  # not even the first layer
    short = Sequential([Dense(16, input_shape=(2,))])
    with pytest.raises(ModelFileError, match="holds 6 weight arrays but the model has 2"):
        short.load_weights(tmp_path / "m.gflow")
    ints = saving.weights_to_bytes([w.name for w in model.weights], [w.astype(np.int32) for w in model.get_weights()])
    (tmp_path / "ints.safetensors").write_bytes(ints)
    target = mk.mlp()
    with pytest.raises(ModelFileError, match="dtype int32"):
        target.load_weights(tmp_path / "ints.safetensors")
    with pytest.raises(ValueError, match="not built"):
        Sequential([Dense(2)]).load_weights(tmp_path / "w.safetensors")


def test_bad_optimizer_state_is_rejected(mk, tmp_path):
    model, _, _ = trained(mk)
    model.save(tmp_path / "m.gflow")
    with zipfile.ZipFile(tmp_path / "m.gflow") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    state = st_load(members["optimizer.safetensors"])
    state["param_0/momentum"] = np.zeros((3, 3), np.float32)
    names = list(state)
    members["optimizer.safetensors"] = saving.weights_to_bytes(names, [state[k] for k in names], kind="gradflow.optimizer")
    (tmp_path / "bad_opt.gflow").write_bytes(_zip(members))
    with pytest.raises(ModelFileError, match="optimizer state"):
        load_model(tmp_path / "bad_opt.gflow")


def test_custom_loss_needs_compile_false(mk, tmp_path):
    x, y = mk.people(8)
    model = mk.mlp()
    model.compile(optimizer="sgd", loss=lambda t, p: losses.sparse_categorical_crossentropy(t, p))
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "custom.gflow")
    with pytest.raises(ModelFileError, match="compile=False"):
        load_model(tmp_path / "custom.gflow")
    restored = load_model(tmp_path / "custom.gflow", compile=False)
    assert not restored.compiled
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_uncompiled_and_loss_object_models_round_trip(mk, tmp_path):
    model = mk.mlp()
    model.save(tmp_path / "plain.gflow")
    restored = load_model(tmp_path / "plain.gflow")
    assert not restored.compiled and restored.count_params() == model.count_params()
    model.compile(optimizer=Adam(1e-3), loss=losses.SparseCategoricalCrossentropy(), metrics=["accuracy"])
    model.save(tmp_path / "obj.gflow")
    restored = load_model(tmp_path / "obj.gflow")
    assert isinstance(restored.loss, losses.SparseCategoricalCrossentropy)


def test_no_pickle_in_files(mk, tmp_path):
    model, _, _ = trained(mk)
    model.save(tmp_path / "m.gflow")
    model.save_weights(tmp_path / "w.safetensors")
    with zipfile.ZipFile(tmp_path / "m.gflow") as zf:
        blobs = [zf.read(n) for n in zf.namelist()]
    for blob in blobs + [(tmp_path / "w.safetensors").read_bytes()]:
        assert b"\x80\x04\x95" not in blob and b"\x80\x05\x95" not in blob  # pickle protocol 4/5 frames
