"""Model files: reading is bounded by what the model needs, saving keeps permissions and cleans
up after killed saves."""
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
import tracemalloc
import zipfile

import numpy as np

import gradflow as keras
from gradflow.layers import Dense
from gradflow.saving import ModelFileError, load_model


def small_model():
    model = keras.Sequential([keras.Input(shape=(4,)), Dense(3, activation="relu"), Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.ones((8, 4), "float32"), np.zeros((8, 2), "float32"), epochs=1, verbose=0)
    return model


def members_of(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {info.filename: (zf.read(info), info.compress_type) for info in zf.infolist()}


def write_zip(path, members: dict) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        for name, (data, method) in members.items():
            zf.writestr(name, data, compress_type=method)


def peak_bytes(fn):
    """(result or exception, peak traced bytes) of ``fn()``; NumPy reports its buffers to tracemalloc."""
    tracemalloc.start()
    try:
        try:
            out = fn()
        except Exception as exc:  # noqa: BLE001 - returned for the caller to check
            out = exc
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_unknown_member_is_rejected_without_inflating_it(tmp_path):
    path = tmp_path / "m.gflow"
    small_model().save(path)
    extra = zipfile.ZipInfo("extra.bin")
    extra.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "a") as zf:  # 128 MiB of zeros, ~130 kB compressed
        with zf.open(extra, "w") as member:
            chunk = bytes(1 << 20)
            for _ in range(128):
                member.write(chunk)
    assert path.stat().st_size < 2 << 20
    t0 = time.perf_counter()
    error, peak = peak_bytes(lambda: load_model(path))
    assert time.perf_counter() - t0 < 2.0
    assert isinstance(error, ModelFileError)
    assert str(path) in str(error) and "'extra.bin'" in str(error) and "134217728 bytes" in str(error)
    assert "limit" in str(error)
    assert peak < 4 << 20
    error, peak = peak_bytes(lambda: small_model().load_weights(path))
    assert isinstance(error, ModelFileError) and "'extra.bin'" in str(error)


def test_an_oversized_config_is_rejected_before_it_is_read(tmp_path):
    path = tmp_path / "m.gflow"
    small_model().save(path)
    members = members_of(path)
    config = members["config.json"][0]
    padded = config[:-1] + b" " * (17 << 20) + config[-1:]  # still valid JSON, over the 16 MiB limit
    members["config.json"] = (padded, zipfile.ZIP_DEFLATED)
    write_zip(path, members)
    error, peak = peak_bytes(lambda: load_model(path))
    assert isinstance(error, ModelFileError)
    assert "'config.json'" in str(error) and str(16 << 20) in str(error) and str(path) in str(error)
    assert peak < 4 << 20


def test_a_config_claiming_huge_layers_is_refused_before_allocating_them(tmp_path):
    """A few-kB file whose config asks for Dense(4096) on 4096 inputs (16.8M weights, 64 MB as
    float32) but stores the small model's tensors: refused before any of it is allocated."""
    path = tmp_path / "m.gflow"
    small_model().save(path)
    members = members_of(path)
    config = json.loads(members["config.json"][0])
    model_cfg = config["model"]["config"]
    model_cfg["build_input_shape"] = [None, 4096]
    model_cfg["layers"][0]["config"]["units"] = 4096
    members["config.json"] = (json.dumps(config).encode(), zipfile.ZIP_DEFLATED)
    write_zip(path, members)
    assert path.stat().st_size < 8 << 10
    error, peak = peak_bytes(lambda: load_model(path))
    assert isinstance(error, ModelFileError), error
    message = str(error)
    assert str(path) in message and "model.weights.safetensors" in message and "limit" in message
    assert "(4096, 4096)" in message and "refusing to allocate" in message
    assert peak < 16 << 20  # the 64 MB kernel (and its float64 initial values) never existed


def test_tensor_sizes_are_checked_against_the_member_before_reading(tmp_path):
    """A weights header claiming a 1 GiB tensor in a small member is refused from the header alone."""
    path = tmp_path / "m.gflow"
    small_model().save(path)
    members = members_of(path)
    blob = members["model.weights.safetensors"][0]
    n = int.from_bytes(blob[:8], "little")
    header = json.loads(blob[8:8 + n])
    key = next(k for k in header if k != "__metadata__")
    header[key]["shape"] = [1 << 14, 1 << 14]
    header[key]["data_offsets"] = [0, 1 << 30]
    head = json.dumps(header).encode()
    members["model.weights.safetensors"] = (len(head).to_bytes(8, "little") + head + blob[8 + n:], zipfile.ZIP_STORED)
    write_zip(path, members)
    for load in (lambda: load_model(path), lambda: small_model().load_weights(path)):
        error, peak = peak_bytes(load)
        assert isinstance(error, ModelFileError), error
        assert "model.weights.safetensors" in str(error) and str(path) in str(error)
        assert peak < 4 << 20


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_saving_keeps_the_target_permissions_and_new_files_follow_the_umask(tmp_path):
    model = small_model()
    for save, name in ((model.save, "m.gflow"), (model.save_weights, "w.safetensors")):
        path = tmp_path / name
        save(path)
        os.chmod(path, 0o600)
        save(path)
        assert mode_of(path) == 0o600
        os.chmod(path, 0o640)
        save(path)
        assert mode_of(path) == 0o640
    old = os.umask(0o027)
    try:
        model.save(tmp_path / "new.gflow")
        model.save_weights(tmp_path / "new.safetensors")
    finally:
        os.umask(old)
    assert mode_of(tmp_path / "new.gflow") == 0o640
    assert mode_of(tmp_path / "new.safetensors") == 0o640


KILLED_SAVE = textwrap.dedent("""
    import sys, time
    import numpy as np
    import gradflow as keras
    from gradflow.layers import Dense
    from gradflow.saving import saving_lib

    model = keras.Sequential([keras.Input(shape=(64,)), Dense(512), Dense(512)])
    write = saving_lib._write_entry

    def stall(zf, name, data, method):
        write(zf, name, data, method)
        print("writing", flush=True)
        time.sleep(60)

    saving_lib._write_entry = stall
    model.save(sys.argv[1])
""")


def test_a_save_cleans_up_the_temporary_files_of_a_killed_save(tmp_path):
    path = tmp_path / "m.gflow"
    model = small_model()
    model.save(path)
    good = path.read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", KILLED_SAVE, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stdout.close()
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1 and leftovers[0].startswith(".m.gflow.")
    assert path.read_bytes() == good  # the killed save never touched the target

    other = tmp_path / ".other.gflow.abcd1234.tmp"  # another target's leftover: not ours to remove
    other.write_bytes(b"x")
    live = tmp_path / ".m.gflow.live0001.tmp"  # a save still running (it holds the lock)
    live.write_bytes(b"x")
    import fcntl

    with open(live, "rb") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        model.save(path)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".m.gflow.live0001.tmp", ".other.gflow.abcd1234.tmp", "m.gflow"]
    assert load_model(path).count_params() == model.count_params()
    model.save_weights(tmp_path / "w.safetensors")
    (tmp_path / ".w.safetensors.zzzz9999.tmp").write_bytes(b"x")
    model.save_weights(tmp_path / "w.safetensors")
    assert not (tmp_path / ".w.safetensors.zzzz9999.tmp").exists()
