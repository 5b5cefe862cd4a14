"""A `.keras` file is read as carefully as gradflow's own format: nothing in it can make load_model read
another file of this machine, allocate without bound, recurse without bound or load values that are not
what the weight holds. Each case here loaded (or crashed) on the old reader."""
import json
import zipfile

import numpy as np
import pytest

import gradflow as keras
from gradflow.saving import ModelFileError, load_model

h5py = pytest.importorskip("h5py", reason="the .keras reader needs h5py (the keras-files extra)")


def _save(tmp_path, compile=False):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    if compile:
        model.compile(optimizer="adam", loss="mse")
        model.fit(np.ones((4, 3), np.float32), np.ones((4, 2), np.float32), verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    return path


def _members(path):
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def _write(path, members):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _edit_h5(path, edit, tmp_path):
    """Rewrite the archive's model.weights.h5 through ``edit(h5file)``."""
    members = _members(path)
    h5_path = tmp_path / "w.h5"
    h5_path.write_bytes(members["model.weights.h5"])
    with h5py.File(h5_path, "r+") as f:
        edit(f)
    members["model.weights.h5"] = h5_path.read_bytes()
    return _write(tmp_path / "edited.keras", members)


KERNEL = "layers/dense/vars/0"


def test_external_storage_cannot_read_a_local_file(tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(12, dtype=np.float32).tobytes())

    def edit(f):
        del f[KERNEL]
        f.create_dataset(KERNEL, shape=(3, 4), dtype="float32", external=[(str(secret), 0, 48)])

    with pytest.raises(ModelFileError, match=r"external file\(s\).*secret.bin.*not allowed"):
        load_model(_edit_h5(_save(tmp_path), edit, tmp_path))


@pytest.mark.parametrize("kind", ["soft", "cycle", "external"])
def test_links_are_refused_with_the_path(tmp_path, kind):
    def edit(f):
        data = f[KERNEL][()]
        del f[KERNEL]
        if kind == "soft":
            f["elsewhere"] = data
            f[KERNEL] = h5py.SoftLink("/elsewhere")
        elif kind == "cycle":
            f[KERNEL] = h5py.SoftLink("/" + KERNEL)
        else:
            f[KERNEL] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")

    with pytest.raises(ModelFileError, match=r"dense/vars/0 is a (SoftLink|ExternalLink); .*plain groups"):
        load_model(_edit_h5(_save(tmp_path), edit, tmp_path))


@pytest.mark.parametrize("shape", [(2 ** 15, 2 ** 15), (2 ** 21, 2 ** 21)])  # 4 GiB and 16 TiB declared
def test_a_huge_declared_dataset_is_refused_before_it_is_read(tmp_path, shape):
    def edit(f):
        del f[KERNEL]
        f.create_dataset(KERNEL, shape=shape, dtype="float32", chunks=(64, 64))  # nothing written: tiny file

    with pytest.raises(ModelFileError, match=r"weight .* expects shape \(3, 4\), the file has"):
        load_model(_edit_h5(_save(tmp_path), edit, tmp_path))


def test_integer_weights_and_float32_overflow_are_errors(tmp_path):
    def ints(f):
        del f[KERNEL]
        f[KERNEL] = np.ones((3, 4), np.int32)

    with pytest.raises(ModelFileError, match="is float32 but the file stores int32"):
        load_model(_edit_h5(_save(tmp_path), ints, tmp_path))

    def huge(f):
        del f[KERNEL]
        f[KERNEL] = np.full((3, 4), 1e300)

    with pytest.raises(ModelFileError, match=r"beyond the range of float32 \(largest magnitude 1e\+300\)"):
        load_model(_edit_h5(_save(tmp_path), huge, tmp_path))


def test_json_members_are_bounded_in_size_and_depth(tmp_path):
    path = _save(tmp_path)
    members = _members(path)
    deep = dict(members, **{"config.json": b"[" * 100000 + b"]" * 100000})
    with pytest.raises(ModelFileError, match="nests 100000 levels deep, over the limit"):
        load_model(_write(tmp_path / "deep.keras", deep))
    big = dict(members, **{"config.json": b" " * (17 << 20) + members["config.json"]})  # deflates to ~17 kB
    with pytest.raises(ModelFileError, match=r"member 'config.json' is \d+ bytes uncompressed, over the limit"):
        load_model(_write(tmp_path / "big.keras", big))


def test_a_config_claiming_a_huge_layer_is_refused_before_allocating(tmp_path):
    path = _save(tmp_path)
    members = _members(path)
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["config"]["units"] = 10 ** 9  # 4e9 values against a file of kilobytes
    members["config.json"] = json.dumps(config).encode()
    with pytest.raises(ModelFileError, match="asks for more weights than model.weights.h5 stores.*refusing to allocate"):
        load_model(_write(tmp_path / "huge.keras", members))


def test_an_optimizer_variable_of_the_wrong_shape_is_an_error(tmp_path):
    path = _save(tmp_path, compile=True)
    assert load_model(path).optimizer.iterations == 1

    def edit(f):
        name = "optimizer/vars/2"
        del f[name]
        f[name] = np.zeros((5, 5), np.float32)

    with pytest.raises(ModelFileError, match=r"optimizer .* expects shape \(3, 4\), the file has \(5, 5\)"):
        load_model(_edit_h5(path, edit, tmp_path))


def test_a_bytecode_lambda_gets_a_clear_refusal(tmp_path):
    path = _save(tmp_path)
    members = _members(path)
    config = json.loads(members["config.json"])
    config["config"]["layers"].append({"module": "keras.layers", "class_name": "Lambda", "registered_name": None,
                                       "config": {"name": "lam", "function": {"class_name": "__lambda__",
                                                  "config": {"code": "4wEAAAAA", "defaults": None,
                                                             "closure": None}}}})
    members["config.json"] = json.dumps(config).encode()
    with pytest.raises(ModelFileError, match="stores its function as Python bytecode .* never runs code"):
        load_model(_write(tmp_path / "lambda.keras", members))


def test_own_format_refuses_float32_overflow_too(tmp_path):
    from gradflow.saving import saving_lib

    with pytest.raises(ModelFileError, match="beyond the range of float32"):
        saving_lib.checked_cast(np.array([1.0, 1e300]), np.float32, "dense/kernel", "w.gflow")
    assert saving_lib.checked_cast(np.array([1.0, np.inf]), np.float32, "k", "w").dtype == np.float32  # Inf stays Inf
